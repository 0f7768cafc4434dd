//! The transactional outbox relay: events committed with the change that caused them are
//! published from the outbox table, in order, and marked only after the broker took them.
//!
//! Why an outbox: a service that changed its database and then published directly would lose
//! the event if it crashed (or the broker was down) between the two. With the outbox the event
//! row is part of the same transaction as the change, and this relay is the only thing that
//! moves rows to the broker. A row is never marked before the broker acknowledged it, so at
//! worst an event is published twice (with the same message id, which JetStream drops within
//! its duplicate window and every consumer's idempotency guard ignores), never zero times.

use std::future::Future;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime};

use crate::process::StoreError;
use crate::Backoff;

/// One outbox row, as the relay publishes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxEntry {
    /// Row id (UUIDv7: sorts by creation, which is the publishing order).
    pub id: String,
    /// The subject (NATS) or routing key (RabbitMQ).
    pub topic: String,
    /// The message id, the consumers' idempotency key; unique.
    pub message_id: String,
    /// One of [`crate::content_types`].
    pub content_type: String,
    /// The payload's schema, `<Type>/v<n>`.
    pub schema: String,
    /// The encoded event.
    pub payload: Vec<u8>,
    /// The zone HSM's MAC of the event (hex), made when the row was written.
    pub mac: Option<String>,
}

/// A broker could not take an event; it stays pending.
#[derive(Debug, thiserror::Error)]
#[error("publishing {message_id} to {topic}: {source}")]
pub struct PublishError {
    /// The subject or routing key.
    pub topic: String,
    /// The message id.
    pub message_id: String,
    /// What the broker adapter reported.
    #[source]
    pub source: Box<dyn std::error::Error + Send + Sync>,
}

/// What the relay publishes to: a broker adapter that returns only once the broker has taken
/// responsibility for the event (a JetStream ack, a RabbitMQ publisher confirm).
#[async_trait::async_trait]
pub trait Publisher: Send + Sync {
    /// Publish `entry` with its message id, content type, schema and MAC as the broker's
    /// headers/properties.
    async fn publish(&self, entry: &OutboxEntry) -> Result<(), PublishError>;
}

/// Storage of unpublished events, over a zone's outbox table: `pending` is `WHERE
/// published_at IS NULL ORDER BY id LIMIT n`, `mark_published` is `UPDATE … SET published_at
/// = ? WHERE id = ? AND published_at IS NULL`. Run one relay per outbox table (or lock rows with
/// `FOR UPDATE SKIP LOCKED` on PostgreSQL) so the publishing order holds.
#[async_trait::async_trait]
pub trait Outbox: Send + Sync {
    /// Unpublished entries, oldest first, at most `limit`.
    async fn pending(&self, limit: usize) -> Result<Vec<OutboxEntry>, StoreError>;
    /// Record that the broker took entry `id` at `at`. Marking a marked entry is a no-op.
    async fn mark_published(&self, id: &str, at: SystemTime) -> Result<(), StoreError>;
}

#[async_trait::async_trait]
impl<T: Outbox + ?Sized> Outbox for Arc<T> {
    async fn pending(&self, limit: usize) -> Result<Vec<OutboxEntry>, StoreError> {
        (**self).pending(limit).await
    }
    async fn mark_published(&self, id: &str, at: SystemTime) -> Result<(), StoreError> {
        (**self).mark_published(id, at).await
    }
}

/// The wall clock of the buses (`published_at`, idempotency claims); tests inject a fixed one.
pub trait Clock: Send + Sync {
    /// The current wall-clock time.
    fn now(&self) -> SystemTime;
}

/// The system's wall clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    #[allow(
        clippy::disallowed_methods,
        reason = "the one wall-clock read of the buses; everything else takes a Clock"
    )]
    fn now(&self) -> SystemTime {
        SystemTime::now()
    }
}

/// How the relay polls and backs off.
#[derive(Debug, Clone)]
pub struct RelayConfig {
    /// Entries read per round.
    pub batch: usize,
    /// Pause when the outbox is empty.
    pub poll_interval: Duration,
    /// First pause after a failure (broker down, store error); doubles per failure.
    pub min_backoff: Duration,
    /// Longest pause after failures.
    pub max_backoff: Duration,
}

impl Default for RelayConfig {
    fn default() -> Self {
        RelayConfig {
            batch: 100,
            poll_interval: Duration::from_millis(500),
            min_backoff: Duration::from_millis(200),
            max_backoff: Duration::from_secs(10),
        }
    }
}

/// Why a relay round stopped early.
#[derive(Debug, thiserror::Error)]
pub enum RelayError {
    /// The broker did not take an entry.
    #[error(transparent)]
    Publish(#[from] PublishError),
    /// The outbox could not be read or marked.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Publish up to `batch` pending entries in order; stops at the first failure so no later
/// entry overtakes an earlier one. Returns how many were published and marked.
pub async fn relay_pending<P: Publisher + ?Sized, O: Outbox + ?Sized>(
    publisher: &P,
    outbox: &O,
    clock: &dyn Clock,
    batch: usize,
) -> Result<usize, RelayError> {
    let entries = outbox.pending(batch).await?;
    let mut done = 0;
    for entry in entries {
        publisher.publish(&entry).await?;
        outbox.mark_published(&entry.id, clock.now()).await?;
        done += 1;
    }
    Ok(done)
}

/// Run the relay until `shutdown` completes: publish pending entries in order, mark each after
/// the broker took it, poll when idle, back off exponentially while the broker or the store
/// fails. Nothing is marked early and nothing is skipped: an entry the broker refuses stops
/// the relay at that entry, loudly and retried with back-off, rather than reordering or
/// dropping events.
pub async fn run_relay<P: Publisher + ?Sized, O: Outbox + ?Sized>(
    publisher: &P,
    outbox: &O,
    clock: &dyn Clock,
    config: &RelayConfig,
    shutdown: impl Future<Output = ()>,
) {
    tokio::pin!(shutdown);
    let batch = config.batch.max(1);
    let mut backoff = Backoff::new(config.min_backoff, config.max_backoff);
    loop {
        let wait = tokio::select! {
            biased;
            () = &mut shutdown => return,
            result = relay_pending(publisher, outbox, clock, batch) => match result {
                // A full batch: more may be waiting, go again at once.
                Ok(done) if done == batch => {
                    backoff.reset();
                    continue;
                }
                Ok(_) => {
                    backoff.reset();
                    config.poll_interval
                }
                Err(error) => {
                    let wait = backoff.next_delay();
                    tracing::warn!(%error, retry_in = ?wait, "outbox relay failed; entries stay pending");
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

/// An in-memory [`Outbox`] for tests and development.
#[derive(Debug, Default)]
pub struct MemoryOutbox {
    rows: Mutex<Vec<MemoryRow>>,
}

#[derive(Debug)]
struct MemoryRow {
    entry: OutboxEntry,
    published_at: Option<SystemTime>,
    marks: usize,
}

impl MemoryOutbox {
    /// An empty outbox.
    pub fn new() -> MemoryOutbox {
        MemoryOutbox::default()
    }

    fn rows(&self) -> MutexGuard<'_, Vec<MemoryRow>> {
        // Every change is one push or one field update, so the rows are consistent after a
        // panic.
        self.rows.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Add an unpublished entry (what a change's transaction would insert).
    pub fn push(&self, entry: OutboxEntry) {
        self.rows().push(MemoryRow {
            entry,
            published_at: None,
            marks: 0,
        });
    }

    /// The ids of the entries not published yet, in order.
    pub fn unpublished(&self) -> Vec<String> {
        self.rows()
            .iter()
            .filter(|r| r.published_at.is_none())
            .map(|r| r.entry.id.clone())
            .collect()
    }

    /// When entry `id` was marked published, if it was.
    pub fn published_at(&self, id: &str) -> Option<SystemTime> {
        self.rows()
            .iter()
            .find(|r| r.entry.id == id)
            .and_then(|r| r.published_at)
    }

    /// How often `mark_published` was called for `id` (tests: exactly once).
    pub fn marks(&self, id: &str) -> usize {
        self.rows()
            .iter()
            .find(|r| r.entry.id == id)
            .map_or(0, |r| r.marks)
    }
}

#[async_trait::async_trait]
impl Outbox for MemoryOutbox {
    async fn pending(&self, limit: usize) -> Result<Vec<OutboxEntry>, StoreError> {
        Ok(self
            .rows()
            .iter()
            .filter(|r| r.published_at.is_none())
            .take(limit)
            .map(|r| r.entry.clone())
            .collect())
    }

    async fn mark_published(&self, id: &str, at: SystemTime) -> Result<(), StoreError> {
        if let Some(row) = self.rows().iter_mut().find(|r| r.entry.id == id) {
            row.marks += 1;
            row.published_at.get_or_insert(at);
        }
        Ok(())
    }
}
