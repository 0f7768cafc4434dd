//! Four-eyes (dual control) for both zones: a sensitive change is first a *proposal* that a
//! second, different privileged person approves before it takes effect (issue 15).
//!
//! The rules are the same in both zones and live here once: a proposal is PENDING until someone
//! decides it or it expires; the proposer may withdraw it (CANCELLED); anyone else allowed to
//! approve may APPROVE or REJECT it, never the proposer; an expired proposal can only be looked
//! at. The zones keep the rows in the `proposals` table both migrate (`store`, feature `sql`)
//! and apply the change itself in the same transaction as the approval's compare-and-swap, so an
//! approved proposal takes effect exactly once and a refused approval changes nothing.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

/// How long a proposal waits for its second person by default.
pub const DEFAULT_TTL: Duration = Duration::from_secs(24 * 3600);

/// Where a proposal is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Status {
    /// Waiting for a second person.
    Pending,
    /// Approved by a second person; the change took effect in the same transaction.
    Approved,
    /// Refused by a second person; nothing changed.
    Rejected,
    /// Withdrawn by its proposer; nothing changed.
    Cancelled,
    /// Nobody decided in time; nothing changed. Stored as PENDING, shown as EXPIRED.
    Expired,
}

impl Status {
    /// The statuses stored in the `status` column (EXPIRED is derived from `expires_at`).
    pub const STORED: [&'static str; 4] = ["PENDING", "APPROVED", "REJECTED", "CANCELLED"];

    /// The stable string on the wire and in the table.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "PENDING",
            Self::Approved => "APPROVED",
            Self::Rejected => "REJECTED",
            Self::Cancelled => "CANCELLED",
            Self::Expired => "EXPIRED",
        }
    }

    /// The status a person sees at `now`: a stored PENDING past its expiry is EXPIRED.
    #[must_use]
    pub fn effective(self, expires_at_unix: i64, now_unix: i64) -> Self {
        if self == Self::Pending && now_unix >= expires_at_unix {
            Self::Expired
        } else {
            self
        }
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Status {
    type Err = Refusal;

    fn from_str(s: &str) -> Result<Self, Refusal> {
        [
            Self::Pending,
            Self::Approved,
            Self::Rejected,
            Self::Cancelled,
            Self::Expired,
        ]
        .into_iter()
        .find(|st| st.as_str() == s)
        .ok_or(Refusal::Corrupt)
    }
}

/// What someone wants to do with a pending proposal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Let the change take effect.
    Approve,
    /// Refuse it.
    Reject,
    /// Withdraw one's own proposal.
    Cancel,
}

impl Decision {
    /// The status the proposal ends in.
    #[must_use]
    pub const fn outcome(self) -> Status {
        match self {
            Self::Approve => Status::Approved,
            Self::Reject => Status::Rejected,
            Self::Cancel => Status::Cancelled,
        }
    }
}

/// Why a decision on a proposal was refused. Nothing changes on any of them.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// No proposal with that id.
    #[error("there is no such proposal")]
    NotFound,
    /// Someone decided it already (or it was withdrawn).
    #[error("this proposal was already decided ({0}); nothing was changed")]
    AlreadyDecided(Status),
    /// It waited too long.
    #[error("this proposal has expired; nothing was changed — propose it again")]
    Expired,
    /// The proposer tried to approve or reject their own proposal.
    #[error("a proposal must be decided by a second person, not by the one who proposed it")]
    OwnProposal,
    /// Somebody other than the proposer tried to withdraw it.
    #[error("only the person who proposed it can withdraw a proposal")]
    NotYours,
    /// A stored row does not parse.
    #[error("a stored proposal is not readable; nothing was changed")]
    Corrupt,
}

/// Whether `decider` may take `decision` on a proposal by `proposer` whose stored status is
/// `status`, at `now` (seconds since the epoch) with the proposal expiring at `expires_at`.
///
/// # Errors
/// The [`Refusal`] that applies first: decided, expired, then who decides.
pub fn check(
    decision: Decision,
    status: Status,
    proposer: &str,
    decider: &str,
    expires_at_unix: i64,
    now_unix: i64,
) -> Result<(), Refusal> {
    if status != Status::Pending {
        return Err(Refusal::AlreadyDecided(status));
    }
    if status.effective(expires_at_unix, now_unix) == Status::Expired {
        return Err(Refusal::Expired);
    }
    match decision {
        Decision::Approve | Decision::Reject if proposer == decider => Err(Refusal::OwnProposal),
        Decision::Cancel if proposer != decider => Err(Refusal::NotYours),
        _ => Ok(()),
    }
}

/// The `proposals` table both zones migrate, and the one compare-and-swap that decides a
/// proposal (feature `sql`).
#[cfg(feature = "sql")]
pub mod store {
    use chrono::{DateTime, Utc};
    use sea_orm::sea_query::Expr;
    use sea_orm::{
        ActiveModelTrait, ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter,
        QueryOrder, Set,
    };

    use super::{check, Decision, Refusal, Status};

    /// One row of `proposals`.
    pub mod proposals {
        use sea_orm::entity::prelude::*;

        /// A proposal: what (`kind` + `payload`, JSON), who and when proposed, until when it
        /// waits, who decided and when, and what it produced (`result`, e.g. the new record's
        /// id).
        #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
        #[sea_orm(table_name = "proposals")]
        pub struct Model {
            #[sea_orm(primary_key, auto_increment = false)]
            pub id: String,
            pub kind: String,
            pub payload: String,
            pub status: String,
            pub proposed_by: String,
            pub proposed_at: DateTimeUtc,
            pub expires_at: DateTimeUtc,
            pub decided_by: Option<String>,
            pub decided_at: Option<DateTimeUtc>,
            pub result: Option<String>,
        }

        /// Relations are enforced by the migration's foreign keys.
        #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
        pub enum Relation {}

        impl ActiveModelBehavior for ActiveModel {}
    }

    pub use proposals::Model as Proposal;

    /// What went wrong deciding a proposal.
    #[derive(Debug, thiserror::Error)]
    pub enum Error {
        /// The decision is refused; nothing changed.
        #[error(transparent)]
        Refused(#[from] Refusal),
        /// The database failed.
        #[error(transparent)]
        Db(#[from] DbErr),
    }

    /// A proposal to store.
    #[derive(Debug, Clone)]
    pub struct NewProposal {
        /// Its id (UUIDv7 of `now`).
        pub id: String,
        /// What kind of change, e.g. `case.create`.
        pub kind: String,
        /// The change's parameters (JSON).
        pub payload: serde_json::Value,
        /// Who proposes it.
        pub proposed_by: String,
        /// When.
        pub now: DateTime<Utc>,
        /// Until when it waits.
        pub expires_at: DateTime<Utc>,
    }

    /// Store a new PENDING proposal inside `txn` (the caller's transaction, which writes its
    /// audit record).
    pub async fn insert<C: ConnectionTrait>(txn: &C, new: NewProposal) -> Result<Proposal, DbErr> {
        proposals::ActiveModel {
            id: Set(new.id),
            kind: Set(new.kind),
            payload: Set(new.payload.to_string()),
            status: Set(Status::Pending.as_str().to_owned()),
            proposed_by: Set(new.proposed_by),
            proposed_at: Set(new.now),
            expires_at: Set(new.expires_at),
            decided_by: Set(None),
            decided_at: Set(None),
            result: Set(None),
        }
        .insert(txn)
        .await
    }

    /// Decide proposal `id` inside `txn`: check the rules ([`check`]), then move it from
    /// PENDING to the decision's outcome by a compare-and-swap on its status, so of two
    /// concurrent decisions exactly one wins (the other sees [`Refusal::AlreadyDecided`]).
    /// The caller applies an approved change in the same transaction and records `result`
    /// with [`set_result`]; if that fails, rolling back leaves the proposal PENDING.
    ///
    /// # Errors
    /// [`Error::Refused`] (nothing changed) or [`Error::Db`].
    pub async fn decide<C: ConnectionTrait>(
        txn: &C,
        id: &str,
        decision: Decision,
        decider: &str,
        now: DateTime<Utc>,
    ) -> Result<Proposal, Error> {
        let row = proposals::Entity::find_by_id(id.to_owned())
            .one(txn)
            .await?
            .ok_or(Refusal::NotFound)?;
        let status: Status = row.status.parse()?;
        check(
            decision,
            status,
            &row.proposed_by,
            decider,
            row.expires_at.timestamp(),
            now.timestamp(),
        )?;
        let outcome = decision.outcome().as_str();
        let swapped = proposals::Entity::update_many()
            .col_expr(proposals::Column::Status, Expr::value(outcome))
            .col_expr(proposals::Column::DecidedBy, Expr::value(decider))
            .col_expr(proposals::Column::DecidedAt, Expr::value(now))
            .filter(proposals::Column::Id.eq(id))
            .filter(proposals::Column::Status.eq(Status::Pending.as_str()))
            .exec(txn)
            .await?;
        if swapped.rows_affected != 1 {
            // Another decision committed between our read and our write.
            let now_status = proposals::Entity::find_by_id(id.to_owned())
                .one(txn)
                .await?
                .map(|r| r.status.parse().unwrap_or(Status::Approved))
                .unwrap_or(Status::Approved);
            return Err(Refusal::AlreadyDecided(now_status).into());
        }
        Ok(Proposal {
            status: outcome.to_owned(),
            decided_by: Some(decider.to_owned()),
            decided_at: Some(now),
            ..row
        })
    }

    /// Record what an approved proposal produced (e.g. the id of the case it created).
    pub async fn set_result<C: ConnectionTrait>(
        txn: &C,
        id: &str,
        result: &str,
    ) -> Result<(), DbErr> {
        proposals::Entity::update_many()
            .col_expr(proposals::Column::Result, Expr::value(result))
            .filter(proposals::Column::Id.eq(id))
            .exec(txn)
            .await
            .map(|_| ())
    }

    /// Proposals, newest first; only PENDING (including expired ones) if `pending_only`.
    pub async fn list<C: ConnectionTrait>(
        conn: &C,
        pending_only: bool,
        limit: u64,
    ) -> Result<Vec<Proposal>, DbErr> {
        use sea_orm::QuerySelect;
        let mut q = proposals::Entity::find();
        if pending_only {
            q = q.filter(proposals::Column::Status.eq(Status::Pending.as_str()));
        }
        q.order_by_desc(proposals::Column::ProposedAt)
            .limit(limit)
            .all(conn)
            .await
    }

    /// One proposal.
    pub async fn get<C: ConnectionTrait>(conn: &C, id: &str) -> Result<Option<Proposal>, DbErr> {
        proposals::Entity::find_by_id(id.to_owned()).one(conn).await
    }

    /// Whether a PENDING, unexpired proposal of `kind` whose payload field `field` equals
    /// `value` exists (so the same change is not proposed twice).
    pub async fn pending_exists<C: ConnectionTrait>(
        conn: &C,
        kind: &str,
        field: &str,
        value: &str,
        now: DateTime<Utc>,
    ) -> Result<bool, DbErr> {
        let rows = proposals::Entity::find()
            .filter(proposals::Column::Status.eq(Status::Pending.as_str()))
            .filter(proposals::Column::Kind.eq(kind))
            .filter(proposals::Column::ExpiresAt.gt(now))
            .all(conn)
            .await?;
        Ok(rows.iter().any(|r| {
            serde_json::from_str::<serde_json::Value>(&r.payload)
                .ok()
                .and_then(|p| p.get(field).and_then(|v| v.as_str()).map(|v| v == value))
                .unwrap_or(false)
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_proposer_cannot_decide_and_only_the_proposer_can_withdraw() {
        let ok = |d, who| check(d, Status::Pending, "alice", who, 100, 50);
        assert_eq!(ok(Decision::Approve, "alice"), Err(Refusal::OwnProposal));
        assert_eq!(ok(Decision::Reject, "alice"), Err(Refusal::OwnProposal));
        assert_eq!(ok(Decision::Approve, "bob"), Ok(()));
        assert_eq!(ok(Decision::Reject, "bob"), Ok(()));
        assert_eq!(ok(Decision::Cancel, "bob"), Err(Refusal::NotYours));
        assert_eq!(ok(Decision::Cancel, "alice"), Ok(()));
    }

    #[test]
    fn decided_and_expired_proposals_refuse_every_decision() {
        for status in [Status::Approved, Status::Rejected, Status::Cancelled] {
            assert_eq!(
                check(Decision::Approve, status, "a", "b", 100, 50),
                Err(Refusal::AlreadyDecided(status))
            );
        }
        assert_eq!(
            check(Decision::Approve, Status::Pending, "a", "b", 100, 100),
            Err(Refusal::Expired)
        );
        assert_eq!(Status::Pending.effective(100, 100), Status::Expired);
        assert_eq!(Status::Pending.effective(100, 99), Status::Pending);
        assert_eq!(Status::Approved.effective(100, 200), Status::Approved);
    }

    #[test]
    fn statuses_round_trip() {
        for s in Status::STORED {
            assert_eq!(s.parse::<Status>().map(|s| s.as_str()), Ok(s));
        }
        assert_eq!("nope".parse::<Status>(), Err(Refusal::Corrupt));
    }
}
