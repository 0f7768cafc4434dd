//! Integration tests of the RabbitMQ bus against a private broker (testkit), never a mock:
//! topology, confirmed publishing, the idempotency guard, the outbox relay across a broker
//! outage, redelivery after a consumer crash, reconnection after a broker restart, and the
//! dead-letter path.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "tests"
)]

mod consumer;
mod poison;
mod publish;
mod relay;
mod topology;

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use events::{handle_once, Once, OutboxEntry, Processed, StoreError};
use mq::{consume, ConsumerContext, ConsumerSpec, Delivery, HandlerError, Mq, MqOptions, Topology};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

// Names mirror `contracts::subjects::online`.
pub const EXCHANGE: &str = "custody.online";
pub const BROADCAST_QUEUE: &str = "broadcast";
pub const TRACK_QUEUE: &str = "track";
pub const BROADCAST_KEY: &str = "custody.tx.broadcast";
pub const TRACK_KEY: &str = "custody.tx.track";
pub const DEAD_EXCHANGE: &str = "custody.online.dead";
pub const DEAD_QUEUE: &str = "dead";
pub const JSON: &str = mq::content_types::JSON;

/// The online topology with a small delivery limit, so poison tests are quick.
pub fn topology() -> Topology {
    let mut topology = Topology::new(EXCHANGE, DEAD_EXCHANGE, DEAD_QUEUE)
        .queue(BROADCAST_QUEUE, [BROADCAST_KEY])
        .queue(TRACK_QUEUE, [TRACK_KEY]);
    topology.delivery_limit = 3;
    topology
}

/// A handle with short timeouts, so outages in tests are short.
pub fn handle(url: &str) -> Mq {
    let options = MqOptions {
        name: "mq-tests".to_owned(),
        connect_timeout: Duration::from_secs(2),
        confirm_timeout: Duration::from_secs(3),
    };
    Mq::new(url, options).unwrap()
}

/// Connect and declare the topology.
pub async fn ready(url: &str) -> Mq {
    let mq = handle(url);
    mq.declare(&topology()).await.unwrap();
    mq
}

/// A consumer spec with short pauses for tests.
pub fn spec(queue: &str, name: &str) -> ConsumerSpec {
    ConsumerSpec {
        retry_delay: Duration::from_millis(50),
        max_deliveries: 3,
        min_backoff: Duration::from_millis(100),
        max_backoff: Duration::from_millis(500),
        ..ConsumerSpec::new(queue, name, DEAD_EXCHANGE)
    }
}

/// The consumers' context: messages are verified with the shared online token's MAC key.
pub fn context() -> ConsumerContext {
    ConsumerContext::new(testkit::hsm::online_event_verifier())
}

/// An outbox entry as the online database writes it: the body, and the token's MAC of it.
pub fn sealed_entry(
    id: &str,
    routing_key: &str,
    message_id: &str,
    payload: Vec<u8>,
) -> OutboxEntry {
    let schema = "ChainWork/v1";
    let mac = events::seal_event(
        &testkit::hsm::shared_online_hsm().audit_mac_key(),
        &events::EventMacInput {
            topic: routing_key,
            message_id,
            content_type: JSON,
            schema,
            payload: &payload,
        },
    )
    .unwrap();
    OutboxEntry {
        id: id.to_owned(),
        topic: routing_key.to_owned(),
        message_id: message_id.to_owned(),
        content_type: JSON.to_owned(),
        schema: schema.to_owned(),
        payload,
        mac: Some(mac),
    }
}

/// Publish a JSON body to the broadcast queue with id `message_id`, sealed as this zone's
/// outbox seals it.
pub async fn publish(mq: &Mq, message_id: &str) {
    let entry = sealed_entry(
        message_id,
        BROADCAST_KEY,
        message_id,
        format!("{{\"id\":\"{message_id}\"}}").into_bytes(),
    );
    mq.publish_entry(EXCHANGE, &entry).await.unwrap();
}

/// A transactional store standing in for the online database: claims and effects are staged in
/// a transaction and become visible together on commit.
#[derive(Default)]
pub struct Store {
    claimed: Mutex<HashSet<(String, String)>>,
    effects: Mutex<Vec<String>>,
}

/// A transaction of [`Store`].
#[derive(Default)]
pub struct StoreTx {
    claims: Vec<(String, String)>,
    effects: Vec<String>,
}

impl StoreTx {
    /// Stage an effect.
    pub fn record(&mut self, effect: impl Into<String>) {
        self.effects.push(effect.into());
    }
}

impl Store {
    /// The committed effects, in commit order.
    pub fn effects(&self) -> Vec<String> {
        self.effects.lock().unwrap().clone()
    }
}

#[async_trait::async_trait]
impl Processed for Store {
    type Tx = StoreTx;
    async fn begin(&self) -> Result<StoreTx, StoreError> {
        Ok(StoreTx::default())
    }
    async fn claim(
        &self,
        tx: &mut StoreTx,
        consumer: &str,
        message_id: &str,
    ) -> Result<bool, StoreError> {
        let key = (consumer.to_owned(), message_id.to_owned());
        if self.claimed.lock().unwrap().contains(&key) || tx.claims.contains(&key) {
            return Ok(false);
        }
        tx.claims.push(key);
        Ok(true)
    }
    async fn commit(&self, tx: StoreTx) -> Result<(), StoreError> {
        let mut claimed = self.claimed.lock().unwrap();
        let mut effects = self.effects.lock().unwrap();
        claimed.extend(tx.claims);
        effects.extend(tx.effects);
        Ok(())
    }
    async fn rollback(&self, _tx: StoreTx) -> Result<(), StoreError> {
        Ok(())
    }
}

/// An outbox table standing in for the online database's.
pub type Table = events::MemoryOutbox;

/// Every delivery a test consumer saw: (message id, attempt).
#[derive(Clone, Default)]
pub struct Seen(Arc<Mutex<Vec<(String, u32)>>>);

impl Seen {
    pub fn all(&self) -> Vec<(String, u32)> {
        self.0.lock().unwrap().clone()
    }
    pub fn count(&self) -> usize {
        self.0.lock().unwrap().len()
    }
    fn push(&self, delivery: &Delivery) {
        self.0
            .lock()
            .unwrap()
            .push((delivery.message_id.clone(), delivery.attempt));
    }
}

/// A consumer task and the switch that stops it.
pub struct Running {
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<mq::Result<()>>,
}

impl Running {
    /// Shut the consumer down gracefully and check it ended without error.
    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        tokio::time::timeout(Duration::from_secs(10), &mut self.task)
            .await
            .expect("consumer did not stop")
            .unwrap()
            .unwrap();
    }

    /// Kill the consumer: its future is dropped wherever it is, acks not sent.
    pub async fn kill(self) {
        self.task.abort();
        let _ = self.task.await;
    }
}

/// Start a consumer whose effect (recording the message id) is guarded by `store`. `after`
/// runs after the effect committed and before the ack; a test makes it fail or hang.
pub fn spawn_guarded<A, AF>(
    mq: &Mq,
    spec: ConsumerSpec,
    store: Arc<Store>,
    seen: Seen,
    after: A,
) -> Running
where
    A: Fn(Delivery) -> AF + Send + Sync + 'static,
    AF: std::future::Future<Output = Result<(), HandlerError>> + Send + 'static,
{
    let (stop, stopped) = oneshot::channel::<()>();
    let mq = mq.clone();
    let after = Arc::new(after);
    let ctx = context();
    let task = tokio::spawn(async move {
        let name = spec.name.clone();
        consume(
            &mq,
            &spec,
            &ctx,
            |delivery: Delivery| {
                let (store, seen, name, after) =
                    (store.clone(), seen.clone(), name.clone(), after.clone());
                async move {
                    seen.push(&delivery);
                    let id = delivery.message_id.clone();
                    let once = handle_once(
                        store.as_ref(),
                        &name,
                        &delivery,
                        async |tx: &mut StoreTx| {
                            tx.record(id);
                            Ok(())
                        },
                    )
                    .await?;
                    let _: Once = once;
                    after(delivery).await
                }
            },
            async {
                let _ = stopped.await;
            },
        )
        .await
    });
    Running {
        stop: Some(stop),
        task,
    }
}

/// Wait until `check` holds, or fail after `timeout`.
pub async fn eventually(timeout: Duration, what: &str, mut check: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + timeout;
    while !check() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for: {what}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Nothing to do after the effect.
pub async fn fine(_: Delivery) -> Result<(), HandlerError> {
    Ok(())
}
