//! The broker-neutral core of both zones' buses (DESIGN.md §7, §14): what the offline zone's
//! NATS JetStream adapter (`crates/bus`) and the online zone's RabbitMQ adapter (`crates/mq`)
//! do alike, written once.
//!
//! - **The transactional outbox relay** ([`run_relay`]): events committed in the same database
//!   transaction as the change that caused them are published from the outbox table in order
//!   and marked only after the broker took them, so a broker that is down delays events but
//!   never loses one; a publish whose acknowledgement was lost is repeated with the same
//!   message id.
//! - **Event MACs** ([`mac`]): every outbox row carries an HMAC-SHA256 of the event made with the
//!   zone's HSM key in the transaction that wrote it, and travels with it as a header.
//! - **Verified, idempotent consumers** ([`decide`], [`EventVerifier`], [`Processed`],
//!   [`handle_once`]): a consumer acts only on an event that its own zone's outbox produced —
//!   one whose MAC the zone's HSM confirms. A forged, altered or MAC-less event is
//!   dead-lettered with its reason and a log line, changes nothing, and is counted
//!   ([`ConsumerStats`]); a repeated event is acknowledged without effect by the idempotency
//!   guard.
//!
//! The adapters own connections, broker-specific publishing and acknowledgement; this crate
//! owns the decisions. It knows no subject, queue or message type.

mod backoff;
pub mod mac;
mod outbox;
mod process;

pub use backoff::Backoff;
pub use mac::{
    event_mac_input, seal_body, seal_event, EventMacInput, EventVerifier, Rejection, SealedBody,
    MAC_HEADER,
};
pub use outbox::{
    relay_pending, run_relay, Clock, MemoryOutbox, Outbox, OutboxEntry, PublishError, Publisher,
    RelayConfig, RelayError, SystemClock,
};
pub use process::{
    decide, handle_once, ConsumerStats, Delivery, HandlerError, Incoming, MemoryProcessed, Once,
    Processed, StatsSnapshot, StoreError, Verdict,
};

/// The content types a payload may have; a consumer never has to guess the encoding.
pub mod content_types {
    /// MessagePack, the default encoding of bus payloads.
    pub const MSGPACK: &str = "application/msgpack";
    /// JSON (operator-facing messages, rows written as JSON).
    pub const JSON: &str = "application/json";
}
