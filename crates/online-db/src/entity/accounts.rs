//! The `accounts` table. Custody accounts: addresses of offline cases, imported from account manifests.

#[allow(unused_imports, reason = "not every table uses the enums")]
use super::enums::*;
use sea_orm::entity::prelude::*;

/// One row of `accounts`.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "accounts")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    /// EIP-55 checksummed; unique.
    pub address: String,
    /// The offline case id the manifest names.
    pub case_ref: String,
    /// The case public key, SEC1 compressed, hex.
    pub public_key: String,
    /// The chain this zone uses the account on.
    pub chain_id: i64,
    pub label: String,
    /// The AccountManifest envelope id.
    pub manifest_id: String,
    /// SHA-256 of the manifest envelope as imported, hex.
    pub manifest_hash: String,
    pub imported_by: String,
    pub created_at: DateTimeUtc,
}

/// Relations are followed by id in the repository; none are declared.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
