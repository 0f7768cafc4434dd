//! Tests of the online migrations on SQLite and PostgreSQL.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    reason = "tests fail loudly on purpose"
)]

use migrations_online::{Migrator, MigratorTrait};
use sea_orm::{ConnectionTrait, Database, DatabaseConnection};
use testkit::db::{DbKind, TestDb};

const TABLES: &[&str] = &[
    "users",
    "auth_sessions",
    "login_attempts",
    "sign_in_throttle",
    "accounts",
    "account_permissions",
    "tokens",
    "policies",
    "destination_allowlist",
    "transfers",
    "imported_responses",
    "outbox",
    "processed_messages",
    "operation_log",
    "operation_log_head",
    "transaction_log",
    "transaction_log_head",
];

async fn migrated(tdb: &TestDb) -> DatabaseConnection {
    let db = Database::connect(tdb.url()).await.unwrap();
    if tdb.kind() == DbKind::Sqlite {
        // Foreign keys are per connection on SQLite; the repository turns them on too.
        db.execute_unprepared("PRAGMA foreign_keys = ON")
            .await
            .unwrap();
    }
    Migrator::up(&db, None).await.unwrap();
    db
}

async fn exec(db: &DatabaseConnection, sql: &str) -> Result<(), sea_orm::DbErr> {
    db.execute_unprepared(sql).await.map(|_| ())
}

#[test]
fn steps_are_contiguous_and_unique() {
    let names: Vec<String> = Migrator::migrations()
        .iter()
        .map(|m| m.name().to_owned())
        .collect();
    for (i, name) in names.iter().enumerate() {
        assert!(
            name.starts_with(&format!("m{:04}_", i + 1)),
            "step {name} should be m{:04}_…: steps are numbered without gaps, in order",
            i + 1
        );
    }
    let mut unique = names.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), names.len());
    assert_eq!(names.len(), 10);
}

#[tokio::test]
async fn migrates_both_backends_idempotently() {
    for tdb in TestDb::both().await.unwrap() {
        let db = migrated(&tdb).await;
        Migrator::up(&db, None).await.unwrap();
        let applied = Migrator::get_applied_migrations(&db).await.unwrap();
        assert_eq!(
            applied.len(),
            Migrator::migrations().len(),
            "{}",
            tdb.kind()
        );
        for table in TABLES {
            exec(&db, &format!("SELECT COUNT(*) FROM {table}"))
                .await
                .unwrap_or_else(|e| panic!("{}: table {table}: {e}", tdb.kind()));
        }
        // Both chains start empty at the genesis hash.
        for head in ["operation_log_head", "transaction_log_head"] {
            let row = db
                .query_one_raw(sea_orm::Statement::from_string(
                    db.get_database_backend(),
                    format!("SELECT seq, hash FROM {head} WHERE id = 1"),
                ))
                .await
                .unwrap()
                .unwrap();
            assert_eq!(row.try_get::<i64>("", "seq").unwrap(), 0);
            assert_eq!(
                row.try_get::<String>("", "hash").unwrap(),
                audit::GENESIS_HASH
            );
        }
        // The online zone has no single audit log.
        assert!(exec(&db, "SELECT COUNT(*) FROM audit_log").await.is_err());
    }
}

#[tokio::test]
async fn a_database_from_a_newer_release_is_refused() {
    for tdb in TestDb::both().await.unwrap() {
        let db = migrated(&tdb).await;
        exec(
            &db,
            "INSERT INTO seaql_migrations (version, applied_at) VALUES ('m9999_future', 0)",
        )
        .await
        .unwrap();
        assert!(Migrator::up(&db, None).await.is_err(), "{}", tdb.kind());
    }
}

const T: &str = "'2026-01-01 00:00:00+00:00'";

fn blob(kind: DbKind) -> &'static str {
    match kind {
        DbKind::Sqlite => "X'01'",
        DbKind::Postgres => "'\\x01'",
    }
}

fn transfer(id: &str, status: &str, created_by: &str, approved_by: &str, kind: DbKind) -> String {
    let b = blob(kind);
    format!(
        "INSERT INTO transfers (id, account_id, chain_id, asset, to_address, amount, nonce, gas_limit, \
         max_fee_per_gas, max_priority_fee_per_gas, unsigned_tx, signing_hash, status, created_by, \
         approved_by, confirmations, created_at, updated_at) VALUES ('{id}', 'a1', 1, 'ETH', '0xto', '5', 0, \
         21000, '2', '1', {b}, '0xh', '{status}', '{created_by}', {approved_by}, 0, {T}, {T})"
    )
}

#[tokio::test]
async fn constraints_hold_on_both_backends() {
    for tdb in TestDb::both().await.unwrap() {
        let kind = tdb.kind();
        let db = migrated(&tdb).await;
        for (id, role) in [("u1", "TRADER"), ("u2", "TRADER"), ("a", "ADMIN")] {
            exec(&db, &format!(
                "INSERT INTO users (id, username, display_name, password_hash, role, status, created_at, updated_at) \
                 VALUES ('{id}', '{id}', '{id}', 'h', '{role}', 'ACTIVE', {T}, {T})"
            )).await.unwrap();
        }
        let bad_role = exec(&db, &format!(
            "INSERT INTO users (id, username, display_name, password_hash, role, status, created_at, updated_at) \
             VALUES ('x', 'x', 'x', 'h', 'CASE_MANAGER', 'ACTIVE', {T}, {T})"
        )).await;
        assert!(bad_role.is_err(), "{kind}: role CHECK");
        let account = |id: &str, address: &str| {
            format!(
                "INSERT INTO accounts (id, address, case_ref, public_key, chain_id, label, manifest_id, \
                 manifest_hash, imported_by, created_at) VALUES ('{id}', '{address}', 'c', '02', 1, 'l', 'm', \
                 'h', 'a', {T})"
            )
        };
        exec(&db, &account("a1", "0xA")).await.unwrap();
        assert!(
            exec(&db, &account("a2", "0xA")).await.is_err(),
            "{kind}: address UNIQUE"
        );
        exec(&db, &transfer("t1", "DRAFT", "u1", "NULL", kind))
            .await
            .unwrap();
        assert!(
            exec(&db, &transfer("t2", "PENDING", "u1", "NULL", kind))
                .await
                .is_err(),
            "{kind}: transfer status CHECK"
        );
        assert!(
            exec(&db, &transfer("t3", "DRAFT", "u1", "'u1'", kind))
                .await
                .is_err(),
            "{kind}: maker-checker CHECK"
        );
        exec(&db, &transfer("t4", "DRAFT", "u1", "'u2'", kind))
            .await
            .unwrap();
        assert!(
            exec(&db, &transfer("t5", "DRAFT", "nobody", "NULL", kind))
                .await
                .is_err(),
            "{kind}: foreign key"
        );
        assert!(
            exec(&db, "UPDATE transfers SET amount = '' WHERE id = 't1'")
                .await
                .is_err(),
            "{kind}: amount CHECK"
        );
        exec(&db, "UPDATE transfers SET tx_hash = '0x1' WHERE id = 't1'")
            .await
            .unwrap();
        assert!(
            exec(&db, "UPDATE transfers SET tx_hash = '0x1' WHERE id = 't4'")
                .await
                .is_err(),
            "{kind}: tx_hash UNIQUE"
        );
        let response = |id: &str| {
            format!(
                "INSERT INTO imported_responses (id, response_id, request_id, transfer_id, imported_by, at) \
                 VALUES ('{id}', 'r1', 'q', 't1', 'u1', {T})"
            )
        };
        exec(&db, &response("i1")).await.unwrap();
        assert!(
            exec(&db, &response("i2")).await.is_err(),
            "{kind}: response id UNIQUE"
        );
    }
}
