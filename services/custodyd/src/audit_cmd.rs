//! `custodyd audit verify`: walks a zone's audit chain from the first record to the last and
//! names the first broken record. Read-only: it never migrates or writes the database.

use sea_orm::{ConnectOptions, Database};

/// Options of `custodyd audit`.
#[derive(clap::Subcommand)]
pub enum AuditCommand {
    /// Verify the hash chain of the audit log; exits 0 when intact, 3 when broken.
    Verify {
        /// The zone's database: a SQLite file path, or a sqlite:// or postgres:// URL.
        #[arg(long)]
        db: String,
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

/// Runs the command and returns the process exit code.
pub async fn run(command: AuditCommand) -> anyhow::Result<u8> {
    match command {
        AuditCommand::Verify { db } => {
            let mut options = ConnectOptions::new(read_only_url(&db));
            options.sqlx_logging(false);
            let conn = Database::connect(options)
                .await
                .map_err(|e| anyhow::anyhow!("cannot open the database {db}: {e}"))?;
            let report = audit::verify(&conn).await?;
            match report.first_broken {
                None => {
                    println!("audit chain intact: {} record(s) verified", report.records);
                    Ok(0)
                }
                Some(broken) => {
                    println!(
                        "audit chain BROKEN at {broken}; {} record(s) before it verified",
                        report.records
                    );
                    Ok(BROKEN)
                }
            }
        }
    }
}
