//! The operation log and the transaction log for auditors: filtered, paged, as JSON or CSV,
//! and verified end to end.

use auth::Action;
use chrono::{DateTime, Utc};
use online_db::LogFilter;
use poem::Request;
use poem_openapi::param::{Path, Query};
use poem_openapi::payload::{Json, PlainText};
use poem_openapi::{ApiResponse, Enum, OpenApi};

use crate::api::{state, Tag};
use crate::dto::*;
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;

/// The most records one page holds.
pub const MAX_PAGE: u64 = 1000;
/// The most records one CSV download holds.
pub const MAX_CSV: u64 = 100_000;

/// A CSV download.
#[derive(ApiResponse)]
pub enum CsvReply {
    /// The records, one per line after the header.
    #[oai(status = 200, content_type = "text/csv; charset=utf-8")]
    Ok(
        PlainText<String>,
        /// `attachment; filename=…`.
        #[oai(header = "Content-Disposition")]
        String,
    ),
}

/// The audit endpoints.
pub struct AuditApi {
    /// `None` only when the service is built to print the OpenAPI document.
    pub(crate) state: Option<AppState>,
}

/// A log's name in the path.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename_all = "lowercase")]
pub enum LogName {
    /// The operation log.
    Operations,
    /// The transaction log.
    Transactions,
}

impl From<LogName> for Log {
    fn from(name: LogName) -> Log {
        match name {
            LogName::Operations => Log::Operation,
            LogName::Transactions => Log::Transaction,
        }
    }
}

/// Which log.
#[derive(Clone, Copy)]
enum Log {
    Operation,
    Transaction,
}

impl Log {
    fn action(self) -> Action {
        match self {
            Log::Operation => Action::ViewOperationLog,
            Log::Transaction => Action::ViewTransactionLog,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Log::Operation => "operation-log",
            Log::Transaction => "transaction-log",
        }
    }
}

fn time(field: &str, value: Option<String>) -> ApiResult<Option<DateTime<Utc>>> {
    value
        .map(|v| {
            DateTime::parse_from_rfc3339(v.trim())
                .map(|t| t.with_timezone(&Utc))
                .map_err(|_| ApiError::invalid(field, "must be an RFC 3339 time"))
        })
        .transpose()
}

/// The query parameters shared by the log endpoints.
struct Params {
    user: Option<String>,
    action: Option<String>,
    from: Option<String>,
    to: Option<String>,
    account_id: Option<String>,
    tx_hash: Option<String>,
    after_seq: Option<i64>,
}

impl Params {
    fn filter(self, limit: u64) -> ApiResult<LogFilter> {
        let nonempty = |v: Option<String>| v.map(|s| s.trim().to_owned()).filter(|s| !s.is_empty());
        Ok(LogFilter {
            actor: nonempty(self.user),
            action: nonempty(self.action),
            from: time("from", self.from)?,
            to: time("to", self.to)?,
            account_id: nonempty(self.account_id),
            tx_hash: nonempty(self.tx_hash).map(|h| h.to_ascii_lowercase()),
            after_seq: self.after_seq,
            limit: Some(limit),
        })
    }
}

fn view(r: audit::Record) -> LogRecordView {
    LogRecordView {
        seq: r.seq,
        at: r.at.to_rfc3339(),
        actor: r.actor,
        action: r.action,
        object: r.object,
        details: r.details,
        hash: r.hash,
    }
}

/// One CSV cell: quoted, quotes doubled, and a leading `= + - @` (or tab, CR) neutralised so
/// a spreadsheet does not evaluate it as a formula.
fn cell(value: &str) -> String {
    let guarded = if value.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{value}")
    } else {
        value.to_owned()
    };
    format!("\"{}\"", guarded.replace('"', "\"\""))
}

/// The records as CSV with a header line.
pub fn to_csv(records: &[audit::Record]) -> String {
    let mut out = String::from("seq,at,actor,action,object,details,hash\n");
    for r in records {
        let line = [
            r.seq.to_string(),
            r.at.to_rfc3339(),
            r.actor.clone(),
            r.action.clone(),
            r.object.clone(),
            r.details.to_string(),
            r.hash.clone(),
        ]
        .iter()
        .map(|v| cell(v))
        .collect::<Vec<_>>()
        .join(",");
        out.push_str(&line);
        out.push('\n');
    }
    out
}

impl AuditApi {
    async fn records(
        &self,
        req: &Request,
        log: Log,
        params: Params,
        limit: u64,
    ) -> ApiResult<Vec<audit::Record>> {
        let st = state(&self.state)?;
        st.authorize(req, log.action()).await?;
        let filter = params.filter(limit)?;
        Ok(match log {
            Log::Operation => st.inner.db.operation_log(filter).await?,
            Log::Transaction => st.inner.db.transaction_log(filter).await?,
        })
    }

    async fn csv(&self, req: &Request, log: Log, params: Params) -> ApiResult<CsvReply> {
        // Paged internally: the repository returns at most 1000 records per query.
        let mut all: Vec<audit::Record> = Vec::new();
        let mut after = params.after_seq;
        let Params {
            user,
            action,
            from,
            to,
            account_id,
            tx_hash,
            ..
        } = params;
        loop {
            let page = self
                .records(
                    req,
                    log,
                    Params {
                        user: user.clone(),
                        action: action.clone(),
                        from: from.clone(),
                        to: to.clone(),
                        account_id: account_id.clone(),
                        tx_hash: tx_hash.clone(),
                        after_seq: after,
                    },
                    MAX_PAGE,
                )
                .await?;
            let full = u64::try_from(page.len()).unwrap_or(0) == MAX_PAGE;
            after = page.last().map(|r| r.seq).or(after);
            all.extend(page);
            if !full || u64::try_from(all.len()).unwrap_or(u64::MAX) >= MAX_CSV {
                break;
            }
        }
        Ok(CsvReply::Ok(
            PlainText(to_csv(&all)),
            format!("attachment; filename=\"{}.csv\"", log.name()),
        ))
    }
}

#[OpenApi(prefix_path = "/api")]
impl AuditApi {
    /// A log, oldest first: `operations` (logins, failed logins, balance queries, exports,
    /// imports, role changes) or `transactions` (every transfer state change). Page with
    /// `after_seq` = the last `seq` seen. Auditors only.
    #[allow(clippy::too_many_arguments, reason = "one parameter per filter")]
    #[oai(path = "/audit/logs/:log", method = "get", tag = "Tag::Audit")]
    async fn log(
        &self,
        req: &Request,
        log: Path<LogName>,
        user: Query<Option<String>>,
        action: Query<Option<String>>,
        from: Query<Option<String>>,
        to: Query<Option<String>>,
        account_id: Query<Option<String>>,
        tx_hash: Query<Option<String>>,
        after_seq: Query<Option<i64>>,
        limit: Query<Option<u64>>,
    ) -> ApiResult<Json<Vec<LogRecordView>>> {
        let params = Params {
            user: user.0,
            action: action.0,
            from: from.0,
            to: to.0,
            account_id: account_id.0,
            tx_hash: tx_hash.0,
            after_seq: after_seq.0,
        };
        let limit = limit.0.unwrap_or(100).clamp(1, MAX_PAGE);
        let records = self.records(req, log.0.into(), params, limit).await?;
        Ok(Json(records.into_iter().map(view).collect()))
    }

    /// A log as CSV: the same filters, every matching record up to 100 000.
    #[allow(clippy::too_many_arguments, reason = "one parameter per filter")]
    #[oai(path = "/audit/logs/:log/csv", method = "get", tag = "Tag::Audit")]
    async fn log_csv(
        &self,
        req: &Request,
        log: Path<LogName>,
        user: Query<Option<String>>,
        action: Query<Option<String>>,
        from: Query<Option<String>>,
        to: Query<Option<String>>,
        account_id: Query<Option<String>>,
        tx_hash: Query<Option<String>>,
    ) -> ApiResult<CsvReply> {
        let params = Params {
            user: user.0,
            action: action.0,
            from: from.0,
            to: to.0,
            account_id: account_id.0,
            tx_hash: tx_hash.0,
            after_seq: None,
        };
        self.csv(req, log.0.into(), params).await
    }

    /// Verify both logs from the first record to the last: the hash chains, every record's MAC
    /// with the online token, and the signed checkpoints (database and checkpoint directory).
    /// Auditors only.
    #[oai(path = "/audit/verify", method = "get", tag = "Tag::Audit")]
    async fn verify(&self, req: &Request) -> ApiResult<Json<VerifyView>> {
        let st = state(&self.state)?;
        st.authorize(req, Action::ViewOperationLog).await?;
        let (witnesses, unreadable) =
            web::audit_view::checkpoint_files(st.inner.checkpoint_dir.as_ref());
        let options = ::audit::VerifyOptions {
            witnesses,
            ..st.inner.db.verify_options()
        };
        let conn = st.inner.db.conn();
        let view = |report: &::audit::SealedReport, chain: &str| {
            let mut v = web::audit_view::ChainVerifyView::from(report);
            for u in unreadable.iter().filter(|u| u.source.contains(chain)) {
                v.bad_checkpoints.push(u.clone());
                v.intact = false;
            }
            v
        };
        let operation = ::audit::verify_sealed(conn, ::audit::Chain::OPERATION, &options)
            .await
            .map_err(online_db::Error::from)?;
        let transaction = ::audit::verify_sealed(conn, ::audit::Chain::TRANSACTION, &options)
            .await
            .map_err(online_db::Error::from)?;
        let operation = view(&operation, "-operation-");
        let transaction = view(&transaction, "-transaction-");
        Ok(Json(VerifyView {
            intact: operation.intact && transaction.intact,
            operation,
            transaction,
        }))
    }
}
