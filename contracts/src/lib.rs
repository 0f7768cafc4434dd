//! The wire contract of the custody system: everything that crosses a process boundary or the
//! air gap, and nothing else (DESIGN.md §7, §10).
//!
//! [`subjects`] names the NATS subjects, JetStream streams and headers of the offline bus;
//! [`bus`] holds the MessagePack event types that travel on it; [`envelope`] holds the signed,
//! versioned, expiring documents that cross the air gap (`AccountManifest`, `SigningRequest`,
//! `SignatureResponse`, `BalanceAttestation`), including the decoding and checking of the
//! unsigned Ethereum transaction a signing request carries, so that nobody signs a bare hash;
//! [`transfer_format`] turns an envelope into a file, an armored text block or a series of QR
//! codes and back; [`schema`] generates the JSON Schemas committed under `schemas/contracts/`.
//! Domain and storage types deliberately do not live here: a type in this crate is a promise
//! to another component, changed only with a new schema version, and golden fixtures in
//! `tests/fixtures` make an accidental change fail a test. Time is always a parameter (`now`,
//! unix seconds) and long-term keys stay behind [`channel::IdentitySigner`].

pub mod bus;
pub mod checkpoint;
pub mod coord;
mod digest;
pub mod envelope;
mod error;
pub mod eth;
pub mod roster;
pub mod schema;
pub mod subjects;
pub mod transfer_format;
pub mod types;

pub use checkpoint::{AuditCheckpoint, CheckpointStatement, Zone};
pub use envelope::{
    AccountManifest, BalanceAttestation, Body, Envelope, KeyRing, Kind, SignatureResponse,
    SigningRequest, TransferSummary, Verified, VerifiedBody,
};
pub use error::{Error, Result};
pub use roster::{CaseRoster, RosterSlot};
pub use types::{Amount, EthAddress, Id};
