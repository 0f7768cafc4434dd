//! Redelivery, nak and term behaviour of the durable consumer, with the idempotency guard.

use std::sync::Arc;
use std::time::Duration;

use bus::HandlerError;
use events::MemoryProcessed;
use testkit::nats::NatsServer;

use crate::{connect_with_stream, eventually, publish, spawn_guarded, spec, Seen};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redelivery_after_the_effect_does_not_repeat_it() {
    let server = NatsServer::start().unwrap();
    let bus = connect_with_stream(&server.url()).await;
    publish(&bus, "event-a").await;

    // The effect commits, then the handler fails as if the ack had been lost: the server
    // redelivers, and the guard must keep the effect single.
    let seen = Seen::default();
    let running = spawn_guarded(
        &bus,
        spec("handler"),
        Arc::new(MemoryProcessed::new()),
        seen.clone(),
        |delivery| (delivery.attempt == 1).then(|| HandlerError::retry("ack lost")),
    );
    eventually(Duration::from_secs(10), "the redelivery", || {
        seen.deliveries().len() >= 2
    })
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    running.stop().await;
    assert_eq!(
        seen.deliveries(),
        [("event-a".to_owned(), 1), ("event-a".to_owned(), 2)]
    );
    assert_eq!(seen.effects(), ["event-a"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_effect_runs_again_on_redelivery() {
    let server = NatsServer::start().unwrap();
    let bus = connect_with_stream(&server.url()).await;
    publish(&bus, "event-a").await;

    let guard = Arc::new(MemoryProcessed::new());
    let seen = Seen::default();
    let attempts = Arc::new(std::sync::atomic::AtomicU32::new(0));
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = {
        let (bus, guard, seen, attempts) =
            (bus.clone(), guard.clone(), seen.clone(), attempts.clone());
        tokio::spawn(async move {
            bus::consume(
                &bus,
                &spec("handler"),
                &crate::context(),
                |delivery| {
                    let (guard, seen, attempts) = (guard.clone(), seen.clone(), attempts.clone());
                    async move {
                        events::handle_once(guard.as_ref(), "handler", &delivery, async |_| {
                            // The first attempt fails before anything is committed.
                            if attempts.fetch_add(1, std::sync::atomic::Ordering::SeqCst) == 0 {
                                return Err(HandlerError::retry("database busy"));
                            }
                            seen.effects
                                .lock()
                                .unwrap()
                                .push(delivery.message_id.clone());
                            Ok(())
                        })
                        .await
                        .map(|_| ())
                    }
                },
                async {
                    let _ = stopped.await;
                },
            )
            .await
        })
    };
    eventually(Duration::from_secs(10), "the effect on redelivery", || {
        !seen.effects().is_empty()
    })
    .await;
    let _ = stop.send(());
    task.await.unwrap().unwrap();
    assert_eq!(attempts.load(std::sync::atomic::Ordering::SeqCst), 2);
    assert_eq!(seen.effects(), ["event-a"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_permanent_failure_is_terminated_not_redelivered() {
    let server = NatsServer::start().unwrap();
    let bus = connect_with_stream(&server.url()).await;
    publish(&bus, "poison").await;
    publish(&bus, "fine").await;

    let seen = Seen::default();
    let running = spawn_guarded(
        &bus,
        spec("handler"),
        Arc::new(MemoryProcessed::new()),
        seen.clone(),
        |delivery| {
            (delivery.message_id == "poison").then(|| HandlerError::permanent("undecodable"))
        },
    );
    eventually(Duration::from_secs(10), "both delivered", || {
        seen.deliveries().len() >= 2
    })
    .await;
    // Longer than the retry delay: a nak would have come back by now.
    tokio::time::sleep(Duration::from_millis(800)).await;
    running.stop().await;
    assert_eq!(
        seen.deliveries(),
        [("poison".to_owned(), 1), ("fine".to_owned(), 1)]
    );
}

/// Events that this zone's outbox did not produce: published by hand on the subject with no
/// MAC, with a MAC of other content, or moved to another subject. None reaches the handler;
/// each is dead-lettered with its reason, and a genuine event after them is handled.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forged_events_are_dead_lettered_with_their_reason_and_never_handled() {
    use futures::StreamExt;
    let server = NatsServer::start().unwrap();
    let bus = connect_with_stream(&server.url()).await;
    let forge = |msg_id: &'static str, payload: &'static str, mac: Option<String>| {
        let bus = bus.clone();
        async move {
            let extra: Vec<(String, String)> = mac
                .map(|m| vec![(events::MAC_HEADER.to_owned(), m)])
                .unwrap_or_default();
            bus.publish_event(
                crate::SUBJECT,
                msg_id,
                crate::SCHEMA,
                bytes::Bytes::from(payload),
                &extra,
            )
            .await
            .unwrap();
        }
    };
    forge("no-mac", "{}", None).await;
    // A MAC of another payload (content altered after it was sealed).
    forge(
        "altered",
        "{\"case_id\":\"x\"}",
        Some(crate::mac_of(crate::SUBJECT, "altered", b"{}")),
    )
    .await;
    // A genuine MAC, but for another subject (moved).
    forge(
        "moved",
        "{}",
        Some(crate::mac_of("custody.case.archived", "moved", b"{}")),
    )
    .await;
    forge("garbage-mac", "{}", Some("zz".to_owned())).await;
    publish(&bus, "genuine").await;

    let seen = Seen::default();
    let running = spawn_guarded(
        &bus,
        spec("handler"),
        Arc::new(MemoryProcessed::new()),
        seen.clone(),
        |_| None,
    );
    eventually(Duration::from_secs(10), "the genuine event", || {
        !seen.effects().is_empty()
    })
    .await;
    let stats = running.context.stats.snapshot();
    running.stop().await;
    assert_eq!(seen.effects(), ["genuine"]);
    assert_eq!(
        seen.deliveries().len(),
        1,
        "no forged event reached the handler"
    );
    assert_eq!(stats.rejected, 4);
    assert_eq!(stats.handled, 1);

    // The dead letters, with their reasons, are in the dead-letter stream.
    let stream = bus
        .jetstream()
        .get_stream(crate::DEAD_LETTERS)
        .await
        .unwrap();
    let consumer: async_nats::jetstream::consumer::PullConsumer = stream
        .create_consumer(async_nats::jetstream::consumer::pull::Config::default())
        .await
        .unwrap();
    let mut messages = consumer.fetch().max_messages(10).messages().await.unwrap();
    let mut reasons = Vec::new();
    while let Some(Ok(m)) = messages.next().await {
        assert_eq!(m.subject.as_str(), "custody.deadletter.handler");
        let h = m.headers.clone().unwrap();
        reasons.push(h.get(bus::DEAD_LETTER_REASON).unwrap().as_str().to_owned());
        assert_eq!(
            h.get(bus::DEAD_LETTER_SUBJECT).unwrap().as_str(),
            crate::SUBJECT
        );
    }
    assert_eq!(reasons.len(), 4, "{reasons:?}");
    assert!(reasons[0].contains("no MAC"), "{reasons:?}");
    assert!(
        reasons[1..].iter().all(|r| r.contains("does not verify")),
        "{reasons:?}"
    );
}
