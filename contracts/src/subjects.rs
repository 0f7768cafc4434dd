//! NATS subjects, JetStream streams and message headers of the offline bus (DESIGN.md §7).
//!
//! Everything lives under `custody.`, so one NATS permission (`custody.>`) covers the system
//! and per-user permissions can be narrowed to `custody.notify.manager.<user>`. Durable events
//! go through JetStream with a `Nats-Msg-Id` for de-duplication; protocol round traffic and
//! the channel handshake use core NATS (request/reply), because their state lives in the
//! running session and replaying them later would be meaningless.

use crate::Id;

/// The root of every subject.
pub const PREFIX: &str = "custody";

/// A draft case got its managers and SEs ([`crate::bus::CaseCreated`]).
pub const CASE_CREATED: &str = "custody.case.created";
/// A case manager was replaced ([`crate::bus::ManagerReplaced`]).
pub const CASE_MANAGER_REPLACED: &str = "custody.case.manager_replaced";
/// Keygen should start for a case ([`crate::bus::KeygenRequested`]).
pub const KEYGEN_REQUESTED: &str = "custody.keygen.requested";
/// Keygen finished and all parties agree on the public key ([`crate::bus::KeygenCompleted`]).
pub const KEYGEN_COMPLETED: &str = "custody.keygen.completed";
/// A manager's share (SE + PIN + handshake) is ready for a session ([`crate::bus::ShareAvailable`]).
pub const SHARE_AVAILABLE: &str = "custody.share.available";
/// A user lost access to a case share ([`crate::bus::AccessRevoked`]).
pub const ACCESS_REVOKED: &str = "custody.access.revoked";
/// A verified signing request was imported ([`crate::bus::SigningRequested`]).
pub const SIGNING_REQUESTED: &str = "custody.signing.requested";
/// A signing session was created for an imported request ([`crate::bus::SigningSessionCreated`]).
pub const SESSION_CREATED: &str = "custody.session.created";
/// SE↔HSM channel handshake, core NATS request/reply (not persisted).
pub const CHANNEL_HANDSHAKE: &str = "custody.channel.handshake";
/// Where nats-server asks its authorization callout (the coordinator) about a connection that
/// is none of the configured users: a client logging in to its channel's subjects with a
/// `coord::channel_login_token`. Fixed by nats-server.
pub const AUTH_CALLOUT: &str = "$SYS.REQ.USER.AUTH";
/// Operator subjects answer in JSON so the NATS CLI can be used; this is their wildcard.
pub const OPS_WILDCARD: &str = "custody.ops.>";
/// Wildcard of all manager notifications (for the notify stream and its consumers).
pub const NOTIFY_MANAGER_WILDCARD: &str = "custody.notify.manager.*";

/// The subject a manager's client listens on: `custody.notify.manager.<user>`.
///
/// Takes an [`Id`] rather than a string so no caller can smuggle `.`, `*` or `>` into a
/// subject token and widen what a subscriber receives.
pub fn notify_manager(user_id: &Id) -> String {
    format!("custody.notify.manager.{user_id}")
}

/// The subject of one protocol session's round messages: `custody.session.<id>.round`
/// (core NATS; payloads are end-to-end encrypted between clients).
pub fn session_round(session_id: &Id) -> String {
    format!("custody.session.{session_id}.round")
}

/// A JetStream stream: its name and the subjects it captures.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StreamSpec {
    /// Stream name.
    pub name: &'static str,
    /// Subjects (with wildcards) the stream captures.
    pub subjects: &'static [&'static str],
}

/// Durable business events consumed by the case, shard-registry and notify services.
/// `custody.session.created` is listed exactly, so `custody.session.<id>.round` (4 tokens)
/// is never captured.
pub const EVENTS_STREAM: StreamSpec = StreamSpec {
    name: "CUSTODY_EVENTS",
    subjects: &[
        "custody.case.>",
        "custody.keygen.>",
        "custody.share.>",
        "custody.access.>",
        "custody.signing.>",
        SESSION_CREATED,
    ],
};

/// Durable per-manager notifications, so a client that was off sees its work when it starts.
pub const NOTIFY_STREAM: StreamSpec = StreamSpec {
    name: "CUSTODY_NOTIFY",
    subjects: &["custody.notify.>"],
};

/// Events the reactors refused (no or a wrong MAC: not produced by this zone's outbox) or gave
/// up on, each republished on `custody.deadletter.<consumer>` with its reason in the
/// `custody-dead-letter-reason` header, kept for the operators.
pub const DEAD_LETTER_STREAM: StreamSpec = StreamSpec {
    name: "CUSTODY_DEADLETTER",
    subjects: &[DEAD_LETTER_WILDCARD],
};

/// The subjects of dead letters: `custody.deadletter.<consumer>`.
pub const DEAD_LETTER_WILDCARD: &str = "custody.deadletter.>";

/// All streams the offline zone creates at start-up.
pub const STREAMS: &[StreamSpec] = &[EVENTS_STREAM, NOTIFY_STREAM, DEAD_LETTER_STREAM];

/// Header names and values carried by every bus message.
pub mod headers {
    /// JetStream de-duplication id; set to the message's `event_id`.
    pub const MSG_ID: &str = "Nats-Msg-Id";
    /// Payload encoding header.
    pub const CONTENT_TYPE: &str = "content-type";
    /// The only content type of bus payloads (ops subjects excepted).
    pub const MSGPACK: &str = "application/msgpack";
    /// Content type of `custody.ops.*` answers.
    pub const JSON: &str = "application/json";
    /// Schema header: `<Type>/v<n>`, e.g. `CaseCreated/v1`.
    pub const SCHEMA: &str = "custody-schema";
    /// The zone HSM's MAC of the event (64 hex digits), checked by every consumer.
    pub const MAC: &str = "custody-mac";
}

// ---------------------------------------------------------------------------------------------
// RabbitMQ (online zone). Separate from the NATS names above: the online zone never talks to
// NATS and the offline zone never talks to RabbitMQ.
// ---------------------------------------------------------------------------------------------

/// Exchange, queues and routing keys of the online zone's RabbitMQ bus (DESIGN.md §7), declared
/// by `mq::Topology`. Work for the chain worker goes through one durable topic exchange into
/// durable quorum queues; what a queue gives up on goes to the dead-letter exchange and queue.
pub mod online {
    /// The topic exchange every online message is published to.
    pub const EXCHANGE: &str = "custody.online";
    /// Queue of signed transactions to broadcast (consumed by the chain worker).
    pub const BROADCAST_QUEUE: &str = "broadcast";
    /// Queue of broadcast transactions to track to their confirmations (chain worker).
    pub const TRACK_QUEUE: &str = "track";
    /// Routing key of "broadcast this signed transaction" messages (bound to [`BROADCAST_QUEUE`]).
    pub const BROADCAST_KEY: &str = "custody.tx.broadcast";
    /// Routing key of "track this broadcast transaction" messages (bound to [`TRACK_QUEUE`]).
    pub const TRACK_KEY: &str = "custody.tx.track";
    /// Where the work queues send messages they give up on (after the delivery limit, or
    /// rejected as unprocessable); dead letters keep their routing key.
    pub const DEAD_LETTER_EXCHANGE: &str = "custody.online.dead";
    /// The queue that keeps dead letters for an operator.
    pub const DEAD_LETTER_QUEUE: &str = "dead";
    /// An empty quorum queue declared after all others (`mq::Topology::anchor_queue`, which
    /// says why).
    pub const ANCHOR_QUEUE: &str = "dead.anchor";
    /// Deliveries after which a work queue dead-letters a message (`x-delivery-limit`).
    pub const DELIVERY_LIMIT: u32 = 10;
    /// Each work queue and the routing keys bound to it.
    pub const QUEUES: &[(&str, &[&str])] = &[
        (BROADCAST_QUEUE, &[BROADCAST_KEY]),
        (TRACK_QUEUE, &[TRACK_KEY]),
    ];
}
