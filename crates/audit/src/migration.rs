//! The migration step that creates the audit log; each zone's migrator includes it.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::Statement;

use crate::GENESIS_HASH;

/// Creates `audit_log` and `audit_head` (with its single row). Forward only.
pub struct CreateAuditLog;

impl MigrationName for CreateAuditLog {
    fn name(&self) -> &str {
        // Shared steps carry their crate's prefix and their own numbering, so each zone's
        // migrator can number its own steps m0001, m0002, … without gaps.
        "audit_0001_create_audit_log"
    }
}

#[derive(DeriveIden)]
enum AuditLog {
    Table,
    Seq,
    At,
    Actor,
    Action,
    Object,
    Details,
    PrevHash,
    Hash,
}

#[derive(DeriveIden)]
enum AuditHead {
    Table,
    Id,
    Seq,
    Hash,
}

#[async_trait::async_trait]
impl MigrationTrait for CreateAuditLog {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(AuditLog::Table)
                    .col(
                        ColumnDef::new(AuditLog::Seq)
                            .big_integer()
                            .not_null()
                            .primary_key(),
                    )
                    .col(
                        ColumnDef::new(AuditLog::At)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .col(ColumnDef::new(AuditLog::Actor).string().not_null())
                    .col(ColumnDef::new(AuditLog::Action).string().not_null())
                    .col(ColumnDef::new(AuditLog::Object).string().not_null())
                    .col(ColumnDef::new(AuditLog::Details).json().not_null())
                    .col(ColumnDef::new(AuditLog::PrevHash).string_len(64).not_null())
                    .col(ColumnDef::new(AuditLog::Hash).string_len(64).not_null())
                    .to_owned(),
            )
            .await?;
        // Filters of the audit API: by time, actor, action and object.
        for (name, col) in [
            ("idx_audit_log_at", AuditLog::At),
            ("idx_audit_log_actor", AuditLog::Actor),
            ("idx_audit_log_action", AuditLog::Action),
            ("idx_audit_log_object", AuditLog::Object),
        ] {
            manager
                .create_index(
                    Index::create()
                        .name(name)
                        .table(AuditLog::Table)
                        .col(col)
                        .to_owned(),
                )
                .await?;
        }
        manager
            .create_table(
                Table::create()
                    .table(AuditHead::Table)
                    .col(
                        ColumnDef::new(AuditHead::Id)
                            .integer()
                            .not_null()
                            .primary_key()
                            .check(Expr::col(AuditHead::Id).eq(1)),
                    )
                    .col(ColumnDef::new(AuditHead::Seq).big_integer().not_null())
                    .col(ColumnDef::new(AuditHead::Hash).string_len(64).not_null())
                    .to_owned(),
            )
            .await?;
        let db = manager.get_connection();
        db.execute_raw(Statement::from_string(
            db.get_database_backend(),
            format!("INSERT INTO audit_head (id, seq, hash) VALUES (1, 0, '{GENESIS_HASH}')"),
        ))
        .await?;
        Ok(())
    }

    fn use_transaction(&self) -> Option<bool> {
        // SQLite has transactional DDL too; a half-created audit log must never be committed.
        Some(true)
    }
}
