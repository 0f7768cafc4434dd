//! The offline zone's message bus: NATS with JetStream (DESIGN.md §7), the NATS adapter of the
//! broker-neutral core in `crates/events`.
//!
//! Durable events travel through a JetStream stream with file storage. Every event carries a
//! `Nats-Msg-Id`, so a publish that is repeated (a relay retry, a restarted service) is stored
//! once within the stream's duplicate window, and every consumer guards its effects by message
//! id so a redelivery or a repeat outside that window still has its effect once. A change and
//! the event that announces it are committed together into an outbox table; `events::run_relay`
//! over [`Bus`] (an `events::Publisher`) publishes outbox rows in order and marks a row
//! published only after the server acknowledged storing it, so a broker that is down delays
//! events but never loses one. Consumers ([`consume`]) act only on events whose MAC the zone's
//! HSM confirms, and dead-letter the rest with their reason.
//!
//! This crate knows nothing about subjects, streams or message types: those are the wire
//! contract and live in `contracts`, and are passed in here as strings. Payloads are opaque
//! bytes (MessagePack, encoded by the caller); this crate only sets the transport headers.
//! Ops subjects (`custody.ops.*`) are the exception: they answer in JSON ([`serve_ping`]).

mod access;
mod consumer;
mod ops;
mod outbox;
mod stream;

use std::time::Duration;

use async_nats::jetstream;
use async_nats::{HeaderMap, HeaderName, HeaderValue};
use bytes::Bytes;
use secrecy::{ExposeSecret, SecretString};

pub use access::NatsAccess;
pub use async_nats;
pub use consumer::{
    consume, ConsumerContext, ConsumerSpec, DEAD_LETTER_PREFIX, DEAD_LETTER_REASON,
    DEAD_LETTER_SUBJECT,
};
pub use events::{Clock, Delivery, HandlerError, SystemClock};
pub use ops::{serve_ping, PING_SUBJECT};
pub use stream::StreamSpec;

/// Header names and values this crate sets. They mirror `contracts::subjects::headers`; this
/// crate does not depend on `contracts`, so the values are repeated here and must stay equal.
pub mod headers {
    /// JetStream de-duplication id.
    pub const MSG_ID: &str = "Nats-Msg-Id";
    /// Payload encoding.
    pub const CONTENT_TYPE: &str = "content-type";
    /// The content type of bus payloads.
    pub const MSGPACK: &str = "application/msgpack";
    /// The content type of `custody.ops.*` answers.
    pub const JSON: &str = "application/json";
    /// Schema name and version of the payload, `<Type>/v<n>`.
    pub const SCHEMA: &str = "custody-schema";
}

/// Errors of the bus.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The first connection to the server failed.
    #[error("could not connect to NATS at {url}: {source}")]
    Connect {
        /// The server URL.
        url: String,
        /// What went wrong.
        #[source]
        source: async_nats::ConnectError,
    },
    /// The server refused the credentials (wrong user or password, or none given).
    #[error(
        "NATS at {url} refused the login{as_user}: {source} (check the NATS user and its \
         password file)",
        as_user = user.as_deref().map(|u| format!(" of user {u}")).unwrap_or_default()
    )]
    Unauthorized {
        /// The server URL.
        url: String,
        /// The user that tried to log in, if any.
        user: Option<String>,
        /// What the server said.
        #[source]
        source: async_nats::ConnectError,
    },
    /// A NATS user is configured without a password file.
    #[error(
        "NATS user {user} has no password file (nats_access.password_file, --nats-password-file)"
    )]
    NatsPasswordFileMissing {
        /// The user.
        user: String,
    },
    /// A NATS password file is configured without a user.
    #[error("the NATS password file {path} is set without a user (nats_access.user, --nats-user)")]
    NatsUserMissing {
        /// The password file.
        path: std::path::PathBuf,
    },
    /// The NATS password file cannot be read or is empty. Names the file, never its content.
    #[error("cannot use the NATS password file {path}: {reason}")]
    NatsPasswordFile {
        /// The password file.
        path: std::path::PathBuf,
        /// Why (an I/O error, or an empty file).
        reason: String,
    },
    /// The CA file that should verify the NATS server cannot be read.
    #[error("cannot read the NATS CA file {path}: {source}")]
    NatsCaFile {
        /// The CA file.
        path: std::path::PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// Creating, updating or reading a JetStream stream failed.
    #[error("JetStream stream {stream}: {source}")]
    Stream {
        /// The stream name.
        stream: String,
        /// What went wrong.
        #[source]
        source: async_nats::Error,
    },
    /// A publish was not acknowledged by the server (not stored, or the ack did not arrive).
    #[error("publishing {msg_id} to {subject}: {source}")]
    Publish {
        /// The subject.
        subject: String,
        /// The message id.
        msg_id: String,
        /// What went wrong.
        #[source]
        source: async_nats::jetstream::context::PublishError,
    },
    /// Creating or reading a durable consumer failed.
    #[error("consumer {consumer} on stream {stream}: {source}")]
    Consumer {
        /// The stream name.
        stream: String,
        /// The durable consumer name.
        consumer: String,
        /// What went wrong.
        #[source]
        source: async_nats::Error,
    },
    /// A core NATS operation (subscribe, reply, flush) failed.
    #[error("NATS {context}: {source}")]
    Nats {
        /// What we were doing.
        context: String,
        /// What went wrong.
        #[source]
        source: async_nats::Error,
    },
    /// A header name or value cannot be sent (bad characters, or a line break that would
    /// inject another header).
    #[error("invalid header {name:?}: {reason}")]
    Header {
        /// The header name.
        name: String,
        /// Why it was refused.
        reason: &'static str,
    },
}

/// Result alias for this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// How the client authenticates. DESIGN §7: separate users per service and client, each limited
/// to its subjects by the server.
#[derive(Default)]
pub enum Auth {
    /// No credentials (development and tests).
    #[default]
    None,
    /// User and password.
    UserPassword {
        /// The NATS user.
        user: String,
        /// Its password.
        password: SecretString,
    },
    /// A token.
    Token(SecretString),
}

impl std::fmt::Debug for Auth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Auth::None => f.write_str("None"),
            Auth::UserPassword { user, .. } => f
                .debug_struct("UserPassword")
                .field("user", user)
                .finish_non_exhaustive(),
            Auth::Token(_) => f.write_str("Token(..)"),
        }
    }
}

/// TLS settings: the CA that signed the server certificate and, for mutual TLS, a client
/// certificate and key (PEM files).
#[derive(Debug, Clone, Default)]
pub struct Tls {
    /// PEM file with the CA certificate(s) to trust.
    pub ca_file: Option<std::path::PathBuf>,
    /// PEM files of the client certificate and its key.
    pub client_cert: Option<(std::path::PathBuf, std::path::PathBuf)>,
}

/// Connection settings. [`BusOptions::default`] suits a service on the offline LAN.
#[derive(Debug)]
pub struct BusOptions {
    /// Client name shown in the server's connection list (the service name).
    pub name: String,
    /// Credentials.
    pub auth: Auth,
    /// TLS; when set, TLS is required.
    pub tls: Option<Tls>,
    /// Timeout of one connection attempt.
    pub connect_timeout: Duration,
    /// Timeout of JetStream API requests and of waiting for a publish acknowledgement.
    pub request_timeout: Duration,
    /// Cap of the exponential back-off between reconnection attempts.
    pub max_reconnect_delay: Duration,
    /// Keep trying when the server is not there at start-up instead of failing `connect`.
    pub retry_initial_connect: bool,
}

impl Default for BusOptions {
    fn default() -> Self {
        BusOptions {
            name: "custody".to_owned(),
            auth: Auth::None,
            tls: None,
            connect_timeout: Duration::from_secs(5),
            request_timeout: Duration::from_secs(5),
            max_reconnect_delay: Duration::from_secs(2),
            retry_initial_connect: false,
        }
    }
}

/// What the server said when it stored a published event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Published {
    /// The stream that stored it.
    pub stream: String,
    /// Its sequence in the stream (for a duplicate: the sequence of the first copy).
    pub sequence: u64,
    /// True when the server recognised the message id and did not store it again.
    pub duplicate: bool,
}

/// A connection to NATS with a JetStream context. Cheap to clone; clones share the connection.
#[derive(Clone)]
pub struct Bus {
    client: async_nats::Client,
    jetstream: jetstream::Context,
}

impl std::fmt::Debug for Bus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Bus")
            .field("state", &self.client.connection_state())
            .finish_non_exhaustive()
    }
}

impl Bus {
    /// Connect to `url` (e.g. `nats://127.0.0.1:4222`). After the first connection the client
    /// reconnects for ever with exponential back-off capped at `max_reconnect_delay`; what is
    /// published meanwhile waits in the client, and publishes whose ack does not arrive fail
    /// with [`Error::Publish`] so the outbox keeps the event.
    pub async fn connect(url: &str, options: BusOptions) -> Result<Bus> {
        let max_delay = options.max_reconnect_delay;
        let mut connect = async_nats::ConnectOptions::new()
            .name(options.name)
            .connection_timeout(options.connect_timeout)
            .request_timeout(Some(options.request_timeout))
            .max_reconnects(None)
            .reconnect_delay_callback(move |attempts| reconnect_delay(attempts, max_delay));
        if options.retry_initial_connect {
            connect = connect.retry_on_initial_connect();
        }
        let user = match &options.auth {
            Auth::UserPassword { user, .. } => Some(user.clone()),
            Auth::None | Auth::Token(_) => None,
        };
        connect = match options.auth {
            Auth::None => connect,
            Auth::UserPassword { user, password } => {
                connect.user_and_password(user, password.expose_secret().to_owned())
            }
            Auth::Token(token) => connect.token(token.expose_secret().to_owned()),
        };
        if let Some(tls) = options.tls {
            connect = connect.require_tls(true);
            if let Some(ca) = tls.ca_file {
                connect = connect.add_root_certificates(ca);
            }
            if let Some((cert, key)) = tls.client_cert {
                connect = connect.add_client_certificate(cert, key);
            }
        }
        let client = connect
            .connect(url)
            .await
            .map_err(|source| match source.kind() {
                async_nats::ConnectErrorKind::AuthorizationViolation
                | async_nats::ConnectErrorKind::Authentication => Error::Unauthorized {
                    url: url.to_owned(),
                    user,
                    source,
                },
                _ => Error::Connect {
                    url: url.to_owned(),
                    source,
                },
            })?;
        let jetstream = jetstream::ContextBuilder::new()
            .timeout(options.request_timeout)
            .ack_timeout(options.request_timeout)
            .build(client.clone());
        Ok(Bus { client, jetstream })
    }

    /// The core NATS client (request/reply traffic such as protocol rounds).
    pub fn client(&self) -> &async_nats::Client {
        &self.client
    }

    /// The JetStream context, for what this crate does not wrap.
    pub fn jetstream(&self) -> &jetstream::Context {
        &self.jetstream
    }

    /// Publish one durable event and wait until the server has stored it.
    ///
    /// Sets `Nats-Msg-Id: msg_id` (JetStream drops a second copy within the stream's duplicate
    /// window and answers [`Published::duplicate`]), `content-type: application/msgpack` and
    /// `custody-schema: schema`. `extra` headers are added; they cannot override those three.
    pub async fn publish_event(
        &self,
        subject: &str,
        msg_id: &str,
        schema: &str,
        payload: Bytes,
        extra: &[(String, String)],
    ) -> Result<Published> {
        let mut map = HeaderMap::new();
        for (name, value) in extra {
            if is_reserved(name) {
                continue;
            }
            map.insert(header_name(name)?, header_value(name, value)?);
        }
        map.insert(
            header_name(headers::MSG_ID)?,
            header_value(headers::MSG_ID, msg_id)?,
        );
        // The payload's encoding travels with it: MessagePack by default, JSON when the caller
        // says so (the ops subjects, and outbox rows written as JSON). Nothing else is accepted,
        // so a consumer never has to guess.
        let content_type = extra
            .iter()
            .find(|(name, _)| name.eq_ignore_ascii_case(headers::CONTENT_TYPE))
            .map_or(headers::MSGPACK, |(_, value)| value.as_str());
        if content_type != headers::MSGPACK && content_type != headers::JSON {
            return Err(Error::Header {
                name: headers::CONTENT_TYPE.to_owned(),
                reason: "must be application/msgpack or application/json",
            });
        }
        map.insert(
            header_name(headers::CONTENT_TYPE)?,
            header_value(headers::CONTENT_TYPE, content_type)?,
        );
        map.insert(
            header_name(headers::SCHEMA)?,
            header_value(headers::SCHEMA, schema)?,
        );
        let publish_error = |source| Error::Publish {
            subject: subject.to_owned(),
            msg_id: msg_id.to_owned(),
            source,
        };
        let ack = self
            .jetstream
            .publish_with_headers(subject.to_owned(), map, payload)
            .await
            .map_err(publish_error)?
            .await
            .map_err(publish_error)?;
        Ok(Published {
            stream: ack.stream,
            sequence: ack.sequence,
            duplicate: ack.duplicate,
        })
    }

    /// Wait until everything published so far has been written to the server.
    pub async fn flush(&self) -> Result<()> {
        self.client.flush().await.map_err(|e| Error::Nats {
            context: "flush".to_owned(),
            source: Box::new(e),
        })
    }
}

/// Exponential back-off: 50 ms, 100 ms, 200 ms … capped at `max` (async-nats asks for the
/// delay of the n-th attempt, so it is computed rather than kept in an `events::Backoff`).
fn reconnect_delay(attempts: usize, max: Duration) -> Duration {
    let exponent = u32::try_from(attempts.min(16)).unwrap_or(16);
    Duration::from_millis(50)
        .saturating_mul(2u32.saturating_pow(exponent))
        .min(max)
}

/// The headers [`Bus::publish_event`] sets itself.
fn is_reserved(name: &str) -> bool {
    [headers::MSG_ID, headers::CONTENT_TYPE, headers::SCHEMA]
        .iter()
        .any(|reserved| reserved.eq_ignore_ascii_case(name))
}

pub(crate) fn header_name(name: &str) -> Result<HeaderName> {
    name.parse::<HeaderName>().map_err(|_| Error::Header {
        name: name.to_owned(),
        reason: "not a valid header name",
    })
}

/// Refuse line breaks: the client writes values verbatim, so one would start a new header.
pub(crate) fn header_value(name: &str, value: &str) -> Result<HeaderValue> {
    if value.contains(['\r', '\n']) {
        return Err(Error::Header {
            name: name.to_owned(),
            reason: "value contains a line break",
        });
    }
    Ok(HeaderValue::from(value))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reconnect_back_off_grows_and_is_capped() {
        let max = Duration::from_secs(2);
        assert_eq!(reconnect_delay(0, max), Duration::from_millis(50));
        assert_eq!(reconnect_delay(2, max), Duration::from_millis(200));
        assert_eq!(reconnect_delay(100, max), max);
    }

    #[test]
    fn header_injection_is_refused() {
        assert!(header_value("x", "a\r\nNats-Msg-Id: forged").is_err());
        assert!(header_name("bad:name").is_err());
        assert!(is_reserved("nats-msg-id"));
    }
}
