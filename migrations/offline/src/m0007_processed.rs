//! `m0007_processed`: the consumers' idempotency table (DESIGN.md §7).
//!
//! A bus consumer claims a message id here in the same transaction as its effect; the primary
//! key makes a second claim of the same `(consumer, msg_id)` insert nothing, so a redelivered or
//! re-published event has its effect once.

use sea_orm_migration::prelude::*;

use crate::schema::create_processed_messages;

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
        create_processed_messages(m).await
    }

    fn use_transaction(&self) -> Option<bool> {
        Some(true)
    }
}
