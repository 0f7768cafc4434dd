//! Four-eyes proposals (issue 15): the list administrators decide from, and the decisions.
//! Granting a role or an account, loosening a policy and adding an allow-list entry answer
//! `202 Accepted` with the proposal (see `api.rs`, `accounts.rs`); a second, different
//! administrator approves it here with their password, and only then it takes effect, in the
//! same transaction as the approval.

use std::collections::HashMap;

use auth::proposal::Decision;
use auth::Action;
use online_db::Proposal;
use poem::Request;
use poem_openapi::param::{Path, Query};
use poem_openapi::payload::Json;
use poem_openapi::OpenApi;
use web::proposal_view::ProposalView;

use crate::api::{state, Tag};
use crate::dto::PasswordRequest;
use crate::error::{ApiError, ApiResult};
use crate::session::{auth_role, Caller};
use crate::state::AppState;

/// How many proposals a list shows at most.
const LIST_LIMIT: u64 = 500;

pub use web::proposal_view::Proposed;

/// The permission a decider needs for a proposal of `kind`.
pub(crate) fn action_for(kind: &str) -> Action {
    match kind {
        "user.grant_role" => Action::OnlineManageRoles,
        _ => Action::ManageAccountPolicies,
    }
}

/// The view of `rows` for `caller`, with people's names.
pub(crate) async fn views(
    st: &AppState,
    caller: &Caller,
    rows: &[Proposal],
) -> ApiResult<Vec<ProposalView>> {
    let names: HashMap<String, String> = st
        .inner
        .db
        .users()
        .await?
        .into_iter()
        .map(|u| (u.id, u.username))
        .collect();
    let role = auth_role(caller.user.role);
    Ok(ProposalView::list(
        rows,
        &caller.user.id,
        st.now(),
        &names,
        |row| role.may(action_for(&row.kind)),
    ))
}

/// Propose `action` as `caller` and answer 202 with the proposal.
pub(crate) async fn propose(
    st: &AppState,
    caller: &Caller,
    action: &online_db::ProposalAction,
) -> ApiResult<Proposed> {
    let row = st
        .inner
        .db
        .propose(action, &caller.user.id, st.now())
        .await?;
    let mut view = views(st, caller, std::slice::from_ref(&row)).await?;
    let view = view
        .pop()
        .ok_or_else(|| ApiError::internal("a proposal view went missing"))?;
    Ok(Proposed::Accepted(Json(view)))
}

/// The proposal endpoints.
pub struct ProposalsApi {
    /// `None` only when the service is built to print the OpenAPI document.
    pub(crate) state: Option<AppState>,
}

impl ProposalsApi {
    async fn decide(
        &self,
        req: &Request,
        id: &str,
        decision: Decision,
        password: Option<String>,
    ) -> ApiResult<Json<ProposalView>> {
        let st = state(&self.state)?;
        let caller = st.authorize(req, Action::ManageAccountPolicies).await?;
        if let Some(password) = password {
            st.reauthenticate(req, &caller, password).await?;
        }
        let row = st.inner.db.proposal(id).await?;
        let role = auth_role(caller.user.role);
        let needed = action_for(&row.kind);
        if decision != Decision::Cancel && !role.may(needed) {
            return Err(ApiError::Forbidden {
                role: role.as_str(),
                action: format!("{needed:?}"),
            });
        }
        let row = st
            .inner
            .db
            .decide_proposal(id, decision, &caller.user.id, st.now())
            .await?;
        let mut view = views(st, &caller, std::slice::from_ref(&row)).await?;
        view.pop()
            .map(Json)
            .ok_or_else(|| ApiError::internal("a proposal view went missing"))
    }
}

#[OpenApi(prefix_path = "/api")]
impl ProposalsApi {
    /// Four-eyes proposals, newest first: by default those still waiting (expired ones
    /// included, shown as EXPIRED); `pending=false` lists decided ones too. Administrators only.
    #[oai(path = "/proposals", method = "get", tag = "Tag::Users")]
    async fn list(
        &self,
        req: &Request,
        pending: Query<Option<bool>>,
    ) -> ApiResult<Json<Vec<ProposalView>>> {
        let st = state(&self.state)?;
        let caller = st.authorize(req, Action::ManageAccountPolicies).await?;
        let rows = st
            .inner
            .db
            .proposals(pending.0.unwrap_or(true), LIST_LIMIT)
            .await?;
        Ok(Json(views(st, &caller, &rows).await?))
    }

    /// Approve a proposal with your password: it takes effect now, in the same transaction.
    /// Not your own (`own-proposal`, 403); not one already decided (`proposal-decided`, 409)
    /// or expired (`proposal-expired`, 409).
    #[oai(path = "/proposals/:id/approve", method = "post", tag = "Tag::Users")]
    async fn approve(
        &self,
        req: &Request,
        id: Path<String>,
        body: Json<PasswordRequest>,
    ) -> ApiResult<Json<ProposalView>> {
        self.decide(req, &id.0, Decision::Approve, Some(body.0.password))
            .await
    }

    /// Reject a proposal with your password: nothing changes. Not your own.
    #[oai(path = "/proposals/:id/reject", method = "post", tag = "Tag::Users")]
    async fn reject(
        &self,
        req: &Request,
        id: Path<String>,
        body: Json<PasswordRequest>,
    ) -> ApiResult<Json<ProposalView>> {
        self.decide(req, &id.0, Decision::Reject, Some(body.0.password))
            .await
    }

    /// Withdraw your own proposal: nothing changes.
    #[oai(path = "/proposals/:id/cancel", method = "post", tag = "Tag::Users")]
    async fn cancel(&self, req: &Request, id: Path<String>) -> ApiResult<Json<ProposalView>> {
        self.decide(req, &id.0, Decision::Cancel, None).await
    }
}
