//! Integration tests of `custody-hsm` against real SoftHSM2 tokens (from the shared testkit):
//! provisioning, reopening, certificate issuance, a full channel handshake signed by the HSM
//! channel key, envelope and audit signatures, and key protection attributes.

// clippy.toml allows these inside #[test] functions only; the shared helpers here are test
// code too, and a failed unwrap is exactly how a test should fail.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

mod export;
mod hsm;
