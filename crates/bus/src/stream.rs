//! Durable JetStream streams for events.

use std::time::Duration;

use async_nats::jetstream::stream::{Config, DiscardPolicy, RetentionPolicy, StorageType};

use crate::{Bus, Error, Result};

/// A durable event stream: name and subjects come from `contracts` (`StreamSpec` there).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamSpec {
    /// Stream name, e.g. `CUSTODY_EVENTS`.
    pub name: String,
    /// Subjects it captures, e.g. `custody.case.>`.
    pub subjects: Vec<String>,
    /// Window in which a repeated `Nats-Msg-Id` is dropped. It must be longer than the longest
    /// outage after which the relay retries a publish whose ack got lost; consumers guard by
    /// message id anyway, so beyond it a repeat costs a skipped delivery, not a second effect.
    pub duplicate_window: Duration,
    /// How long messages are kept; zero keeps them for ever (the outbox is the record).
    pub max_age: Duration,
    /// Replicas (1 on a single server, 3 in a cluster).
    pub replicas: usize,
}

impl StreamSpec {
    /// A stream with a two-minute duplicate window, unlimited age and one replica.
    pub fn new<S: Into<String>>(
        name: impl Into<String>,
        subjects: impl IntoIterator<Item = S>,
    ) -> StreamSpec {
        StreamSpec {
            name: name.into(),
            subjects: subjects.into_iter().map(Into::into).collect(),
            duplicate_window: Duration::from_secs(120),
            max_age: Duration::ZERO,
            replicas: 1,
        }
    }

    fn to_config(&self) -> Config {
        Config {
            name: self.name.clone(),
            subjects: self.subjects.clone(),
            // Events must survive a server restart, so file storage, and the limits policy
            // keeps them after every consumer acked (a new consumer replays from the start).
            storage: StorageType::File,
            retention: RetentionPolicy::Limits,
            discard: DiscardPolicy::Old,
            duplicate_window: self.duplicate_window,
            max_age: self.max_age,
            num_replicas: self.replicas,
            // An event, once stored, is evidence: nobody deletes single messages.
            deny_delete: true,
            ..Config::default()
        }
    }
}

impl Bus {
    /// Create the stream, or update it to `spec` when it exists (idempotent; run at start-up).
    pub async fn ensure_stream(&self, spec: &StreamSpec) -> Result<()> {
        self.jetstream()
            .create_or_update_stream(spec.to_config())
            .await
            .map_err(|e| Error::Stream {
                stream: spec.name.clone(),
                source: Box::new(e),
            })?;
        Ok(())
    }

    /// How many messages the stream holds.
    pub async fn stream_messages(&self, stream: &str) -> Result<u64> {
        let error = |e: Box<dyn std::error::Error + Send + Sync>| Error::Stream {
            stream: stream.to_owned(),
            source: e,
        };
        let stream_handle = self
            .jetstream()
            .get_stream(stream)
            .await
            .map_err(|e| error(Box::new(e)))?;
        let info = stream_handle
            .get_info()
            .await
            .map_err(|e| error(Box::new(e)))?;
        Ok(info.state.messages)
    }
}
