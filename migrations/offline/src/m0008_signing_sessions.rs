//! `m0008_signing_sessions`: what the signing-request import, the exports and the case
//! life cycle need beyond the first schema (issue 3):
//!
//! - `session_requests`: which requests a signing session signs (one, or several for a batch),
//!   each with the execution id of its own signing run once the run starts (UNIQUE: cggmp21
//!   must never see an execution id twice, DESIGN.md §8);
//! - `protocol_sessions.expires_at`: a session is refused after its request expires;
//! - `balance_attestations`: imported, verified `BalanceAttestation`s (the evidence that lets
//!   an admin delete a case that has a key);
//! - `cases.rekey_reason`: why a case was marked for a new keygen and a sweep (the time is in
//!   `cases.rekey_requested_at`, which the first schema already had).

use sea_orm_migration::prelude::*;

use crate::schema::{fk, id, index, opt_text, opt_ts, ref_id, text, ts};

/// The step.
pub struct M0008SigningSessions;

impl MigrationName for M0008SigningSessions {
    fn name(&self) -> &str {
        "m0008_signing_sessions"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for M0008SigningSessions {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table("session_requests")
                .col(ref_id("session_id"))
                .col(ref_id("signing_request_id"))
                .col(opt_text("execution_id"))
                .primary_key(Index::create().col("session_id").col("signing_request_id"))
                .foreign_key(&mut fk(
                    "session_requests",
                    "session_id",
                    "protocol_sessions",
                ))
                .foreign_key(&mut fk(
                    "session_requests",
                    "signing_request_id",
                    "signing_requests",
                ))
                .to_owned(),
        )
        .await?;
        index(m, "session_requests", &["execution_id"], true).await?;
        index(m, "session_requests", &["signing_request_id"], false).await?;

        // SQLite adds one column per ALTER TABLE.
        m.alter_table(
            Table::alter()
                .table("protocol_sessions")
                .add_column(opt_ts("expires_at"))
                .to_owned(),
        )
        .await?;
        m.alter_table(
            Table::alter()
                .table("cases")
                .add_column(opt_text("rekey_reason"))
                .to_owned(),
        )
        .await?;

        m.create_table(
            Table::create()
                .table("balance_attestations")
                .col(id("id"))
                .col(text("envelope_id"))
                .col(text("address"))
                .col(ColumnDef::new("chain_id").big_integer().not_null())
                .col(ColumnDef::new("block_number").big_integer().not_null())
                .col(text("block_hash"))
                .col(ColumnDef::new("empty").boolean().not_null())
                .col(ColumnDef::new("balances").json().not_null())
                .col(ts("issued_at"))
                .col(ref_id("imported_by"))
                .col(ts("at"))
                .foreign_key(&mut fk("balance_attestations", "imported_by", "users"))
                .to_owned(),
        )
        .await?;
        // An attestation is imported once (its envelope id is unique).
        index(m, "balance_attestations", &["envelope_id"], true).await?;
        index(m, "balance_attestations", &["address"], false).await
    }

    fn use_transaction(&self) -> Option<bool> {
        Some(true)
    }
}
