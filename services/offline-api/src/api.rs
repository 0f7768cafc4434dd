//! The REST operations, grouped by tag. Every operation that needs a session calls
//! [`AppState::authorize`] with its `auth::Action` first; `ROUTES` lists every operation with
//! that action so the role-matrix test can walk them all.

use auth::Action;
use offline_db::entity::{key_shares, secure_elements, signing_requests, users};
use offline_db::{NewSigningRequest, UserStatus};
use poem::Request;
use poem_openapi::param::{Path, Query};
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, OpenApi, Tags};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder};

use crate::clock::unix_secs;
use crate::dto::*;
use crate::error::{ApiError, ApiResult};
use crate::import;
use crate::proposals::Proposed;
use crate::state::AppState;
use offline_db::proposals::{Action as Change, Slot};

#[derive(Tags)]
pub(crate) enum Tag {
    /// Service health.
    Meta,
    /// Sign-up, sign-in, sessions.
    Auth,
    /// User administration.
    Users,
    /// Secure elements.
    SecureElements,
    /// Cases and the key-share table.
    Cases,
    /// Signing requests from the online zone.
    SigningRequests,
    /// Keygen and signing sessions and their progress.
    Sessions,
    /// Documents leaving or entering the zone: account manifests, signature responses,
    /// balance attestations.
    Exchange,
    /// The audit log.
    Audit,
    /// Four-eyes proposals waiting for a second administrator.
    Proposals,
}

/// How long an SE enrolment challenge can be answered.
pub const ENROLMENT_CHALLENGE_SECS: i64 = 15 * 60;

/// Every operation: method, path (poem syntax) and the action it requires (`None`: open to
/// anonymous callers). The role-matrix test walks this list; a test also checks that it
/// names every operation of the OpenAPI document.
pub const ROUTES: &[(&str, &str, Option<Action>)] = &[
    ("GET", "/api/health", None),
    ("POST", "/api/auth/register", None),
    ("POST", "/api/auth/login", None),
    ("POST", "/api/auth/logout", Some(Action::ManageOwnAccount)),
    ("GET", "/api/auth/me", Some(Action::ManageOwnAccount)),
    ("GET", "/api/me/cases", Some(Action::ViewOwnPendingWork)),
    ("GET", "/api/users", Some(Action::OfflineViewUsers)),
    (
        "PUT",
        "/api/users/:id/role",
        Some(Action::OfflineManageUsers),
    ),
    (
        "PUT",
        "/api/users/:id/status",
        Some(Action::OfflineManageUsers),
    ),
    (
        "POST",
        "/api/me/se-enrolment/challenge",
        Some(Action::ViewOwnPendingWork),
    ),
    (
        "POST",
        "/api/me/se-enrolment",
        Some(Action::ViewOwnPendingWork),
    ),
    (
        "GET",
        "/api/secure-elements",
        Some(Action::ViewSecureElements),
    ),
    (
        "PUT",
        "/api/secure-elements/:id/status",
        Some(Action::ManageSecureElements),
    ),
    ("POST", "/api/cases", Some(Action::ManageCases)),
    ("GET", "/api/cases", Some(Action::ViewCases)),
    ("GET", "/api/cases/:id", Some(Action::ViewCases)),
    ("DELETE", "/api/cases/:id", Some(Action::ManageCases)),
    (
        "POST",
        "/api/cases/:id/replace-manager",
        Some(Action::ManageCases),
    ),
    ("POST", "/api/cases/:id/archive", Some(Action::ManageCases)),
    (
        "GET",
        "/api/cases/:id/key-shares",
        Some(Action::ViewKeyShares),
    ),
    ("GET", "/api/key-shares", Some(Action::ViewKeyShares)),
    (
        "POST",
        "/api/signing-requests",
        Some(Action::ImportSigningRequest),
    ),
    (
        "POST",
        "/api/signing-requests/batch",
        Some(Action::ImportSigningRequest),
    ),
    (
        "GET",
        "/api/signing-requests",
        Some(Action::ViewSigningSessions),
    ),
    ("GET", "/api/audit", Some(Action::OfflineViewAuditLog)),
    (
        "GET",
        "/api/audit/verify",
        Some(Action::OfflineViewAuditLog),
    ),
    ("POST", "/api/cases/:id/rekey", Some(Action::ManageCases)),
    (
        "POST",
        "/api/cases/:id/manifest",
        Some(Action::ExportAccountManifest),
    ),
    (
        "POST",
        "/api/signing-requests/:id/response",
        Some(Action::ExportSignatureResponse),
    ),
    ("GET", "/api/sessions", Some(Action::ViewSigningSessions)),
    (
        "GET",
        "/api/sessions/:id",
        Some(Action::ViewSigningSessions),
    ),
    (
        "POST",
        "/api/balance-attestations",
        Some(Action::ImportBalanceAttestation),
    ),
    ("GET", "/api/proposals", Some(Action::ViewCases)),
    (
        "POST",
        "/api/proposals/:id/approve",
        Some(Action::ManageCases),
    ),
    (
        "POST",
        "/api/proposals/:id/reject",
        Some(Action::ManageCases),
    ),
    (
        "POST",
        "/api/proposals/:id/cancel",
        Some(Action::ManageCases),
    ),
];

/// The login response: the body and, for browsers, the session cookie.
#[derive(ApiResponse)]
pub enum LoginReply {
    /// Signed in.
    #[oai(status = 200)]
    Ok(
        Json<LoginResponse>,
        /// The session cookie (browser clients).
        #[oai(header = "Set-Cookie")]
        Option<String>,
    ),
}

pub use web::LogoutReply;

/// An SE status change: applied at once, or proposed.
#[derive(ApiResponse)]
pub enum SeStatusReply {
    /// Changed (INACTIVE, LOST, REVOKED).
    #[oai(status = 200)]
    Changed(Json<SeView>),
    /// Proposed (back to ACTIVE); a second administrator must approve.
    #[oai(status = 202)]
    Proposed(Json<web::proposal_view::ProposalView>),
}

/// A deletion.
#[derive(ApiResponse)]
pub enum Deleted {
    /// Deleted.
    #[oai(status = 204)]
    Done,
}

/// The API.
pub struct Api {
    /// `None` only when the service is built to print the OpenAPI document.
    pub(crate) state: Option<AppState>,
}

impl Api {
    pub(crate) fn s(&self) -> ApiResult<&AppState> {
        self.state.as_ref().ok_or_else(|| {
            ApiError::internal("the API was built without state (document generation only)")
        })
    }

    /// Every check of a signing-request import short of the database (see
    /// [`import::check`]): the envelope verified and decoded, its `from` the address of an
    /// ACTIVE case, its chain one the case signs on.
    async fn prepare_import(
        &self,
        envelope: &str,
        now: chrono::DateTime<chrono::Utc>,
    ) -> ApiResult<PreparedImport> {
        let st = self.s()?;
        let checked = import::check(&st.inner.keyring, envelope, unix_secs(now))?;
        // The online zone's checkpoints must not contradict what was witnessed before (its
        // logs rewritten or truncated): such a document is refused before anything else.
        st.inner.db.check_peer_witness(&checked.witness).await?;
        let from = checked.request.from.to_checksum();
        let case = st.inner.db.active_case_by_address(&from)
            .await?
            .ok_or_else(|| ApiError::reject(crate::error::Rejection::UnknownAccount, format!("no active case has the account {from}; check that the request is for this offline zone")))?;
        let chains: Vec<u64> = serde_json::from_value(case.chain_ids.clone()).unwrap_or_default();
        if !chains.contains(&checked.request.chain_id) {
            return Err(ApiError::reject(
                crate::error::Rejection::WrongChain,
                format!(
                    "case {} may sign on chains {chains:?}, the request is for chain {}",
                    case.name, checked.request.chain_id
                ),
            ));
        }
        let tx = import::decoded_view(&checked);
        let decoded =
            serde_json::to_value(import::decoded_json(&checked)).map_err(ApiError::internal)?;
        let expires_at = chrono::DateTime::from_timestamp(
            i64::try_from(checked.expires_at).unwrap_or(i64::MAX),
            0,
        )
        .ok_or_else(|| ApiError::invalid("envelope", "the expiry time is out of range"))?;
        Ok(PreparedImport {
            checked,
            case,
            tx,
            decoded,
            expires_at,
        })
    }

    /// Whom to call for a signing session of `case_id`: its current managers with their SEs.
    async fn who_to_call(&self, case_id: &str) -> ApiResult<Vec<Contact>> {
        let st = self.s()?;
        let db = st.inner.db.conn();
        let mut who = Vec::new();
        for k in st.inner.db.key_shares_by_case(case_id).await? {
            let user = users::Entity::find_by_id(k.user_id.clone()).one(db).await?;
            let se = secure_elements::Entity::find_by_id(k.se_id.clone())
                .one(db)
                .await?;
            if let (Some(u), Some(se)) = (user, se) {
                who.push(Contact {
                    share_index: k.share_index,
                    user_id: u.id,
                    display_name: u.display_name,
                    phone: u.phone,
                    se_serial: se.serial,
                    se_label: se.label,
                });
            }
        }
        Ok(who)
    }

    async fn key_share_views(&self, rows: Vec<key_shares::Model>) -> ApiResult<Vec<KeyShareView>> {
        let db = self.s()?.inner.db.conn();
        let mut out = Vec::with_capacity(rows.len());
        for k in rows {
            let user = users::Entity::find_by_id(k.user_id.clone()).one(db).await?;
            let se = secure_elements::Entity::find_by_id(k.se_id.clone())
                .one(db)
                .await?;
            out.push(KeyShareView {
                id: k.id,
                case_id: k.case_id,
                share_index: k.share_index,
                public_key: k.public_key,
                user_id: k.user_id,
                username: user.as_ref().map(|u| u.username.clone()),
                display_name: user.map(|u| u.display_name),
                se_id: k.se_id,
                se_serial: se.map(|s| s.serial),
                status: share_status(k.status).to_owned(),
                created_at: k.created_at.to_rfc3339(),
                deactivated_at: k.deactivated_at.map(|t| t.to_rfc3339()),
            });
        }
        Ok(out)
    }
}

/// A signing request that passed every check of an import short of the database: verified,
/// decoded, its account an active case that signs on its chain.
/// Keep the online zone's checkpoints of an imported request as a witness of its logs. The
/// import is committed already; a failure here is logged (the next envelope carries newer
/// checkpoints) rather than undoing it.
async fn store_witness(
    st: &AppState,
    checked: &import::Checked,
    now: chrono::DateTime<chrono::Utc>,
) {
    if let Err(error) = st
        .inner
        .db
        .store_peer_witness(&checked.witness, &checked.envelope_id, now)
        .await
    {
        tracing::error!(%error, envelope = %checked.envelope_id, "could not keep the online zone's audit checkpoints");
    }
}

struct PreparedImport {
    checked: import::Checked,
    case: offline_db::entity::cases::Model,
    tx: DecodedTransaction,
    decoded: serde_json::Value,
    expires_at: chrono::DateTime<chrono::Utc>,
}

impl PreparedImport {
    /// The row to store, in the session `session_id` / `execution_id`.
    fn new_request(&self, session_id: String, execution_id: String) -> NewSigningRequest {
        NewSigningRequest {
            request_id: self.checked.request.request_id.to_string(),
            case_id: self.case.id.clone(),
            tx_hash: self.tx.signing_hash.clone(),
            decoded: self.decoded.clone(),
            expires_at: self.expires_at,
            session_id,
            execution_id,
            envelope: self.checked.envelope.clone(),
        }
    }
}

/// A new signing session's id and the hex of its execution id, derived from the id, the case
/// and the signing hashes of every request it signs (the runs get their own execution ids when
/// the coordinator starts the session).
fn sign_session_ids<'a>(
    now: chrono::DateTime<chrono::Utc>,
    case_id: &str,
    requests: impl IntoIterator<Item = &'a import::Checked>,
) -> (String, String) {
    let session_id = offline_db::new_id(now);
    let hashes: Vec<u8> = requests
        .into_iter()
        .flat_map(|c| c.decoded.signing_hash)
        .collect();
    let execution_id = tss::ExecutionIdBytes::derive(
        tss::RunKind::Sign,
        session_id.as_bytes(),
        case_id.as_bytes(),
        &hashes,
    );
    (session_id, hex::encode(execution_id.as_bytes()))
}

fn approvers(c: &import::Checked) -> Vec<String> {
    c.request
        .approved_by
        .iter()
        .map(|p| p.username.clone())
        .collect()
}

/// A database refusal of a batch, pinned on the envelope at fault where the refusal names one
/// (a replayed request id, a `requests[i].…` field).
fn batch_db_error(e: offline_db::Error, request_ids: &[String]) -> ApiError {
    let index = match &e {
        offline_db::Error::Replay { request_id } => {
            request_ids.iter().position(|r| r == request_id)
        }
        offline_db::Error::Validation { field, .. } => field
            .strip_prefix("requests[")
            .and_then(|rest| rest.split_once(']'))
            .and_then(|(i, _)| i.parse().ok()),
        _ => None,
    };
    match (index, e) {
        (Some(i), offline_db::Error::Validation { field, reason }) => {
            let inner = field.split_once("].").map_or("", |(_, f)| f);
            ApiError::invalid(format!("envelopes[{i}].{inner}"), reason)
        }
        (Some(i), e) => ApiError::from(e).in_envelope(i),
        (None, e) => ApiError::from(e),
    }
}

pub(crate) fn auth_validation(field: &str, e: auth::Error) -> ApiError {
    use auth::Error as E;
    match e {
        E::PasswordTooShort { .. }
        | E::PasswordTooLong { .. }
        | E::PasswordTooCommon
        | E::PasswordContainsUsername
        | E::UsernameLength { .. }
        | E::UsernameCharacters => ApiError::invalid(field, e.to_string()),
        other => ApiError::internal(other),
    }
}

const MAX_TEXT: usize = 200;

fn text(field: &str, value: &str) -> ApiResult<String> {
    let v = value.trim();
    if v.is_empty() {
        return Err(ApiError::invalid(field, "must not be empty"));
    }
    if v.chars().count() > MAX_TEXT {
        return Err(ApiError::invalid(
            field,
            format!("must be at most {MAX_TEXT} characters"),
        ));
    }
    Ok(v.to_owned())
}

#[OpenApi(prefix_path = "/api")]
impl Api {
    /// Whether the service is up.
    #[oai(path = "/health", method = "get", tag = "Tag::Meta")]
    async fn health(&self) -> Json<Health> {
        Json(Health {
            status: "ok".to_owned(),
        })
    }

    /// Register an account. It is created DISABLED and without effect until an administrator
    /// grants a role and enables it.
    #[oai(path = "/auth/register", method = "post", tag = "Tag::Auth")]
    async fn register(
        &self,
        req: &Request,
        body: Json<RegisterRequest>,
    ) -> ApiResult<Json<UserView>> {
        // Rate-limited per source before anything else is looked at.
        let gate = self.s()?.gate();
        gate.claim_registration(req).await?;
        let body = body.0;
        let display_name = text("display_name", &body.display_name)?;
        let phone = match body.phone.as_deref().map(str::trim) {
            Some(p) if !p.is_empty() => Some(text("phone", p)?),
            _ => None,
        };
        let user = gate
            .register(&body.username, body.password, display_name, phone)
            .await?;
        Ok(Json(UserView::from(&user)))
    }

    /// Sign in. Throttled per (account, client address), per account and per client address
    /// with growing delays, never locked against the right password from the owner's own
    /// address; the attempt is claimed before the password is evaluated. A new session every
    /// time.
    #[oai(path = "/auth/login", method = "post", tag = "Tag::Auth")]
    async fn login(&self, req: &Request, body: Json<LoginRequest>) -> ApiResult<LoginReply> {
        let body = body.0;
        let bearer = body.client == Some(ClientKind::Bearer);
        let signed = self
            .s()?
            .gate()
            .sign_in(req, &body.username, body.password, bearer)
            .await?;
        Ok(LoginReply::Ok(
            Json(LoginResponse {
                user: UserView::from(&signed.user),
                csrf_token: signed.csrf_token,
                session_token: signed.session_token,
                expires_at: chrono::DateTime::<chrono::Utc>::from(signed.expires_at).to_rfc3339(),
            }),
            signed.set_cookie,
        ))
    }

    /// Sign out: the session is revoked and the cookie cleared.
    #[oai(path = "/auth/logout", method = "post", tag = "Tag::Auth")]
    async fn logout(&self, req: &Request) -> ApiResult<LogoutReply> {
        let caller = self.s()?.authorize(req, Action::ManageOwnAccount).await?;
        let cleared = self.s()?.gate().sign_out(&caller).await?;
        Ok(LogoutReply::Done(cleared))
    }

    /// The signed-in user.
    #[oai(path = "/auth/me", method = "get", tag = "Tag::Auth")]
    async fn me(&self, req: &Request) -> ApiResult<Json<UserView>> {
        let caller = self.s()?.authorize(req, Action::ManageOwnAccount).await?;
        Ok(Json(UserView::from(&caller.user)))
    }

    /// The cases the signed-in case manager currently holds a share of. A manager who was
    /// replaced no longer sees the case here.
    #[oai(path = "/me/cases", method = "get", tag = "Tag::Cases")]
    async fn my_cases(&self, req: &Request) -> ApiResult<Json<Vec<MyCase>>> {
        let caller = self.s()?.authorize(req, Action::ViewOwnPendingWork).await?;
        let db = self.s()?.inner.db.conn();
        let shares = key_shares::Entity::find()
            .filter(key_shares::Column::UserId.eq(caller.user.id.as_str()))
            .filter(key_shares::Column::Status.eq(offline_db::KeyShareStatus::Active))
            .all(db)
            .await?;
        let mut out = Vec::new();
        for k in shares {
            let Some(case) = self.s()?.inner.db.case(&k.case_id).await? else {
                continue;
            };
            if case.status == offline_db::CaseStatus::Archived {
                continue;
            }
            let se = secure_elements::Entity::find_by_id(k.se_id.clone())
                .one(db)
                .await?;
            out.push(MyCase {
                case: CaseView::from(&case),
                share_index: k.share_index,
                se_serial: se.map(|s| s.serial),
            });
        }
        Ok(Json(out))
    }

    /// All users.
    #[oai(path = "/users", method = "get", tag = "Tag::Users")]
    async fn list_users(&self, req: &Request) -> ApiResult<Json<Vec<UserView>>> {
        self.s()?.authorize(req, Action::OfflineViewUsers).await?;
        let rows = users::Entity::find()
            .order_by_asc(users::Column::Username)
            .all(self.s()?.inner.db.conn())
            .await?;
        Ok(Json(rows.iter().map(UserView::from).collect()))
    }

    /// Propose a role for a user (re-authentication required); a second administrator must
    /// approve it before it takes effect.
    #[oai(path = "/users/:id/role", method = "put", tag = "Tag::Users")]
    async fn set_role(
        &self,
        req: &Request,
        id: Path<String>,
        body: Json<SetRoleRequest>,
    ) -> ApiResult<Proposed> {
        let caller = self.s()?.authorize(req, Action::OfflineManageUsers).await?;
        let body = body.0;
        self.s()?
            .reauthenticate(req, &caller, body.password)
            .await?;
        if caller.user.id == id.0 {
            return Err(ApiError::Conflict(
                "you cannot change your own role; another administrator must do it".to_owned(),
            ));
        }
        let role = offline_db::proposals::role_code(body.role.into()).to_owned();
        self.s()?
            .propose(
                &caller,
                Change::GrantRole {
                    user_id: id.0,
                    role,
                },
            )
            .await
    }

    /// Enable or disable a user; disabling revokes the user's sessions at once.
    #[oai(path = "/users/:id/status", method = "put", tag = "Tag::Users")]
    async fn set_user_status(
        &self,
        req: &Request,
        id: Path<String>,
        body: Json<SetUserStatusRequest>,
    ) -> ApiResult<Json<UserView>> {
        let caller = self.s()?.authorize(req, Action::OfflineManageUsers).await?;
        let status = match body.0.status {
            UserStatusName::Active => UserStatus::Active,
            UserStatusName::Disabled => UserStatus::Disabled,
        };
        if caller.user.id == id.0 && status == UserStatus::Disabled {
            return Err(ApiError::Conflict(
                "you cannot disable your own account".to_owned(),
            ));
        }
        let user = self
            .s()?
            .inner
            .db
            .set_user_status(&id.0, status, &caller.user.id, self.s()?.now())
            .await?;
        Ok(Json(UserView::from(&user)))
    }

    /// A one-time challenge for enrolling the caller's own SE (case managers): the SE signs it
    /// in `custody-client enroll --challenge`, proving the manager holds its identity key.
    #[oai(
        path = "/me/se-enrolment/challenge",
        method = "post",
        tag = "Tag::SecureElements"
    )]
    async fn enrolment_challenge(&self, req: &Request) -> ApiResult<Json<EnrolmentChallenge>> {
        let caller = self.s()?.authorize(req, Action::ViewOwnPendingWork).await?;
        let mut bytes = [0u8; 32];
        rand_core::RngCore::try_fill_bytes(&mut rand_core::OsRng, &mut bytes)
            .map_err(|e| ApiError::internal(format!("randomness: {e}")))?;
        let now = self.s()?.now();
        let expires_at = now + chrono::Duration::seconds(ENROLMENT_CHALLENGE_SECS);
        let row = self
            .s()?
            .inner
            .db
            .issue_enrolment_challenge(&caller.user.id, &hex::encode(bytes), now, expires_at)
            .await?;
        Ok(Json(EnrolmentChallenge {
            challenge: row.challenge,
            expires_at: row.expires_at.to_rfc3339(),
        }))
    }

    /// Enrol the caller's own SE (case managers) with the proof `custody-client enroll`
    /// printed: checked (the SE's identity key signed this manager's unused, unexpired
    /// challenge), then proposed; when an administrator approves it, the offline CA certifies the
    /// key and the SE is registered as enrolled by this manager.
    #[oai(
        path = "/me/se-enrolment",
        method = "post",
        tag = "Tag::SecureElements"
    )]
    async fn enrol_se(&self, req: &Request, body: Json<EnrolSeRequest>) -> ApiResult<Proposed> {
        let caller = self.s()?.authorize(req, Action::ViewOwnPendingWork).await?;
        let body = body.0;
        let label = text("label", &body.label)?;
        let proof = channel::EnrolmentProof::from_text(&body.proof).map_err(|_| {
            ApiError::invalid(
                "proof",
                "this is not an enrolment proof; paste the whole line custody-client enroll printed",
            )
        })?;
        let key = proof
            .verify()
            .map_err(|e| ApiError::invalid("proof", e.to_string()))?;
        let serial = text("serial", &proof.serial)?;
        let st = self.s()?;
        st.inner.attestation.check(&proof).map_err(|why| {
            tracing::warn!(check = st.inner.attestation.name(), serial = %proof.serial, reason = %why, "SE attestation refused");
            ApiError::invalid("proof", why)
        })?;
        let row = st
            .inner
            .db
            .propose_enrolment(
                &caller.user.id,
                &hex::encode(&proof.challenge),
                Change::RegisterSe {
                    serial,
                    label,
                    identity_public_key: hex::encode(p256::PublicKey::to_sec1_bytes(&key)),
                    enrolled_by: caller.user.id.clone(),
                },
                st.now(),
            )
            .await?;
        st.proposed(&caller, row).await
    }

    /// All secure elements.
    #[oai(path = "/secure-elements", method = "get", tag = "Tag::SecureElements")]
    async fn list_ses(&self, req: &Request) -> ApiResult<Json<Vec<SeView>>> {
        self.s()?.authorize(req, Action::ViewSecureElements).await?;
        let rows = secure_elements::Entity::find()
            .order_by_asc(secure_elements::Column::Serial)
            .all(self.s()?.inner.db.conn())
            .await?;
        Ok(Json(rows.iter().map(SeView::from).collect()))
    }

    /// Change an SE's status: marking it INACTIVE, LOST or REVOKED takes effect at once; putting
    /// it back into service (ACTIVE) is a proposal a second administrator must approve.
    #[oai(
        path = "/secure-elements/:id/status",
        method = "put",
        tag = "Tag::SecureElements"
    )]
    async fn set_se_status(
        &self,
        req: &Request,
        id: Path<String>,
        body: Json<SetSeStatusRequest>,
    ) -> ApiResult<SeStatusReply> {
        let caller = self
            .s()?
            .authorize(req, Action::ManageSecureElements)
            .await?;
        if body.0.status == SeStatusName::Active {
            let Proposed::Accepted(view) = self
                .s()?
                .propose(&caller, Change::ReactivateSe { se_id: id.0 })
                .await?;
            return Ok(SeStatusReply::Proposed(view));
        }
        let se = self
            .s()?
            .inner
            .db
            .set_se_status(
                &id.0,
                body.0.status.into(),
                &caller.user.id,
                self.s()?.now(),
            )
            .await?;
        Ok(SeStatusReply::Changed(Json(SeView::from(&se))))
    }

    /// Propose a draft case with three managers and three SEs; it is created when a second
    /// administrator approves. Neither administrator may be one of its managers.
    #[oai(path = "/cases", method = "post", tag = "Tag::Cases")]
    async fn create_case(
        &self,
        req: &Request,
        body: Json<CreateCaseRequest>,
    ) -> ApiResult<Proposed> {
        let caller = self.s()?.authorize(req, Action::ManageCases).await?;
        let body = body.0;
        if body.managers.len() != 3 {
            return Err(ApiError::invalid(
                "managers",
                "exactly three managers (one per share) are required",
            ));
        }
        if body.chain_ids.is_empty() || body.chain_ids.contains(&0) {
            return Err(ApiError::invalid(
                "chain_ids",
                "give at least one chain id, each greater than zero",
            ));
        }
        let mut unique = body.chain_ids.clone();
        unique.sort_unstable();
        unique.dedup();
        if unique.len() != body.chain_ids.len() {
            return Err(ApiError::invalid(
                "chain_ids",
                "each chain id may appear only once",
            ));
        }
        let managers = body
            .managers
            .into_iter()
            .map(|s| Slot {
                user_id: s.user_id,
                se_id: s.se_id,
            })
            .collect();
        self.s()?
            .propose(
                &caller,
                Change::CreateCase {
                    name: body.name,
                    managers,
                    chain_ids: body.chain_ids,
                },
            )
            .await
    }

    /// All cases.
    #[oai(path = "/cases", method = "get", tag = "Tag::Cases")]
    async fn list_cases(&self, req: &Request) -> ApiResult<Json<Vec<CaseView>>> {
        self.s()?.authorize(req, Action::ViewCases).await?;
        let rows = offline_db::entity::cases::Entity::find()
            .order_by_asc(offline_db::entity::cases::Column::CreatedAt)
            .all(self.s()?.inner.db.conn())
            .await?;
        Ok(Json(rows.iter().map(CaseView::from).collect()))
    }

    /// A case with its current key-share rows.
    #[oai(path = "/cases/:id", method = "get", tag = "Tag::Cases")]
    async fn get_case(&self, req: &Request, id: Path<String>) -> ApiResult<Json<CaseDetail>> {
        self.s()?.authorize(req, Action::ViewCases).await?;
        let case = self
            .s()?
            .inner
            .db
            .case(&id.0)
            .await?
            .ok_or_else(|| ApiError::NotFound(format!("case {} does not exist", id.0)))?;
        let shares = self.s()?.inner.db.key_shares_by_case(&case.id).await?;
        Ok(Json(CaseDetail {
            case: CaseView::from(&case),
            key_shares: self.key_share_views(shares).await?,
        }))
    }

    /// Propose deleting a case (re-authentication required; a second administrator approves).
    /// Allowed only while no key was generated and no signing request exists, or with a recent
    /// zero-balance attestation; otherwise archive it.
    #[oai(path = "/cases/:id", method = "delete", tag = "Tag::Cases")]
    async fn delete_case(
        &self,
        req: &Request,
        id: Path<String>,
        body: Json<ReauthRequest>,
    ) -> ApiResult<Proposed> {
        let caller = self.s()?.authorize(req, Action::ManageCases).await?;
        self.s()?
            .reauthenticate(req, &caller, body.0.password)
            .await?;
        self.s()?
            .propose(&caller, Change::DeleteCase { case_id: id.0 })
            .await
    }

    /// Propose handing a share over to a new manager (re-authentication required; a second
    /// administrator approves): the key-share row is re-bound, the SE stays, the PIN reset is
    /// recorded, the old manager loses access.
    #[oai(
        path = "/cases/:id/replace-manager",
        method = "post",
        tag = "Tag::Cases"
    )]
    async fn replace_manager(
        &self,
        req: &Request,
        id: Path<String>,
        body: Json<ReplaceManagerRequest>,
    ) -> ApiResult<Proposed> {
        let caller = self.s()?.authorize(req, Action::ManageCases).await?;
        let body = body.0;
        self.s()?
            .reauthenticate(req, &caller, body.password)
            .await?;
        self.s()?
            .propose(
                &caller,
                Change::ReplaceManager {
                    case_id: id.0,
                    share_index: body.share_index,
                    new_user_id: body.new_user_id,
                    pin_reset_by: body.pin_reset_by,
                    reason: body.reason,
                },
            )
            .await
    }

    /// Propose archiving a case (re-authentication required; a second administrator approves;
    /// it cannot be undone): kept with its key shares, signs nothing new.
    #[oai(path = "/cases/:id/archive", method = "post", tag = "Tag::Cases")]
    async fn archive_case(
        &self,
        req: &Request,
        id: Path<String>,
        body: Json<ReauthRequest>,
    ) -> ApiResult<Proposed> {
        let caller = self.s()?.authorize(req, Action::ManageCases).await?;
        self.s()?
            .reauthenticate(req, &caller, body.0.password)
            .await?;
        self.s()?
            .propose(&caller, Change::ArchiveCase { case_id: id.0 })
            .await
    }

    /// The key-share table of a case: every row, current and former.
    #[oai(path = "/cases/:id/key-shares", method = "get", tag = "Tag::Cases")]
    async fn case_key_shares(
        &self,
        req: &Request,
        id: Path<String>,
    ) -> ApiResult<Json<Vec<KeyShareView>>> {
        self.s()?.authorize(req, Action::ViewKeyShares).await?;
        if self.s()?.inner.db.case(&id.0).await?.is_none() {
            return Err(ApiError::NotFound(format!("case {} does not exist", id.0)));
        }
        let rows = self.s()?.inner.db.key_share_history(&id.0).await?;
        Ok(Json(self.key_share_views(rows).await?))
    }

    /// The current key-share rows of a case public key (hex).
    #[oai(path = "/key-shares", method = "get", tag = "Tag::Cases")]
    async fn key_shares_by_public_key(
        &self,
        req: &Request,
        public_key: Query<String>,
    ) -> ApiResult<Json<Vec<KeyShareView>>> {
        self.s()?.authorize(req, Action::ViewKeyShares).await?;
        let rows = self
            .s()?
            .inner
            .db
            .key_shares_by_public_key(public_key.0.trim())
            .await?;
        Ok(Json(self.key_share_views(rows).await?))
    }

    /// Import a signing request from the online zone: verified against the pinned online key,
    /// decoded, hash and chain checked, matched to an active case by its `from` address,
    /// stored once. Returns the decoded transaction and whom to call.
    #[oai(
        path = "/signing-requests",
        method = "post",
        tag = "Tag::SigningRequests"
    )]
    async fn import_signing_request(
        &self,
        req: &Request,
        body: Json<ImportSigningRequest>,
    ) -> ApiResult<Json<ImportResult>> {
        let caller = self
            .s()?
            .authorize(req, Action::ImportSigningRequest)
            .await?;
        let st = self.s()?;
        let now = st.now();
        let p = self.prepare_import(&body.0.envelope, now).await?;
        let (session_id, execution_id) = sign_session_ids(now, &p.case.id, [&p.checked]);
        let imported = st
            .inner
            .db
            .record_signing_request(
                p.new_request(session_id, execution_id),
                &caller.user.id,
                now,
            )
            .await?;
        store_witness(st, &p.checked, now).await;
        let row = imported.request;
        Ok(Json(ImportResult {
            id: row.id,
            request_id: row.request_id,
            who_to_call: self.who_to_call(&p.case.id).await?,
            case_id: p.case.id,
            case_name: p.case.name,
            transaction: p.tx,
            created_by: p.checked.request.created_by.username.clone(),
            approved_by: approvers(&p.checked),
            session_id: imported.session.id,
            session_expires_at: imported
                .session
                .expires_at
                .map(|t| t.to_rfc3339())
                .unwrap_or_default(),
        }))
    }

    /// Import 2 to 16 signing requests of ONE case as a batch that ONE signing session signs
    /// (one full signing run per request, each approved by the managers). Every envelope gets
    /// the checks of the single import; if any fails, the whole batch is refused with that
    /// envelope's problem, its position in the problem's `field` (`envelopes[i]`) and detail,
    /// and nothing is written.
    #[oai(
        path = "/signing-requests/batch",
        method = "post",
        tag = "Tag::SigningRequests"
    )]
    async fn import_signing_batch(
        &self,
        req: &Request,
        body: Json<ImportSigningBatch>,
    ) -> ApiResult<Json<BatchImportResult>> {
        let caller = self
            .s()?
            .authorize(req, Action::ImportSigningRequest)
            .await?;
        let st = self.s()?;
        let now = st.now();
        let envelopes = body.0.envelopes;
        if envelopes.len() < 2 || envelopes.len() > offline_db::MAX_BATCH {
            return Err(ApiError::invalid(
                "envelopes",
                format!(
                    "a batch has 2 to {} envelopes, this one has {}; import a single request with POST /api/signing-requests",
                    offline_db::MAX_BATCH,
                    envelopes.len()
                ),
            ));
        }
        let mut prepared: Vec<PreparedImport> = Vec::with_capacity(envelopes.len());
        for (i, envelope) in envelopes.iter().enumerate() {
            let p = self
                .prepare_import(envelope, now)
                .await
                .map_err(|e| e.in_envelope(i))?;
            if let Some(first) = prepared.first() {
                if p.case.id != first.case.id {
                    return Err(ApiError::invalid(
                        format!("envelopes[{i}]"),
                        format!(
                            "a batch signs requests of one case: envelopes[0] is for case {}, this one for case {}",
                            first.case.name, p.case.name
                        ),
                    ));
                }
            }
            let id = p.checked.request.request_id;
            if prepared.iter().any(|q| q.checked.request.request_id == id) {
                return Err(ApiError::invalid(
                    format!("envelopes[{i}]"),
                    format!("request {id} appears twice in the batch"),
                ));
            }
            prepared.push(p);
        }
        let Some(first) = prepared.first() else {
            return Err(ApiError::invalid("envelopes", "must not be empty"));
        };
        let case = first.case.clone();
        let (session_id, execution_id) =
            sign_session_ids(now, &case.id, prepared.iter().map(|p| &p.checked));
        let request_ids: Vec<String> = prepared
            .iter()
            .map(|p| p.checked.request.request_id.to_string())
            .collect();
        let new: Vec<NewSigningRequest> = prepared
            .iter()
            .map(|p| p.new_request(session_id.clone(), execution_id.clone()))
            .collect();
        let imported = st
            .inner
            .db
            .record_signing_batch(new, &session_id, &execution_id, &caller.user.id, now)
            .await
            .map_err(|e| batch_db_error(e, &request_ids))?;
        for p in &prepared {
            store_witness(st, &p.checked, now).await;
        }
        let requests = imported
            .requests
            .into_iter()
            .zip(prepared)
            .map(|(row, p)| BatchImportedRequest {
                id: row.id,
                request_id: row.request_id,
                created_by: p.checked.request.created_by.username.clone(),
                approved_by: approvers(&p.checked),
                transaction: p.tx,
            })
            .collect();
        Ok(Json(BatchImportResult {
            who_to_call: self.who_to_call(&case.id).await?,
            case_id: case.id,
            case_name: case.name,
            requests,
            session_id: imported.session.id,
            session_expires_at: imported
                .session
                .expires_at
                .map(|t| t.to_rfc3339())
                .unwrap_or_default(),
        }))
    }

    /// Imported signing requests, newest first.
    #[oai(
        path = "/signing-requests",
        method = "get",
        tag = "Tag::SigningRequests"
    )]
    async fn list_signing_requests(
        &self,
        req: &Request,
    ) -> ApiResult<Json<Vec<SigningRequestView>>> {
        self.s()?
            .authorize(req, Action::ViewSigningSessions)
            .await?;
        let rows = signing_requests::Entity::find()
            .order_by_desc(signing_requests::Column::At)
            .all(self.s()?.inner.db.conn())
            .await?;
        Ok(Json(
            rows.into_iter()
                .map(|r| SigningRequestView {
                    id: r.id,
                    request_id: r.request_id,
                    case_id: r.case_id,
                    tx_hash: r.tx_hash,
                    status: request_status(r.status).to_owned(),
                    decoded: r.decoded,
                    imported_by: r.imported_by,
                    at: r.at.to_rfc3339(),
                })
                .collect(),
        ))
    }

    /// Verify the audit log from the first record to the last: the hash chain, every record's
    /// MAC with the offline HSM, and the signed checkpoints (database and checkpoint
    /// directory).
    #[oai(path = "/audit/verify", method = "get", tag = "Tag::Audit")]
    async fn audit_verify(&self, req: &Request) -> ApiResult<Json<AuditVerifyView>> {
        let st = self.s()?;
        st.authorize(req, Action::OfflineViewAuditLog).await?;
        let (witnesses, unreadable) =
            web::audit_view::checkpoint_files(st.inner.checkpoint_dir.as_ref());
        let options = audit::VerifyOptions {
            witnesses,
            ..st.inner.db.verify_options()
        };
        let report = audit::verify_sealed(st.inner.db.conn(), audit::Chain::AUDIT, &options)
            .await
            .map_err(offline_db::Error::from)?;
        let mut view = web::audit_view::ChainVerifyView::from(&report);
        if !unreadable.is_empty() {
            view.intact = false;
            view.bad_checkpoints.extend(unreadable);
        }
        Ok(Json(AuditVerifyView {
            intact: view.intact,
            audit: view,
        }))
    }

    /// The audit log, in chain order, filtered (all filters combine with AND).
    #[allow(clippy::too_many_arguments, reason = "one parameter per query filter")]
    #[oai(path = "/audit", method = "get", tag = "Tag::Audit")]
    async fn audit(
        &self,
        req: &Request,
        /// Only records by this actor (a user id).
        actor: Query<Option<String>>,
        /// Only records of this action, e.g. `case.created`.
        action: Query<Option<String>>,
        /// Only records about this object id.
        object: Query<Option<String>>,
        /// Only records at or after this time (RFC 3339).
        from: Query<Option<String>>,
        /// Only records before this time (RFC 3339).
        to: Query<Option<String>>,
        /// Only records after this sequence number (paging).
        after_seq: Query<Option<i64>>,
        /// At most this many records (default 100, at most 1000).
        limit: Query<Option<u64>>,
    ) -> ApiResult<Json<Vec<AuditRecordView>>> {
        self.s()?
            .authorize(req, Action::OfflineViewAuditLog)
            .await?;
        let time =
            |field: &str, v: Option<String>| -> ApiResult<Option<chrono::DateTime<chrono::Utc>>> {
                v.map(|t| {
                    chrono::DateTime::parse_from_rfc3339(&t)
                        .map(|d| d.with_timezone(&chrono::Utc))
                        .map_err(|_| {
                            ApiError::invalid(
                                field,
                                "must be an RFC 3339 time, e.g. 2025-06-15T15:06:40Z",
                            )
                        })
                })
                .transpose()
            };
        if limit.0 == Some(0) || limit.0.is_some_and(|l| l > 1000) {
            return Err(ApiError::invalid("limit", "must be between 1 and 1000"));
        }
        let filter = audit::Filter {
            actor: actor.0,
            action: action.0,
            object: object.0,
            from: time("from", from.0)?,
            to: time("to", to.0)?,
            after_seq: after_seq.0,
            limit: limit.0,
        };
        let records = audit::query(self.s()?.inner.db.conn(), filter).await?;
        Ok(Json(
            records.into_iter().map(AuditRecordView::from).collect(),
        ))
    }
}
