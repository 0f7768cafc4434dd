//! Threshold ECDSA for the custody key: cggmp21 on secp256k1, 2-of-3, behind a small API that does
//! not care how round messages travel (DESIGN.md §8).
//!
//! What this crate offers, and deliberately does not:
//! - aux-info generation ([`aux_info`]) from Paillier primes that a [`PrimePool`] pre-generates in
//!   the background with progress reports, distributed key generation ([`keygen`]) and the
//!   assembly of a complete [`KeyShare`] (share + aux info);
//! - full signing runs for exactly two of the three shares ([`sign`]), and batches of full runs
//!   ([`sign_batch`]). There is no presignature API at all: with cggmp21 0.6.x a presignature over a
//!   raw 32-byte hash (which Ethereum signs) is exposed to CVE-2025-66017;
//! - Ethereum-ready output: a low-s, recoverable [`EthSignature`] that is checked with k256 (not
//!   cggmp21's own verify) against the shared public key before it is returned, and the
//!   [`EthAddress`] of the shared key;
//! - execution ids that are derived from the session, case, run kind and message
//!   ([`ExecutionIdBytes`]) so no two runs ever share one.
//!
//! Round messages go through the [`Transport`] port; [`InMemoryNetwork`] serves tests and benches,
//! the offline zone carries them over NATS, end-to-end encrypted between clients.

mod eid;
mod error;
mod eth;
mod primes;
mod protocol;
mod share;
mod transport;

pub use eid::{ExecutionIdBytes, RunKind};
pub use error::{Error, Result};
pub use eth::{EthAddress, EthSignature};
pub use primes::{PaillierPrimes, PoolProgress, PrimePool};
pub use protocol::{aux_info, keygen, sign, sign_batch, BatchItem, Progress, ProgressEvent};
pub use share::{AuxInfo, IncompleteShare, KeyShare, ShareIndex, SignerSet, PARTIES, THRESHOLD};
pub use transport::{
    InMemoryNetwork, InMemoryTransport, MessageReceiver, MessageSender, Transport, TransportError,
    WireMessage,
};

/// The underlying library, re-exported for benchmarks and for tests that need cggmp21's own
/// tools (the trusted dealer is only ever used in tests).
pub use cggmp21;
