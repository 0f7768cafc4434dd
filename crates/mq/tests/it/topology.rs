//! The topology is declared idempotently, and a conflicting redeclaration is refused.

use testkit::rabbitmq::RabbitMq;

use crate::{handle, topology, BROADCAST_QUEUE, DEAD_QUEUE, TRACK_QUEUE};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn declaring_the_topology_twice_is_idempotent() {
    let broker = RabbitMq::start().unwrap();
    let mq = handle(&broker.url());
    mq.declare(&topology()).await.unwrap();
    crate::publish(&mq, "kept").await;
    // A second service starting up declares the same names again: nothing changes, nothing is
    // lost.
    mq.declare(&topology()).await.unwrap();
    assert_eq!(mq.ready_messages(BROADCAST_QUEUE).await.unwrap(), 1);
    assert_eq!(mq.ready_messages(TRACK_QUEUE).await.unwrap(), 0);
    assert_eq!(mq.ready_messages(DEAD_QUEUE).await.unwrap(), 0);
    assert_eq!(mq.ready_messages("dead.anchor").await.unwrap(), 0);

    // The broker refuses to change a queue's arguments; that must surface, not be ignored.
    let mut other = topology();
    other.delivery_limit = 7;
    let error = mq.declare(&other).await.unwrap_err();
    assert!(
        error.to_string().contains(BROADCAST_QUEUE),
        "names the queue: {error}"
    );
    assert!(mq.ready_messages("no-such-queue").await.is_err());
}
