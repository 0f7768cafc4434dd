//! `custodyd audit verify`: walks a zone's hash chains from the first record to the last and
//! checks them against everything there is a key for (DESIGN.md §14):
//!
//! - the hash chain itself (always): a record edited, deleted or moved breaks it;
//! - every record's MAC, with the zone's HSM (`--hsm-*` / `--export-key-*`): a record rewritten
//!   or appended by someone without the HSM is named;
//! - signed checkpoints (public keys only, `--checkpoint-key`): the checkpoint files of a
//!   checkpoint directory (`--checkpoints`), the checkpoints the other zone keeps as a witness
//!   (`--peer-witness`), and those stored in the database itself; a chain that no longer reaches
//!   a checkpoint (truncated, wiped), or reaches it with another value (rewritten), is named with
//!   the checkpoint, and so is an edited checkpoint or one signed by another key.
//!
//! The offline zone keeps one chain (`audit`), the online zone two (`operation`,
//! `transaction`); without `--chain` every chain present in the database is verified. It says
//! what it could not cover (no HSM: MACs unchecked; records after the newest checkpoint).
//! Read-only: it never migrates or writes a database. Exit 0: intact; 3: broken (the first
//! broken record or checkpoint is named); 1: the verification could not run.

use std::path::PathBuf;

use anyhow::Context;
use audit::{Chain, CheckpointDir, VerifyOptions, Witness, Zone};
use sea_orm::{
    ConnectOptions, ConnectionTrait, Database, DatabaseConnection, DbBackend, Statement,
};

/// Options of `custodyd audit`.
#[derive(clap::Subcommand)]
pub enum AuditCommand {
    /// Verify a zone's audit chains (hashes, MACs with the HSM, signed checkpoints with public
    /// keys); exits 0 when intact, 3 when broken.
    Verify(VerifyArgs),
}

/// Options of `custodyd audit verify`.
#[derive(clap::Args)]
pub struct VerifyArgs {
    /// The zone's database: a SQLite file path, or a sqlite:// or postgres:// URL.
    #[arg(long)]
    db: String,
    /// Only this chain: `audit` (offline), `operation` or `transaction` (online).
    #[arg(long)]
    chain: Option<String>,
    /// A checkpoint directory or file to check the chain against; repeat for several.
    #[arg(long = "checkpoints", value_name = "DIR|FILE")]
    checkpoints: Vec<PathBuf>,
    /// The other zone's database: the checkpoints of this zone it keeps as a witness (received
    /// inside this zone's exported envelopes) are checked too.
    #[arg(long, value_name = "DB")]
    peer_witness: Option<String>,
    /// The zone's audit-checkpoint public key (hex SEC1, as `offline-admin hsm-keys` or
    /// `online-admin provision-export-key` printed it): only checkpoints signed by it count.
    #[arg(long, value_name = "HEX")]
    checkpoint_key: Option<String>,
    /// Do not check the checkpoints stored in the database itself.
    #[arg(long)]
    ignore_db_checkpoints: bool,
    /// PKCS#11 module of the zone's HSM (offline HSM, or online token): with it, every record's
    /// MAC is checked and the checkpoint key is read from the token.
    #[arg(long, value_name = "PATH")]
    hsm_module: Option<PathBuf>,
    /// Label of the zone's HSM token.
    #[arg(long, value_name = "LABEL")]
    hsm_token: Option<String>,
    /// File holding the token's user PIN.
    #[arg(long, value_name = "PATH")]
    hsm_pin_file: Option<PathBuf>,
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

async fn open(db: &str) -> anyhow::Result<DatabaseConnection> {
    let mut options = ConnectOptions::new(read_only_url(db));
    options.sqlx_logging(false);
    Database::connect(options)
        .await
        .map_err(|e| anyhow::anyhow!("cannot open the database {db}: {e}"))
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

/// The zone's MAC key and checkpoint public key, read from its token.
struct TokenKeys {
    mac: std::sync::Arc<dyn channel::MacKey>,
    checkpoint: p256::PublicKey,
}

async fn open_token(args: &VerifyArgs, zone: Zone) -> anyhow::Result<Option<TokenKeys>> {
    let (Some(module), Some(token), Some(pin_file)) = (
        args.hsm_module.clone(),
        args.hsm_token.clone(),
        args.hsm_pin_file.clone(),
    ) else {
        anyhow::ensure!(
            args.hsm_module.is_none() && args.hsm_token.is_none() && args.hsm_pin_file.is_none(),
            "give all three of --hsm-module, --hsm-token and --hsm-pin-file, or none"
        );
        return Ok(None);
    };
    let pin = web::config::read_secret_file(&pin_file)?;
    let keys = tokio::task::spawn_blocking(move || -> anyhow::Result<TokenKeys> {
        let module = p11::Module::load(&module)?;
        let selector = hsm::TokenSelector::Label(token);
        Ok(match zone {
            Zone::Offline => {
                let hsm = hsm::Hsm::open(&module, &selector, &pin)?;
                TokenKeys {
                    checkpoint: hsm.audit_public_key(),
                    mac: std::sync::Arc::new(hsm.audit_mac_key()),
                }
            }
            Zone::Online => {
                let token = hsm::OnlineHsm::open(&module, &selector, &pin)?;
                TokenKeys {
                    checkpoint: token.checkpoint_public_key(),
                    mac: std::sync::Arc::new(token.audit_mac_key()),
                }
            }
        })
    })
    .await?
    .with_context(|| format!("cannot open the {zone} zone's token"))?;
    Ok(Some(keys))
}

fn parse_key(hex_key: &str) -> anyhow::Result<p256::PublicKey> {
    let bytes = hex::decode(hex_key.trim().trim_start_matches("0x"))
        .context("--checkpoint-key is not hex")?;
    p256::PublicKey::from_sec1_bytes(&bytes)
        .map_err(|_| anyhow::anyhow!("--checkpoint-key is not a P-256 public key (hex SEC1)"))
}

/// Runs the command and returns the process exit code.
pub async fn run(command: AuditCommand) -> anyhow::Result<u8> {
    match command {
        AuditCommand::Verify(args) => verify(args).await,
    }
}

async fn verify(args: VerifyArgs) -> anyhow::Result<u8> {
    let conn = open(&args.db).await?;
    let mut present = Vec::new();
    for c in Chain::ALL {
        if has_table(&conn, c.log_table()).await? {
            present.push(c);
        }
    }
    anyhow::ensure!(
        !present.is_empty(),
        "{} holds no audit chain (no audit_log, operation_log or transaction_log table); is it a custody database?",
        args.db
    );
    let zone = if present.contains(&Chain::AUDIT) {
        Zone::Offline
    } else {
        Zone::Online
    };
    let chains = match args.chain.as_deref() {
        Some(name) => {
            let c = Chain::by_name(name).ok_or_else(|| {
                anyhow::anyhow!("unknown chain {name}; use audit, operation or transaction")
            })?;
            anyhow::ensure!(
                present.contains(&c),
                "{} has no {name} chain (it is an {zone} zone database)",
                args.db
            );
            vec![c]
        }
        None => present,
    };
    let token = open_token(&args, zone).await?;
    let mut checkpoint_key = match &args.checkpoint_key {
        Some(k) => Some(parse_key(k)?),
        None => None,
    };
    if let Some(t) = &token {
        if let Some(given) = checkpoint_key {
            anyhow::ensure!(
                given == t.checkpoint,
                "--checkpoint-key is not the checkpoint key of the given token"
            );
        }
        checkpoint_key = Some(t.checkpoint);
    }

    let mut witnesses = Vec::new();
    let mut unreadable = Vec::new();
    for path in &args.checkpoints {
        for loaded in CheckpointDir::read(path)? {
            match loaded.checkpoint {
                Ok(checkpoint) => witnesses.push(Witness {
                    source: loaded.path.display().to_string(),
                    checkpoint,
                }),
                Err(reason) => unreadable.push((loaded.path, reason)),
            }
        }
    }
    if let Some(peer) = &args.peer_witness {
        let peer_conn = open(peer).await?;
        for checkpoint in audit::witnessed(&peer_conn, zone).await? {
            witnesses.push(Witness {
                source: format!("witness in {peer}"),
                checkpoint,
            });
        }
    }
    let options = VerifyOptions {
        zone: Some(zone),
        mac_key: token.as_ref().map(|t| t.mac.clone()),
        checkpoint_key,
        witnesses,
        stored_checkpoints: !args.ignore_db_checkpoints,
    };

    let mut code = 0;
    for (path, reason) in &unreadable {
        println!(
            "checkpoint file {} is BROKEN: it does not hold a checkpoint ({reason})",
            path.display()
        );
        code = BROKEN;
    }
    println!("{zone} zone database {}", args.db);
    for chain in chains {
        let report = audit::verify_sealed(&conn, chain, &options).await?;
        let authenticated = report
            .checkpoints
            .iter()
            .filter(|c| c.authenticated)
            .count();
        match (&report.first_broken, report.first_bad_checkpoint()) {
            (None, None) => println!(
                "{} chain intact: {} record(s) verified, {}; {} checkpoint(s) reached ({} authenticated)",
                report.chain,
                report.records,
                match report.macs {
                    audit::MacCoverage::Verified(n) => format!("{n} MAC(s) verified by the HSM"),
                    audit::MacCoverage::NotChecked => "MACs not checked".to_owned(),
                },
                report.checkpoints.len(),
                authenticated
            ),
            (broken, bad) => {
                code = BROKEN;
                if let Some(broken) = broken {
                    println!(
                        "{} chain BROKEN at {broken}; {} record(s) before it verified",
                        report.chain, report.records
                    );
                }
                for c in report.checkpoints.iter().filter(|c| c.problem.is_some()) {
                    if let Some(problem) = &c.problem {
                        println!(
                            "{} chain BROKEN: checkpoint at record {} ({}): {problem}",
                            report.chain, c.seq, c.source
                        );
                    }
                }
                if broken.is_none() && bad.is_none() {
                    println!("{} chain BROKEN", report.chain);
                }
            }
        }
        if let Some(newest) = report.newest_good_checkpoint() {
            println!(
                "  newest authenticated checkpoint: record {} ({})",
                newest.seq, newest.source
            );
        }
        for note in report.not_covered() {
            println!("  not covered: {note}");
        }
    }
    Ok(code)
}
