//! Integration tests of `custody-channel`: certificates, the handshake, channel frames and
//! end-to-end messages, with in-memory P-256 software signers standing in for the SE and HSM.

// clippy.toml allows these inside #[test] functions only; the shared helpers here are test
// code too, and a failed unwrap is exactly how a test should fail.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

mod cert;
mod common;
mod e2e;
mod frames;
mod handshake;
