//! The transactional outbox relay: events committed with the change that caused them are
//! published from the outbox table, in order, and marked only after JetStream stored them.
//!
//! Why an outbox: a service that changed its database and then published directly would lose
//! the event if it crashed (or NATS was down) between the two. With the outbox the event row is
//! part of the same transaction as the change, and this relay is the only thing that moves rows
//! to the bus. A publish whose ack is lost is repeated with the same `Nats-Msg-Id`, which
//! JetStream drops as a duplicate within the stream's window; consumers are idempotent by
//! message id for the rest. A row is never marked before its ack, so at worst an event is
//! published twice, never zero times.

use std::future::Future;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime};

use serde::{Deserialize, Serialize};

use crate::{headers, Bus, Error, Result};

/// One outbox row. Maps one-to-one onto the `outbox` table (id, subject, msg_id UNIQUE,
/// payload, headers json, created_at, published_at NULL); `headers` serialises to a JSON array
/// of `[name, value]` pairs and must hold `custody-schema`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutboxEntry {
    /// Row id (UUIDv7: sorts by creation, which is the publishing order).
    pub id: String,
    /// NATS subject.
    pub subject: String,
    /// `Nats-Msg-Id`, the event id; unique.
    pub msg_id: String,
    /// Encoded payload (MessagePack).
    pub payload: Vec<u8>,
    /// Headers to send; `custody-schema` is required, `Nats-Msg-Id` and `content-type` are set
    /// by the relay.
    pub headers: Vec<(String, String)>,
}

impl OutboxEntry {
    /// The first header named `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// Storage of unpublished events. Implemented over the `outbox` table with sea-orm:
/// `pending` is `WHERE published_at IS NULL ORDER BY id LIMIT n`, `mark_published` is
/// `UPDATE … SET published_at = ? WHERE id = ? AND published_at IS NULL`; map `DbErr` with
/// [`Error::store`]. Run one relay per outbox table (or lock rows with `FOR UPDATE SKIP LOCKED`
/// on PostgreSQL) so the publishing order holds.
#[async_trait::async_trait]
pub trait Outbox: Send + Sync {
    /// Unpublished entries, oldest first, at most `limit`.
    async fn pending(&self, limit: usize) -> Result<Vec<OutboxEntry>>;
    /// Record that the server stored entry `id` at `at`. Marking a marked entry is a no-op.
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

/// Publish up to `batch` pending entries in order; stops at the first failure so no later
/// entry overtakes an earlier one. Returns how many were published and marked.
pub async fn relay_pending<O: Outbox + ?Sized>(
    bus: &Bus,
    outbox: &O,
    clock: &dyn Clock,
    batch: usize,
) -> Result<usize> {
    let entries = outbox.pending(batch).await?;
    let mut done = 0;
    for entry in entries {
        let schema = entry
            .header(headers::SCHEMA)
            .ok_or_else(|| Error::MissingSchema {
                id: entry.id.clone(),
            })?
            .to_owned();
        let published = bus
            .publish_event(
                &entry.subject,
                &entry.msg_id,
                &schema,
                bytes::Bytes::from(entry.payload),
                &entry.headers,
            )
            .await?;
        if published.duplicate {
            // An earlier attempt was stored but its ack was lost; marking now is correct.
            tracing::debug!(id = %entry.id, msg_id = %entry.msg_id, "outbox entry was already stored");
        }
        outbox.mark_published(&entry.id, clock.now()).await?;
        done += 1;
    }
    Ok(done)
}

/// Run the relay until `shutdown` completes: publish pending entries in order, mark each after
/// its ack, poll when idle, back off exponentially while the broker or the store fails.
/// Nothing is marked early and nothing is skipped; an entry that cannot be published (no schema
/// header) stops the relay at that entry, loudly, rather than reordering or dropping events.
pub async fn run_relay<O: Outbox + ?Sized>(
    bus: &Bus,
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
            result = relay_pending(bus, outbox, clock, batch) => match result {
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

#[derive(Debug)]
struct Row {
    entry: OutboxEntry,
    published_at: Option<SystemTime>,
    marks: usize,
}

/// An in-memory [`Outbox`] for tests and development.
#[derive(Debug, Default)]
pub struct MemoryOutbox {
    rows: Mutex<Vec<Row>>,
}

impl MemoryOutbox {
    /// An empty outbox.
    pub fn new() -> MemoryOutbox {
        MemoryOutbox::default()
    }

    fn rows(&self) -> MutexGuard<'_, Vec<Row>> {
        // A panic elsewhere while holding the lock leaves the rows consistent (every change
        // is one push or one field write), so keep using them.
        self.rows.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Append an entry (what the service's transaction would insert).
    pub fn push(&self, entry: OutboxEntry) {
        self.rows().push(Row {
            entry,
            published_at: None,
            marks: 0,
        });
    }

    /// Ids of entries not yet marked published, in order.
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
    async fn pending(&self, limit: usize) -> Result<Vec<OutboxEntry>> {
        Ok(self
            .rows()
            .iter()
            .filter(|r| r.published_at.is_none())
            .take(limit)
            .map(|r| r.entry.clone())
            .collect())
    }

    async fn mark_published(&self, id: &str, at: SystemTime) -> Result<()> {
        if let Some(row) = self.rows().iter_mut().find(|r| r.entry.id == id) {
            row.marks += 1;
            row.published_at.get_or_insert(at);
        }
        Ok(())
    }
}
