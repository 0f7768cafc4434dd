//! `m0015_case_roster`: the signed roster of a case (issue 15). When the second administrator
//! approves a case, the HSM envelope key signs which SE holds which share
//! (`contracts::CaseRoster`); `cases.roster` keeps it (MessagePack) and the coordinator hands it
//! to the managers' clients with every keygen and signing work item. Cases created before this
//! step have none, and clients refuse to run keygen or signing for them.

use sea_orm_migration::prelude::*;

/// The step.
pub struct M0015CaseRoster;

impl MigrationName for M0015CaseRoster {
    fn name(&self) -> &str {
        "m0015_case_roster"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for M0015CaseRoster {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.alter_table(
            Table::alter()
                .table("cases")
                .add_column(ColumnDef::new("roster").binary().null())
                .to_owned(),
        )
        .await
    }

    fn use_transaction(&self) -> Option<bool> {
        Some(true)
    }
}
