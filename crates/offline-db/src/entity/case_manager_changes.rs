//! The `case_manager_changes` table. The history of manager hand-overs.

#[allow(unused_imports, reason = "not every table uses the enums")]
use super::enums::*;
use sea_orm::entity::prelude::*;

/// One row of `case_manager_changes`.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "case_manager_changes")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub case_id: String,
    pub share_index: i32,
    pub from_user_id: String,
    pub to_user_id: String,
    pub se_id: String,
    pub pin_reset_by: String,
    pub reason: String,
    pub at: DateTimeUtc,
}

/// Relations are followed by id in the repository; none are declared.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
