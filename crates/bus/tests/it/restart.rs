//! Restarting nats-server loses no committed event: the file store replays it to a new
//! durable consumer, and a durable consumer resumes after its last ack.

use std::sync::Arc;
use std::time::Duration;

use events::MemoryProcessed;
use testkit::nats::NatsServer;

use crate::{connect, connect_with_stream, eventually, publish, spawn_guarded, spec, Seen, STREAM};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn committed_events_survive_a_server_restart() {
    let mut server = NatsServer::start().unwrap();
    let bus = connect_with_stream(&server.url()).await;
    for n in 0..10 {
        publish(&bus, &format!("event-{n}")).await;
    }

    // A durable consumer handles all ten and keeps running through the restart.
    let first_guard = Arc::new(MemoryProcessed::new());
    let first = Seen::default();
    let running = spawn_guarded(
        &bus,
        spec("first"),
        first_guard.clone(),
        first.clone(),
        |_| None,
    );
    eventually(Duration::from_secs(10), "first handles 10", || {
        first.effects().len() >= 10
    })
    .await;

    // Kill the server (no graceful shutdown) and bring it back on the same port and store.
    server.restart().unwrap();
    let after = connect(&server.url()).await;
    assert_eq!(after.stream_messages(STREAM).await.unwrap(), 10);

    // The running consumer reconnects and gets what is published after the restart.
    publish(&bus, "event-10").await;
    eventually(
        Duration::from_secs(20),
        "first handles the new event",
        || first.effects().len() >= 11,
    )
    .await;
    running.stop().await;
    let expected: Vec<String> = (0..11).map(|n| format!("event-{n}")).collect();
    assert_eq!(first.effects(), expected);

    // A fresh durable consumer replays every committed event from the file store.
    let second = Seen::default();
    let running = spawn_guarded(
        &after,
        spec("second"),
        Arc::new(MemoryProcessed::new()),
        second.clone(),
        |_| None,
    );
    eventually(Duration::from_secs(10), "second replays 11", || {
        second.effects().len() >= 11
    })
    .await;
    running.stop().await;
    assert_eq!(second.effects(), expected);

    // Restarting the first consumer (same durable name, a new process: a fresh guard) resumes
    // after its acks: it sees only what is new.
    publish(&after, "event-11").await;
    let resumed = Seen::default();
    let running = spawn_guarded(
        &after,
        spec("first"),
        Arc::new(MemoryProcessed::new()),
        resumed.clone(),
        |_| None,
    );
    eventually(Duration::from_secs(10), "first resumes", || {
        !resumed.effects().is_empty()
    })
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    running.stop().await;
    assert_eq!(resumed.deliveries(), [("event-11".to_owned(), 1)]);
}
