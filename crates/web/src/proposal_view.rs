//! How both zones show and decide four-eyes proposals ([`auth::proposal`]): the same view,
//! the same request bodies, so one page of the web front end serves both zones. The change
//! itself is `kind` (a stable code the front ends translate) and `payload` (its parameters);
//! people are shown by name beside their ids.

use std::collections::HashMap;

use auth::proposal::store::Proposal;
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, Object};

/// What a proposing endpoint of either zone answers: the change waits for a second person.
#[derive(ApiResponse)]
pub enum Proposed {
    /// Proposal submitted; nothing changes until a second administrator approves it.
    #[oai(status = 202)]
    Accepted(Json<ProposalView>),
}

/// A proposal as the APIs show it.
#[derive(Debug, Clone, Object)]
pub struct ProposalView {
    /// The proposal's id.
    pub id: String,
    /// What change: offline `se.register`, `se.reactivate`, `case.create`, `case.archive`,
    /// `case.delete`, `case.replace_manager`, `user.grant_role`; online `user.grant_role`,
    /// `account.grant`, `policy.raise`, `destination.add`.
    pub kind: String,
    /// The change's parameters, as proposed.
    pub payload: serde_json::Value,
    /// `PENDING`, `APPROVED`, `REJECTED`, `CANCELLED` or `EXPIRED`.
    pub status: String,
    /// Who proposed it (user id).
    pub proposed_by: String,
    /// Their username.
    pub proposed_by_name: String,
    /// When (RFC 3339).
    pub proposed_at: String,
    /// Until when it waits for a second person (RFC 3339).
    pub expires_at: String,
    /// Who decided it, if anyone (user id).
    pub decided_by: Option<String>,
    /// Their username.
    pub decided_by_name: Option<String>,
    /// When it was decided (RFC 3339).
    pub decided_at: Option<String>,
    /// What the approved change produced (e.g. the id of the new case).
    pub result: Option<String>,
    /// Whether the person asking may approve or reject it (a second person with the right).
    pub can_decide: bool,
    /// Whether the person asking may withdraw it (its proposer).
    pub can_cancel: bool,
}

impl ProposalView {
    /// The views of `rows` for the user `viewer` at `now`: `names` maps user ids to usernames,
    /// `may_decide` says whether the viewer holds the right a row's kind needs.
    pub fn list(
        rows: &[Proposal],
        viewer: &str,
        now: chrono::DateTime<chrono::Utc>,
        names: &HashMap<String, String>,
        may_decide: impl Fn(&Proposal) -> bool,
    ) -> Vec<ProposalView> {
        rows.iter()
            .map(|row| {
                ProposalView::new(row, viewer, may_decide(row), now, |id| {
                    names.get(id).cloned().unwrap_or_else(|| id.to_owned())
                })
            })
            .collect()
    }

    /// The view of `row` for the user `viewer` who may (`may_decide`) decide proposals of its
    /// kind, at `now`; `name` turns a user id into a username.
    pub fn new(
        row: &Proposal,
        viewer: &str,
        may_decide: bool,
        now: chrono::DateTime<chrono::Utc>,
        name: impl Fn(&str) -> String,
    ) -> ProposalView {
        use auth::proposal::Status;
        let status = row
            .status
            .parse::<Status>()
            .map(|s| s.effective(row.expires_at.timestamp(), now.timestamp()))
            .map(Status::as_str)
            .unwrap_or("CORRUPT");
        let pending = status == Status::Pending.as_str();
        ProposalView {
            id: row.id.clone(),
            kind: row.kind.clone(),
            payload: serde_json::from_str(&row.payload).unwrap_or(serde_json::Value::Null),
            status: status.to_owned(),
            proposed_by: row.proposed_by.clone(),
            proposed_by_name: name(&row.proposed_by),
            proposed_at: row.proposed_at.to_rfc3339(),
            expires_at: row.expires_at.to_rfc3339(),
            decided_by: row.decided_by.clone(),
            decided_by_name: row.decided_by.as_deref().map(&name),
            decided_at: row.decided_at.map(|t| t.to_rfc3339()),
            result: row.result.clone(),
            can_decide: pending && may_decide && row.proposed_by != viewer,
            can_cancel: pending && row.proposed_by == viewer,
        }
    }
}

/// The problem (slug, title, status) of a refused decision on a proposal, the same in both
/// zones.
pub fn proposal_parts(
    refusal: &auth::proposal::Refusal,
) -> (&'static str, &'static str, poem::http::StatusCode) {
    use auth::proposal::Refusal as R;
    use poem::http::StatusCode as S;
    match refusal {
        R::NotFound => ("proposal-not-found", "No such proposal", S::NOT_FOUND),
        R::AlreadyDecided(_) => (
            "proposal-decided",
            "The proposal was already decided",
            S::CONFLICT,
        ),
        R::Expired => ("proposal-expired", "The proposal has expired", S::CONFLICT),
        R::OwnProposal => ("own-proposal", "A second person must decide", S::FORBIDDEN),
        R::NotYours => (
            "not-your-proposal",
            "Only the proposer can withdraw it",
            S::FORBIDDEN,
        ),
        R::Corrupt => (
            "proposal-corrupt",
            "Internal server error",
            S::INTERNAL_SERVER_ERROR,
        ),
    }
}
