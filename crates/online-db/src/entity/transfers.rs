//! The `transfers` table. Transfers, from draft to confirmation. Amounts and fees are decimal text in base units.

#[allow(unused_imports, reason = "not every table uses the enums")]
use super::enums::*;
use sea_orm::entity::prelude::*;

/// One row of `transfers`.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "transfers")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub account_id: String,
    pub chain_id: i64,
    /// `ETH` or the token address.
    pub asset: String,
    /// EIP-55 checksummed recipient (for a token: the token recipient, not the contract).
    pub to_address: String,
    pub amount: String,
    pub nonce: i64,
    pub gas_limit: i64,
    pub max_fee_per_gas: String,
    pub max_priority_fee_per_gas: String,
    /// The unsigned EIP-1559 transaction (type byte + RLP).
    pub unsigned_tx: Vec<u8>,
    /// Its signing hash, 0x-hex.
    pub signing_hash: String,
    /// The exported SigningRequest envelope id.
    pub request_id: Option<String>,
    pub status: TransferStatus,
    pub created_by: String,
    pub approved_by: Option<String>,
    pub approved_at: Option<DateTimeUtc>,
    /// When it was exported; the rolling 24-hour limit counts by this time.
    pub exported_at: Option<DateTimeUtc>,
    pub signed_tx: Option<Vec<u8>>,
    /// 0x-hex, unique.
    pub tx_hash: Option<String>,
    pub block_number: Option<i64>,
    pub block_hash: Option<String>,
    pub confirmations: i64,
    pub error: Option<String>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

/// Relations are followed by id in the repository; none are declared.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
