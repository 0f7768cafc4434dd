//! The migration step that creates the audit log, and [`create_chain`] for the tables of any
//! [`Chain`]; each zone's migrator includes the steps it needs.

use sea_orm_migration::prelude::*;

use crate::{Chain, GENESIS_HASH};

/// Creates `audit_log` and `audit_head` (with its single row). Forward only.
pub struct CreateAuditLog;

impl MigrationName for CreateAuditLog {
    fn name(&self) -> &str {
        // Shared steps carry their crate's prefix and their own numbering, so each zone's
        // migrator can number its own steps m0001, m0002, … without gaps.
        "audit_0001_create_audit_log"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for CreateAuditLog {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        create_chain(manager, Chain::AUDIT).await
    }

    fn use_transaction(&self) -> Option<bool> {
        // SQLite has transactional DDL too; a half-created audit log must never be committed.
        Some(true)
    }
}

/// Create the record table and the head table (with its single row) of `chain`, inside the
/// calling migration step (which should run in a transaction). For [`Chain::AUDIT`] this is
/// exactly the schema `audit_0001_create_audit_log` has always created.
pub async fn create_chain(manager: &SchemaManager<'_>, chain: Chain) -> Result<(), DbErr> {
    let log = chain.log_table();
    let head = chain.head_table();
    manager
        .create_table(
            Table::create()
                .table(log)
                .col(ColumnDef::new("seq").big_integer().not_null().primary_key())
                .col(ColumnDef::new("at").timestamp_with_time_zone().not_null())
                .col(ColumnDef::new("actor").string().not_null())
                .col(ColumnDef::new("action").string().not_null())
                .col(ColumnDef::new("object").string().not_null())
                .col(ColumnDef::new("details").json().not_null())
                .col(ColumnDef::new("prev_hash").string_len(64).not_null())
                .col(ColumnDef::new("hash").string_len(64).not_null())
                .to_owned(),
        )
        .await?;
    // Filters of the audit API: by time, actor, action and object.
    for col in ["at", "actor", "action", "object"] {
        manager
            .create_index(
                Index::create()
                    .name(format!("idx_{log}_{col}"))
                    .table(log)
                    .col(col)
                    .to_owned(),
            )
            .await?;
    }
    manager
        .create_table(
            Table::create()
                .table(head)
                .col(
                    ColumnDef::new("id")
                        .integer()
                        .not_null()
                        .primary_key()
                        .check(Expr::col("id").eq(1)),
                )
                .col(ColumnDef::new("seq").big_integer().not_null())
                .col(ColumnDef::new("hash").string_len(64).not_null())
                .to_owned(),
        )
        .await?;
    let mut insert = Query::insert();
    insert
        .into_table(head)
        .columns(["id", "seq", "hash"])
        .values([Expr::value(1), Expr::value(0i64), Expr::value(GENESIS_HASH)])
        .map_err(|e| DbErr::Custom(format!("building the audit head insert: {e}")))?;
    manager.get_connection().execute(&insert).await?;
    Ok(())
}
