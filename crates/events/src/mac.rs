//! Event MACs: how a consumer knows an event came from its own zone's outbox.
//!
//! When a change writes an outbox row, the zone's HSM MACs the event
//! ([`event_mac_input`]) in the same transaction; the relay sends the MAC as the
//! [`MAC_HEADER`] header. A consumer asks the same HSM whether the MAC is right
//! ([`EventVerifier::verify`]). Somebody who can publish on a subject — or write the outbox
//! table without the HSM — can therefore not make a consumer act: their event has no MAC, or a
//! MAC for other content. The MAC covers the topic (subject or routing key), the message id,
//! the content type, the schema and the payload, so none of them can be changed or moved to
//! another topic; replays of a genuine event are stopped by the consumers' idempotency guard.

use std::sync::Arc;

use channel::MacKey;
use subtle::ConstantTimeEq;

/// The header that carries the event MAC (64 hex digits), on NATS and on RabbitMQ.
pub const MAC_HEADER: &str = "custody-mac";

/// Domain separation of event MACs (record MACs have their own tag).
const EVENT_MAC_TAG: &[u8] = b"custody/event-mac/v1";

/// The fields of an event that its MAC covers.
#[derive(Clone, Copy, Debug)]
pub struct EventMacInput<'a> {
    /// The subject (NATS) or routing key (RabbitMQ).
    pub topic: &'a str,
    /// The message id (`Nats-Msg-Id`, AMQP `message-id`).
    pub message_id: &'a str,
    /// The payload's content type.
    pub content_type: &'a str,
    /// The payload's schema name (`<Type>/v<n>`), or empty when the bus sends none.
    pub schema: &'a str,
    /// The payload.
    pub payload: &'a [u8],
}

/// What the MAC of an event covers: `lp(tag) ‖ lp(topic) ‖ lp(message id) ‖ lp(content type) ‖
/// lp(schema) ‖ lp(payload)`, where `lp(x)` is `len(x)` as u64 BE followed by `x`.
pub fn event_mac_input(event: &EventMacInput<'_>) -> Vec<u8> {
    let mut out = Vec::with_capacity(event.payload.len() + 160);
    for part in [
        EVENT_MAC_TAG,
        event.topic.as_bytes(),
        event.message_id.as_bytes(),
        event.content_type.as_bytes(),
        event.schema.as_bytes(),
        event.payload,
    ] {
        out.extend_from_slice(&(part.len() as u64).to_be_bytes());
        out.extend_from_slice(part);
    }
    out
}

/// The MAC of `event` under `key`, in hex (what the outbox stores and the relay sends).
pub fn seal_event(
    key: &dyn MacKey,
    event: &EventMacInput<'_>,
) -> Result<String, channel::SignerError> {
    Ok(hex::encode(key.mac(&event_mac_input(event))?))
}

/// An event body as an outbox row stores it: the JSON with `event_id` (= the message id) and
/// `at` (unix seconds) added, and its MAC under the zone's key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SealedBody {
    /// The serialized body.
    pub payload: Vec<u8>,
    /// The hex MAC of the event ([`seal_event`]).
    pub mac: String,
}

/// Add `event_id` and `at` to `body`, serialize it and MAC the event: what both zones' outboxes
/// write, in the transaction of the change, with the zone's HSM key.
pub fn seal_body(
    key: &dyn MacKey,
    topic: &str,
    message_id: &str,
    content_type: &str,
    schema: &str,
    at_unix: i64,
    mut body: serde_json::Value,
) -> Result<SealedBody, channel::SignerError> {
    if let Some(obj) = body.as_object_mut() {
        obj.insert("event_id".into(), serde_json::json!(message_id));
        obj.insert("at".into(), serde_json::json!(at_unix));
    }
    let payload =
        serde_json::to_vec(&body).map_err(|e| channel::SignerError(format!("event body: {e}")))?;
    let mac = seal_event(
        key,
        &EventMacInput {
            topic,
            message_id,
            content_type,
            schema,
            payload: &payload,
        },
    )?;
    Ok(SealedBody { payload, mac })
}

/// Why a consumer refused an event without handling it. Each is a sentence for the log and the
/// dead-letter reason; none repeats the payload.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Rejection {
    /// The event has no message id, so its effect could not be guarded against repeats.
    #[error("the event has no message id")]
    NoMessageId,
    /// The event carries no MAC: it was not produced by this zone's outbox.
    #[error("the event carries no MAC: it was not produced by this zone's outbox (forged)")]
    NoMac,
    /// The MAC is not the zone HSM's MAC of this event: forged, altered or moved.
    #[error("the event's MAC does not verify: it was forged, altered or published on another subject than it was written for")]
    BadMac,
}

/// Checks events against the zone's HSM MAC key. Cheap to clone.
#[derive(Clone)]
pub struct EventVerifier {
    key: Arc<dyn MacKey>,
}

impl std::fmt::Debug for EventVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EventVerifier").finish_non_exhaustive()
    }
}

impl EventVerifier {
    /// A verifier with the zone's MAC key.
    pub fn new(key: Arc<dyn MacKey>) -> EventVerifier {
        EventVerifier { key }
    }

    /// Whether `mac` (hex, from the event's [`MAC_HEADER`]) is the zone's MAC of `event`.
    /// An HSM failure is an error (retry later), not a rejection.
    pub fn verify(
        &self,
        event: &EventMacInput<'_>,
        mac: Option<&str>,
    ) -> Result<Result<(), Rejection>, channel::SignerError> {
        if event.message_id.is_empty() {
            return Ok(Err(Rejection::NoMessageId));
        }
        let Some(mac) = mac else {
            return Ok(Err(Rejection::NoMac));
        };
        let mut claimed = [0u8; 32];
        if hex::decode_to_slice(mac.trim(), &mut claimed).is_err() {
            return Ok(Err(Rejection::BadMac));
        }
        let expected = self.key.mac(&event_mac_input(event))?;
        Ok(if bool::from(expected.ct_eq(&claimed)) {
            Ok(())
        } else {
            Err(Rejection::BadMac)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input(payload: &[u8]) -> EventMacInput<'_> {
        EventMacInput {
            topic: "custody.case.created",
            message_id: "m1",
            content_type: "application/json",
            schema: "CaseCreated/v1",
            payload,
        }
    }

    #[test]
    fn fields_are_length_prefixed_so_boundaries_cannot_move() {
        let a = EventMacInput {
            topic: "a.b",
            message_id: "c",
            ..input(b"x")
        };
        let b = EventMacInput {
            topic: "a.",
            message_id: "bc",
            ..input(b"x")
        };
        assert_ne!(event_mac_input(&a), event_mac_input(&b));
        assert_ne!(event_mac_input(&input(b"x")), event_mac_input(&input(b"y")));
    }
}
