//! Request and response bodies at the REST edge (poem-openapi objects). They are the API's
//! wire contract: storage types never go on the wire directly.

use offline_db::entity::{cases, secure_elements, users};
use offline_db::{CaseStatus, KeyShareStatus, Role, SeStatus, SigningRequestStatus, UserStatus};
use poem_openapi::{Enum, Object};

/// `GET /api/health`.
#[derive(Debug, Object)]
pub struct Health {
    /// Always `ok` when the service answers.
    pub status: String,
}

/// A self-registration.
#[derive(Debug, Object)]
pub struct RegisterRequest {
    /// 3–64 characters: a-z, 0-9, `.`, `_`, `-`.
    pub username: String,
    /// The name shown to others (on the who-to-call list).
    pub display_name: String,
    /// A phone number for the who-to-call list.
    pub phone: Option<String>,
    /// 8–64 characters, not a common password, not containing the username.
    pub password: String,
}

/// How the client keeps the session.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename_all = "lowercase")]
pub enum ClientKind {
    /// The session goes into the `__Host-custody-offline` cookie (default).
    Browser,
    /// The session token is returned in the body, for `Authorization: Bearer`.
    Bearer,
}

/// A sign-in.
#[derive(Debug, Object)]
pub struct LoginRequest {
    /// The username.
    pub username: String,
    /// The password.
    pub password: String,
    /// `browser` (cookie, default) or `bearer` (token in the body).
    pub client: Option<ClientKind>,
}

/// A successful sign-in.
#[derive(Debug, Object)]
pub struct LoginResponse {
    /// Who signed in.
    pub user: UserView,
    /// Echo this in `X-CSRF-Token` on every state-changing request made with the cookie.
    pub csrf_token: String,
    /// Only for `client = bearer`: the session token for `Authorization: Bearer`.
    #[oai(skip_serializing_if_is_none)]
    pub session_token: Option<String>,
    /// When the session ends if it is not used (RFC 3339).
    pub expires_at: String,
}

/// A user as the API shows it. Never the password hash.
#[derive(Debug, Object)]
pub struct UserView {
    /// The user id.
    pub id: String,
    /// The login name.
    pub username: String,
    /// The display name.
    pub display_name: String,
    /// The phone number.
    pub phone: Option<String>,
    /// `admin`, `case_manager`, `operator` or `auditor`.
    pub role: String,
    /// `ACTIVE` or `DISABLED` (a new self-registered account is `DISABLED` until approved).
    pub status: String,
    /// When the account was created (RFC 3339).
    pub created_at: String,
}

impl From<&users::Model> for UserView {
    fn from(u: &users::Model) -> Self {
        UserView {
            id: u.id.clone(),
            username: u.username.clone(),
            display_name: u.display_name.clone(),
            phone: u.phone.clone(),
            role: crate::session::auth_role(u.role).as_str().to_owned(),
            status: user_status(u.status).to_owned(),
            created_at: u.created_at.to_rfc3339(),
        }
    }
}

/// The offline roles an administrator can grant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename_all = "snake_case")]
pub enum RoleName {
    /// System administrator.
    Admin,
    /// Case manager.
    CaseManager,
    /// Operator.
    Operator,
    /// Auditor.
    Auditor,
}

impl From<RoleName> for Role {
    fn from(r: RoleName) -> Self {
        match r {
            RoleName::Admin => Role::Admin,
            RoleName::CaseManager => Role::CaseManager,
            RoleName::Operator => Role::Operator,
            RoleName::Auditor => Role::Auditor,
        }
    }
}

/// Grant a role (re-authentication: the administrator's password).
#[derive(Debug, Object)]
pub struct SetRoleRequest {
    /// The new role.
    pub role: RoleName,
    /// The administrator's own password, again.
    pub password: String,
}

/// Account status values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename_all = "UPPERCASE")]
pub enum UserStatusName {
    /// May sign in.
    Active,
    /// May not sign in; sessions are revoked.
    Disabled,
}

/// Enable or disable a user.
#[derive(Debug, Object)]
pub struct SetUserStatusRequest {
    /// The new status.
    pub status: UserStatusName,
}

/// A case manager's enrolment of their own SE: the proof `custody-client enroll --challenge`
/// printed (the SE's identity key signed the manager's one-time challenge).
#[derive(Debug, Object)]
pub struct EnrolSeRequest {
    /// A label for people (e.g. where the SE is kept).
    pub label: String,
    /// The proof text (`custody-se-enrolment:…`).
    pub proof: String,
}

/// A one-time challenge for enrolling an SE.
#[derive(Debug, Object)]
pub struct EnrolmentChallenge {
    /// 32 random bytes, hex: pass it to `custody-client enroll --challenge`.
    pub challenge: String,
    /// Until when it can be answered (RFC 3339).
    pub expires_at: String,
}

/// A secure element.
#[derive(Debug, Object)]
pub struct SeView {
    /// The SE id.
    pub id: String,
    /// The token serial.
    pub serial: String,
    /// The label.
    pub label: String,
    /// `ACTIVE`, `INACTIVE`, `LOST` or `REVOKED`.
    pub status: String,
    /// The identity key, hex SEC1.
    pub identity_public_key: String,
    /// The certificate the offline CA issued, hex.
    pub certificate: Option<String>,
    /// Who holds it now.
    pub holder_user_id: Option<String>,
    /// When it was registered (RFC 3339).
    pub created_at: String,
    /// The case manager who proved possession of its key at enrolment.
    pub enrolled_by: Option<String>,
    /// When (RFC 3339).
    pub enrolled_at: Option<String>,
}

impl From<&secure_elements::Model> for SeView {
    fn from(s: &secure_elements::Model) -> Self {
        SeView {
            id: s.id.clone(),
            serial: s.serial.clone(),
            label: s.label.clone(),
            status: se_status(s.status).to_owned(),
            identity_public_key: hex::encode(&s.identity_public_key),
            certificate: s.certificate.as_ref().map(hex::encode),
            holder_user_id: s.holder_user_id.clone(),
            created_at: s.created_at.to_rfc3339(),
            enrolled_by: s.enrolled_by.clone(),
            enrolled_at: s.enrolled_at.map(|t| t.to_rfc3339()),
        }
    }
}

/// SE status values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename_all = "UPPERCASE")]
pub enum SeStatusName {
    /// In service.
    Active,
    /// Out of service for now.
    Inactive,
    /// Lost: its cases need a re-key.
    Lost,
    /// Certificate revoked.
    Revoked,
}

impl From<SeStatusName> for SeStatus {
    fn from(s: SeStatusName) -> Self {
        match s {
            SeStatusName::Active => SeStatus::Active,
            SeStatusName::Inactive => SeStatus::Inactive,
            SeStatusName::Lost => SeStatus::Lost,
            SeStatusName::Revoked => SeStatus::Revoked,
        }
    }
}

/// Change an SE's status.
#[derive(Debug, Object)]
pub struct SetSeStatusRequest {
    /// The new status.
    pub status: SeStatusName,
}

/// One slot of a new case: share index = position.
#[derive(Debug, Clone, Object)]
pub struct SlotInput {
    /// The case manager.
    pub user_id: String,
    /// The SE that will hold the share.
    pub se_id: String,
}

/// Create a case.
#[derive(Debug, Object)]
pub struct CreateCaseRequest {
    /// The case name.
    pub name: String,
    /// Exactly three slots; slot i holds share i.
    pub managers: Vec<SlotInput>,
    /// The EIP-155 chain ids the case may sign for (at least one).
    pub chain_ids: Vec<u64>,
}

/// A case.
#[derive(Debug, Object)]
pub struct CaseView {
    /// The case id.
    pub id: String,
    /// The name.
    pub name: String,
    /// `DRAFT`, `KEYGEN`, `ACTIVE` or `ARCHIVED`.
    pub status: String,
    /// The case public key (hex), once keygen finished.
    pub public_key: Option<String>,
    /// The account address, once keygen finished.
    pub address: Option<String>,
    /// The chain ids.
    pub chain_ids: serde_json::Value,
    /// Who created it.
    pub created_by: String,
    /// When (RFC 3339).
    pub created_at: String,
    /// Last change (RFC 3339).
    pub updated_at: String,
    /// When the case was marked for re-key (RFC 3339).
    pub rekey_requested_at: Option<String>,
    /// Why.
    pub rekey_reason: Option<String>,
}

impl From<&cases::Model> for CaseView {
    fn from(c: &cases::Model) -> Self {
        CaseView {
            id: c.id.clone(),
            name: c.name.clone(),
            status: case_status(c.status).to_owned(),
            public_key: c.public_key.clone(),
            address: c.address.clone(),
            chain_ids: c.chain_ids.clone(),
            created_by: c.created_by.clone(),
            created_at: c.created_at.to_rfc3339(),
            updated_at: c.updated_at.to_rfc3339(),
            rekey_requested_at: c.rekey_requested_at.map(|t| t.to_rfc3339()),
            rekey_reason: c.rekey_reason.clone(),
        }
    }
}

/// A row of the key-share table (私钥分片表).
#[derive(Debug, Object)]
pub struct KeyShareView {
    /// The row id.
    pub id: String,
    /// The case.
    pub case_id: String,
    /// 0, 1 or 2.
    pub share_index: i32,
    /// The case public key (hex), once keygen finished.
    pub public_key: Option<String>,
    /// The manager.
    pub user_id: String,
    /// The manager's login name.
    pub username: Option<String>,
    /// The manager's display name.
    pub display_name: Option<String>,
    /// The SE.
    pub se_id: String,
    /// The SE serial.
    pub se_serial: Option<String>,
    /// `ACTIVE` (current holder) or `INACTIVE` (former holder).
    pub status: String,
    /// When the binding was made (RFC 3339).
    pub created_at: String,
    /// When it ended.
    pub deactivated_at: Option<String>,
}

/// A case with its key-share rows.
#[derive(Debug, Object)]
pub struct CaseDetail {
    /// The case.
    pub case: CaseView,
    /// The current key-share rows, by share index.
    pub key_shares: Vec<KeyShareView>,
}

/// A case the caller holds a share of.
#[derive(Debug, Object)]
pub struct MyCase {
    /// The case.
    pub case: CaseView,
    /// The caller's share.
    pub share_index: i32,
    /// The SE holding it.
    pub se_serial: Option<String>,
}

/// Hand a share over to a new manager (re-authentication: the administrator's password).
#[derive(Debug, Object)]
pub struct ReplaceManagerRequest {
    /// The share that changes hands (0, 1, 2).
    pub share_index: i32,
    /// The new manager (an active case manager).
    pub new_user_id: String,
    /// The security officer who reset the SE's PIN at hand-over.
    pub pin_reset_by: String,
    /// Why.
    pub reason: String,
    /// The administrator's own password, again.
    pub password: String,
}

/// Confirm a sensitive operation with the caller's password.
#[derive(Debug, Object)]
pub struct ReauthRequest {
    /// The caller's own password, again.
    pub password: String,
}

/// Import a signing request.
#[derive(Debug, Object)]
pub struct ImportSigningRequest {
    /// The envelope as armored text, as QR part texts (one per line), or as base64 of the
    /// envelope bytes.
    pub envelope: String,
}

/// The decoded transaction, as the managers will see it.
#[derive(Debug, Object)]
pub struct DecodedTransaction {
    /// EIP-155 chain id.
    pub chain_id: u64,
    /// The account that signs.
    pub from: String,
    /// The transaction's `to` (the token contract for ERC-20).
    pub to: String,
    /// Who receives the funds.
    pub recipient: String,
    /// `ETH`, `USDC`…
    pub asset_symbol: String,
    /// The ERC-20 contract, if a token.
    pub token: Option<String>,
    /// Amount in base units (decimal).
    pub amount: String,
    /// Decimals for display.
    pub decimals: u8,
    /// Nonce.
    pub nonce: u64,
    /// Gas limit.
    pub gas_limit: u64,
    /// Max fee per gas, wei.
    pub max_fee_per_gas: String,
    /// Max priority fee per gas, wei.
    pub max_priority_fee_per_gas: String,
    /// The most the fees can cost, wei.
    pub max_fee_wei: String,
    /// keccak256 of the unsigned transaction (hex), for comparison by eye.
    pub signing_hash: String,
}

/// A manager to call for signing.
#[derive(Debug, Object)]
pub struct Contact {
    /// Their share.
    pub share_index: i32,
    /// The user id.
    pub user_id: String,
    /// Display name.
    pub display_name: String,
    /// Phone.
    pub phone: Option<String>,
    /// The SE to bring.
    pub se_serial: String,
    /// The SE label.
    pub se_label: String,
}

/// An imported signing request.
#[derive(Debug, Object)]
pub struct ImportResult {
    /// The row id.
    pub id: String,
    /// The envelope's request id.
    pub request_id: String,
    /// The case.
    pub case_id: String,
    /// The case name.
    pub case_name: String,
    /// The decoded transaction.
    pub transaction: DecodedTransaction,
    /// Who built it in the online zone.
    pub created_by: String,
    /// Who approved it in the online zone.
    pub approved_by: Vec<String>,
    /// Whom to call: the case's current managers (any two of them sign).
    pub who_to_call: Vec<Contact>,
    /// The signing session created for the request.
    pub session_id: String,
    /// When the session expires (RFC 3339) unless two managers have signed.
    pub session_expires_at: String,
}

/// Import several signing requests of one case as one batch, signed in one session.
#[derive(Debug, Object)]
pub struct ImportSigningBatch {
    /// 2 to 16 envelopes, each in any form the single import accepts (armored text, QR part
    /// texts one per line, or base64 of the envelope bytes). The whole body counts against
    /// the request size limit.
    pub envelopes: Vec<String>,
}

/// One request of an imported batch.
#[derive(Debug, Object)]
pub struct BatchImportedRequest {
    /// The row id.
    pub id: String,
    /// The envelope's request id.
    pub request_id: String,
    /// The decoded transaction.
    pub transaction: DecodedTransaction,
    /// Who built it in the online zone.
    pub created_by: String,
    /// Who approved it in the online zone.
    pub approved_by: Vec<String>,
}

/// An imported batch: one signing session for all its requests.
#[derive(Debug, Object)]
pub struct BatchImportResult {
    /// The case every request belongs to.
    pub case_id: String,
    /// The case name.
    pub case_name: String,
    /// The requests, in the order of the envelopes.
    pub requests: Vec<BatchImportedRequest>,
    /// Whom to call: the case's current managers (any two of them sign every request).
    pub who_to_call: Vec<Contact>,
    /// The one signing session created for the batch.
    pub session_id: String,
    /// When the session expires (RFC 3339): the earliest expiry of its requests, at most a
    /// day away.
    pub session_expires_at: String,
}

/// A stored signing request.
#[derive(Debug, Object)]
pub struct SigningRequestView {
    /// The row id.
    pub id: String,
    /// The envelope's request id.
    pub request_id: String,
    /// The case.
    pub case_id: String,
    /// The signing hash.
    pub tx_hash: String,
    /// `IMPORTED`, `SIGNING`, `SIGNED`, `EXPORTED`, `FAILED`, `EXPIRED`.
    pub status: String,
    /// The decoded transaction.
    pub decoded: serde_json::Value,
    /// Who imported it.
    pub imported_by: String,
    /// When (RFC 3339).
    pub at: String,
}

/// The audit log's verification: the hash chain, every record's MAC (the offline HSM) and the
/// signed checkpoints (database and checkpoint directory).
#[derive(Debug, Object)]
pub struct AuditVerifyView {
    /// Whether the log verified.
    pub intact: bool,
    /// The audit chain.
    pub audit: web::audit_view::ChainVerifyView,
}

/// One audit record.
#[derive(Debug, Object)]
pub struct AuditRecordView {
    /// Position in the chain.
    pub seq: i64,
    /// When (RFC 3339).
    pub at: String,
    /// Who.
    pub actor: String,
    /// What.
    pub action: String,
    /// To what.
    pub object: String,
    /// Details.
    pub details: serde_json::Value,
    /// The previous record's hash.
    pub prev_hash: String,
    /// This record's hash.
    pub hash: String,
}

impl From<audit::Record> for AuditRecordView {
    fn from(r: audit::Record) -> Self {
        AuditRecordView {
            seq: r.seq,
            at: r.at.to_rfc3339(),
            actor: r.actor,
            action: r.action,
            object: r.object,
            details: r.details,
            prev_hash: r.prev_hash,
            hash: r.hash,
        }
    }
}

pub(crate) fn user_status(s: UserStatus) -> &'static str {
    match s {
        UserStatus::Active => "ACTIVE",
        UserStatus::Disabled => "DISABLED",
    }
}

pub(crate) fn se_status(s: SeStatus) -> &'static str {
    match s {
        SeStatus::Active => "ACTIVE",
        SeStatus::Inactive => "INACTIVE",
        SeStatus::Lost => "LOST",
        SeStatus::Revoked => "REVOKED",
    }
}

pub(crate) fn case_status(s: CaseStatus) -> &'static str {
    match s {
        CaseStatus::Draft => "DRAFT",
        CaseStatus::Keygen => "KEYGEN",
        CaseStatus::Active => "ACTIVE",
        CaseStatus::Archived => "ARCHIVED",
    }
}

pub(crate) fn share_status(s: KeyShareStatus) -> &'static str {
    match s {
        KeyShareStatus::Active => "ACTIVE",
        KeyShareStatus::Inactive => "INACTIVE",
    }
}

pub(crate) fn request_status(s: SigningRequestStatus) -> &'static str {
    match s {
        SigningRequestStatus::Imported => "IMPORTED",
        SigningRequestStatus::Signing => "SIGNING",
        SigningRequestStatus::Signed => "SIGNED",
        SigningRequestStatus::Exported => "EXPORTED",
        SigningRequestStatus::Failed => "FAILED",
        SigningRequestStatus::Expired => "EXPIRED",
    }
}

/// The stored string of a status enum (the value the database CHECK constraint allows).
pub(crate) fn db_str<E: sea_orm::ActiveEnum<Value = String>>(e: E) -> String {
    e.to_value()
}

/// A keygen or signing session.
#[derive(Debug, Object)]
pub struct SessionView {
    /// The session id.
    pub id: String,
    /// `KEYGEN` or `SIGN`.
    pub kind: String,
    /// The case.
    pub case_id: String,
    /// `PENDING`, `RUNNING`, `COMPLETED`, `FAILED`, `EXPIRED`.
    pub status: String,
    /// Hex of the session's execution id.
    pub execution_id: String,
    /// Why it failed or expired.
    pub error: Option<String>,
    /// Where a started session is: `aux_info`, `keygen`, `signing`, `done`; `null` before it
    /// starts.
    pub progress: Option<String>,
    /// The share indices taking part in the run, once it started (`null` before).
    pub roster: Option<Vec<i32>>,
    /// When it was created (RFC 3339).
    pub created_at: String,
    /// When it finished (RFC 3339).
    pub finished_at: Option<String>,
    /// When it expires (RFC 3339).
    pub expires_at: Option<String>,
}

/// A participant of a session: a manager to call, and where they are.
#[derive(Debug, Object)]
pub struct ParticipantView {
    /// Their share.
    pub share_index: i32,
    /// `WAITING`, `READY`, `DONE`, `FAILED`.
    pub status: String,
    /// The manager.
    pub user_id: String,
    /// Display name.
    pub display_name: Option<String>,
    /// Phone.
    pub phone: Option<String>,
    /// The SE.
    pub se_id: String,
    /// The SE serial to bring.
    pub se_serial: Option<String>,
    /// Whether the manager's client is connected: the share was made available through a
    /// secure channel that is still open.
    pub connected: bool,
    /// Last change (RFC 3339).
    pub at: String,
}

/// A request signed in a session.
#[derive(Debug, Object)]
pub struct SessionRequestView {
    /// The request row id.
    pub id: String,
    /// The envelope's request id.
    pub request_id: String,
    /// The signing hash.
    pub tx_hash: String,
    /// The request's status.
    pub status: String,
    /// Hex of the signing run's execution id, once the run started.
    pub execution_id: Option<String>,
}

/// A signature produced in a session.
#[derive(Debug, Object)]
pub struct SignatureView {
    /// The request row id.
    pub signing_request_id: String,
    /// Hex r.
    pub r: String,
    /// Hex s (low-s).
    pub s: String,
    /// y-parity.
    pub v: i64,
    /// Hex of the signed transaction.
    pub signed_tx: String,
    /// When (RFC 3339).
    pub at: String,
}

/// A session with its progress.
#[derive(Debug, Object)]
pub struct SessionDetailView {
    /// The session.
    pub session: SessionView,
    /// Its participants, by share index.
    pub participants: Vec<ParticipantView>,
    /// The requests it signs.
    pub requests: Vec<SessionRequestView>,
    /// The signatures produced.
    pub signatures: Vec<SignatureView>,
}

/// A signed document leaving the offline zone, in every transfer form.
#[derive(Debug, Object)]
pub struct ExportedEnvelope {
    /// The envelope id.
    pub envelope_id: String,
    /// `signature_response` or `account_manifest`.
    pub kind: String,
    /// The armored text (save as a file).
    pub armored: String,
    /// The QR part texts, in order (show one code per part).
    pub qr_parts: Vec<String>,
    /// When the document expires (RFC 3339).
    pub expires_at: String,
}

/// An envelope to import (balance attestation).
#[derive(Debug, Object)]
pub struct ImportEnvelope {
    /// The envelope as armored text, as QR part texts (one per line), or as base64 of the
    /// envelope bytes.
    pub envelope: String,
}

/// An imported balance attestation.
#[derive(Debug, Object)]
pub struct AttestationView {
    /// The row id.
    pub id: String,
    /// The envelope id.
    pub envelope_id: String,
    /// The attested address.
    pub address: String,
    /// EIP-155 chain id.
    pub chain_id: i64,
    /// The block the balances were read at.
    pub block_number: i64,
    /// That block's hash (hex).
    pub block_hash: String,
    /// Whether every balance is zero.
    pub empty: bool,
    /// The balances.
    pub balances: serde_json::Value,
    /// When the online zone signed it (RFC 3339).
    pub issued_at: String,
}

/// Why a case is to be re-keyed.
#[derive(Debug, Object)]
pub struct RekeyRequest {
    /// The reason, for the record (e.g. "SE 0042 lost").
    pub reason: String,
}
