//! The outbox (events for RabbitMQ, written in the caller's transaction) and the consumers'
//! idempotency table (DESIGN.md §7).
//!
//! Payloads are JSON with an `event_id` (= the AMQP message id) and `at`; the headers carry
//! `content-type` and `schema-version`. The relay publishes each pending row to the
//! [`EXCHANGE`] with its routing key and marks it published only after the broker confirmed it.

use chrono::{DateTime, Utc};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect, Set,
};
use serde_json::json;

use crate::entity::outbox;
use crate::{new_id, Db, Result};

/// The topic exchange the online zone's events go to.
pub const EXCHANGE: &str = contracts::subjects::online::EXCHANGE;

/// Routing keys of the events this repository writes: the contract's keys, which the exchange
/// binds to the chain worker's queues.
pub mod routing_keys {
    /// A signed transaction is ready to broadcast (the chain worker's `broadcast` queue).
    pub const BROADCAST: &str = contracts::subjects::online::BROADCAST_KEY;
    /// A broadcast transaction is to be tracked to finality (the `track` queue).
    pub const TRACK: &str = contracts::subjects::online::TRACK_KEY;
}

pub use migration_kit::PROCESSED_TABLE;

/// The content type of the payloads this repository writes.
pub const CONTENT_TYPE: &str = "application/json";

/// The schema of the chain worker's work messages (broadcast and track).
pub const WORK_SCHEMA: &str = "ChainWork/v1";

/// Write one outbox row; `body` gets the `event_id` (= the message id) and `at` fields added.
/// The online token MACs the message (routing key, message id, content type, schema, payload)
/// in the same transaction; if it cannot, nothing is written.
pub(crate) async fn enqueue(
    txn: &audit::Tx,
    now: DateTime<Utc>,
    routing_key: &str,
    body: serde_json::Value,
) -> Result<outbox::Model> {
    let msg_id = new_id(now);
    let sealed = events::seal_body(
        txn.sealer().mac_key(),
        routing_key,
        &msg_id,
        CONTENT_TYPE,
        WORK_SCHEMA,
        now.timestamp(),
        body,
    )
    .map_err(|e| crate::Error::Audit(audit::Error::Key(e.to_string())))?;
    let row = outbox::ActiveModel {
        id: Set(new_id(now)),
        routing_key: Set(routing_key.to_owned()),
        msg_id: Set(msg_id),
        payload: Set(sealed.payload),
        headers: Set(json!({"content-type": CONTENT_TYPE, "custody-schema": WORK_SCHEMA})),
        created_at: Set(now),
        published_at: Set(None),
        mac: Set(Some(sealed.mac)),
    };
    Ok(row.insert(txn).await?)
}

/// Claim `msg_id` for `consumer` inside `conn` (the transaction of the consumer's effect):
/// [`migration_kit::claim_processed`]. True if this is the first claim.
pub async fn claim<C: ConnectionTrait>(
    conn: &C,
    consumer: &str,
    msg_id: &str,
    now: DateTime<Utc>,
) -> Result<bool> {
    Ok(migration_kit::claim_processed(conn, consumer, msg_id, now).await?)
}

impl Db {
    /// Outbox rows not yet published, oldest first (for the relay).
    pub async fn outbox_pending(&self, limit: u64) -> Result<Vec<outbox::Model>> {
        Ok(outbox::Entity::find()
            .filter(outbox::Column::PublishedAt.is_null())
            .order_by_asc(outbox::Column::CreatedAt)
            .order_by_asc(outbox::Column::Id)
            .limit(limit)
            .all(self.conn())
            .await?)
    }

    /// Mark an outbox row published (after the broker confirmed it). Marking a marked row
    /// keeps its first time.
    pub async fn outbox_mark_published(&self, id: &str, now: DateTime<Utc>) -> Result<()> {
        outbox::Entity::update_many()
            .col_expr(outbox::Column::PublishedAt, Expr::value(now))
            .filter(outbox::Column::Id.eq(id))
            .filter(outbox::Column::PublishedAt.is_null())
            .exec(self.conn())
            .await?;
        Ok(())
    }

    /// Claim `msg_id` for `consumer` on its own (see [`claim`]); true the first time.
    pub async fn first_time(
        &self,
        consumer: &str,
        msg_id: &str,
        now: DateTime<Utc>,
    ) -> Result<bool> {
        claim(self.conn(), consumer, msg_id, now).await
    }
}
