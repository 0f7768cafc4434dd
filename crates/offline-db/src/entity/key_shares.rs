//! The `key_shares` table. The key-share table (私钥分片表): which user holds which share, in which SE.

#[allow(unused_imports, reason = "not every table uses the enums")]
use super::enums::*;
use sea_orm::entity::prelude::*;

/// One row of `key_shares`.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "key_shares")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub case_id: String,
    /// NULL until keygen has produced the case key.
    pub public_key: Option<String>,
    pub share_index: i32,
    pub user_id: String,
    pub se_id: String,
    pub status: KeyShareStatus,
    pub created_at: DateTimeUtc,
    pub deactivated_at: Option<DateTimeUtc>,
}

/// Relations are followed by id in the repository; none are declared.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
