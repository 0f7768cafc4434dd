//! Integration tests of the bus against a real nats-server (testkit), never a mock: JetStream
//! de-duplication, redelivery and the idempotency guard, the outbox relay across a broker
//! outage, replay from the file store after a server restart, the ops ping, and logging in with
//! a user and a password file.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    reason = "tests fail loudly"
)]

mod access;
mod consumer;
mod dedupe;
mod ops;
mod outbox;
mod restart;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use bus::{
    consume, Bus, BusOptions, ConsumerContext, ConsumerSpec, Delivery, HandlerError, StreamSpec,
};
use events::{handle_once, MemoryProcessed};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// The stream the tests use; names mirror `contracts::subjects::EVENTS_STREAM`.
pub const STREAM: &str = "CUSTODY_EVENTS";
/// Subject of the test events.
pub const SUBJECT: &str = "custody.case.created";
/// Schema header of the test events.
pub const SCHEMA: &str = "CaseCreated/v1";

/// Connect with quick reconnects and short timeouts, so outages in tests are short.
pub async fn connect(url: &str) -> Bus {
    let options = BusOptions {
        name: "bus-tests".to_owned(),
        request_timeout: Duration::from_secs(2),
        max_reconnect_delay: Duration::from_millis(200),
        ..BusOptions::default()
    };
    Bus::connect(url, options).await.unwrap()
}

/// The stream of dead letters; names mirror `contracts::subjects::DEAD_LETTER_STREAM`.
pub const DEAD_LETTERS: &str = "CUSTODY_DEADLETTER";

/// Connect and create the events stream and the dead-letter stream.
pub async fn connect_with_stream(url: &str) -> Bus {
    let bus = connect(url).await;
    bus.ensure_stream(&StreamSpec::new(STREAM, ["custody.case.>"]))
        .await
        .unwrap();
    bus.ensure_stream(&StreamSpec::new(DEAD_LETTERS, ["custody.deadletter.>"]))
        .await
        .unwrap();
    bus
}

/// The consumers' context: events are verified with the shared offline HSM's MAC key.
pub fn context() -> ConsumerContext {
    ConsumerContext::new(testkit::hsm::offline_event_verifier())
}

/// The zone HSM's MAC of a test event (what the outbox stores when it writes the row).
pub fn mac_of(subject: &str, msg_id: &str, payload: &[u8]) -> String {
    events::seal_event(
        &testkit::hsm::shared_offline_hsm().audit_mac_key(),
        &events::EventMacInput {
            topic: subject,
            message_id: msg_id,
            content_type: "application/msgpack",
            schema: SCHEMA,
            payload,
        },
    )
    .unwrap()
}

/// A consumer spec with short retry delays for tests.
pub fn spec(durable: &str) -> ConsumerSpec {
    ConsumerSpec {
        retry_delay: Duration::from_millis(100),
        heartbeat: Duration::from_millis(500),
        expires: Duration::from_secs(2),
        ..ConsumerSpec::new(STREAM, durable, "custody.case.>")
    }
}

/// What a running test consumer saw: every delivery (msg id, attempt) and every effect.
#[derive(Clone, Default)]
pub struct Seen {
    pub deliveries: Arc<Mutex<Vec<(String, i64)>>>,
    pub effects: Arc<Mutex<Vec<String>>>,
}

impl Seen {
    pub fn effects(&self) -> Vec<String> {
        self.effects.lock().unwrap().clone()
    }
    pub fn deliveries(&self) -> Vec<(String, i64)> {
        self.deliveries.lock().unwrap().clone()
    }
}

/// A consumer task and the switch that stops it.
pub struct Running {
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<bus::Result<()>>,
    /// The consumer's counters.
    pub context: ConsumerContext,
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
}

/// Start a durable consumer whose effect (recording the msg id) is guarded by `guard`.
/// `fail_after_effect(delivery)` lets a test make the handler fail after the effect committed
/// (a lost ack, a crash before the ack).
pub fn spawn_guarded(
    bus: &Bus,
    spec: ConsumerSpec,
    guard: Arc<MemoryProcessed>,
    seen: Seen,
    fail_after_effect: impl Fn(&Delivery) -> Option<HandlerError> + Send + Sync + 'static,
) -> Running {
    let (stop, stopped) = oneshot::channel::<()>();
    let bus = bus.clone();
    let fail_after_effect = Arc::new(fail_after_effect);
    let ctx = context();
    let context = ctx.clone();
    let task = tokio::spawn(async move {
        let name = spec.durable_name.clone();
        consume(
            &bus,
            &spec,
            &ctx,
            |delivery: Delivery| {
                let guard = guard.clone();
                let seen = seen.clone();
                let name = name.clone();
                let fail_after_effect = fail_after_effect.clone();
                async move {
                    let key = delivery.message_id.clone();
                    seen.deliveries
                        .lock()
                        .unwrap()
                        .push((key.clone(), i64::from(delivery.attempt)));
                    handle_once(guard.as_ref(), &name, &delivery, async |_| {
                        seen.effects.lock().unwrap().push(key.clone());
                        Ok(())
                    })
                    .await?;
                    match fail_after_effect(&delivery) {
                        Some(error) => Err(error),
                        None => Ok(()),
                    }
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
        context,
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

/// Publish a test event with id `msg_id`, MACed as this zone's outbox does.
pub async fn publish(bus: &Bus, msg_id: &str) -> bus::Published {
    let payload = format!("payload of {msg_id}");
    let mac = mac_of(SUBJECT, msg_id, payload.as_bytes());
    bus.publish_event(
        SUBJECT,
        msg_id,
        SCHEMA,
        bytes::Bytes::from(payload),
        &[(events::MAC_HEADER.to_owned(), mac)],
    )
    .await
    .unwrap()
}
