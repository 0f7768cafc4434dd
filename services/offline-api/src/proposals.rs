//! Four-eyes proposals at the HTTP edge ([`offline_db::proposals`]): the pending changes an
//! administrator proposed, and their approval, rejection (by a second administrator, who
//! re-enters their password) or withdrawal (by the proposer). Approving an SE registration is
//! when the offline CA (HSM) certifies the SE's key.

use auth::proposal::Decision;
use auth::Action;
use offline_db::proposals::{Action as Change, Approval};
use poem::Request;
use poem_openapi::param::{Path, Query};
use poem_openapi::payload::Json;
use poem_openapi::OpenApi;
use web::proposal_view::ProposalView;

use crate::api::Tag;
use crate::clock::unix_secs;
use crate::dto::ReauthRequest;
use crate::error::{ApiError, ApiResult};
use crate::session::{auth_role, Caller};
use crate::state::AppState;

/// The most proposals one listing returns.
const MAX_PROPOSALS: u64 = 500;

pub use web::proposal_view::Proposed;

/// The action a decider of `change` must be allowed.
pub fn required_action(change: &Change) -> Action {
    match change {
        Change::RegisterSe { .. } | Change::ReactivateSe { .. } => Action::ManageSecureElements,
        Change::CreateCase { .. }
        | Change::ArchiveCase { .. }
        | Change::DeleteCase { .. }
        | Change::ReplaceManager { .. } => Action::ManageCases,
        Change::GrantRole { .. } => Action::OfflineManageUsers,
    }
}

impl AppState {
    /// The views of `rows` for `viewer`, with people shown by username.
    pub(crate) async fn proposal_views(
        &self,
        rows: &[auth::proposal::store::Proposal],
        viewer: &Caller,
    ) -> ApiResult<Vec<ProposalView>> {
        use sea_orm::EntityTrait;
        let users: std::collections::HashMap<String, String> =
            offline_db::entity::users::Entity::find()
                .all(self.inner.db.conn())
                .await?
                .into_iter()
                .map(|u| (u.id, u.username))
                .collect();
        let role = auth_role(viewer.user.role);
        Ok(ProposalView::list(
            rows,
            &viewer.user.id,
            self.now(),
            &users,
            |row| {
                serde_json::from_str::<Change>(&row.payload)
                    .map(|c| role.may(required_action(&c)))
                    .unwrap_or(false)
            },
        ))
    }

    /// Propose `change` as `caller`; 202 with the pending proposal.
    pub(crate) async fn propose(&self, caller: &Caller, change: Change) -> ApiResult<Proposed> {
        let row = self
            .inner
            .db
            .propose(change, &caller.user.id, self.now())
            .await?;
        self.proposed(caller, row).await
    }

    /// 202 with the view of the stored proposal `row`.
    pub(crate) async fn proposed(
        &self,
        caller: &Caller,
        row: auth::proposal::store::Proposal,
    ) -> ApiResult<Proposed> {
        let mut views = self.proposal_views(&[row], caller).await?;
        views
            .pop()
            .map(|v| Proposed::Accepted(Json(v)))
            .ok_or_else(|| ApiError::internal("no proposal view"))
    }

    /// What approving `change` brings: for an SE registration, the CA's certificate.
    async fn approval_for(&self, change: &Change) -> ApiResult<Approval> {
        let Change::RegisterSe {
            serial,
            label,
            identity_public_key,
            ..
        } = change
        else {
            return Ok(Approval::default());
        };
        let key = crate::state::parse_public_key(identity_public_key).map_err(|_| {
            ApiError::invalid(
                "identity_public_key",
                "must be a P-256 public key, SEC1, hex",
            )
        })?;
        let hsm = self.inner.hsm.clone();
        let validity = self.inner.se_certificate_secs;
        let now = unix_secs(self.now());
        let (serial, label) = (serial.clone(), label.clone());
        let cert = tokio::task::spawn_blocking(move || {
            hsm.issue_se_certificate(&serial, &label, &key, validity, now)
        })
        .await?
        .map_err(|e| match e {
            hsm::Error::InvalidRequest(why) => ApiError::invalid("identity_public_key", why),
            other => ApiError::internal(other),
        })?;
        Ok(Approval {
            certificate: Some(cert.to_bytes().map_err(ApiError::internal)?),
        })
    }
}

/// The proposals endpoints.
pub struct ProposalsApi {
    /// `None` only when the service is built to print the OpenAPI document.
    pub(crate) state: Option<AppState>,
}

impl ProposalsApi {
    fn s(&self) -> ApiResult<&AppState> {
        self.state.as_ref().ok_or_else(|| {
            ApiError::internal("the API was built without state (document generation only)")
        })
    }

    async fn decide(
        &self,
        req: &Request,
        id: &str,
        decision: Decision,
        password: Option<String>,
    ) -> ApiResult<Json<ProposalView>> {
        let st = self.s()?;
        let caller = st.authorize(req, Action::ManageCases).await?;
        let (_, change) = st.inner.db.proposal_action(id).await?;
        let needed = required_action(&change);
        if !auth_role(caller.user.role).may(needed) {
            return Err(ApiError::Forbidden {
                role: auth_role(caller.user.role).as_str(),
                action: "decide this proposal".to_owned(),
            });
        }
        if let Some(password) = password {
            st.reauthenticate(req, &caller, password).await?;
        }
        let approval = if decision == Decision::Approve {
            st.approval_for(&change).await?
        } else {
            Approval::default()
        };
        let row = st
            .inner
            .db
            .decide_proposal(id, decision, approval, &caller.user.id, st.now())
            .await?;
        let mut views = st.proposal_views(&[row], &caller).await?;
        views
            .pop()
            .map(Json)
            .ok_or_else(|| ApiError::internal("no proposal view"))
    }
}

#[OpenApi(prefix_path = "/api")]
impl ProposalsApi {
    /// Proposals, newest first: by default those still waiting for a second administrator
    /// (`pending=false`: all, decided ones too).
    #[oai(path = "/proposals", method = "get", tag = "Tag::Proposals")]
    async fn list_proposals(
        &self,
        req: &Request,
        pending: Query<Option<bool>>,
    ) -> ApiResult<Json<Vec<ProposalView>>> {
        let st = self.s()?;
        let caller = st.authorize(req, Action::ViewCases).await?;
        let rows = st
            .inner
            .db
            .proposals(pending.0.unwrap_or(true), MAX_PROPOSALS)
            .await?;
        Ok(Json(st.proposal_views(&rows, &caller).await?))
    }

    /// Approve a proposal (a second administrator, password re-entered): the change takes
    /// effect now, exactly once. If it no longer passes its checks, nothing changes and the
    /// proposal stays pending.
    #[oai(
        path = "/proposals/:id/approve",
        method = "post",
        tag = "Tag::Proposals"
    )]
    async fn approve_proposal(
        &self,
        req: &Request,
        id: Path<String>,
        body: Json<ReauthRequest>,
    ) -> ApiResult<Json<ProposalView>> {
        self.decide(req, &id.0, Decision::Approve, Some(body.0.password))
            .await
    }

    /// Reject a proposal (a second administrator, password re-entered); nothing changes.
    #[oai(
        path = "/proposals/:id/reject",
        method = "post",
        tag = "Tag::Proposals"
    )]
    async fn reject_proposal(
        &self,
        req: &Request,
        id: Path<String>,
        body: Json<ReauthRequest>,
    ) -> ApiResult<Json<ProposalView>> {
        self.decide(req, &id.0, Decision::Reject, Some(body.0.password))
            .await
    }

    /// Withdraw one's own proposal; nothing changes.
    #[oai(
        path = "/proposals/:id/cancel",
        method = "post",
        tag = "Tag::Proposals"
    )]
    async fn cancel_proposal(
        &self,
        req: &Request,
        id: Path<String>,
    ) -> ApiResult<Json<ProposalView>> {
        self.decide(req, &id.0, Decision::Cancel, None).await
    }
}
