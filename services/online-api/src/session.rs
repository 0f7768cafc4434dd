//! Who is calling: the session (cookie or bearer token), the CSRF check and the role check.
//!
//! Browsers get the session in the `__Host-custody-online` cookie and the CSRF token in the
//! login response body; every state change with the cookie must echo it in `X-CSRF-Token`.
//! Tools sign in with `"client": "bearer"` and send `Authorization: Bearer <token>`, which a
//! browser never attaches by itself. Order of checks, so the status says what to fix: no or
//! invalid session → 401; cookie state change without the right CSRF token → 403; role not
//! allowed (`auth::Action`) → 403.

use auth::{Action, CsrfToken, SessionState, SessionToken, TokenHash};
use online_db::entity::{auth_sessions, users};
use poem::Request;
use web::{presented_csrf, to_system, Via};

use crate::error::{ApiError, ApiResult};
use crate::state::AppState;

/// The session cookie's name. `__Host-` makes the browser refuse it unless it is Secure,
/// host-only and `Path=/`.
pub const SESSION_COOKIE: &str = "__Host-custody-online";

/// An authenticated caller.
#[derive(Debug, Clone)]
pub(crate) struct Caller {
    pub user: users::Model,
    pub session_id: String,
}

/// The database role as the permission table's role.
pub fn auth_role(role: online_db::Role) -> auth::Role {
    match role {
        online_db::Role::Unassigned => auth::Role::Unassigned,
        online_db::Role::Admin => auth::Role::Admin,
        online_db::Role::Trader => auth::Role::Trader,
        online_db::Role::Auditor => auth::Role::Auditor,
    }
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
        let (raw, via) = web::presented_token(req, SESSION_COOKIE).ok_or_else(unauth)?;
        let token = SessionToken::parse(&raw).map_err(|_| unauth())?;
        let db = &self.inner.db;
        let session = db
            .session_by_token_hash(&token.token_hash().to_hex())
            .await?
            .ok_or_else(unauth)?;
        let user = db.user(&session.user_id).await?.ok_or_else(unauth)?;
        let state = SessionState {
            created_at: to_system(session.created_at),
            last_seen_at: to_system(session.last_seen_at),
            revoked_at: session.revoked_at.map(to_system),
            user_disabled: user.status != online_db::UserStatus::Active,
            password_changed_at: None,
        };
        self.inner
            .policy
            .check(&state, to_system(self.now()))
            .map_err(|why| ApiError::Unauthenticated(why.to_string()))?;
        Ok((session, user, via))
    }

    /// Authenticate the request and check that the caller's role may perform `action`.
    pub(crate) async fn authorize(&self, req: &Request, action: Action) -> ApiResult<Caller> {
        let (session, user, via) = self.session_of(req).await?;
        if via == Via::Cookie && web::state_changing(req.method()) {
            let expected = TokenHash::from_hex(&session.csrf_hash).map_err(ApiError::internal)?;
            let ok = presented_csrf(req)
                .is_some_and(|presented| CsrfToken::verify(presented, &expected));
            if !ok {
                return Err(ApiError::Csrf);
            }
        }
        let role = auth_role(user.role);
        if !role.may(action) {
            return Err(ApiError::Forbidden {
                role: role.as_str(),
                action: format!("{action:?}"),
            });
        }
        self.inner.db.touch_session(&session.id, self.now()).await?;
        Ok(Caller {
            user,
            session_id: session.id,
        })
    }

    /// Re-authenticate the caller for a sensitive operation (password re-entry): throttled
    /// like a sign-in from the caller's address; a wrong password is recorded as a failed
    /// sign-in and refused with [`ApiError::ReauthFailed`].
    pub(crate) async fn reauthenticate(
        &self,
        req: &Request,
        caller: &Caller,
        password: String,
    ) -> ApiResult<()> {
        let ip = web::client_ip(req);
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
                .record_login_failure(&caller.user.username, &ip, self.now())
                .await?;
            Err(ApiError::ReauthFailed)
        }
    }

    /// Argon2id off the async threads; `stored = None` runs against a dummy hash so an unknown
    /// user costs as much as a known one.
    pub(crate) async fn verify_password(
        &self,
        password: String,
        stored: Option<String>,
    ) -> ApiResult<bool> {
        web::verify_login(self.inner.hasher.clone(), password, stored)
            .await
            .map_err(ApiError::internal)
    }

    /// Claim a sign-in attempt for `key` (the name as typed) from `ip` before the password
    /// is evaluated: `Err(Throttled)` when it may not be evaluated now (`auth::throttle`).
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

    /// The claimed sign-in attempt succeeded: reset its (account, source) counter.
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
