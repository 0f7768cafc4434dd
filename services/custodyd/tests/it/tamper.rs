//! `custodyd audit verify` against an insider with write access to a zone's database but
//! without its HSM (issue [audit-integrity]): on SQLite and PostgreSQL, each tampering — the
//! last records deleted and the head moved back, every record deleted, a middle record edited
//! and every later hash recomputed, a record appended with a correct hash, two records swapped,
//! a checkpoint file edited, a checkpoint signed by another key — exits 3 and names the record
//! or the checkpoint; the untouched database exits 0.

use std::path::Path;
use std::process::Command;

use audit::{Chain, CheckpointDir, CheckpointPolicy};
use chrono::{TimeZone, Utc};
use sea_orm::DatabaseConnection;
use testkit::db::TestDb;
use testkit::hsm::TokenFlags;
use testkit::tamper;

use crate::db_arg;

/// A checkpoint every this many records.
const EVERY: u64 = 5;
/// Records written before tampering: checkpoints at 5 and 10, records 11 and 12 after them.
const RECORDS: usize = 12;

fn policy() -> CheckpointPolicy {
    CheckpointPolicy {
        every_records: EVERY,
        every: std::time::Duration::from_secs(3600),
    }
}

/// Runs `custodyd audit verify --db <db> <extra>`; the exit code and everything printed.
fn verify(db: &str, extra: &[String]) -> (i32, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_custodyd"))
        .args(["audit", "verify", "--db", db])
        .args(extra)
        .output()
        .unwrap();
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    (out.status.code().unwrap_or(-1), text)
}

fn hex_key(key: p256::PublicKey) -> String {
    hex::encode(p256::EncodedPoint::from(key).as_bytes())
}

/// An auditor's flags: the checkpoint directory and the zone's checkpoint public key only.
fn public_only(dir: &Path, key: &str) -> Vec<String> {
    vec![
        "--checkpoints".into(),
        dir.display().to_string(),
        "--checkpoint-key".into(),
        key.into(),
        "--ignore-db-checkpoints".into(),
    ]
}

/// The operator's flags: the zone's HSM as well (MACs checked).
fn with_hsm(dir: &Path, key: &str, token: &TokenFlags) -> Vec<String> {
    let mut args = public_only(dir, key);
    args.extend(token.args("hsm"));
    args
}

/// A fresh offline database with [`RECORDS`] sealed records and its checkpoint files.
struct Offline {
    test_db: TestDb,
    conn: DatabaseConnection,
    dir: tempfile::TempDir,
}

async fn offline(kind: testkit::db::DbKind, hsm: &hsm::Hsm) -> Offline {
    let test_db = match kind {
        testkit::db::DbKind::Sqlite => TestDb::sqlite().unwrap(),
        testkit::db::DbKind::Postgres => TestDb::postgres().await.unwrap(),
    };
    let sealer = testkit::hsm::offline_sealer_of(hsm).with_policy(policy());
    let db = offline_db::Db::connect(test_db.url(), sealer)
        .await
        .unwrap();
    let now = Utc.with_ymd_and_hms(2026, 11, 24, 12, 0, 0).unwrap();
    for i in 0..RECORDS {
        db.create_user(
            offline_db::NewUser {
                username: format!("user{i}"),
                display_name: format!("User {i}"),
                phone: None,
                password_hash: "$argon2id$placeholder".into(),
                role: offline_db::Role::Auditor,
            },
            "bootstrap",
            now,
        )
        .await
        .unwrap();
    }
    let dir = tempfile::tempdir().unwrap();
    let written = CheckpointDir::open(dir.path())
        .unwrap()
        .export_new(db.conn(), &[Chain::AUDIT])
        .await
        .unwrap();
    assert_eq!(written, 2, "checkpoints at records 5 and 10");
    Offline {
        conn: db.conn().clone(),
        test_db,
        dir,
    }
}

fn expect_broken(case: &str, (code, text): (i32, String), named: &[&str]) {
    assert_eq!(code, 3, "{case}: {text}");
    for n in named {
        assert!(text.contains(n), "{case}: expected {n:?} in:\n{text}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn audit_verify_names_every_insider_tampering_of_the_offline_log() {
    let (hsm, token) = testkit::hsm::offline_hsm_with_flags();
    let key = hex_key(hsm.audit_public_key());
    for kind in [testkit::db::DbKind::Sqlite, testkit::db::DbKind::Postgres] {
        // Untouched: intact for the auditor (public keys) and the operator (HSM).
        let z = offline(kind, &hsm).await;
        let db = db_arg(&z.test_db);
        let (code, text) = verify(&db, &public_only(z.dir.path(), &key));
        assert_eq!(code, 0, "{kind} untouched: {text}");
        assert!(text.contains("audit chain intact: 12 record(s) verified, MACs not checked; 2 checkpoint(s) reached (2 authenticated)"), "{text}");
        assert!(
            text.contains("not covered: record MACs were not checked"),
            "{text}"
        );
        assert!(
            text.contains(
                "not covered: records 11..=12 come after the newest authenticated checkpoint"
            ),
            "{text}"
        );
        let (code, text) = verify(&db, &with_hsm(z.dir.path(), &key, &token));
        assert_eq!(code, 0, "{kind} untouched with the HSM: {text}");
        assert!(text.contains("12 MAC(s) verified by the HSM"), "{text}");
        assert!(!text.contains("record MACs were not checked"), "{text}");

        // The last four records deleted and the head moved back to record 8.
        let z = offline(kind, &hsm).await;
        tamper::truncate_to(&z.conn, Chain::AUDIT, 8).await.unwrap();
        expect_broken(
            &format!("{kind} truncated"),
            verify(&db_arg(&z.test_db), &public_only(z.dir.path(), &key)),
            &[
                "audit chain BROKEN: checkpoint at record 10",
                "the database no longer reaches it: the chain ends at record 8",
            ],
        );

        // Every record deleted and the head reset.
        let z = offline(kind, &hsm).await;
        tamper::truncate_to(&z.conn, Chain::AUDIT, 0).await.unwrap();
        expect_broken(
            &format!("{kind} wiped"),
            verify(&db_arg(&z.test_db), &public_only(z.dir.path(), &key)),
            &[
                "checkpoint at record 5",
                "checkpoint at record 10",
                "the chain ends at record 0",
            ],
        );

        // Record 3 edited and every later hash and the head recomputed: the checkpoints
        // name the rewrite, the HSM names the record.
        let z = offline(kind, &hsm).await;
        tamper::rewrite_from(
            &z.conn,
            Chain::AUDIT,
            3,
            serde_json::json!({"role": "admin"}),
        )
        .await
        .unwrap();
        let db = db_arg(&z.test_db);
        expect_broken(
            &format!("{kind} rewritten"),
            verify(&db, &public_only(z.dir.path(), &key)),
            &[
                "checkpoint at record 5",
                "another chain value (the log was rewritten)",
            ],
        );
        expect_broken(
            &format!("{kind} rewritten, with the HSM"),
            verify(&db, &with_hsm(z.dir.path(), &key, &token)),
            &["audit chain BROKEN at audit record 3: its MAC was not made by the zone's HSM"],
        );

        // A record appended with a correct hash: without a MAC, and with another record's.
        for (copy, reason) in [
            (None, "audit record 13: it has no MAC"),
            (
                Some(4),
                "audit record 13: its MAC was not made by the zone's HSM",
            ),
        ] {
            let z = offline(kind, &hsm).await;
            let seq = tamper::forge_append(&z.conn, Chain::AUDIT, copy)
                .await
                .unwrap();
            assert_eq!(seq, 13);
            let db = db_arg(&z.test_db);
            // Past the newest checkpoint, the auditor's keys alone cannot see it: they say so.
            let (code, text) = verify(&db, &public_only(z.dir.path(), &key));
            assert_eq!(code, 0, "{text}");
            assert!(
                text.contains("records 11..=13 come after the newest authenticated checkpoint"),
                "{text}"
            );
            expect_broken(
                &format!("{kind} forged append {copy:?}"),
                verify(&db, &with_hsm(z.dir.path(), &key, &token)),
                &[reason],
            );
        }

        // Records 7 and 8 swapped.
        let z = offline(kind, &hsm).await;
        tamper::swap(&z.conn, Chain::AUDIT, 7, 8).await.unwrap();
        expect_broken(
            &format!("{kind} reordered"),
            verify(&db_arg(&z.test_db), &public_only(z.dir.path(), &key)),
            &["audit chain BROKEN at audit record 7"],
        );

        // A checkpoint file edited.
        let z = offline(kind, &hsm).await;
        let file = z.dir.path().join("offline-audit-00000000000000000010.json");
        tamper::edit_checkpoint_file(&file).unwrap();
        expect_broken(
            &format!("{kind} edited checkpoint"),
            verify(&db_arg(&z.test_db), &public_only(z.dir.path(), &key)),
            &[
                "checkpoint at record 10",
                "its signature does not verify (it was edited)",
            ],
        );

        // A checkpoint of the real chain value, signed by another HSM's key.
        let z = offline(kind, &hsm).await;
        let other = testkit::hsm::offline_hsm();
        let genuine = audit::checkpoints::checkpoints(&z.conn, Chain::AUDIT, None, 10)
            .await
            .unwrap()
            .pop()
            .unwrap();
        let foreign =
            audit::AuditCheckpoint::sign(&genuine.statement(), &other.checkpoint_signer()).unwrap();
        let foreign_dir = tempfile::tempdir().unwrap();
        CheckpointDir::open(foreign_dir.path())
            .unwrap()
            .write(&foreign)
            .unwrap();
        expect_broken(
            &format!("{kind} foreign checkpoint"),
            verify(&db_arg(&z.test_db), &public_only(foreign_dir.path(), &key)),
            &[
                &format!("checkpoint at record {}", genuine.seq),
                "it is signed by another key",
            ],
        );
    }
}

/// The online zone's two logs, tampered the same way: named with the chain.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn audit_verify_names_tampering_of_the_online_logs() {
    let (token_hsm, token) = testkit::hsm::online_hsm_with_flags();
    let key = hex_key(token_hsm.checkpoint_public_key());
    for test_db in TestDb::both().await.unwrap() {
        let sealer = testkit::hsm::online_sealer_of(&token_hsm).with_policy(policy());
        let db = online_db::Db::connect(test_db.url(), sealer).await.unwrap();
        let now = Utc.with_ymd_and_hms(2026, 11, 24, 12, 0, 0).unwrap();
        for i in 0..RECORDS {
            db.create_user(
                online_db::NewUser {
                    username: format!("trader{i}"),
                    display_name: format!("Trader {i}"),
                    password_hash: "$argon2id$placeholder".into(),
                },
                "bootstrap",
                now,
            )
            .await
            .unwrap();
        }
        let dir = tempfile::tempdir().unwrap();
        CheckpointDir::open(dir.path())
            .unwrap()
            .export_new(db.conn(), &online_db::CHAINS)
            .await
            .unwrap();
        let arg = db_arg(&test_db);
        let (code, text) = verify(&arg, &with_hsm(dir.path(), &key, &token));
        assert_eq!(code, 0, "{}: {text}", test_db.kind());
        assert!(text.contains("operation chain intact: 12 record(s) verified, 12 MAC(s) verified by the HSM; 2 checkpoint(s) reached (2 authenticated)"), "{text}");

        // A forged record after the head, then the last records deleted.
        tamper::forge_append(db.conn(), Chain::OPERATION, Some(2))
            .await
            .unwrap();
        expect_broken(
            &format!("{} online forged", test_db.kind()),
            verify(&arg, &with_hsm(dir.path(), &key, &token)),
            &["operation chain BROKEN at audit record 13: its MAC was not made by the zone's HSM"],
        );
        tamper::truncate_to(db.conn(), Chain::OPERATION, 6)
            .await
            .unwrap();
        expect_broken(
            &format!("{} online truncated", test_db.kind()),
            verify(&arg, &public_only(dir.path(), &key)),
            &[
                "operation chain BROKEN: checkpoint at record 10",
                "the chain ends at record 6",
            ],
        );
    }
}
