//! Health, sign-up and sign-in, users and roles.

use auth::{Action, Password, Username};
use poem::Request;
use poem_openapi::param::Path;
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, OpenApi, Tags};
use web::client_ip;

use crate::dto::*;
use crate::error::{ApiError, ApiResult};
use crate::session::SESSION_COOKIE;
use crate::state::AppState;

/// OpenAPI tags.
#[derive(Tags)]
pub(crate) enum Tag {
    /// Service health.
    Meta,
    /// Sign-up, sign-in, sign-out.
    Auth,
    /// Users and roles (administrators).
    Users,
    /// Custody accounts, tokens, balances, policies.
    Accounts,
    /// Transfers, signing requests and signature responses.
    Transfers,
    /// The operation and transaction logs (auditors).
    Audit,
}

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

/// A role change: taken away at once, or granted by proposal.
#[derive(ApiResponse)]
pub enum RoleReply {
    /// The role was taken away (`none`).
    #[oai(status = 200)]
    Changed(Json<UserView>),
    /// Proposal submitted; the role is granted when a second administrator approves it.
    #[oai(status = 202)]
    Proposed(Json<web::proposal_view::ProposalView>),
}

/// The API's meta, auth and user endpoints.
pub struct Api {
    /// `None` only when the service is built to print the OpenAPI document.
    pub(crate) state: Option<AppState>,
}

/// The state, or an internal error when the API was built for the document only.
pub(crate) fn state(state: &Option<AppState>) -> ApiResult<&AppState> {
    state.as_ref().ok_or_else(|| {
        ApiError::internal("the API was built without state (document generation only)")
    })
}

fn auth_validation(field: &str, e: auth::Error) -> ApiError {
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

/// Trimmed, non-empty text of at most 200 characters.
pub(crate) fn text(field: &str, value: &str) -> ApiResult<String> {
    const MAX_TEXT: usize = 200;
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

fn parse_role(text: &str) -> ApiResult<online_db::Role> {
    match text {
        "none" => Ok(online_db::Role::Unassigned),
        "admin" => Ok(online_db::Role::Admin),
        "trader" => Ok(online_db::Role::Trader),
        "auditor" => Ok(online_db::Role::Auditor),
        _ => Err(ApiError::invalid(
            "role",
            "must be one of none, admin, trader, auditor",
        )),
    }
}

#[OpenApi(prefix_path = "/api")]
impl Api {
    /// Liveness: the process serves HTTP. Touches nothing else (readiness is `/health`).
    #[oai(path = "/live", method = "get", tag = "Tag::Meta")]
    async fn live(&self) -> Json<Live> {
        Json(Live {
            status: "ok".to_owned(),
        })
    }

    /// Whether the service, its database, the node and the broker answer.
    #[oai(path = "/health", method = "get", tag = "Tag::Meta")]
    async fn health(&self) -> ApiResult<Json<Health>> {
        let st = state(&self.state)?;
        st.inner.db.list_accounts().await?;
        let block_number = st.inner.chain.head().await.ok().map(|b| b.number);
        let broker_reachable = match &st.inner.amqp {
            Some(url) => Some(crate::broker_reachable(url).await),
            None => None,
        };
        Ok(Json(Health {
            status: "ok".to_owned(),
            chain_id: st.inner.chain.chain_id(),
            block_number,
            broker_reachable,
            export_public_key: hex::encode(
                p256::EncodedPoint::from(st.export_public_key()).as_bytes(),
            ),
        }))
    }

    /// Register. The account has no role, so no rights, until an administrator grants one.
    #[oai(path = "/auth/register", method = "post", tag = "Tag::Auth")]
    async fn register(
        &self,
        req: &Request,
        body: Json<RegisterRequest>,
    ) -> ApiResult<Json<UserView>> {
        let st = state(&self.state)?;
        // Rate-limited per source before anything else is looked at.
        st.claim_registration(&client_ip(req)).await?;
        let body = body.0;
        let username =
            Username::parse(&body.username).map_err(|e| auth_validation("username", e))?;
        let display_name = text("display_name", &body.display_name)?;
        let password = Password::parse(body.password, &username)
            .map_err(|e| auth_validation("password", e))?;
        let hasher = st.inner.hasher.clone();
        let hash = tokio::task::spawn_blocking(move || hasher.hash(&password))
            .await?
            .map_err(ApiError::internal)?;
        let user = st
            .inner
            .db
            .create_user(
                online_db::NewUser {
                    username: username.as_str().to_owned(),
                    display_name,
                    password_hash: hash.into_string(),
                },
                "anonymous:register",
                st.now(),
            )
            .await?;
        Ok(Json(UserView::from(&user)))
    }

    /// Sign in. Throttled per (account, client address), per account and per client address
    /// with growing delays, never locked against the right password from the owner's own
    /// address; the attempt is claimed before the password is evaluated. A new session every
    /// time.
    #[oai(path = "/auth/login", method = "post", tag = "Tag::Auth")]
    async fn login(&self, req: &Request, body: Json<LoginRequest>) -> ApiResult<LoginReply> {
        let st = state(&self.state)?;
        let body = body.0;
        let ip = client_ip(req);
        // Throttle by the name as typed (normalised when it parses), so unknown names are
        // throttled too and throttling does not tell which accounts exist.
        let key: String = match Username::parse(&body.username) {
            Ok(u) => u.as_str().to_owned(),
            Err(_) => body.username.chars().take(64).collect(),
        };
        let keys = auth::SignInKeys::new(&key, &ip);
        st.claim_sign_in(&keys).await?;
        let user = st.inner.db.user_by_username(&key).await?;
        let ok = st
            .verify_password(
                body.password,
                user.as_ref().map(|u| u.password_hash.clone()),
            )
            .await?;
        let now = st.now();
        let Some(user) = user.filter(|_| ok) else {
            st.inner.db.record_login_failure(&key, &ip, now).await?;
            return Err(ApiError::InvalidCredentials);
        };
        if user.status != online_db::UserStatus::Active {
            return Err(ApiError::AccountDisabled(
                "this account is disabled; ask an administrator".to_owned(),
            ));
        }
        let issued = st
            .inner
            .policy
            .issue(web::to_system(now))
            .map_err(ApiError::internal)?;
        let idle = chrono::Duration::from_std(st.inner.policy.idle_timeout())
            .map_err(ApiError::internal)?;
        let previous = match web::presented_token(req, SESSION_COOKIE) {
            Some((raw, _)) => match auth::SessionToken::parse(&raw) {
                Ok(t) => st
                    .inner
                    .db
                    .session_by_token_hash(&t.token_hash().to_hex())
                    .await?
                    .map(|s| s.id),
                Err(_) => None,
            },
            None => None,
        };
        let expires_at = now + idle;
        st.inner
            .db
            .record_login_success(
                &user.id,
                &ip,
                online_db::NewSession {
                    token_hash: issued.token_hash.to_hex(),
                    csrf_hash: issued.csrf_hash.to_hex(),
                    expires_at,
                    revoke_previous: previous,
                },
                now,
            )
            .await?;
        st.sign_in_succeeded(&keys).await?;
        let bearer = body.client == Some(ClientKind::Bearer);
        let max_age = u64::try_from(idle.num_seconds()).unwrap_or(0);
        let cookie =
            (!bearer).then(|| web::session_cookie(SESSION_COOKIE, issued.token.expose(), max_age));
        Ok(LoginReply::Ok(
            Json(LoginResponse {
                user: UserView::from(&user),
                csrf_token: issued.csrf.expose().to_owned(),
                session_token: bearer.then(|| issued.token.expose().to_owned()),
                expires_at: expires_at.to_rfc3339(),
            }),
            cookie,
        ))
    }

    /// Sign out: the session is revoked and the cookie cleared.
    #[oai(path = "/auth/logout", method = "post", tag = "Tag::Auth")]
    async fn logout(&self, req: &Request) -> ApiResult<LogoutReply> {
        let st = state(&self.state)?;
        let caller = st.authorize(req, Action::ManageOwnAccount).await?;
        st.inner
            .db
            .logout(&caller.session_id, &caller.user.id, st.now())
            .await?;
        Ok(LogoutReply::Done(web::clear_cookie(SESSION_COOKIE)))
    }

    /// The signed-in user.
    #[oai(path = "/auth/me", method = "get", tag = "Tag::Auth")]
    async fn me(&self, req: &Request) -> ApiResult<Json<UserView>> {
        let st = state(&self.state)?;
        let caller = st.authorize(req, Action::ManageOwnAccount).await?;
        Ok(Json(UserView::from(&caller.user)))
    }

    /// All users.
    #[oai(path = "/users", method = "get", tag = "Tag::Users")]
    async fn list_users(&self, req: &Request) -> ApiResult<Json<Vec<UserView>>> {
        let st = state(&self.state)?;
        st.authorize(req, Action::OnlineViewUsers).await?;
        let users = st.inner.db.users().await?;
        Ok(Json(users.iter().map(UserView::from).collect()))
    }

    /// Grant a role, confirmed with your password. Granting `admin`, `trader` or `auditor`
    /// needs a second administrator: the answer is `202` with the proposal, and the role is
    /// granted when another administrator approves it. `none` takes every right away at once
    /// (`200`). Administrators only.
    #[oai(path = "/users/:id/role", method = "put", tag = "Tag::Users")]
    async fn set_role(
        &self,
        req: &Request,
        id: Path<String>,
        body: Json<SetRoleRequest>,
    ) -> ApiResult<RoleReply> {
        let st = state(&self.state)?;
        let caller = st.authorize(req, Action::OnlineManageRoles).await?;
        let body = body.0;
        let role = parse_role(body.role.trim())?;
        if id.0 == caller.user.id {
            return Err(ApiError::Conflict(
                "you cannot change your own role; ask another administrator".to_owned(),
            ));
        }
        st.reauthenticate(req, &caller, body.password).await?;
        if role == online_db::Role::Unassigned {
            let user = st
                .inner
                .db
                .set_role(&id.0, role, &caller.user.id, st.now())
                .await?;
            return Ok(RoleReply::Changed(Json(UserView::from(&user))));
        }
        let action = online_db::ProposalAction::GrantRole {
            user_id: id.0.clone(),
            role,
        };
        let crate::proposals::Proposed::Accepted(view) =
            crate::proposals::propose(st, &caller, &action).await?;
        Ok(RoleReply::Proposed(view))
    }

    /// Enable or disable a user; disabling ends their sessions. Administrators only.
    #[oai(path = "/users/:id/status", method = "put", tag = "Tag::Users")]
    async fn set_status(
        &self,
        req: &Request,
        id: Path<String>,
        body: Json<SetStatusRequest>,
    ) -> ApiResult<Json<UserView>> {
        let st = state(&self.state)?;
        let caller = st.authorize(req, Action::OnlineManageRoles).await?;
        let status = match body.0.status.trim() {
            "ACTIVE" => online_db::UserStatus::Active,
            "DISABLED" => online_db::UserStatus::Disabled,
            _ => return Err(ApiError::invalid("status", "must be ACTIVE or DISABLED")),
        };
        if id.0 == caller.user.id {
            return Err(ApiError::Conflict(
                "you cannot disable yourself; ask another administrator".to_owned(),
            ));
        }
        let user = st
            .inner
            .db
            .set_status(&id.0, status, &caller.user.id, st.now())
            .await?;
        Ok(Json(UserView::from(&user)))
    }
}
