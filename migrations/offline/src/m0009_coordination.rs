//! `m0009_coordination`: what the offline coordinator (issue 4) records beyond the signing
//! sessions of `m0008`:
//!
//! - `signing_requests.envelope`: the imported `SigningRequest` envelope's wire bytes, so a
//!   manager's client can verify the online zone's signature itself before it approves (NULL
//!   for requests imported before this step);
//! - `protocol_sessions.progress`: where a running session is (`aux_info`, `keygen`,
//!   `signing`, `done`), shown to operators;
//! - `protocol_sessions.roster`: the share indices of the run, a JSON array such as `[0,1]`,
//!   set when the session starts.

use sea_orm_migration::prelude::*;

use crate::schema::opt_text;

/// The step.
pub struct M0009Coordination;

impl MigrationName for M0009Coordination {
    fn name(&self) -> &str {
        "m0009_coordination"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for M0009Coordination {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        // SQLite adds one column per ALTER TABLE.
        m.alter_table(
            Table::alter()
                .table("signing_requests")
                .add_column(ColumnDef::new("envelope").binary().null())
                .to_owned(),
        )
        .await?;
        m.alter_table(
            Table::alter()
                .table("protocol_sessions")
                .add_column(opt_text("progress"))
                .to_owned(),
        )
        .await?;
        m.alter_table(
            Table::alter()
                .table("protocol_sessions")
                .add_column(opt_text("roster"))
                .to_owned(),
        )
        .await
    }

    fn use_transaction(&self) -> Option<bool> {
        Some(true)
    }
}
