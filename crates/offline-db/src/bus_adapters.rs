//! The database side of the bus (DESIGN.md §7): [`bus::Outbox`] over the `outbox` table,
//! [`bus::Processed`] over `processed_messages`, and [`Db::react_once`], which a bus consumer
//! uses to commit its effect, its audit record, the events it emits and its idempotency claim
//! in ONE transaction.
//!
//! Outbox rows written by this repository carry `schema-version` in their headers; the relay
//! needs `custody-schema: <Type>/v<n>`, so [`Outbox::pending`](bus::Outbox::pending) derives it
//! from the subject (the type names of `contracts::bus`) and the version. Payloads are JSON
//! (see `events.rs`); consumers decode them as JSON.

use std::time::SystemTime;

use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Expr, ExprTrait, OnConflict, Query};
use sea_orm::{ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter};

use crate::entity::outbox;
use crate::events::enqueue;
use crate::{Db, Result};

/// The idempotency table created by migration `m0007_processed`.
pub const PROCESSED_TABLE: &str = "processed_messages";

/// Claim `msg_id` for `consumer` inside `conn` (a transaction, normally): `INSERT … ON CONFLICT
/// DO NOTHING`. True if this is the first claim, that is, if a row was inserted.
pub async fn claim<C: ConnectionTrait>(
    conn: &C,
    consumer: &str,
    msg_id: &str,
    now: DateTime<Utc>,
) -> Result<bool> {
    let mut insert = Query::insert();
    insert
        .into_table(PROCESSED_TABLE)
        .columns(["consumer", "msg_id", "at"])
        .values([
            Expr::value(consumer.to_owned()),
            Expr::value(msg_id.to_owned()),
            Expr::value(now),
        ])
        .map_err(|e| DbErr::Custom(format!("building the processed-message insert: {e}")))?
        .on_conflict(
            OnConflict::columns(["consumer", "msg_id"])
                .do_nothing()
                .to_owned(),
        );
    let result = conn.execute(&insert).await?;
    Ok(result.rows_affected() == 1)
}

/// Remove the claim of `msg_id` by `consumer`.
pub async fn unclaim<C: ConnectionTrait>(conn: &C, consumer: &str, msg_id: &str) -> Result<()> {
    let mut delete = Query::delete();
    delete
        .from_table(PROCESSED_TABLE)
        .and_where(Expr::col("consumer").eq(consumer.to_owned()))
        .and_where(Expr::col("msg_id").eq(msg_id.to_owned()));
    conn.execute(&delete).await?;
    Ok(())
}

/// The `custody-schema` type name of the events this zone writes, by subject (the names of
/// `contracts::bus`). Unknown subjects get a name built from their tokens
/// (`custody.case.archived` → `CaseArchived`).
pub fn schema_type(subject: &str) -> String {
    match subject {
        "custody.case.created" => "CaseCreated".to_owned(),
        "custody.case.manager_replaced" => "ManagerReplaced".to_owned(),
        "custody.keygen.requested" => "KeygenRequested".to_owned(),
        "custody.keygen.completed" => "KeygenCompleted".to_owned(),
        "custody.share.available" => "ShareAvailable".to_owned(),
        "custody.access.revoked" => "AccessRevoked".to_owned(),
        "custody.signing.requested" => "SigningRequested".to_owned(),
        "custody.session.created" => "SigningSessionCreated".to_owned(),
        s if s.starts_with("custody.notify.manager.") => "ManagerNotification".to_owned(),
        s => s
            .split(['.', '_'])
            .filter(|t| *t != "custody")
            .map(|t| {
                let mut chars = t.chars();
                match chars.next() {
                    Some(first) => first.to_uppercase().chain(chars).collect::<String>(),
                    None => String::new(),
                }
            })
            .collect(),
    }
}

/// The headers of an outbox row as `(name, value)` pairs, with `custody-schema` added from
/// `schema-version` when the row has none.
fn entry_headers(subject: &str, json: &serde_json::Value) -> Vec<(String, String)> {
    let as_text = |v: &serde_json::Value| match v {
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    let mut headers: Vec<(String, String)> = match json {
        serde_json::Value::Object(map) => map
            .iter()
            .map(|(name, value)| (name.clone(), as_text(value)))
            .collect(),
        serde_json::Value::Array(pairs) => pairs
            .iter()
            .filter_map(|pair| match pair.as_array().map(Vec::as_slice) {
                Some([name, value]) => Some((as_text(name), as_text(value))),
                _ => None,
            })
            .collect(),
        _ => Vec::new(),
    };
    let has_schema = headers
        .iter()
        .any(|(n, _)| n.eq_ignore_ascii_case(bus::headers::SCHEMA));
    if !has_schema {
        let version = headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case("schema-version"))
            .map(|(_, v)| v.clone())
            .unwrap_or_else(|| "1".to_owned());
        headers.push((
            bus::headers::SCHEMA.to_owned(),
            format!("{}/v{version}", schema_type(subject)),
        ));
    }
    headers
}

fn to_entry(row: outbox::Model) -> bus::OutboxEntry {
    let headers = entry_headers(&row.subject, &row.headers);
    bus::OutboxEntry {
        id: row.id,
        subject: row.subject,
        msg_id: row.msg_id,
        payload: row.payload,
        headers,
    }
}

#[async_trait::async_trait]
impl bus::Outbox for Db {
    async fn pending(&self, limit: usize) -> bus::Result<Vec<bus::OutboxEntry>> {
        let limit = u64::try_from(limit).unwrap_or(u64::MAX);
        let rows = self
            .outbox_pending(limit)
            .await
            .map_err(bus::Error::store)?;
        Ok(rows.into_iter().map(to_entry).collect())
    }

    async fn mark_published(&self, id: &str, at: SystemTime) -> bus::Result<()> {
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
            .map_err(bus::Error::store)?;
        Ok(())
    }
}

#[async_trait::async_trait]
impl bus::Processed for Db {
    async fn first_time(&self, consumer: &str, msg_id: &str) -> bus::Result<bool> {
        claim(self.conn(), consumer, msg_id, Utc::now())
            .await
            .map_err(bus::Error::store)
    }

    async fn release(&self, consumer: &str, msg_id: &str) -> bus::Result<()> {
        unclaim(self.conn(), consumer, msg_id)
            .await
            .map_err(bus::Error::store)
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
        let txn = audit::begin_write(self.conn()).await?;
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
    fn schema_header_is_derived_from_subject_and_version() {
        let headers = entry_headers(
            "custody.case.created",
            &serde_json::json!({"content-type": "application/json", "schema-version": "1"}),
        );
        assert!(headers.contains(&("custody-schema".to_owned(), "CaseCreated/v1".to_owned())));
        assert_eq!(schema_type("custody.case.archived"), "CaseArchived");
        assert_eq!(
            schema_type("custody.notify.manager.abc"),
            "ManagerNotification"
        );
    }
}
