//! Consumers with manual acks and prefetch: the RabbitMQ side of `events::decide`.
//!
//! RabbitMQ delivers at least once: a message comes again when the consumer's connection dies
//! before its ack (a crash, a broker restart), after a requeue, or when the relay published it
//! twice. So every message is first verified (its MAC must be the zone HSM's), then handled at
//! most once per message id (`events::handle_once`: the claim is written in the same database
//! transaction as the effect, and the delivery is acked only after that commit). A message that
//! is refused or keeps failing is republished to the dead-letter exchange with its reason in
//! the `x-custody-dead-letter-reason` header, confirmed, and only then acked.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use events::{ConsumerStats, Delivery, EventVerifier, HandlerError, Incoming, Verdict};
use futures::StreamExt;
use lapin::options::{BasicAckOptions, BasicConsumeOptions, BasicQosOptions, BasicRejectOptions};
use lapin::types::{AMQPValue, FieldTable, LongString};

use crate::{short, Error, Mq, Result};

/// The header that carries a dead letter's reason.
pub const DEAD_LETTER_REASON: &str = "x-custody-dead-letter-reason";
/// The header that names the consumer that dead-lettered a message.
pub const DEAD_LETTER_CONSUMER: &str = "x-custody-dead-letter-consumer";

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
    /// Where dead letters are republished with their reason.
    pub dead_letter_exchange: String,
}

impl ConsumerSpec {
    /// A consumer of `queue` named `name` that dead-letters to `dead_letter_exchange`,
    /// prefetching 16, retrying after 1 s, giving up after 10 deliveries, reconnecting with a
    /// back-off from 100 ms to 5 s.
    pub fn new(
        queue: impl Into<String>,
        name: impl Into<String>,
        dead_letter_exchange: impl Into<String>,
    ) -> ConsumerSpec {
        ConsumerSpec {
            dead_letter_exchange: dead_letter_exchange.into(),
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

/// What a consumer needs besides its spec and handler: the zone's event verifier and the
/// counters it updates.
#[derive(Clone, Debug)]
pub struct ConsumerContext {
    /// Checks that each message came from this zone's outbox.
    pub verifier: EventVerifier,
    /// Handled, retried, dead-lettered and rejected messages.
    pub stats: Arc<ConsumerStats>,
}

impl ConsumerContext {
    /// A context with fresh counters.
    pub fn new(verifier: EventVerifier) -> ConsumerContext {
        ConsumerContext {
            verifier,
            stats: Arc::new(ConsumerStats::default()),
        }
    }
}

/// Consume `spec.queue` until `shutdown` completes, one message at a time in delivery order:
/// each is verified and handled through `events::decide`, then acked, requeued after a pause,
/// or dead-lettered with its reason. A lost connection (broker restart, network) ends the
/// session; the loop reconnects with back-off, and the broker redelivers whatever was not
/// acked. Returns `Ok(())` on shutdown; there is no other way out.
pub async fn consume<F, Fut>(
    mq: &Mq,
    spec: &ConsumerSpec,
    context: &ConsumerContext,
    handler: F,
    shutdown: impl Future<Output = ()>,
) -> Result<()>
where
    F: Fn(Delivery) -> Fut + Send + Sync,
    Fut: Future<Output = Result<(), HandlerError>> + Send,
{
    tokio::pin!(shutdown);
    let mut backoff = events::Backoff::new(spec.min_backoff, spec.max_backoff);
    loop {
        let outcome = tokio::select! {
            biased;
            () = &mut shutdown => return Ok(()),
            outcome = session(mq, spec, context, &handler) => outcome,
        };
        match outcome {
            // At least one message went through: the next failure starts the back-off afresh.
            Ok(true) => backoff.reset(),
            Ok(false) => {}
            Err(error) => tracing::warn!(
                %error, consumer = %spec.name,
                "consumer interrupted; reconnecting"
            ),
        }
        if !backoff.sleep_or(&mut shutdown).await {
            return Ok(());
        }
    }
}

/// One connection's worth of consuming; returns whether any message was handled before the
/// stream ended. Dropping it (shutdown) drops the connection, which returns unacked messages.
async fn session<F, Fut>(
    mq: &Mq,
    spec: &ConsumerSpec,
    context: &ConsumerContext,
    handler: &F,
) -> Result<bool>
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
        process(mq, spec, context, handler, delivery).await?;
        handled_any = true;
    }
    Ok(handled_any)
}

async fn process<F, Fut>(
    mq: &Mq,
    spec: &ConsumerSpec,
    context: &ConsumerContext,
    handler: &F,
    message: lapin::message::Delivery,
) -> Result<()>
where
    F: Fn(Delivery) -> Fut + Send + Sync,
    Fut: Future<Output = Result<(), HandlerError>> + Send,
{
    let attempt = delivery_count(message.properties.headers().as_ref()).saturating_add(1);
    let headers = message.properties.headers().as_ref();
    let incoming = Incoming {
        topic: message.routing_key.as_str().to_owned(),
        message_id: message
            .properties
            .message_id()
            .as_ref()
            .map(|id| id.as_str().to_owned())
            .filter(|id| !id.is_empty()),
        content_type: message
            .properties
            .content_type()
            .as_ref()
            .map(|c| c.as_str().to_owned()),
        schema: text_header(headers, crate::SCHEMA_HEADER),
        mac: text_header(headers, events::MAC_HEADER),
        payload: message.data.clone(),
        attempt,
    };
    let message_id = incoming.message_id.clone().unwrap_or_default();
    let verdict = events::decide(
        &spec.name,
        incoming,
        &context.verifier,
        &context.stats,
        spec.max_deliveries,
        spec.retry_delay,
        handler,
    )
    .await;
    // An ack that does not reach the broker (the connection just died) means a redelivery,
    // which the idempotency guard turns into a no-op; the session ends and reconnects.
    let result = match verdict {
        Verdict::Ack => message.acker.ack(BasicAckOptions::default()).await,
        Verdict::Retry(delay) => {
            // AMQP 0-9-1 has no delayed requeue: pause here so a failing dependency is not
            // hammered.
            tokio::time::sleep(delay).await;
            message
                .acker
                .reject(BasicRejectOptions { requeue: true })
                .await
        }
        Verdict::DeadLetter(reason) => match dead_letter(mq, spec, &message, &reason).await {
            Ok(()) => message.acker.ack(BasicAckOptions::default()).await,
            Err(error) => {
                tracing::warn!(%error, %message_id, consumer = %spec.name, "could not store the dead letter; requeued");
                tokio::time::sleep(spec.retry_delay).await;
                message
                    .acker
                    .reject(BasicRejectOptions { requeue: true })
                    .await
            }
        },
    };
    result.map(|_| ()).map_err(Error::amqp(format!(
        "settling a delivery from {}",
        spec.queue
    )))
}

/// Republish `message` to the dead-letter exchange with the reason and the consumer's name,
/// keeping its routing key, id, type and headers, and wait for the broker's confirm.
async fn dead_letter(
    mq: &Mq,
    spec: &ConsumerSpec,
    message: &lapin::message::Delivery,
    reason: &str,
) -> Result<()> {
    let mut headers = message.properties.headers().clone().unwrap_or_default();
    headers.insert(
        DEAD_LETTER_REASON.into(),
        AMQPValue::LongString(LongString::from(reason.as_bytes().to_vec())),
    );
    headers.insert(
        DEAD_LETTER_CONSUMER.into(),
        AMQPValue::LongString(LongString::from(spec.name.as_bytes().to_vec())),
    );
    let properties = message.properties.clone().with_headers(headers);
    mq.publish_raw(
        &spec.dead_letter_exchange,
        message.routing_key.as_str(),
        &message.data,
        properties,
    )
    .await
}

/// A text header (AMQP long or short string), if present.
fn text_header(headers: Option<&FieldTable>, name: &str) -> Option<String> {
    match headers.and_then(|h| h.inner().get(name)) {
        Some(AMQPValue::LongString(s)) => Some(String::from_utf8_lossy(s.as_bytes()).into_owned()),
        Some(AMQPValue::ShortString(s)) => Some(s.as_str().to_owned()),
        _ => None,
    }
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
