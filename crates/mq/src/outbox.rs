//! The RabbitMQ side of the outbox relay (`events::run_relay`): [`MqPublisher`] is an
//! [`events::Publisher`] that publishes each outbox entry to the exchange and returns only
//! after the broker confirmed it.

use crate::Mq;

/// The relay's publisher: a broker handle and the exchange the entries go to.
#[derive(Clone, Debug)]
pub struct MqPublisher {
    /// The broker.
    pub mq: Mq,
    /// The exchange (`contracts::subjects::online::EXCHANGE`).
    pub exchange: String,
}

#[async_trait::async_trait]
impl events::Publisher for MqPublisher {
    async fn publish(&self, entry: &events::OutboxEntry) -> Result<(), events::PublishError> {
        self.mq
            .publish_entry(&self.exchange, entry)
            .await
            .map_err(|e| events::PublishError {
                topic: entry.topic.clone(),
                message_id: entry.message_id.clone(),
                source: Box::new(e),
            })
    }
}
