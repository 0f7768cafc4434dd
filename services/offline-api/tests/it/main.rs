//! Integration tests of the offline API: the real application (`offline_api::app`) over real
//! SQLite files AND real PostgreSQL databases (`testkit::db::TestDb`), with a real SoftHSM
//! token as the HSM. Each database test runs its body on both engines ([`common::on_both`]).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    reason = "test code: a failed unwrap is how a test fails"
)]

mod audit_log;
mod auth_flows;
mod batch;
mod bootstrap;
mod cases;
mod common;
mod exchange;
mod four_eyes;
mod openapi;
mod roles;
mod sign_in_abuse;
mod signing;
