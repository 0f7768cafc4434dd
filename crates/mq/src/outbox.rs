//! The transactional outbox relay: messages committed with the change that caused them are
//! published from the outbox table, in order, and marked only after the broker confirmed them.
//!
//! Why an outbox: a service that changed its database and then published directly would lose
//! the message if it crashed (or RabbitMQ was down) between the two. With the outbox the row
//! is part of the same transaction as the change, and this relay is the only thing that moves
//! rows to the broker. A row is never marked before its confirm, so at worst a message is
//! published twice (its confirm was lost), never zero times; RabbitMQ keeps both copies and
//! the consumers' idempotency guard makes the second one a no-op.

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use crate::{Mq, Result};

/// One outbox row: (id, routing_key, message_id UNIQUE, content_type, payload, created_at,
/// published_at NULL) in the online database.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxEntry {
    /// Row id (UUIDv7: sorts by creation, which is the publishing order).
    pub id: String,
    /// Routing key on the exchange, e.g. `custody.tx.broadcast`.
    pub routing_key: String,
    /// The AMQP message id, the consumers' idempotency key; unique.
    pub message_id: String,
    /// One of [`crate::content_types`].
    pub content_type: String,
    /// The encoded message.
    pub payload: Vec<u8>,
}

/// Storage of unpublished messages, implemented over the online database's outbox table:
/// `pending` is `WHERE published_at IS NULL ORDER BY id LIMIT n`, `mark_published` is
/// `UPDATE … SET published_at = ? WHERE id = ? AND published_at IS NULL`; map database errors
/// with [`crate::Error::store`]. Run one relay per outbox table so the publishing order holds.
#[async_trait::async_trait]
pub trait Outbox: Send + Sync {
    /// Unpublished entries, oldest first, at most `limit`.
    async fn pending(&self, limit: usize) -> Result<Vec<OutboxEntry>>;
    /// Record that the broker confirmed entry `id` at `at`. Marking a marked entry is a no-op.
    async fn mark_published(&self, id: &str, at: SystemTime) -> Result<()>;
}

#[async_trait::async_trait]
impl<T: Outbox + ?Sized> Outbox for Arc<T> {
    async fn pending(&self, limit: usize) -> Result<Vec<OutboxEntry>> {
        (**self).pending(limit).await
    }
    async fn mark_published(&self, id: &str, at: SystemTime) -> Result<()> {
        (**self).mark_published(id, at).await
    }
}

/// The time source for `published_at`; tests inject a fixed one.
pub trait Clock: Send + Sync {
    /// The current wall-clock time.
    fn now(&self) -> SystemTime;
}

/// The system's wall clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> SystemTime {
        SystemTime::now()
    }
}

/// Where the relay publishes, how it polls and how it backs off.
#[derive(Debug, Clone)]
pub struct RelayConfig {
    /// The exchange the entries go to (`contracts::subjects::online::EXCHANGE`).
    pub exchange: String,
    /// Entries read per round.
    pub batch: usize,
    /// Pause when the outbox is empty.
    pub poll_interval: Duration,
    /// First pause after a failure (broker down, store error); doubles per failure.
    pub min_backoff: Duration,
    /// Longest pause after failures.
    pub max_backoff: Duration,
}

impl RelayConfig {
    /// Relay to `exchange` in batches of 100, polling every 500 ms, backing off from 200 ms to
    /// 10 s.
    pub fn new(exchange: impl Into<String>) -> RelayConfig {
        RelayConfig {
            exchange: exchange.into(),
            batch: 100,
            poll_interval: Duration::from_millis(500),
            min_backoff: Duration::from_millis(200),
            max_backoff: Duration::from_secs(10),
        }
    }
}

/// Publish up to `batch` pending entries to `exchange` in order, each confirmed before it is
/// marked; stops at the first failure so no later entry overtakes an earlier one. Returns how
/// many were published and marked.
pub async fn relay_pending<O: Outbox + ?Sized>(
    mq: &Mq,
    outbox: &O,
    clock: &dyn Clock,
    exchange: &str,
    batch: usize,
) -> Result<usize> {
    let entries = outbox.pending(batch).await?;
    let mut done = 0;
    for entry in entries {
        mq.publish(
            exchange,
            &entry.routing_key,
            &entry.message_id,
            &entry.content_type,
            &entry.payload,
        )
        .await?;
        outbox.mark_published(&entry.id, clock.now()).await?;
        done += 1;
    }
    Ok(done)
}

/// Run the relay until `shutdown` completes: publish pending entries in order, mark each after
/// its confirm, poll when idle, back off exponentially while the broker or the store fails.
/// Nothing is marked early and nothing is skipped: an entry the broker refuses (no queue bound
/// for its routing key, an invalid content type) stops the relay at that entry, loudly and
/// retried with back-off, rather than reordering or dropping messages.
pub async fn run_relay<O: Outbox + ?Sized>(
    mq: &Mq,
    outbox: &O,
    clock: &dyn Clock,
    config: &RelayConfig,
    shutdown: impl Future<Output = ()>,
) {
    tokio::pin!(shutdown);
    let batch = config.batch.max(1);
    let mut backoff = config.min_backoff;
    loop {
        let wait = tokio::select! {
            biased;
            () = &mut shutdown => return,
            result = relay_pending(mq, outbox, clock, &config.exchange, batch) => match result {
                // A full batch: more may be waiting, go again at once.
                Ok(done) if done == batch => {
                    backoff = config.min_backoff;
                    continue;
                }
                Ok(_) => {
                    backoff = config.min_backoff;
                    config.poll_interval
                }
                Err(error) => {
                    tracing::warn!(%error, retry_in = ?backoff, "outbox relay failed; entries stay pending");
                    let wait = backoff;
                    backoff = backoff.saturating_mul(2).min(config.max_backoff);
                    wait
                }
            },
        };
        tokio::select! {
            biased;
            () = &mut shutdown => return,
            () = tokio::time::sleep(wait) => {}
        }
    }
}
