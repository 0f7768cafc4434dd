//! The `outbox` table. Events for NATS, written with the change they announce and relayed later.

#[allow(unused_imports, reason = "not every table uses the enums")]
use super::enums::*;
use sea_orm::entity::prelude::*;

/// One row of `outbox`.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "outbox")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub subject: String,
    /// The JetStream de-duplication id (`Nats-Msg-Id`).
    pub msg_id: String,
    pub payload: Vec<u8>,
    pub headers: Json,
    pub created_at: DateTimeUtc,
    pub published_at: Option<DateTimeUtc>,
    /// The HSM's MAC of the event (hex), checked by every consumer.
    pub mac: Option<String>,
}

/// Relations are followed by id in the repository; none are declared.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
