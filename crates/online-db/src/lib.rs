//! The online zone's database: sea-orm entities for its tables (migrations in
//! `migrations/online`) and the repository that the online API and the chain worker use.
//!
//! Every operation that changes state runs in ONE transaction that writes the change, the
//! record of it in the right hash-chained log, and — when another service must hear of it — an
//! outbox row that the relay later publishes to RabbitMQ. The **operation log**
//! ([`audit::Chain::OPERATION`]) records what people do: logins, role and status changes,
//! imports, exports, balance queries, account and policy administration. The **transaction
//! log** ([`audit::Chain::TRANSACTION`]) records every transfer state change. Exporting a
//! request and importing a response are both, so they write one record in each. If any write
//! fails, none is kept: the logs fail closed and no event announces a change that did not
//! happen. Validation happens inside the same transaction before the first write, so a rejected
//! request leaves no row and no record behind.
//!
//! [`Db::connect`] takes `sqlite://path?mode=rwc` (the embedded default; WAL, foreign keys on,
//! a busy timeout so concurrent writers wait) or a `postgres://` URL, and runs the migrations,
//! and the zone's [`audit::Sealer`] ([`sealer`]): every write transaction ([`Db::begin_write`])
//! carries it, so every log record and outbox event is MACed by the online token's HSM key.
//! Time is always a parameter (`now`); ids are UUIDv7 derived from it. Addresses and amounts
//! come in as `contracts` types (parsed, checksummed text in the database); stored values are
//! parsed back with the typed accessors of [`model`].

mod accounts;
pub mod entity;
mod logs;
pub mod model;
mod outbox;
mod proposals;
mod transfers;
mod users;

use sea_orm::{DatabaseConnection, DbErr};

pub use accounts::{BalanceQuery, NewAccount, NewToken, PolicyInput};
pub use auth::proposal::store::Proposal;
pub use contracts::{Amount, EthAddress};
pub use entity::enums::{Role, TransferStatus, UserStatus};
pub use logs::{record_operation, record_transaction, LogFilter, LogsReport};
pub use model::Asset;
pub use outbox::{claim, routing_keys, CONTENT_TYPE, EXCHANGE, PROCESSED_TABLE, WORK_SCHEMA};
pub use proposals::{policy_loosens, ProposalAction};
pub use transfers::{
    Confirmation, Funds, Holdings, NewTransfer, Reserved, SignatureImport, DAILY_WINDOW,
};
pub use users::NewUser;

/// Errors of the repository. Messages are sentences an operator or API client can act on; none
/// carries a password hash, token, signature or key material.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The input breaks a rule; nothing was written.
    #[error("{field}: {reason}")]
    Validation {
        /// The offending input, e.g. `to`.
        field: String,
        /// What is wrong, as a sentence fragment.
        reason: String,
    },
    /// A referenced record does not exist; nothing was written.
    #[error("{what} {id} does not exist")]
    NotFound {
        /// The kind of record.
        what: &'static str,
        /// The id (or key) that was looked up.
        id: String,
    },
    /// A record with this unique key exists already; nothing was written.
    #[error("{what} {key} already exists")]
    AlreadyExists {
        /// The kind of record.
        what: &'static str,
        /// The unique key, e.g. the address.
        key: String,
    },
    /// The operation is not allowed in the record's current state; nothing was written.
    #[error("{0}")]
    Conflict(String),
    /// A transfer cannot move from its status to the requested one; nothing was written.
    #[error("transfer {transfer_id} is {from} and cannot become {to}")]
    IllegalTransition {
        /// The transfer.
        transfer_id: String,
        /// Its current status.
        from: TransferStatus,
        /// The status asked for.
        to: TransferStatus,
    },
    /// This user may not do this (role, account permission or maker-checker); nothing was
    /// written.
    #[error("{0}")]
    Forbidden(String),
    /// The transfer breaks the account's policy (limit or allow-list); nothing was written.
    #[error("policy: {0}")]
    Policy(String),
    /// An authentic signature response answered a transfer that no longer passes the account's
    /// policy (limit, allow-list, approval, balance). Unlike the other errors this one is
    /// recorded: the transfer became FAILED with the reason as its error, in the transaction
    /// and operation logs; nothing was queued for broadcast.
    #[error("policy: the signature response was refused and transfer {transfer_id} is now FAILED: {reason}")]
    Refused {
        /// The transfer, now FAILED.
        transfer_id: String,
        /// Why, as a sentence.
        reason: String,
    },
    /// A signature response with this id was imported before; each is accepted only once.
    #[error("signature response {response_id} was already imported; each response is accepted only once (possible replay)")]
    Replay {
        /// The response envelope id.
        response_id: String,
    },
    /// A stored value does not parse (a direct edit of the database, or a bug).
    #[error("stored {what} is malformed ({reason}); investigate the database")]
    Corrupt {
        /// Which value.
        what: String,
        /// Why it does not parse.
        reason: String,
    },
    /// The change concerns the person deciding it (their own role): someone else must approve
    /// it; nothing was written.
    #[error("{0}")]
    SecondPersonRequired(String),
    /// A decision on a four-eyes proposal was refused (decided, expired, the proposer's own,
    /// not theirs to withdraw); nothing was written.
    #[error(transparent)]
    Proposal(#[from] auth::proposal::Refusal),
    /// The log record could not be written, so the change was not made.
    #[error(transparent)]
    Audit(#[from] audit::Error),
    /// The database could not be reached at start-up.
    #[error("cannot open the database ({0}); check the --db URL and that the database server is running")]
    Connect(DbErr),
    /// The schema could not be brought up to date.
    #[error("the database migrations failed ({0}); the service did not start, the schema is unchanged past the last complete step")]
    Migrate(DbErr),
    /// Another database error; the transaction was rolled back.
    #[error("a database operation failed and nothing was changed: {0}")]
    Db(#[from] DbErr),
    /// An event could not be encoded for the outbox.
    #[error("an event could not be encoded, so the change was not made: {0}")]
    Encode(#[from] serde_json::Error),
}

/// Result alias for this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// The online zone's database.
#[derive(Clone, Debug)]
pub struct Db {
    conn: DatabaseConnection,
    sealer: audit::Sealer,
}

/// The online zone's chains: the operation log and the transaction log.
pub const CHAINS: [audit::Chain; 2] = [audit::Chain::OPERATION, audit::Chain::TRANSACTION];

/// The online zone's audit sealer: the online token's audit MAC key and audit-checkpoint key,
/// with the given checkpoint policy.
pub fn sealer(hsm: &hsm::OnlineHsm, policy: audit::CheckpointPolicy) -> audit::Sealer {
    audit::Sealer::new(
        audit::Zone::Online,
        std::sync::Arc::new(hsm.audit_mac_key()),
        std::sync::Arc::new(hsm.checkpoint_signer()),
    )
    .with_policy(policy)
}

impl Db {
    /// Open the database at `url`, bring its schema up to date, and seal every write with
    /// `sealer`.
    pub async fn connect(url: &str, sealer: audit::Sealer) -> Result<Db> {
        let conn = migration_kit::open::<migrations_online::Migrator>(url)
            .await
            .map_err(|e| match e {
                migration_kit::OpenError::Connect(e) => Error::Connect(e),
                migration_kit::OpenError::Migrate(e) => Error::Migrate(e),
            })?;
        Ok(Db { conn, sealer })
    }

    /// The underlying connection, for reads the repository does not cover (and for tests).
    pub fn conn(&self) -> &DatabaseConnection {
        &self.conn
    }

    /// The zone's audit sealer.
    pub fn sealer(&self) -> &audit::Sealer {
        &self.sealer
    }

    /// Start a write transaction sealed by the zone's token ([`audit::begin_write`]).
    pub async fn begin_write(&self) -> Result<audit::Tx> {
        Ok(audit::begin_write(&self.conn, &self.sealer).await?)
    }

    /// The witness an export carries: a checkpoint of each of this zone's chains at its head,
    /// signed by the HSM (or the stored one, if the head has not moved since).
    pub async fn export_witness(
        &self,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Result<Vec<audit::AuditCheckpoint>> {
        Ok(audit::export_witness(&self.conn, &self.sealer, &crate::CHAINS, now).await?)
    }

    /// Check the offline zone's checkpoints that arrived inside an envelope against what
    /// this zone witnessed before ([`audit::check_witness`]): a conflict means the other zone's
    /// log was rewritten or truncated, and the document must be refused.
    pub async fn check_peer_witness(&self, witness: &[audit::AuditCheckpoint]) -> Result<()> {
        Ok(audit::check_witness(&self.conn, witness, self.sealer.zone().peer()).await?)
    }

    /// Keep the offline zone's checkpoints of an imported envelope as a witness of its log.
    pub async fn store_peer_witness(
        &self,
        witness: &[audit::AuditCheckpoint],
        envelope_id: &str,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Result<usize> {
        Ok(audit::store_witness(
            &self.conn,
            &self.sealer,
            witness,
            self.sealer.zone().peer(),
            envelope_id,
            now,
        )
        .await?)
    }

    /// What a verification with this zone's own keys checks ([`audit::Sealer::verify_options`]).
    pub fn verify_options(&self) -> audit::VerifyOptions {
        self.sealer.verify_options()
    }
}

pub use migration_kit::new_id;

/// A validation error.
pub(crate) fn invalid(field: impl Into<String>, reason: impl Into<String>) -> Error {
    Error::Validation {
        field: field.into(),
        reason: reason.into(),
    }
}

/// The longest name, label or reason we accept.
const MAX_TEXT: usize = 200;

/// A non-empty text of at most [`MAX_TEXT`] characters.
pub(crate) fn check_text(field: &str, value: &str) -> Result<()> {
    if value.trim().is_empty() {
        return Err(invalid(field, "must not be empty"));
    }
    if value.chars().count() > MAX_TEXT {
        return Err(invalid(
            field,
            format!("must be at most {MAX_TEXT} characters"),
        ));
    }
    Ok(())
}

/// A `u64` as the database's signed 64-bit integer.
pub(crate) fn to_i64(field: &str, value: u64) -> Result<i64> {
    i64::try_from(value).map_err(|_| invalid(field, "is too large"))
}
