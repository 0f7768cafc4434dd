//! `m0007_keyed_logs`: the operation and transaction logs made verifiable against an insider
//! with database access (DESIGN.md §14, issue 14):
//!
//! - `operation_log.mac`, `transaction_log.mac`: the HSM's HMAC of each record;
//! - `audit_checkpoints`: the HSM-signed checkpoints of both chains;
//! - `peer_checkpoints`: the offline zone's checkpoints, received inside its account manifests
//!   and signature responses, kept as a witness of its audit log;
//! - `outbox.mac`: the HSM's HMAC of each event, checked by the chain worker.

use sea_orm_migration::prelude::*;

/// The step.
pub struct M0007KeyedLogs;

impl MigrationName for M0007KeyedLogs {
    fn name(&self) -> &str {
        "m0007_keyed_logs"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for M0007KeyedLogs {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        audit::migration::key_chains(m, &[audit::Chain::OPERATION, audit::Chain::TRANSACTION])
            .await?;
        m.alter_table(
            Table::alter()
                .table("outbox")
                .add_column(ColumnDef::new("mac").string_len(64).null())
                .to_owned(),
        )
        .await
    }

    fn use_transaction(&self) -> Option<bool> {
        Some(true)
    }
}
