//! The `policies` table. Per-account, per-asset limits (amounts in base units, decimal text).

#[allow(unused_imports, reason = "not every table uses the enums")]
use super::enums::*;
use sea_orm::entity::prelude::*;

/// One row of `policies`.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "policies")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub account_id: String,
    /// `ETH` or the token address.
    pub asset: String,
    pub single_limit: String,
    pub daily_limit: String,
    /// Whether a second trader must approve a transfer before it is exported.
    pub require_approval: bool,
    pub updated_by: String,
    pub updated_at: DateTimeUtc,
}

/// Relations are followed by id in the repository; none are declared.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
