//! Health, sign-up and sign-in, users and roles.

use auth::Action;
use poem::Request;
use poem_openapi::param::Path;
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, OpenApi, Tags};

use crate::dto::*;
use crate::error::{ApiError, ApiResult};
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
        let gate = st.gate();
        gate.claim_registration(req).await?;
        let body = body.0;
        let display_name = text("display_name", &body.display_name)?;
        let user = gate
            .register(&body.username, body.password, display_name, None)
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
        let bearer = body.client == Some(ClientKind::Bearer);
        let signed = st
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
        let st = state(&self.state)?;
        let caller = st.authorize(req, Action::ManageOwnAccount).await?;
        let cleared = st.gate().sign_out(&caller).await?;
        Ok(LogoutReply::Done(cleared))
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
