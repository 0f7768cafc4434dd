//! The outbox relay across a broker outage: nothing marked early, nothing lost, each row
//! published once and consumed once.

use std::sync::Arc;
use std::time::Duration;

use events::{run_relay, OutboxEntry, RelayConfig, SystemClock};
use mq::MqPublisher;
use testkit::rabbitmq::RabbitMq;

use crate::{
    eventually, fine, ready, spawn_guarded, spec, Seen, Store, Table, BROADCAST_KEY,
    BROADCAST_QUEUE, EXCHANGE,
};

fn entry(n: usize) -> OutboxEntry {
    crate::sealed_entry(
        &format!("row-{n:03}"),
        BROADCAST_KEY,
        &format!("tx-{n:03}"),
        format!("{{\"n\":{n}}}").into_bytes(),
    )
}

fn publisher(mq: &mq::Mq) -> MqPublisher {
    MqPublisher {
        mq: mq.clone(),
        exchange: EXCHANGE.to_owned(),
    }
}

fn relay_config() -> RelayConfig {
    RelayConfig {
        batch: 3,
        poll_interval: Duration::from_millis(50),
        min_backoff: Duration::from_millis(50),
        max_backoff: Duration::from_millis(500),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rows_stay_pending_while_the_broker_is_down_then_each_is_published_and_consumed_once() {
    let mut broker = RabbitMq::start().unwrap();
    let mq = ready(&broker.url()).await;
    broker.stop();

    let table = Arc::new(Table::default());
    for n in 0..7 {
        table.push(entry(n));
    }
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let relay = {
        let (mq, table) = (mq.clone(), table.clone());
        tokio::spawn(async move {
            run_relay(
                &publisher(&mq),
                table.as_ref(),
                &SystemClock,
                &relay_config(),
                async {
                    let _ = stopped.await;
                },
            )
            .await;
        })
    };

    // Several connection attempts fail while the broker is down: every row stays pending.
    tokio::time::sleep(Duration::from_secs(4)).await;
    assert_eq!(
        table.unpublished().len(),
        7,
        "nothing may be marked before its confirm"
    );

    broker.restart().unwrap();
    eventually(Duration::from_secs(60), "all rows marked", || {
        table.unpublished().is_empty()
    })
    .await;
    // A row committed while the relay runs is published too.
    table.push(entry(7));
    eventually(Duration::from_secs(10), "the late row marked", || {
        table.unpublished().is_empty()
    })
    .await;
    let _ = stop.send(());
    relay.await.unwrap();

    for n in 0..8 {
        let id = format!("row-{n:03}");
        assert_eq!(table.marks(&id), 1, "{id} marked once");
    }
    // Published exactly once each: the queue holds eight messages before anyone consumes.
    assert_eq!(mq.ready_messages(BROADCAST_QUEUE).await.unwrap(), 8);

    let store = Arc::new(Store::default());
    let seen = Seen::default();
    let running = spawn_guarded(
        &mq,
        spec(BROADCAST_QUEUE, "broadcaster"),
        store.clone(),
        seen.clone(),
        fine,
    );
    eventually(Duration::from_secs(10), "all consumed", || {
        store.effects().len() >= 8
    })
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    running.stop().await;
    let expected: Vec<String> = (0..8).map(|n| format!("tx-{n:03}")).collect();
    assert_eq!(store.effects(), expected, "in outbox order, each once");
    assert_eq!(seen.count(), 8);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unroutable_row_stops_the_relay_at_that_row() {
    let broker = RabbitMq::start().unwrap();
    let mq = ready(&broker.url()).await;
    let table = Table::default();
    table.push(entry(0));
    let mut bad = entry(1);
    bad.topic = "custody.tx.nobody".to_owned();
    table.push(bad);
    table.push(entry(2));

    let error = events::relay_pending(&publisher(&mq), &table, &SystemClock, 10)
        .await
        .unwrap_err();
    assert!(
        matches!(error, events::RelayError::Publish(ref e) if e.message_id == "tx-001"),
        "{error}"
    );
    // The first went out; the bad one and everything after it wait, in order.
    assert_eq!(table.unpublished(), ["row-001", "row-002"]);
    assert_eq!(mq.ready_messages(BROADCAST_QUEUE).await.unwrap(), 1);
}
