use std::sync::Arc;

use audit::{BrokenReason, Entry, Filter};
use chrono::{DateTime, Duration, Utc};
use sea_orm::{ConnectionTrait, DatabaseConnection};
use serde_json::json;
use testkit::db::TestDb;

use crate::{connect, sealer};

fn t0() -> DateTime<Utc> {
    // A fixed instant with sub-microsecond digits, which the log must truncate consistently.
    DateTime::from_timestamp(1_750_000_000, 123_456_789).unwrap()
}

fn entry(i: i64) -> Entry {
    Entry {
        at: t0() + Duration::seconds(i),
        actor: format!("user-{}", i % 3),
        action: if i % 2 == 0 {
            "case.created"
        } else {
            "user.created"
        }
        .to_owned(),
        object: format!("object-{i}"),
        details: json!({"z": i, "a": {"nested": [1, 2.5, "x"], "b": null}, "ünï": "cödé"}),
    }
}

async fn append_n(db: &DatabaseConnection, n: i64) {
    for i in 1..=n {
        let txn = audit::begin_write(db, &sealer()).await.unwrap();
        let rec = audit::append(&txn, entry(i)).await.unwrap();
        assert_eq!(rec.seq, i);
        txn.commit().await.unwrap();
    }
}

async fn exec(db: &DatabaseConnection, sql: &str) {
    db.execute_unprepared(sql).await.unwrap();
}

#[tokio::test]
async fn append_then_verify_on_both_backends() {
    for tdb in TestDb::both().await.unwrap() {
        let db = connect(&tdb).await;
        let empty = audit::verify(&db).await.unwrap();
        assert_eq!(empty.records, 0);
        assert!(empty.is_intact(), "{}", tdb.kind());

        append_n(&db, 5).await;
        let report = audit::verify(&db).await.unwrap();
        assert_eq!(report.records, 5, "{}", tdb.kind());
        assert!(report.is_intact(), "{}: {:?}", tdb.kind(), report);

        let all = audit::query(&db, Filter::default()).await.unwrap();
        assert_eq!(all.len(), 5);
        assert_eq!(all[0].prev_hash, audit::GENESIS_HASH);
        assert_eq!(all[1].prev_hash, all[0].hash);
        assert_eq!(all[0].at.timestamp_subsec_nanos(), 123_456_000);
        assert_eq!(all[0].details, entry(1).details);
    }
}

#[tokio::test]
async fn query_filters_combine() {
    for tdb in TestDb::both().await.unwrap() {
        let db = connect(&tdb).await;
        append_n(&db, 9).await;
        let by_actor = audit::query(
            &db,
            Filter {
                actor: Some("user-1".into()),
                ..Filter::default()
            },
        )
        .await
        .unwrap();
        assert_eq!(
            by_actor.iter().map(|r| r.seq).collect::<Vec<_>>(),
            [1, 4, 7]
        );
        let window = audit::query(
            &db,
            Filter {
                action: Some("case.created".into()),
                from: Some(t0() + Duration::seconds(3)),
                to: Some(t0() + Duration::seconds(8)),
                ..Filter::default()
            },
        )
        .await
        .unwrap();
        assert_eq!(window.iter().map(|r| r.seq).collect::<Vec<_>>(), [4, 6]);
        let page = audit::query(
            &db,
            Filter {
                after_seq: Some(5),
                limit: Some(2),
                ..Filter::default()
            },
        )
        .await
        .unwrap();
        assert_eq!(page.iter().map(|r| r.seq).collect::<Vec<_>>(), [6, 7]);
        let one = audit::query(
            &db,
            Filter {
                object: Some("object-3".into()),
                ..Filter::default()
            },
        )
        .await
        .unwrap();
        assert_eq!(one.len(), 1);
        assert_eq!(one[0].seq, 3);
    }
}

/// Each tampering, applied to a fresh chain of 5, and the record `verify` must name.
#[tokio::test]
async fn verify_names_the_tampered_record() {
    let cases: [(&str, &[&str], i64, BrokenReason); 6] = [
        (
            "details edited",
            &[r#"UPDATE audit_log SET details = '{"z":99}' WHERE seq = 3"#],
            3,
            BrokenReason::HashMismatch,
        ),
        (
            "actor edited",
            &["UPDATE audit_log SET actor = 'someone-else' WHERE seq = 4"],
            4,
            BrokenReason::HashMismatch,
        ),
        (
            "row deleted",
            &["DELETE FROM audit_log WHERE seq = 2"],
            2,
            BrokenReason::Missing,
        ),
        (
            "last row deleted",
            &["DELETE FROM audit_log WHERE seq = 5"],
            5,
            BrokenReason::Missing,
        ),
        (
            "hashes swapped",
            &[
                // Record 3's prev_hash keeps record 2's original hash for the second step.
                "UPDATE audit_log SET hash = (SELECT hash FROM audit_log WHERE seq = 3) WHERE seq = 2",
                "UPDATE audit_log SET hash = (SELECT prev_hash FROM audit_log WHERE seq = 3) WHERE seq = 3",
            ],
            2,
            BrokenReason::HashMismatch,
        ),
        (
            "record rewritten with a recomputed hash but the old link",
            &["UPDATE audit_log SET prev_hash = hash WHERE seq = 4"],
            4,
            BrokenReason::PrevHashMismatch,
        ),
    ];
    for tdb in TestDb::both().await.unwrap() {
        for (what, sqls, seq, reason) in cases {
            // A fresh chain per tampering: drop and recreate the tables' contents.
            let db = connect(&tdb).await;
            exec(&db, "DELETE FROM audit_log").await;
            exec(
                &db,
                &format!(
                    "UPDATE audit_head SET seq = 0, hash = '{}' WHERE id = 1",
                    audit::GENESIS_HASH
                ),
            )
            .await;
            append_n(&db, 5).await;
            assert!(audit::verify(&db).await.unwrap().is_intact());
            for sql in sqls {
                exec(&db, sql).await;
            }
            let report = audit::verify(&db).await.unwrap();
            let broken = report
                .first_broken
                .unwrap_or_else(|| panic!("{}: {what}: tampering not detected", tdb.kind()));
            assert_eq!(
                (broken.seq, broken.reason),
                (seq, reason),
                "{}: {what}",
                tdb.kind()
            );
            assert_eq!(report.records, (seq - 1) as u64, "{}: {what}", tdb.kind());
        }
    }
}

#[tokio::test]
async fn head_edit_is_detected() {
    for tdb in TestDb::both().await.unwrap() {
        let db = connect(&tdb).await;
        append_n(&db, 3).await;
        exec(
            &db,
            "UPDATE audit_head SET hash = (SELECT hash FROM audit_log WHERE seq = 2) WHERE id = 1",
        )
        .await;
        let report = audit::verify(&db).await.unwrap();
        assert_eq!(
            report.first_broken.unwrap().reason,
            BrokenReason::HeadMismatch
        );
    }
}

// Several worker threads, so appends really run in parallel on separate connections.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_appends_make_one_contiguous_chain() {
    for tdb in TestDb::both().await.unwrap() {
        let db = Arc::new(connect(&tdb).await);
        let mut tasks = Vec::new();
        for task in 0..8i64 {
            let db = Arc::clone(&db);
            tasks.push(tokio::spawn(async move {
                for i in 0..10 {
                    let txn = audit::begin_write(&db, &sealer()).await.unwrap();
                    audit::append(&txn, entry(task * 100 + i)).await.unwrap();
                    // Hold the lock across an await so writers really overlap.
                    tokio::task::yield_now().await;
                    txn.commit().await.unwrap();
                }
            }));
        }
        for t in futures::future::join_all(tasks).await {
            t.unwrap();
        }
        let report = audit::verify(&*db).await.unwrap();
        assert!(report.is_intact(), "{}: {:?}", tdb.kind(), report);
        assert_eq!(report.records, 80, "{}", tdb.kind());
    }
}

#[tokio::test]
async fn append_in_a_rolled_back_transaction_leaves_nothing() {
    for tdb in TestDb::both().await.unwrap() {
        let db = connect(&tdb).await;
        append_n(&db, 2).await;
        let txn = audit::begin_write(&db, &sealer()).await.unwrap();
        let rec = audit::append(&txn, entry(3)).await.unwrap();
        assert_eq!(rec.seq, 3);
        txn.rollback().await.unwrap();
        {
            // Dropping without commit rolls back too.
            let txn = audit::begin_write(&db, &sealer()).await.unwrap();
            audit::append(&txn, entry(3)).await.unwrap();
        }
        let all = audit::query(&db, Filter::default()).await.unwrap();
        assert_eq!(all.len(), 2, "{}", tdb.kind());
        let report = audit::verify(&db).await.unwrap();
        assert!(report.is_intact());
        // The next append reuses seq 3: nothing was burnt by the rollbacks.
        append_one_more(&db).await;
    }
}

async fn append_one_more(db: &DatabaseConnection) {
    let txn = audit::begin_write(db, &sealer()).await.unwrap();
    let rec = audit::append(&txn, entry(3)).await.unwrap();
    assert_eq!(rec.seq, 3);
    txn.commit().await.unwrap();
    assert_eq!(audit::verify(db).await.unwrap().records, 3);
}

#[tokio::test]
async fn append_without_migrations_fails_closed() {
    for tdb in TestDb::both().await.unwrap() {
        let db = sea_orm::Database::connect(tdb.url()).await.unwrap();
        let txn = audit::begin_write(&db, &sealer()).await.unwrap();
        let err = audit::append(&txn, entry(1)).await.unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("change was not made"), "{}: {msg}", tdb.kind());
    }
}
