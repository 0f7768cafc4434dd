//! `m0013_proposals`: four-eyes proposals (issue 15). Registering or re-activating a secure
//! element, creating, archiving or deleting a case, replacing a manager and granting a role are
//! first proposed by one admin and take effect only when a second admin approves. See
//! [`migration_kit::create_proposals_table`].

use sea_orm_migration::prelude::*;

/// The step.
pub struct M0013Proposals;

impl MigrationName for M0013Proposals {
    fn name(&self) -> &str {
        "m0013_proposals"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for M0013Proposals {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        migration_kit::create_proposals_table(m).await
    }

    fn use_transaction(&self) -> Option<bool> {
        Some(true)
    }
}
