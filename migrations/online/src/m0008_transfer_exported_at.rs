//! `m0008_transfer_exported_at`: when each transfer was exported (issue 15, "policy at every
//! step"). The rolling 24-hour limit counts what was *exported* in the window, so a draft that
//! sat for a day cannot be exported into a fresh allowance and drafts that were never exported
//! take none of it.
//!
//! Transfers exported before this step get their last update time, which is no earlier than
//! their export: they count in the window at least as long as they really should.

use sea_orm_migration::prelude::*;

use crate::schema::{index, opt_ts};

/// The step.
pub struct M0008TransferExportedAt;

impl MigrationName for M0008TransferExportedAt {
    fn name(&self) -> &str {
        "m0008_transfer_exported_at"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for M0008TransferExportedAt {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.alter_table(
            Table::alter()
                .table("transfers")
                .add_column(opt_ts("exported_at"))
                .to_owned(),
        )
        .await?;
        m.get_connection()
            .execute_unprepared(
                "UPDATE transfers SET exported_at = updated_at WHERE request_id IS NOT NULL",
            )
            .await?;
        index(
            m,
            "transfers",
            &["account_id", "asset", "exported_at"],
            false,
        )
        .await
    }

    fn use_transaction(&self) -> Option<bool> {
        Some(true)
    }
}
