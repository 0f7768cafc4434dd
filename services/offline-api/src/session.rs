//! Who is calling: the offline zone's adapter over the sign-in gate of both zones
//! (`web::gate`: session by cookie or bearer token, the CSRF and role checks,
//! re-authentication, sign-in, sign-out, registration, all throttled by `auth::throttle`),
//! with the offline database as its `auth::AccountStore`.

use auth::Action;
use offline_db::entity::users;
use poem::Request;
use sea_orm::DatabaseConnection;
use web::gate::{Gate, GateError};

use crate::clock::to_system;
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;

/// The session cookie's name. `__Host-` makes the browser refuse it unless it is Secure,
/// host-only and `Path=/`.
pub const SESSION_COOKIE: &str = "__Host-custody-offline";
/// The CSRF header.
pub use web::CSRF_HEADER;

/// An authenticated caller.
pub(crate) type Caller = web::gate::Caller<users::Model>;

/// The database role as the permission table's role.
pub fn auth_role_of(role: offline_db::Role) -> auth::Role {
    role.into()
}

pub(crate) fn auth_role(role: offline_db::Role) -> auth::Role {
    role.into()
}

impl From<GateError<offline_db::Error>> for ApiError {
    fn from(e: GateError<offline_db::Error>) -> Self {
        match e {
            GateError::Unauthenticated(why) => ApiError::Unauthenticated(why),
            GateError::Csrf => ApiError::Csrf,
            GateError::Forbidden { role, action } => ApiError::Forbidden { role, action },
            GateError::InvalidCredentials => ApiError::InvalidCredentials,
            GateError::AccountDisabled => ApiError::AccountDisabled(
                "this account is disabled or still awaiting approval; ask an administrator"
                    .to_owned(),
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
    /// The sign-in gate over the offline database, at the clock's now.
    pub(crate) fn gate(&self) -> Gate<'_, offline_db::Db, DatabaseConnection> {
        Gate {
            store: &self.inner.db,
            counters: self.inner.db.conn(),
            limits: &self.inner.limits,
            policy: &self.inner.policy,
            hasher: &self.inner.hasher,
            cookie: SESSION_COOKIE,
            now: to_system(self.now()),
        }
    }

    /// Authenticate the request and check that the caller's role may perform `action`.
    pub(crate) async fn authorize(&self, req: &Request, action: Action) -> ApiResult<Caller> {
        Ok(self.gate().authorize(req, action).await?)
    }

    /// Re-authentication for a sensitive operation (DESIGN.md §13): the caller's password
    /// again, throttled like a sign-in; a wrong one counts as a failed sign-in.
    pub(crate) async fn reauthenticate(
        &self,
        req: &Request,
        caller: &Caller,
        password: String,
    ) -> ApiResult<()> {
        Ok(self.gate().reauthenticate(req, caller, password).await?)
    }
}
