//! The `signing_requests` table. Imported signing requests; `request_id` is the envelope's id and is unique.

#[allow(unused_imports, reason = "not every table uses the enums")]
use super::enums::*;
use sea_orm::entity::prelude::*;

/// One row of `signing_requests`.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "signing_requests")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub request_id: String,
    pub case_id: String,
    pub tx_hash: String,
    pub decoded: Json,
    pub status: SigningRequestStatus,
    pub imported_by: String,
    pub at: DateTimeUtc,
    /// The imported `SigningRequest` envelope's wire bytes, so a manager's client can verify
    /// the online signature itself (NULL for requests imported before `m0009`).
    pub envelope: Option<Vec<u8>>,
}

/// Relations are followed by id in the repository; none are declared.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
