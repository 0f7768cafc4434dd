//! Outbox rows: events that must reach NATS, written in the caller's transaction, each with
//! the zone HSM's MAC (`events::seal_event`) so that consumers act only on events this outbox
//! produced.
//!
//! Payloads are JSON for now, with field names that follow `contracts::bus`; when the contracts
//! crate is settled this module switches to its MessagePack encoding and headers, and nothing
//! else in the repository changes.

use chrono::{DateTime, Utc};
use sea_orm::{ActiveModelTrait, Set};
use serde_json::json;

use crate::entity::outbox;
use crate::{new_id, Error, Result};

/// The content type of the payloads this repository writes.
pub const CONTENT_TYPE: &str = "application/json";

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
/// The zone's HSM MACs the event (subject, message id, content type, schema, payload) in the
/// same transaction; if it cannot, nothing is written.
pub(crate) async fn enqueue(
    txn: &audit::Tx,
    now: DateTime<Utc>,
    subject: &str,
    body: serde_json::Value,
) -> Result<outbox::Model> {
    let msg_id = new_id(now);
    let schema = format!("{}/v1", schema_type(subject));
    let sealed = events::seal_body(
        txn.sealer().mac_key(),
        subject,
        &msg_id,
        CONTENT_TYPE,
        &schema,
        now.timestamp(),
        body,
    )
    .map_err(|e| Error::Audit(audit::Error::Key(e.to_string())))?;
    let row = outbox::ActiveModel {
        id: Set(new_id(now)),
        subject: Set(subject.to_owned()),
        msg_id: Set(msg_id),
        payload: Set(sealed.payload),
        headers: Set(json!({"content-type": CONTENT_TYPE, "custody-schema": schema})),
        created_at: Set(now),
        published_at: Set(None),
        mac: Set(Some(sealed.mac)),
    };
    Ok(row.insert(txn).await?)
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
