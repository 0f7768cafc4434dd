//! Consumers with manual acks and prefetch, and the idempotency guard their handlers use.
//!
//! RabbitMQ delivers at least once: a message comes again when the consumer's connection dies
//! before its ack (a crash, a broker restart), after a requeue, or when the relay published it
//! twice. So a handler's effect is guarded by the message id ([`Processed`], [`handle_once`]):
//! the claim "this consumer handled this id" is written in the same database transaction as
//! the effect, and the delivery is acked only after that transaction committed. A redelivery
//! then finds the claim and is acked without effect; a crash before the commit leaves neither
//! claim nor effect, and the redelivery does the work.

use std::future::Future;
use std::time::Duration;

use futures::StreamExt;
use lapin::options::{BasicAckOptions, BasicConsumeOptions, BasicQosOptions, BasicRejectOptions};
use lapin::types::{AMQPValue, FieldTable};

use crate::{short, Error, Mq, Result};

/// A consumer: which queue, under which name, and how it paces and gives up.
#[derive(Debug, Clone)]
pub struct ConsumerSpec {
    /// The queue (from `contracts`).
    pub queue: String,
    /// The consumer's name: the idempotency guard's key space, and the prefix of its tag.
    pub name: String,
    /// Unacknowledged messages the broker may hand this consumer at once.
    pub prefetch: u16,
    /// Pause before a message whose handler failed retryably is requeued, so a failing
    /// dependency is not hammered (AMQP 0-9-1 has no delayed requeue).
    pub retry_delay: Duration,
    /// Deliveries after which a retryable failure is given up and the message dead-lettered.
    /// Keep it at or below the queue's `x-delivery-limit`, which catches the deliveries that
    /// never reach a verdict (the consumer crashed on them).
    pub max_deliveries: u32,
    /// First pause before reconnecting after the connection was lost; doubles to `max_backoff`.
    pub min_backoff: Duration,
    /// Longest pause between reconnection attempts.
    pub max_backoff: Duration,
}

impl ConsumerSpec {
    /// A consumer of `queue` named `name`, prefetching 16, retrying after 1 s, giving up after
    /// 10 deliveries, reconnecting with a back-off from 100 ms to 5 s.
    pub fn new(queue: impl Into<String>, name: impl Into<String>) -> ConsumerSpec {
        ConsumerSpec {
            queue: queue.into(),
            name: name.into(),
            prefetch: 16,
            retry_delay: Duration::from_secs(1),
            max_deliveries: 10,
            min_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_secs(5),
        }
    }
}

/// One delivered message, as the handler sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    /// The routing key it was published with.
    pub routing_key: String,
    /// Its message id, the idempotency key (a message without one is dead-lettered before a
    /// handler sees it).
    pub message_id: String,
    /// Its content type, if the publisher set one (this crate always does).
    pub content_type: Option<String>,
    /// The payload.
    pub body: Vec<u8>,
    /// Delivery attempt, from 1 (quorum queues count earlier attempts in `x-delivery-count`).
    pub attempt: u32,
    /// Whether the broker flagged it as delivered before.
    pub redelivered: bool,
}

/// Why a handler did not finish.
#[derive(Debug, thiserror::Error)]
pub enum HandlerError {
    /// Try again later (a database or node is unavailable): requeue after a pause.
    #[error("retryable: {reason}")]
    Retryable {
        /// What failed.
        reason: String,
        /// Pause before the requeue; `None` uses the consumer's `retry_delay`.
        delay: Option<Duration>,
    },
    /// The message can never be handled (undecodable, unknown type): dead-letter it and log.
    #[error("permanent: {reason}")]
    Permanent {
        /// What is wrong with the message.
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
impl From<Error> for HandlerError {
    fn from(error: Error) -> Self {
        HandlerError::retry(error)
    }
}

/// Consume `spec.queue` until `shutdown` completes, calling `handler` for each message, one at
/// a time in delivery order: `Ok` acks, [`HandlerError::Retryable`] requeues after a pause
/// (or dead-letters once `max_deliveries` is reached), [`HandlerError::Permanent`]
/// dead-letters. A lost connection (broker restart, network) ends the session; the loop
/// reconnects with back-off, and the broker redelivers whatever was not acked. Returns
/// `Ok(())` on shutdown; there is no other way out.
pub async fn consume<F, Fut>(
    mq: &Mq,
    spec: &ConsumerSpec,
    handler: F,
    shutdown: impl Future<Output = ()>,
) -> Result<()>
where
    F: Fn(Delivery) -> Fut + Send + Sync,
    Fut: Future<Output = Result<(), HandlerError>> + Send,
{
    tokio::pin!(shutdown);
    let mut backoff = spec.min_backoff;
    loop {
        let outcome = tokio::select! {
            biased;
            () = &mut shutdown => return Ok(()),
            outcome = session(mq, spec, &handler) => outcome,
        };
        match outcome {
            // At least one message went through: the next failure starts the back-off afresh.
            Ok(true) => backoff = spec.min_backoff,
            Ok(false) => {}
            Err(error) => tracing::warn!(
                %error, consumer = %spec.name, retry_in = ?backoff,
                "consumer interrupted; reconnecting"
            ),
        }
        tokio::select! {
            biased;
            () = &mut shutdown => return Ok(()),
            () = tokio::time::sleep(backoff) => {}
        }
        backoff = backoff.saturating_mul(2).min(spec.max_backoff);
    }
}

/// One connection's worth of consuming; returns whether any message was handled before the
/// stream ended. Dropping it (shutdown) drops the connection, which returns unacked messages.
async fn session<F, Fut>(mq: &Mq, spec: &ConsumerSpec, handler: &F) -> Result<bool>
where
    F: Fn(Delivery) -> Fut + Send + Sync,
    Fut: Future<Output = Result<(), HandlerError>> + Send,
{
    let connection = mq.open_connection().await?;
    let channel = connection
        .create_channel()
        .await
        .map_err(Error::amqp("opening a consumer channel"))?;
    channel
        .basic_qos(spec.prefetch.max(1), BasicQosOptions::default())
        .await
        .map_err(Error::amqp("setting the prefetch"))?;
    let mut consumer = channel
        .basic_consume(
            short("queue", &spec.queue)?,
            // The broker names the consumer; ours would have to be unique per channel anyway.
            "".into(),
            BasicConsumeOptions::default(),
            FieldTable::default(),
        )
        .await
        .map_err(Error::amqp(format!("consuming {}", spec.queue)))?;
    tracing::debug!(consumer = %spec.name, queue = %spec.queue, "consuming");
    let mut handled_any = false;
    while let Some(item) = consumer.next().await {
        let delivery = item.map_err(Error::amqp(format!("receiving from {}", spec.queue)))?;
        process(spec, handler, delivery).await?;
        handled_any = true;
    }
    Ok(handled_any)
}

/// What to tell the broker about one delivery.
enum Verdict {
    Ack,
    Requeue,
    DeadLetter,
}

async fn process<F, Fut>(
    spec: &ConsumerSpec,
    handler: &F,
    message: lapin::message::Delivery,
) -> Result<()>
where
    F: Fn(Delivery) -> Fut + Send + Sync,
    Fut: Future<Output = Result<(), HandlerError>> + Send,
{
    let attempt = delivery_count(message.properties.headers().as_ref()).saturating_add(1);
    let message_id = message
        .properties
        .message_id()
        .as_ref()
        .map(|id| id.as_str().to_owned())
        .filter(|id| !id.is_empty());
    let verdict = match message_id {
        None => {
            // Without an id the effect cannot be guarded, so it is not attempted at all.
            tracing::error!(consumer = %spec.name, routing_key = %message.routing_key, "message without message id; dead-lettered");
            Verdict::DeadLetter
        }
        Some(message_id) => {
            let delivery = Delivery {
                routing_key: message.routing_key.as_str().to_owned(),
                message_id: message_id.clone(),
                content_type: message
                    .properties
                    .content_type()
                    .as_ref()
                    .map(|c| c.as_str().to_owned()),
                body: message.data.clone(),
                attempt,
                redelivered: message.redelivered,
            };
            match handler(delivery).await {
                Ok(()) => Verdict::Ack,
                Err(HandlerError::Retryable { reason, delay }) if attempt < spec.max_deliveries => {
                    let delay = delay.unwrap_or(spec.retry_delay);
                    tracing::warn!(%message_id, attempt, %reason, ?delay, consumer = %spec.name, "handler failed; will retry");
                    tokio::time::sleep(delay).await;
                    Verdict::Requeue
                }
                Err(HandlerError::Retryable { reason, .. }) => {
                    tracing::error!(%message_id, attempt, %reason, consumer = %spec.name, "handler failed on the last delivery; dead-lettered");
                    Verdict::DeadLetter
                }
                Err(HandlerError::Permanent { reason }) => {
                    tracing::error!(%message_id, %reason, consumer = %spec.name, "message cannot be handled; dead-lettered");
                    Verdict::DeadLetter
                }
            }
        }
    };
    // An ack that does not reach the broker (the connection just died) means a redelivery,
    // which the idempotency guard turns into a no-op; the session ends and reconnects.
    let result = match verdict {
        Verdict::Ack => message.acker.ack(BasicAckOptions::default()).await,
        Verdict::Requeue => {
            message
                .acker
                .reject(BasicRejectOptions { requeue: true })
                .await
        }
        Verdict::DeadLetter => {
            message
                .acker
                .reject(BasicRejectOptions { requeue: false })
                .await
        }
    };
    result.map(|_| ()).map_err(Error::amqp(format!(
        "settling a delivery from {}",
        spec.queue
    )))
}

/// The `x-delivery-count` header of quorum queues (earlier deliveries), or 0.
fn delivery_count(headers: Option<&FieldTable>) -> u32 {
    let value = headers.and_then(|h| h.inner().get("x-delivery-count"));
    let count: Option<i64> = match value {
        Some(AMQPValue::LongLongInt(n)) => Some(*n),
        Some(AMQPValue::LongInt(n)) => Some(i64::from(*n)),
        Some(AMQPValue::LongUInt(n)) => Some(i64::from(*n)),
        Some(AMQPValue::ShortInt(n)) => Some(i64::from(*n)),
        Some(AMQPValue::ShortUInt(n)) => Some(i64::from(*n)),
        Some(AMQPValue::ShortShortInt(n)) => Some(i64::from(*n)),
        Some(AMQPValue::ShortShortUInt(n)) => Some(i64::from(*n)),
        _ => None,
    };
    count.and_then(|n| u32::try_from(n).ok()).unwrap_or(0)
}

/// The idempotency guard's port: remembers, in the consumer's database, which message ids a
/// consumer has handled, inside the transaction that also holds the effect.
///
/// Over a database, `Tx` is a transaction (`sea_orm::DatabaseTransaction`) and `claim` is
/// `INSERT INTO processed_messages(consumer, message_id, at) … ON CONFLICT DO NOTHING`,
/// returning whether a row was inserted. Two deliveries of one id racing on two consumers
/// serialise on the primary key: the second waits for the first to commit, then finds the row.
#[async_trait::async_trait]
pub trait Processed: Send + Sync {
    /// The unit of work in which the claim and the effect are written.
    type Tx: Send;
    /// Start a unit of work.
    async fn begin(&self) -> Result<Self::Tx>;
    /// Claim `message_id` for `consumer` within `tx`; false if it was claimed (and committed)
    /// before, that is, if the message was handled already.
    async fn claim(&self, tx: &mut Self::Tx, consumer: &str, message_id: &str) -> Result<bool>;
    /// Commit the claim together with the effect.
    async fn commit(&self, tx: Self::Tx) -> Result<()>;
    /// Discard the claim and the effect.
    async fn rollback(&self, tx: Self::Tx) -> Result<()>;
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
/// Return `Ok` from the handler only after this returned `Ok`: the ack then follows the commit.
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delivery_count_reads_any_integer_and_defaults_to_zero() {
        assert_eq!(delivery_count(None), 0);
        let mut headers = FieldTable::default();
        headers.insert("x-delivery-count".into(), AMQPValue::LongLongInt(3));
        assert_eq!(delivery_count(Some(&headers)), 3);
        headers.insert("x-delivery-count".into(), AMQPValue::LongInt(-1));
        assert_eq!(delivery_count(Some(&headers)), 0);
    }
}
