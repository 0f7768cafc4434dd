//! The two hash-chained logs and their queries.
//!
//! Conventions that make the filters work: a record about an account carries `account_id` in
//! its details, and a record about a transfer carries `transfer_id` and `account_id` (and
//! `tx_hash` once known). The object of a transaction-log record is the transfer id.

use audit::{details_field, Chain, Filter};
use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Condition, ExprTrait, Query};
use serde::{Deserialize, Serialize};

use crate::{Db, Result};

/// Append a record to the operation log inside `txn` (the caller's transaction: if this fails,
/// the caller's change must not be committed).
pub async fn record_operation(
    txn: &audit::Tx,
    now: DateTime<Utc>,
    actor: &str,
    action: &str,
    object: &str,
    details: serde_json::Value,
) -> Result<audit::Record> {
    record(txn, Chain::OPERATION, now, actor, action, object, details).await
}

/// Append a record to the transaction log inside `txn` (same contract as
/// [`record_operation`]).
pub async fn record_transaction(
    txn: &audit::Tx,
    now: DateTime<Utc>,
    actor: &str,
    action: &str,
    object: &str,
    details: serde_json::Value,
) -> Result<audit::Record> {
    record(txn, Chain::TRANSACTION, now, actor, action, object, details).await
}

async fn record(
    txn: &audit::Tx,
    chain: Chain,
    now: DateTime<Utc>,
    actor: &str,
    action: &str,
    object: &str,
    details: serde_json::Value,
) -> Result<audit::Record> {
    Ok(audit::append_to(
        txn,
        chain,
        audit::Entry {
            at: now,
            actor: actor.to_owned(),
            action: action.to_owned(),
            object: object.to_owned(),
            details,
        },
    )
    .await?)
}

/// Filters for the log queries; every field is optional and they combine with AND.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct LogFilter {
    /// Only records by this user (or service).
    pub actor: Option<String>,
    /// Only records of this action, e.g. `transfer.signed`.
    pub action: Option<String>,
    /// Only records at or after this time.
    pub from: Option<DateTime<Utc>>,
    /// Only records before this time.
    pub to: Option<DateTime<Utc>>,
    /// Only records about this account (or a transfer from it).
    pub account_id: Option<String>,
    /// Only records about the transfer with this transaction hash (all of its history), or
    /// naming this hash.
    pub tx_hash: Option<String>,
    /// Only records after this sequence number (paging: pass the last `seq` seen).
    pub after_seq: Option<i64>,
    /// At most this many records (default 100, at most 1000).
    pub limit: Option<u64>,
}

/// The outcome of verifying both logs.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogsReport {
    /// The operation log.
    pub operation: audit::SealedReport,
    /// The transaction log.
    pub transaction: audit::SealedReport,
}

impl LogsReport {
    /// Whether both chains verified.
    pub fn is_intact(&self) -> bool {
        self.operation.is_intact() && self.transaction.is_intact()
    }
}

impl Db {
    /// Records of the operation log matching `filter`, in chain order.
    pub async fn operation_log(&self, filter: LogFilter) -> Result<Vec<audit::Record>> {
        self.log(Chain::OPERATION, filter).await
    }

    /// Records of the transaction log matching `filter`, in chain order.
    pub async fn transaction_log(&self, filter: LogFilter) -> Result<Vec<audit::Record>> {
        self.log(Chain::TRANSACTION, filter).await
    }

    async fn log(&self, chain: Chain, filter: LogFilter) -> Result<Vec<audit::Record>> {
        let mut extra = Condition::all();
        if let Some(account) = filter.account_id {
            extra = extra.add(details_field("account_id").eq(account));
        }
        if let Some(hash) = filter.tx_hash {
            let mut transfer_ids = Query::select();
            transfer_ids
                .column("id")
                .from("transfers")
                .and_where(sea_orm::sea_query::Expr::col("tx_hash").eq(hash.clone()));
            extra = extra.add(
                Condition::any()
                    .add(details_field("transfer_id").in_subquery(transfer_ids))
                    .add(details_field("tx_hash").eq(hash)),
            );
        }
        let base = Filter {
            actor: filter.actor,
            action: filter.action,
            object: None,
            from: filter.from,
            to: filter.to,
            after_seq: filter.after_seq,
            limit: filter.limit,
        };
        Ok(audit::query_in_where(self.conn(), chain, base, extra).await?)
    }

    /// Verify both chains from the first record to the last: hashes, every record's MAC (with
    /// the token) and the checkpoints stored in the database (against the token's checkpoint
    /// key).
    pub async fn verify_logs(&self) -> Result<LogsReport> {
        let options = self.verify_options();
        Ok(LogsReport {
            operation: audit::verify_sealed(self.conn(), Chain::OPERATION, &options).await?,
            transaction: audit::verify_sealed(self.conn(), Chain::TRANSACTION, &options).await?,
        })
    }

    /// The newest checkpoint of each log (operation, transaction), if any.
    pub async fn latest_checkpoints(&self) -> Result<Vec<audit::AuditCheckpoint>> {
        let mut out = Vec::new();
        for chain in crate::CHAINS {
            if let Some(c) = audit::latest_checkpoint(self.conn(), chain).await? {
                out.push(c);
            }
        }
        Ok(out)
    }
}
