//! Keyed records and signed checkpoints, tried as an insider with write access to the database
//! would (DESIGN.md §14): every tampering that the plain hash chain cannot see is named, and
//! what cannot be seen without a key is reported as not covered.

use std::sync::Arc;

use audit::{
    BrokenReason, Chain, CheckpointDir, CheckpointPolicy, CheckpointProblem, Entry, MacCoverage,
    VerifyOptions, Witness, Zone,
};
use channel::{MacKey, SignerError};
use chrono::{DateTime, Duration, Utc};
use sea_orm::{ConnectionTrait, DatabaseConnection, Statement};
use serde_json::json;
use testkit::db::TestDb;

use crate::connect;

fn t0() -> DateTime<Utc> {
    DateTime::from_timestamp(1_760_000_000, 0).unwrap()
}

fn entry(i: i64) -> Entry {
    Entry {
        at: t0() + Duration::seconds(i),
        actor: format!("user-{}", i % 3),
        action: "case.created".to_owned(),
        object: format!("case-{i}"),
        details: json!({"i": i, "note": "何时 when"}),
    }
}

/// The shared offline HSM's sealer, with a checkpoint every `every` records.
fn sealer_every(every: u64) -> audit::Sealer {
    crate::sealer().with_policy(CheckpointPolicy {
        every_records: every,
        every: std::time::Duration::from_secs(300),
    })
}

async fn append_n(db: &DatabaseConnection, sealer: &audit::Sealer, from: i64, n: i64) {
    for i in from..from + n {
        let tx = audit::begin_write(db, sealer).await.unwrap();
        audit::append(&tx, entry(i)).await.unwrap();
        tx.commit().await.unwrap();
    }
}

/// What the zone's operator checks: MACs with the HSM, stored checkpoints with the key.
fn with_hsm(sealer: &audit::Sealer) -> VerifyOptions {
    VerifyOptions {
        zone: Some(Zone::Offline),
        mac_key: Some(sealer.mac_key_arc()),
        checkpoint_key: Some(sealer.checkpoint_public_key()),
        witnesses: Vec::new(),
        stored_checkpoints: true,
    }
}

/// What an auditor's machine checks: public keys only, against `witnesses`.
fn public_only(sealer: &audit::Sealer, witnesses: Vec<Witness>) -> VerifyOptions {
    VerifyOptions {
        zone: Some(Zone::Offline),
        mac_key: None,
        checkpoint_key: Some(sealer.checkpoint_public_key()),
        witnesses,
        stored_checkpoints: false,
    }
}

async fn exec(db: &DatabaseConnection, sql: &str) {
    db.execute_unprepared(sql).await.unwrap();
}

/// The zone's checkpoints as external witnesses (what a checkpoint directory holds).
async fn files(db: &DatabaseConnection) -> Vec<Witness> {
    audit::checkpoints::checkpoints(db, Chain::AUDIT, None, 1000)
        .await
        .unwrap()
        .into_iter()
        .map(|checkpoint| Witness {
            source: format!("file {}", checkpoint.seq),
            checkpoint,
        })
        .collect()
}

/// The insider's tools (`testkit::tamper`) on the offline audit chain.
async fn rewrite_from(db: &DatabaseConnection, seq: i64, details: serde_json::Value) {
    testkit::tamper::rewrite_from(db, Chain::AUDIT, seq, details)
        .await
        .unwrap();
}

async fn forge_append(db: &DatabaseConnection, copy_mac_of: Option<i64>) -> i64 {
    testkit::tamper::forge_append(db, Chain::AUDIT, copy_mac_of)
        .await
        .unwrap()
}

async fn truncate_to(db: &DatabaseConnection, keep: i64) {
    testkit::tamper::truncate_to(db, Chain::AUDIT, keep)
        .await
        .unwrap();
}

#[tokio::test]
async fn records_are_maced_and_checkpointed_in_their_transaction() {
    for tdb in TestDb::both().await.unwrap() {
        let db = connect(&tdb).await;
        let sealer = sealer_every(4);
        append_n(&db, &sealer, 1, 10).await;
        let stored = audit::checkpoints::checkpoints(&db, Chain::AUDIT, None, 100)
            .await
            .unwrap();
        assert_eq!(
            stored.iter().map(|c| c.seq).collect::<Vec<_>>(),
            [4, 8],
            "{}",
            tdb.kind()
        );
        for c in &stored {
            c.verify(&sealer.checkpoint_public_key()).unwrap();
            assert_eq!(c.zone, Zone::Offline);
            assert_eq!(c.chain, "audit");
        }
        let report = audit::verify_sealed(&db, Chain::AUDIT, &with_hsm(&sealer))
            .await
            .unwrap();
        assert!(report.is_intact(), "{}: {report:?}", tdb.kind());
        assert_eq!(report.macs, MacCoverage::Verified(10));
        assert_eq!(report.checkpoints.len(), 2);
        assert!(report.checkpoints.iter().all(|c| c.authenticated));
        // Records 9 and 10 come after the newest checkpoint: said, not hidden.
        let notes = report.not_covered().join(" | ");
        assert!(notes.contains("records 9..=10"), "{notes}");

        // An export checkpoints the head: now everything is covered.
        let witness = audit::export_witness(&db, &sealer, &[Chain::AUDIT], t0())
            .await
            .unwrap();
        assert_eq!(witness.len(), 1);
        assert_eq!(witness[0].seq, 10);
        // A second export with the head unmoved returns the same checkpoint, not a new one.
        let again = audit::export_witness(&db, &sealer, &[Chain::AUDIT], t0() + Duration::hours(1))
            .await
            .unwrap();
        assert_eq!(again, witness);
        let report = audit::verify_sealed(&db, Chain::AUDIT, &with_hsm(&sealer))
            .await
            .unwrap();
        assert!(
            report.not_covered().is_empty(),
            "{:?}",
            report.not_covered()
        );
    }
}

/// A token that cannot MAC (removed, session lost): nothing is written.
struct Unplugged;

impl MacKey for Unplugged {
    fn mac(&self, _: &[u8]) -> Result<[u8; 32], SignerError> {
        Err(SignerError("the token was removed".into()))
    }
}

#[tokio::test]
async fn an_hsm_that_cannot_seal_stops_the_change() {
    for tdb in TestDb::both().await.unwrap() {
        let db = connect(&tdb).await;
        let hsm = testkit::hsm::shared_offline_hsm();
        let unplugged = audit::Sealer::new(
            Zone::Offline,
            Arc::new(Unplugged),
            Arc::new(hsm.checkpoint_signer()),
        );
        let tx = audit::begin_write(&db, &unplugged).await.unwrap();
        let err = audit::append(&tx, entry(1)).await.unwrap_err();
        assert!(matches!(err, audit::Error::Key(_)), "{err:?}");
        assert!(err.to_string().contains("change was not made"), "{err}");
        drop(tx);
        assert_eq!(
            audit::verify(&db).await.unwrap().records,
            0,
            "{}",
            tdb.kind()
        );
    }
}

#[tokio::test]
async fn every_insider_tampering_is_named() {
    for tdb in TestDb::both().await.unwrap() {
        let kind = tdb.kind();
        // Each case on a fresh chain of 14 records with checkpoints at 4, 8 and 12 (and the
        // checkpoint files kept outside the database).
        type Tamper = for<'a> fn(
            &'a DatabaseConnection,
        )
            -> std::pin::Pin<Box<dyn std::future::Future<Output = ()> + 'a>>;
        let cases: Vec<(&str, Tamper)> = vec![
            ("truncate the tail below a checkpoint", |db| {
                Box::pin(truncate_to(db, 6))
            }),
            ("wipe every record", |db| Box::pin(truncate_to(db, 0))),
            ("rewrite record 3 and recompute every later hash", |db| {
                Box::pin(rewrite_from(db, 3, json!({"i": 3, "note": "rewritten"})))
            }),
            ("rewrite record 13 (after the newest checkpoint)", |db| {
                Box::pin(rewrite_from(db, 13, json!({"i": 13, "note": "rewritten"})))
            }),
            ("append a forged record with a correct hash", |db| {
                Box::pin(async move {
                    forge_append(db, None).await;
                })
            }),
            ("append a forged record with a copied MAC", |db| {
                Box::pin(async move {
                    forge_append(db, Some(14)).await;
                })
            }),
            ("swap two records", |db| {
                Box::pin(async move {
                    testkit::tamper::swap(db, Chain::AUDIT, 5, 6).await.unwrap();
                })
            }),
            ("edit a stored checkpoint", |db| {
                Box::pin(async move {
                    let sql = format!(
                        "UPDATE audit_checkpoints SET value = '{}' WHERE seq = 8",
                        "ab".repeat(32)
                    );
                    exec(db, &sql).await;
                })
            }),
        ];
        for (what, tamper) in cases {
            let db = connect(&tdb).await;
            // A fresh chain: tests share the database of this engine.
            exec(&db, "DELETE FROM audit_log").await;
            exec(&db, "DELETE FROM audit_checkpoints").await;
            exec(
                &db,
                &format!(
                    "UPDATE audit_head SET seq = 0, hash = '{}' WHERE id = 1",
                    audit::GENESIS_HASH
                ),
            )
            .await;
            let sealer = sealer_every(4);
            append_n(&db, &sealer, 1, 14).await;
            let outside = files(&db).await;
            assert_eq!(outside.len(), 3);
            let untouched = audit::verify_sealed(&db, Chain::AUDIT, &with_hsm(&sealer))
                .await
                .unwrap();
            assert!(untouched.is_intact(), "{kind}: {what}: {untouched:?}");

            tamper(&db).await;

            let operator = VerifyOptions {
                witnesses: outside.clone(),
                ..with_hsm(&sealer)
            };
            let report = audit::verify_sealed(&db, Chain::AUDIT, &operator)
                .await
                .unwrap();
            assert!(
                !report.is_intact(),
                "{kind}: {what}: not detected: {report:?}"
            );
            let auditor = audit::verify_sealed(&db, Chain::AUDIT, &public_only(&sealer, outside))
                .await
                .unwrap();
            match what {
                "truncate the tail below a checkpoint" => {
                    // The chain itself is consistent; the checkpoint of record 8 is not reached.
                    assert!(report.first_broken.is_none(), "{kind}: {what}");
                    let bad = report.first_bad_checkpoint().unwrap();
                    assert_eq!(bad.seq, 8);
                    assert_eq!(bad.problem, Some(CheckpointProblem::NotReached { last: 6 }));
                    // The auditor, with public keys only, sees it too.
                    assert_eq!(auditor.first_bad_checkpoint().unwrap().seq, 8, "{kind}");
                }
                "wipe every record" => {
                    assert!(report.first_broken.is_none(), "{kind}: {what}");
                    let bad = report.first_bad_checkpoint().unwrap();
                    assert_eq!(bad.seq, 4);
                    assert_eq!(bad.problem, Some(CheckpointProblem::NotReached { last: 0 }));
                    assert!(!auditor.is_intact(), "{kind}: {what}");
                }
                "rewrite record 3 and recompute every later hash" => {
                    let broken = report.first_broken.clone().unwrap();
                    assert_eq!((broken.seq, broken.reason), (3, BrokenReason::MacMismatch));
                    // Without the HSM the checkpoint of record 4 no longer matches.
                    assert!(auditor.first_broken.is_none(), "{kind}");
                    let bad = auditor.first_bad_checkpoint().unwrap();
                    assert_eq!(
                        (bad.seq, bad.problem.clone()),
                        (4, Some(CheckpointProblem::ValueMismatch))
                    );
                }
                "rewrite record 13 (after the newest checkpoint)" => {
                    let broken = report.first_broken.clone().unwrap();
                    assert_eq!((broken.seq, broken.reason), (13, BrokenReason::MacMismatch));
                    // After the newest checkpoint the auditor cannot tell, and says so.
                    assert!(auditor.is_intact(), "{kind}");
                    let notes = auditor.not_covered().join(" | ");
                    assert!(notes.contains("records 13..=14"), "{notes}");
                    assert!(notes.contains("MACs were not checked"), "{notes}");
                }
                "append a forged record with a correct hash" => {
                    let broken = report.first_broken.clone().unwrap();
                    assert_eq!((broken.seq, broken.reason), (15, BrokenReason::MacMissing));
                }
                "append a forged record with a copied MAC" => {
                    let broken = report.first_broken.clone().unwrap();
                    assert_eq!((broken.seq, broken.reason), (15, BrokenReason::MacMismatch));
                }
                "swap two records" => {
                    let broken = report.first_broken.clone().unwrap();
                    assert_eq!(broken.seq, 5, "{kind}");
                    assert!(!auditor.is_intact());
                }
                "edit a stored checkpoint" => {
                    assert!(report.first_broken.is_none());
                    let bad = report.first_bad_checkpoint().unwrap();
                    assert_eq!(
                        (bad.seq, bad.source.as_str(), bad.problem.clone()),
                        (8, "database", Some(CheckpointProblem::BadSignature))
                    );
                }
                other => panic!("unexpected case {other}"),
            }
        }
    }
}

#[tokio::test]
async fn a_checkpoint_signed_by_another_key_or_of_another_zone_is_refused() {
    for tdb in TestDb::both().await.unwrap() {
        let db = connect(&tdb).await;
        exec(&db, "DELETE FROM audit_checkpoints").await;
        let sealer = sealer_every(0);
        append_n(&db, &sealer, 1, 3).await;
        // Another HSM signs a checkpoint of the very same chain value.
        let other = testkit::hsm::offline_hsm();
        let foreign = testkit::hsm::offline_sealer_of(&other).with_policy(CheckpointPolicy {
            every_records: 0,
            every: std::time::Duration::from_secs(300),
        });
        let forged = audit::export_witness(&db, &foreign, &[Chain::AUDIT], t0())
            .await
            .unwrap();
        exec(&db, "DELETE FROM audit_checkpoints").await;
        let online = testkit::hsm::online_sealer();
        let wrong_zone = audit::export_witness(&db, &online, &[Chain::AUDIT], t0())
            .await
            .unwrap();
        exec(&db, "DELETE FROM audit_checkpoints").await;
        let witnesses = forged
            .into_iter()
            .map(|c| Witness {
                source: "forged".into(),
                checkpoint: c,
            })
            .chain(wrong_zone.into_iter().map(|c| Witness {
                source: "online".into(),
                checkpoint: c,
            }))
            .collect();
        let report = audit::verify_sealed(&db, Chain::AUDIT, &public_only(&sealer, witnesses))
            .await
            .unwrap();
        assert!(!report.is_intact(), "{}", tdb.kind());
        let problems: Vec<_> = report
            .checkpoints
            .iter()
            .map(|c| (c.source.as_str(), c.problem.clone()))
            .collect();
        assert!(
            matches!(problems.as_slice(), [(_, Some(_)), (_, Some(_))]),
            "{problems:?}"
        );
        assert!(problems
            .iter()
            .any(|(s, p)| *s == "forged" && matches!(p, Some(CheckpointProblem::ForeignKey(_)))));
        assert!(
            problems
                .iter()
                .any(|(s, p)| *s == "online"
                    && *p == Some(CheckpointProblem::WrongZone(Zone::Online)))
        );
    }
}

#[tokio::test]
async fn checkpoints_are_due_by_time_only_when_the_head_moved() {
    for tdb in TestDb::both().await.unwrap() {
        let db = connect(&tdb).await;
        exec(&db, "DELETE FROM audit_checkpoints").await;
        let sealer = crate::sealer().with_policy(CheckpointPolicy {
            every_records: 0,
            every: std::time::Duration::from_secs(300),
        });
        let start = audit::verify(&db).await.unwrap().records as i64;
        append_n(&db, &sealer, start + 1, 2).await;
        let chains = [Chain::AUDIT];
        let made = audit::checkpoint_due(&db, &sealer, &chains, t0())
            .await
            .unwrap();
        assert_eq!(made.len(), 1, "no checkpoint yet: one is due");
        // Nothing new: nothing due, however late.
        let none = audit::checkpoint_due(&db, &sealer, &chains, t0() + Duration::hours(5))
            .await
            .unwrap();
        assert!(none.is_empty());
        append_n(&db, &sealer, start + 3, 1).await;
        // The head moved, but the newest checkpoint is younger than 5 minutes.
        let early = audit::checkpoint_due(&db, &sealer, &chains, t0() + Duration::minutes(4))
            .await
            .unwrap();
        assert!(early.is_empty());
        let late = audit::checkpoint_due(&db, &sealer, &chains, t0() + Duration::minutes(6))
            .await
            .unwrap();
        assert_eq!(late.len(), 1);
        assert_eq!(late[0].seq, made[0].seq + 1);
    }
}

#[tokio::test]
async fn checkpoint_files_are_written_once_and_an_edited_file_is_named() {
    let tdb = TestDb::sqlite().unwrap();
    let db = connect(&tdb).await;
    let sealer = sealer_every(2);
    append_n(&db, &sealer, 1, 5).await;
    let dir = tempfile::tempdir().unwrap();
    let files_dir = CheckpointDir::open(dir.path().join("offline")).unwrap();
    assert_eq!(files_dir.export_new(&db, &[Chain::AUDIT]).await.unwrap(), 2);
    // Nothing new: nothing written again.
    assert_eq!(files_dir.export_new(&db, &[Chain::AUDIT]).await.unwrap(), 0);
    append_n(&db, &sealer, 6, 2).await;
    assert_eq!(files_dir.export_new(&db, &[Chain::AUDIT]).await.unwrap(), 1);
    let loaded = CheckpointDir::read(files_dir.path()).unwrap();
    assert_eq!(loaded.len(), 3);
    let first = loaded[0].checkpoint.clone().unwrap();
    // A file is never overwritten with other content.
    let mut other = first.clone();
    other.at += 1;
    assert!(files_dir.write(&other).is_err());
    assert!(
        !files_dir.write(&first).unwrap(),
        "same content: no new file"
    );

    // Somebody edits a file: the verification names it.
    let path = loaded[1].path.clone();
    let text = std::fs::read_to_string(&path).unwrap();
    let edited = text.replacen("\"seq\": 4", "\"seq\": 3", 1);
    assert_ne!(text, edited);
    std::fs::write(&path, edited).unwrap();
    let witnesses: Vec<Witness> = CheckpointDir::read(files_dir.path())
        .unwrap()
        .into_iter()
        .map(|l| Witness {
            source: l.path.display().to_string(),
            checkpoint: l.checkpoint.unwrap(),
        })
        .collect();
    let report = audit::verify_sealed(&db, Chain::AUDIT, &public_only(&sealer, witnesses))
        .await
        .unwrap();
    let bad = report.first_bad_checkpoint().unwrap();
    assert_eq!(bad.source, path.display().to_string());
    assert_eq!(bad.problem, Some(CheckpointProblem::BadSignature));
}

#[tokio::test]
async fn a_witness_that_contradicts_an_earlier_one_is_refused_and_nothing_stored() {
    for tdb in TestDb::both().await.unwrap() {
        let db = connect(&tdb).await;
        exec(&db, "DELETE FROM peer_checkpoints").await;
        // The online zone's checkpoints, as they arrive inside its envelopes.
        let online = testkit::hsm::online_sealer();
        let sign = |seq: u64, value: u8, at: u64| {
            contracts::AuditCheckpoint::sign(
                &contracts::CheckpointStatement {
                    zone: Zone::Online,
                    chain: "operation",
                    seq,
                    value: [value; 32],
                    at,
                },
                &testkit::hsm::shared_online_hsm().checkpoint_signer(),
            )
            .unwrap()
        };
        let here = crate::sealer();
        let first = vec![sign(10, 1, 1_000)];
        assert_eq!(
            audit::store_witness(&db, &here, &first, Zone::Online, "env-1", t0())
                .await
                .unwrap(),
            1
        );
        // The same envelope again: nothing new.
        assert_eq!(
            audit::store_witness(&db, &here, &first, Zone::Online, "env-1", t0())
                .await
                .unwrap(),
            0
        );
        let count = || async {
            db.query_one_raw(Statement::from_string(
                db.get_database_backend(),
                "SELECT COUNT(*) AS n FROM peer_checkpoints",
            ))
            .await
            .unwrap()
            .unwrap()
            .try_get::<i64>("", "n")
            .unwrap()
        };
        // Record 10 with another value: the online log was rewritten.
        let rewritten = vec![sign(12, 2, 2_000), sign(10, 9, 2_000)];
        let err = audit::store_witness(&db, &here, &rewritten, Zone::Online, "env-2", t0())
            .await
            .unwrap_err();
        assert!(
            matches!(err, audit::Error::WitnessConflict { seq: 10, .. }),
            "{err:?}"
        );
        assert_eq!(count().await, 1, "{}: nothing stored", tdb.kind());
        // Made later, at a lower record: the online log went backwards (truncated).
        let err = audit::check_witness(&db, &[sign(7, 3, 3_000)], Zone::Online)
            .await
            .unwrap_err();
        assert!(
            matches!(
                err,
                audit::Error::WitnessRegressed {
                    seq: 7,
                    witnessed: 10,
                    ..
                }
            ),
            "{err:?}"
        );
        // An older checkpoint arriving late (an envelope imported out of order) is fine.
        audit::check_witness(&db, &[sign(7, 3, 500)], Zone::Online)
            .await
            .unwrap();
        // A checkpoint of this zone in the other zone's envelope is refused.
        let own = audit::export_witness(&db, &here, &[Chain::AUDIT], t0())
            .await
            .unwrap();
        assert!(matches!(
            audit::check_witness(&db, &own, Zone::Online).await,
            Err(audit::Error::WitnessZone { .. })
        ));
        assert_eq!(
            audit::witnessed(&db, Zone::Online).await.unwrap(),
            first,
            "{}",
            tdb.kind()
        );
        let _ = online;
    }
}
