//! The exchange, the work queues and the dead-letter path, declared idempotently at start-up.
//!
//! Work queues are quorum queues: replicated when the broker is a cluster, always durable, and
//! they count deliveries, so a message that keeps coming back (a handler that crashes the
//! process on it, say) is dead-lettered after `delivery_limit` attempts instead of blocking
//! the queue for ever. Dead-lettering is at-least-once (the message leaves the work queue only
//! after the dead-letter queue confirmed it), which quorum queues require `reject-publish`
//! overflow for; no length limit is set, so that overflow never triggers.
//!
//! The declaration ends with an empty quorum queue, the anchor, that nothing publishes to or
//! consumes from. Observed with Debian 12's RabbitMQ 3.10.8 (tests `consumer` and `relay`): a
//! node killed after declaring quorum queues came back without the most recently declared one
//! (its Raft member not started, its messages gone), while every queue declared before it
//! survived. With the anchor declared last, the queues that matter are never the last ones.

use lapin::options::{ExchangeDeclareOptions, QueueBindOptions, QueueDeclareOptions};
use lapin::types::{AMQPValue, FieldTable, LongString};
use lapin::ExchangeKind;

use crate::{short, Error, Mq, Result};

/// One work queue and the routing keys (topic patterns) bound to it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueSpec {
    /// Queue name, e.g. `broadcast`.
    pub name: String,
    /// Binding keys on the exchange, e.g. `custody.tx.broadcast`.
    pub routing_keys: Vec<String>,
}

/// The whole topology: a durable topic exchange, durable quorum work queues bound to it, and
/// a dead-letter exchange with one durable quorum queue that collects what the work queues
/// give up on (with its original routing key).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Topology {
    /// The topic exchange publishers use.
    pub exchange: String,
    /// The work queues.
    pub queues: Vec<QueueSpec>,
    /// The exchange dead letters go to.
    pub dead_letter_exchange: String,
    /// The queue that keeps dead letters for an operator.
    pub dead_letter_queue: String,
    /// Deliveries after which a work queue dead-letters a message (`x-delivery-limit`).
    pub delivery_limit: u32,
    /// The empty quorum queue declared last (see the module documentation).
    pub anchor_queue: String,
}

impl Topology {
    /// A topology with no work queues yet, a delivery limit of 10 and the anchor queue
    /// `<dead_letter_queue>.anchor`.
    pub fn new(
        exchange: impl Into<String>,
        dead_letter_exchange: impl Into<String>,
        dead_letter_queue: impl Into<String>,
    ) -> Topology {
        let dead_letter_queue = dead_letter_queue.into();
        Topology {
            exchange: exchange.into(),
            queues: Vec::new(),
            dead_letter_exchange: dead_letter_exchange.into(),
            anchor_queue: format!("{dead_letter_queue}.anchor"),
            dead_letter_queue,
            delivery_limit: 10,
        }
    }

    /// Add a work queue bound with `routing_keys`.
    #[must_use]
    pub fn queue<K: Into<String>>(
        mut self,
        name: impl Into<String>,
        routing_keys: impl IntoIterator<Item = K>,
    ) -> Topology {
        self.queues.push(QueueSpec {
            name: name.into(),
            routing_keys: routing_keys.into_iter().map(Into::into).collect(),
        });
        self
    }

    /// The arguments of a work queue.
    fn work_queue_arguments(&self) -> FieldTable {
        let mut arguments = quorum();
        arguments
            .insert(
                "x-dead-letter-exchange".into(),
                AMQPValue::LongString(LongString::from(self.dead_letter_exchange.as_str())),
            )
            .insert(
                "x-delivery-limit".into(),
                AMQPValue::LongLongInt(i64::from(self.delivery_limit)),
            )
            .insert(
                "x-dead-letter-strategy".into(),
                AMQPValue::LongString("at-least-once".into()),
            )
            .insert(
                "x-overflow".into(),
                AMQPValue::LongString("reject-publish".into()),
            );
        arguments
    }
}

fn quorum() -> FieldTable {
    let mut arguments = FieldTable::default();
    arguments.insert(
        "x-queue-type".into(),
        AMQPValue::LongString("quorum".into()),
    );
    arguments
}

impl Mq {
    /// Declare `topology`: exchanges, queues and bindings. Idempotent, so every service runs it
    /// at start-up. A queue that exists with other arguments (a classic queue of the same name,
    /// another delivery limit) is an error, not silently kept: the broker refuses to change a
    /// queue's arguments, and an operator has to migrate it.
    pub async fn declare(&self, topology: &Topology) -> Result<()> {
        // A channel of its own: a refused declaration closes the channel it was made on.
        let connection = self.open_connection().await?;
        let channel = connection
            .create_channel()
            .await
            .map_err(Error::amqp("opening a channel to declare the topology"))?;
        let durable_exchange = ExchangeDeclareOptions {
            durable: true,
            ..ExchangeDeclareOptions::default()
        };
        let durable_queue = QueueDeclareOptions {
            durable: true,
            ..QueueDeclareOptions::default()
        };
        for exchange in [&topology.exchange, &topology.dead_letter_exchange] {
            channel
                .exchange_declare(
                    short("exchange", exchange)?,
                    ExchangeKind::Topic,
                    durable_exchange,
                    FieldTable::default(),
                )
                .await
                .map_err(Error::amqp(format!("declaring exchange {exchange}")))?;
        }
        let dead = &topology.dead_letter_queue;
        channel
            .queue_declare(short("queue", dead)?, durable_queue, quorum())
            .await
            .map_err(Error::amqp(format!("declaring queue {dead}")))?;
        // Dead letters keep their routing key; `#` collects them all.
        channel
            .queue_bind(
                short("queue", dead)?,
                short("exchange", &topology.dead_letter_exchange)?,
                "#".into(),
                QueueBindOptions::default(),
                FieldTable::default(),
            )
            .await
            .map_err(Error::amqp(format!("binding queue {dead}")))?;
        for queue in &topology.queues {
            channel
                .queue_declare(
                    short("queue", &queue.name)?,
                    durable_queue,
                    topology.work_queue_arguments(),
                )
                .await
                .map_err(Error::amqp(format!("declaring queue {}", queue.name)))?;
            for key in &queue.routing_keys {
                channel
                    .queue_bind(
                        short("queue", &queue.name)?,
                        short("exchange", &topology.exchange)?,
                        short("routing key", key)?,
                        QueueBindOptions::default(),
                        FieldTable::default(),
                    )
                    .await
                    .map_err(Error::amqp(format!(
                        "binding queue {} to {key}",
                        queue.name
                    )))?;
            }
        }
        let anchor = &topology.anchor_queue;
        channel
            .queue_declare(short("queue", anchor)?, durable_queue, quorum())
            .await
            .map_err(Error::amqp(format!("declaring queue {anchor}")))?;
        let _ = connection.close(200, "declared".into()).await;
        Ok(())
    }

    /// Messages ready for delivery in `queue` (not counting those delivered and not yet
    /// acked). Fails if the queue does not exist.
    pub async fn ready_messages(&self, queue: &str) -> Result<u32> {
        let connection = self.open_connection().await?;
        let channel = connection
            .create_channel()
            .await
            .map_err(Error::amqp("opening a channel to inspect a queue"))?;
        let passive = QueueDeclareOptions {
            passive: true,
            ..QueueDeclareOptions::default()
        };
        let declared = channel
            .queue_declare(short("queue", queue)?, passive, FieldTable::default())
            .await
            .map_err(Error::amqp(format!("inspecting queue {queue}")))?;
        let _ = connection.close(200, "inspected".into()).await;
        Ok(declared.message_count())
    }

    /// Look at up to `max` messages of the dead-letter queue `queue` without removing them (an
    /// operator's view: routing key, message id, and the reason a consumer gave). The messages
    /// stay in the queue: they are taken unacknowledged and returned when the channel closes.
    pub async fn peek_dead_letters(&self, queue: &str, max: usize) -> Result<Vec<DeadLetter>> {
        let connection = self.open_connection().await?;
        let channel = connection
            .create_channel()
            .await
            .map_err(Error::amqp("opening a channel to read dead letters"))?;
        let mut out = Vec::new();
        while out.len() < max {
            let got = channel
                .basic_get(
                    short("queue", queue)?,
                    lapin::options::BasicGetOptions { no_ack: false },
                )
                .await
                .map_err(Error::amqp(format!("reading {queue}")))?;
            let Some(message) = got else { break };
            let headers = message.delivery.properties.headers().as_ref();
            let text = |name: &str| match headers.and_then(|h| h.inner().get(name)) {
                Some(AMQPValue::LongString(s)) => {
                    Some(String::from_utf8_lossy(s.as_bytes()).into_owned())
                }
                _ => None,
            };
            out.push(DeadLetter {
                routing_key: message.delivery.routing_key.as_str().to_owned(),
                message_id: message
                    .delivery
                    .properties
                    .message_id()
                    .as_ref()
                    .map(|id| id.as_str().to_owned()),
                reason: text(crate::DEAD_LETTER_REASON),
                consumer: text(crate::DEAD_LETTER_CONSUMER),
            });
        }
        // Closing returns every unacknowledged message to the queue.
        let _ = connection.close(200, "peeked".into()).await;
        Ok(out)
    }
}

/// One dead letter as [`Mq::peek_dead_letters`] shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeadLetter {
    /// The routing key it was published with.
    pub routing_key: String,
    /// Its message id.
    pub message_id: Option<String>,
    /// The reason the consumer gave (none when the broker dead-lettered it by its delivery
    /// limit: a consumer crashed on it every time).
    pub reason: Option<String>,
    /// The consumer that dead-lettered it.
    pub consumer: Option<String>,
}
