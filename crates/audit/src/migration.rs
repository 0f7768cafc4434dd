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

/// Make `chains` verifiable against an insider (DESIGN.md §14), inside the calling migration
/// step: a `mac` column on each chain's record table (the HSM's MAC of the record; NULL only
/// for records written before this step, which verification with the HSM reports as unkeyed),
/// the zone's own checkpoints (`audit_checkpoints`) and the other zone's checkpoints kept as a
/// witness (`peer_checkpoints`). Times of checkpoints are unix microseconds (`BIGINT`), exactly
/// what is signed.
pub async fn key_chains(manager: &SchemaManager<'_>, chains: &[Chain]) -> Result<(), DbErr> {
    for chain in chains {
        manager
            .alter_table(
                Table::alter()
                    .table(chain.log_table())
                    .add_column(ColumnDef::new("mac").string_len(64).null())
                    .to_owned(),
            )
            .await?;
    }
    manager
        .create_table(
            Table::create()
                .table(crate::checkpoints::CHECKPOINTS_TABLE)
                .col(ColumnDef::new("zone").string_len(16).not_null())
                .col(ColumnDef::new("chain").string_len(32).not_null())
                .col(ColumnDef::new("seq").big_integer().not_null())
                .col(ColumnDef::new("value").string_len(64).not_null())
                .col(ColumnDef::new("at").big_integer().not_null())
                .col(ColumnDef::new("public_key").string_len(66).not_null())
                .col(ColumnDef::new("signature").string_len(128).not_null())
                .primary_key(Index::create().col("chain").col("seq"))
                .to_owned(),
        )
        .await?;
    manager
        .create_table(
            Table::create()
                .table(crate::checkpoints::WITNESS_TABLE)
                .col(ColumnDef::new("zone").string_len(16).not_null())
                .col(ColumnDef::new("chain").string_len(32).not_null())
                .col(ColumnDef::new("seq").big_integer().not_null())
                .col(ColumnDef::new("value").string_len(64).not_null())
                .col(ColumnDef::new("at").big_integer().not_null())
                .col(ColumnDef::new("public_key").string_len(66).not_null())
                .col(ColumnDef::new("signature").string_len(128).not_null())
                .col(ColumnDef::new("received_in").string_len(64).not_null())
                .col(
                    ColumnDef::new("received_at")
                        .timestamp_with_time_zone()
                        .not_null(),
                )
                .primary_key(Index::create().col("zone").col("chain").col("seq"))
                .to_owned(),
        )
        .await?;
    Ok(())
}
