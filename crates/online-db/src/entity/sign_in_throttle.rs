//! The `sign_in_throttle` table: the sign-in throttle's counters (crate `auth`, module
//! `throttle`), one row per key, changed only by a compare-and-swap on `version`.

use sea_orm::entity::prelude::*;

/// One row of `sign_in_throttle`.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "sign_in_throttle")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub counter_key: String,
    pub count: i64,
    pub window_start: DateTimeUtc,
    pub last_at: DateTimeUtc,
    pub trusted: bool,
    pub version: i64,
}

/// No relations.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
