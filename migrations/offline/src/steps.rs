//! The offline zone's migration steps, in order. Never edit a released step; add a new one.

use sea_orm_migration::prelude::*;

use crate::schema::{
    create_sign_in_tables, fk, id, index, opt_ref_id, opt_text, opt_ts, raw, ref_id, share_index,
    status, text, ts,
};
use crate::statuses::*;

/// Declare a forward-only step with its name and a transaction on every engine.
macro_rules! step {
    ($ty:ident, $name:literal) => {
        /// A migration step (see the module documentation).
        pub struct $ty;

        impl MigrationName for $ty {
            fn name(&self) -> &str {
                $name
            }
        }
    };
}

step!(M0001Users, "m0001_users");
step!(M0002SecureElements, "m0002_secure_elements");
step!(M0003Cases, "m0003_cases");
step!(M0004ProtocolSessions, "m0004_protocol_sessions");
step!(M0005Signing, "m0005_signing");
step!(M0006Outbox, "m0006_outbox");

/// Users, their web sessions and login attempts (for throttling).
#[async_trait::async_trait]
impl MigrationTrait for M0001Users {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table("users")
                .col(id("id"))
                .col(text("username"))
                .col(text("display_name"))
                .col(opt_text("phone"))
                .col(text("password_hash"))
                .col(status("role", USER_ROLE))
                .col(status("status", USER_STATUS))
                .col(
                    ColumnDef::new("failed_logins")
                        .integer()
                        .not_null()
                        .default(0),
                )
                .col(opt_ts("locked_until"))
                .col(ts("created_at"))
                .col(ts("updated_at"))
                .to_owned(),
        )
        .await?;
        index(m, "users", &["username"], true).await?;

        create_sign_in_tables(m).await
    }

    fn use_transaction(&self) -> Option<bool> {
        Some(true)
    }
}

/// Secure elements and the secure channels opened through them.
#[async_trait::async_trait]
impl MigrationTrait for M0002SecureElements {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table("secure_elements")
                .col(id("id"))
                .col(text("serial"))
                .col(text("label"))
                .col(ColumnDef::new("identity_public_key").binary().not_null())
                .col(ColumnDef::new("certificate").binary().null())
                .col(status("status", SE_STATUS))
                .col(opt_ref_id("holder_user_id"))
                .col(opt_ts("last_used_at"))
                .col(ts("created_at"))
                .foreign_key(&mut fk("secure_elements", "holder_user_id", "users"))
                .to_owned(),
        )
        .await?;
        index(m, "secure_elements", &["serial"], true).await?;

        m.create_table(
            Table::create()
                .table("secure_channels")
                .col(id("id"))
                .col(ref_id("se_id"))
                .col(ref_id("user_id"))
                .col(status("status", CHANNEL_STATUS))
                .col(opt_text("error"))
                .col(ts("opened_at"))
                .col(opt_ts("closed_at"))
                .foreign_key(&mut fk("secure_channels", "se_id", "secure_elements"))
                .foreign_key(&mut fk("secure_channels", "user_id", "users"))
                .to_owned(),
        )
        .await?;
        index(m, "secure_channels", &["se_id"], false).await
    }

    fn use_transaction(&self) -> Option<bool> {
        Some(true)
    }
}

/// Cases, the key-share table and the history of manager changes.
#[async_trait::async_trait]
impl MigrationTrait for M0003Cases {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table("cases")
                .col(id("id"))
                .col(text("name"))
                .col(status("status", CASE_STATUS))
                .col(
                    ColumnDef::new("threshold_t")
                        .integer()
                        .not_null()
                        .default(2)
                        .check(Expr::col("threshold_t").eq(2)),
                )
                .col(
                    ColumnDef::new("parties_n")
                        .integer()
                        .not_null()
                        .default(3)
                        .check(Expr::col("parties_n").eq(3)),
                )
                .col(opt_text("public_key"))
                .col(opt_text("address"))
                .col(ColumnDef::new("chain_ids").json().not_null())
                .col(opt_ts("rekey_requested_at"))
                .col(ref_id("created_by"))
                .col(ts("created_at"))
                .col(ts("updated_at"))
                .foreign_key(&mut fk("cases", "created_by", "users"))
                .to_owned(),
        )
        .await?;
        // NULLs never collide in a unique index on either engine, so draft cases coexist.
        index(m, "cases", &["public_key"], true).await?;
        index(m, "cases", &["address"], true).await?;

        // One row per (case, share index) *binding*: a manager change deactivates the old row and
        // adds a new ACTIVE one, so the table keeps who held each share when. The uniqueness of
        // DESIGN.md §6 — UNIQUE(case_id, share_index), UNIQUE(public_key, share_index) — holds
        // among ACTIVE rows, enforced by partial unique indexes (same SQL on both engines).
        // `public_key` is NULL until keygen has produced the key.
        m.create_table(
            Table::create()
                .table("key_shares")
                .col(id("id"))
                .col(ref_id("case_id"))
                .col(opt_text("public_key"))
                .col(share_index("share_index"))
                .col(ref_id("user_id"))
                .col(ref_id("se_id"))
                .col(status("status", KEY_SHARE_STATUS))
                .col(ts("created_at"))
                .col(opt_ts("deactivated_at"))
                .foreign_key(&mut fk("key_shares", "case_id", "cases"))
                .foreign_key(&mut fk("key_shares", "user_id", "users"))
                .foreign_key(&mut fk("key_shares", "se_id", "secure_elements"))
                .to_owned(),
        )
        .await?;
        raw(
            m,
            "CREATE UNIQUE INDEX uq_key_shares_case_slot ON key_shares (case_id, share_index) \
             WHERE status = 'ACTIVE'",
        )
        .await?;
        raw(
            m,
            "CREATE UNIQUE INDEX uq_key_shares_public_key_slot ON key_shares (public_key, share_index) \
             WHERE status = 'ACTIVE'",
        )
        .await?;
        index(m, "key_shares", &["se_id"], false).await?;
        index(m, "key_shares", &["user_id"], false).await?;

        m.create_table(
            Table::create()
                .table("case_manager_changes")
                .col(id("id"))
                .col(ref_id("case_id"))
                .col(share_index("share_index"))
                .col(ref_id("from_user_id"))
                .col(ref_id("to_user_id"))
                .col(ref_id("se_id"))
                .col(ref_id("pin_reset_by"))
                .col(text("reason"))
                .col(ts("at"))
                .foreign_key(&mut fk("case_manager_changes", "case_id", "cases"))
                .foreign_key(&mut fk("case_manager_changes", "from_user_id", "users"))
                .foreign_key(&mut fk("case_manager_changes", "to_user_id", "users"))
                .foreign_key(&mut fk("case_manager_changes", "se_id", "secure_elements"))
                .foreign_key(&mut fk("case_manager_changes", "pin_reset_by", "users"))
                .to_owned(),
        )
        .await?;
        index(m, "case_manager_changes", &["case_id"], false).await
    }

    fn use_transaction(&self) -> Option<bool> {
        Some(true)
    }
}

/// Keygen and signing sessions and their participants.
#[async_trait::async_trait]
impl MigrationTrait for M0004ProtocolSessions {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table("protocol_sessions")
                .col(id("id"))
                .col(status("kind", SESSION_KIND))
                .col(ref_id("case_id"))
                .col(text("execution_id"))
                .col(status("status", SESSION_STATUS))
                .col(opt_text("error"))
                .col(ts("created_at"))
                .col(opt_ts("finished_at"))
                .foreign_key(&mut fk("protocol_sessions", "case_id", "cases"))
                .to_owned(),
        )
        .await?;
        // An execution id is never reused (cggmp21's requirement; DESIGN.md §8).
        index(m, "protocol_sessions", &["execution_id"], true).await?;
        index(m, "protocol_sessions", &["case_id"], false).await?;

        m.create_table(
            Table::create()
                .table("session_participants")
                .col(ref_id("session_id"))
                .col(ref_id("user_id"))
                .col(share_index("share_index"))
                .col(ref_id("se_id"))
                .col(status("status", PARTICIPANT_STATUS))
                .col(opt_ref_id("channel_id"))
                .col(ts("at"))
                .primary_key(Index::create().col("session_id").col("share_index"))
                .foreign_key(&mut fk(
                    "session_participants",
                    "session_id",
                    "protocol_sessions",
                ))
                .foreign_key(&mut fk("session_participants", "user_id", "users"))
                .foreign_key(&mut fk("session_participants", "se_id", "secure_elements"))
                .foreign_key(&mut fk(
                    "session_participants",
                    "channel_id",
                    "secure_channels",
                ))
                .to_owned(),
        )
        .await?;
        index(m, "session_participants", &["session_id", "user_id"], true).await
    }

    fn use_transaction(&self) -> Option<bool> {
        Some(true)
    }
}

/// Imported signing requests and the signatures produced for them.
#[async_trait::async_trait]
impl MigrationTrait for M0005Signing {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table("signing_requests")
                .col(id("id"))
                .col(text("request_id"))
                .col(ref_id("case_id"))
                .col(text("tx_hash"))
                .col(ColumnDef::new("decoded").json().not_null())
                .col(status("status", SIGNING_REQUEST_STATUS))
                .col(ref_id("imported_by"))
                .col(ts("at"))
                .foreign_key(&mut fk("signing_requests", "case_id", "cases"))
                .foreign_key(&mut fk("signing_requests", "imported_by", "users"))
                .to_owned(),
        )
        .await?;
        // The envelope's request id: importing the same request twice is a replay.
        index(m, "signing_requests", &["request_id"], true).await?;
        index(m, "signing_requests", &["case_id"], false).await?;

        m.create_table(
            Table::create()
                .table("signatures")
                .col(id("id"))
                .col(ref_id("request_id"))
                .col(text("r"))
                .col(text("s"))
                .col(ColumnDef::new("v").big_integer().not_null())
                .col(ColumnDef::new("raw_signed_tx").binary().not_null())
                .col(ref_id("session_id"))
                .col(ts("at"))
                .foreign_key(&mut fk("signatures", "request_id", "signing_requests"))
                .foreign_key(&mut fk("signatures", "session_id", "protocol_sessions"))
                .to_owned(),
        )
        .await?;
        // One signature per request: a second signing run for the same request is a bug.
        index(m, "signatures", &["request_id"], true).await
    }

    fn use_transaction(&self) -> Option<bool> {
        Some(true)
    }
}

/// Events that must reach NATS, written in the same transaction as the change they announce.
#[async_trait::async_trait]
impl MigrationTrait for M0006Outbox {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table("outbox")
                .col(id("id"))
                .col(text("subject"))
                .col(text("msg_id"))
                .col(ColumnDef::new("payload").binary().not_null())
                .col(ColumnDef::new("headers").json().not_null())
                .col(ts("created_at"))
                .col(opt_ts("published_at"))
                .to_owned(),
        )
        .await?;
        // The JetStream de-duplication id (`Nats-Msg-Id`).
        index(m, "outbox", &["msg_id"], true).await?;
        index(m, "outbox", &["published_at", "created_at"], false).await
    }

    fn use_transaction(&self) -> Option<bool> {
        Some(true)
    }
}
