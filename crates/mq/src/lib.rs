//! The online zone's message bus: RabbitMQ over AMQP 0-9-1 with lapin (DESIGN.md §7), the
//! RabbitMQ adapter of the broker-neutral core in `crates/events`.
//!
//! Work for the chain worker (broadcast a signed transaction, track a broadcast one) travels
//! through a durable topic exchange into durable quorum queues ([`Topology`]). Every message is
//! published persistent, with a message id, and only counts as sent once the broker confirmed
//! it (publisher confirms; a nack, a return for lack of a route, or a missing confirm is an
//! error). A change and the message that announces it are committed together into an outbox
//! table; `events::run_relay` over [`MqPublisher`] publishes outbox rows in order and marks a
//! row published only after its confirm, so a broker that is down delays work but never loses
//! it. RabbitMQ does not de-duplicate, so a row whose confirm was lost is published again with
//! the same message id, and every consumer guards its effect by message id in the same database
//! transaction as the effect (`events::handle_once`); the delivery is acked only after that
//! commit. Consumers ([`consume`]) act only on messages whose MAC the zone's HSM confirms;
//! refused messages and messages that keep failing end in the dead-letter queue with their
//! reason instead of blocking the queue.
//!
//! This crate knows no exchange, queue or routing-key names and no message types: those are the
//! wire contract (`contracts::subjects::online`) and are passed in. Payloads are opaque bytes
//! with a content type ([`content_types`]).

mod consumer;
mod outbox;
mod topology;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use lapin::options::{BasicPublishOptions, ConfirmSelectOptions};
use lapin::types::{AMQPValue, FieldTable, LongString, ShortString};
use lapin::{BasicProperties, Channel, Confirmation, Connection, ConnectionProperties};

pub use consumer::{
    consume, ConsumerContext, ConsumerSpec, DEAD_LETTER_CONSUMER, DEAD_LETTER_REASON,
};
pub use events::{content_types, Clock, Delivery, HandlerError, SystemClock};
pub use lapin;
pub use outbox::MqPublisher;
pub use topology::{DeadLetter, QueueSpec, Topology};

/// The header that carries a message's schema (`<Type>/v<n>`).
pub const SCHEMA_HEADER: &str = "custody-schema";

/// AMQP `delivery-mode` 2: the broker writes the message to disk.
const PERSISTENT: u8 = 2;

/// Errors of the bus. None of them carries the password of the broker URL.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The broker URL does not parse.
    #[error("invalid AMQP URL: {reason}")]
    Url {
        /// What is wrong (the URL itself is not repeated: it holds the password).
        reason: String,
    },
    /// Connecting to the broker failed or timed out.
    #[error("could not connect to RabbitMQ at {endpoint}: {reason}")]
    Connect {
        /// `host:port vhost /`, without credentials.
        endpoint: String,
        /// What went wrong.
        reason: String,
    },
    /// An AMQP operation (declare, channel, consume, ack) failed.
    #[error("AMQP {context}: {source}")]
    Amqp {
        /// What we were doing.
        context: String,
        /// What went wrong.
        #[source]
        source: lapin::Error,
    },
    /// The broker refused to take responsibility for a message (basic.nack).
    #[error("broker nacked {message_id} to {routing_key}")]
    Nacked {
        /// The routing key.
        routing_key: String,
        /// The message id.
        message_id: String,
    },
    /// No queue is bound for the routing key, so the broker returned the message.
    #[error("no queue bound for {routing_key}; {message_id} was returned")]
    Unroutable {
        /// The routing key.
        routing_key: String,
        /// The message id.
        message_id: String,
    },
    /// The broker's confirm did not arrive in time; the message may or may not be stored.
    #[error("no confirm for {message_id} to {routing_key} within {timeout:?}")]
    ConfirmTimeout {
        /// The routing key.
        routing_key: String,
        /// The message id.
        message_id: String,
        /// How long we waited.
        timeout: Duration,
    },
    /// A name, id or content type cannot be sent.
    #[error("invalid {field}: {reason}")]
    Invalid {
        /// Which argument.
        field: &'static str,
        /// Why it was refused.
        reason: &'static str,
    },
}

impl Error {
    fn amqp(context: impl Into<String>) -> impl FnOnce(lapin::Error) -> Error {
        let context = context.into();
        move |source| Error::Amqp { context, source }
    }
}

/// Result alias for this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Connection settings. [`MqOptions::default`] suits a service next to its broker.
#[derive(Debug, Clone)]
pub struct MqOptions {
    /// Connection name shown by the broker (`rabbitmqctl list_connections client_properties`),
    /// and the `app-id` of published messages: the service name.
    pub name: String,
    /// Timeout of one connection attempt.
    pub connect_timeout: Duration,
    /// How long a publish waits for the broker's confirm.
    pub confirm_timeout: Duration,
}

impl Default for MqOptions {
    fn default() -> Self {
        MqOptions {
            name: "custody".to_owned(),
            connect_timeout: Duration::from_secs(5),
            confirm_timeout: Duration::from_secs(5),
        }
    }
}

/// The publishing connection and its confirm-mode channel, with a number telling links apart.
struct Link {
    id: u64,
    // Owned here so the connection lives as long as the channel; dropping it closes the socket.
    connection: Connection,
    channel: Channel,
}

struct Inner {
    uri: lapin::uri::AMQPUri,
    endpoint: String,
    options: MqOptions,
    link: tokio::sync::Mutex<Option<Link>>,
    next_link: AtomicU64,
}

/// A handle on the broker: publishes with confirms over one lazily opened connection that is
/// re-opened after a failure, and opens connections for consumers. Cheap to clone.
#[derive(Clone)]
pub struct Mq {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Mq {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Mq")
            .field("endpoint", &self.inner.endpoint)
            .field("name", &self.inner.options.name)
            .finish_non_exhaustive()
    }
}

impl Mq {
    /// A handle on the broker at `url` (`amqp://user:password@host:port/vhost`, the vhost
    /// percent-encoded: `%2f` is `/`). Nothing is connected yet; the first publish or
    /// [`Mq::connect`] does that.
    pub fn new(url: &str, options: MqOptions) -> Result<Mq> {
        let uri: lapin::uri::AMQPUri = url.parse().map_err(|reason| Error::Url { reason })?;
        let endpoint = format!(
            "{}:{} vhost {}",
            uri.authority.host, uri.authority.port, uri.vhost
        );
        Ok(Mq {
            inner: Arc::new(Inner {
                uri,
                endpoint,
                options,
                link: tokio::sync::Mutex::new(None),
                next_link: AtomicU64::new(0),
            }),
        })
    }

    /// [`Mq::new`], then open the publishing connection now, so a service fails at start-up
    /// when the broker is unreachable or refuses the credentials.
    pub async fn connect(url: &str, options: MqOptions) -> Result<Mq> {
        let mq = Mq::new(url, options)?;
        mq.channel().await?;
        Ok(mq)
    }

    /// `host:port vhost <vhost>` of the broker, without credentials (for logs).
    pub fn endpoint(&self) -> &str {
        &self.inner.endpoint
    }

    /// Open a new connection (consumers use one each, apart from publishing, so a slow
    /// consumer never holds up confirms).
    pub async fn open_connection(&self) -> Result<Connection> {
        let properties = ConnectionProperties::default()
            .with_connection_name(self.inner.options.name.as_str().into());
        let connect = Connection::connect_uri(self.inner.uri.clone(), properties);
        let failed = |reason: String| Error::Connect {
            endpoint: self.inner.endpoint.clone(),
            reason,
        };
        match tokio::time::timeout(self.inner.options.connect_timeout, connect).await {
            Ok(Ok(connection)) => Ok(connection),
            Ok(Err(error)) => Err(failed(error.to_string())),
            Err(_) => Err(failed(format!(
                "timed out after {:?}",
                self.inner.options.connect_timeout
            ))),
        }
    }

    /// The confirm-mode channel of the publishing link, opened if there is none or the old
    /// one is broken.
    async fn channel(&self) -> Result<(u64, Channel)> {
        let mut link = self.inner.link.lock().await;
        if let Some(current) = link.as_ref() {
            if current.channel.status().connected() {
                return Ok((current.id, current.channel.clone()));
            }
        }
        *link = None;
        let connection = self.open_connection().await?;
        let channel = connection
            .create_channel()
            .await
            .map_err(Error::amqp("opening the publishing channel"))?;
        channel
            .confirm_select(ConfirmSelectOptions::default())
            .await
            .map_err(Error::amqp("enabling publisher confirms"))?;
        let id = self.inner.next_link.fetch_add(1, Ordering::Relaxed);
        *link = Some(Link {
            id,
            connection,
            channel: channel.clone(),
        });
        Ok((id, channel))
    }

    /// Forget link `id` after a failure on it, so the next publish opens a fresh one. A link
    /// opened meanwhile by another publisher is kept.
    async fn discard(&self, id: u64) {
        let mut link = self.inner.link.lock().await;
        if link.as_ref().is_some_and(|l| l.id == id) {
            *link = None;
        }
    }

    /// Publish one message to `exchange` and wait until the broker confirmed it.
    ///
    /// The message is persistent (delivery mode 2) and carries `message_id` (the idempotency
    /// key of consumers) and `content_type` (one of [`content_types`]). It is published
    /// mandatory: if no queue is bound for `routing_key` the broker returns it and this fails
    /// with [`Error::Unroutable`] rather than dropping it silently. Any error means the message
    /// may not be stored; publishing it again with the same id is safe.
    pub async fn publish(
        &self,
        exchange: &str,
        routing_key: &str,
        message_id: &str,
        content_type: &str,
        body: &[u8],
    ) -> Result<()> {
        let properties = self.properties(message_id, content_type)?;
        self.publish_raw(exchange, routing_key, body, properties)
            .await
    }

    /// Publish an outbox entry: [`Mq::publish`] with its schema and MAC as headers.
    pub async fn publish_entry(&self, exchange: &str, entry: &events::OutboxEntry) -> Result<()> {
        let mut headers = FieldTable::default();
        headers.insert(
            SCHEMA_HEADER.into(),
            AMQPValue::LongString(LongString::from(entry.schema.as_bytes().to_vec())),
        );
        if let Some(mac) = &entry.mac {
            headers.insert(
                events::MAC_HEADER.into(),
                AMQPValue::LongString(LongString::from(mac.as_bytes().to_vec())),
            );
        }
        let properties = self
            .properties(&entry.message_id, &entry.content_type)?
            .with_headers(headers);
        self.publish_raw(exchange, &entry.topic, &entry.payload, properties)
            .await
    }

    /// The properties of a message this crate publishes.
    fn properties(&self, message_id: &str, content_type: &str) -> Result<BasicProperties> {
        if message_id.is_empty() {
            return Err(Error::Invalid {
                field: "message id",
                reason: "empty",
            });
        }
        let id = short("message id", message_id)?;
        if content_type != content_types::MSGPACK && content_type != content_types::JSON {
            return Err(Error::Invalid {
                field: "content type",
                reason: "must be application/msgpack or application/json",
            });
        }
        Ok(BasicProperties::default()
            .with_delivery_mode(PERSISTENT)
            .with_message_id(id)
            .with_content_type(short("content type", content_type)?)
            .with_app_id(short("name", &self.inner.options.name)?))
    }

    /// Publish `body` with `properties` as they are (mandatory, confirmed): what
    /// [`Mq::publish`] and the consumers' dead-lettering share.
    pub(crate) async fn publish_raw(
        &self,
        exchange: &str,
        routing_key: &str,
        body: &[u8],
        properties: BasicProperties,
    ) -> Result<()> {
        let exchange_name = short("exchange", exchange)?;
        let key = short("routing key", routing_key)?;
        let message_id = properties
            .message_id()
            .as_ref()
            .map(|id| id.as_str().to_owned())
            .unwrap_or_default();
        let (link, channel) = self.channel().await?;
        let result = self
            .publish_on(&channel, exchange_name, key, body, properties)
            .await;
        match result {
            Ok(Confirmation::Ack(None)) => Ok(()),
            Ok(Confirmation::Ack(Some(_))) => Err(Error::Unroutable {
                routing_key: routing_key.to_owned(),
                message_id,
            }),
            Ok(Confirmation::Nack(_)) => Err(Error::Nacked {
                routing_key: routing_key.to_owned(),
                message_id,
            }),
            // The channel was put in confirm mode when it was opened; a channel that answers
            // otherwise is not one we can trust with the next message either.
            Ok(Confirmation::NotRequested) => {
                self.discard(link).await;
                Err(Error::Nacked {
                    routing_key: routing_key.to_owned(),
                    message_id,
                })
            }
            Err(error) => {
                // Unknown channel state (connection lost, confirm overdue): start afresh.
                self.discard(link).await;
                Err(match error {
                    PublishFailure::Amqp(source) => Error::Amqp {
                        context: format!("publishing {message_id} to {routing_key}"),
                        source,
                    },
                    PublishFailure::Timeout => Error::ConfirmTimeout {
                        routing_key: routing_key.to_owned(),
                        message_id,
                        timeout: self.inner.options.confirm_timeout,
                    },
                })
            }
        }
    }

    async fn publish_on(
        &self,
        channel: &Channel,
        exchange: ShortString,
        routing_key: ShortString,
        body: &[u8],
        properties: BasicProperties,
    ) -> std::result::Result<Confirmation, PublishFailure> {
        let options = BasicPublishOptions {
            mandatory: true,
            immediate: false,
        };
        let publish = async {
            channel
                .basic_publish(exchange, routing_key, options, body, properties)
                .await?
                .await
        };
        match tokio::time::timeout(self.inner.options.confirm_timeout, publish).await {
            Ok(Ok(confirmation)) => Ok(confirmation),
            Ok(Err(error)) => Err(PublishFailure::Amqp(error)),
            Err(_) => Err(PublishFailure::Timeout),
        }
    }

    /// Close the publishing connection, if open (a clean shutdown; dropping every clone of the
    /// handle closes it too).
    pub async fn close(&self) {
        let link = self.inner.link.lock().await.take();
        if let Some(link) = link {
            let _ = link.connection.close(200, "bye".into()).await;
        }
    }
}

enum PublishFailure {
    Amqp(lapin::Error),
    Timeout,
}

/// An AMQP short string (at most 255 bytes), refused rather than truncated.
fn short(field: &'static str, value: &str) -> Result<ShortString> {
    ShortString::try_new(value).map_err(|_| Error::Invalid {
        field,
        reason: "longer than 255 bytes",
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_errors_and_debug_do_not_show_the_password() {
        let mq = Mq::new(
            "amqp://svc:s3cret@broker.example:5673/%2f",
            MqOptions::default(),
        )
        .unwrap();
        assert_eq!(mq.endpoint(), "broker.example:5673 vhost /");
        assert!(!format!("{mq:?}").contains("s3cret"));
        let error = Mq::new("nonsense://svc:s3cret@x", MqOptions::default()).unwrap_err();
        assert!(!error.to_string().contains("s3cret"), "{error}");
    }

    #[test]
    fn long_names_are_refused_not_truncated() {
        assert!(short("message id", &"x".repeat(255)).is_ok());
        assert!(matches!(
            short("message id", &"x".repeat(256)),
            Err(Error::Invalid {
                field: "message id",
                ..
            })
        ));
    }
}
