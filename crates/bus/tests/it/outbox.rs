//! The outbox relay across a broker outage: nothing marked early, nothing lost, nothing twice.

use std::sync::Arc;
use std::time::Duration;

use events::{
    run_relay, MemoryOutbox, MemoryProcessed, Outbox, OutboxEntry, RelayConfig, SystemClock,
};
use testkit::nats::NatsServer;

use crate::{connect_with_stream, eventually, spawn_guarded, spec, Seen, SCHEMA, STREAM, SUBJECT};

fn entry(n: usize) -> OutboxEntry {
    let msg_id = format!("event-{n:03}");
    let payload = format!("payload {n}").into_bytes();
    OutboxEntry {
        id: format!("row-{n:03}"),
        topic: SUBJECT.to_owned(),
        mac: Some(crate::mac_of(SUBJECT, &msg_id, &payload)),
        message_id: msg_id,
        content_type: "application/msgpack".to_owned(),
        schema: SCHEMA.to_owned(),
        payload,
    }
}

fn relay_config() -> RelayConfig {
    RelayConfig {
        batch: 3,
        poll_interval: Duration::from_millis(50),
        min_backoff: Duration::from_millis(50),
        max_backoff: Duration::from_millis(300),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn relay_keeps_entries_while_the_broker_is_down_and_publishes_each_once() {
    let mut server = NatsServer::start().unwrap();
    let bus = connect_with_stream(&server.url()).await;
    server.stop();

    let outbox = Arc::new(MemoryOutbox::new());
    for n in 0..7 {
        outbox.push(entry(n));
    }
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let relay = {
        let (bus, outbox) = (bus.clone(), outbox.clone());
        tokio::spawn(async move {
            run_relay(
                &bus,
                outbox.as_ref(),
                &SystemClock,
                &relay_config(),
                async {
                    let _ = stopped.await;
                },
            )
            .await;
        })
    };

    // Several publish timeouts pass while the server is down: every entry stays pending.
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert_eq!(
        outbox.unpublished().len(),
        7,
        "nothing may be marked before its ack"
    );

    server.restart().unwrap();
    eventually(Duration::from_secs(30), "all entries marked", || {
        outbox.unpublished().is_empty()
    })
    .await;
    // An entry committed while the relay runs is published too.
    outbox.push(entry(7));
    eventually(Duration::from_secs(10), "the late entry marked", || {
        outbox.unpublished().is_empty()
    })
    .await;
    let _ = stop.send(());
    relay.await.unwrap();

    for n in 0..8 {
        let id = format!("row-{n:03}");
        assert_eq!(outbox.marks(&id), 1, "{id} marked once");
        assert!(outbox.published_at(&id).is_some());
    }
    // Publishes buffered during the outage and their retries collapse into one copy each.
    assert_eq!(bus.stream_messages(STREAM).await.unwrap(), 8);

    let seen = Seen::default();
    let running = spawn_guarded(
        &bus,
        spec("reader"),
        Arc::new(MemoryProcessed::new()),
        seen.clone(),
        |_| None,
    );
    eventually(Duration::from_secs(10), "all events read", || {
        seen.effects().len() >= 8
    })
    .await;
    running.stop().await;
    let expected: Vec<String> = (0..8).map(|n| format!("event-{n:03}")).collect();
    assert_eq!(seen.effects(), expected, "in outbox order, each once");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_entry_without_schema_stops_the_relay_at_that_entry() {
    let server = NatsServer::start().unwrap();
    let bus = connect_with_stream(&server.url()).await;
    let outbox = MemoryOutbox::new();
    outbox.push(entry(0));
    let mut bad = entry(1);
    bad.schema.clear();
    outbox.push(bad);
    outbox.push(entry(2));

    let error = events::relay_pending(&bus, &outbox, &SystemClock, 10)
        .await
        .unwrap_err();
    assert!(
        matches!(error, events::RelayError::Publish(ref e) if e.message_id == "event-001"),
        "{error}"
    );
    // The first went out; the bad one and everything after it wait, in order.
    assert_eq!(outbox.unpublished(), ["row-001", "row-002"]);
    assert_eq!(bus.stream_messages(STREAM).await.unwrap(), 1);
    assert_eq!(outbox.pending(10).await.unwrap().len(), 2);
}
