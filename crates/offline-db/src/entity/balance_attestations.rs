//! The `balance_attestations` table: verified `BalanceAttestation`s imported from the online
//! zone. The latest one for a case's address decides whether the case may be deleted.

#[allow(unused_imports, reason = "not every table uses the enums")]
use super::enums::*;
use sea_orm::entity::prelude::*;

/// One row of `balance_attestations`.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "balance_attestations")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    /// The envelope id (UNIQUE: an attestation is imported once).
    pub envelope_id: String,
    /// The attested address (checksummed).
    pub address: String,
    pub chain_id: i64,
    pub block_number: i64,
    /// Hex of the block hash.
    pub block_hash: String,
    /// Whether every attested balance, ether included, is zero.
    pub empty: bool,
    /// The attested balances as shown to people.
    pub balances: Json,
    /// When the online zone signed it.
    pub issued_at: DateTimeUtc,
    pub imported_by: String,
    pub at: DateTimeUtc,
}

/// Relations are followed by id in the repository; none are declared.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
