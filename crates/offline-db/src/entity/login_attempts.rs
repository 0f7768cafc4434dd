//! The `login_attempts` table: the same table in both zones, defined once in `auth::sql`.

pub use auth::sql::login_attempts::*;
