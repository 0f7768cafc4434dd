//! Integration tests of the audit log, each run on SQLite and on PostgreSQL.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    reason = "tests fail loudly on purpose"
)]

mod chain;
mod sealed;

use audit::migration::CreateAuditLog;
use sea_orm::{ConnectOptions, Database, DatabaseConnection};
use sea_orm_migration::prelude::*;
use sea_orm_migration::{MigrationTrait, MigratorTrait};
use testkit::db::TestDb;

/// A migrator with only the audit steps, so this crate tests its own tables: the audit log,
/// then what a zone's own step adds to make it keyed (`key_chains`).
struct Migrator;

struct KeyAudit;

impl MigrationName for KeyAudit {
    fn name(&self) -> &str {
        "m0001_key_audit"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for KeyAudit {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        audit::migration::key_chains(m, &[audit::Chain::AUDIT]).await
    }
}

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![Box::new(CreateAuditLog), Box::new(KeyAudit)]
    }
}

/// The offline sealer on the process's shared SoftHSM token.
fn sealer() -> audit::Sealer {
    testkit::hsm::offline_sealer()
}

/// Connect to a test database with the same SQLite settings the services use, and migrate.
async fn connect(db: &TestDb) -> DatabaseConnection {
    let mut opts = ConnectOptions::new(db.url().to_owned());
    opts.max_connections(10).sqlx_logging(false);
    opts.map_sqlx_sqlite_opts(|o| {
        o.journal_mode(sea_orm::sqlx::sqlite::SqliteJournalMode::Wal)
            .busy_timeout(std::time::Duration::from_secs(30))
            .foreign_keys(true)
    });
    let conn = Database::connect(opts).await.unwrap();
    Migrator::up(&conn, None).await.unwrap();
    conn
}
