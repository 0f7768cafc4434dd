//! Tests of the offline migrations on SQLite and PostgreSQL.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    reason = "tests fail loudly on purpose"
)]

use migrations_offline::{Migrator, MigratorTrait};
use sea_orm::{ConnectionTrait, Database, DatabaseConnection};
use testkit::db::{DbKind, TestDb};

const TABLES: &[&str] = &[
    "users",
    "auth_sessions",
    "login_attempts",
    "sign_in_throttle",
    "secure_elements",
    "secure_channels",
    "cases",
    "key_shares",
    "case_manager_changes",
    "protocol_sessions",
    "session_participants",
    "signing_requests",
    "signatures",
    "session_requests",
    "balance_attestations",
    "outbox",
    "processed_messages",
    "audit_log",
    "audit_head",
];

async fn migrated(tdb: &TestDb) -> DatabaseConnection {
    let db = Database::connect(tdb.url()).await.unwrap();
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
    let mut own = 0;
    let mut shared = 0;
    for name in &names {
        if let Some(rest) = name.strip_prefix('m') {
            own += 1;
            assert!(
                rest.starts_with(&format!("{own:04}_")),
                "step {name} should be m{own:04}_…: steps are numbered without gaps, in order"
            );
        } else if let Some(rest) = name.strip_prefix("audit_") {
            shared += 1;
            assert!(rest.starts_with(&format!("{shared:04}_")), "{name}");
        } else {
            panic!("unexpected step name {name}");
        }
    }
    let mut unique = names.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), names.len());
    assert_eq!((own, shared), (15, 1));
}

#[tokio::test]
async fn migrates_both_backends_idempotently() {
    for tdb in TestDb::both().await.unwrap() {
        let db = migrated(&tdb).await;
        // A second start-up applies nothing and fails nothing.
        Migrator::up(&db, None).await.unwrap();
        let applied = Migrator::get_applied_migrations(&db).await.unwrap();
        assert_eq!(
            applied.len(),
            Migrator::migrations().len(),
            "{}",
            tdb.kind()
        );
        assert!(Migrator::get_pending_migrations(&db)
            .await
            .unwrap()
            .is_empty());
        for table in TABLES {
            exec(&db, &format!("SELECT COUNT(*) FROM {table}"))
                .await
                .unwrap_or_else(|e| panic!("{}: table {table}: {e}", tdb.kind()));
        }
        // m0009: the columns the coordinator writes.
        for sql in [
            "SELECT envelope FROM signing_requests",
            "SELECT progress, roster FROM protocol_sessions",
        ] {
            exec(&db, sql)
                .await
                .unwrap_or_else(|e| panic!("{}: {sql}: {e}", tdb.kind()));
        }
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

/// A one-byte blob literal: SQLite's `X'..'` is a bit string on PostgreSQL.
fn blob(kind: DbKind) -> &'static str {
    match kind {
        DbKind::Sqlite => "X'01'",
        DbKind::Postgres => "'\\x01'",
    }
}

async fn seed(db: &DatabaseConnection, kind: DbKind) {
    let b = blob(kind);
    for (id, role) in [
        ("u1", "CASE_MANAGER"),
        ("u2", "CASE_MANAGER"),
        ("a", "ADMIN"),
    ] {
        exec(db, &format!(
            "INSERT INTO users (id, username, display_name, password_hash, role, status, created_at, updated_at) \
             VALUES ('{id}', '{id}', '{id}', 'h', '{role}', 'ACTIVE', {T}, {T})"
        )).await.unwrap();
    }
    exec(
        db,
        &format!(
        "INSERT INTO secure_elements (id, serial, label, identity_public_key, status, created_at) \
         VALUES ('se1', 'S1', 'se', {b}, 'ACTIVE', {T})"
    ),
    )
    .await
    .unwrap();
    exec(
        db,
        &format!(
            "INSERT INTO cases (id, name, status, chain_ids, created_by, created_at, updated_at) \
         VALUES ('c1', 'c', 'DRAFT', '[1]', 'a', {T}, {T})"
        ),
    )
    .await
    .unwrap();
}

fn share(id: &str, user: &str, status: &str) -> String {
    format!(
        "INSERT INTO key_shares (id, case_id, public_key, share_index, user_id, se_id, status, created_at) \
         VALUES ('{id}', 'c1', 'pk', 0, '{user}', 'se1', '{status}', {T})"
    )
}

#[tokio::test]
async fn constraints_hold_on_both_backends() {
    for tdb in TestDb::both().await.unwrap() {
        let kind = tdb.kind();
        let db = migrated(&tdb).await;
        seed(&db, kind).await;
        let b = blob(kind);
        // Status and role columns accept only their listed values.
        let bad_role = exec(&db, &format!(
            "INSERT INTO users (id, username, display_name, password_hash, role, status, created_at, updated_at) \
             VALUES ('x', 'x', 'x', 'h', 'ROOT', 'ACTIVE', {T}, {T})"
        )).await;
        assert!(bad_role.is_err(), "{kind}: role CHECK");
        let bad_status = exec(&db, "UPDATE cases SET status = 'DELETED' WHERE id = 'c1'").await;
        assert!(bad_status.is_err(), "{kind}: case status CHECK");
        // The share index is 0, 1 or 2.
        let bad_index = exec(&db, &share("k9", "u1", "ACTIVE").replace(", 0,", ", 3,")).await;
        assert!(bad_index.is_err(), "{kind}: share index CHECK");
        // One ACTIVE binding per (case, share index) and per (public key, share index);
        // former bindings stay as INACTIVE rows.
        exec(&db, &share("k1", "u1", "ACTIVE")).await.unwrap();
        assert!(
            exec(&db, &share("k2", "u2", "ACTIVE")).await.is_err(),
            "{kind}: slot unique"
        );
        exec(
            &db,
            "UPDATE key_shares SET status = 'INACTIVE' WHERE id = 'k1'",
        )
        .await
        .unwrap();
        exec(&db, &share("k2", "u2", "ACTIVE")).await.unwrap();
        // Foreign keys are enforced (SQLite too).
        let orphan = exec(
            &db,
            &format!(
            "INSERT INTO key_shares (id, case_id, share_index, user_id, se_id, status, created_at) \
             VALUES ('k3', 'nope', 1, 'u1', 'se1', 'ACTIVE', {T})"
        ),
        )
        .await;
        assert!(orphan.is_err(), "{kind}: foreign key");
        // Unique ids that back replay and execution-id rules.
        exec(
            &db,
            &format!(
                "INSERT INTO outbox (id, subject, msg_id, payload, headers, created_at) \
             VALUES ('o1', 's', 'm1', {b}, '{{}}', {T})"
            ),
        )
        .await
        .unwrap();
        let dup = exec(
            &db,
            &format!(
                "INSERT INTO outbox (id, subject, msg_id, payload, headers, created_at) \
             VALUES ('o2', 's', 'm1', {b}, '{{}}', {T})"
            ),
        )
        .await;
        assert!(dup.is_err(), "{kind}: outbox msg_id unique");
        // m0012: an SE identity key is registered once, whatever the serial.
        let same_key = exec(
            &db,
            &format!(
                "INSERT INTO secure_elements (id, serial, label, identity_public_key, status, created_at) \
             VALUES ('se2', 'S2', 'copy', {b}, 'ACTIVE', {T})"
            ),
        )
        .await;
        assert!(same_key.is_err(), "{kind}: SE identity key unique");
    }
}
