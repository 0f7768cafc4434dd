//! Integration tests of the wire contract, in one binary.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "tests fail loudly on purpose"
)]

mod bus;
mod common;
mod envelope;
mod fuzz_corpus;
mod golden;
mod qr;
mod schemas;
mod tx;
