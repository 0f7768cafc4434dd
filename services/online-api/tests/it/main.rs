//! Integration tests of the online API: the real application (`online_api::app`) over real
//! SQLite files AND real PostgreSQL databases, a real anvil node with a real ERC-20 deployed,
//! the export key on a real SoftHSM token, and — for the end-to-end and fault tests — a
//! private RabbitMQ and the real chain worker. An anvil dev key stands in for the offline
//! zone's case key, and a software P-256 key for its HSM envelope key (test-only stand-ins,
//! named so in `testkit::envelopes`).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    reason = "test code: a failed unwrap is how a test fails"
)]

mod audit_log;
mod auth_flows;
mod common;
mod end_to_end;
mod four_eyes;
mod openapi;
mod policy_steps;
mod rejections;
mod sign_in_abuse;
