//! Signed checkpoints of a zone's chains, and the other zone's checkpoints kept as a witness.
//!
//! A checkpoint ([`contracts::AuditCheckpoint`]) is made by the HSM in three situations: in the
//! transaction that appends every N-th record ([`crate::append_to`]), when the newest one of a
//! chain whose head moved is older than T ([`checkpoint_due`]), and at every export
//! ([`witness_for_export`], carried inside the envelope). Each is stored in
//! [`CHECKPOINTS_TABLE`] and written by [`CheckpointDir`] to a directory an operator points at
//! write-once media or another host. Checkpoints that arrive inside the other zone's envelopes
//! are kept in [`WITNESS_TABLE`] ([`store_witness`]), after checking that they do not contradict
//! what was witnessed before: the same record with another value, or a later checkpoint with a
//! lower sequence number, means the other zone's log was rewritten or truncated.

use std::path::{Path, PathBuf};
use std::time::Duration;

use chrono::{DateTime, Utc};
use contracts::{AuditCheckpoint, Zone};
use sea_orm::sea_query::{Expr, ExprTrait, OnConflict, Order, Query};
use sea_orm::{ConnectionTrait, DatabaseConnection, FromQueryResult};

use crate::seal::{begin_write, Sealer, Tx};
use crate::{decode_hash, lock_head, read_head, Chain, Error, Result};

/// The zone's own checkpoints.
pub const CHECKPOINTS_TABLE: &str = "audit_checkpoints";
/// The other zone's checkpoints, received inside its envelopes.
pub const WITNESS_TABLE: &str = "peer_checkpoints";

const CHECKPOINT_COLUMNS: [&str; 7] = [
    "zone",
    "chain",
    "seq",
    "value",
    "at",
    "public_key",
    "signature",
];

#[derive(FromQueryResult)]
struct CheckpointRow {
    zone: String,
    chain: String,
    seq: i64,
    value: String,
    at: i64,
    public_key: String,
    signature: String,
}

impl CheckpointRow {
    fn into_checkpoint(self) -> Result<AuditCheckpoint> {
        let malformed = |reason| Error::Malformed {
            seq: self.seq,
            reason,
        };
        let zone =
            Zone::parse(&self.zone).ok_or(malformed("a checkpoint names an unknown zone"))?;
        let value = decode_hash(&self.value).ok_or(malformed("a checkpoint value is not hex"))?;
        let mut signature = [0u8; 64];
        hex::decode_to_slice(&self.signature, &mut signature)
            .map_err(|_| malformed("a checkpoint signature is not hex"))?;
        let public_key = hex::decode(&self.public_key)
            .map_err(|_| malformed("a checkpoint public key is not hex"))?;
        Ok(AuditCheckpoint {
            zone,
            chain: self.chain,
            seq: u64::try_from(self.seq).map_err(|_| malformed("a negative checkpoint seq"))?,
            value,
            at: u64::try_from(self.at).map_err(|_| malformed("a negative checkpoint time"))?,
            public_key,
            signature,
        })
    }
}

fn values(c: &AuditCheckpoint) -> Result<[Expr; 7]> {
    Ok([
        Expr::value(c.zone.as_str()),
        Expr::value(c.chain.clone()),
        Expr::value(to_i64(c.seq)?),
        Expr::value(hex::encode(c.value)),
        Expr::value(to_i64(c.at)?),
        Expr::value(hex::encode(&c.public_key)),
        Expr::value(hex::encode(c.signature)),
    ])
}

fn to_i64(n: u64) -> Result<i64> {
    i64::try_from(n).map_err(|_| Error::Malformed {
        seq: i64::MAX,
        reason: "a checkpoint number does not fit the database",
    })
}

async fn insert_own<C: ConnectionTrait>(db: &C, c: &AuditCheckpoint) -> Result<()> {
    let mut insert = Query::insert();
    insert
        .into_table(CHECKPOINTS_TABLE)
        .columns(CHECKPOINT_COLUMNS)
        .values(values(c)?)
        .map_err(|e| sea_orm::DbErr::Custom(format!("building the checkpoint insert: {e}")))?
        .on_conflict(
            OnConflict::columns(["chain", "seq"])
                .do_nothing()
                .to_owned(),
        );
    db.execute(&insert).await?;
    Ok(())
}

/// The zone's checkpoint of `chain` at exactly `seq`, if there is one.
async fn own_at<C: ConnectionTrait>(
    db: &C,
    chain: Chain,
    seq: i64,
) -> Result<Option<AuditCheckpoint>> {
    let mut select = Query::select();
    select
        .columns(CHECKPOINT_COLUMNS)
        .from(CHECKPOINTS_TABLE)
        .and_where(Expr::col("chain").eq(chain.name()))
        .and_where(Expr::col("seq").eq(seq));
    match db.query_one(&select).await? {
        Some(row) => Ok(Some(
            CheckpointRow::from_query_result(&row, "")?.into_checkpoint()?,
        )),
        None => Ok(None),
    }
}

/// Sign and store a checkpoint of `chain` at (`seq`, `hash`), unless one exists at that seq
/// already (then that one is returned). Called with the head locked.
pub(crate) async fn checkpoint_at(
    tx: &Tx,
    chain: Chain,
    seq: i64,
    hash: [u8; 32],
    at: DateTime<Utc>,
) -> Result<AuditCheckpoint> {
    if let Some(existing) = own_at(tx, chain, seq).await? {
        return Ok(existing);
    }
    let checkpoint = tx
        .sealer()
        .sign_checkpoint(chain, seq, hash, at.timestamp_micros())?;
    insert_own(tx, &checkpoint).await?;
    Ok(checkpoint)
}

/// A checkpoint of `chain` at its current head, made in `tx` (or the stored one, if the head has
/// not moved since it was made). Takes the chain's append lock, so the checkpoint names a head
/// that no concurrent append can pass before `tx` ends.
pub async fn checkpoint(tx: &Tx, chain: Chain, now: DateTime<Utc>) -> Result<AuditCheckpoint> {
    let (seq, hash) = lock_head(tx, chain).await?;
    let value = decode_hash(&hash).ok_or(Error::Malformed {
        seq: 0,
        reason: "the head hash is not 64 hex digits",
    })?;
    checkpoint_at(tx, chain, seq, value, now).await
}

/// The witness an exported envelope carries: a checkpoint of each of `chains` at its head,
/// made in the export's transaction (after the export's own audit records, so the witness
/// covers them).
pub async fn witness_for_export(
    tx: &Tx,
    chains: &[Chain],
    now: DateTime<Utc>,
) -> Result<Vec<AuditCheckpoint>> {
    let mut out = Vec::with_capacity(chains.len());
    for chain in chains {
        out.push(checkpoint(tx, *chain, now).await?);
    }
    Ok(out)
}

/// The newest checkpoint of `chain`, if any.
pub async fn latest_checkpoint<C: ConnectionTrait>(
    db: &C,
    chain: Chain,
) -> Result<Option<AuditCheckpoint>> {
    let mut list = checkpoints_page(db, chain, None, 1, Order::Desc).await?;
    Ok(list.pop())
}

/// The zone's checkpoints of `chain` with a sequence number above `after_seq`, oldest first,
/// at most `limit`.
pub async fn checkpoints<C: ConnectionTrait>(
    db: &C,
    chain: Chain,
    after_seq: Option<i64>,
    limit: u64,
) -> Result<Vec<AuditCheckpoint>> {
    checkpoints_page(db, chain, after_seq, limit, Order::Asc).await
}

async fn checkpoints_page<C: ConnectionTrait>(
    db: &C,
    chain: Chain,
    after_seq: Option<i64>,
    limit: u64,
    order: Order,
) -> Result<Vec<AuditCheckpoint>> {
    let mut select = Query::select();
    select
        .columns(CHECKPOINT_COLUMNS)
        .from(CHECKPOINTS_TABLE)
        .and_where(Expr::col("chain").eq(chain.name()));
    if let Some(after) = after_seq {
        select.and_where(Expr::col("seq").gt(after));
    }
    select.order_by("seq", order).limit(std::cmp::max(limit, 1));
    let rows = db.query_all(&select).await?;
    rows.iter()
        .map(|row| CheckpointRow::from_query_result(row, "")?.into_checkpoint())
        .collect()
}

/// Make the checkpoints the policy owes by time: for each of `chains` whose head moved past its
/// newest checkpoint, and whose newest checkpoint is at least `policy.every` old (or that has
/// none), one checkpoint at the head, each in its own transaction. Returns what was made.
pub async fn checkpoint_due(
    db: &DatabaseConnection,
    sealer: &Sealer,
    chains: &[Chain],
    now: DateTime<Utc>,
) -> Result<Vec<AuditCheckpoint>> {
    let every = chrono::Duration::from_std(sealer.policy().every)
        .unwrap_or_else(|_| chrono::Duration::minutes(5));
    let mut made = Vec::new();
    for chain in chains {
        let head = read_head(db, *chain, false).await?;
        let newest = latest_checkpoint(db, *chain).await?;
        let due = match &newest {
            None => head.seq > 0,
            Some(c) => {
                let moved = u64::try_from(head.seq).unwrap_or(0) > c.seq;
                let made_at = DateTime::from_timestamp_micros(i64::try_from(c.at).unwrap_or(0))
                    .unwrap_or_default();
                moved && now.signed_duration_since(made_at) >= every
            }
        };
        if due {
            let tx = begin_write(db, sealer).await?;
            let c = checkpoint(&tx, *chain, now).await?;
            tx.commit().await?;
            made.push(c);
        }
    }
    Ok(made)
}

/// Check the checkpoints that arrived inside an envelope from `from` (the other zone) against
/// what was witnessed before, without writing anything.
///
/// Refuses a checkpoint of another zone than `from` ([`Error::WitnessZone`]), one whose
/// record was witnessed before with another value ([`Error::WitnessConflict`]: the other
/// zone's log was rewritten), and one made later than a witnessed checkpoint but at a lower
/// sequence number ([`Error::WitnessRegressed`]: the other zone's log went backwards, i.e. was
/// truncated). Signatures were checked when the envelope was verified.
pub async fn check_witness<C: ConnectionTrait>(
    db: &C,
    witness: &[AuditCheckpoint],
    from: Zone,
) -> Result<()> {
    for c in witness {
        if c.zone != from {
            return Err(Error::WitnessZone {
                expected: from,
                found: c.zone,
            });
        }
        // Same record, another value: the chain was rewritten.
        let mut same = Query::select();
        same.columns(CHECKPOINT_COLUMNS)
            .from(WITNESS_TABLE)
            .and_where(Expr::col("zone").eq(c.zone.as_str()))
            .and_where(Expr::col("chain").eq(c.chain.clone()))
            .and_where(Expr::col("seq").eq(to_i64(c.seq)?));
        if let Some(row) = db.query_one(&same).await? {
            let old = CheckpointRow::from_query_result(&row, "")?.into_checkpoint()?;
            if old.value != c.value {
                return Err(Error::WitnessConflict {
                    zone: c.zone,
                    chain: c.chain.clone(),
                    seq: c.seq,
                });
            }
            continue;
        }
        // Made later but at a lower sequence number: the chain went backwards.
        let mut later = Query::select();
        later
            .columns(CHECKPOINT_COLUMNS)
            .from(WITNESS_TABLE)
            .and_where(Expr::col("zone").eq(c.zone.as_str()))
            .and_where(Expr::col("chain").eq(c.chain.clone()))
            .and_where(Expr::col("seq").gt(to_i64(c.seq)?))
            .and_where(Expr::col("at").lt(to_i64(c.at)?))
            .order_by("seq", Order::Desc)
            .limit(1);
        if let Some(row) = db.query_one(&later).await? {
            let old = CheckpointRow::from_query_result(&row, "")?.into_checkpoint()?;
            return Err(Error::WitnessRegressed {
                zone: c.zone,
                chain: c.chain.clone(),
                seq: c.seq,
                witnessed: old.seq,
            });
        }
    }
    Ok(())
}

/// Keep the checkpoints that arrived inside an envelope from `from` (the other zone) as a
/// witness of its log, after [`check_witness`]; nothing is stored if any is refused. Returns
/// how many were new.
pub async fn store_witness(
    db: &DatabaseConnection,
    sealer: &Sealer,
    witness: &[AuditCheckpoint],
    from: Zone,
    received_in: &str,
    now: DateTime<Utc>,
) -> Result<usize> {
    if witness.is_empty() {
        return Ok(0);
    }
    let tx = begin_write(db, sealer).await?;
    check_witness(&tx, witness, from).await?;
    let mut new = 0;
    for c in witness {
        let mut insert = Query::insert();
        let mut cols: Vec<&str> = CHECKPOINT_COLUMNS.to_vec();
        cols.extend(["received_in", "received_at"]);
        let mut vals: Vec<Expr> = values(c)?.into();
        vals.push(Expr::value(received_in.to_owned()));
        vals.push(Expr::value(now));
        insert
            .into_table(WITNESS_TABLE)
            .columns(cols)
            .values(vals)
            .map_err(|e| sea_orm::DbErr::Custom(format!("building the witness insert: {e}")))?
            .on_conflict(
                OnConflict::columns(["zone", "chain", "seq"])
                    .do_nothing()
                    .to_owned(),
            );
        new += usize::try_from(tx.execute(&insert).await?.rows_affected()).unwrap_or(0);
    }
    tx.commit().await?;
    Ok(new)
}

/// The witness an export carries: a checkpoint of each of `chains` at its head, made (or
/// found) in one transaction of its own just before the document is sealed.
pub async fn export_witness(
    db: &DatabaseConnection,
    sealer: &Sealer,
    chains: &[Chain],
    now: DateTime<Utc>,
) -> Result<Vec<AuditCheckpoint>> {
    let tx = begin_write(db, sealer).await?;
    let witness = witness_for_export(&tx, chains, now).await?;
    tx.commit().await?;
    Ok(witness)
}

/// The checkpoints of `zone` this database keeps as a witness, oldest first.
pub async fn witnessed<C: ConnectionTrait>(db: &C, zone: Zone) -> Result<Vec<AuditCheckpoint>> {
    let mut select = Query::select();
    select
        .columns(CHECKPOINT_COLUMNS)
        .from(WITNESS_TABLE)
        .and_where(Expr::col("zone").eq(zone.as_str()))
        .order_by("chain", Order::Asc)
        .order_by("seq", Order::Asc);
    let rows = db.query_all(&select).await?;
    rows.iter()
        .map(|row| CheckpointRow::from_query_result(row, "")?.into_checkpoint())
        .collect()
}

/// A directory of checkpoint files, one JSON file per checkpoint
/// (`<zone>-<chain>-<seq, 20 digits>.json`), each written once and never changed: point it at
/// write-once media or a directory another host collects.
#[derive(Clone, Debug)]
pub struct CheckpointDir {
    path: PathBuf,
}

/// One checkpoint file as read back: where it came from and what it holds.
#[derive(Clone, Debug)]
pub struct LoadedCheckpoint {
    /// The file.
    pub path: PathBuf,
    /// The checkpoint, or why the file does not hold one.
    pub checkpoint: std::result::Result<AuditCheckpoint, String>,
}

impl CheckpointDir {
    /// The directory at `path`, created if missing.
    pub fn open(path: impl Into<PathBuf>) -> Result<CheckpointDir> {
        let path = path.into();
        std::fs::create_dir_all(&path).map_err(|e| Error::CheckpointFile {
            path: path.clone(),
            reason: e.to_string(),
        })?;
        Ok(CheckpointDir { path })
    }

    /// The directory.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The file name of a checkpoint.
    pub fn file_name(c: &AuditCheckpoint) -> String {
        format!("{}-{}-{:020}.json", c.zone, c.chain, c.seq)
    }

    /// Write `c` to its own file, created exclusively and synced. Returns `false` if the file
    /// exists already with the same content; a file with other content is an error (it is
    /// never overwritten).
    pub fn write(&self, c: &AuditCheckpoint) -> Result<bool> {
        use std::io::Write;
        let path = self.path.join(Self::file_name(c));
        let text = c.to_json()?;
        let file_error = |reason: String| Error::CheckpointFile {
            path: path.clone(),
            reason,
        };
        match std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&path)
        {
            Ok(mut file) => {
                file.write_all(text.as_bytes())
                    .and_then(|()| file.write_all(b"\n"))
                    .and_then(|()| file.sync_all())
                    .map_err(|e| file_error(e.to_string()))?;
                Ok(true)
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                let existing =
                    std::fs::read_to_string(&path).map_err(|e| file_error(e.to_string()))?;
                if existing.trim_end() == text {
                    Ok(false)
                } else {
                    Err(file_error(
                        "the file exists with another checkpoint; it is never overwritten".into(),
                    ))
                }
            }
            Err(e) => Err(file_error(e.to_string())),
        }
    }

    /// Write every stored checkpoint of `chains` that has no file yet. Returns how many files
    /// were written.
    pub async fn export_new<C: ConnectionTrait>(&self, db: &C, chains: &[Chain]) -> Result<usize> {
        let mut written = 0;
        for chain in chains {
            let newest_on_disk = self.newest_seq(*chain)?;
            let mut after = newest_on_disk;
            loop {
                let page = checkpoints(db, *chain, after, 500).await?;
                let Some(last) = page.last() else { break };
                after = Some(to_i64(last.seq)?);
                for c in &page {
                    if self.write(c)? {
                        written += 1;
                    }
                }
            }
        }
        Ok(written)
    }

    /// The highest sequence number of `chain` with a file here (any zone's file name with that
    /// chain counts: a directory serves one zone).
    fn newest_seq(&self, chain: Chain) -> Result<Option<i64>> {
        let entries = std::fs::read_dir(&self.path).map_err(|e| Error::CheckpointFile {
            path: self.path.clone(),
            reason: e.to_string(),
        })?;
        let suffix = format!("-{}-", chain.name());
        let mut newest = None;
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            let Some(stem) = name.strip_suffix(".json") else {
                continue;
            };
            let Some(pos) = stem.find(&suffix) else {
                continue;
            };
            let digits = stem.get(pos + suffix.len()..).unwrap_or_default();
            if let Ok(seq) = digits.parse::<i64>() {
                newest = std::cmp::max(newest, Some(seq));
            }
        }
        Ok(newest)
    }

    /// Read every checkpoint at `path`: a directory (every `*.json` file in it, sorted by name)
    /// or one file. A file that does not parse is returned with its reason, not skipped.
    pub fn read(path: &Path) -> Result<Vec<LoadedCheckpoint>> {
        let io = |e: std::io::Error| Error::CheckpointFile {
            path: path.to_path_buf(),
            reason: e.to_string(),
        };
        let mut files = Vec::new();
        if path.is_dir() {
            for entry in std::fs::read_dir(path).map_err(io)? {
                let entry = entry.map_err(io)?;
                let p = entry.path();
                if p.extension().and_then(|e| e.to_str()) == Some("json") {
                    files.push(p);
                }
            }
            files.sort();
        } else {
            files.push(path.to_path_buf());
        }
        Ok(files
            .into_iter()
            .map(|file| {
                let checkpoint = std::fs::read_to_string(&file)
                    .map_err(|e| e.to_string())
                    .and_then(|text| AuditCheckpoint::from_json(&text).map_err(|e| e.to_string()));
                LoadedCheckpoint {
                    path: file,
                    checkpoint,
                }
            })
            .collect())
    }
}

/// Run the checkpointer of a zone until `shutdown` completes: every `tick` (and once at the
/// start), make the checkpoints [`checkpoint_due`] owes and write new checkpoints to `dir`.
/// Failures are logged and retried at the next tick; they never stop the service.
pub async fn run_checkpointer<F>(
    db: DatabaseConnection,
    sealer: Sealer,
    chains: Vec<Chain>,
    dir: Option<CheckpointDir>,
    now: F,
    tick: Duration,
    shutdown: impl std::future::Future<Output = ()>,
) where
    F: Fn() -> DateTime<Utc>,
{
    tokio::pin!(shutdown);
    loop {
        match checkpoint_due(&db, &sealer, &chains, now()).await {
            Ok(made) => {
                for c in made {
                    tracing::info!(zone = %c.zone, chain = %c.chain, seq = c.seq, "audit checkpoint signed");
                }
            }
            Err(error) => {
                tracing::error!(%error, "could not make the audit checkpoints that are due")
            }
        }
        if let Some(dir) = &dir {
            match dir.export_new(&db, &chains).await {
                Ok(0) => {}
                Ok(n) => {
                    tracing::debug!(files = n, dir = %dir.path().display(), "audit checkpoints written")
                }
                Err(error) => {
                    tracing::error!(%error, dir = %dir.path().display(), "could not write audit checkpoints to the checkpoint directory")
                }
            }
        }
        tokio::select! {
            biased;
            () = &mut shutdown => return,
            () = tokio::time::sleep(tick) => {}
        }
    }
}
