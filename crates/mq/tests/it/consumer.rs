//! Redeliveries are processed once: a repeated message id, a consumer killed before its ack,
//! and a broker restart under a running consumer.

use std::sync::Arc;
use std::time::Duration;

use testkit::rabbitmq::RabbitMq;

use crate::{eventually, fine, publish, ready, spawn_guarded, spec, Seen, Store, BROADCAST_QUEUE};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_message_id_twice_is_processed_once() {
    let broker = RabbitMq::start().unwrap();
    let mq = ready(&broker.url()).await;
    // RabbitMQ does not de-duplicate: both copies are stored (a relay retry looks like this).
    publish(&mq, "tx-a").await;
    publish(&mq, "tx-a").await;
    publish(&mq, "tx-b").await;
    assert_eq!(mq.ready_messages(BROADCAST_QUEUE).await.unwrap(), 3);

    let store = Arc::new(Store::default());
    let seen = Seen::default();
    let running = spawn_guarded(
        &mq,
        spec(BROADCAST_QUEUE, "broadcaster"),
        store.clone(),
        seen.clone(),
        fine,
    );
    eventually(Duration::from_secs(10), "three deliveries", || {
        seen.count() >= 3
    })
    .await;
    running.stop().await;
    assert_eq!(store.effects(), ["tx-a", "tx-b"]);
    assert_eq!(
        mq.ready_messages(BROADCAST_QUEUE).await.unwrap(),
        0,
        "all acked"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_consumer_killed_before_its_ack_gets_a_redelivery_and_processes_it_once() {
    let broker = RabbitMq::start().unwrap();
    let mq = ready(&broker.url()).await;
    publish(&mq, "tx-a").await;

    // The effect commits, then the process dies before the ack.
    let store = Arc::new(Store::default());
    let first = Seen::default();
    let running = spawn_guarded(
        &mq,
        spec(BROADCAST_QUEUE, "broadcaster"),
        store.clone(),
        first.clone(),
        |_| std::future::pending(),
    );
    eventually(Duration::from_secs(10), "the effect", || {
        !store.effects().is_empty()
    })
    .await;
    running.kill().await;

    // The restarted consumer (same name, same database) gets the message again and skips it.
    let second = Seen::default();
    let running = spawn_guarded(
        &mq,
        spec(BROADCAST_QUEUE, "broadcaster"),
        store.clone(),
        second.clone(),
        fine,
    );
    eventually(Duration::from_secs(10), "the redelivery", || {
        second.count() >= 1
    })
    .await;
    // Give a stray extra copy time to show up before asserting there is none.
    tokio::time::sleep(Duration::from_millis(500)).await;
    running.stop().await;
    assert_eq!(first.all(), [("tx-a".to_owned(), 1)]);
    assert_eq!(second.all(), [("tx-a".to_owned(), 2)]);
    assert_eq!(store.effects(), ["tx-a"]);
    assert_eq!(mq.ready_messages(BROADCAST_QUEUE).await.unwrap(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_consumer_reconnects_after_a_broker_restart() {
    let mut broker = RabbitMq::start().unwrap();
    let mq = ready(&broker.url()).await;
    publish(&mq, "before").await;

    let store = Arc::new(Store::default());
    let seen = Seen::default();
    let running = spawn_guarded(
        &mq,
        spec(BROADCAST_QUEUE, "broadcaster"),
        store.clone(),
        seen.clone(),
        fine,
    );
    eventually(Duration::from_secs(10), "the first message", || {
        store.effects().len() == 1
    })
    .await;

    // A message stored but not consumed survives a crash of the broker (quorum queue,
    // persistent message), and the running consumer comes back by itself.
    mq.publish(
        crate::EXCHANGE,
        crate::TRACK_KEY,
        "stored",
        crate::JSON,
        b"{}",
    )
    .await
    .unwrap();
    broker.stop();
    broker.restart().unwrap();
    // The queue reports its messages once its Raft member is up again.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let ready = mq.ready_messages(crate::TRACK_QUEUE).await;
        if matches!(ready, Ok(1)) {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the stored message is lost: {ready:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // The publishing link notices the restart on its next use and reconnects.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    let after = crate::sealed_entry("after", crate::BROADCAST_KEY, "after", b"{}".to_vec());
    while let Err(error) = mq.publish_entry(crate::EXCHANGE, &after).await {
        assert!(
            tokio::time::Instant::now() < deadline,
            "publish after restart: {error}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    eventually(
        Duration::from_secs(60),
        "the message after the restart",
        || store.effects().len() == 2,
    )
    .await;
    running.stop().await;
    assert_eq!(store.effects(), ["before", "after"]);
}
