//! Bus messages: encoding, decoding, headers and subjects.

use contracts::bus::{self, *};
use contracts::subjects::{self, headers};
use contracts::{Error, Id};

use crate::common::*;

pub fn slots() -> Vec<ShareSlot> {
    (0..3u8)
        .map(|i| ShareSlot {
            share_index: i,
            user_id: id(20 + i),
            se_id: id(30 + i),
        })
        .collect()
}

pub fn case_created() -> CaseCreated {
    CaseCreated {
        event_id: id(40),
        at: NOW,
        case_id: id(1),
        name: "Case 2025-017 (seized wallet)".into(),
        chain_ids: vec![1],
        slots: slots(),
        created_by: id(5),
    }
}

pub fn keygen_requested() -> KeygenRequested {
    KeygenRequested {
        event_id: id(41),
        at: NOW,
        case_id: id(1),
        session_id: id(50),
        slots: slots(),
        expires_at: NOW + 3600,
    }
}

pub fn share_available() -> ShareAvailable {
    ShareAvailable {
        event_id: id(42),
        at: NOW,
        session_id: id(50),
        case_id: id(1),
        share_index: 1,
        user_id: id(21),
        se_id: id(31),
        channel_id: id(60),
    }
}

pub fn keygen_completed() -> KeygenCompleted {
    KeygenCompleted {
        event_id: id(43),
        at: NOW,
        session_id: id(50),
        case_id: id(1),
        public_key: manifest().public_key,
        address: case_address(),
        slots: slots(),
    }
}

pub fn manager_replaced() -> ManagerReplaced {
    ManagerReplaced {
        event_id: id(44),
        at: NOW,
        case_id: id(1),
        share_index: 2,
        se_id: id(32),
        from_user_id: id(22),
        to_user_id: id(25),
        pin_reset_by: id(6),
        by: id(5),
        reason: "manager left the unit".into(),
    }
}

pub fn access_revoked() -> AccessRevoked {
    AccessRevoked {
        event_id: id(45),
        at: NOW,
        user_id: id(22),
        case_id: id(1),
        share_index: 2,
        reason: RevocationReason::ManagerReplaced,
    }
}

pub fn signing_requested() -> SigningRequested {
    SigningRequested {
        event_id: id(46),
        at: NOW,
        request_id: id(2),
        case_id: id(1),
        chain_id: 1,
        from: case_address(),
        signing_hash: erc20_request().signing_hash,
        imported_by: id(7),
    }
}

pub fn signing_session_created() -> SigningSessionCreated {
    SigningSessionCreated {
        event_id: id(47),
        at: NOW,
        session_id: id(51),
        case_id: id(1),
        request_id: id(2),
        signing_hash: erc20_request().signing_hash,
        slots: slots(),
        expires_at: NOW + 3600,
    }
}

pub fn manager_notification() -> ManagerNotification {
    ManagerNotification {
        event_id: id(48),
        at: NOW,
        user_id: id(21),
        topic: NotificationTopic::SigningInvitation,
        case_id: id(1),
        session_id: Some(id(51)),
        share_index: Some(1),
        se_id: Some(id(31)),
    }
}

fn round_trip<T: BusMessage + PartialEq + std::fmt::Debug>(message: T) {
    let bytes = bus::encode(&message).unwrap();
    assert_eq!(bus::decode::<T>(&bytes).unwrap(), message);
    assert_eq!(
        bus::decode_with_schema::<T>(Some(T::SCHEMA), &bytes).unwrap(),
        message
    );
    let headers = bus::headers_for(&message);
    assert_eq!(
        headers[0],
        (headers::MSG_ID, message.event_id().to_string())
    );
    assert_eq!(
        headers[1],
        (headers::CONTENT_TYPE, "application/msgpack".to_owned())
    );
    assert_eq!(headers[2], (headers::SCHEMA, T::SCHEMA.to_owned()));
    assert!(message.subject().starts_with("custody."));
    // Named fields: the field names are in the bytes.
    assert!(bytes.windows(8).any(|w| w == b"event_id"));
}

#[test]
fn every_bus_message_round_trips() {
    round_trip(case_created());
    round_trip(keygen_requested());
    round_trip(share_available());
    round_trip(keygen_completed());
    round_trip(manager_replaced());
    round_trip(access_revoked());
    round_trip(signing_requested());
    round_trip(signing_session_created());
    round_trip(manager_notification());
}

#[test]
fn subjects_follow_the_design() {
    assert_eq!(case_created().subject(), "custody.case.created");
    assert_eq!(keygen_requested().subject(), "custody.keygen.requested");
    assert_eq!(share_available().subject(), "custody.share.available");
    assert_eq!(
        manager_replaced().subject(),
        "custody.case.manager_replaced"
    );
    assert_eq!(
        signing_session_created().subject(),
        "custody.session.created"
    );
    assert_eq!(signing_requested().subject(), "custody.signing.requested");
    assert_eq!(
        manager_notification().subject(),
        format!("custody.notify.manager.{}", id(21))
    );
    assert_eq!(
        subjects::session_round(&id(51)),
        format!("custody.session.{}.round", id(51))
    );
    assert_eq!(subjects::CHANNEL_HANDSHAKE, "custody.channel.handshake");
    assert_eq!(CaseCreated::SCHEMA, "CaseCreated/v1");

    // Durable events are captured by exactly one stream; round traffic by none.
    let captured = |subject: &str| {
        subjects::STREAMS
            .iter()
            .filter(|s| s.subjects.iter().any(|p| nats_match(p, subject)))
            .count()
    };
    for subject in [
        case_created().subject(),
        keygen_requested().subject(),
        keygen_completed().subject(),
        share_available().subject(),
        manager_replaced().subject(),
        access_revoked().subject(),
        signing_requested().subject(),
        signing_session_created().subject(),
        manager_notification().subject(),
    ] {
        assert_eq!(captured(&subject), 1, "{subject}");
    }
    assert_eq!(captured(&subjects::session_round(&id(51))), 0);
    assert_eq!(captured(subjects::CHANNEL_HANDSHAKE), 0);
}

/// NATS subject matching: `*` is one token, `>` one or more trailing tokens.
fn nats_match(pattern: &str, subject: &str) -> bool {
    let p: Vec<&str> = pattern.split('.').collect();
    let s: Vec<&str> = subject.split('.').collect();
    for (i, token) in p.iter().enumerate() {
        match *token {
            ">" => return s.len() > i,
            "*" if i < s.len() => {}
            t if s.get(i) == Some(&t) => {}
            _ => return false,
        }
    }
    p.len() == s.len()
}

#[test]
fn bus_decode_rejects_bad_input() {
    let bytes = bus::encode(&case_created()).unwrap();
    // Wrong schema header, missing header.
    let err = bus::decode_with_schema::<CaseCreated>(Some("CaseCreated/v2"), &bytes).unwrap_err();
    assert!(matches!(err, Error::SchemaMismatch { .. }), "{err}");
    let err = bus::decode_with_schema::<CaseCreated>(None, &bytes).unwrap_err();
    assert!(matches!(err, Error::SchemaMismatch { .. }), "{err}");
    // Another message's bytes, truncated bytes, garbage.
    let other = bus::encode(&access_revoked()).unwrap();
    assert!(matches!(
        bus::decode::<CaseCreated>(&other),
        Err(Error::Malformed(_))
    ));
    assert!(matches!(
        bus::decode::<CaseCreated>(&bytes[..bytes.len() - 2]),
        Err(Error::Malformed(_))
    ));
    assert!(matches!(
        bus::decode::<CaseCreated>(b"\xff\x00"),
        Err(Error::Malformed(_))
    ));
    // An event id that is not a UUIDv7 (cannot serve as a time-ordered dedup id).
    let mut not_v7 = case_created();
    not_v7.event_id = Id::from_uuid(uuid::Uuid::from_bytes([0x42; 16]));
    let bytes = bus::encode(&not_v7).unwrap();
    assert!(matches!(
        bus::decode::<CaseCreated>(&bytes),
        Err(Error::Malformed(_))
    ));
    // Too large.
    let huge = vec![0u8; bus::MAX_BUS_MESSAGE_BYTES + 1];
    assert!(matches!(
        bus::decode::<CaseCreated>(&huge),
        Err(Error::TooLarge { .. })
    ));
}

#[test]
fn bus_decode_rejects_unknown_fields() {
    #[derive(serde::Serialize)]
    struct Extended {
        event_id: Id,
        at: u64,
        user_id: Id,
        case_id: Id,
        share_index: u8,
        reason: RevocationReason,
        surprise: bool,
    }
    let m = access_revoked();
    let bytes = rmp_serde::to_vec_named(&Extended {
        event_id: m.event_id,
        at: m.at,
        user_id: m.user_id,
        case_id: m.case_id,
        share_index: m.share_index,
        reason: m.reason,
        surprise: true,
    })
    .unwrap();
    assert!(matches!(
        bus::decode::<AccessRevoked>(&bytes),
        Err(Error::Malformed(_))
    ));
}
