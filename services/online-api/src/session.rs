//! Who is calling: the online zone's adapter over the sign-in gate of both zones
//! (`web::gate`: session by cookie or bearer token, the CSRF and role checks,
//! re-authentication, sign-in, sign-out, registration, all throttled by `auth::throttle`),
//! with the online database as its `auth::AccountStore`.

use auth::Action;
use online_db::entity::users;
use poem::Request;
use sea_orm::DatabaseConnection;
use web::gate::{Gate, GateError};

use crate::error::{ApiError, ApiResult};
use crate::state::AppState;

/// The session cookie's name. `__Host-` makes the browser refuse it unless it is Secure,
/// host-only and `Path=/`.
pub const SESSION_COOKIE: &str = "__Host-custody-online";

/// An authenticated caller.
pub(crate) type Caller = web::gate::Caller<users::Model>;

/// The database role as the permission table's role.
pub fn auth_role(role: online_db::Role) -> auth::Role {
    role.into()
}

impl From<GateError<online_db::Error>> for ApiError {
    fn from(e: GateError<online_db::Error>) -> Self {
        match e {
            GateError::Unauthenticated(why) => ApiError::Unauthenticated(why),
            GateError::Csrf => ApiError::Csrf,
            GateError::Forbidden { role, action } => ApiError::Forbidden { role, action },
            GateError::InvalidCredentials => ApiError::InvalidCredentials,
            GateError::AccountDisabled => ApiError::AccountDisabled(
                "this account is disabled; ask an administrator".to_owned(),
            ),
            GateError::ReauthFailed => ApiError::ReauthFailed,
            GateError::Throttled(wait) => ApiError::Throttled(wait),
            GateError::Invalid { field, error } => crate::api::auth_validation(field, error),
            GateError::Store(e) => e.into(),
            GateError::Internal(why) => ApiError::internal(why),
        }
    }
}

impl AppState {
    /// The sign-in gate over the online database, at the clock's now.
    pub(crate) fn gate(&self) -> Gate<'_, online_db::Db, DatabaseConnection> {
        Gate {
            store: &self.inner.db,
            counters: self.inner.db.conn(),
            limits: &self.inner.limits,
            policy: &self.inner.policy,
            hasher: &self.inner.hasher,
            cookie: SESSION_COOKIE,
            now: web::to_system(self.now()),
        }
    }

    /// Authenticate the request and check that the caller's role may perform `action`.
    pub(crate) async fn authorize(&self, req: &Request, action: Action) -> ApiResult<Caller> {
        Ok(self.gate().authorize(req, action).await?)
    }

    /// Re-authentication for a sensitive operation (password re-entry): throttled like a
    /// sign-in from the caller's address; a wrong password counts as a failed sign-in.
    pub(crate) async fn reauthenticate(
        &self,
        req: &Request,
        caller: &Caller,
        password: String,
    ) -> ApiResult<()> {
        Ok(self.gate().reauthenticate(req, caller, password).await?)
    }
}
