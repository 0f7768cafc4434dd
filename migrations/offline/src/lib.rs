//! Schema migrations of the offline zone's one database (DESIGN.md §6), on SQLite or PostgreSQL.
//!
//! Forward only: no step has a `down`, and a database that has a step this binary does not know
//! is refused by the migrator. Each step runs in its own transaction on both engines (SQLite has
//! transactional DDL too), so a failed step leaves the schema as it was. The zone's own steps are
//! numbered `m0001…` without gaps; shared steps (the audit log) carry their crate's prefix. A test
//! asserts both.
//!
//! Conventions: ids are UUIDv7 strings, times are UTC (`timestamp with time zone` on PostgreSQL,
//! text on SQLite), statuses are strings with CHECK constraints (portable, and readable in a
//! database shell), binary values are `bytea`/`blob`.

mod m0007_processed;
mod m0008_signing_sessions;
mod m0009_coordination;
mod m0010_keyed_audit;
mod m0011_sign_in_throttle;
mod m0012_se_key_once;
mod m0013_proposals;
mod m0014_se_enrolment;
mod m0015_case_roster;
mod schema;
mod steps;

pub use sea_orm_migration::MigratorTrait;
use sea_orm_migration::{async_trait, MigrationTrait};

/// The offline zone's migrator: `Migrator::up(&db, None)` at every start-up.
pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(audit::migration::CreateAuditLog),
            Box::new(steps::M0001Users),
            Box::new(steps::M0002SecureElements),
            Box::new(steps::M0003Cases),
            Box::new(steps::M0004ProtocolSessions),
            Box::new(steps::M0005Signing),
            Box::new(steps::M0006Outbox),
            Box::new(m0007_processed::M0007Processed),
            Box::new(m0008_signing_sessions::M0008SigningSessions),
            Box::new(m0009_coordination::M0009Coordination),
            Box::new(m0010_keyed_audit::M0010KeyedAudit),
            Box::new(m0011_sign_in_throttle::M0011SignInThrottle),
            Box::new(m0012_se_key_once::M0012SeKeyOnce),
            Box::new(m0013_proposals::M0013Proposals),
            Box::new(m0014_se_enrolment::M0014SeEnrolment),
            Box::new(m0015_case_roster::M0015CaseRoster),
        ]
    }
}

/// Every status value each status column accepts; the entities use the same lists.
pub mod statuses {
    /// `users.role`.
    pub const USER_ROLE: &[&str] = &["NONE", "ADMIN", "CASE_MANAGER", "OPERATOR", "AUDITOR"];
    /// `users.status`.
    pub const USER_STATUS: &[&str] = &["ACTIVE", "DISABLED"];
    /// `secure_elements.status`.
    pub const SE_STATUS: &[&str] = &["ACTIVE", "INACTIVE", "LOST", "REVOKED"];
    /// `secure_channels.status`.
    pub const CHANNEL_STATUS: &[&str] = &["ESTABLISHED", "CLOSED", "FAILED"];
    /// `cases.status`.
    pub const CASE_STATUS: &[&str] = &["DRAFT", "KEYGEN", "ACTIVE", "ARCHIVED"];
    /// `key_shares.status`.
    pub const KEY_SHARE_STATUS: &[&str] = &["ACTIVE", "INACTIVE"];
    /// `protocol_sessions.kind`.
    pub const SESSION_KIND: &[&str] = &["KEYGEN", "SIGN"];
    /// `protocol_sessions.status`.
    pub const SESSION_STATUS: &[&str] = &["PENDING", "RUNNING", "COMPLETED", "FAILED", "EXPIRED"];
    /// `session_participants.status`.
    pub const PARTICIPANT_STATUS: &[&str] = &["WAITING", "READY", "DONE", "FAILED"];
    /// `signing_requests.status`.
    pub const SIGNING_REQUEST_STATUS: &[&str] = &[
        "IMPORTED", "SIGNING", "SIGNED", "EXPORTED", "FAILED", "EXPIRED",
    ];
}
