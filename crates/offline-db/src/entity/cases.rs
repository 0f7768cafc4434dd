//! The `cases` table. A case: one 2-of-3 custody key and its address.

#[allow(unused_imports, reason = "not every table uses the enums")]
use super::enums::*;
use sea_orm::entity::prelude::*;

/// One row of `cases`.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "cases")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub name: String,
    pub status: CaseStatus,
    pub threshold_t: i32,
    pub parties_n: i32,
    pub public_key: Option<String>,
    pub address: Option<String>,
    pub chain_ids: Json,
    pub rekey_requested_at: Option<DateTimeUtc>,
    pub rekey_reason: Option<String>,
    /// The HSM-signed `contracts::CaseRoster` (MessagePack); NULL for cases from before
    /// `m0015` or created without the HSM.
    pub roster: Option<Vec<u8>>,
    pub created_by: String,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

/// Relations are followed by id in the repository; none are declared.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
