//! `m0010_proposals`: four-eyes proposals (issue 15). Granting a role, granting an account,
//! raising a limit or turning maker-checker off and adding an allow-list entry are first
//! proposed by one admin and take effect only when a second admin approves. See
//! [`migration_kit::create_proposals_table`].

use sea_orm_migration::prelude::*;

/// The step.
pub struct M0010Proposals;

impl MigrationName for M0010Proposals {
    fn name(&self) -> &str {
        "m0010_proposals"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for M0010Proposals {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        migration_kit::create_proposals_table(m).await
    }

    fn use_transaction(&self) -> Option<bool> {
        Some(true)
    }
}
