//! The `se_enrolment_challenges` table: one-time challenges a case manager's SE signs to prove
//! possession of its identity key at enrolment.

use sea_orm::entity::prelude::*;

/// One row of `se_enrolment_challenges`.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "se_enrolment_challenges")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    /// The manager it was issued to.
    pub user_id: String,
    /// 32 random bytes, hex.
    pub challenge: String,
    pub issued_at: DateTimeUtc,
    pub expires_at: DateTimeUtc,
    /// When a proof used it (each challenge answers one enrolment).
    pub used_at: Option<DateTimeUtc>,
}

/// Relations are followed by id in the repository; none are declared.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
