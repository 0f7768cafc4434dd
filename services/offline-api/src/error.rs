//! The API's typed errors and the ONE place that turns any error into an RFC 9457 problem
//! response (`application/problem+json` with `type`, `title`, `status`, `detail`).
//!
//! Handlers return [`ApiError`]; poem's own errors (a body that does not parse, an unknown
//! route, a body over the size limit) reach the same renderer through [`render`], which the
//! application installs with `catch_all_error`. A 4xx carries a detail the client can act on;
//! a 5xx is opaque to the client and its cause is logged with `tracing` (causes never carry
//! secrets: the crates below keep PINs, passwords, tokens and hashes out of their messages).

use std::time::Duration;

use poem::http::StatusCode;
use poem::{IntoResponse, Response};
use poem_openapi::registry::{MetaResponses, Registry};
use poem_openapi::types::Type;
use poem_openapi::ApiResponse;

pub use web::{Problem, PROBLEM_JSON};

/// The prefix of every problem `type` URI; the suffix is the slug of [`ApiError::kind`].
pub const PROBLEM_TYPE_PREFIX: &str = "urn:custody:offline:problem:";

/// Why a signing-request import was rejected. Each has its own problem type; nothing is
/// written for any of them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rejection {
    /// The signature does not verify under the pinned key.
    BadSignature,
    /// The envelope is signed by a key that is not pinned, or not for this kind.
    UnknownSigner,
    /// The envelope expired, or is not valid yet.
    Expired,
    /// The request id was imported before.
    Replayed,
    /// The signing hash is not the hash of the unsigned transaction.
    HashMismatch,
    /// The chain id of the transaction, the request or the case do not agree.
    WrongChain,
    /// No active case has the request's `from` address.
    UnknownAccount,
    /// The input does not decode as a signing request.
    Malformed,
    /// The input is larger than allowed.
    Oversized,
    /// The transaction does not match its summary, or is of a kind this system refuses.
    InconsistentTransaction,
    /// The document is valid but not a signing request.
    WrongKind,
    /// The online zone's audit checkpoints in the document contradict what this zone witnessed
    /// before: the online zone's log was rewritten or truncated.
    WitnessConflict,
}

impl Rejection {
    fn parts(self) -> (&'static str, &'static str, StatusCode) {
        use Rejection::*;
        match self {
            BadSignature => (
                "bad-signature",
                "The envelope signature is invalid",
                StatusCode::UNPROCESSABLE_ENTITY,
            ),
            UnknownSigner => (
                "unknown-signer",
                "The envelope is not signed by a pinned online key",
                StatusCode::UNPROCESSABLE_ENTITY,
            ),
            Expired => (
                "expired",
                "The envelope is expired or not yet valid",
                StatusCode::UNPROCESSABLE_ENTITY,
            ),
            Replayed => (
                "replayed",
                "The signing request was already imported",
                StatusCode::CONFLICT,
            ),
            HashMismatch => (
                "hash-mismatch",
                "The signing hash does not match the transaction",
                StatusCode::UNPROCESSABLE_ENTITY,
            ),
            WrongChain => (
                "wrong-chain",
                "The chain id does not match",
                StatusCode::UNPROCESSABLE_ENTITY,
            ),
            UnknownAccount => (
                "unknown-account",
                "No active case has this account",
                StatusCode::UNPROCESSABLE_ENTITY,
            ),
            Malformed => (
                "malformed-envelope",
                "The input is not a readable signing request",
                StatusCode::UNPROCESSABLE_ENTITY,
            ),
            Oversized => (
                "oversized",
                "The input is too large",
                StatusCode::PAYLOAD_TOO_LARGE,
            ),
            InconsistentTransaction => (
                "inconsistent-transaction",
                "The transaction does not match its summary",
                StatusCode::UNPROCESSABLE_ENTITY,
            ),
            WrongKind => (
                "wrong-document-kind",
                "The document is not a signing request",
                StatusCode::UNPROCESSABLE_ENTITY,
            ),
            WitnessConflict => (
                "audit-witness-conflict",
                "The online zone's audit log changed since it was last witnessed",
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
    /// The password given for re-authentication is wrong.
    #[error("the password you entered to confirm this operation is wrong")]
    ReauthFailed,
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
    /// A referenced record does not exist.
    #[error("{0}")]
    NotFound(String),
    /// The record's state does not allow this.
    #[error("{0}")]
    Conflict(String),
    /// A decision on a four-eyes proposal was refused; nothing changed.
    #[error("{0}")]
    Proposal(auth::proposal::Refusal),
    /// The change must be made by somebody else (four-eyes: a case's manager cannot propose
    /// or approve the case).
    #[error("{0}")]
    NotPermitted(String),
    /// A signing-request import was rejected.
    #[error("{detail}")]
    Import {
        /// Which rejection.
        rejection: Rejection,
        /// The detail shown to the operator.
        detail: String,
        /// In a batch, the envelope at fault (`envelopes[i]`).
        field: Option<String>,
    },
    /// A server-side fault; the client sees an opaque 500, the cause goes to the log.
    #[error("internal error: {0}")]
    Internal(String),
}

/// Result alias for handlers.
pub type ApiResult<T> = Result<T, ApiError>;

use web::{retry_after_secs, ProblemError};

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
            field: None,
        }
    }

    /// The same problem, pinned on envelope `index` of a batch import: the problem's `field`
    /// becomes `envelopes[index]` (or a field inside it) and the detail names the envelope, so
    /// the operator knows which one to look at. Server faults stay as they are.
    pub fn in_envelope(self, index: usize) -> Self {
        let at = format!("envelopes[{index}]");
        match self {
            ApiError::Import {
                rejection, detail, ..
            } => ApiError::Import {
                rejection,
                detail: format!("{at}: {detail}"),
                field: Some(at),
            },
            ApiError::Validation { field, reason } => {
                // The single import's own field (`envelope`) is the envelope itself.
                let field = if field == "envelope" {
                    at
                } else {
                    format!("{at}.{field}")
                };
                ApiError::Validation { field, reason }
            }
            ApiError::Conflict(m) => ApiError::Conflict(format!("{at}: {m}")),
            ApiError::NotFound(m) => ApiError::NotFound(format!("{at}: {m}")),
            other => other,
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

use web::problem_response;

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
            ApiError::NotFound(_) => ("not-found", "Not found", StatusCode::NOT_FOUND),
            ApiError::Conflict(_) => (
                "conflict",
                "The current state does not allow this",
                StatusCode::CONFLICT,
            ),
            ApiError::Proposal(refusal) => proposal_parts(refusal),
            ApiError::NotPermitted(_) => (
                "second-person-required",
                "Someone else must do this",
                StatusCode::FORBIDDEN,
            ),
            ApiError::Import { rejection, .. } => rejection.parts(),
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
            ApiError::Import { field, .. } => field.clone(),
            _ => None,
        }
    }

    fn retry_after(&self) -> Option<Duration> {
        match self {
            ApiError::Throttled(wait) => Some(*wait),
            _ => None,
        }
    }
}

pub use web::proposal_view::proposal_parts;

/// Renders any error that reached the edge. [`ApiError`]s keep their problem; poem's own
/// errors (unparsable body, unknown route, body too large…) become a problem with their
/// status, and a 5xx is made opaque and logged.
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

impl From<offline_db::Error> for ApiError {
    fn from(e: offline_db::Error) -> Self {
        match e {
            offline_db::Error::Validation { field, reason } => {
                ApiError::Validation { field, reason }
            }
            offline_db::Error::NotFound { .. } => ApiError::NotFound(e.to_string()),
            offline_db::Error::Conflict(msg) => ApiError::Conflict(msg),
            // Refused by the key-share table (the coordinator's rule); no API route asks for it
            // today, and a 409 names the reason without hinting at a role problem.
            offline_db::Error::NotPermitted(msg) => ApiError::NotPermitted(msg),
            offline_db::Error::Proposal(r) => ApiError::Proposal(r),
            offline_db::Error::Replay { .. } => {
                ApiError::reject(Rejection::Replayed, e.to_string())
            }
            offline_db::Error::AlreadyImported { .. } => ApiError::Conflict(e.to_string()),
            offline_db::Error::Audit(a) => ApiError::from(a),
            other => ApiError::internal(other),
        }
    }
}

impl From<sea_orm::DbErr> for ApiError {
    fn from(e: sea_orm::DbErr) -> Self {
        ApiError::internal(format!("database: {e}"))
    }
}

impl From<audit::Error> for ApiError {
    fn from(e: audit::Error) -> Self {
        match e {
            audit::Error::WitnessConflict { .. }
            | audit::Error::WitnessRegressed { .. }
            | audit::Error::WitnessZone { .. } => {
                ApiError::reject(Rejection::WitnessConflict, e.to_string())
            }
            other => ApiError::internal(other),
        }
    }
}

impl From<tokio::task::JoinError> for ApiError {
    fn from(e: tokio::task::JoinError) -> Self {
        ApiError::internal(format!("a blocking task failed: {e}"))
    }
}
