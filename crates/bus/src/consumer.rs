//! Durable pull consumers with explicit acks, and the idempotency guard their handlers use.
//!
//! JetStream delivers at least once: a message is redelivered when its ack is lost, when
//! `ack_wait` passes, after a nak, or when the same event was published twice outside the
//! duplicate window. So a handler's effect is guarded by the message id ([`Processed`],
//! [`handle_once`]): the first delivery does the work, later ones are acked without effect.

use std::collections::HashSet;
use std::future::Future;
use std::sync::Mutex;
use std::time::Duration;

use async_nats::jetstream::consumer::{pull, AckPolicy, DeliverPolicy};
use async_nats::jetstream::{self, AckKind};
use async_nats::HeaderMap;
use bytes::Bytes;
use futures::StreamExt;

use crate::{headers, Bus, Error, Result};

/// A durable consumer: which stream, which name, which subjects, and its delivery limits.
#[derive(Debug, Clone)]
pub struct ConsumerSpec {
    /// Stream name (from `contracts`).
    pub stream: String,
    /// Durable name; the server remembers the consumer's position under it across restarts.
    pub durable_name: String,
    /// Subject filter (e.g. `custody.case.created`); empty for the whole stream.
    pub filter_subject: String,
    /// How long the server waits for an ack before it redelivers.
    pub ack_wait: Duration,
    /// Deliveries before the server gives up on a message.
    pub max_deliver: i64,
    /// Nak delay for a retryable failure that names none.
    pub retry_delay: Duration,
    /// Messages requested per pull.
    pub batch: usize,
    /// Idle heartbeat of a pull; a missed one means the connection is gone.
    pub heartbeat: Duration,
    /// Lifetime of one pull request.
    pub expires: Duration,
}

impl ConsumerSpec {
    /// A consumer with 30 s ack wait, 10 deliveries and a 1 s retry delay.
    pub fn new(
        stream: impl Into<String>,
        durable_name: impl Into<String>,
        filter_subject: impl Into<String>,
    ) -> ConsumerSpec {
        ConsumerSpec {
            stream: stream.into(),
            durable_name: durable_name.into(),
            filter_subject: filter_subject.into(),
            ack_wait: Duration::from_secs(30),
            max_deliver: 10,
            retry_delay: Duration::from_secs(1),
            batch: 64,
            heartbeat: Duration::from_secs(2),
            expires: Duration::from_secs(10),
        }
    }

    fn to_config(&self) -> pull::Config {
        pull::Config {
            durable_name: Some(self.durable_name.clone()),
            filter_subject: self.filter_subject.clone(),
            // A new durable consumer starts at the beginning: every stored event is handled.
            deliver_policy: DeliverPolicy::All,
            ack_policy: AckPolicy::Explicit,
            ack_wait: self.ack_wait,
            max_deliver: self.max_deliver,
            ..pull::Config::default()
        }
    }
}

/// One delivered message, as the handler sees it.
#[derive(Debug, Clone)]
pub struct Delivery {
    /// The subject it was published on.
    pub subject: String,
    /// Its `Nats-Msg-Id`, if the publisher set one (this crate always does).
    pub msg_id: Option<String>,
    /// Its `custody-schema` header.
    pub schema: Option<String>,
    /// All headers.
    pub headers: HeaderMap,
    /// The payload.
    pub payload: Bytes,
    /// Position in the stream (the same on every redelivery).
    pub stream_sequence: u64,
    /// Delivery attempt, from 1.
    pub delivered: i64,
}

impl Delivery {
    /// The key the idempotency guard uses: the message id, or the stream sequence when a
    /// foreign publisher set none (that still covers redeliveries, not repeated publishes).
    pub fn idempotency_key(&self) -> String {
        match &self.msg_id {
            Some(id) => id.clone(),
            None => format!("seq:{}", self.stream_sequence),
        }
    }
}

/// Why a handler did not finish.
#[derive(Debug, thiserror::Error)]
pub enum HandlerError {
    /// Try again later (a database or peer is unavailable): nak with a delay.
    #[error("retryable: {reason}")]
    Retryable {
        /// What failed.
        reason: String,
        /// Delay before redelivery; `None` uses the consumer's `retry_delay`.
        delay: Option<Duration>,
    },
    /// The message can never be handled (undecodable, unknown schema): terminate it and log.
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

/// Consume `spec` until `shutdown` completes, calling `handler` for each message: `Ok` acks
/// (and waits for the server to confirm the ack, so an acked event is not handled again after a
/// restart), [`HandlerError::Retryable`] naks with a delay, [`HandlerError::Permanent`]
/// terminates the message and logs it. Creates the durable consumer if it does not exist.
/// Connection loss, a server restart or a deleted consumer end the current pull; the loop then
/// re-creates it with back-off, so the caller only sees an error for nothing: this returns
/// `Ok(())` on shutdown.
pub async fn consume<F, Fut>(
    bus: &Bus,
    spec: &ConsumerSpec,
    handler: F,
    shutdown: impl Future<Output = ()>,
) -> Result<()>
where
    F: Fn(Delivery) -> Fut + Send + Sync,
    Fut: Future<Output = Result<(), HandlerError>> + Send,
{
    tokio::pin!(shutdown);
    let min_backoff = Duration::from_millis(100);
    let max_backoff = Duration::from_secs(2);
    let mut backoff = min_backoff;
    loop {
        let outcome = tokio::select! {
            biased;
            () = &mut shutdown => return Ok(()),
            outcome = consume_session(bus, spec, &handler) => outcome,
        };
        match outcome {
            // At least one message went through: the next failure starts the back-off afresh.
            Ok(true) => backoff = min_backoff,
            Ok(false) => {}
            Err(error) => tracing::warn!(
                %error, consumer = %spec.durable_name, retry_in = ?backoff,
                "consumer interrupted; re-creating it"
            ),
        }
        tokio::select! {
            biased;
            () = &mut shutdown => return Ok(()),
            () = tokio::time::sleep(backoff) => {}
        }
        backoff = backoff.saturating_mul(2).min(max_backoff);
    }
}

/// One pull session; returns whether any message was handled before it ended.
async fn consume_session<F, Fut>(bus: &Bus, spec: &ConsumerSpec, handler: &F) -> Result<bool>
where
    F: Fn(Delivery) -> Fut + Send + Sync,
    Fut: Future<Output = Result<(), HandlerError>> + Send,
{
    let consumer_error = |e: Box<dyn std::error::Error + Send + Sync>| Error::Consumer {
        stream: spec.stream.clone(),
        consumer: spec.durable_name.clone(),
        source: e,
    };
    let stream = bus
        .jetstream()
        .get_stream(&spec.stream)
        .await
        .map_err(|e| consumer_error(Box::new(e)))?;
    let consumer: jetstream::consumer::PullConsumer = stream
        .get_or_create_consumer(&spec.durable_name, spec.to_config())
        .await
        .map_err(|e| consumer_error(Box::new(e)))?;
    let mut messages = consumer
        .stream()
        .max_messages_per_batch(spec.batch.max(1))
        .heartbeat(spec.heartbeat)
        .expires(spec.expires)
        .messages()
        .await
        .map_err(|e| consumer_error(Box::new(e)))?;
    let mut handled_any = false;
    while let Some(item) = messages.next().await {
        match item {
            Ok(message) => {
                process(spec, handler, message).await;
                handled_any = true;
            }
            Err(error) => return Err(consumer_error(Box::new(error))),
        }
    }
    Ok(handled_any)
}

async fn process<F, Fut>(spec: &ConsumerSpec, handler: &F, message: jetstream::Message)
where
    F: Fn(Delivery) -> Fut + Send + Sync,
    Fut: Future<Output = Result<(), HandlerError>> + Send,
{
    let (stream_sequence, delivered) = match message.info() {
        Ok(info) => (info.stream_sequence, info.delivered),
        Err(error) => {
            // Without a JetStream reply subject the message cannot be acked; it is not ours.
            tracing::error!(%error, subject = %message.subject, "message without JetStream metadata");
            return;
        }
    };
    let header = |name: &str| {
        message
            .headers
            .as_ref()
            .and_then(|h| h.get(name))
            .map(|v| v.as_str().to_owned())
    };
    let delivery = Delivery {
        subject: message.subject.to_string(),
        msg_id: header(headers::MSG_ID),
        schema: header(headers::SCHEMA),
        headers: message.headers.clone().unwrap_or_default(),
        payload: message.payload.clone(),
        stream_sequence,
        delivered,
    };
    let msg_id = delivery.idempotency_key();
    let (ack, outcome) = match handler(delivery).await {
        Ok(()) => (AckKind::Ack, "acked"),
        Err(HandlerError::Retryable { reason, delay }) if delivered < spec.max_deliver => {
            let delay = delay.unwrap_or(spec.retry_delay);
            tracing::warn!(%msg_id, delivered, %reason, ?delay, consumer = %spec.durable_name, "handler failed; will retry");
            (AckKind::Nak(Some(delay)), "nacked")
        }
        Err(HandlerError::Retryable { reason, .. }) => {
            tracing::error!(%msg_id, delivered, %reason, consumer = %spec.durable_name, "handler failed on the last delivery; giving up");
            (AckKind::Term, "terminated")
        }
        Err(HandlerError::Permanent { reason }) => {
            tracing::error!(%msg_id, %reason, consumer = %spec.durable_name, "message cannot be handled; terminated");
            (AckKind::Term, "terminated")
        }
    };
    // The ack is confirmed by the server (double ack) so that "handled" survives a restart.
    // If it is lost anyway, the message comes again and the idempotency guard skips it.
    let result = if matches!(ack, AckKind::Ack) {
        message.double_ack().await
    } else {
        message.ack_with(ack).await
    };
    if let Err(error) = result {
        tracing::warn!(%error, %msg_id, outcome, "could not confirm the ack; expect a redelivery");
    }
}

/// The idempotency guard: remembers which messages a consumer has handled.
///
/// Over a database this is a table `processed(consumer, msg_id, at, PRIMARY KEY(consumer,
/// msg_id))`; `first_time` is `INSERT … ON CONFLICT DO NOTHING` returning whether a row was
/// inserted, run in the same transaction as the handler's effect, so the claim and the effect
/// commit or roll back together and `release` can do nothing.
#[async_trait::async_trait]
pub trait Processed: Send + Sync {
    /// Claim `msg_id` for `consumer`; true if nobody had claimed it before.
    async fn first_time(&self, consumer: &str, msg_id: &str) -> Result<bool>;
    /// Give up a claim whose effect failed, so the redelivery does the work. A store whose
    /// claim rolls back with the effect's transaction implements this as a no-op.
    async fn release(&self, consumer: &str, msg_id: &str) -> Result<()>;
}

/// What [`handle_once`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Once {
    /// First delivery: the effect ran and succeeded.
    Done,
    /// Seen before: the effect was skipped.
    AlreadyDone,
}

/// Run `effect` only the first time `consumer` sees this delivery's message id. If the effect
/// fails, the claim is released so the redelivery runs it again.
pub async fn handle_once<P, E, Fut>(
    processed: &P,
    consumer: &str,
    delivery: &Delivery,
    effect: E,
) -> Result<Once, HandlerError>
where
    P: Processed + ?Sized,
    E: FnOnce() -> Fut,
    Fut: Future<Output = Result<(), HandlerError>>,
{
    let key = delivery.idempotency_key();
    if !processed.first_time(consumer, &key).await? {
        tracing::debug!(%consumer, msg_id = %key, "already handled; skipping");
        return Ok(Once::AlreadyDone);
    }
    match effect().await {
        Ok(()) => Ok(Once::Done),
        Err(failure) => {
            if let Err(error) = processed.release(consumer, &key).await {
                tracing::warn!(%error, %consumer, msg_id = %key, "could not release the claim");
            }
            Err(failure)
        }
    }
}

/// An in-memory [`Processed`] for tests and development.
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
        // Every change is one insert or remove, so the set is consistent after a panic.
        self.seen.lock().unwrap_or_else(|p| p.into_inner())
    }
}

#[async_trait::async_trait]
impl Processed for MemoryProcessed {
    async fn first_time(&self, consumer: &str, msg_id: &str) -> Result<bool> {
        Ok(self.seen().insert((consumer.to_owned(), msg_id.to_owned())))
    }

    async fn release(&self, consumer: &str, msg_id: &str) -> Result<()> {
        self.seen()
            .remove(&(consumer.to_owned(), msg_id.to_owned()));
        Ok(())
    }
}
