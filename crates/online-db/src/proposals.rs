//! Four-eyes (dual control) in the online zone (issue 15): granting a role, granting an
//! account to a trader, loosening a policy and adding an allow-list entry are first a
//! *proposal* by one administrator ([`Db::propose`]) and take effect only when a second,
//! different administrator approves it ([`Db::decide_proposal`]).
//!
//! The rules (who may decide, expiry) are `auth::proposal`'s; the rows are in the `proposals`
//! table (`auth::proposal::store`). Approving runs the compare-and-swap from PENDING and the
//! change itself in ONE write transaction, with the operation-log records of both, so an
//! approved proposal takes effect exactly once and an approval that cannot be applied changes
//! nothing (the proposal stays PENDING).

use auth::proposal::store::{self, proposals, NewProposal, Proposal};
use auth::proposal::{Decision, Refusal, Status, DEFAULT_TTL};
use chrono::{DateTime, Utc};
use contracts::{Amount, EthAddress};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::accounts::{allow_destination_in, grant_account_in, set_policy_in};
use crate::entity::policies;
use crate::logs::record_operation;
use crate::model::stored_amount;
use crate::users::{find_user, set_role_in};
use crate::{invalid, new_id, Asset, Db, Error, PolicyInput, Result, Role};

/// A change in the online zone that needs a second administrator. Stored as `kind` (the serde
/// tag) and `payload` (the other fields, JSON).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind")]
pub enum ProposalAction {
    /// Grant a user the admin, trader or auditor role (taking a role away is immediate).
    #[serde(rename = "user.grant_role")]
    GrantRole {
        /// The user.
        user_id: String,
        /// The role to grant; never [`Role::Unassigned`].
        role: Role,
    },
    /// Let a trader use an account.
    #[serde(rename = "account.grant")]
    GrantAccount {
        /// The account.
        account_id: String,
        /// The trader.
        user_id: String,
    },
    /// Set a policy that raises a limit or turns maker-checker off (or is the asset's first
    /// policy, which allows transfers where none were allowed).
    #[serde(rename = "policy.raise")]
    RaisePolicy {
        /// The account.
        account_id: String,
        /// `ETH` or the token address (EIP-55).
        asset: String,
        /// The new single-transfer limit (base units, decimal).
        single_limit: String,
        /// The new rolling 24-hour limit (base units, decimal).
        daily_limit: String,
        /// Whether a second trader must approve each transfer.
        require_approval: bool,
    },
    /// Add a destination to an account's allow-list.
    #[serde(rename = "destination.add")]
    AddDestination {
        /// The account.
        account_id: String,
        /// The destination (EIP-55).
        address: String,
        /// What it is.
        label: String,
    },
}

impl ProposalAction {
    /// The kinds, as stored and shown.
    pub const KINDS: [&'static str; 4] = [
        "user.grant_role",
        "account.grant",
        "policy.raise",
        "destination.add",
    ];

    /// A policy change as a proposal.
    pub fn raise_policy(account_id: &str, policy: &PolicyInput) -> ProposalAction {
        ProposalAction::RaisePolicy {
            account_id: account_id.to_owned(),
            asset: policy.asset.as_text(),
            single_limit: policy.single_limit.to_string(),
            daily_limit: policy.daily_limit.to_string(),
            require_approval: policy.require_approval,
        }
    }

    /// An allow-list addition as a proposal.
    pub fn add_destination(account_id: &str, address: &EthAddress, label: &str) -> ProposalAction {
        ProposalAction::AddDestination {
            account_id: account_id.to_owned(),
            address: address.to_checksum(),
            label: label.to_owned(),
        }
    }

    /// The stable kind code (`user.grant_role`, …).
    pub fn kind(&self) -> &'static str {
        match self {
            ProposalAction::GrantRole { .. } => Self::KINDS[0],
            ProposalAction::GrantAccount { .. } => Self::KINDS[1],
            ProposalAction::RaisePolicy { .. } => Self::KINDS[2],
            ProposalAction::AddDestination { .. } => Self::KINDS[3],
        }
    }

    /// What makes two proposals "the same change": only one of them may wait at a time.
    fn subject(&self) -> String {
        match self {
            ProposalAction::GrantRole { user_id, .. } => user_id.clone(),
            ProposalAction::GrantAccount {
                account_id,
                user_id,
            } => format!("{account_id}/{user_id}"),
            ProposalAction::RaisePolicy {
                account_id, asset, ..
            } => format!("{account_id}/{asset}"),
            ProposalAction::AddDestination {
                account_id,
                address,
                ..
            } => format!("{account_id}/{address}"),
        }
    }

    /// The parameters without the kind, as stored in `payload`.
    fn payload(&self) -> Result<serde_json::Value> {
        let mut value = serde_json::to_value(self)?;
        if let Some(map) = value.as_object_mut() {
            map.remove("kind");
        }
        Ok(value)
    }

    /// The action stored in a row.
    pub fn from_row(row: &Proposal) -> Result<ProposalAction> {
        let corrupt = |reason: String| Error::Corrupt {
            what: format!("proposal {}", row.id),
            reason,
        };
        let mut value: serde_json::Value =
            serde_json::from_str(&row.payload).map_err(|e| corrupt(e.to_string()))?;
        let map = value
            .as_object_mut()
            .ok_or_else(|| corrupt("the payload is not an object".to_owned()))?;
        map.insert("kind".to_owned(), json!(row.kind));
        serde_json::from_value(value).map_err(|e| corrupt(e.to_string()))
    }

    /// The policy of a `policy.raise`.
    fn policy(&self) -> Result<Option<PolicyInput>> {
        let ProposalAction::RaisePolicy {
            asset,
            single_limit,
            daily_limit,
            require_approval,
            ..
        } = self
        else {
            return Ok(None);
        };
        Ok(Some(PolicyInput {
            asset: Asset::parse(asset)?,
            single_limit: stored_amount("single_limit", single_limit)?,
            daily_limit: stored_amount("daily_limit", daily_limit)?,
            require_approval: *require_approval,
        }))
    }

    /// Apply the change inside `txn` as `actor` (the approver): the repository's own
    /// functions, with their checks and operation-log records. Returns what it produced.
    async fn apply(&self, txn: &audit::Tx, actor: &str, now: DateTime<Utc>) -> Result<String> {
        match self {
            ProposalAction::GrantRole { user_id, role } => {
                if *role == Role::Unassigned {
                    return Err(invalid(
                        "role",
                        "taking a role away needs no proposal; it is done at once",
                    ));
                }
                let user = set_role_in(txn, user_id, *role, actor, now).await?;
                Ok(user.id)
            }
            ProposalAction::GrantAccount {
                account_id,
                user_id,
            } => {
                let row = grant_account_in(txn, account_id, user_id, actor, now).await?;
                Ok(format!("{}/{}", row.account_id, row.user_id))
            }
            ProposalAction::RaisePolicy { account_id, .. } => {
                let policy = self
                    .policy()?
                    .ok_or_else(|| invalid("kind", "not a policy change"))?;
                let row = set_policy_in(txn, account_id, policy, actor, now).await?;
                Ok(row.id)
            }
            ProposalAction::AddDestination {
                account_id,
                address,
                label,
            } => {
                let address = EthAddress::parse(address)
                    .map_err(|e| invalid("address", format!("is not an address: {e}")))?;
                let row =
                    allow_destination_in(txn, account_id, &address, label, actor, now).await?;
                Ok(row.id)
            }
        }
    }
}

/// Whether `new` loosens `current`: a higher single or daily limit, or maker-checker turned
/// off. No current policy means no transfer is allowed, so any first policy loosens.
pub fn policy_loosens(current: Option<&policies::Model>, new: &PolicyInput) -> Result<bool> {
    let Some(current) = current else {
        return Ok(true);
    };
    let single: Amount = current.single_limit()?;
    let daily: Amount = current.daily_limit()?;
    Ok(new.single_limit > single
        || new.daily_limit > daily
        || (current.require_approval && !new.require_approval))
}

impl Db {
    /// Whether setting `policy` on an account needs a second administrator
    /// ([`policy_loosens`]).
    pub async fn policy_needs_approval(
        &self,
        account_id: &str,
        policy: &PolicyInput,
    ) -> Result<bool> {
        let current = self.policy(account_id, &policy.asset).await?;
        policy_loosens(current.as_ref(), policy)
    }

    /// Propose `action` as `proposer`: it waits [`DEFAULT_TTL`] for a second administrator.
    /// The change is checked first as it would be applied now (a change that could not take
    /// effect is refused with that error and nothing is stored); the same change may wait
    /// only once ([`Error::Conflict`]). Operation log: `proposal.created`.
    pub async fn propose(
        &self,
        action: &ProposalAction,
        proposer: &str,
        now: DateTime<Utc>,
    ) -> Result<Proposal> {
        if let ProposalAction::GrantRole { user_id, .. } = action {
            if user_id == proposer {
                return Err(Error::Conflict(
                    "you cannot change your own role; ask another administrator".to_owned(),
                ));
            }
        }
        // Dry run: apply it in a transaction that is rolled back, so a proposal that could
        // never take effect (unknown user, already granted, bad limits…) is refused now.
        let dry = self.begin_write().await?;
        let checked = action.apply(&dry, proposer, now).await;
        dry.rollback().await?;
        checked?;

        let kind = action.kind();
        let payload = action.payload()?;
        let txn = self.begin_write().await?;
        find_user(&txn, proposer).await?;
        let waiting = proposals::Entity::find()
            .filter(proposals::Column::Status.eq(Status::Pending.as_str()))
            .filter(proposals::Column::Kind.eq(kind))
            .filter(proposals::Column::ExpiresAt.gt(now))
            .all(&txn)
            .await?;
        let subject = action.subject();
        for row in &waiting {
            if ProposalAction::from_row(row).is_ok_and(|a| a.subject() == subject) {
                return Err(Error::Conflict(format!(
                    "the same change is already waiting for a second administrator (proposal {})",
                    row.id
                )));
            }
        }
        let ttl = chrono::Duration::from_std(DEFAULT_TTL)
            .map_err(|e| invalid("ttl", format!("is out of range: {e}")))?;
        let row = store::insert(
            &txn,
            NewProposal {
                id: new_id(now),
                kind: kind.to_owned(),
                payload: payload.clone(),
                proposed_by: proposer.to_owned(),
                now,
                expires_at: now + ttl,
            },
        )
        .await?;
        record_operation(
            &txn,
            now,
            proposer,
            "proposal.created",
            &row.id,
            json!({
                "proposal_id": row.id, "kind": kind, "payload": payload,
                "proposed_by": proposer, "expires_at": row.expires_at.to_rfc3339(),
                "account_id": payload.get("account_id"),
            }),
        )
        .await?;
        txn.commit().await?;
        Ok(row)
    }

    /// Decide proposal `id` as `decider`, in ONE write transaction: the compare-and-swap from
    /// PENDING (`auth::proposal::store::decide`: refused for the proposer, after expiry or a
    /// first decision), then for [`Decision::Approve`] the change itself and its result, and
    /// the operation-log record `proposal.approved|rejected|cancelled` naming both people. If
    /// the change cannot be applied, nothing is kept and the proposal stays PENDING. The caller
    /// checks that `decider` may decide proposals of this kind.
    pub async fn decide_proposal(
        &self,
        id: &str,
        decision: Decision,
        decider: &str,
        now: DateTime<Utc>,
    ) -> Result<Proposal> {
        let txn = self.begin_write().await?;
        find_user(&txn, decider).await?;
        let mut row = store::decide(&txn, id, decision, decider, now)
            .await
            .map_err(|e| match e {
                store::Error::Refused(r) => Error::Proposal(r),
                store::Error::Db(e) => Error::Db(e),
            })?;
        if decision == Decision::Approve {
            let action = ProposalAction::from_row(&row)?;
            if let ProposalAction::GrantRole { user_id, .. } = &action {
                if user_id == decider {
                    return Err(Error::SecondPersonRequired(
                        "nobody may approve a change of their own role; another administrator must"
                            .to_owned(),
                    ));
                }
            }
            let result = action.apply(&txn, decider, now).await?;
            store::set_result(&txn, &row.id, &result).await?;
            row.result = Some(result);
        }
        let action_name = match decision {
            Decision::Approve => "proposal.approved",
            Decision::Reject => "proposal.rejected",
            Decision::Cancel => "proposal.cancelled",
        };
        let payload: serde_json::Value =
            serde_json::from_str(&row.payload).unwrap_or(serde_json::Value::Null);
        record_operation(
            &txn,
            now,
            decider,
            action_name,
            &row.id,
            json!({
                "proposal_id": row.id, "kind": row.kind, "payload": payload,
                "proposed_by": row.proposed_by, "proposed_at": row.proposed_at.to_rfc3339(),
                "decided_by": decider, "result": row.result,
                "account_id": payload.get("account_id"),
            }),
        )
        .await?;
        txn.commit().await?;
        Ok(row)
    }

    /// Proposals, newest first (at most `limit`); only PENDING ones (expired included) if
    /// `pending_only`.
    pub async fn proposals(&self, pending_only: bool, limit: u64) -> Result<Vec<Proposal>> {
        Ok(store::list(self.conn(), pending_only, limit).await?)
    }

    /// One proposal.
    pub async fn proposal(&self, id: &str) -> Result<Proposal> {
        store::get(self.conn(), id)
            .await?
            .ok_or(Error::Proposal(Refusal::NotFound))
    }
}
