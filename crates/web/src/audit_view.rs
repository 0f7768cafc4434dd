//! How both zones' auditor pages see an audit chain's verification: the report of
//! [`audit::verify_sealed`] as typed JSON, with stable codes the front ends translate (never
//! shown raw), and the newest signed checkpoint.

use poem_openapi::Object;

/// One chain's verification.
#[derive(Debug, Clone, Object)]
pub struct ChainVerifyView {
    /// `audit` (offline), `operation` or `transaction` (online).
    pub chain: String,
    /// Whether nothing is wrong: no broken record, no checkpoint problem.
    pub intact: bool,
    /// Records verified, from the first up to the first broken one.
    pub records: u64,
    /// The chain's head (its last record's sequence number).
    pub head: i64,
    /// The first broken record, if any.
    pub broken_at: Option<i64>,
    /// Why it is broken: `missing`, `prev_hash_mismatch`, `hash_mismatch`, `head_mismatch`,
    /// `mac_mismatch` (forged or rewritten without the HSM), `mac_missing`.
    pub broken_reason: Option<String>,
    /// Records whose MAC the zone's HSM verified (none when it was not asked).
    pub macs_verified: Option<u64>,
    /// Checkpoints checked (stored in the database and in the checkpoint directory).
    pub checkpoints_checked: u64,
    /// Checkpoints with a problem, in sequence order.
    pub bad_checkpoints: Vec<CheckpointProblemView>,
    /// The newest checkpoint the chain reaches with the right value, signed by the zone's key.
    pub newest_checkpoint: Option<CheckpointView>,
    /// Records after the newest checkpoint (their deletion from the end could not be seen
    /// from the checkpoints alone; the MACs and the next checkpoint cover them).
    pub after_newest_checkpoint: i64,
}

/// A verified checkpoint.
#[derive(Debug, Clone, Object)]
pub struct CheckpointView {
    /// The record it names.
    pub seq: u64,
    /// When the HSM signed it (RFC 3339).
    pub at: String,
    /// Where it was read (`database`, a checkpoint file, the other zone's witness).
    pub source: String,
}

/// A checkpoint the chain does not match.
#[derive(Debug, Clone, Object)]
pub struct CheckpointProblemView {
    /// The record it names.
    pub seq: u64,
    /// Where it was read.
    pub source: String,
    /// `malformed`, `wrong_zone`, `foreign_key`, `bad_signature`, `not_reached` (records were
    /// deleted), `value_mismatch` (the log was rewritten), `broken_before`.
    pub problem: String,
}

fn reason_code(reason: &audit::BrokenReason) -> &'static str {
    use audit::BrokenReason as R;
    match reason {
        R::Missing => "missing",
        R::PrevHashMismatch => "prev_hash_mismatch",
        R::HashMismatch => "hash_mismatch",
        R::HeadMismatch => "head_mismatch",
        R::MacMismatch => "mac_mismatch",
        R::MacMissing => "mac_missing",
    }
}

fn problem_code(problem: &audit::CheckpointProblem) -> &'static str {
    use audit::CheckpointProblem as P;
    match problem {
        P::Malformed(_) => "malformed",
        P::WrongZone(_) => "wrong_zone",
        P::ForeignKey(_) => "foreign_key",
        P::BadSignature => "bad_signature",
        P::NotReached { .. } => "not_reached",
        P::ValueMismatch => "value_mismatch",
        P::BrokenBefore => "broken_before",
    }
}

fn rfc3339_micros(micros: u64) -> String {
    i64::try_from(micros)
        .ok()
        .and_then(chrono::DateTime::from_timestamp_micros)
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
        .unwrap_or_default()
}

impl From<&audit::SealedReport> for ChainVerifyView {
    fn from(r: &audit::SealedReport) -> Self {
        let newest = r.newest_good_checkpoint();
        let proven = newest.map_or(0, |c| i64::try_from(c.seq).unwrap_or(i64::MAX));
        ChainVerifyView {
            chain: r.chain.clone(),
            intact: r.is_intact(),
            records: r.records,
            head: r.head,
            broken_at: r.first_broken.as_ref().map(|b| b.seq),
            broken_reason: r
                .first_broken
                .as_ref()
                .map(|b| reason_code(&b.reason).to_owned()),
            macs_verified: match r.macs {
                audit::MacCoverage::Verified(n) => Some(n),
                audit::MacCoverage::NotChecked => None,
            },
            checkpoints_checked: u64::try_from(r.checkpoints.len()).unwrap_or(u64::MAX),
            bad_checkpoints: r
                .checkpoints
                .iter()
                .filter_map(|c| {
                    c.problem.as_ref().map(|p| CheckpointProblemView {
                        seq: c.seq,
                        source: c.source.clone(),
                        problem: problem_code(p).to_owned(),
                    })
                })
                .collect(),
            newest_checkpoint: newest.map(|c| CheckpointView {
                seq: c.seq,
                at: rfc3339_micros(c.at),
                source: c.source.clone(),
            }),
            after_newest_checkpoint: (r.head - proven).max(0),
        }
    }
}

/// The checkpoint files of `dir` as witnesses for [`audit::verify_sealed`]; a file that does
/// not hold a checkpoint is reported as a `malformed` problem.
pub fn checkpoint_files(
    dir: Option<&audit::CheckpointDir>,
) -> (Vec<audit::Witness>, Vec<CheckpointProblemView>) {
    let mut witnesses = Vec::new();
    let mut unreadable = Vec::new();
    let Some(dir) = dir else {
        return (witnesses, unreadable);
    };
    match audit::CheckpointDir::read(dir.path()) {
        Ok(loaded) => {
            for l in loaded {
                match l.checkpoint {
                    Ok(checkpoint) => witnesses.push(audit::Witness {
                        source: l.path.display().to_string(),
                        checkpoint,
                    }),
                    Err(_) => unreadable.push(CheckpointProblemView {
                        seq: 0,
                        source: l.path.display().to_string(),
                        problem: "malformed".to_owned(),
                    }),
                }
            }
        }
        Err(_) => unreadable.push(CheckpointProblemView {
            seq: 0,
            source: dir.path().display().to_string(),
            problem: "malformed".to_owned(),
        }),
    }
    (witnesses, unreadable)
}
