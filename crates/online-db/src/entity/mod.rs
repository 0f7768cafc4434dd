//! sea-orm entities of the online zone's tables, one module per table, plus the status enums
//! stored as strings (the migrations hold the matching CHECK constraints). The two logs'
//! tables are read and written through the `audit` crate, not through entities.

pub mod account_permissions;
pub mod accounts;
pub mod auth_sessions;
pub mod destination_allowlist;
pub mod enums;
pub mod imported_responses;
pub mod login_attempts;
pub mod outbox;
pub mod policies;
pub use auth::sql::sign_in_throttle;
pub mod tokens;
pub mod transfers;
pub mod users;
