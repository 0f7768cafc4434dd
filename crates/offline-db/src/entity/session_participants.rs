//! The `session_participants` table. Who takes part in a protocol session, with which share and SE.

#[allow(unused_imports, reason = "not every table uses the enums")]
use super::enums::*;
use sea_orm::entity::prelude::*;

/// One row of `session_participants`.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "session_participants")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub session_id: String,
    #[sea_orm(primary_key, auto_increment = false)]
    pub share_index: i32,
    pub user_id: String,
    pub se_id: String,
    /// `WAITING`, `READY`, `DONE` or `FAILED`.
    pub status: ParticipantStatus,
    pub channel_id: Option<String>,
    pub at: DateTimeUtc,
}

/// Relations are followed by id in the repository; none are declared.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
