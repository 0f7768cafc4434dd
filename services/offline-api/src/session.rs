//! Who is calling: the session (cookie or bearer token), the CSRF check, the role check and
//! re-authentication.
//!
//! **Cookie or bearer.** Browsers get the session in the `__Host-custody-offline` cookie
//! (Secure, HttpOnly, SameSite=Strict, Path=/) and the CSRF token in the login response body;
//! every state-changing request (anything but GET/HEAD/OPTIONS) with the cookie must echo the
//! CSRF token in `X-CSRF-Token`. Tools sign in with `"client": "bearer"` and send
//! `Authorization: Bearer <token>`: a browser never attaches that header by itself, so bearer
//! requests are not CSRF-prone and need no CSRF header. A request that carries both uses the
//! bearer token.
//!
//! **Order of checks**, so the status says what to fix: no or invalid session → 401; cookie
//! state change without the right CSRF token → 403; role not allowed (`auth::Action`) → 403.

use auth::{Action, CsrfToken, SessionState, SessionToken, TokenHash};
use offline_db::entity::{auth_sessions, users};
use poem::Request;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};

use crate::clock::to_system;
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;

/// The session cookie's name. `__Host-` makes the browser refuse it unless it is Secure,
/// host-only and `Path=/`.
pub const SESSION_COOKIE: &str = "__Host-custody-offline";
/// The CSRF header.
pub use web::CSRF_HEADER;

pub(crate) use web::{client_ip, Via};

/// An authenticated caller.
#[derive(Debug, Clone)]
pub(crate) struct Caller {
    pub user: users::Model,
    pub session_id: String,
}

/// The database role as the permission table's role.
pub fn auth_role_of(role: offline_db::Role) -> auth::Role {
    auth_role(role)
}

pub(crate) fn auth_role(role: offline_db::Role) -> auth::Role {
    match role {
        offline_db::Role::Unassigned => auth::Role::Unassigned,
        offline_db::Role::Admin => auth::Role::Admin,
        offline_db::Role::CaseManager => auth::Role::CaseManager,
        offline_db::Role::Operator => auth::Role::Operator,
        offline_db::Role::Auditor => auth::Role::Auditor,
    }
}

/// The session token the request presents, if any.
pub(crate) fn presented_token(req: &Request) -> Option<(String, Via)> {
    web::presented_token(req, SESSION_COOKIE)
}

fn action_words(action: Action) -> String {
    format!("{action:?}")
}

impl AppState {
    /// The session row and user of the presented token, if valid now.
    pub(crate) async fn session_of(
        &self,
        req: &Request,
    ) -> ApiResult<(auth_sessions::Model, users::Model, Via)> {
        let unauth = || {
            ApiError::Unauthenticated("sign in first: this request has no valid session".to_owned())
        };
        let (raw, via) = presented_token(req).ok_or_else(unauth)?;
        let token = SessionToken::parse(&raw).map_err(|_| unauth())?;
        let hash = token.token_hash().to_hex();
        let db = &self.inner.db;
        let session = auth_sessions::Entity::find()
            .filter(auth_sessions::Column::TokenHash.eq(hash))
            .one(db.conn())
            .await?
            .ok_or_else(unauth)?;
        let user = users::Entity::find_by_id(session.user_id.clone())
            .one(db.conn())
            .await?
            .ok_or_else(unauth)?;
        let now = self.now();
        let state = SessionState {
            created_at: to_system(session.created_at),
            last_seen_at: to_system(session.last_seen_at),
            revoked_at: session.revoked_at.map(to_system),
            user_disabled: user.status != offline_db::UserStatus::Active,
            password_changed_at: None,
        };
        self.inner
            .policy
            .check(&state, to_system(now))
            .map_err(|why| ApiError::Unauthenticated(why.to_string()))?;
        Ok((session, user, via))
    }

    /// Authenticate the request and check that the caller's role may perform `action`.
    pub(crate) async fn authorize(&self, req: &Request, action: Action) -> ApiResult<Caller> {
        let (session, user, via) = self.session_of(req).await?;
        if via == Via::Cookie && web::state_changing(req.method()) {
            let expected = TokenHash::from_hex(&session.csrf_hash).map_err(ApiError::internal)?;
            let ok = req
                .headers()
                .get(CSRF_HEADER)
                .and_then(|v| v.to_str().ok())
                .is_some_and(|presented| CsrfToken::verify(presented, &expected));
            if !ok {
                return Err(ApiError::Csrf);
            }
        }
        let role = auth_role(user.role);
        if !role.may(action) {
            return Err(ApiError::Forbidden {
                role: role.as_str(),
                action: action_words(action),
            });
        }
        self.inner.db.touch_session(&session.id, self.now()).await?;
        Ok(Caller {
            user,
            session_id: session.id,
        })
    }

    /// Re-authentication for a sensitive operation (DESIGN.md §13): the caller's password
    /// again. Throttled like a login, and a wrong password counts as a failed login.
    pub(crate) async fn reauthenticate(
        &self,
        req: &Request,
        caller: &Caller,
        password: String,
    ) -> ApiResult<()> {
        let ip = client_ip(req);
        let keys = auth::SignInKeys::new(&caller.user.username, &ip);
        self.claim_sign_in(&keys).await?;
        let ok = self
            .verify_password(password, Some(caller.user.password_hash.clone()))
            .await?;
        if ok {
            self.sign_in_succeeded(&keys).await
        } else {
            self.inner
                .db
                .record_reauth_failure(&caller.user, &ip, self.now())
                .await?;
            Err(ApiError::ReauthFailed)
        }
    }

    /// Argon2id off the async threads.
    pub(crate) async fn verify_password(
        &self,
        password: String,
        stored: Option<String>,
    ) -> ApiResult<bool> {
        web::verify_login(self.inner.hasher.clone(), password, stored)
            .await
            .map_err(ApiError::internal)
    }

    /// Claim a sign-in (or re-authentication) attempt for `keys` before the password is
    /// evaluated: `Err(Throttled)` when it may not be evaluated now (`auth::throttle`).
    pub(crate) async fn claim_sign_in(&self, keys: &auth::SignInKeys) -> ApiResult<()> {
        let now = to_system(self.now());
        match self
            .inner
            .limits
            .claim_sign_in(self.inner.db.conn(), keys, now)
            .await?
        {
            auth::Decision::Allow => Ok(()),
            auth::Decision::Delay { retry_after } => Err(ApiError::Throttled(retry_after)),
        }
    }

    /// The claimed attempt succeeded: reset its (account, source) counter.
    pub(crate) async fn sign_in_succeeded(&self, keys: &auth::SignInKeys) -> ApiResult<()> {
        Ok(self
            .inner
            .limits
            .sign_in_succeeded(self.inner.db.conn(), keys)
            .await?)
    }

    /// Claim a registration from `ip`: `Err(Throttled)` beyond the per-source rate limit.
    pub(crate) async fn claim_registration(&self, ip: &str) -> ApiResult<()> {
        let now = to_system(self.now());
        match self
            .inner
            .limits
            .claim_registration(self.inner.db.conn(), ip, now)
            .await?
        {
            auth::Decision::Allow => Ok(()),
            auth::Decision::Delay { retry_after } => Err(ApiError::Throttled(retry_after)),
        }
    }
}
