//! The bus ports of `events` implemented over the online database: [`DbOutbox`] reads and marks
//! the `outbox` table for the relay, [`DbProcessed`] claims message ids in `processed_messages`.
//! They are newtypes over [`online_db::Db`] because neither the traits nor the type are ours
//! (the orphan rule).

use std::sync::Arc;
use std::time::SystemTime;

use chrono::{DateTime, Utc};

use events::{Clock, OutboxEntry, StoreError};
use online_db::Db;
use sea_orm::sea_query::{Expr, ExprTrait, Query};
use sea_orm::ConnectionTrait;

/// The relay's view of the online outbox table.
#[derive(Clone, Debug)]
pub struct DbOutbox(pub Db);

#[async_trait::async_trait]
impl events::Outbox for DbOutbox {
    async fn pending(&self, limit: usize) -> Result<Vec<OutboxEntry>, StoreError> {
        let limit = u64::try_from(limit).unwrap_or(u64::MAX);
        let rows = self
            .0
            .outbox_pending(limit)
            .await
            .map_err(StoreError::new)?;
        let header = |headers: &serde_json::Value, name: &str, default: &str| {
            headers
                .get(name)
                .and_then(|v| v.as_str())
                .unwrap_or(default)
                .to_owned()
        };
        Ok(rows
            .into_iter()
            .map(|row| OutboxEntry {
                content_type: header(&row.headers, "content-type", online_db::CONTENT_TYPE),
                schema: header(&row.headers, "custody-schema", online_db::WORK_SCHEMA),
                topic: row.routing_key,
                id: row.id,
                message_id: row.msg_id,
                payload: row.payload,
                mac: row.mac,
            })
            .collect())
    }

    async fn mark_published(&self, id: &str, at: SystemTime) -> Result<(), StoreError> {
        self.0
            .outbox_mark_published(id, DateTime::<Utc>::from(at))
            .await
            .map_err(StoreError::new)
    }
}

/// The consumers' idempotency guard over `processed_messages`: a claim is a row inserted in
/// the unit of work's transaction, kept only if that transaction commits.
#[derive(Clone)]
pub struct DbProcessed {
    db: Db,
    clock: Arc<dyn Clock>,
}

impl std::fmt::Debug for DbProcessed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DbProcessed").finish_non_exhaustive()
    }
}

impl DbProcessed {
    /// The guard over `db`, stamping claims with `clock`.
    pub fn new(db: Db, clock: Arc<dyn Clock>) -> DbProcessed {
        DbProcessed { db, clock }
    }

    /// Whether `consumer` committed a claim of `message_id` before (a read, outside any unit
    /// of work: a redelivery of handled work is then acked without touching the chain).
    pub async fn is_claimed(&self, consumer: &str, message_id: &str) -> Result<bool, StoreError> {
        let mut select = Query::select();
        select
            .expr(Expr::col("msg_id"))
            .from(online_db::PROCESSED_TABLE)
            .and_where(Expr::col("consumer").eq(consumer.to_owned()))
            .and_where(Expr::col("msg_id").eq(message_id.to_owned()));
        let row = self
            .db
            .conn()
            .query_one(&select)
            .await
            .map_err(StoreError::new)?;
        Ok(row.is_some())
    }
}

#[async_trait::async_trait]
impl events::Processed for DbProcessed {
    type Tx = audit::Tx;

    async fn begin(&self) -> Result<audit::Tx, StoreError> {
        self.db.begin_write().await.map_err(StoreError::new)
    }

    async fn claim(
        &self,
        tx: &mut audit::Tx,
        consumer: &str,
        message_id: &str,
    ) -> Result<bool, StoreError> {
        let now = DateTime::<Utc>::from(self.clock.now());
        online_db::claim(&*tx, consumer, message_id, now)
            .await
            .map_err(StoreError::new)
    }

    async fn commit(&self, tx: audit::Tx) -> Result<(), StoreError> {
        tx.commit().await.map_err(StoreError::new)
    }

    async fn rollback(&self, tx: audit::Tx) -> Result<(), StoreError> {
        tx.rollback().await.map_err(StoreError::new)
    }
}

#[cfg(test)]
mod tests {
    use contracts::subjects::online;

    #[test]
    fn every_key_the_outbox_writes_is_bound_to_a_work_queue() {
        for key in [
            online_db::routing_keys::BROADCAST,
            online_db::routing_keys::TRACK,
        ] {
            assert!(
                online::QUEUES.iter().any(|(_, keys)| keys.contains(&key)),
                "{key} is bound to no queue"
            );
        }
    }
}
