//! `m0010_keyed_audit`: the audit log made verifiable against an insider with database access
//! (DESIGN.md §14, issue 14):
//!
//! - `audit_log.mac`: the HSM's HMAC of each record;
//! - `audit_checkpoints`: the HSM-signed checkpoints of the chain;
//! - `peer_checkpoints`: the online zone's checkpoints, received inside its signing requests
//!   and balance attestations, kept as a witness of its logs;
//! - `outbox.mac`: the HSM's HMAC of each event, checked by every consumer.

use sea_orm_migration::prelude::*;

/// The step.
pub struct M0010KeyedAudit;

impl MigrationName for M0010KeyedAudit {
    fn name(&self) -> &str {
        "m0010_keyed_audit"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for M0010KeyedAudit {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        audit::migration::key_chains(m, &[audit::Chain::AUDIT]).await?;
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
