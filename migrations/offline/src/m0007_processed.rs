//! `m0007_processed`: the consumers' idempotency table (DESIGN.md §7).
//!
//! A bus consumer claims a message id here in the same transaction as its effect; the primary
//! key makes a second claim of the same `(consumer, msg_id)` insert nothing, so a redelivered or
//! re-published event has its effect once.

use sea_orm_migration::prelude::*;

use crate::schema::{text, ts};

/// The `processed_messages` table.
pub struct M0007Processed;

impl MigrationName for M0007Processed {
    fn name(&self) -> &str {
        "m0007_processed"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for M0007Processed {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table("processed_messages")
                .col(text("consumer"))
                .col(text("msg_id"))
                .col(ts("at"))
                .primary_key(Index::create().col("consumer").col("msg_id"))
                .to_owned(),
        )
        .await
    }

    fn use_transaction(&self) -> Option<bool> {
        Some(true)
    }
}
