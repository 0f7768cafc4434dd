//! What a consumer does with one delivered event, whatever the broker: verify that its own
//! zone's outbox produced it, run the handler at most once per message id, and decide whether
//! the broker should acknowledge it, deliver it again later, or dead-letter it.

use std::collections::HashSet;
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use crate::mac::{EventMacInput, EventVerifier};

/// A storage failure (an outbox or idempotency table), wrapped for the adapters.
#[derive(Debug, thiserror::Error)]
#[error("store: {0}")]
pub struct StoreError(#[source] pub Box<dyn std::error::Error + Send + Sync>);

impl StoreError {
    /// Wrap a storage error (a `sea_orm::DbErr`, say).
    pub fn new(error: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> StoreError {
        StoreError(error.into())
    }
}

/// An event as the broker delivered it, before anything was checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Incoming {
    /// The subject or routing key it was published with.
    pub topic: String,
    /// Its message id, if the publisher set one.
    pub message_id: Option<String>,
    /// Its content type, if set.
    pub content_type: Option<String>,
    /// Its schema header, if set.
    pub schema: Option<String>,
    /// Its MAC header, if set.
    pub mac: Option<String>,
    /// The payload.
    pub payload: Vec<u8>,
    /// Delivery attempt, from 1.
    pub attempt: u32,
}

impl Incoming {
    /// The fields the event MAC covers.
    pub fn mac_input(&self) -> EventMacInput<'_> {
        EventMacInput {
            topic: &self.topic,
            message_id: self.message_id.as_deref().unwrap_or_default(),
            content_type: self.content_type.as_deref().unwrap_or_default(),
            schema: self.schema.as_deref().unwrap_or_default(),
            payload: &self.payload,
        }
    }
}

/// A verified event, as a handler sees it: its MAC was the zone's, and it has a message id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    /// The subject or routing key.
    pub topic: String,
    /// The message id, the idempotency key.
    pub message_id: String,
    /// Its content type, if set.
    pub content_type: Option<String>,
    /// Its schema, if set.
    pub schema: Option<String>,
    /// The payload.
    pub payload: Vec<u8>,
    /// Delivery attempt, from 1.
    pub attempt: u32,
}

/// Why a handler did not finish.
#[derive(Debug, thiserror::Error)]
pub enum HandlerError {
    /// Try again later (a database or peer is unavailable).
    #[error("retryable: {reason}")]
    Retryable {
        /// What failed.
        reason: String,
        /// Delay before redelivery; `None` uses the consumer's default.
        delay: Option<Duration>,
    },
    /// The event can never be handled (undecodable, unknown schema, names nothing known).
    #[error("permanent: {reason}")]
    Permanent {
        /// What is wrong with the event.
        reason: String,
    },
}

impl HandlerError {
    /// A retryable failure with the default delay.
    pub fn retry(reason: impl std::fmt::Display) -> HandlerError {
        HandlerError::Retryable {
            reason: reason.to_string(),
            delay: None,
        }
    }

    /// A permanent failure.
    pub fn permanent(reason: impl std::fmt::Display) -> HandlerError {
        HandlerError::Permanent {
            reason: reason.to_string(),
        }
    }
}

/// Store failures (the idempotency table, say) are transient: retry.
impl From<StoreError> for HandlerError {
    fn from(error: StoreError) -> Self {
        HandlerError::retry(error)
    }
}

/// What the adapter tells the broker about one delivery.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Done (or done before): acknowledge.
    Ack,
    /// Deliver it again after this pause.
    Retry(Duration),
    /// Never handle it: move it to the dead letters with this reason, and acknowledge.
    DeadLetter(String),
}

/// Counters of one consumer, for logs and metrics.
#[derive(Debug, Default)]
pub struct ConsumerStats {
    handled: AtomicU64,
    retried: AtomicU64,
    dead_lettered: AtomicU64,
    rejected: AtomicU64,
}

/// A copy of [`ConsumerStats`] at one moment.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StatsSnapshot {
    /// Events handled (acknowledged after the handler succeeded).
    pub handled: u64,
    /// Deliveries sent back for a later attempt.
    pub retried: u64,
    /// Events dead-lettered, the rejected ones included.
    pub dead_lettered: u64,
    /// Events refused before any handling because they were not the zone's own (no or a wrong
    /// MAC, no message id).
    pub rejected: u64,
}

impl ConsumerStats {
    /// The counters now.
    pub fn snapshot(&self) -> StatsSnapshot {
        StatsSnapshot {
            handled: self.handled.load(Ordering::Relaxed),
            retried: self.retried.load(Ordering::Relaxed),
            dead_lettered: self.dead_lettered.load(Ordering::Relaxed),
            rejected: self.rejected.load(Ordering::Relaxed),
        }
    }
}

/// Decide what to do with `incoming` for the consumer `consumer`: verify it with `verifier`
/// (refused → [`Verdict::DeadLetter`] with the reason, a log line and the `rejected` counter;
/// the handler never sees it), then run `handler` on the verified [`Delivery`]: `Ok` →
/// [`Verdict::Ack`]; retryable → [`Verdict::Retry`] until the `max_attempts`-th delivery, then
/// dead-lettered; permanent → dead-lettered. An HSM that cannot verify right now is a retry.
pub async fn decide<F, Fut>(
    consumer: &str,
    incoming: Incoming,
    verifier: &EventVerifier,
    stats: &ConsumerStats,
    max_attempts: u32,
    default_delay: Duration,
    handler: F,
) -> Verdict
where
    F: FnOnce(Delivery) -> Fut,
    Fut: Future<Output = Result<(), HandlerError>>,
{
    let attempt = incoming.attempt;
    match verifier.verify(&incoming.mac_input(), incoming.mac.as_deref()) {
        Err(error) => {
            tracing::warn!(%consumer, topic = %incoming.topic, %error, "cannot verify the event's MAC now (HSM); will retry");
            stats.retried.fetch_add(1, Ordering::Relaxed);
            return Verdict::Retry(default_delay);
        }
        Ok(Err(rejection)) => {
            stats.rejected.fetch_add(1, Ordering::Relaxed);
            stats.dead_lettered.fetch_add(1, Ordering::Relaxed);
            tracing::error!(
                %consumer,
                topic = %incoming.topic,
                message_id = incoming.message_id.as_deref().unwrap_or("(none)"),
                reason = %rejection,
                "rejected an event that this zone's outbox did not produce; dead-lettered, nothing changed"
            );
            return Verdict::DeadLetter(rejection.to_string());
        }
        Ok(Ok(())) => {}
    }
    let Some(message_id) = incoming.message_id else {
        // `verify` refuses events without a message id; this is unreachable in practice.
        return Verdict::DeadLetter("the event has no message id".to_owned());
    };
    let delivery = Delivery {
        topic: incoming.topic,
        message_id: message_id.clone(),
        content_type: incoming.content_type,
        schema: incoming.schema,
        payload: incoming.payload,
        attempt,
    };
    match handler(delivery).await {
        Ok(()) => {
            stats.handled.fetch_add(1, Ordering::Relaxed);
            Verdict::Ack
        }
        Err(HandlerError::Retryable { reason, delay }) if attempt < max_attempts => {
            let delay = delay.unwrap_or(default_delay);
            tracing::warn!(%consumer, %message_id, attempt, %reason, ?delay, "handler failed; will retry");
            stats.retried.fetch_add(1, Ordering::Relaxed);
            Verdict::Retry(delay)
        }
        Err(HandlerError::Retryable { reason, .. }) => {
            tracing::error!(%consumer, %message_id, attempt, %reason, "handler failed on the last delivery; dead-lettered");
            stats.dead_lettered.fetch_add(1, Ordering::Relaxed);
            Verdict::DeadLetter(format!("gave up after {attempt} deliveries: {reason}"))
        }
        Err(HandlerError::Permanent { reason }) => {
            tracing::error!(%consumer, %message_id, %reason, "event cannot be handled; dead-lettered");
            stats.dead_lettered.fetch_add(1, Ordering::Relaxed);
            Verdict::DeadLetter(reason)
        }
    }
}

/// The idempotency guard's port: remembers, in the consumer's database, which message ids a
/// consumer has handled, inside the transaction that also holds the effect.
///
/// Over a database, `Tx` is a transaction and `claim` is `INSERT INTO processed_messages(…) …
/// ON CONFLICT DO NOTHING`, returning whether a row was inserted. Two deliveries of one id
/// racing on two consumers serialise on the primary key: the second waits for the first to
/// commit, then finds the row.
#[async_trait::async_trait]
pub trait Processed: Send + Sync {
    /// The unit of work in which the claim and the effect are written.
    type Tx: Send;
    /// Start a unit of work.
    async fn begin(&self) -> Result<Self::Tx, StoreError>;
    /// Claim `message_id` for `consumer` within `tx`; false if it was claimed (and committed)
    /// before, that is, if the event was handled already.
    async fn claim(
        &self,
        tx: &mut Self::Tx,
        consumer: &str,
        message_id: &str,
    ) -> Result<bool, StoreError>;
    /// Commit the claim together with the effect.
    async fn commit(&self, tx: Self::Tx) -> Result<(), StoreError>;
    /// Discard the claim and the effect.
    async fn rollback(&self, tx: Self::Tx) -> Result<(), StoreError>;
}

/// What [`handle_once`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Once {
    /// First delivery: the effect ran and was committed with the claim.
    Done,
    /// Handled before: nothing was done.
    AlreadyDone,
}

/// Run `effect` within one unit of work of `processed`, together with the claim of this
/// delivery's message id by `consumer`, and commit both; or, when the id was claimed before,
/// do nothing. A failing effect rolls back the claim too, so the redelivery runs it again.
pub async fn handle_once<P, E>(
    processed: &P,
    consumer: &str,
    delivery: &Delivery,
    effect: E,
) -> Result<Once, HandlerError>
where
    P: Processed + ?Sized,
    E: AsyncFnOnce(&mut P::Tx) -> Result<(), HandlerError>,
{
    let mut tx = processed.begin().await?;
    let first = match processed
        .claim(&mut tx, consumer, &delivery.message_id)
        .await
    {
        Ok(first) => first,
        Err(error) => {
            rollback(processed, tx, consumer, &delivery.message_id).await;
            return Err(error.into());
        }
    };
    if !first {
        rollback(processed, tx, consumer, &delivery.message_id).await;
        tracing::debug!(%consumer, message_id = %delivery.message_id, "already handled; skipping");
        return Ok(Once::AlreadyDone);
    }
    match effect(&mut tx).await {
        Ok(()) => {
            processed.commit(tx).await?;
            Ok(Once::Done)
        }
        Err(failure) => {
            rollback(processed, tx, consumer, &delivery.message_id).await;
            Err(failure)
        }
    }
}

async fn rollback<P: Processed + ?Sized>(
    processed: &P,
    tx: P::Tx,
    consumer: &str,
    message_id: &str,
) {
    if let Err(error) = processed.rollback(tx).await {
        tracing::warn!(%error, %consumer, %message_id, "rollback failed; the store discards the transaction");
    }
}

/// An in-memory [`Processed`] for tests and development: a claim becomes visible at commit.
#[derive(Debug, Default)]
pub struct MemoryProcessed {
    seen: Mutex<HashSet<(String, String)>>,
}

impl MemoryProcessed {
    /// An empty guard.
    pub fn new() -> MemoryProcessed {
        MemoryProcessed::default()
    }

    fn seen(&self) -> std::sync::MutexGuard<'_, HashSet<(String, String)>> {
        // Every change is one insert, so the set is consistent after a panic.
        self.seen.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Whether `consumer` committed a claim of `message_id`.
    pub fn contains(&self, consumer: &str, message_id: &str) -> bool {
        self.seen()
            .contains(&(consumer.to_owned(), message_id.to_owned()))
    }
}

#[async_trait::async_trait]
impl Processed for MemoryProcessed {
    type Tx = Vec<(String, String)>;

    async fn begin(&self) -> Result<Self::Tx, StoreError> {
        Ok(Vec::new())
    }

    async fn claim(
        &self,
        tx: &mut Self::Tx,
        consumer: &str,
        message_id: &str,
    ) -> Result<bool, StoreError> {
        let key = (consumer.to_owned(), message_id.to_owned());
        if self.seen().contains(&key) || tx.contains(&key) {
            return Ok(false);
        }
        tx.push(key);
        Ok(true)
    }

    async fn commit(&self, tx: Self::Tx) -> Result<(), StoreError> {
        self.seen().extend(tx);
        Ok(())
    }

    async fn rollback(&self, _tx: Self::Tx) -> Result<(), StoreError> {
        Ok(())
    }
}
