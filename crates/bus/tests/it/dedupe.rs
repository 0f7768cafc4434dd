//! The same event published twice is stored once and handled once.

use std::sync::Arc;
use std::time::Duration;

use bus::StreamSpec;
use events::MemoryProcessed;
use testkit::nats::NatsServer;

use crate::{connect, connect_with_stream, eventually, publish, spawn_guarded, spec, Seen, STREAM};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn same_msg_id_twice_is_stored_once_and_handled_once() {
    let server = NatsServer::start().unwrap();
    let bus = connect_with_stream(&server.url()).await;

    let first = publish(&bus, "event-a").await;
    let second = publish(&bus, "event-a").await;
    let other = publish(&bus, "event-b").await;
    assert!(!first.duplicate);
    assert!(
        second.duplicate,
        "JetStream must recognise the repeated Nats-Msg-Id"
    );
    assert_eq!(second.sequence, first.sequence);
    assert_eq!(other.sequence, first.sequence + 1);
    assert_eq!(bus.stream_messages(STREAM).await.unwrap(), 2);

    let seen = Seen::default();
    let running = spawn_guarded(
        &bus,
        spec("handler"),
        Arc::new(MemoryProcessed::new()),
        seen.clone(),
        |_| None,
    );
    eventually(Duration::from_secs(10), "both events handled", || {
        seen.effects().len() >= 2
    })
    .await;
    // Give a stray second copy time to show up before asserting there is none.
    tokio::time::sleep(Duration::from_millis(500)).await;
    running.stop().await;
    assert_eq!(seen.effects(), ["event-a", "event-b"]);
    assert_eq!(seen.deliveries().len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_repeat_outside_the_duplicate_window_is_handled_once() {
    let server = NatsServer::start().unwrap();
    let bus = connect(&server.url()).await;
    let mut stream = StreamSpec::new(STREAM, ["custody.case.>"]);
    stream.duplicate_window = Duration::from_millis(300);
    bus.ensure_stream(&stream).await.unwrap();

    publish(&bus, "event-a").await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let late = publish(&bus, "event-a").await;
    assert!(
        !late.duplicate,
        "outside the window JetStream stores it again"
    );
    assert_eq!(bus.stream_messages(STREAM).await.unwrap(), 2);

    let seen = Seen::default();
    let running = spawn_guarded(
        &bus,
        spec("handler"),
        Arc::new(MemoryProcessed::new()),
        seen.clone(),
        |_| None,
    );
    eventually(Duration::from_secs(10), "both copies delivered", || {
        seen.deliveries().len() >= 2
    })
    .await;
    running.stop().await;
    assert_eq!(
        seen.effects(),
        ["event-a"],
        "the guard keeps the effect single"
    );
}
