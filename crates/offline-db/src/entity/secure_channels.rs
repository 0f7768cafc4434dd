//! The `secure_channels` table. SE↔HSM channels opened by clients.

#[allow(unused_imports, reason = "not every table uses the enums")]
use super::enums::*;
use sea_orm::entity::prelude::*;

/// One row of `secure_channels`.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "secure_channels")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub se_id: String,
    pub user_id: String,
    /// `ESTABLISHED`, `CLOSED` or `FAILED`.
    pub status: String,
    pub error: Option<String>,
    pub opened_at: DateTimeUtc,
    pub closed_at: Option<DateTimeUtc>,
}

/// Relations are followed by id in the repository; none are declared.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
