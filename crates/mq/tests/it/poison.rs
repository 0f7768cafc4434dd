//! Messages that cannot be handled end in the dead-letter queue instead of blocking the queue:
//! refused as permanent, failing on every delivery, or crashing the consumer every time.

use std::sync::Arc;
use std::time::Duration;

use mq::HandlerError;
use testkit::rabbitmq::RabbitMq;

use crate::{
    eventually, publish, ready, spawn_guarded, spec, Seen, Store, BROADCAST_QUEUE, DEAD_QUEUE,
};

/// Read what the dead-letter queue holds: (message id, routing key).
async fn dead_letters(mq: &mq::Mq, expected: usize) -> Vec<(String, String)> {
    let got = Arc::new(std::sync::Mutex::new(Vec::new()));
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = {
        let (mq, got) = (mq.clone(), got.clone());
        tokio::spawn(async move {
            mq::consume(
                &mq,
                &spec(DEAD_QUEUE, "operator"),
                |delivery| {
                    let got = got.clone();
                    async move {
                        got.lock()
                            .unwrap()
                            .push((delivery.message_id, delivery.routing_key));
                        Ok(())
                    }
                },
                async {
                    let _ = stopped.await;
                },
            )
            .await
        })
    };
    eventually(Duration::from_secs(20), "the dead letters", || {
        got.lock().unwrap().len() >= expected
    })
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let _ = stop.send(());
    task.await.unwrap().unwrap();
    let got = got.lock().unwrap().clone();
    got
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
    let mut dead = dead_letters(&mq, 2).await;
    dead.sort();
    assert_eq!(
        dead,
        [
            ("always-failing".to_owned(), crate::BROADCAST_KEY.to_owned()),
            ("undecodable".to_owned(), crate::BROADCAST_KEY.to_owned())
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
    assert_eq!(
        dead,
        [("crasher".to_owned(), crate::BROADCAST_KEY.to_owned())]
    );
}
