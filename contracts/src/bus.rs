//! Events of the offline bus (DESIGN.md §11), MessagePack-encoded with named fields.
//!
//! Every message has an `event_id` (UUIDv7, also sent as `Nats-Msg-Id` so JetStream drops a
//! re-publish from the outbox) and `at` (unix seconds, set by the publisher from its clock
//! parameter). Each type has a [`BusMessage::SCHEMA`] (`<Type>/v<n>`) sent in the
//! `custody-schema` header; a change that is not backwards compatible gets a new type or
//! version, never a silent edit. Unknown fields are rejected: a receiver that does not
//! understand a message must say so rather than act on part of it. Messages carry ids, not
//! secrets and not personal data beyond ids; services read names and phones from the database.

use schemars::JsonSchema;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::subjects::{self, headers};
use crate::{Error, EthAddress, Id, Result};

/// Largest bus payload accepted, far above any real event; bounds work done on bad input.
pub const MAX_BUS_MESSAGE_BYTES: usize = 256 * 1024;

/// What every bus message provides.
pub trait BusMessage: Serialize + DeserializeOwned + JsonSchema {
    /// Schema name and version, sent in the `custody-schema` header: `<Type>/v<n>`.
    const SCHEMA: &'static str;
    /// The de-duplication id (UUIDv7), sent as `Nats-Msg-Id`.
    fn event_id(&self) -> &Id;
    /// The subject to publish on.
    fn subject(&self) -> String;
}

/// Encodes a message as MessagePack with named fields (maps), so fields are self-describing
/// and a reordering of struct fields cannot change their meaning.
pub fn encode<T: BusMessage>(message: &T) -> Result<Vec<u8>> {
    rmp_serde::to_vec_named(message)
        .map_err(|e| Error::Invalid(format!("could not encode {}: {e}", T::SCHEMA)))
}

/// Decodes a MessagePack payload as `T`. Rejects oversized input, trailing bytes, unknown
/// fields and an `event_id` that is not a UUIDv7.
pub fn decode<T: BusMessage>(bytes: &[u8]) -> Result<T> {
    if bytes.len() > MAX_BUS_MESSAGE_BYTES {
        return Err(Error::TooLarge {
            size: bytes.len(),
            max: MAX_BUS_MESSAGE_BYTES,
        });
    }
    let message: T = crate::envelope::decode_msgpack(bytes, T::SCHEMA)?;
    if !message.event_id().is_v7() {
        return Err(Error::Malformed(format!(
            "{}: event_id {} is not a UUIDv7",
            T::SCHEMA,
            message.event_id()
        )));
    }
    Ok(message)
}

/// Decodes a payload after checking the `custody-schema` header names `T`'s schema; a
/// missing header is an error too, because a receiver must not guess a payload's type.
pub fn decode_with_schema<T: BusMessage>(schema_header: Option<&str>, bytes: &[u8]) -> Result<T> {
    match schema_header {
        Some(found) if found == T::SCHEMA => decode(bytes),
        Some(found) => Err(Error::SchemaMismatch {
            expected: T::SCHEMA,
            found: found.chars().take(64).collect(),
        }),
        None => Err(Error::SchemaMismatch {
            expected: T::SCHEMA,
            found: "(no custody-schema header)".to_owned(),
        }),
    }
}

/// The headers to publish `message` with: `Nats-Msg-Id`, `content-type`, `custody-schema`.
pub fn headers_for<T: BusMessage>(message: &T) -> [(&'static str, String); 3] {
    [
        (headers::MSG_ID, message.event_id().to_string()),
        (headers::CONTENT_TYPE, headers::MSGPACK.to_owned()),
        (headers::SCHEMA, T::SCHEMA.to_owned()),
    ]
}

/// One share slot of a case: which manager holds share `share_index` in which SE.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ShareSlot {
    /// Share index 0..=2 (position in the key-share table).
    pub share_index: u8,
    /// The case manager.
    pub user_id: Id,
    /// The secure element that holds (or will hold) the share.
    pub se_id: Id,
}

/// A case was created with its three managers and SEs; the case service reacts by requesting
/// keygen.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CaseCreated {
    /// UUIDv7 de-duplication id.
    pub event_id: Id,
    /// Unix seconds.
    pub at: u64,
    /// The case.
    pub case_id: Id,
    /// Display name of the case.
    pub name: String,
    /// Chain ids the case's address will be used on.
    pub chain_ids: Vec<u64>,
    /// The three slots (manager + SE per share index).
    pub slots: Vec<ShareSlot>,
    /// The admin who created the case.
    pub created_by: Id,
}

/// Keygen should run for a case in a new protocol session; notify tells the managers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct KeygenRequested {
    /// UUIDv7 de-duplication id.
    pub event_id: Id,
    /// Unix seconds.
    pub at: u64,
    /// The case.
    pub case_id: Id,
    /// The keygen protocol session (its execution id is derived from it).
    pub session_id: Id,
    /// The slots that must join.
    pub slots: Vec<ShareSlot>,
    /// When the session expires if not all managers join (unix seconds).
    pub expires_at: u64,
}

/// A manager's client finished the handshake for a session: SE present, PIN verified
/// locally, channel established.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ShareAvailable {
    /// UUIDv7 de-duplication id.
    pub event_id: Id,
    /// Unix seconds.
    pub at: u64,
    /// The protocol session (keygen or signing).
    pub session_id: Id,
    /// The case.
    pub case_id: Id,
    /// The share index the client brings.
    pub share_index: u8,
    /// The manager.
    pub user_id: Id,
    /// The SE that authenticated the handshake.
    pub se_id: Id,
    /// The secure channel that was established.
    pub channel_id: Id,
}

/// Keygen finished and every client reported the same public key, signed by its SE.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct KeygenCompleted {
    /// UUIDv7 de-duplication id.
    pub event_id: Id,
    /// Unix seconds.
    pub at: u64,
    /// The keygen session.
    pub session_id: Id,
    /// The case.
    pub case_id: Id,
    /// The case's secp256k1 public key, SEC1 compressed (33 bytes, MessagePack bin).
    #[serde(with = "serde_bytes")]
    #[schemars(with = "Vec<u8>")]
    pub public_key: Vec<u8>,
    /// The Ethereum address of that key.
    pub address: EthAddress,
    /// Who holds which share in which SE (becomes the key-share table).
    pub slots: Vec<ShareSlot>,
}

/// A case manager was replaced: same share, same SE, new holder, PIN reset at hand-over.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ManagerReplaced {
    /// UUIDv7 de-duplication id.
    pub event_id: Id,
    /// Unix seconds.
    pub at: u64,
    /// The case.
    pub case_id: Id,
    /// The share whose holder changed.
    pub share_index: u8,
    /// The SE, which travels to the new manager.
    pub se_id: Id,
    /// The previous manager (loses access).
    pub from_user_id: Id,
    /// The new manager.
    pub to_user_id: Id,
    /// The security officer who reset the SE's PIN.
    pub pin_reset_by: Id,
    /// The admin who made the change.
    pub by: Id,
    /// Free-text reason recorded in the audit log.
    pub reason: String,
}

/// Why a user lost access to a share.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum RevocationReason {
    /// Another manager took over the share.
    ManagerReplaced,
    /// The case was archived.
    CaseArchived,
    /// The case is being re-keyed (SE lost or suspect).
    CaseRekeyed,
    /// The user account was disabled.
    UserDisabled,
}

/// A user can no longer join sessions of a case share; clients drop cached work for it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AccessRevoked {
    /// UUIDv7 de-duplication id.
    pub event_id: Id,
    /// Unix seconds.
    pub at: u64,
    /// The user who lost access.
    pub user_id: Id,
    /// The case.
    pub case_id: Id,
    /// The share the user held.
    pub share_index: u8,
    /// Why.
    pub reason: RevocationReason,
}

/// A signing request passed every import check (signature, expiry, replay, hash, chain,
/// account) and was stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SigningRequested {
    /// UUIDv7 de-duplication id.
    pub event_id: Id,
    /// Unix seconds.
    pub at: u64,
    /// The request id from the envelope body (UNIQUE in the database).
    pub request_id: Id,
    /// The case found by the from address.
    pub case_id: Id,
    /// EIP-155 chain id.
    pub chain_id: u64,
    /// The account that will sign.
    pub from: EthAddress,
    /// The EIP-1559 signing hash (32 bytes, MessagePack bin).
    #[serde(with = "serde_bytes")]
    #[schemars(with = "[u8; 32]")]
    pub signing_hash: [u8; 32],
    /// The operator who imported it.
    pub imported_by: Id,
}

/// A signing session exists for a request; notify tells the listed managers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SigningSessionCreated {
    /// UUIDv7 de-duplication id.
    pub event_id: Id,
    /// Unix seconds.
    pub at: u64,
    /// The signing session.
    pub session_id: Id,
    /// The case.
    pub case_id: Id,
    /// The request being signed.
    pub request_id: Id,
    /// The EIP-1559 signing hash (32 bytes), for comparison by eye on the clients.
    #[serde(with = "serde_bytes")]
    #[schemars(with = "[u8; 32]")]
    pub signing_hash: [u8; 32],
    /// The managers who may join (any two of them suffice).
    pub slots: Vec<ShareSlot>,
    /// When the session expires (unix seconds).
    pub expires_at: u64,
}

/// What a manager notification is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum NotificationTopic {
    /// Join a keygen session.
    KeygenInvitation,
    /// Review and approve a signing session.
    SigningInvitation,
    /// You now hold a case share (after a manager change).
    ShareAssigned,
    /// You no longer hold a case share.
    AccessRevoked,
}

/// A message to one manager's client, on `custody.notify.manager.<user>`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ManagerNotification {
    /// UUIDv7 de-duplication id.
    pub event_id: Id,
    /// Unix seconds.
    pub at: u64,
    /// The recipient.
    pub user_id: Id,
    /// What it is about.
    pub topic: NotificationTopic,
    /// The case.
    pub case_id: Id,
    /// The session to join, for invitations.
    pub session_id: Option<Id>,
    /// The recipient's share index in the case.
    pub share_index: Option<u8>,
    /// The SE to insert, for invitations.
    pub se_id: Option<Id>,
}

macro_rules! bus_message {
    ($ty:ident, $schema:literal, |$m:ident| $subject:expr) => {
        impl BusMessage for $ty {
            const SCHEMA: &'static str = $schema;
            fn event_id(&self) -> &Id {
                &self.event_id
            }
            fn subject(&self) -> String {
                let $m = self;
                $subject
            }
        }
    };
}

bus_message!(CaseCreated, "CaseCreated/v1", |_m| subjects::CASE_CREATED
    .to_owned());
bus_message!(KeygenRequested, "KeygenRequested/v1", |_m| {
    subjects::KEYGEN_REQUESTED.to_owned()
});
bus_message!(ShareAvailable, "ShareAvailable/v1", |_m| {
    subjects::SHARE_AVAILABLE.to_owned()
});
bus_message!(KeygenCompleted, "KeygenCompleted/v1", |_m| {
    subjects::KEYGEN_COMPLETED.to_owned()
});
bus_message!(ManagerReplaced, "ManagerReplaced/v1", |_m| {
    subjects::CASE_MANAGER_REPLACED.to_owned()
});
bus_message!(AccessRevoked, "AccessRevoked/v1", |_m| {
    subjects::ACCESS_REVOKED.to_owned()
});
bus_message!(SigningRequested, "SigningRequested/v1", |_m| {
    subjects::SIGNING_REQUESTED.to_owned()
});
bus_message!(SigningSessionCreated, "SigningSessionCreated/v1", |_m| {
    subjects::SESSION_CREATED.to_owned()
});
bus_message!(ManagerNotification, "ManagerNotification/v1", |m| {
    subjects::notify_manager(&m.user_id)
});
