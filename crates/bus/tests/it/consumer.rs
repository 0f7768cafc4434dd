//! Redelivery, nak and term behaviour of the durable consumer, with the idempotency guard.

use std::sync::Arc;
use std::time::Duration;

use bus::{HandlerError, MemoryProcessed};
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
        |delivery| (delivery.delivered == 1).then(|| HandlerError::retry("ack lost")),
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
                |delivery| {
                    let (guard, seen, attempts) = (guard.clone(), seen.clone(), attempts.clone());
                    async move {
                        bus::handle_once(guard.as_ref(), "handler", &delivery, || async {
                            // The first attempt fails before anything is committed.
                            if attempts.fetch_add(1, std::sync::atomic::Ordering::SeqCst) == 0 {
                                return Err(HandlerError::retry("database busy"));
                            }
                            seen.effects
                                .lock()
                                .unwrap()
                                .push(delivery.idempotency_key());
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
            (delivery.msg_id.as_deref() == Some("poison"))
                .then(|| HandlerError::permanent("undecodable"))
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
