//! The online zone's migration steps, in order. Never edit a released step; add a new one.

use sea_orm_migration::prelude::*;

use crate::schema::{
    amount, chain_id, create_processed_messages, create_sign_in_tables, fk, flag, id, index,
    opt_ref_id, opt_text, opt_ts, ref_id, status, text, ts,
};
use crate::statuses::*;

/// Declare a forward-only step with its name.
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
step!(M0002Accounts, "m0002_accounts");
step!(M0003Policies, "m0003_policies");
step!(M0004Transfers, "m0004_transfers");
step!(M0005Outbox, "m0005_outbox");
step!(M0006Logs, "m0006_logs");

/// A required non-negative integer.
fn counter(name: &'static str) -> ColumnDef {
    ColumnDef::new(name)
        .big_integer()
        .not_null()
        .check(Expr::col(name).gte(0))
        .to_owned()
}

/// Users, their web sessions and login attempts (the offline zone's shape, with this zone's
/// roles).
#[async_trait::async_trait]
impl MigrationTrait for M0001Users {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table("users")
                .col(id("id"))
                .col(text("username"))
                .col(text("display_name"))
                .col(text("password_hash"))
                .col(status("role", USER_ROLE))
                .col(status("status", USER_STATUS))
                .col(
                    ColumnDef::new("failed_logins")
                        .integer()
                        .not_null()
                        .default(0)
                        .check(Expr::col("failed_logins").gte(0)),
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

/// Custody accounts imported from account manifests, which traders may use them, and the
/// configured ERC-20 tokens.
#[async_trait::async_trait]
impl MigrationTrait for M0002Accounts {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table("accounts")
                .col(id("id"))
                .col(text("address"))
                .col(text("case_ref"))
                .col(text("public_key"))
                .col(chain_id("chain_id"))
                .col(text("label"))
                .col(text("manifest_id"))
                .col(text("manifest_hash"))
                .col(ref_id("imported_by"))
                .col(ts("created_at"))
                .foreign_key(&mut fk("accounts", "imported_by", "users"))
                .to_owned(),
        )
        .await?;
        // One account per address: a second manifest naming it is refused, not merged.
        index(m, "accounts", &["address"], true).await?;
        index(m, "accounts", &["case_ref"], false).await?;

        m.create_table(
            Table::create()
                .table("account_permissions")
                .col(ref_id("account_id"))
                .col(ref_id("user_id"))
                .col(ref_id("granted_by"))
                .col(ts("granted_at"))
                .primary_key(Index::create().col("account_id").col("user_id"))
                .foreign_key(&mut fk("account_permissions", "account_id", "accounts"))
                .foreign_key(&mut fk("account_permissions", "user_id", "users"))
                .foreign_key(&mut fk("account_permissions", "granted_by", "users"))
                .to_owned(),
        )
        .await?;
        index(m, "account_permissions", &["user_id"], false).await?;

        m.create_table(
            Table::create()
                .table("tokens")
                .col(id("id"))
                .col(chain_id("chain_id"))
                .col(text("address"))
                .col(text("symbol"))
                .col(
                    ColumnDef::new("decimals")
                        .integer()
                        .not_null()
                        .check(Expr::col("decimals").between(0, 77)),
                )
                .col(ts("created_at"))
                .to_owned(),
        )
        .await?;
        index(m, "tokens", &["chain_id", "address"], true).await?;
        index(m, "tokens", &["chain_id", "symbol"], true).await
    }

    fn use_transaction(&self) -> Option<bool> {
        Some(true)
    }
}

/// Per-account, per-asset limits and the optional destination allow-list.
#[async_trait::async_trait]
impl MigrationTrait for M0003Policies {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table("policies")
                .col(id("id"))
                .col(ref_id("account_id"))
                // `ETH` or the token's checksummed address.
                .col(text("asset"))
                .col(amount("single_limit"))
                .col(amount("daily_limit"))
                .col(flag("require_approval"))
                .col(ref_id("updated_by"))
                .col(ts("updated_at"))
                .foreign_key(&mut fk("policies", "account_id", "accounts"))
                .foreign_key(&mut fk("policies", "updated_by", "users"))
                .to_owned(),
        )
        .await?;
        index(m, "policies", &["account_id", "asset"], true).await?;

        // When an account has at least one row here, transfers from it may go only to these
        // addresses.
        m.create_table(
            Table::create()
                .table("destination_allowlist")
                .col(id("id"))
                .col(ref_id("account_id"))
                .col(text("address"))
                .col(text("label"))
                .col(ref_id("added_by"))
                .col(ts("added_at"))
                .foreign_key(&mut fk("destination_allowlist", "account_id", "accounts"))
                .foreign_key(&mut fk("destination_allowlist", "added_by", "users"))
                .to_owned(),
        )
        .await?;
        index(m, "destination_allowlist", &["account_id", "address"], true).await
    }

    fn use_transaction(&self) -> Option<bool> {
        Some(true)
    }
}

/// Transfers and the signature responses imported for them.
#[async_trait::async_trait]
impl MigrationTrait for M0004Transfers {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table("transfers")
                .col(id("id"))
                .col(ref_id("account_id"))
                .col(chain_id("chain_id"))
                // `ETH` or the token's checksummed address.
                .col(text("asset"))
                .col(text("to_address"))
                .col(amount("amount"))
                .col(counter("nonce"))
                .col(counter("gas_limit"))
                .col(amount("max_fee_per_gas"))
                .col(amount("max_priority_fee_per_gas"))
                .col(ColumnDef::new("unsigned_tx").binary().not_null())
                .col(text("signing_hash"))
                // The exported SigningRequest envelope id; NULL until exported.
                .col(opt_text("request_id"))
                .col(status("status", TRANSFER_STATUS))
                .col(ref_id("created_by"))
                .col(opt_ref_id("approved_by"))
                .col(opt_ts("approved_at"))
                .col(ColumnDef::new("signed_tx").binary().null())
                .col(opt_text("tx_hash"))
                .col(ColumnDef::new("block_number").big_integer().null())
                .col(opt_text("block_hash"))
                .col(counter("confirmations").default(0).to_owned())
                .col(opt_text("error"))
                .col(ts("created_at"))
                .col(ts("updated_at"))
                // Maker-checker: nobody approves their own transfer, even by a direct edit.
                .check(Expr::cust(
                    "approved_by IS NULL OR approved_by <> created_by",
                ))
                .foreign_key(&mut fk("transfers", "account_id", "accounts"))
                .foreign_key(&mut fk("transfers", "created_by", "users"))
                .foreign_key(&mut fk("transfers", "approved_by", "users"))
                .to_owned(),
        )
        .await?;
        // NULLs never collide in a unique index on either engine, so drafts coexist.
        index(m, "transfers", &["request_id"], true).await?;
        index(m, "transfers", &["tx_hash"], true).await?;
        index(m, "transfers", &["account_id", "status"], false).await?;
        index(
            m,
            "transfers",
            &["account_id", "asset", "created_at"],
            false,
        )
        .await?;
        index(m, "transfers", &["status", "updated_at"], false).await?;

        m.create_table(
            Table::create()
                .table("imported_responses")
                .col(id("id"))
                // The SignatureResponse envelope id: a second import is a replay.
                .col(text("response_id"))
                .col(text("request_id"))
                .col(ref_id("transfer_id"))
                .col(ref_id("imported_by"))
                .col(ts("at"))
                .foreign_key(&mut fk("imported_responses", "transfer_id", "transfers"))
                .foreign_key(&mut fk("imported_responses", "imported_by", "users"))
                .to_owned(),
        )
        .await?;
        index(m, "imported_responses", &["response_id"], true).await?;
        index(m, "imported_responses", &["transfer_id"], false).await
    }

    fn use_transaction(&self) -> Option<bool> {
        Some(true)
    }
}

/// Events that must reach RabbitMQ, written in the same transaction as the change they
/// announce, and the consumers' idempotency table.
#[async_trait::async_trait]
impl MigrationTrait for M0005Outbox {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table("outbox")
                .col(id("id"))
                // The routing key on the `custody.online` topic exchange, e.g. `broadcast`.
                .col(text("routing_key"))
                // The AMQP `message-id`; consumers de-duplicate by it.
                .col(text("msg_id"))
                .col(ColumnDef::new("payload").binary().not_null())
                .col(ColumnDef::new("headers").json().not_null())
                .col(ts("created_at"))
                .col(opt_ts("published_at"))
                .to_owned(),
        )
        .await?;
        index(m, "outbox", &["msg_id"], true).await?;
        index(m, "outbox", &["published_at", "created_at"], false).await?;

        // A consumer claims a message id here in the same transaction as its effect; the
        // primary key makes a second claim insert nothing.
        create_processed_messages(m).await
    }

    fn use_transaction(&self) -> Option<bool> {
        Some(true)
    }
}

/// The two hash-chained logs: operations (logins, role changes, imports, exports, balance
/// queries) and transactions (every transfer state change).
#[async_trait::async_trait]
impl MigrationTrait for M0006Logs {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        audit::migration::create_chain(m, audit::Chain::OPERATION).await?;
        audit::migration::create_chain(m, audit::Chain::TRANSACTION).await
    }

    fn use_transaction(&self) -> Option<bool> {
        Some(true)
    }
}
