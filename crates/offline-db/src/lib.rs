//! The offline zone's database: sea-orm entities for DESIGN.md §6 and a thin repository that the
//! offline API uses.
//!
//! Every operation that changes state runs in ONE transaction that writes the change, its audit
//! record ([`audit::append`]) and — when other services must hear of it — an outbox row that
//! the relay later publishes to NATS. If any of the three fails, none is written: the audit
//! fails closed and no event announces a change that did not happen. Validation happens inside
//! the same transaction before the first write, so a rejected request leaves no row and no
//! audit record behind.
//!
//! [`Db::connect`] takes `sqlite://path?mode=rwc` (the embedded default; WAL, foreign keys on,
//! a busy timeout so concurrent writers wait) or a `postgres://` URL, and runs the migrations,
//! and the zone's [`audit::Sealer`] ([`sealer`]: the HSM's audit MAC and checkpoint keys): every
//! write transaction ([`Db::begin_write`]) carries it, so every audit record and every outbox
//! event is MACed by the HSM, and checkpoints are signed as the policy asks.
//! Time is always a parameter (`now`); ids are UUIDv7 derived from it.

pub mod accounts;
pub mod bus_adapters;
pub mod coordination;
pub mod entity;
mod ops;
mod outbox;
pub mod proposals;
pub mod signing;

use sea_orm::{DatabaseConnection, DbErr};

pub use accounts::PENDING_ROLE;
pub use coordination::{roster_of, RetrySession, Work, COORDINATOR};
pub use entity::enums::{
    CaseStatus, KeyShareStatus, ParticipantStatus, Role, SeStatus, SessionKind, SessionStatus,
    SigningRequestStatus, UserStatus,
};
pub use ops::record_audit;
pub use ops::{ManagerReplacement, ManagerSlot, NewSecureElement, NewUser};
pub use outbox::subjects;
pub use signing::{
    ImportedBatch, ImportedRequest, NewBalanceAttestation, NewSignature, NewSigningRequest,
    SessionDetail, MAX_BATCH,
};

/// Errors of the repository. Messages are sentences an operator or API client can act on; none
/// carries a password hash, token or key material.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The input breaks a rule; nothing was written.
    #[error("{field}: {reason}")]
    Validation {
        /// The offending input, e.g. `managers[1].se_id`.
        field: String,
        /// What is wrong, as a sentence fragment.
        reason: String,
    },
    /// A referenced record does not exist; nothing was written.
    #[error("{what} {id} does not exist")]
    NotFound {
        /// The kind of record.
        what: &'static str,
        /// The id that was looked up.
        id: String,
    },
    /// The operation is not allowed in the record's current state; nothing was written.
    #[error("{0}")]
    Conflict(String),
    /// The caller may not take part as asked: the user or SE does not hold that share of the
    /// case in the key-share table, or is not active; nothing was written.
    #[error("{0}")]
    NotPermitted(String),
    /// A signing request with this id was imported before; a request is accepted only once.
    #[error("signing request {request_id} was already imported; each request is accepted only once (possible replay)")]
    Replay {
        /// The envelope's request id.
        request_id: String,
    },
    /// A document with this id was imported before; each is accepted only once.
    #[error("{what} {id} was already imported; each is accepted only once (possible replay)")]
    AlreadyImported {
        /// The kind of document.
        what: &'static str,
        /// Its envelope id.
        id: String,
    },
    /// A decision on a four-eyes proposal was refused; nothing was written.
    #[error(transparent)]
    Proposal(auth::proposal::Refusal),
    /// The audit record could not be written, so the change was not made.
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
    /// The HSM could not sign the case's roster, so the case was not created.
    #[error("the HSM could not sign the case roster, so the case was not created: {0}")]
    Roster(String),
    /// An event could not be encoded for the outbox.
    #[error("an event could not be encoded, so the change was not made: {0}")]
    Encode(#[from] serde_json::Error),
}

/// Result alias for this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// The offline zone's database.
#[derive(Clone, Debug)]
pub struct Db {
    conn: DatabaseConnection,
    sealer: audit::Sealer,
    /// The HSM envelope key that signs each new case's roster ([`Db::with_roster_signer`]).
    roster_signer: Option<hsm::EnvelopeSigner>,
}

/// The offline zone's audit sealer: the HSM's audit MAC key and audit-checkpoint key, with the
/// given checkpoint policy.
pub fn sealer(hsm: &hsm::Hsm, policy: audit::CheckpointPolicy) -> audit::Sealer {
    audit::Sealer::new(
        audit::Zone::Offline,
        std::sync::Arc::new(hsm.audit_mac_key()),
        std::sync::Arc::new(hsm.checkpoint_signer()),
    )
    .with_policy(policy)
}

impl Db {
    /// Open the database at `url`, bring its schema up to date, and seal every write with
    /// `sealer`.
    pub async fn connect(url: &str, sealer: audit::Sealer) -> Result<Db> {
        let conn = migration_kit::open::<migrations_offline::Migrator>(url)
            .await
            .map_err(|e| match e {
                migration_kit::OpenError::Connect(e) => Error::Connect(e),
                migration_kit::OpenError::Migrate(e) => Error::Migrate(e),
            })?;
        Ok(Db {
            conn,
            sealer,
            roster_signer: None,
        })
    }

    /// Sign every new case's roster (`contracts::CaseRoster`: which SE holds which share) with
    /// the HSM's envelope key, in the transaction that creates the case. Without it a case is
    /// created with no roster, and the managers' clients refuse its keygen and signing: the
    /// offline API always sets it.
    pub fn with_roster_signer(mut self, signer: hsm::EnvelopeSigner) -> Db {
        self.roster_signer = Some(signer);
        self
    }

    /// The roster signer, if this handle has one.
    pub(crate) fn roster_signer(&self) -> Option<&hsm::EnvelopeSigner> {
        self.roster_signer.as_ref()
    }

    /// The underlying connection, for reads the repository does not cover (and for tests).
    pub fn conn(&self) -> &DatabaseConnection {
        &self.conn
    }

    /// The zone's audit sealer.
    pub fn sealer(&self) -> &audit::Sealer {
        &self.sealer
    }

    /// Start a write transaction sealed by the zone's HSM ([`audit::begin_write`]).
    pub async fn begin_write(&self) -> Result<audit::Tx> {
        Ok(audit::begin_write(&self.conn, &self.sealer).await?)
    }

    /// Verify the whole audit chain: hashes, every record's MAC (with the HSM), and the
    /// checkpoints stored in the database (against the HSM's checkpoint key).
    pub async fn verify_audit(&self) -> Result<audit::SealedReport> {
        Ok(audit::verify_sealed(&self.conn, audit::Chain::AUDIT, &self.verify_options()).await?)
    }

    /// The witness an export carries: a checkpoint of each of this zone's chains at its head,
    /// signed by the HSM (or the stored one, if the head has not moved since).
    pub async fn export_witness(
        &self,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Result<Vec<audit::AuditCheckpoint>> {
        Ok(audit::export_witness(&self.conn, &self.sealer, &[audit::Chain::AUDIT], now).await?)
    }

    /// Check the online zone's checkpoints that arrived inside an envelope against what
    /// this zone witnessed before ([`audit::check_witness`]): a conflict means the other zone's
    /// log was rewritten or truncated, and the document must be refused.
    pub async fn check_peer_witness(&self, witness: &[audit::AuditCheckpoint]) -> Result<()> {
        Ok(audit::check_witness(&self.conn, witness, self.sealer.zone().peer()).await?)
    }

    /// Keep the online zone's checkpoints of an imported envelope as a witness of its log.
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

    /// The newest checkpoint of the audit chain, if any.
    pub async fn latest_checkpoint(&self) -> Result<Option<audit::AuditCheckpoint>> {
        Ok(audit::latest_checkpoint(&self.conn, audit::Chain::AUDIT).await?)
    }
}

pub use migration_kit::new_id;
