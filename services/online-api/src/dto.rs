//! Request and response bodies. Amounts are decimal strings of base units (wei, token units):
//! JSON numbers cannot hold 256 bits. Addresses are EIP-55 checksummed text. Times are RFC 3339.

use online_db::entity::{accounts, policies, tokens, transfers, users};
use poem_openapi::{Enum, Object};

/// Liveness.
#[derive(Debug, Object)]
pub struct Live {
    /// Always `ok`.
    pub status: String,
}

/// Service health.
#[derive(Debug, Object)]
pub struct Health {
    /// `ok` when the database answers.
    pub status: String,
    /// The chain the service is bound to.
    pub chain_id: u64,
    /// The latest block the node reports, if it answered.
    pub block_number: Option<u64>,
    /// Whether the broker accepted a connection (absent when none is configured).
    pub broker_reachable: Option<bool>,
    /// The export key's public key (hex SEC1), for the offline zone to pin.
    pub export_public_key: String,
}

/// How the client keeps the session.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename_all = "lowercase")]
pub enum ClientKind {
    /// A browser: the session in an HttpOnly cookie, the CSRF token in the body.
    Cookie,
    /// A tool: the session token in the body, sent back as `Authorization: Bearer`.
    Bearer,
}

/// A registration.
#[derive(Debug, Object)]
pub struct RegisterRequest {
    /// Login name (3–64 characters: letters, digits, `.`, `_`, `-`).
    pub username: String,
    /// Name shown in the UI.
    pub display_name: String,
    /// At least 8 characters, not a common password, not containing the username.
    pub password: String,
}

/// A sign-in.
#[derive(Debug, Object)]
pub struct LoginRequest {
    /// Login name.
    pub username: String,
    /// Password.
    pub password: String,
    /// `cookie` (default) or `bearer`.
    pub client: Option<ClientKind>,
}

/// A user as shown to administrators and to themselves.
#[derive(Debug, Object)]
pub struct UserView {
    /// Id.
    pub id: String,
    /// Login name.
    pub username: String,
    /// Display name.
    pub display_name: String,
    /// `none`, `admin`, `trader` or `auditor`.
    pub role: String,
    /// `ACTIVE` or `DISABLED`.
    pub status: String,
    /// Set while the account is locked after failed sign-ins.
    pub locked_until: Option<String>,
    /// Created.
    pub created_at: String,
}

impl From<&users::Model> for UserView {
    fn from(u: &users::Model) -> Self {
        UserView {
            id: u.id.clone(),
            username: u.username.clone(),
            display_name: u.display_name.clone(),
            role: crate::session::auth_role(u.role).as_str().to_owned(),
            status: db_str(u.status),
            locked_until: u.locked_until.map(|t| t.to_rfc3339()),
            created_at: u.created_at.to_rfc3339(),
        }
    }
}

/// The sign-in result.
#[derive(Debug, Object)]
pub struct LoginResponse {
    /// Who signed in.
    pub user: UserView,
    /// Echo in `X-CSRF-Token` on state changes made with the cookie.
    pub csrf_token: String,
    /// For `bearer` clients only: the session token.
    pub session_token: Option<String>,
    /// When the session ends if unused.
    pub expires_at: String,
}

/// A role to grant.
#[derive(Debug, Object)]
pub struct SetRoleRequest {
    /// `none`, `admin`, `trader` or `auditor`.
    pub role: String,
    /// Your own password again, to confirm (re-authentication).
    pub password: String,
}

/// A status to set.
#[derive(Debug, Object)]
pub struct SetStatusRequest {
    /// `ACTIVE` or `DISABLED`.
    pub status: String,
}

/// An ERC-20 token to configure: symbol and decimals are read from the contract.
#[derive(Debug, Object)]
pub struct AddTokenRequest {
    /// The contract address (EIP-55).
    pub address: String,
}

/// A configured token.
#[derive(Debug, Object)]
pub struct TokenView {
    /// Contract address.
    pub address: String,
    /// Symbol.
    pub symbol: String,
    /// Decimals.
    pub decimals: u8,
    /// Chain.
    pub chain_id: i64,
}

impl From<&tokens::Model> for TokenView {
    fn from(t: &tokens::Model) -> Self {
        TokenView {
            address: t.address.clone(),
            symbol: t.symbol.clone(),
            decimals: u8::try_from(t.decimals).unwrap_or(0),
            chain_id: t.chain_id,
        }
    }
}

/// A document to import, in any of its forms: armored text, QR part texts (one per line) or
/// base64 of the envelope bytes.
#[derive(Debug, Object)]
pub struct ImportRequest {
    /// The document.
    pub document: String,
    /// For a manifest: the label of the new account (default: the case id).
    pub label: Option<String>,
}

/// A custody account.
#[derive(Debug, Object)]
pub struct AccountView {
    /// Id.
    pub id: String,
    /// Address (EIP-55).
    pub address: String,
    /// The offline case it belongs to.
    pub case_ref: String,
    /// Chain.
    pub chain_id: i64,
    /// Label.
    pub label: String,
    /// The manifest it was imported from.
    pub manifest_id: String,
    /// Imported.
    pub created_at: String,
}

impl From<&accounts::Model> for AccountView {
    fn from(a: &accounts::Model) -> Self {
        AccountView {
            id: a.id.clone(),
            address: a.address.clone(),
            case_ref: a.case_ref.clone(),
            chain_id: a.chain_id,
            label: a.label.clone(),
            manifest_id: a.manifest_id.clone(),
            created_at: a.created_at.to_rfc3339(),
        }
    }
}

/// One asset's balance.
#[derive(Debug, Object)]
pub struct BalanceView {
    /// `ETH` or the token address.
    pub asset: String,
    /// Symbol for display.
    pub symbol: String,
    /// Decimals for display.
    pub decimals: u8,
    /// Base units.
    pub amount: String,
}

/// An account's balances, all read at one block.
#[derive(Debug, Object)]
pub struct BalancesView {
    /// The account.
    pub account_id: String,
    /// Its address.
    pub address: String,
    /// The block they were read at.
    pub block_number: u64,
    /// That block's hash.
    pub block_hash: String,
    /// Whether they came from the cache rather than the node just now.
    pub cached: bool,
    /// ETH first, then the configured tokens.
    pub balances: Vec<BalanceView>,
}

/// A grant or revocation of an account to a trader.
#[derive(Debug, Object)]
pub struct GrantRequest {
    /// The trader's user id.
    pub user_id: String,
    /// Your own password again, to confirm (re-authentication).
    pub password: String,
}

/// The limits of one asset on an account.
#[derive(Debug, Object)]
pub struct PolicyRequest {
    /// `ETH` or a configured token's address.
    pub asset: String,
    /// The most one transfer may move (base units).
    pub single_limit: String,
    /// The most a rolling 24 hours may move (base units).
    pub daily_limit: String,
    /// Whether a second trader must approve each transfer before export.
    #[oai(default)]
    pub require_approval: bool,
    /// Your own password again, to confirm (re-authentication).
    pub password: String,
}

/// An account policy.
#[derive(Debug, Object)]
pub struct PolicyView {
    /// The account.
    pub account_id: String,
    /// `ETH` or the token address.
    pub asset: String,
    /// Base units.
    pub single_limit: String,
    /// Base units per rolling 24 hours.
    pub daily_limit: String,
    /// Maker-checker.
    pub require_approval: bool,
    /// Last changed.
    pub updated_at: String,
}

impl From<&policies::Model> for PolicyView {
    fn from(p: &policies::Model) -> Self {
        PolicyView {
            account_id: p.account_id.clone(),
            asset: p.asset.clone(),
            single_limit: p.single_limit.clone(),
            daily_limit: p.daily_limit.clone(),
            require_approval: p.require_approval,
            updated_at: p.updated_at.to_rfc3339(),
        }
    }
}

/// A destination for an account's allow-list.
#[derive(Debug, Object)]
pub struct DestinationRequest {
    /// The address (EIP-55).
    pub address: String,
    /// What it is.
    pub label: String,
    /// Your own password again, to confirm (re-authentication).
    pub password: String,
}

/// A transfer to build.
#[derive(Debug, Object)]
pub struct CreateTransferRequest {
    /// The account to send from.
    pub account_id: String,
    /// `ETH` or a configured token's address.
    pub asset: String,
    /// The recipient, EIP-55 checksummed.
    pub to: String,
    /// Base units (wei, or the token's smallest unit), decimal.
    pub amount: String,
}

/// A transfer.
#[derive(Debug, Object)]
pub struct TransferView {
    /// Id.
    pub id: String,
    /// The account.
    pub account_id: String,
    /// Chain.
    pub chain_id: i64,
    /// `ETH` or the token address.
    pub asset: String,
    /// Recipient.
    pub to: String,
    /// Base units.
    pub amount: String,
    /// Nonce.
    pub nonce: i64,
    /// Gas limit.
    pub gas_limit: i64,
    /// Fee cap, wei per gas.
    pub max_fee_per_gas: String,
    /// Tip, wei per gas.
    pub max_priority_fee_per_gas: String,
    /// keccak256 of the unsigned transaction, 0x-hex.
    pub signing_hash: String,
    /// The signing request it was exported as.
    pub request_id: Option<String>,
    /// DRAFT, EXPORTED, SIGNED, BROADCAST, CONFIRMED or FAILED.
    pub status: String,
    /// Creator.
    pub created_by: String,
    /// Approver (maker-checker).
    pub approved_by: Option<String>,
    /// The transaction hash once signed.
    pub tx_hash: Option<String>,
    /// The block that includes it.
    pub block_number: Option<i64>,
    /// Confirmations so far.
    pub confirmations: i64,
    /// Why it failed.
    pub error: Option<String>,
    /// Created.
    pub created_at: String,
    /// Last changed.
    pub updated_at: String,
}

impl From<&transfers::Model> for TransferView {
    fn from(t: &transfers::Model) -> Self {
        TransferView {
            id: t.id.clone(),
            account_id: t.account_id.clone(),
            chain_id: t.chain_id,
            asset: t.asset.clone(),
            to: t.to_address.clone(),
            amount: t.amount.clone(),
            nonce: t.nonce,
            gas_limit: t.gas_limit,
            max_fee_per_gas: t.max_fee_per_gas.clone(),
            max_priority_fee_per_gas: t.max_priority_fee_per_gas.clone(),
            signing_hash: t.signing_hash.clone(),
            request_id: t.request_id.clone(),
            status: db_str(t.status),
            created_by: t.created_by.clone(),
            approved_by: t.approved_by.clone(),
            tx_hash: t.tx_hash.clone(),
            block_number: t.block_number,
            confirmations: t.confirmations,
            error: t.error.clone(),
            created_at: t.created_at.to_rfc3339(),
            updated_at: t.updated_at.to_rfc3339(),
        }
    }
}

/// A signed document leaving the online zone.
#[derive(Debug, Object)]
pub struct ExportedDocument {
    /// The envelope id.
    pub id: String,
    /// `SigningRequest` or `BalanceAttestation`.
    pub kind: String,
    /// When it stops being accepted (RFC 3339).
    pub expires_at: String,
    /// The armored text: save it as a file.
    pub armored: String,
    /// The QR part texts, in order.
    pub qr_parts: Vec<String>,
    /// The QR codes as SVG documents, one per part.
    pub qr_svg: Vec<String>,
    /// The QR codes as PNG images, base64, one per part.
    pub qr_png_base64: Vec<String>,
}

/// The result of exporting a transfer.
#[derive(Debug, Object)]
pub struct ExportedRequest {
    /// The transfer, now EXPORTED.
    pub transfer: TransferView,
    /// The signing request.
    pub document: ExportedDocument,
}

/// One log record.
#[derive(Debug, Object)]
pub struct LogRecordView {
    /// Position in its chain.
    pub seq: i64,
    /// When.
    pub at: String,
    /// Who (a user id or a service).
    pub actor: String,
    /// What, e.g. `transfer.signed`.
    pub action: String,
    /// About which record.
    pub object: String,
    /// Details (JSON).
    pub details: serde_json::Value,
    /// This record's hash, hex.
    pub hash: String,
}

/// Both logs' verification: hash chains, every record's MAC (the online token) and the signed
/// checkpoints (stored in the database and in the checkpoint directory).
#[derive(Debug, Object)]
pub struct VerifyView {
    /// Whether both chains verified.
    pub intact: bool,
    /// The operation log.
    pub operation: web::audit_view::ChainVerifyView,
    /// The transaction log.
    pub transaction: web::audit_view::ChainVerifyView,
}

/// The database's text for an enum value.
pub(crate) fn db_str<T: sea_orm::ActiveEnum<Value = String>>(v: T) -> String {
    v.to_value()
}

/// A password re-entered to confirm a sensitive operation (exporting or approving a transfer,
/// deciding a proposal).
#[derive(Object)]
pub struct PasswordRequest {
    /// Your own password again.
    pub password: String,
}
