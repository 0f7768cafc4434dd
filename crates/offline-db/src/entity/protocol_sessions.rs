//! The `protocol_sessions` table. Keygen and signing runs; `execution_id` is never reused.

#[allow(unused_imports, reason = "not every table uses the enums")]
use super::enums::*;
use sea_orm::entity::prelude::*;

/// One row of `protocol_sessions`.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "protocol_sessions")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    /// `KEYGEN` or `SIGN`.
    pub kind: SessionKind,
    pub case_id: String,
    pub execution_id: String,
    /// `PENDING`, `RUNNING`, `COMPLETED`, `FAILED` or `EXPIRED`.
    pub status: SessionStatus,
    pub error: Option<String>,
    pub created_at: DateTimeUtc,
    pub finished_at: Option<DateTimeUtc>,
    pub expires_at: Option<DateTimeUtc>,
    /// Where a session is, for operators: `aux_info`, `keygen`, `signing`, `done`.
    pub progress: Option<String>,
    /// The share indices of the run as a JSON array (`[0,1]`), set when it starts.
    pub roster: Option<String>,
}

/// Relations are followed by id in the repository; none are declared.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
