//! Schema migrations of the online zone's database (DESIGN.md §6, issue "[online]"), on SQLite
//! or PostgreSQL.
//!
//! Forward only: no step has a `down`, and a database that has a step this binary does not know
//! is refused by the migrator. Each step runs in its own transaction on both engines, so a
//! failed step leaves the schema as it was. Steps are numbered `m0001…` without gaps; a test
//! asserts it.
//!
//! Conventions (the offline zone's): ids are UUIDv7 strings, times are UTC, statuses are strings
//! with CHECK constraints, binary values are `bytea`/`blob`, Ethereum addresses are EIP-55
//! checksummed text (one spelling per address, so UNIQUE holds), amounts are decimal text in
//! base units (256-bit values fit no SQL integer).
//!
//! The zone keeps two hash chains (crate `audit`): the operation log and the transaction log,
//! created by step `m0006_logs` with [`audit::migration::create_chain`]. There is no
//! `audit_log` table in this zone.

mod m0007_keyed_logs;
mod m0008_transfer_exported_at;
mod m0009_sign_in_throttle;
mod m0010_proposals;
mod schema;
mod steps;

pub use sea_orm_migration::MigratorTrait;
use sea_orm_migration::{async_trait, MigrationTrait};

/// The online zone's migrator: `Migrator::up(&db, None)` at every start-up.
pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(steps::M0001Users),
            Box::new(steps::M0002Accounts),
            Box::new(steps::M0003Policies),
            Box::new(steps::M0004Transfers),
            Box::new(steps::M0005Outbox),
            Box::new(steps::M0006Logs),
            Box::new(m0007_keyed_logs::M0007KeyedLogs),
            Box::new(m0008_transfer_exported_at::M0008TransferExportedAt),
            Box::new(m0009_sign_in_throttle::M0009SignInThrottle),
            Box::new(m0010_proposals::M0010Proposals),
        ]
    }
}

/// Every value each status column accepts; the entities use the same lists.
pub mod statuses {
    /// `users.role`: a fresh user has `NONE` and no rights.
    pub const USER_ROLE: &[&str] = &["NONE", "ADMIN", "TRADER", "AUDITOR"];
    /// `users.status`.
    pub const USER_STATUS: &[&str] = &["ACTIVE", "DISABLED"];
    /// `transfers.status`.
    pub const TRANSFER_STATUS: &[&str] = &[
        "DRAFT",
        "EXPORTED",
        "SIGNED",
        "BROADCAST",
        "CONFIRMED",
        "FAILED",
    ];
}

/// The asset value of a transfer or policy in Ether (every other asset is a token address).
pub const ETH_ASSET: &str = "ETH";
