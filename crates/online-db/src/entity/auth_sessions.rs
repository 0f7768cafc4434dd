//! The `auth_sessions` table: the same table in both zones, defined once in `auth::sql`.

pub use auth::sql::auth_sessions::*;
