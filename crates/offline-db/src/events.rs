//! Outbox rows: events that must reach NATS, written in the caller's transaction.
//!
//! Payloads are JSON for now, with field names that follow `contracts::bus`; when the contracts
//! crate is settled this module switches to its MessagePack encoding and headers, and nothing
//! else in the repository changes.

use chrono::{DateTime, Utc};
use sea_orm::{ActiveModelTrait, ConnectionTrait, Set};
use serde_json::json;

use crate::entity::outbox;
use crate::{new_id, Result};

/// Subjects of the events this repository writes (the same strings as `contracts::subjects`).
pub mod subjects {
    /// A case got its managers and SEs.
    pub const CASE_CREATED: &str = "custody.case.created";
    /// A case manager was replaced.
    pub const CASE_MANAGER_REPLACED: &str = "custody.case.manager_replaced";
    /// A case was archived.
    pub const CASE_ARCHIVED: &str = "custody.case.archived";
    /// A case was deleted.
    pub const CASE_DELETED: &str = "custody.case.deleted";
    /// A verified signing request was imported.
    pub const SIGNING_REQUESTED: &str = "custody.signing.requested";
    /// A signing session was created; its managers are to be called.
    pub const SESSION_CREATED: &str = "custody.session.created";
    /// A manager's share (SE + PIN + handshake) is ready for a session.
    pub const SHARE_AVAILABLE: &str = "custody.share.available";
    /// Keygen finished and every client reported the same public key.
    pub const KEYGEN_COMPLETED: &str = "custody.keygen.completed";
    /// A case was marked for a new keygen and a sweep.
    pub const CASE_REKEY_REQUESTED: &str = "custody.case.rekey_requested";
}

/// Write one outbox row; `body` gets the `event_id` (= the message id) and `at` fields added.
pub(crate) async fn enqueue<C: ConnectionTrait>(
    txn: &C,
    now: DateTime<Utc>,
    subject: &str,
    mut body: serde_json::Value,
) -> Result<outbox::Model> {
    let msg_id = new_id(now);
    if let Some(obj) = body.as_object_mut() {
        obj.insert("event_id".into(), json!(msg_id));
        obj.insert("at".into(), json!(now.timestamp()));
    }
    let row = outbox::ActiveModel {
        id: Set(new_id(now)),
        subject: Set(subject.to_owned()),
        msg_id: Set(msg_id),
        payload: Set(serde_json::to_vec(&body)?),
        headers: Set(json!({"content-type": "application/json", "schema-version": "1"})),
        created_at: Set(now),
        published_at: Set(None),
    };
    Ok(row.insert(txn).await?)
}
