//! The coordinator protocol between a manager's `custody-client` and the offline zone's
//! coordinator (DESIGN.md §3, §8, §9, §11).
//!
//! Three layers, all on core NATS (their state lives in running sessions; replaying them later
//! would be meaningless, so they are not persisted in JetStream):
//!
//! 1. **Handshake** on [`subjects::CHANNEL_HANDSHAKE`](crate::subjects::CHANNEL_HANDSHAKE),
//!    request/reply: [`HandshakeRequest`] → [`HandshakeReply`], carrying the `channel` crate's
//!    SIGMA messages. The SE signs with its identity key (only after PIN login), the
//!    coordinator with the HSM channel key.
//! 2. **Channel frames** on [`channel_up`] (client → coordinator) and [`channel_down`]
//!    (coordinator → client): each NATS message is one `channel::Frame`, AEAD-sealed with the
//!    channel's keys and sequence-numbered, so nobody on the bus can read, forge, replay or
//!    reorder them.
//! 3. **Messages inside the frames**: [`ClientMessage`] and [`CoordinatorMessage`]. Protocol
//!    round payloads inside them are *again* end-to-end encrypted between the clients
//!    (`channel::E2eSession`), so the coordinator relays ciphertext it cannot read.
//!
//! Everything is MessagePack with named fields; unknown fields are rejected.

use schemars::JsonSchema;
use serde::{de::DeserializeOwned, Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::{CaseRoster, Error, EthAddress, Id, Result};

/// Version of this protocol; a peer speaking another version is refused at the handshake.
/// Version 2: work items carry the case's HSM-signed roster ([`CaseRoster`]).
/// Version 3: [`HandshakeReply::Established`] says whether the channel's subjects need a
/// channel login ([`channel_login_token`]).
pub const PROTOCOL_VERSION: u8 = 3;

/// Largest frame or handshake message accepted (aux-info rounds carry Paillier proofs).
pub const MAX_MESSAGE_BYTES: usize = 768 * 1024;

/// Client → coordinator frames of one channel: `custody.channel.<channel>.up`.
pub fn channel_up(channel_id: &Id) -> String {
    format!("custody.channel.{channel_id}.up")
}

/// Coordinator → client frames of one channel: `custody.channel.<channel>.down`.
pub fn channel_down(channel_id: &Id) -> String {
    format!("custody.channel.{channel_id}.down")
}

/// What the coordinator subscribes to for every channel's upward frames.
pub const CHANNEL_UP_WILDCARD: &str = "custody.channel.*.up";

/// The `channel::SecureChannel::export` label of a channel's NATS login secret.
const CHANNEL_LOGIN_LABEL: &[u8] = b"custody/coord/v1/nats-channel-login";

/// The NATS token a client logs in with to use one channel's subjects (and nothing else):
/// `<channel id>.<64 hex digits>`, the hex being a secret only the two ends of the channel
/// can compute. The coordinator's NATS authorization callout admits a connection with it to
/// [`channel_up`] (publish) and [`channel_down`] (subscribe) of that channel only, while the
/// channel lives; the token never travels on the bus.
pub fn channel_login_token(
    channel_id: &Id,
    channel: &channel::SecureChannel,
) -> channel::Result<zeroize::Zeroizing<String>> {
    let secret = channel.export(CHANNEL_LOGIN_LABEL)?;
    Ok(zeroize::Zeroizing::new(format!(
        "{channel_id}.{}",
        hex::encode(secret.as_slice())
    )))
}

/// The channel a [`channel_login_token`] names, if it is one; whether it is that channel's
/// token is [`channel_login_matches`]'s question.
pub fn channel_login_channel(token: &str) -> Option<Id> {
    let (id, secret) = token.split_once('.')?;
    (secret.len() == 64).then_some(())?;
    Id::parse(id).ok()
}

/// Whether `token` is the login token of `channel` (compared in constant time).
pub fn channel_login_matches(token: &str, channel: &channel::SecureChannel) -> bool {
    let Some((_, given)) = token.split_once('.') else {
        return false;
    };
    let Ok(expected) = channel.export(CHANNEL_LOGIN_LABEL) else {
        return false;
    };
    let expected = zeroize::Zeroizing::new(hex::encode(expected.as_slice()));
    subtle::ConstantTimeEq::ct_eq(given.as_bytes(), expected.as_bytes()).into()
}

/// A handshake step from the client.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "snake_case")]
pub enum HandshakeRequest {
    /// First flight: who is logging in and the `channel::ClientHello` (with the SE
    /// certificate).
    Hello {
        /// [`PROTOCOL_VERSION`].
        version: u8,
        /// The case manager logging in.
        user_id: Id,
        /// `channel::ClientHello::to_bytes`.
        #[serde(with = "serde_bytes")]
        #[schemars(with = "Vec<u8>")]
        client_hello: Vec<u8>,
    },
    /// Second flight: the client's `channel::ClientFinished` (SE signature over the transcript).
    Finished {
        /// The channel the coordinator named in its hello.
        channel_id: Id,
        /// `channel::ClientFinished::to_bytes`.
        #[serde(with = "serde_bytes")]
        #[schemars(with = "Vec<u8>")]
        client_finished: Vec<u8>,
    },
}

/// The coordinator's answer to a [`HandshakeRequest`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "snake_case")]
pub enum HandshakeReply {
    /// The `channel::ServerHello` (HSM certificate and signature) for a new channel.
    Hello {
        /// The channel's id (names its frame subjects).
        channel_id: Id,
        /// `channel::ServerHello::to_bytes`.
        #[serde(with = "serde_bytes")]
        #[schemars(with = "Vec<u8>")]
        server_hello: Vec<u8>,
    },
    /// The channel is established; frames may flow.
    Established {
        /// The channel.
        channel_id: Id,
        /// Whether the channel's subjects are open only to a NATS connection that logged in
        /// with the channel's [`channel_login_token`] (the zone's NATS runs the coordinator's
        /// authorization callout); false: the connection that ran the handshake uses them.
        login: bool,
    },
    /// Refused, with the reason (no secret in it).
    Refused {
        /// Why.
        reason: String,
    },
}

/// A 32-byte execution id of one protocol run (`tss::ExecutionIdBytes`).
pub type RunId = [u8; 32];

/// One signing request of a signing work item, as the client must check it itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SignItem {
    /// The request id from the envelope.
    pub request_id: Id,
    /// The online zone's signed `SigningRequest` envelope, as imported (`Envelope::to_bytes`);
    /// the client verifies its signature under its own pinned online key and decodes it.
    #[serde(with = "serde_bytes")]
    #[schemars(with = "Vec<u8>")]
    pub envelope: Vec<u8>,
}

/// Work waiting for this manager (and this SE).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "snake_case")]
pub enum WorkItem {
    /// Keygen of a case whose share `share_index` this manager holds in this SE.
    Keygen {
        /// The case.
        case_id: Id,
        /// Its name.
        case_name: String,
        /// This manager's share.
        share_index: u8,
        /// The case's roster, signed by the offline HSM when the case was approved; the client
        /// refuses the keygen without one that names its own SE at `share_index`.
        roster: Option<CaseRoster>,
    },
    /// A signing session this manager may join.
    Sign {
        /// The session.
        session_id: Id,
        /// The case.
        case_id: Id,
        /// Its name.
        case_name: String,
        /// The case address (every request's `from`).
        address: EthAddress,
        /// This manager's share.
        share_index: u8,
        /// When the session expires (unix seconds).
        expires_at: u64,
        /// The requests it signs (one, or several for a batch).
        requests: Vec<SignItem>,
        /// The case's signed roster: the client signs only with peers on it.
        roster: Option<CaseRoster>,
    },
}

/// A manager's approval of one request: the signing hash they were shown.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Approval {
    /// The request id.
    pub request_id: Id,
    /// The EIP-1559 signing hash the manager approved.
    pub signing_hash: [u8; 32],
}

/// What a run computes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum RunKind {
    /// Paillier aux info (keygen sessions, first run).
    AuxInfo,
    /// The threshold key (keygen sessions, second run).
    Keygen,
    /// One signature.
    Sign,
}

/// One protocol run of a started session.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RunSpec {
    /// Its execution id; clients derive it themselves and refuse a mismatch.
    pub run: RunId,
    /// What it computes.
    pub kind: RunKind,
    /// For signing: the request.
    pub request_id: Option<Id>,
}

/// Client → coordinator, inside the channel.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "snake_case")]
pub enum ClientMessage {
    /// What work is waiting for me?
    ListWork,
    /// Join the keygen of a case (the coordinator opens its session if none is open).
    JoinKeygen {
        /// The case.
        case_id: Id,
    },
    /// Join a signing session, approving each of its requests by hash.
    JoinSigning {
        /// The session.
        session_id: Id,
        /// One approval per request of the session.
        approvals: Vec<Approval>,
    },
    /// This client's E2E announcement for a run (`channel::PeerAnnouncement`, SE-signed).
    Announce {
        /// The run.
        run: RunId,
        /// `PeerAnnouncement::to_bytes`.
        #[serde(with = "serde_bytes")]
        #[schemars(with = "Vec<u8>")]
        announcement: Vec<u8>,
    },
    /// A protocol round message, E2E-encrypted for its recipient.
    Round {
        /// The run.
        run: RunId,
        /// Sender position in the run.
        from: u16,
        /// Recipient position in the run.
        to: u16,
        /// E2E ciphertext.
        #[serde(with = "serde_bytes")]
        #[schemars(with = "Vec<u8>")]
        payload: Vec<u8>,
    },
    /// Keygen finished here: the share is sealed in the SE; the public key, signed by the SE
    /// over [`keygen_report_digest`].
    KeygenResult {
        /// The keygen session.
        session_id: Id,
        /// SEC1 compressed public key.
        #[serde(with = "serde_bytes")]
        #[schemars(with = "Vec<u8>")]
        public_key: Vec<u8>,
        /// Its address.
        address: EthAddress,
        /// P-256 signature (r‖s, 64 bytes) by the SE identity key.
        #[serde(with = "serde_bytes")]
        #[schemars(with = "Vec<u8>")]
        se_signature: Vec<u8>,
    },
    /// A signing run finished here with this signature (already checked against the case
    /// address by the client).
    SignResult {
        /// The session.
        session_id: Id,
        /// The run.
        run: RunId,
        /// r.
        r: [u8; 32],
        /// s (low-s).
        s: [u8; 32],
        /// y-parity.
        y_parity: bool,
    },
    /// This client gives up on the session (declined, protocol error, SE removed…).
    Abort {
        /// The session.
        session_id: Id,
        /// Why (shown to operators; no secret).
        reason: String,
    },
    /// Liveness; the coordinator answers [`CoordinatorMessage::Pong`].
    Ping,
    /// Orderly logout; the channel closes.
    Bye,
}

/// Coordinator → client, inside the channel.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "snake_case")]
pub enum CoordinatorMessage {
    /// The work waiting for this manager and SE.
    Work {
        /// The items.
        items: Vec<WorkItem>,
    },
    /// The share is marked available for the session.
    Joined {
        /// The session.
        session_id: Id,
        /// Share indices ready so far.
        ready: Vec<u8>,
        /// How many the session needs.
        needed: u8,
    },
    /// A request was refused (not in the key-share table, wrong SE, wrong hash…).
    Refused {
        /// The session, if the refusal is about one.
        session_id: Option<Id>,
        /// Why.
        reason: String,
    },
    /// Enough shares are ready: run these runs with these share indices.
    Start {
        /// The session.
        session_id: Id,
        /// Share indices taking part, in run position order.
        roster: Vec<u16>,
        /// The runs, in order (aux info before keygen; one per request for signing).
        runs: Vec<RunSpec>,
    },
    /// Every participant's E2E announcement for a run.
    Peers {
        /// The run.
        run: RunId,
        /// `PeerAnnouncement::to_bytes` of every participant, including this one.
        #[schemars(with = "Vec<Vec<u8>>")]
        announcements: Vec<serde_bytes::ByteBuf>,
    },
    /// A relayed round message (still E2E ciphertext).
    Round {
        /// The run.
        run: RunId,
        /// Sender position.
        from: u16,
        /// Recipient position.
        to: u16,
        /// E2E ciphertext.
        #[serde(with = "serde_bytes")]
        #[schemars(with = "Vec<u8>")]
        payload: Vec<u8>,
    },
    /// The session finished and its result is stored.
    Completed {
        /// The session.
        session_id: Id,
    },
    /// The session failed; nothing of it was stored.
    Failed {
        /// The session.
        session_id: Id,
        /// Why.
        reason: String,
    },
    /// Answer to [`ClientMessage::Ping`].
    Pong,
}

/// Encodes a protocol message (MessagePack, named fields).
pub fn encode<T: Serialize>(message: &T) -> Result<Vec<u8>> {
    rmp_serde::to_vec_named(message)
        .map_err(|e| Error::Invalid(format!("could not encode a coordinator message: {e}")))
}

/// Decodes a protocol message, rejecting oversized input, trailing bytes and unknown fields.
pub fn decode<T: DeserializeOwned>(bytes: &[u8], what: &str) -> Result<T> {
    if bytes.len() > MAX_MESSAGE_BYTES {
        return Err(Error::TooLarge {
            size: bytes.len(),
            max: MAX_MESSAGE_BYTES,
        });
    }
    crate::envelope::decode_msgpack(bytes, what)
}

/// The digest an SE signs to report a keygen result: it binds the session, the case, the
/// share index, the public key and the address, so a report cannot be moved to another
/// session, case or slot.
pub fn keygen_report_digest(
    session_id: &Id,
    case_id: &Id,
    share_index: u8,
    public_key: &[u8],
    address: &EthAddress,
) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(b"custody-keygen-report/v1");
    for part in [
        session_id.to_string().as_bytes(),
        case_id.to_string().as_bytes(),
        &[share_index],
        public_key,
        &address.0,
    ] {
        h.update((part.len() as u32).to_be_bytes());
        h.update(part);
    }
    h.finalize().into()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]
    use super::*;

    #[test]
    fn messages_round_trip_and_unknown_fields_are_rejected() {
        let id = Id::parse("01930000-0000-7000-8000-000000000001").unwrap();
        let msgs = vec![
            ClientMessage::ListWork,
            ClientMessage::Round {
                run: [7; 32],
                from: 0,
                to: 1,
                payload: vec![1, 2, 3],
            },
            ClientMessage::JoinSigning {
                session_id: id,
                approvals: vec![Approval {
                    request_id: id,
                    signing_hash: [9; 32],
                }],
            },
        ];
        for m in msgs {
            let bytes = encode(&m).unwrap();
            assert_eq!(
                decode::<ClientMessage>(&bytes, "client message").unwrap(),
                m
            );
        }
        let reply = CoordinatorMessage::Peers {
            run: [1; 32],
            announcements: vec![serde_bytes::ByteBuf::from(vec![5u8; 10])],
        };
        let bytes = encode(&reply).unwrap();
        assert_eq!(decode::<CoordinatorMessage>(&bytes, "m").unwrap(), reply);
        assert!(decode::<ClientMessage>(&[0xc1], "client message").is_err());
        assert!(decode::<ClientMessage>(&vec![0u8; MAX_MESSAGE_BYTES + 1], "x").is_err());
    }

    #[test]
    fn the_keygen_report_digest_binds_every_field() {
        let a = Id::parse("01930000-0000-7000-8000-000000000001").unwrap();
        let b = Id::parse("01930000-0000-7000-8000-000000000002").unwrap();
        let addr = EthAddress([1; 20]);
        let base = keygen_report_digest(&a, &b, 0, &[2; 33], &addr);
        assert_ne!(base, keygen_report_digest(&b, &a, 0, &[2; 33], &addr));
        assert_ne!(base, keygen_report_digest(&a, &b, 1, &[2; 33], &addr));
        assert_ne!(base, keygen_report_digest(&a, &b, 0, &[3; 33], &addr));
        assert_ne!(
            base,
            keygen_report_digest(&a, &b, 0, &[2; 33], &EthAddress([2; 20]))
        );
    }
}
