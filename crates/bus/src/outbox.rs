//! The NATS side of the outbox relay (`events::run_relay`): [`Bus`] is an
//! [`events::Publisher`] that stores each outbox entry in JetStream and returns only after the
//! server acknowledged it.

use crate::{headers, Bus};

#[async_trait::async_trait]
impl events::Publisher for Bus {
    async fn publish(&self, entry: &events::OutboxEntry) -> Result<(), events::PublishError> {
        if entry.schema.is_empty() {
            // A receiver could not know the payload's type; the entry waits until it is fixed.
            return Err(events::PublishError {
                topic: entry.topic.clone(),
                message_id: entry.message_id.clone(),
                source: "the outbox entry has no schema (custody-schema)".into(),
            });
        }
        let mut extra = vec![(headers::CONTENT_TYPE.to_owned(), entry.content_type.clone())];
        if let Some(mac) = &entry.mac {
            extra.push((events::MAC_HEADER.to_owned(), mac.clone()));
        }
        self.publish_event(
            &entry.topic,
            &entry.message_id,
            &entry.schema,
            bytes::Bytes::from(entry.payload.clone()),
            &extra,
        )
        .await
        .map(drop)
        .map_err(|e| events::PublishError {
            topic: entry.topic.clone(),
            message_id: entry.message_id.clone(),
            source: Box::new(e),
        })
    }
}
