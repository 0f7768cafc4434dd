//! Verifying a chain against everything there is a key for: the hash chain itself, the record
//! MACs (only with the zone's HSM), and signed checkpoints (with the zone's checkpoint public
//! key only: an auditor's machine needs no HSM). The report says what was checked and what was
//! not, so nothing is overstated: records after the newest checkpoint cannot be proven
//! complete (a truncation there is invisible without a later checkpoint), and without the HSM a
//! rewritten or forged record after the newest checkpoint cannot be told from a real one.

use std::sync::Arc;

use channel::MacKey;
use contracts::{AuditCheckpoint, Zone};
use sea_orm::sea_query::{Expr, ExprTrait, Order};
use sea_orm::{ConnectionTrait, FromQueryResult};
use serde::{Deserialize, Serialize};
use subtle::ConstantTimeEq;

use crate::seal::record_mac_input;
use crate::{
    decode_hash, read_head, record_hash_in, select_records, to_micros, Broken, BrokenReason, Chain,
    RecordRow, Result,
};

/// How many records are read per query.
const PAGE: u64 = 2000;

/// A checkpoint to check the chain against, and where it came from (a file, the other zone's
/// database, this database).
#[derive(Clone, Debug)]
pub struct Witness {
    /// Where it came from, for the report (a file path, `peer database`, `database`).
    pub source: String,
    /// The checkpoint.
    pub checkpoint: AuditCheckpoint,
}

/// What to verify besides the hash chain.
#[derive(Clone, Default)]
pub struct VerifyOptions {
    /// The zone whose database this is (required for MACs; checkpoints of another zone are
    /// reported as such).
    pub zone: Option<Zone>,
    /// The zone's MAC key (its HSM): every record's MAC is checked.
    pub mac_key: Option<Arc<dyn MacKey>>,
    /// The zone's checkpoint public key, pinned by the verifier: only checkpoints signed by it
    /// count. Without it, checkpoints are still compared with the chain, but reported as not
    /// authenticated.
    pub checkpoint_key: Option<p256::PublicKey>,
    /// Checkpoints from outside the database (files, the other zone's witness).
    pub witnesses: Vec<Witness>,
    /// Also check the checkpoints stored in this database.
    pub stored_checkpoints: bool,
}

impl std::fmt::Debug for VerifyOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VerifyOptions")
            .field("zone", &self.zone)
            .field("mac_key", &self.mac_key.is_some())
            .field("checkpoint_key", &self.checkpoint_key.is_some())
            .field("witnesses", &self.witnesses.len())
            .field("stored_checkpoints", &self.stored_checkpoints)
            .finish()
    }
}

/// Whether the records' MACs were checked.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum MacCoverage {
    /// This many records' MACs were checked with the zone's HSM.
    Verified(u64),
    /// No HSM was given: MACs were not checked.
    NotChecked,
}

/// What is wrong with a checkpoint, as checked against the chain.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum CheckpointProblem {
    /// The file or row does not hold a checkpoint.
    Malformed(String),
    /// It is a checkpoint of another zone.
    WrongZone(Zone),
    /// It is signed by another key than the zone's pinned checkpoint key.
    ForeignKey(String),
    /// Its signature does not verify: it was edited.
    BadSignature,
    /// The database no longer reaches it: the chain ends before its record (truncated).
    NotReached {
        /// The last record the database holds.
        last: i64,
    },
    /// The database's record at its sequence number has another chain value (rewritten).
    ValueMismatch,
    /// Not compared: the chain is broken before its record.
    BrokenBefore,
}

impl std::fmt::Display for CheckpointProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Malformed(reason) => write!(f, "it does not hold a checkpoint ({reason})"),
            Self::WrongZone(zone) => write!(f, "it is a checkpoint of the {zone} zone"),
            Self::ForeignKey(key_id) => write!(
                f,
                "it is signed by another key (key id {key_id}) than the zone's checkpoint key"
            ),
            Self::BadSignature => f.write_str("its signature does not verify (it was edited)"),
            Self::NotReached { last } => write!(
                f,
                "the database no longer reaches it: the chain ends at record {last} (records were deleted)"
            ),
            Self::ValueMismatch => f.write_str(
                "the database's record at that point has another chain value (the log was rewritten)",
            ),
            Self::BrokenBefore => f.write_str("not compared: the chain is broken before it"),
        }
    }
}

/// One checkpoint as checked.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckpointCheck {
    /// Where it came from.
    pub source: String,
    /// The record it names.
    pub seq: u64,
    /// When it was made, unix microseconds.
    pub at: u64,
    /// Whether its signature was checked against the pinned checkpoint key.
    pub authenticated: bool,
    /// `None` when the chain reaches it with the same value.
    pub problem: Option<CheckpointProblem>,
}

/// The outcome of [`verify_sealed`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SealedReport {
    /// The chain's name.
    pub chain: String,
    /// How many records verified, from record 1 up to the first broken one.
    pub records: u64,
    /// The head's sequence number.
    pub head: i64,
    /// The first record where the chain breaks (hash chain or MAC), if any.
    pub first_broken: Option<Broken>,
    /// Whether MACs were checked.
    pub macs: MacCoverage,
    /// Every checkpoint that was checked, in sequence order.
    pub checkpoints: Vec<CheckpointCheck>,
}

impl SealedReport {
    /// Whether nothing is wrong: no broken record and no checkpoint problem.
    pub fn is_intact(&self) -> bool {
        self.first_broken.is_none() && self.checkpoints.iter().all(|c| c.problem.is_none())
    }

    /// The first checkpoint with a problem, if any.
    pub fn first_bad_checkpoint(&self) -> Option<&CheckpointCheck> {
        self.checkpoints.iter().find(|c| c.problem.is_some())
    }

    /// The newest checkpoint that the chain reaches with the right value and that was
    /// authenticated with the pinned key: records up to it are proven complete.
    pub fn newest_good_checkpoint(&self) -> Option<&CheckpointCheck> {
        self.checkpoints
            .iter()
            .filter(|c| c.problem.is_none() && c.authenticated)
            .max_by_key(|c| c.seq)
    }

    /// Sentences saying what this verification could not cover.
    pub fn not_covered(&self) -> Vec<String> {
        let mut out = Vec::new();
        if self.macs == MacCoverage::NotChecked {
            out.push(
                "record MACs were not checked (no HSM): a record rewritten or forged after the newest checkpoint would not be noticed".to_owned(),
            );
        }
        let proven = self.newest_good_checkpoint().map_or(0, |c| c.seq);
        let proven = i64::try_from(proven).unwrap_or(i64::MAX);
        if self.head > proven {
            out.push(format!(
                "records {}..={} come after the newest authenticated checkpoint: their deletion from the end of the chain could not be detected",
                proven + 1,
                self.head
            ));
        }
        if self.checkpoints.iter().any(|c| !c.authenticated) {
            out.push(
                "some checkpoints were not authenticated (no checkpoint key given): they were only compared with the chain".to_owned(),
            );
        }
        out
    }
}

/// Walk `chain` from record 1 to the head and check, besides the hash chain, every record's
/// MAC (with `options.mac_key`) and every checkpoint given (`options.witnesses`, and the
/// database's own ones with `options.stored_checkpoints`).
pub async fn verify_sealed<C: ConnectionTrait>(
    db: &C,
    chain: Chain,
    options: &VerifyOptions,
) -> Result<SealedReport> {
    let mut witnesses: Vec<Witness> = options
        .witnesses
        .iter()
        .filter(|w| w.checkpoint.chain == chain.name())
        .cloned()
        .collect();
    if options.stored_checkpoints {
        let mut after = None;
        loop {
            let page = crate::checkpoints::checkpoints(db, chain, after, 1000).await?;
            let Some(last) = page.last() else { break };
            after = Some(i64::try_from(last.seq).unwrap_or(i64::MAX));
            witnesses.extend(page.into_iter().map(|checkpoint| Witness {
                source: "database".to_owned(),
                checkpoint,
            }));
        }
    }
    // Authenticate each checkpoint first; what fails here is not compared with the chain.
    let mut checks: Vec<(CheckpointCheck, Option<[u8; 32]>)> = witnesses
        .into_iter()
        .map(|w| authenticate(w, options))
        .collect();
    checks.sort_by_key(|(c, _)| c.seq);
    // The sequence numbers whose chain values authenticated checkpoints will ask for.
    let mut wanted: Vec<i64> = checks
        .iter()
        .filter(|(_, v)| v.is_some())
        .map(|(c, _)| i64::try_from(c.seq).unwrap_or(i64::MAX))
        .collect();
    wanted.dedup();

    // MACs bind the zone into their input: without a zone they cannot be checked.
    let mac = options.mac_key.as_ref().zip(options.zone);
    let mut prev = [0u8; 32];
    let mut expected: i64 = 1;
    // The highest sequence number whose record verified completely (hash, and MAC if checked).
    let mut verified_to: i64;
    let mut first_broken: Option<Broken> = None;
    // Chain values the checkpoints may ask for; record 0 is the empty chain.
    let mut values: Vec<(i64, [u8; 32])> = vec![(0, prev)];
    loop {
        let mut select = select_records(chain);
        select
            .and_where(Expr::col("seq").gte(expected))
            .order_by("seq", Order::Asc)
            .limit(PAGE);
        let rows = db.query_all(&select).await?;
        let last_page = (rows.len() as u64) < PAGE;
        let mut page_macs: Vec<(i64, Vec<u8>, Option<String>)> = Vec::new();
        let mut hash_break: Option<Broken> = None;
        for row in &rows {
            let row = RecordRow::from_query_result(row, "")?;
            let broken = |reason| {
                Some(Broken {
                    seq: row.seq,
                    reason,
                })
            };
            if row.seq != expected {
                hash_break = Some(Broken {
                    seq: expected,
                    reason: BrokenReason::Missing,
                });
                break;
            }
            if row.prev_hash != hex::encode(prev) {
                hash_break = broken(BrokenReason::PrevHashMismatch);
                break;
            }
            let at = to_micros(row.at)?;
            let hash = record_hash_in(
                chain,
                &prev,
                row.seq,
                at,
                &row.actor,
                &row.action,
                &row.object,
                &row.details,
            );
            // Microsecond truncation is idempotent, so a record written by `append` re-hashes
            // to the same value; `at` with finer precision can only come from a direct edit.
            if row.at != at || row.hash != hex::encode(hash) {
                hash_break = broken(BrokenReason::HashMismatch);
                break;
            }
            if let Some((_, zone)) = mac {
                page_macs.push((
                    row.seq,
                    record_mac_input(zone, chain, row.seq, &hash),
                    row.mac,
                ));
            }
            values.push((row.seq, hash));
            prev = hash;
            expected += 1;
        }
        // The MACs of the hash-verified prefix, on a blocking thread (each is an HSM call).
        if let Some((key, _)) = mac {
            let key = Arc::clone(key);
            let bad_mac =
                tokio::task::spawn_blocking(move || first_bad_mac(key.as_ref(), page_macs))
                    .await
                    .map_err(|e| crate::Error::Key(format!("the MAC check stopped: {e}")))??;
            if let Some(bad) = bad_mac {
                verified_to = bad.seq - 1;
                values.retain(|(seq, _)| *seq < bad.seq);
                first_broken = Some(bad);
                break;
            }
        }
        verified_to = expected - 1;
        if let Some(b) = hash_break {
            first_broken = Some(b);
            break;
        }
        if last_page {
            break;
        }
        // Keep only what checkpoints can still ask for.
        compact(&mut values, &wanted);
    }
    if first_broken.is_none() {
        let head = read_head(db, chain, false).await?;
        let last = expected - 1;
        if head.seq > last {
            first_broken = Some(Broken {
                seq: expected,
                reason: BrokenReason::Missing,
            });
        } else if head.seq != last || decode_hash(&head.hash) != Some(prev) {
            first_broken = Some(Broken {
                seq: last,
                reason: BrokenReason::HeadMismatch,
            });
        }
    }
    let records = u64::try_from(verified_to).unwrap_or(0);
    let macs_checked = records;
    let head = read_head(db, chain, false).await?.seq;
    let walked_to = verified_to;
    let broken_at = first_broken.as_ref().map(|b| b.seq);
    let checkpoints = checks
        .into_iter()
        .map(|(mut check, value)| {
            if check.problem.is_some() {
                return check;
            }
            let Some(value) = value else { return check };
            let seq = i64::try_from(check.seq).unwrap_or(i64::MAX);
            check.problem = match values.binary_search_by_key(&seq, |(s, _)| *s) {
                Ok(i) => match values.get(i) {
                    Some((_, v)) if *v == value => None,
                    _ => Some(CheckpointProblem::ValueMismatch),
                },
                Err(_) => match broken_at {
                    Some(b) if seq >= b => Some(CheckpointProblem::BrokenBefore),
                    _ if seq > walked_to => Some(CheckpointProblem::NotReached { last: walked_to }),
                    // Between checkpoints kept by `compact`: every kept seq is compared above.
                    _ => None,
                },
            };
            check
        })
        .collect();
    Ok(SealedReport {
        chain: chain.name().to_owned(),
        records,
        head,
        first_broken,
        macs: if mac.is_some() {
            MacCoverage::Verified(macs_checked)
        } else {
            MacCoverage::NotChecked
        },
        checkpoints,
    })
}

/// Drop chain values no checkpoint names (`wanted`, sorted), keeping the newest one.
fn compact(values: &mut Vec<(i64, [u8; 32])>, wanted: &[i64]) {
    let last = values.last().copied();
    values.retain(|(seq, _)| wanted.binary_search(seq).is_ok());
    if let Some(last) = last {
        if values.last() != Some(&last) {
            values.push(last);
        }
    }
}

/// The signature and zone checks of one checkpoint; returns the value to compare with the
/// chain when they pass.
fn authenticate(w: Witness, options: &VerifyOptions) -> (CheckpointCheck, Option<[u8; 32]>) {
    let c = &w.checkpoint;
    let mut check = CheckpointCheck {
        source: w.source.clone(),
        seq: c.seq,
        at: c.at,
        authenticated: false,
        problem: None,
    };
    if let Some(zone) = options.zone {
        if c.zone != zone {
            check.problem = Some(CheckpointProblem::WrongZone(c.zone));
            return (check, None);
        }
    }
    let verified = match &options.checkpoint_key {
        Some(key) => c.verify(key).map(|()| true),
        None => c.verify_self().map(|()| false),
    };
    match verified {
        Ok(authenticated) => {
            check.authenticated = authenticated;
            (check, Some(c.value))
        }
        Err(contracts::Error::UnknownSigner { key_id }) => {
            check.problem = Some(CheckpointProblem::ForeignKey(key_id));
            (check, None)
        }
        Err(contracts::Error::BadSignature) => {
            check.problem = Some(CheckpointProblem::BadSignature);
            (check, None)
        }
        Err(other) => {
            check.problem = Some(CheckpointProblem::Malformed(other.to_string()));
            (check, None)
        }
    }
}

/// The first record of a page whose stored MAC is missing or is not the HSM's MAC.
fn first_bad_mac(
    key: &dyn MacKey,
    page: Vec<(i64, Vec<u8>, Option<String>)>,
) -> Result<Option<Broken>> {
    for (seq, input, stored) in page {
        let Some(stored) = stored.as_deref().and_then(decode_hash) else {
            return Ok(Some(Broken {
                seq,
                reason: BrokenReason::MacMissing,
            }));
        };
        let expected = key
            .mac(&input)
            .map_err(|e| crate::Error::Key(e.to_string()))?;
        if !bool::from(expected.ct_eq(&stored)) {
            return Ok(Some(Broken {
                seq,
                reason: BrokenReason::MacMismatch,
            }));
        }
    }
    Ok(None)
}
