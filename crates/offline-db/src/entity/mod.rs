//! sea-orm entities of the offline zone's tables (DESIGN.md §6), one module per table, plus the
//! status enums stored as strings (the migrations hold the matching CHECK constraints).

pub mod auth_sessions;
pub mod balance_attestations;
pub mod case_manager_changes;
pub mod cases;
pub mod enums;
pub mod key_shares;
pub mod login_attempts;
pub mod outbox;
pub mod protocol_sessions;
pub mod se_enrolment_challenges;
pub mod secure_channels;
pub mod secure_elements;
pub mod session_participants;
pub mod session_requests;
pub use auth::sql::sign_in_throttle;
pub mod signatures;
pub mod signing_requests;
pub mod users;

/// The audit log's entities live with the audit crate.
pub use audit::entity::{audit_head, audit_log};
