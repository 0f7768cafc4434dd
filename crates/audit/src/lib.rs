//! The append-only, hash-chained audit log that both zones keep (DESIGN.md §2.6, §6, §12.4).
//!
//! Every state change writes one record with [`append`] inside the same database transaction as
//! the change. Each record's hash covers the previous record's hash and a canonical,
//! length-prefixed encoding of its own fields, so editing, deleting, inserting or reordering a
//! record breaks the chain, and [`verify`] names the first record where it breaks. Appends are
//! serialised through a one-row head table (`audit_head`), locked with `SELECT … FOR UPDATE` on
//! PostgreSQL and by SQLite's single writer lock, so concurrent writers wait for each other and
//! the chain never forks.
//!
//! **Audit fails closed.** [`append`] returns an error instead of writing a partial record; the
//! caller propagates it with `?` inside its transaction, so the transaction is dropped (rolled
//! back) and the change it audits is not made either.
//!
//! Details are structured JSON and must never carry secrets (PINs, shares, password hashes,
//! tokens): the log is readable by auditors.
//!
//! **Keyed records and signed checkpoints** (DESIGN.md §14). A hash chain alone does not stop
//! somebody with write access to the database: they can rewrite a record and recompute every
//! later hash, append a record with a correct hash, or delete the tail and move the head back.
//! So every write runs in a [`Tx`] that carries the zone's [`Sealer`]: each record also gets an
//! HMAC-SHA256 by a key that never leaves the zone's HSM, and the HSM signs checkpoints of the
//! chain ([`checkpoints`]) that are kept outside the database (a checkpoint directory, the other
//! zone). [`verify_sealed`] checks all of it and says what it could not cover.
//!
//! **Several chains.** A zone may keep more than one independent chain, each named by a
//! [`Chain`] (its record table and head table): the offline zone keeps [`Chain::AUDIT`]
//! (`audit_log`), the online zone an operation log and a transaction log. The `*_in`/`*_to`
//! functions take the chain; [`append`], [`verify`] and [`query`] are the same functions for
//! [`Chain::AUDIT`], whose record hashes are exactly those of the single-chain log before it.
//! Other chains bind their table name into every record hash, so a record copied from one chain
//! into another does not verify there.

mod chain;
pub mod checkpoints;
pub mod entity;
pub mod migration;
mod seal;
mod verify;

pub use chain::Chain;
pub use checkpoints::{
    check_witness, checkpoint, checkpoint_due, export_witness, latest_checkpoint, run_checkpointer,
    store_witness, witness_for_export, witnessed, CheckpointDir, LoadedCheckpoint,
};
pub use contracts::{AuditCheckpoint, Zone};
pub use seal::{begin_write, record_mac_input, AuditConfig, CheckpointPolicy, Sealer, Tx};
pub use verify::{
    verify_sealed, CheckpointCheck, CheckpointProblem, MacCoverage, SealedReport, VerifyOptions,
    Witness,
};

use chrono::{DateTime, Utc};
use sea_orm::sea_query::{
    BinOper, Condition, Expr, ExprTrait, LockType, Order, Query, SelectStatement,
};
use sea_orm::{ConnectionTrait, DbErr, FromQueryResult};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use entity::audit_log;

/// The previous-hash of the first record: 32 zero bytes, in hex.
pub const GENESIS_HASH: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// Domain separation for record hashes; a new encoding gets a new tag.
const DOMAIN_TAG: &[u8] = b"custody/audit-record/v1";

/// The default and the largest page [`query`] returns.
const QUERY_DEFAULT_LIMIT: u64 = 100;
const QUERY_MAX_LIMIT: u64 = 1000;

/// Errors of the audit log. None of them carries record details.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The database refused a read or write; when appending, the audited change is not made.
    #[error("the audit log could not be read or written, so the change was not made; check the database and retry: {0}")]
    Db(#[from] DbErr),
    /// The audit tables are missing or their head row is gone.
    #[error("the audit log is not set up (its head row is missing); run the database migrations before starting the service")]
    NotMigrated,
    /// A timestamp outside the range the log can store.
    #[error("the audit timestamp {0} is out of range; check the system clock")]
    TimeOutOfRange(String),
    /// A stored value does not have the expected form (for example a hash that is not hex).
    #[error("audit record {seq} is malformed ({reason}); run `audit verify` and investigate the database")]
    Malformed {
        /// The record (or 0 for the head row).
        seq: i64,
        /// What is wrong.
        reason: &'static str,
    },
    /// The zone's HSM did not MAC a record or sign a checkpoint, so the change was not made.
    #[error(
        "the HSM could not seal the audit record, so the change was not made; check the HSM: {0}"
    )]
    Key(String),
    /// A checkpoint could not be made, encoded or read.
    #[error("audit checkpoint: {0}")]
    Checkpoint(#[from] contracts::Error),
    /// A checkpoint file could not be written or read.
    #[error("audit checkpoint file {path}: {reason}")]
    CheckpointFile {
        /// The file or directory.
        path: std::path::PathBuf,
        /// What went wrong.
        reason: String,
    },
    /// A witness checkpoint names another zone than the envelope's issuer.
    #[error("a witness checkpoint of the {found} zone arrived from the {expected} zone; the document was refused")]
    WitnessZone {
        /// The issuing zone.
        expected: Zone,
        /// The zone the checkpoint names.
        found: Zone,
    },
    /// The other zone's checkpoint of a record differs from the one witnessed before.
    #[error("the {zone} zone's {chain} log changed: its checkpoint of record {seq} differs from the one witnessed before, so its log was rewritten; the document was refused — call the auditor")]
    WitnessConflict {
        /// The other zone.
        zone: Zone,
        /// The chain.
        chain: String,
        /// The record.
        seq: u64,
    },
    /// The other zone's log went backwards.
    #[error("the {zone} zone's {chain} log went backwards: a newer checkpoint names record {seq}, but record {witnessed} was witnessed before, so its log was truncated; the document was refused — call the auditor")]
    WitnessRegressed {
        /// The other zone.
        zone: Zone,
        /// The chain.
        chain: String,
        /// The sequence number of the newer checkpoint.
        seq: u64,
        /// The higher sequence number witnessed earlier.
        witnessed: u64,
    },
}

/// Result alias for this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What to record: who did what to which object, when, with structured details.
#[derive(Clone, Debug, PartialEq)]
pub struct Entry {
    /// When the change happened; stored and hashed with microsecond precision.
    pub at: DateTime<Utc>,
    /// Who made the change (a user id, or a service name for automatic changes).
    pub actor: String,
    /// What was done, dotted lower case, e.g. `case.manager_replaced`.
    pub action: String,
    /// What it was done to, e.g. a case id.
    pub object: String,
    /// Structured details. Never put secrets here.
    pub details: serde_json::Value,
}

/// A stored audit record.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Record {
    /// Position in the chain, from 1.
    pub seq: i64,
    /// When the change happened.
    pub at: DateTime<Utc>,
    /// Who made it.
    pub actor: String,
    /// What was done.
    pub action: String,
    /// What it was done to.
    pub object: String,
    /// Structured details.
    pub details: serde_json::Value,
    /// The previous record's hash (hex).
    pub prev_hash: String,
    /// This record's hash (hex).
    pub hash: String,
}

impl From<audit_log::Model> for Record {
    fn from(m: audit_log::Model) -> Self {
        Record {
            seq: m.seq,
            at: m.at,
            actor: m.actor,
            action: m.action,
            object: m.object,
            details: m.details,
            prev_hash: m.prev_hash,
            hash: m.hash,
        }
    }
}

/// Append one record to the [`Chain::AUDIT`] chain inside the caller's transaction and return
/// it: [`append_to`] for the zone's single audit log.
///
/// Call it with `?` inside the transaction that makes the audited change, and commit only
/// after it succeeded: that is what makes the audit fail closed. The transaction is a [`Tx`]
/// from [`begin_write`], which carries the zone's keys.
pub async fn append(txn: &Tx, entry: Entry) -> Result<Record> {
    append_to(txn, Chain::AUDIT, entry).await
}

/// Append one record to `chain` inside the caller's transaction and return it.
///
/// The same contract as [`append`]: propagate its error with `?` and commit only after it
/// succeeded. Appends to different chains lock different head rows, so they do not wait for
/// each other on PostgreSQL; one transaction may append to several chains.
///
/// The record's MAC is made by the zone's HSM before the insert; when the new sequence number
/// is a multiple of the policy's `every_records`, the HSM also signs a checkpoint in the same
/// transaction. If the HSM fails, the append fails and so does the change ([`Error::Key`]).
pub async fn append_to(txn: &Tx, chain: Chain, entry: Entry) -> Result<Record> {
    let at = to_micros(entry.at)?;
    let (head_seq, head_hash) = lock_head(txn, chain).await?;
    let prev = decode_hash(&head_hash).ok_or(Error::Malformed {
        seq: 0,
        reason: "the head hash is not 64 hex digits",
    })?;
    let seq = head_seq + 1;
    let hash_bytes = record_hash_in(
        chain,
        &prev,
        seq,
        at,
        &entry.actor,
        &entry.action,
        &entry.object,
        &entry.details,
    );
    let hash = hex::encode(hash_bytes);
    let mac = hex::encode(txn.sealer().record_mac(chain, seq, &hash_bytes)?);
    let mut insert = Query::insert();
    insert
        .into_table(chain.log_table())
        .columns(COLUMNS)
        .values([
            Expr::value(seq),
            Expr::value(at),
            Expr::value(entry.actor.clone()),
            Expr::value(entry.action.clone()),
            Expr::value(entry.object.clone()),
            Expr::value(entry.details.clone()),
            Expr::value(head_hash.clone()),
            Expr::value(hash.clone()),
            Expr::value(mac),
        ])
        .map_err(|e| DbErr::Custom(format!("building the audit insert: {e}")))?;
    txn.execute(&insert).await?;
    let mut update = Query::update();
    update
        .table(chain.head_table())
        .value("seq", seq)
        .value("hash", hash.clone())
        .and_where(Expr::col("id").eq(1));
    let updated = txn.execute(&update).await?;
    if updated.rows_affected() != 1 {
        return Err(Error::NotMigrated);
    }
    let every = txn.sealer().policy().every_records;
    if every > 0 && u64::try_from(seq).is_ok_and(|s| s % every == 0) {
        checkpoints::checkpoint_at(txn, chain, seq, hash_bytes, at).await?;
    }
    Ok(Record {
        seq,
        at,
        actor: entry.actor,
        action: entry.action,
        object: entry.object,
        details: entry.details,
        prev_hash: head_hash,
        hash,
    })
}

/// The columns of every chain's record table, in the order the insert writes them.
const COLUMNS: [&str; 9] = [
    "seq",
    "at",
    "actor",
    "action",
    "object",
    "details",
    "prev_hash",
    "hash",
    "mac",
];

/// One row of a chain's head table.
#[derive(FromQueryResult)]
pub(crate) struct HeadRow {
    pub(crate) seq: i64,
    pub(crate) hash: String,
}

/// One row of a chain's record table (the same columns as [`audit_log::Model`]).
#[derive(FromQueryResult)]
pub(crate) struct RecordRow {
    seq: i64,
    at: DateTime<Utc>,
    actor: String,
    action: String,
    object: String,
    details: serde_json::Value,
    prev_hash: String,
    hash: String,
    mac: Option<String>,
}

impl From<RecordRow> for Record {
    fn from(m: RecordRow) -> Self {
        Record {
            seq: m.seq,
            at: m.at,
            actor: m.actor,
            action: m.action,
            object: m.object,
            details: m.details,
            prev_hash: m.prev_hash,
            hash: m.hash,
        }
    }
}

/// Read the head row of `chain` (`SELECT … FOR UPDATE` when `lock` on PostgreSQL).
pub(crate) async fn read_head<C: ConnectionTrait>(
    db: &C,
    chain: Chain,
    lock: bool,
) -> Result<HeadRow> {
    let mut select = Query::select();
    select
        .columns(["seq", "hash"])
        .from(chain.head_table())
        .and_where(Expr::col("id").eq(1));
    if lock {
        // Ignored by the SQLite query builder, which has no row locks.
        select.lock(LockType::Update);
    }
    let row = db.query_one(&select).await?.ok_or(Error::NotMigrated)?;
    Ok(HeadRow::from_query_result(&row, "")?)
}

/// Take the append lock of `chain` and read its head.
pub(crate) async fn lock_head<C: ConnectionTrait>(txn: &C, chain: Chain) -> Result<(i64, String)> {
    if txn.get_database_backend() != sea_orm::DbBackend::Postgres {
        // SQLite has no row locks; a write takes the database's single write lock (waiting
        // for the busy timeout if another writer holds it) before the head is read, so no
        // other writer can read the same head in between.
        let mut touch = Query::update();
        touch
            .table(chain.head_table())
            .value("seq", Expr::col("seq"))
            .and_where(Expr::col("id").eq(1));
        txn.execute(&touch).await?;
    }
    // On PostgreSQL the row lock is held until the caller's transaction ends; a concurrent
    // appender blocks here and then reads the head this one wrote.
    let head = read_head(txn, chain, true).await?;
    Ok((head.seq, head.hash))
}

/// The first record where the chain breaks, and why.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Broken {
    /// The record's sequence number.
    pub seq: i64,
    /// What is wrong with it.
    pub reason: BrokenReason,
}

/// Why a record breaks the chain.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum BrokenReason {
    /// The record is missing: the sequence jumps over it, or the head names it but it is gone.
    Missing,
    /// Its `prev_hash` is not the previous record's hash (records reordered or replaced).
    PrevHashMismatch,
    /// Its stored hash does not match its contents (the record was edited).
    HashMismatch,
    /// The head row does not match the last record (the head or the tail was edited).
    HeadMismatch,
    /// Its MAC is not the zone HSM's MAC of it: the record was forged or rewritten by someone
    /// without the HSM (checked only when the verifier has the HSM).
    MacMismatch,
    /// It has no MAC: the record was written by someone without the HSM.
    MacMissing,
}

impl std::fmt::Display for BrokenReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Missing => "the record is missing",
            Self::PrevHashMismatch => "its previous-hash link does not match the record before it",
            Self::HashMismatch => "its contents do not match its hash (it was edited)",
            Self::HeadMismatch => "the chain head does not match the last record",
            Self::MacMismatch => {
                "its MAC was not made by the zone's HSM (forged or rewritten without the HSM)"
            }
            Self::MacMissing => "it has no MAC (written without the zone's HSM)",
        })
    }
}

impl std::fmt::Display for Broken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "audit record {}: {}", self.seq, self.reason)
    }
}

/// The outcome of [`verify`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct VerifyReport {
    /// How many records verified, from record 1 up to the first broken one (all of them when
    /// the chain is intact).
    pub records: u64,
    /// The first record where the chain breaks, if any.
    pub first_broken: Option<Broken>,
}

impl VerifyReport {
    /// Whether the whole chain verified.
    pub fn is_intact(&self) -> bool {
        self.first_broken.is_none()
    }
}

/// Walk the [`Chain::AUDIT`] chain from record 1 to the head: [`verify_chain`] for the zone's
/// single audit log.
pub async fn verify<C: ConnectionTrait>(db: &C) -> Result<VerifyReport> {
    verify_chain(db, Chain::AUDIT).await
}

/// Walk `chain` from record 1 to the head, a page at a time, and name the first record whose
/// sequence number, previous-hash link or hash is wrong. This checks the hash chain only (no
/// MACs, no checkpoints): [`verify_sealed`] checks everything there is a key for.
pub async fn verify_chain<C: ConnectionTrait>(db: &C, chain: Chain) -> Result<VerifyReport> {
    let report = verify_sealed(db, chain, &VerifyOptions::default()).await?;
    Ok(VerifyReport {
        records: report.records,
        first_broken: report.first_broken,
    })
}

/// `SELECT <record columns> FROM <chain's record table>`.
pub(crate) fn select_records(chain: Chain) -> SelectStatement {
    let mut select = Query::select();
    select.columns(COLUMNS).from(chain.log_table());
    select
}

async fn fetch<C: ConnectionTrait>(db: &C, select: &SelectStatement) -> Result<Vec<Record>> {
    let rows = db.query_all(select).await?;
    rows.iter()
        .map(|row| Ok(RecordRow::from_query_result(row, "")?.into()))
        .collect()
}

/// Filters for [`query`]; every field is optional and they combine with AND.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Filter {
    /// Only records by this actor.
    pub actor: Option<String>,
    /// Only records of this action.
    pub action: Option<String>,
    /// Only records about this object.
    pub object: Option<String>,
    /// Only records at or after this time.
    pub from: Option<DateTime<Utc>>,
    /// Only records before this time.
    pub to: Option<DateTime<Utc>>,
    /// Only records after this sequence number (for paging: pass the last `seq` seen).
    pub after_seq: Option<i64>,
    /// At most this many records (default 100, at most 1000).
    pub limit: Option<u64>,
}

/// Records of the [`Chain::AUDIT`] chain matching `filter`, in chain order.
pub async fn query<C: ConnectionTrait>(db: &C, filter: Filter) -> Result<Vec<Record>> {
    query_in(db, Chain::AUDIT, filter).await
}

/// Records of `chain` matching `filter`, in chain order.
pub async fn query_in<C: ConnectionTrait>(
    db: &C,
    chain: Chain,
    filter: Filter,
) -> Result<Vec<Record>> {
    query_in_where(db, chain, filter, Condition::all()).await
}

/// Records of `chain` matching `filter` and the caller's extra `condition` (for example on a
/// field of the details, see [`details_field`]), in chain order.
pub async fn query_in_where<C: ConnectionTrait>(
    db: &C,
    chain: Chain,
    filter: Filter,
    condition: Condition,
) -> Result<Vec<Record>> {
    let mut select = select_records(chain);
    if let Some(actor) = filter.actor {
        select.and_where(Expr::col("actor").eq(actor));
    }
    if let Some(action) = filter.action {
        select.and_where(Expr::col("action").eq(action));
    }
    if let Some(object) = filter.object {
        select.and_where(Expr::col("object").eq(object));
    }
    if let Some(from) = filter.from {
        select.and_where(Expr::col("at").gte(to_micros(from)?));
    }
    if let Some(to) = filter.to {
        select.and_where(Expr::col("at").lt(to_micros(to)?));
    }
    if let Some(after) = filter.after_seq {
        select.and_where(Expr::col("seq").gt(after));
    }
    let limit = filter
        .limit
        .unwrap_or(QUERY_DEFAULT_LIMIT)
        .clamp(1, QUERY_MAX_LIMIT);
    select
        .cond_where(condition)
        .order_by("seq", Order::Asc)
        .limit(limit);
    fetch(db, &select).await
}

/// The text value of the top-level `key` of a record's details (`details ->> key`, the same
/// SQL on PostgreSQL and SQLite 3.38+), for conditions of [`query_in_where`]. NULL when the
/// key is absent.
pub fn details_field(key: &str) -> Expr {
    Expr::col("details").binary(BinOper::Custom("->>"), Expr::value(key.to_owned()))
}

/// The hash of one record of the [`Chain::AUDIT`] chain: SHA-256 over the domain tag, the
/// previous hash and the length-prefixed fields, with `details` in canonical JSON (keys sorted,
/// no whitespace) so the hash does not depend on how a database stores JSON.
pub fn record_hash(
    prev: &[u8; 32],
    seq: i64,
    at: DateTime<Utc>,
    actor: &str,
    action: &str,
    object: &str,
    details: &serde_json::Value,
) -> [u8; 32] {
    record_hash_in(Chain::AUDIT, prev, seq, at, actor, action, object, details)
}

/// The hash of one record of `chain`: as [`record_hash`], and for every chain but
/// [`Chain::AUDIT`] (whose hashes predate several chains) the chain's table name, length-prefixed,
/// right after the domain tag, so a record cannot be moved between chains.
#[allow(
    clippy::too_many_arguments,
    reason = "one argument per hashed field keeps the preimage explicit"
)]
pub fn record_hash_in(
    chain: Chain,
    prev: &[u8; 32],
    seq: i64,
    at: DateTime<Utc>,
    actor: &str,
    action: &str,
    object: &str,
    details: &serde_json::Value,
) -> [u8; 32] {
    let mut h = Sha256::new();
    put(&mut h, DOMAIN_TAG);
    if chain != Chain::AUDIT {
        put(&mut h, chain.log_table().as_bytes());
    }
    h.update(prev);
    h.update(seq.to_be_bytes());
    h.update(at.timestamp_micros().to_be_bytes());
    put(&mut h, actor.as_bytes());
    put(&mut h, action.as_bytes());
    put(&mut h, object.as_bytes());
    put(&mut h, canonical_json(details).as_bytes());
    h.finalize().into()
}

/// Length-prefix a field (u64, big-endian) so that no two field sequences encode alike.
fn put(h: &mut Sha256, bytes: &[u8]) {
    h.update((bytes.len() as u64).to_be_bytes());
    h.update(bytes);
}

/// JSON with object keys sorted at every level and no insignificant whitespace.
pub fn canonical_json(value: &serde_json::Value) -> String {
    let mut out = String::new();
    write_canonical(value, &mut out);
    out
}

fn write_canonical(value: &serde_json::Value, out: &mut String) {
    use serde_json::Value;
    match value {
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_canonical(item, out);
            }
            out.push(']');
        }
        Value::Object(map) => {
            let mut entries: Vec<_> = map.iter().collect();
            entries.sort_by(|a, b| a.0.cmp(b.0));
            out.push('{');
            for (i, (key, item)) in entries.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&Value::String(key.clone()).to_string());
                out.push(':');
                write_canonical(item, out);
            }
            out.push('}');
        }
        scalar => out.push_str(&scalar.to_string()),
    }
}

/// Drop sub-microsecond precision: both databases store microseconds, and the hash must cover
/// exactly what is stored.
pub(crate) fn to_micros(at: DateTime<Utc>) -> Result<DateTime<Utc>> {
    DateTime::from_timestamp_micros(at.timestamp_micros())
        .ok_or_else(|| Error::TimeOutOfRange(at.to_rfc3339()))
}

pub(crate) fn decode_hash(s: &str) -> Option<[u8; 32]> {
    let mut out = [0u8; 32];
    hex::decode_to_slice(s, &mut out).ok()?;
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_json_sorts_keys_at_every_level() {
        let v = serde_json::json!({"b": 1, "a": {"d": [true, null, "x"], "c": 1.5}});
        assert_eq!(
            canonical_json(&v),
            r#"{"a":{"c":1.5,"d":[true,null,"x"]},"b":1}"#
        );
    }

    #[test]
    fn the_audit_chain_hashes_as_before_and_other_chains_differ() {
        let at = DateTime::from_timestamp(1_700_000_000, 0).unwrap();
        let d = serde_json::json!({"k": 1});
        let old = record_hash(&[0; 32], 1, at, "a", "b", "o", &d);
        let audit = record_hash_in(Chain::AUDIT, &[0; 32], 1, at, "a", "b", "o", &d);
        let op = record_hash_in(Chain::OPERATION, &[0; 32], 1, at, "a", "b", "o", &d);
        let tx = record_hash_in(Chain::TRANSACTION, &[0; 32], 1, at, "a", "b", "o", &d);
        assert_eq!(old, audit);
        assert_ne!(audit, op);
        assert_ne!(op, tx);
        assert_eq!(Chain::by_name("transaction"), Some(Chain::TRANSACTION));
        assert_eq!(Chain::by_name("audit_log"), None);
    }

    #[test]
    fn fields_are_length_prefixed() {
        let at = DateTime::from_timestamp(1_700_000_000, 0).unwrap();
        let d = serde_json::json!({});
        let a = record_hash(&[0; 32], 1, at, "ab", "c", "o", &d);
        let b = record_hash(&[0; 32], 1, at, "a", "bc", "o", &d);
        assert_ne!(a, b);
    }
}
