//! Four-eyes in the offline zone (issue 15): registering or re-activating a secure element,
//! creating, archiving or deleting a case, replacing a case manager and granting a role are
//! first *proposed* by one administrator and take effect only when a second, different one
//! approves ([`auth::proposal`]). A proposal is checked when it is made (the change is tried in
//! a transaction that is rolled back), and again when it is approved: the approval's
//! compare-and-swap and the change commit in one transaction, so an approved proposal takes
//! effect exactly once and a refused approval changes nothing. Marking an SE lost, inactive or
//! revoked and disabling a user stay immediate: taking power away needs no second person.

use auth::proposal::store::{self, NewProposal, Proposal};
use auth::proposal::{Decision, Refusal, DEFAULT_TTL};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::ops::{
    archive_case_in, create_case_in, create_secure_element_in, delete_case_in, invalid,
    record_audit, replace_manager_in, set_se_status_in,
};
use crate::{
    accounts::set_user_role_in, new_id, Db, Error, ManagerReplacement, ManagerSlot,
    NewSecureElement, Result, Role, SeStatus,
};

/// A change that needs a second administrator. The tag (`kind`) is the stable code the web
/// front end translates.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind")]
pub enum Action {
    /// Register a secure element a case manager enrolled (their SE signed a one-time challenge
    /// issued to them); the offline CA certifies its key on approval.
    #[serde(rename = "se.register")]
    RegisterSe {
        /// Token serial.
        serial: String,
        /// Label for people.
        label: String,
        /// SE identity key, P-256 SEC1, hex.
        identity_public_key: String,
        /// The case manager who proved possession of the key.
        enrolled_by: String,
    },
    /// Put a LOST or INACTIVE secure element back into service.
    #[serde(rename = "se.reactivate")]
    ReactivateSe {
        /// The SE.
        se_id: String,
    },
    /// Create a draft case.
    #[serde(rename = "case.create")]
    CreateCase {
        /// Its name.
        name: String,
        /// Share index = position: user and SE of each slot.
        managers: Vec<Slot>,
        /// The chains it may sign for.
        chain_ids: Vec<u64>,
    },
    /// Archive a case (final).
    #[serde(rename = "case.archive")]
    ArchiveCase {
        /// The case.
        case_id: String,
    },
    /// Delete a case (no key yet, or proven empty; no signing history).
    #[serde(rename = "case.delete")]
    DeleteCase {
        /// The case.
        case_id: String,
    },
    /// Hand a share over to another manager.
    #[serde(rename = "case.replace_manager")]
    ReplaceManager {
        /// The case.
        case_id: String,
        /// Which share.
        share_index: i32,
        /// The new manager.
        new_user_id: String,
        /// The security officer who resets the SE's PIN.
        pin_reset_by: String,
        /// Why.
        reason: String,
    },
    /// Grant a role to a user.
    #[serde(rename = "user.grant_role")]
    GrantRole {
        /// The user.
        user_id: String,
        /// `admin`, `case_manager`, `operator` or `auditor`.
        role: String,
    },
}

/// One slot of a proposed case.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Slot {
    /// The case manager.
    pub user_id: String,
    /// The SE that will hold the manager's share.
    pub se_id: String,
}

/// The stable code of an offline role in a proposal.
pub fn role_code(role: Role) -> &'static str {
    match role {
        Role::Unassigned => "none",
        Role::Admin => "admin",
        Role::CaseManager => "case_manager",
        Role::Operator => "operator",
        Role::Auditor => "auditor",
    }
}

fn parse_role(code: &str) -> Result<Role> {
    match code {
        "admin" => Ok(Role::Admin),
        "case_manager" => Ok(Role::CaseManager),
        "operator" => Ok(Role::Operator),
        "auditor" => Ok(Role::Auditor),
        _ => Err(invalid(
            "role",
            "must be admin, case_manager, operator or auditor",
        )),
    }
}

impl Action {
    /// The stable code (`se.register`, …).
    pub fn kind(&self) -> &'static str {
        match self {
            Action::RegisterSe { .. } => "se.register",
            Action::ReactivateSe { .. } => "se.reactivate",
            Action::CreateCase { .. } => "case.create",
            Action::ArchiveCase { .. } => "case.archive",
            Action::DeleteCase { .. } => "case.delete",
            Action::ReplaceManager { .. } => "case.replace_manager",
            Action::GrantRole { .. } => "user.grant_role",
        }
    }

    /// The record the change is about, so the same change is not pending twice.
    fn subject(&self) -> (&'static str, &str) {
        match self {
            Action::RegisterSe { serial, .. } => ("serial", serial),
            Action::ReactivateSe { se_id } => ("se_id", se_id),
            Action::CreateCase { name, .. } => ("name", name),
            Action::ArchiveCase { case_id }
            | Action::DeleteCase { case_id }
            | Action::ReplaceManager { case_id, .. } => ("case_id", case_id),
            Action::GrantRole { user_id, .. } => ("user_id", user_id),
        }
    }

    /// The user ids that may not be the proposer or the approver of this change: the managers
    /// of a new case, the new manager of a share, the user who gets a role.
    fn beneficiaries(&self) -> Vec<&str> {
        match self {
            Action::CreateCase { managers, .. } => {
                managers.iter().map(|s| s.user_id.as_str()).collect()
            }
            Action::ReplaceManager { new_user_id, .. } => vec![new_user_id.as_str()],
            Action::GrantRole { user_id, .. } => vec![user_id.as_str()],
            _ => Vec::new(),
        }
    }
}

/// What an approval brings that the proposal cannot hold: the SE certificate the offline CA
/// issues at approval time (for `se.register`).
#[derive(Clone, Debug, Default)]
pub struct Approval {
    /// The certificate of the SE being registered.
    pub certificate: Option<Vec<u8>>,
}

/// Applies `action` inside `txn` as `actor` (the approver, or the proposer for a dry run).
/// Returns the id of what it produced or changed.
async fn apply(
    txn: &audit::Tx,
    action: &Action,
    approval: Approval,
    roster_signer: Option<&hsm::EnvelopeSigner>,
    actor: &str,
    now: DateTime<Utc>,
) -> Result<String> {
    match action {
        Action::RegisterSe {
            serial,
            label,
            identity_public_key,
            enrolled_by,
        } => {
            let key = hex::decode(identity_public_key)
                .map_err(|_| invalid("identity_public_key", "must be hex"))?;
            let se = create_secure_element_in(
                txn,
                NewSecureElement {
                    serial: serial.clone(),
                    label: label.clone(),
                    identity_public_key: key,
                    certificate: approval.certificate,
                    enrolled_by: Some(enrolled_by.clone()),
                },
                actor,
                now,
            )
            .await?;
            Ok(se.id)
        }
        Action::ReactivateSe { se_id } => {
            let se = set_se_status_in(txn, se_id, SeStatus::Active, actor, now).await?;
            Ok(se.id)
        }
        Action::CreateCase {
            name,
            managers,
            chain_ids,
        } => {
            let slots: [Slot; 3] = managers.clone().try_into().map_err(|_| {
                invalid(
                    "managers",
                    "exactly three managers (one per share) are required",
                )
            })?;
            let checked = slots.clone();
            let slots = slots.map(|s| ManagerSlot {
                user_id: s.user_id,
                se_id: s.se_id,
            });
            let case =
                create_case_in(txn, name, slots, chain_ids, roster_signer, actor, now).await?;
            // After the case's own rules, so their refusals keep their fields; a refusal here
            // rolls the new case back with the rest of the transaction.
            for (index, slot) in checked.iter().enumerate() {
                enrolled_by_its_manager(txn, index, slot).await?;
            }
            Ok(case.id)
        }
        Action::ArchiveCase { case_id } => {
            let case = archive_case_in(txn, case_id, actor, now).await?;
            Ok(case.id)
        }
        Action::DeleteCase { case_id } => {
            delete_case_in(txn, case_id, actor, now).await?;
            Ok(case_id.clone())
        }
        Action::ReplaceManager {
            case_id,
            share_index,
            new_user_id,
            pin_reset_by,
            reason,
        } => {
            let row = replace_manager_in(
                txn,
                ManagerReplacement {
                    case_id: case_id.clone(),
                    share_index: *share_index,
                    new_user_id: new_user_id.clone(),
                    pin_reset_by: pin_reset_by.clone(),
                    reason: reason.clone(),
                },
                actor,
                now,
            )
            .await?;
            Ok(row.id)
        }
        Action::GrantRole { user_id, role } => {
            let user = set_user_role_in(txn, user_id, parse_role(role)?, actor, now).await?;
            Ok(user.id)
        }
    }
}

/// A case gives each manager only an SE they enrolled themselves (proof of possession), so
/// nobody can hand a manager a key pair someone else holds.
async fn enrolled_by_its_manager(txn: &audit::Tx, index: usize, slot: &Slot) -> Result<()> {
    use crate::entity::secure_elements;
    use sea_orm::EntityTrait;
    let field = format!("managers[{index}].se_id");
    let se = secure_elements::Entity::find_by_id(slot.se_id.clone())
        .one(txn)
        .await?
        .ok_or_else(|| {
            invalid(
                field.as_str(),
                format!("secure element {} does not exist", slot.se_id),
            )
        })?;
    if se.enrolled_by.as_deref() != Some(slot.user_id.as_str()) {
        return Err(invalid(
            field,
            format!(
                "secure element {} was not enrolled by this manager: each manager enrols their \
                 own SE (custody-client enroll with a challenge from their own page) before a \
                 case can use it",
                se.serial
            ),
        ));
    }
    Ok(())
}

fn not_a_beneficiary(action: &Action, who: &str, as_what: &str) -> Result<()> {
    if action.beneficiaries().contains(&who) {
        return Err(Error::NotPermitted(format!(
            "the {as_what} of a change cannot be the one it is for (a case's manager, a share's \
             new manager, a user getting a role); another administrator must do it"
        )));
    }
    Ok(())
}

fn refused(e: store::Error) -> Error {
    match e {
        store::Error::Refused(r) => Error::Proposal(r),
        store::Error::Db(e) => Error::Db(e),
    }
}

/// Store `action` as a PENDING proposal of `proposer` inside `txn`, with its `proposal.created`
/// audit record; the same change is not pending twice.
async fn insert_proposal(
    txn: &audit::Tx,
    action: &Action,
    proposer: &str,
    now: DateTime<Utc>,
) -> Result<Proposal> {
    let (field, value) = action.subject();
    if store::pending_exists(txn, action.kind(), field, value, now).await? {
        return Err(Error::Conflict(
            "the same change is already waiting for a second administrator".to_owned(),
        ));
    }
    let expires_at = now
        + chrono::Duration::from_std(DEFAULT_TTL)
            .map_err(|_| Error::Conflict("proposal lifetime out of range".to_owned()))?;
    let payload = serde_json::to_value(action)?;
    let row = store::insert(
        txn,
        NewProposal {
            id: new_id(now),
            kind: action.kind().to_owned(),
            payload: payload.clone(),
            proposed_by: proposer.to_owned(),
            now,
            expires_at,
        },
    )
    .await?;
    record_audit(
        txn,
        now,
        proposer,
        "proposal.created",
        &row.id,
        json!({"kind": row.kind, "payload": payload, "expires_at": expires_at}),
    )
    .await?;
    Ok(row)
}

impl Db {
    /// Propose `action` as `proposer`: it is tried (and rolled back) so a change that could not
    /// take effect now is refused at once, then stored PENDING with its `proposal.created`
    /// audit record. Nothing else changes until a second administrator approves.
    pub async fn propose(
        &self,
        action: Action,
        proposer: &str,
        now: DateTime<Utc>,
    ) -> Result<Proposal> {
        not_a_beneficiary(&action, proposer, "proposer")?;
        self.dry_run(&action, proposer, now).await?;
        let txn = self.begin_write().await?;
        let row = insert_proposal(&txn, &action, proposer, now).await?;
        txn.commit().await?;
        Ok(row)
    }

    /// The change tried with `actor`, never committed: a change that could not take effect now
    /// is refused when proposed.
    async fn dry_run(&self, action: &Action, actor: &str, now: DateTime<Utc>) -> Result<()> {
        let trial = self.begin_write().await?;
        // No roster is signed for a trial: it is rolled back.
        apply(&trial, action, Approval::default(), None, actor, now).await?;
        trial.rollback().await?;
        Ok(())
    }

    /// A one-time enrolment challenge for case manager `user_id` (`challenge`: random bytes,
    /// hex, from the caller), valid until `expires_at`.
    pub async fn issue_enrolment_challenge(
        &self,
        user_id: &str,
        challenge: &str,
        now: DateTime<Utc>,
        expires_at: DateTime<Utc>,
    ) -> Result<crate::entity::se_enrolment_challenges::Model> {
        use crate::entity::se_enrolment_challenges as ch;
        use sea_orm::ActiveModelTrait;
        let txn = self.begin_write().await?;
        let row = ch::ActiveModel {
            id: sea_orm::Set(new_id(now)),
            user_id: sea_orm::Set(user_id.to_owned()),
            challenge: sea_orm::Set(challenge.to_owned()),
            issued_at: sea_orm::Set(now),
            expires_at: sea_orm::Set(expires_at),
            used_at: sea_orm::Set(None),
        }
        .insert(&txn)
        .await?;
        record_audit(
            &txn,
            now,
            user_id,
            "se.enrolment_challenge_issued",
            &row.id,
            json!({"expires_at": expires_at}),
        )
        .await?;
        txn.commit().await?;
        Ok(row)
    }

    /// Case manager `user_id` proposes registering the SE whose identity key signed `challenge`
    /// (hex; the caller verified the proof): the challenge must be theirs, unused and unexpired,
    /// and is used up in the same transaction as the proposal. An administrator approves it.
    pub async fn propose_enrolment(
        &self,
        user_id: &str,
        challenge: &str,
        action: Action,
        now: DateTime<Utc>,
    ) -> Result<Proposal> {
        use crate::entity::se_enrolment_challenges as ch;
        use sea_orm::sea_query::Expr;
        use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
        self.dry_run(&action, user_id, now).await?;
        let txn = self.begin_write().await?;
        let used = ch::Entity::update_many()
            .col_expr(ch::Column::UsedAt, Expr::value(now))
            .filter(ch::Column::Challenge.eq(challenge))
            .filter(ch::Column::UserId.eq(user_id))
            .filter(ch::Column::UsedAt.is_null())
            .filter(ch::Column::ExpiresAt.gt(now))
            .exec(&txn)
            .await?;
        if used.rows_affected != 1 {
            return Err(invalid(
                "proof",
                "the proof answers a challenge that is not yours, was already used or has \
                 expired; ask for a new challenge and run custody-client enroll again",
            ));
        }
        let row = insert_proposal(&txn, &action, user_id, now).await?;
        txn.commit().await?;
        Ok(row)
    }

    /// The stored action of proposal `id`.
    pub async fn proposal_action(&self, id: &str) -> Result<(Proposal, Action)> {
        let row = store::get(self.conn(), id)
            .await?
            .ok_or(Error::Proposal(Refusal::NotFound))?;
        let action = serde_json::from_str(&row.payload)?;
        Ok((row, action))
    }

    /// Decide proposal `id` as `decider`. Approving applies the change in the same transaction
    /// as the decision (exactly once); if the change no longer passes its checks, nothing is
    /// written and the proposal stays PENDING. Each decision writes `proposal.<outcome>` naming
    /// the proposer and the decider.
    pub async fn decide_proposal(
        &self,
        id: &str,
        decision: Decision,
        approval: Approval,
        decider: &str,
        now: DateTime<Utc>,
    ) -> Result<Proposal> {
        let txn = self.begin_write().await?;
        let row = store::decide(&txn, id, decision, decider, now)
            .await
            .map_err(refused)?;
        let action: Action = serde_json::from_str(&row.payload)?;
        let mut result = None;
        if decision == Decision::Approve {
            not_a_beneficiary(&action, decider, "approver")?;
            let produced =
                apply(&txn, &action, approval, self.roster_signer(), decider, now).await?;
            store::set_result(&txn, id, &produced).await?;
            result = Some(produced);
        }
        let outcome = decision.outcome().as_str().to_ascii_lowercase();
        record_audit(
            &txn,
            now,
            decider,
            &format!("proposal.{outcome}"),
            &row.id,
            json!({
                "kind": row.kind, "proposed_by": row.proposed_by,
                "proposed_at": row.proposed_at, "result": result,
            }),
        )
        .await?;
        txn.commit().await?;
        Ok(Proposal { result, ..row })
    }

    /// How many ACTIVE administrators the zone has (the bootstrap ceremony creates two).
    pub async fn active_admins(&self) -> Result<u64> {
        use crate::entity::users;
        use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter};
        Ok(users::Entity::find()
            .filter(users::Column::Role.eq(Role::Admin))
            .filter(users::Column::Status.eq(crate::UserStatus::Active))
            .count(self.conn())
            .await?)
    }

    /// Proposals, newest first (`pending_only`: those still PENDING, expired included).
    pub async fn proposals(&self, pending_only: bool, limit: u64) -> Result<Vec<Proposal>> {
        Ok(store::list(self.conn(), pending_only, limit).await?)
    }
}
