//! Publishing waits for the broker's confirm; what cannot be routed or sent is an error.

use std::sync::Arc;
use std::time::Duration;

use mq::Error;
use testkit::rabbitmq::RabbitMq;

use crate::{
    eventually, ready, spawn_guarded, spec, Seen, Store, BROADCAST_QUEUE, EXCHANGE, JSON,
    TRACK_KEY, TRACK_QUEUE,
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_confirmed_message_is_consumed_with_its_properties() {
    let broker = RabbitMq::start().unwrap();
    let mq = ready(&broker.url()).await;
    let entry = crate::sealed_entry("row", TRACK_KEY, "track-1", b"{\"tx\":\"0xab\"}".to_vec());
    mq.publish_entry(EXCHANGE, &entry).await.unwrap();
    // Confirmed means stored in the queue, before anyone consumes it.
    assert_eq!(mq.ready_messages(TRACK_QUEUE).await.unwrap(), 1);

    let got = Arc::new(std::sync::Mutex::new(None));
    let running = {
        let got = got.clone();
        spawn_guarded(
            &mq,
            spec(TRACK_QUEUE, "tracker"),
            Arc::new(Store::default()),
            Seen::default(),
            move |delivery| {
                *got.lock().unwrap() = Some(delivery);
                async { Ok(()) }
            },
        )
    };
    eventually(Duration::from_secs(10), "the delivery", || {
        got.lock().unwrap().is_some()
    })
    .await;
    running.stop().await;
    let delivery = got.lock().unwrap().take().unwrap();
    assert_eq!(delivery.topic, TRACK_KEY);
    assert_eq!(delivery.message_id, "track-1");
    assert_eq!(delivery.content_type.as_deref(), Some(JSON));
    assert_eq!(delivery.schema.as_deref(), Some("ChainWork/v1"));
    assert_eq!(delivery.payload, b"{\"tx\":\"0xab\"}");
    assert_eq!(delivery.attempt, 1);
    assert_eq!(mq.ready_messages(TRACK_QUEUE).await.unwrap(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unroutable_or_malformed_messages_are_errors() {
    let broker = RabbitMq::start().unwrap();
    let mq = ready(&broker.url()).await;
    let error = mq
        .publish(EXCHANGE, "custody.tx.unknown", "m-1", JSON, b"{}")
        .await
        .unwrap_err();
    assert!(matches!(error, Error::Unroutable { .. }), "{error}");
    let error = mq
        .publish(EXCHANGE, crate::BROADCAST_KEY, "m-2", "text/plain", b"{}")
        .await
        .unwrap_err();
    assert!(
        matches!(
            error,
            Error::Invalid {
                field: "content type",
                ..
            }
        ),
        "{error}"
    );
    let error = mq
        .publish(EXCHANGE, crate::BROADCAST_KEY, "", JSON, b"{}")
        .await
        .unwrap_err();
    assert!(
        matches!(
            error,
            Error::Invalid {
                field: "message id",
                ..
            }
        ),
        "{error}"
    );
    // A refused publish leaves the link usable.
    crate::publish(&mq, "m-3").await;
    assert_eq!(mq.ready_messages(BROADCAST_QUEUE).await.unwrap(), 1);
}
