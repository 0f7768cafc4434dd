//! The broker-neutral decisions, with the zone's real MAC key on a SoftHSM token: only an
//! event sealed by this zone's outbox reaches a handler, and every verdict is the one the
//! adapters turn into an ack, a redelivery or a dead letter.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests fail loudly"
)]

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;

use events::{
    decide, handle_once, ConsumerStats, EventMacInput, HandlerError, Incoming, MemoryProcessed,
    Once, Verdict,
};

const TOPIC: &str = "custody.case.created";

fn incoming(msg_id: &str, payload: &[u8], mac: Option<String>, attempt: u32) -> Incoming {
    Incoming {
        topic: TOPIC.to_owned(),
        message_id: Some(msg_id.to_owned()),
        content_type: Some("application/json".to_owned()),
        schema: Some("CaseCreated/v1".to_owned()),
        mac,
        payload: payload.to_vec(),
        attempt,
    }
}

fn sealed(msg_id: &str, payload: &[u8], attempt: u32) -> Incoming {
    let mac = events::seal_event(
        &testkit::hsm::shared_offline_hsm().audit_mac_key(),
        &EventMacInput {
            topic: TOPIC,
            message_id: msg_id,
            content_type: "application/json",
            schema: "CaseCreated/v1",
            payload,
        },
    )
    .unwrap();
    incoming(msg_id, payload, Some(mac), attempt)
}

#[tokio::test]
async fn only_sealed_events_reach_the_handler() {
    let verifier = testkit::hsm::offline_event_verifier();
    let stats = ConsumerStats::default();
    let calls = AtomicU32::new(0);
    let handler = |_d| {
        calls.fetch_add(1, Ordering::SeqCst);
        async { Ok(()) }
    };
    let d = Duration::from_millis(10);
    assert_eq!(
        decide(
            "c",
            sealed("m1", b"{}", 1),
            &verifier,
            &stats,
            5,
            d,
            handler
        )
        .await,
        Verdict::Ack
    );
    let mut no_id = sealed("m2", b"{}", 1);
    no_id.message_id = None;
    let mut moved = sealed("m3", b"{}", 1);
    moved.topic = "custody.case.archived".to_owned();
    let mut altered = sealed("m4", b"{}", 1);
    altered.payload = b"{\"x\":1}".to_vec();
    let mut other_schema = sealed("m5", b"{}", 1);
    other_schema.schema = Some("CaseCreated/v2".to_owned());
    // Sealed by another zone's key.
    let foreign = events::seal_event(
        &testkit::hsm::shared_online_hsm().audit_mac_key(),
        &EventMacInput {
            topic: TOPIC,
            message_id: "m6",
            content_type: "application/json",
            schema: "CaseCreated/v1",
            payload: b"{}",
        },
    )
    .unwrap();
    for (what, event) in [
        ("no MAC", incoming("m0", b"{}", None, 1)),
        ("no message id", no_id),
        ("moved to another subject", moved),
        ("altered payload", altered),
        ("another schema", other_schema),
        (
            "another zone's key",
            incoming("m6", b"{}", Some(foreign), 1),
        ),
    ] {
        let verdict = decide("c", event, &verifier, &stats, 5, d, handler).await;
        assert!(
            matches!(verdict, Verdict::DeadLetter(_)),
            "{what}: {verdict:?}"
        );
    }
    assert_eq!(
        calls.load(Ordering::SeqCst),
        1,
        "only the sealed event was handled"
    );
    let s = stats.snapshot();
    assert_eq!((s.handled, s.rejected, s.dead_lettered), (1, 6, 6));
}

#[tokio::test]
async fn retries_until_the_last_attempt_then_dead_letters() {
    let verifier = testkit::hsm::offline_event_verifier();
    let stats = ConsumerStats::default();
    let failing = |_d| async { Err(HandlerError::retry("database down")) };
    let d = Duration::from_millis(7);
    assert_eq!(
        decide("c", sealed("m", b"{}", 1), &verifier, &stats, 3, d, failing).await,
        Verdict::Retry(d)
    );
    match decide("c", sealed("m", b"{}", 3), &verifier, &stats, 3, d, failing).await {
        Verdict::DeadLetter(reason) => assert!(reason.contains("gave up after 3"), "{reason}"),
        other => panic!("{other:?}"),
    }
    let permanent = |_d| async { Err(HandlerError::permanent("undecodable")) };
    assert_eq!(
        decide(
            "c",
            sealed("p", b"{}", 1),
            &verifier,
            &stats,
            3,
            d,
            permanent
        )
        .await,
        Verdict::DeadLetter("undecodable".to_owned())
    );
}

#[tokio::test]
async fn an_effect_runs_once_per_message_id_and_a_failed_one_runs_again() {
    let guard = Arc::new(MemoryProcessed::new());
    let delivery = events::Delivery {
        topic: TOPIC.to_owned(),
        message_id: "m".to_owned(),
        content_type: None,
        schema: None,
        payload: Vec::new(),
        attempt: 1,
    };
    let failed = handle_once(guard.as_ref(), "c", &delivery, async |_| {
        Err(HandlerError::retry("busy"))
    })
    .await;
    assert!(failed.is_err());
    assert!(
        !guard.contains("c", "m"),
        "the claim rolled back with the effect"
    );
    let runs = AtomicU32::new(0);
    for expected in [Once::Done, Once::AlreadyDone] {
        let once = handle_once(guard.as_ref(), "c", &delivery, async |_| {
            runs.fetch_add(1, Ordering::SeqCst);
            Ok(())
        })
        .await
        .unwrap();
        assert_eq!(once, expected);
    }
    assert_eq!(runs.load(Ordering::SeqCst), 1);
}
