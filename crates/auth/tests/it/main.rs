//! Integration tests of `custody-auth`: the password policy and Argon2id hashing, usernames,
//! session and CSRF tokens, session lifetime rules, login throttling and the role table. One
//! binary (see CONVENTIONS.md), one module per area.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    reason = "test code: a failed unwrap or index is exactly how a test should fail"
)]

mod password;
mod role;
mod session;
mod throttle;
mod token;
mod username;

use std::time::{Duration, SystemTime};

/// A fixed instant so tests never depend on the clock (2025-01-01T00:00:00Z).
pub fn t0() -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(1_735_689_600)
}

/// `t0() + secs`.
pub fn at(secs: u64) -> SystemTime {
    t0() + Duration::from_secs(secs)
}
