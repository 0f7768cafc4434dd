//! Integration tests of the audit log, each run on SQLite and on PostgreSQL.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    reason = "tests fail loudly on purpose"
)]

mod chain;

use audit::migration::CreateAuditLog;
use sea_orm::{ConnectOptions, Database, DatabaseConnection};
use sea_orm_migration::{MigrationTrait, MigratorTrait};
use testkit::db::TestDb;

/// A migrator with only the audit step, so this crate tests its own table.
struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![Box::new(CreateAuditLog)]
    }
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
