//! The database side of the bus (DESIGN.md §7): [`events::Outbox`] over the `outbox` table,
//! and [`Db::react_once`], which a bus consumer uses to commit its effect, its audit record, the
//! events it emits and its idempotency claim in ONE transaction.
//!
//! Outbox rows carry their schema (`custody-schema`) and content type in their headers and the
//! zone HSM's MAC of the event in `mac`; the relay sends all three, and consumers verify the MAC
//! before they act. Payloads are JSON (see `events.rs`); consumers decode them as JSON.

use std::time::SystemTime;

use chrono::{DateTime, Utc};
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter};

use crate::entity::outbox;
use crate::outbox::{enqueue, schema_type, CONTENT_TYPE};
use crate::{Db, Result};

pub use crate::outbox::schema_type as event_schema_type;

pub use migration_kit::PROCESSED_TABLE;

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

/// The text of a header of an outbox row (`headers` is a JSON object of name → value).
fn header(json: &serde_json::Value, name: &str) -> Option<String> {
    json.as_object()?.iter().find_map(|(n, v)| {
        n.eq_ignore_ascii_case(name).then(|| match v {
            serde_json::Value::String(s) => s.clone(),
            other => other.to_string(),
        })
    })
}

fn to_entry(row: outbox::Model) -> events::OutboxEntry {
    let schema = header(&row.headers, "custody-schema").unwrap_or_else(|| {
        // Rows written before the schema was stored name only its version.
        let version = header(&row.headers, "schema-version").unwrap_or_else(|| "1".to_owned());
        format!("{}/v{version}", schema_type(&row.subject))
    });
    events::OutboxEntry {
        content_type: header(&row.headers, "content-type")
            .unwrap_or_else(|| CONTENT_TYPE.to_owned()),
        id: row.id,
        topic: row.subject,
        message_id: row.msg_id,
        schema,
        payload: row.payload,
        mac: row.mac,
    }
}

#[async_trait::async_trait]
impl events::Outbox for Db {
    async fn pending(&self, limit: usize) -> Result<Vec<events::OutboxEntry>, events::StoreError> {
        let limit = u64::try_from(limit).unwrap_or(u64::MAX);
        let rows = self
            .outbox_pending(limit)
            .await
            .map_err(events::StoreError::new)?;
        Ok(rows.into_iter().map(to_entry).collect())
    }

    async fn mark_published(&self, id: &str, at: SystemTime) -> Result<(), events::StoreError> {
        // `WHERE published_at IS NULL`: marking a marked row keeps its first time.
        outbox::Entity::update_many()
            .col_expr(
                outbox::Column::PublishedAt,
                Expr::value(DateTime::<Utc>::from(at)),
            )
            .filter(outbox::Column::Id.eq(id))
            .filter(outbox::Column::PublishedAt.is_null())
            .exec(self.conn())
            .await
            .map_err(events::StoreError::new)?;
        Ok(())
    }
}

/// What a consumer does about one message: an audit record and the events it emits.
#[derive(Clone, Debug)]
pub struct Reaction {
    /// The consumer (its durable name), for the idempotency claim.
    pub consumer: String,
    /// The message's idempotency key (`Nats-Msg-Id`).
    pub msg_id: String,
    /// The audit record's actor (the service, e.g. `service:case`).
    pub actor: String,
    /// The audit record's action, e.g. `keygen.requested`.
    pub action: String,
    /// The audit record's object, e.g. the case id.
    pub object: String,
    /// The audit record's details; the message id is added.
    pub details: serde_json::Value,
    /// Events to publish through the outbox: subject and JSON body (`event_id`, `at` added).
    pub events: Vec<(String, serde_json::Value)>,
}

/// What [`Db::react_once`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reacted {
    /// First time: claim, audit record and events were committed together.
    Applied,
    /// The consumer had handled this message id before; nothing was written.
    AlreadyDone,
}

impl Db {
    /// Apply `reaction` once: in ONE write transaction claim `(consumer, msg_id)`, append the
    /// audit record and enqueue the events. A message id claimed before writes nothing; a
    /// failure rolls everything back, the claim included, so a redelivery does the work.
    pub async fn react_once(&self, reaction: Reaction, now: DateTime<Utc>) -> Result<Reacted> {
        let txn = self.begin_write().await?;
        if !claim(&txn, &reaction.consumer, &reaction.msg_id, now).await? {
            txn.rollback().await?;
            return Ok(Reacted::AlreadyDone);
        }
        let mut details = reaction.details;
        if let Some(obj) = details.as_object_mut() {
            obj.insert(
                "msg_id".to_owned(),
                serde_json::Value::String(reaction.msg_id.clone()),
            );
        }
        audit::append(
            &txn,
            audit::Entry {
                at: now,
                actor: reaction.actor,
                action: reaction.action,
                object: reaction.object,
                details,
            },
        )
        .await?;
        for (subject, body) in reaction.events {
            enqueue(&txn, now, &subject, body).await?;
        }
        txn.commit().await?;
        Ok(Reacted::Applied)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schema_names_follow_the_subjects() {
        assert_eq!(
            header(
                &serde_json::json!({"content-type": "application/json", "custody-schema": "CaseCreated/v1"}),
                "custody-schema"
            )
            .as_deref(),
            Some("CaseCreated/v1")
        );
        assert_eq!(schema_type("custody.case.archived"), "CaseArchived");
        assert_eq!(
            schema_type("custody.notify.manager.abc"),
            "ManagerNotification"
        );
    }
}
