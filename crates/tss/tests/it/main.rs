//! Integration tests of the threshold-signature layer. Signing tests use pre-computed key shares
//! (test-only fixtures made by `regenerate_fixtures`); `real_path` runs aux info and keygen for real.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    reason = "tests and their helpers: a failed step stops the test with its message"
)]

mod common;
mod eip155;
mod real_path;
mod signing;
