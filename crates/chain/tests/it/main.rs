//! Integration tests of the chain adapter against a real anvil (testkit): a TestToken deployed
//! per test, transfers signed with anvil's test-only dev keys, broadcast through `send_raw`.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "tests"
)]

mod broadcast;
mod common;
mod reads;
mod tracking;
