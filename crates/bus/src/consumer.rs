//! Durable pull consumers with explicit acks: the NATS side of `events::decide`.
//!
//! JetStream delivers at least once: a message is redelivered when its ack is lost, when
//! `ack_wait` passes, after a nak, or when the same event was published twice outside the
//! duplicate window. So every event is first verified (its MAC must be the zone HSM's), then
//! handled at most once per message id by the handler's idempotency guard, and the verdict is
//! turned into a JetStream acknowledgement here. Dead letters are republished, with their
//! reason, on `custody.deadletter.<consumer>` (the dead-letter stream) before the original is
//! terminated, so an operator can see every refused event and why.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use async_nats::jetstream::consumer::{pull, AckPolicy, DeliverPolicy};
use async_nats::jetstream::{self, AckKind};
use async_nats::HeaderMap;
use events::{ConsumerStats, Delivery, EventVerifier, HandlerError, Incoming, Verdict};
use futures::StreamExt;

use crate::{header_name, header_value, headers, Bus, Error, Result};

/// The subject prefix of dead letters; the consumer's durable name follows.
pub const DEAD_LETTER_PREFIX: &str = "custody.deadletter";
/// The header that carries a dead letter's reason.
pub const DEAD_LETTER_REASON: &str = "custody-dead-letter-reason";
/// The header that names the subject a dead letter was first published on.
pub const DEAD_LETTER_SUBJECT: &str = "custody-dead-letter-subject";

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

    /// The subject this consumer's dead letters go to.
    pub fn dead_letter_subject(&self) -> String {
        format!("{DEAD_LETTER_PREFIX}.{}", self.durable_name)
    }
}

/// What a consumer needs besides its spec and handler: the zone's event verifier and the
/// counters it updates.
#[derive(Clone, Debug)]
pub struct ConsumerContext {
    /// Checks that each event came from this zone's outbox.
    pub verifier: EventVerifier,
    /// Handled, retried, dead-lettered and rejected events.
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

/// Consume `spec` until `shutdown` completes: every message is verified and handled through
/// `events::decide`, then acked (confirmed by the server, so an acked event is not handled
/// again after a restart), nak'ed with a delay, or dead-lettered (republished with its reason
/// on [`ConsumerSpec::dead_letter_subject`], then terminated). Creates the durable consumer if
/// it does not exist. Connection loss, a server restart or a deleted consumer end the current
/// pull; the loop then re-creates it with back-off. Returns `Ok(())` on shutdown.
pub async fn consume<F, Fut>(
    bus: &Bus,
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
    let mut backoff = events::Backoff::new(Duration::from_millis(100), Duration::from_secs(2));
    loop {
        let outcome = tokio::select! {
            biased;
            () = &mut shutdown => return Ok(()),
            outcome = consume_session(bus, spec, context, &handler) => outcome,
        };
        match outcome {
            // At least one message went through: the next failure starts the back-off afresh.
            Ok(true) => backoff.reset(),
            Ok(false) => {}
            Err(error) => tracing::warn!(
                %error, consumer = %spec.durable_name,
                "consumer interrupted; re-creating it"
            ),
        }
        if !backoff.sleep_or(&mut shutdown).await {
            return Ok(());
        }
    }
}

/// One pull session; returns whether any message was handled before it ended.
async fn consume_session<F, Fut>(
    bus: &Bus,
    spec: &ConsumerSpec,
    context: &ConsumerContext,
    handler: &F,
) -> Result<bool>
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
                process(bus, spec, context, handler, message).await;
                handled_any = true;
            }
            Err(error) => return Err(consumer_error(Box::new(error))),
        }
    }
    Ok(handled_any)
}

async fn process<F, Fut>(
    bus: &Bus,
    spec: &ConsumerSpec,
    context: &ConsumerContext,
    handler: &F,
    message: jetstream::Message,
) where
    F: Fn(Delivery) -> Fut + Send + Sync,
    Fut: Future<Output = Result<(), HandlerError>> + Send,
{
    let delivered = match message.info() {
        Ok(info) => info.delivered,
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
    let incoming = Incoming {
        topic: message.subject.to_string(),
        message_id: header(headers::MSG_ID),
        content_type: header(headers::CONTENT_TYPE),
        schema: header(headers::SCHEMA),
        mac: header(events::MAC_HEADER),
        payload: message.payload.to_vec(),
        attempt: u32::try_from(delivered).unwrap_or(u32::MAX),
    };
    let msg_id = incoming.message_id.clone().unwrap_or_default();
    let max_attempts = u32::try_from(spec.max_deliver).unwrap_or(u32::MAX);
    let verdict = events::decide(
        &spec.durable_name,
        incoming,
        &context.verifier,
        &context.stats,
        max_attempts,
        spec.retry_delay,
        handler,
    )
    .await;
    let (ack, outcome) = match verdict {
        Verdict::Ack => (AckKind::Ack, "acked"),
        Verdict::Retry(delay) => (AckKind::Nak(Some(delay)), "nacked"),
        Verdict::DeadLetter(reason) => {
            if let Err(error) = dead_letter(bus, spec, &message, &reason).await {
                // Not terminated: the event comes again and is dead-lettered then.
                tracing::warn!(%error, %msg_id, "could not store the dead letter; will retry");
                (AckKind::Nak(Some(spec.retry_delay)), "nacked")
            } else {
                (AckKind::Term, "dead-lettered")
            }
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

/// Republish `message` on the consumer's dead-letter subject with the reason, and wait for the
/// dead-letter stream to store it.
async fn dead_letter(
    bus: &Bus,
    spec: &ConsumerSpec,
    message: &jetstream::Message,
    reason: &str,
) -> Result<()> {
    // Every header but the message id: JetStream would drop a dead letter whose Nats-Msg-Id it
    // has seen as a duplicate.
    let mut map = HeaderMap::new();
    if let Some(original) = &message.headers {
        for (name, values) in original.iter() {
            if AsRef::<str>::as_ref(name).eq_ignore_ascii_case(headers::MSG_ID) {
                continue;
            }
            for value in values {
                map.append(name.clone(), value.clone());
            }
        }
    }
    // A reason is one line; the header writer refuses line breaks.
    let reason = reason.replace(['\r', '\n'], " ");
    map.insert(
        header_name(DEAD_LETTER_REASON)?,
        header_value(DEAD_LETTER_REASON, &reason)?,
    );
    map.insert(
        header_name(DEAD_LETTER_SUBJECT)?,
        header_value(DEAD_LETTER_SUBJECT, message.subject.as_str())?,
    );
    let subject = spec.dead_letter_subject();
    let publish_error = |source| Error::Publish {
        subject: subject.clone(),
        msg_id: String::new(),
        source,
    };
    bus.jetstream()
        .publish_with_headers(subject.clone(), map, message.payload.clone())
        .await
        .map_err(publish_error)?
        .await
        .map_err(publish_error)?;
    Ok(())
}
