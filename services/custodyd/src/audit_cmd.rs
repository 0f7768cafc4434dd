//! `custodyd audit verify`: walks a zone's hash chains from the first record to the last and
//! names the first broken record. The offline zone keeps one chain (`audit`), the online zone
//! two (`operation`, `transaction`); without `--chain` every chain present in the database is
//! verified. Read-only: it never migrates or writes the database.

use audit::Chain;
use sea_orm::{
    ConnectOptions, ConnectionTrait, Database, DatabaseConnection, DbBackend, Statement,
};

/// Options of `custodyd audit`.
#[derive(clap::Subcommand)]
pub enum AuditCommand {
    /// Verify the hash chain of the audit log; exits 0 when intact, 3 when broken.
    Verify {
        /// The zone's database: a SQLite file path, or a sqlite:// or postgres:// URL.
        #[arg(long)]
        db: String,
        /// Only this chain: `audit` (offline), `operation` or `transaction` (online).
        #[arg(long)]
        chain: Option<String>,
    },
}

/// Exit code for a broken chain, distinct from usage (2) and operational (1) errors.
pub const BROKEN: u8 = 3;

/// A plain path means a SQLite file; it is opened read-only.
fn read_only_url(db: &str) -> String {
    if db.starts_with("sqlite:") || db.starts_with("postgres:") || db.starts_with("postgresql:") {
        db.to_owned()
    } else {
        format!("sqlite://{db}?mode=ro")
    }
}

/// Whether the database has `table` (the chains a zone keeps are the tables it has).
async fn has_table(conn: &DatabaseConnection, table: &str) -> anyhow::Result<bool> {
    let backend = conn.get_database_backend();
    let sql = match backend {
        DbBackend::Sqlite => {
            "SELECT COUNT(*) AS n FROM sqlite_master WHERE type = 'table' AND name = $1"
        }
        _ => "SELECT COUNT(*) AS n FROM information_schema.tables WHERE table_name = $1",
    };
    let row = conn
        .query_one_raw(Statement::from_sql_and_values(backend, sql, [table.into()]))
        .await?;
    Ok(row
        .map(|r| r.try_get::<i64>("", "n"))
        .transpose()?
        .unwrap_or(0)
        > 0)
}

/// Runs the command and returns the process exit code.
pub async fn run(command: AuditCommand) -> anyhow::Result<u8> {
    match command {
        AuditCommand::Verify { db, chain } => {
            let mut options = ConnectOptions::new(read_only_url(&db));
            options.sqlx_logging(false);
            let conn = Database::connect(options)
                .await
                .map_err(|e| anyhow::anyhow!("cannot open the database {db}: {e}"))?;
            let chains = match chain.as_deref() {
                Some(name) => vec![Chain::by_name(name).ok_or_else(|| {
                    anyhow::anyhow!("unknown chain {name}; use audit, operation or transaction")
                })?],
                None => {
                    let mut present = Vec::new();
                    for c in Chain::ALL {
                        if has_table(&conn, c.log_table()).await? {
                            present.push(c);
                        }
                    }
                    anyhow::ensure!(
                        !present.is_empty(),
                        "{db} holds no audit chain (no audit_log, operation_log or transaction_log table); is it a custody database?"
                    );
                    present
                }
            };
            let mut code = 0;
            for c in chains {
                let report = audit::verify_chain(&conn, c).await?;
                match report.first_broken {
                    None => println!(
                        "{} chain intact: {} record(s) verified",
                        c.name(),
                        report.records
                    ),
                    Some(broken) => {
                        println!(
                            "{} chain BROKEN at {broken}; {} record(s) before it verified",
                            c.name(),
                            report.records
                        );
                        code = BROKEN;
                    }
                }
            }
            Ok(code)
        }
    }
}
