//! Messages that cannot be handled end in the dead-letter queue instead of blocking the queue:
//! refused as permanent, failing on every delivery, or crashing the consumer every time.

use std::sync::Arc;
use std::time::Duration;

use mq::HandlerError;
use testkit::rabbitmq::RabbitMq;

use crate::{
    eventually, publish, ready, spawn_guarded, spec, Seen, Store, BROADCAST_QUEUE, DEAD_QUEUE,
};

/// What the dead-letter queue holds, once `expected` are there: (message id, routing key,
/// reason).
async fn dead_letters(mq: &mq::Mq, expected: usize) -> Vec<(String, String, Option<String>)> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let got = mq.peek_dead_letters(DEAD_QUEUE, 50).await.unwrap();
        if got.len() >= expected {
            let mut got: Vec<_> = got
                .into_iter()
                .map(|d| (d.message_id.unwrap_or_default(), d.routing_key, d.reason))
                .collect();
            got.sort();
            return got;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {expected} dead letters"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_and_always_failing_messages_are_dead_lettered() {
    let broker = RabbitMq::start().unwrap();
    let mq = ready(&broker.url()).await;
    publish(&mq, "undecodable").await;
    publish(&mq, "always-failing").await;
    publish(&mq, "fine").await;

    let seen = Seen::default();
    let running = spawn_guarded(
        &mq,
        spec(BROADCAST_QUEUE, "broadcaster"),
        Arc::new(Store::default()),
        seen.clone(),
        |delivery| async move {
            match delivery.message_id.as_str() {
                "undecodable" => Err(HandlerError::permanent("not JSON")),
                // The guard's claim rolls back with the failure, so every delivery runs again.
                "always-failing" => Err(HandlerError::retry("node unavailable")),
                _ => Ok(()),
            }
        },
    );
    eventually(Duration::from_secs(20), "the retries", || {
        seen.all()
            .iter()
            .filter(|(id, _)| id == "always-failing")
            .count()
            >= 3
    })
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    running.stop().await;
    let attempts: Vec<u32> = seen
        .all()
        .into_iter()
        .filter(|(id, _)| id == "always-failing")
        .map(|(_, attempt)| attempt)
        .collect();
    // `max_deliveries` is 3: three attempts, then dead-lettered.
    assert_eq!(attempts, [1, 2, 3]);
    assert_eq!(mq.ready_messages(BROADCAST_QUEUE).await.unwrap(), 0);
    let dead = dead_letters(&mq, 2).await;
    assert_eq!(
        dead,
        [
            (
                "always-failing".to_owned(),
                crate::BROADCAST_KEY.to_owned(),
                Some("gave up after 3 deliveries: node unavailable".to_owned())
            ),
            (
                "undecodable".to_owned(),
                crate::BROADCAST_KEY.to_owned(),
                Some("not JSON".to_owned())
            )
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_that_crashes_every_consumer_is_dead_lettered_by_the_delivery_limit() {
    let broker = RabbitMq::start().unwrap();
    let mq = ready(&broker.url()).await;
    publish(&mq, "crasher").await;

    // Each consumer dies on the message before any verdict (no ack, no reject): only the
    // queue's delivery count can stop the loop. The topology's limit is 3.
    let mut crashes = 0;
    for round in 1..=6 {
        if mq.ready_messages(DEAD_QUEUE).await.unwrap() == 1 {
            break;
        }
        let seen = Seen::default();
        let running = spawn_guarded(
            &mq,
            spec(BROADCAST_QUEUE, "broadcaster"),
            Arc::new(Store::default()),
            seen.clone(),
            |_| std::future::pending(),
        );
        let delivered = tokio::time::timeout(Duration::from_secs(3), async {
            while seen.count() == 0 {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        })
        .await
        .is_ok();
        running.kill().await;
        if !delivered {
            break;
        }
        crashes = round;
        // Let the broker notice the closed connection and return the message.
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    assert!(
        (3..=4).contains(&crashes),
        "dead-lettered after the limit, not before: {crashes}"
    );
    assert_eq!(mq.ready_messages(BROADCAST_QUEUE).await.unwrap(), 0);
    let dead = dead_letters(&mq, 1).await;
    // Dead-lettered by the broker's delivery limit: no consumer ever gave a reason.
    assert_eq!(
        dead,
        [("crasher".to_owned(), crate::BROADCAST_KEY.to_owned(), None)]
    );
}

/// Messages this zone's outbox did not produce — published by hand with no MAC, with a MAC of
/// other content, or moved to another routing key — are dead-lettered with their reason before
/// any handler runs; a genuine message after them is handled.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forged_messages_are_dead_lettered_with_their_reason_and_never_handled() {
    let broker = RabbitMq::start().unwrap();
    let mq = ready(&broker.url()).await;
    // No MAC at all.
    mq.publish(
        crate::EXCHANGE,
        crate::BROADCAST_KEY,
        "no-mac",
        crate::JSON,
        b"{}",
    )
    .await
    .unwrap();
    // The content altered after it was sealed.
    let mut altered = crate::sealed_entry("a", crate::BROADCAST_KEY, "altered", b"{}".to_vec());
    altered.payload = b"{\"transfer_id\":\"x\"}".to_vec();
    mq.publish_entry(crate::EXCHANGE, &altered).await.unwrap();
    // Sealed for the track key, published on the broadcast key.
    let mut moved = crate::sealed_entry("m", crate::TRACK_KEY, "moved", b"{}".to_vec());
    moved.topic = crate::BROADCAST_KEY.to_owned();
    mq.publish_entry(crate::EXCHANGE, &moved).await.unwrap();
    publish(&mq, "genuine").await;

    let seen = Seen::default();
    let store = Arc::new(Store::default());
    let running = spawn_guarded(
        &mq,
        spec(BROADCAST_QUEUE, "broadcaster"),
        store.clone(),
        seen.clone(),
        crate::fine,
    );
    eventually(Duration::from_secs(20), "the genuine message", || {
        !store.effects().is_empty()
    })
    .await;
    running.stop().await;
    assert_eq!(store.effects(), ["genuine"]);
    assert_eq!(
        seen.all(),
        [("genuine".to_owned(), 1)],
        "nothing forged was handled"
    );
    let dead = dead_letters(&mq, 3).await;
    let reasons: Vec<_> = dead
        .iter()
        .map(|(id, _, r)| (id.as_str(), r.clone().unwrap_or_default()))
        .collect();
    assert!(
        reasons[0].0 == "altered" && reasons[0].1.contains("does not verify"),
        "{reasons:?}"
    );
    assert!(
        reasons[1].0 == "moved" && reasons[1].1.contains("does not verify"),
        "{reasons:?}"
    );
    assert!(
        reasons[2].0 == "no-mac" && reasons[2].1.contains("no MAC"),
        "{reasons:?}"
    );
}
