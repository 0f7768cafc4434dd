//! What makes a chain verifiable against an insider with database access (DESIGN.md §14): the
//! zone's HSM keys, the checkpoint policy, and the write transaction that carries them.
//!
//! A [`Sealer`] holds the zone's audit MAC key and checkpoint key (both on the zone's HSM,
//! behind the [`MacKey`] and [`IdentitySigner`] ports) and how often checkpoints are made. Every
//! write transaction is a [`Tx`] begun with [`begin_write`]: it carries the sealer, so
//! [`crate::append_to`] can MAC each record and make the checkpoints it owes without any
//! caller passing keys around, and no code path can append an unkeyed record.

use std::sync::Arc;
use std::time::Duration;

use channel::{IdentitySigner, MacKey};
use contracts::{AuditCheckpoint, CheckpointStatement, Zone};
use sea_orm::{
    ConnectionTrait, DatabaseConnection, DatabaseTransaction, DbBackend, DbErr, ExecResult,
    QueryResult, SqliteTransactionMode, Statement, TransactionOptions, TransactionTrait,
};

use crate::{Chain, Error, Result};

/// Domain separation of record MACs.
const RECORD_MAC_TAG: &[u8] = b"custody/audit-record-mac/v1";

/// How often the HSM signs a checkpoint of each chain. An auditor accepts a window of 100
/// records or 5 minutes in which a truncation cannot be proven from checkpoints alone (the
/// record MACs still show a forged or rewritten record there).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CheckpointPolicy {
    /// A checkpoint whenever a chain's sequence number reaches a multiple of this (in the
    /// transaction that appends that record). 0 turns record-count checkpoints off.
    pub every_records: u64,
    /// A checkpoint of each chain whose head moved, once the newest checkpoint is this old
    /// ([`crate::checkpoint_due`], run by the zone's long-running services).
    pub every: Duration,
}

impl Default for CheckpointPolicy {
    fn default() -> Self {
        CheckpointPolicy {
            every_records: 100,
            every: Duration::from_secs(5 * 60),
        }
    }
}

/// The zone's audit keys and checkpoint policy. Cheap to clone.
#[derive(Clone)]
pub struct Sealer {
    zone: Zone,
    mac: Arc<dyn MacKey>,
    checkpoint: Arc<dyn IdentitySigner>,
    policy: CheckpointPolicy,
}

impl std::fmt::Debug for Sealer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sealer")
            .field("zone", &self.zone)
            .field("policy", &self.policy)
            .finish_non_exhaustive()
    }
}

impl Sealer {
    /// A sealer for `zone` with the default [`CheckpointPolicy`].
    pub fn new(zone: Zone, mac: Arc<dyn MacKey>, checkpoint: Arc<dyn IdentitySigner>) -> Sealer {
        Sealer {
            zone,
            mac,
            checkpoint,
            policy: CheckpointPolicy::default(),
        }
    }

    /// The same keys with another checkpoint policy.
    #[must_use]
    pub fn with_policy(mut self, policy: CheckpointPolicy) -> Sealer {
        self.policy = policy;
        self
    }

    /// The zone.
    pub fn zone(&self) -> Zone {
        self.zone
    }

    /// The checkpoint policy.
    pub fn policy(&self) -> CheckpointPolicy {
        self.policy
    }

    /// The public key that verifies this zone's checkpoints.
    pub fn checkpoint_public_key(&self) -> p256::PublicKey {
        self.checkpoint.public_key()
    }

    /// What a verification with the zone's own keys checks: every record's MAC, and the
    /// checkpoints stored in the database against the checkpoint key.
    pub fn verify_options(&self) -> crate::VerifyOptions {
        crate::VerifyOptions {
            zone: Some(self.zone),
            mac_key: Some(self.mac_key_arc()),
            checkpoint_key: Some(self.checkpoint_public_key()),
            witnesses: Vec::new(),
            stored_checkpoints: true,
        }
    }

    /// The zone's MAC key (the bus events of the zone are MACed with it too, under their own
    /// domain tag).
    pub fn mac_key(&self) -> &dyn MacKey {
        self.mac.as_ref()
    }

    /// The MAC key, shared.
    pub fn mac_key_arc(&self) -> Arc<dyn MacKey> {
        Arc::clone(&self.mac)
    }

    /// The MAC of record `seq` of `chain` whose hash is `hash`.
    pub(crate) fn record_mac(&self, chain: Chain, seq: i64, hash: &[u8; 32]) -> Result<[u8; 32]> {
        self.mac
            .mac(&record_mac_input(self.zone, chain, seq, hash))
            .map_err(|e| Error::Key(e.to_string()))
    }

    /// Sign a checkpoint of `chain` at `seq` with chain value `value`, dated `at_micros`.
    pub(crate) fn sign_checkpoint(
        &self,
        chain: Chain,
        seq: i64,
        value: [u8; 32],
        at_micros: i64,
    ) -> Result<AuditCheckpoint> {
        let statement = CheckpointStatement {
            zone: self.zone,
            chain: chain.name(),
            seq: u64::try_from(seq).map_err(|_| Error::Malformed {
                seq,
                reason: "a negative sequence number",
            })?,
            value,
            at: u64::try_from(at_micros)
                .map_err(|_| Error::TimeOutOfRange(at_micros.to_string()))?,
        };
        Ok(AuditCheckpoint::sign(&statement, self.checkpoint.as_ref())?)
    }
}

/// What the MAC of a record covers: `lp(tag) ‖ lp(zone) ‖ lp(chain table) ‖ seq (i64 BE) ‖
/// hash`, where `lp(x)` is `len(x)` as u64 BE followed by `x`. The hash already covers the
/// record's fields and its predecessor, so the MAC binds the whole chain up to the record to
/// the zone's HSM.
pub fn record_mac_input(zone: Zone, chain: Chain, seq: i64, hash: &[u8; 32]) -> Vec<u8> {
    let mut out = Vec::with_capacity(128);
    for part in [
        RECORD_MAC_TAG,
        zone.as_str().as_bytes(),
        chain.log_table().as_bytes(),
    ] {
        out.extend_from_slice(&(part.len() as u64).to_be_bytes());
        out.extend_from_slice(part);
    }
    out.extend_from_slice(&seq.to_be_bytes());
    out.extend_from_slice(hash);
    out
}

/// A write transaction that carries the zone's [`Sealer`]: every audit append in it is MACed
/// and checkpointed by the HSM. It is a [`ConnectionTrait`], so queries and sea-orm models run
/// on it as on the transaction it wraps. Dropping it without [`Tx::commit`] rolls back.
pub struct Tx {
    txn: DatabaseTransaction,
    sealer: Sealer,
}

impl std::fmt::Debug for Tx {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tx")
            .field("sealer", &self.sealer)
            .finish_non_exhaustive()
    }
}

/// Start a transaction that will write (and so append to the audit log), sealed by `sealer`.
///
/// On SQLite this is `BEGIN IMMEDIATE`: the write lock is taken at the start, so a concurrent
/// writer waits (for the connection's busy timeout) instead of failing half-way when a deferred
/// transaction tries to upgrade from reading to writing. On PostgreSQL it is a plain `BEGIN`;
/// [`crate::append`] locks the head row itself.
pub async fn begin_write(db: &DatabaseConnection, sealer: &Sealer) -> Result<Tx> {
    let txn = db
        .begin_with_options(TransactionOptions {
            sqlite_transaction_mode: Some(SqliteTransactionMode::Immediate),
            ..TransactionOptions::default()
        })
        .await?;
    Ok(Tx {
        txn,
        sealer: sealer.clone(),
    })
}

impl Tx {
    /// Commit everything written in the transaction.
    pub async fn commit(self) -> Result<()> {
        Ok(self.txn.commit().await?)
    }

    /// Roll back everything written in the transaction.
    pub async fn rollback(self) -> Result<()> {
        Ok(self.txn.rollback().await?)
    }

    /// The zone's sealer.
    pub fn sealer(&self) -> &Sealer {
        &self.sealer
    }

    /// The wrapped transaction (for APIs that want the concrete type).
    pub fn txn(&self) -> &DatabaseTransaction {
        &self.txn
    }
}

#[async_trait::async_trait]
impl ConnectionTrait for Tx {
    fn get_database_backend(&self) -> DbBackend {
        self.txn.get_database_backend()
    }

    async fn execute_raw(&self, stmt: Statement) -> Result<ExecResult, DbErr> {
        self.txn.execute_raw(stmt).await
    }

    async fn execute_unprepared(&self, sql: &str) -> Result<ExecResult, DbErr> {
        self.txn.execute_unprepared(sql).await
    }

    async fn query_one_raw(&self, stmt: Statement) -> Result<Option<QueryResult>, DbErr> {
        self.txn.query_one_raw(stmt).await
    }

    async fn query_all_raw(&self, stmt: Statement) -> Result<Vec<QueryResult>, DbErr> {
        self.txn.query_all_raw(stmt).await
    }

    fn support_returning(&self) -> bool {
        self.txn.support_returning()
    }
}

/// The `[audit]` table of a zone's configuration: where checkpoint files go and how often
/// checkpoints are made.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuditConfig {
    /// A directory every checkpoint is written to as its own file (point it at write-once
    /// media or a directory another host collects); none: checkpoints stay in the database
    /// and the exported envelopes only.
    #[serde(default)]
    pub checkpoint_dir: Option<std::path::PathBuf>,
    /// A checkpoint every this many records of a chain.
    #[serde(default = "default_every_records")]
    pub checkpoint_every_records: u64,
    /// A checkpoint of a chain whose head moved, every this many minutes.
    #[serde(default = "default_every_minutes")]
    pub checkpoint_every_minutes: u64,
}

fn default_every_records() -> u64 {
    CheckpointPolicy::default().every_records
}

fn default_every_minutes() -> u64 {
    CheckpointPolicy::default().every.as_secs() / 60
}

impl Default for AuditConfig {
    fn default() -> Self {
        AuditConfig {
            checkpoint_dir: None,
            checkpoint_every_records: default_every_records(),
            checkpoint_every_minutes: default_every_minutes(),
        }
    }
}

impl AuditConfig {
    /// The checkpoint policy this configures.
    pub fn policy(&self) -> CheckpointPolicy {
        CheckpointPolicy {
            every_records: self.checkpoint_every_records,
            every: Duration::from_secs(self.checkpoint_every_minutes.max(1).saturating_mul(60)),
        }
    }
}
