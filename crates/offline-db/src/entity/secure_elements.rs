//! The `secure_elements` table. Secure elements (smart cards / USB tokens) and who holds them.

#[allow(unused_imports, reason = "not every table uses the enums")]
use super::enums::*;
use sea_orm::entity::prelude::*;

/// One row of `secure_elements`.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "secure_elements")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub serial: String,
    pub label: String,
    pub identity_public_key: Vec<u8>,
    pub certificate: Option<Vec<u8>>,
    pub status: SeStatus,
    pub holder_user_id: Option<String>,
    pub last_used_at: Option<DateTimeUtc>,
    pub created_at: DateTimeUtc,
    /// The case manager who proved, by signing a one-time challenge with the SE's identity key,
    /// that they hold it (none for SEs registered before enrolment proofs existed).
    pub enrolled_by: Option<String>,
    /// When.
    pub enrolled_at: Option<DateTimeUtc>,
}

/// Relations are followed by id in the repository; none are declared.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
