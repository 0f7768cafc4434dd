//! The API's typed errors and the ONE place that turns any error into an RFC 9457 problem
//! response (`application/problem+json` with `type`, `title`, `status`, `detail`).
//!
//! Handlers return [`ApiError`]; poem's own errors (a body that does not parse, an unknown
//! route, a body over the size limit) reach the same renderer through [`render`]. A 4xx
//! carries a detail the client can act on; a 5xx is opaque to the client and its cause is
//! logged (causes never carry secrets: the crates below keep PINs, passwords, tokens and hashes
//! out of their messages).

use std::time::Duration;

use poem::http::StatusCode;
use poem::{IntoResponse, Response};
use poem_openapi::registry::{MetaResponses, Registry};
use poem_openapi::types::Type;
use poem_openapi::ApiResponse;
use web::proposal_view::proposal_parts;
use web::{problem_response, retry_after_secs, ProblemError};

pub use web::{Problem, PROBLEM_JSON};

/// The prefix of every problem `type` URI; the suffix is the slug of the error's kind.
pub const PROBLEM_TYPE_PREFIX: &str = "urn:custody:online:problem:";

/// Why an imported document (a signature response or an account manifest) was rejected. Each
/// has its own problem type; nothing is written for any of them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rejection {
    /// The envelope signature does not verify under the pinned key.
    BadSignature,
    /// The envelope is signed by a key that is not pinned, or not for this kind.
    UnknownSigner,
    /// The envelope expired, or is not valid yet.
    Expired,
    /// The response was imported before.
    Replayed,
    /// The response answers no exported transfer (another request, or one not exported here).
    UnknownRequest,
    /// The signed transaction is not the exported one, or its signature is not the account's.
    SignatureMismatch,
    /// The input does not decode as a document.
    Malformed,
    /// The input is larger than allowed.
    Oversized,
    /// The document is valid but of another kind.
    WrongKind,
    /// The offline zone's audit checkpoints in the document contradict what this zone witnessed
    /// before: the offline zone's log was rewritten or truncated.
    WitnessConflict,
}

impl Rejection {
    fn parts(self) -> (&'static str, &'static str, StatusCode) {
        use Rejection::*;
        let unprocessable = StatusCode::UNPROCESSABLE_ENTITY;
        match self {
            BadSignature => (
                "bad-signature",
                "The envelope signature is invalid",
                unprocessable,
            ),
            UnknownSigner => (
                "unknown-signer",
                "The envelope is not signed by a pinned offline key",
                unprocessable,
            ),
            Expired => (
                "expired",
                "The envelope is expired or not yet valid",
                unprocessable,
            ),
            Replayed => (
                "replayed",
                "The document was already imported",
                StatusCode::CONFLICT,
            ),
            UnknownRequest => (
                "unknown-request",
                "The response answers no exported transfer",
                unprocessable,
            ),
            SignatureMismatch => (
                "signature-mismatch",
                "The signed transaction is not the exported one or not signed by the account",
                unprocessable,
            ),
            Malformed => (
                "malformed-envelope",
                "The input is not a readable document",
                unprocessable,
            ),
            Oversized => (
                "oversized",
                "The input is too large",
                StatusCode::PAYLOAD_TOO_LARGE,
            ),
            WrongKind => (
                "wrong-document-kind",
                "The document is not of the expected kind",
                unprocessable,
            ),
            WitnessConflict => (
                "audit-witness-conflict",
                "The offline zone's audit log changed since it was last witnessed",
                StatusCode::CONFLICT,
            ),
        }
    }

    /// The problem-type slug.
    pub fn slug(self) -> &'static str {
        self.parts().0
    }
}

/// Every error a handler can return.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// No valid session: sign in.
    #[error("{0}")]
    Unauthenticated(String),
    /// Wrong username or password (deliberately not saying which).
    #[error("the username or password is wrong")]
    InvalidCredentials,
    /// A cookie-authenticated state change without the session's CSRF token.
    #[error("the X-CSRF-Token header is missing or does not belong to this session; reload the page and try again")]
    Csrf,
    /// The caller's role may not do this.
    #[error("your role ({role}) may not {action}; ask an administrator")]
    Forbidden {
        /// The caller's role.
        role: &'static str,
        /// What was attempted.
        action: String,
    },
    /// The password given to confirm the operation is wrong.
    #[error("the password you entered to confirm this operation is wrong; nothing was changed")]
    ReauthFailed,
    /// A decision on a four-eyes proposal was refused; nothing was changed.
    #[error("{0}")]
    Proposal(auth::proposal::Refusal),
    /// The change concerns the caller (their own role): someone else must decide it.
    #[error("{0}")]
    SecondPersonRequired(String),
    /// The caller may not use this record (an account not granted, maker-checker).
    #[error("{0}")]
    NotPermitted(String),
    /// The account may not sign in.
    #[error("{0}")]
    AccountDisabled(String),
    /// Too many attempts (sign-ins for this account from this address, or from this address,
    /// or registrations from this address): wait. Says nothing about whether the account
    /// exists.
    #[error("too many attempts; try again in {} seconds", retry_after_secs(*.0))]
    Throttled(Duration),
    /// The input breaks a rule; nothing was written.
    #[error("{field}: {reason}")]
    Validation {
        /// The input field at fault.
        field: String,
        /// What is wrong.
        reason: String,
    },
    /// The transfer breaks the account's policy (limit, allow-list) or exceeds the balance.
    #[error("{0}")]
    Policy(String),
    /// A referenced record does not exist.
    #[error("{0}")]
    NotFound(String),
    /// The record's state does not allow this.
    #[error("{0}")]
    Conflict(String),
    /// An import was rejected.
    #[error("{detail}")]
    Import {
        /// Which rejection.
        rejection: Rejection,
        /// The detail shown to the user.
        detail: String,
    },
    /// The Ethereum node could not answer; nothing was written.
    #[error("the Ethereum node could not be asked ({0}); nothing was changed, try again")]
    Chain(String),
    /// A server-side fault; the client sees an opaque 500, the cause goes to the log.
    #[error("internal error: {0}")]
    Internal(String),
}

/// Result alias for handlers.
pub type ApiResult<T> = Result<T, ApiError>;

impl ApiError {
    /// A validation error.
    pub fn invalid(field: impl Into<String>, reason: impl Into<String>) -> Self {
        ApiError::Validation {
            field: field.into(),
            reason: reason.into(),
        }
    }

    /// An import rejection.
    pub fn reject(rejection: Rejection, detail: impl Into<String>) -> Self {
        ApiError::Import {
            rejection,
            detail: detail.into(),
        }
    }

    /// A server fault, logged where it is rendered.
    pub fn internal(cause: impl std::fmt::Display) -> Self {
        ApiError::Internal(cause.to_string())
    }

    /// The HTTP status.
    pub fn status(&self) -> StatusCode {
        ProblemError::parts(self).2
    }
}

impl ProblemError for ApiError {
    const TYPE_PREFIX: &'static str = PROBLEM_TYPE_PREFIX;

    fn parts(&self) -> (&'static str, &'static str, StatusCode) {
        match self {
            ApiError::Unauthenticated(_) => (
                "unauthenticated",
                "Sign in required",
                StatusCode::UNAUTHORIZED,
            ),
            ApiError::InvalidCredentials => (
                "invalid-credentials",
                "Wrong username or password",
                StatusCode::UNAUTHORIZED,
            ),
            ApiError::Csrf => (
                "csrf-token-invalid",
                "Missing or wrong CSRF token",
                StatusCode::FORBIDDEN,
            ),
            ApiError::Forbidden { .. } => (
                "forbidden",
                "Not allowed for your role",
                StatusCode::FORBIDDEN,
            ),
            ApiError::ReauthFailed => (
                "reauthentication-failed",
                "Password confirmation failed",
                StatusCode::FORBIDDEN,
            ),
            ApiError::Proposal(refusal) => proposal_parts(refusal),
            ApiError::SecondPersonRequired(_) => (
                "second-person-required",
                "Someone else must do this",
                StatusCode::FORBIDDEN,
            ),
            ApiError::NotPermitted(_) => (
                "not-permitted",
                "Not allowed for you on this record",
                StatusCode::FORBIDDEN,
            ),
            ApiError::AccountDisabled(_) => (
                "account-disabled",
                "The account may not sign in",
                StatusCode::FORBIDDEN,
            ),
            ApiError::Throttled(_) => (
                "too-many-attempts",
                "Too many failed attempts",
                StatusCode::TOO_MANY_REQUESTS,
            ),
            ApiError::Validation { .. } => (
                "validation-failed",
                "The input is invalid",
                StatusCode::UNPROCESSABLE_ENTITY,
            ),
            ApiError::Policy(_) => (
                "policy-violation",
                "The transfer is not allowed by the account's policy or balance",
                StatusCode::UNPROCESSABLE_ENTITY,
            ),
            ApiError::NotFound(_) => ("not-found", "Not found", StatusCode::NOT_FOUND),
            ApiError::Conflict(_) => (
                "conflict",
                "The current state does not allow this",
                StatusCode::CONFLICT,
            ),
            ApiError::Import { rejection, .. } => rejection.parts(),
            ApiError::Chain(_) => (
                "chain-unavailable",
                "The Ethereum node could not be asked",
                StatusCode::BAD_GATEWAY,
            ),
            ApiError::Internal(_) => (
                "internal",
                "Internal server error",
                StatusCode::INTERNAL_SERVER_ERROR,
            ),
        }
    }

    fn field(&self) -> Option<String> {
        match self {
            ApiError::Validation { field, .. } => Some(field.clone()),
            _ => None,
        }
    }

    fn retry_after(&self) -> Option<Duration> {
        match self {
            ApiError::Throttled(wait) => Some(*wait),
            _ => None,
        }
    }

    /// Only internal faults are opaque: a node that cannot be asked is worth saying.
    fn opaque(&self) -> bool {
        matches!(
            self,
            ApiError::Internal(_) | ApiError::Proposal(auth::proposal::Refusal::Corrupt)
        )
    }
}

/// Renders any error that reached the edge: [`ApiError`]s keep their problem; poem's own
/// client errors become a problem with their status; a 5xx is made opaque and logged.
pub fn render(err: poem::Error) -> Response {
    if let Some(api) = err.downcast_ref::<ApiError>() {
        return api.to_response();
    }
    match web::poem_problem(&err, PROBLEM_TYPE_PREFIX, Rejection::Oversized.slug()) {
        Some(problem) => problem_response(&problem, err.status()),
        None => ApiError::internal(&err).to_response(),
    }
}

impl From<ApiError> for poem::Error {
    fn from(e: ApiError) -> Self {
        let status = e.status();
        poem::Error::new(e, status)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        self.to_response()
    }
}

/// Documents every handler's error responses: any 4xx or 5xx is a [`Problem`].
impl ApiResponse for ApiError {
    fn meta() -> MetaResponses {
        web::problem_responses_meta()
    }

    fn register(registry: &mut Registry) {
        <Problem as Type>::register(registry);
    }
}

impl From<online_db::Error> for ApiError {
    fn from(e: online_db::Error) -> Self {
        use online_db::Error as E;
        match e {
            E::Validation { field, reason } => ApiError::Validation { field, reason },
            E::NotFound { .. } => ApiError::NotFound(e.to_string()),
            E::AlreadyExists { .. } | E::Conflict(_) | E::IllegalTransition { .. } => {
                ApiError::Conflict(e.to_string())
            }
            E::Forbidden(msg) => ApiError::NotPermitted(msg),
            E::Proposal(refusal) => ApiError::Proposal(refusal),
            E::SecondPersonRequired(msg) => ApiError::SecondPersonRequired(msg),
            E::Policy(_) | E::Refused { .. } => ApiError::Policy(e.to_string()),
            E::Replay { .. } => ApiError::reject(Rejection::Replayed, e.to_string()),
            E::Audit(
                a @ (audit::Error::WitnessConflict { .. }
                | audit::Error::WitnessRegressed { .. }
                | audit::Error::WitnessZone { .. }),
            ) => ApiError::reject(Rejection::WitnessConflict, a.to_string()),
            other => ApiError::internal(other),
        }
    }
}

impl From<chain::Error> for ApiError {
    fn from(e: chain::Error) -> Self {
        ApiError::Chain(e.to_string())
    }
}

impl From<sea_orm::DbErr> for ApiError {
    fn from(e: sea_orm::DbErr) -> Self {
        ApiError::internal(format!("database: {e}"))
    }
}

impl From<tokio::task::JoinError> for ApiError {
    fn from(e: tokio::task::JoinError) -> Self {
        ApiError::internal(format!("a blocking task failed: {e}"))
    }
}
