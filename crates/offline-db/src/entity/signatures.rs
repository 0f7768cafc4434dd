//! The `signatures` table. Signatures produced for signing requests (one per request).

#[allow(unused_imports, reason = "not every table uses the enums")]
use super::enums::*;
use sea_orm::entity::prelude::*;

/// One row of `signatures`.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "signatures")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    /// `signing_requests.id`.
    pub request_id: String,
    pub r: String,
    pub s: String,
    pub v: i64,
    pub raw_signed_tx: Vec<u8>,
    pub session_id: String,
    pub at: DateTimeUtc,
}

/// Relations are followed by id in the repository; none are declared.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
