//! `custodyd chain-worker`: the online zone's broadcaster and tracker (RabbitMQ consumer of
//! `broadcast` and `track` work, outbox relay, alloy against a JSON-RPC node).

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;

/// Where the online zone's token is: what every command that writes the online logs needs (its
/// MAC key seals each record and event; the worker also verifies the events it consumes).
#[derive(clap::Args, Clone, Debug)]
pub struct TokenArgs {
    /// PKCS#11 module of the online token.
    #[arg(long)]
    export_key_module: PathBuf,
    /// Label of the online token.
    #[arg(long)]
    export_key_token: String,
    /// File holding the online token's user PIN.
    #[arg(long)]
    export_key_pin_file: PathBuf,
}

impl TokenArgs {
    /// Open the token (a blocking PKCS#11 login, off the async threads).
    pub async fn open(&self) -> anyhow::Result<hsm::OnlineHsm> {
        let pin = web_pin(&self.export_key_pin_file)?;
        let module = self.export_key_module.clone();
        let token = self.export_key_token.clone();
        tokio::task::spawn_blocking(move || -> anyhow::Result<hsm::OnlineHsm> {
            let module = p11::Module::load(&module)?;
            Ok(hsm::OnlineHsm::open(
                &module,
                &hsm::TokenSelector::Label(token),
                &pin,
            )?)
        })
        .await?
        .context("the online token could not be opened")
    }
}

/// Options of `custodyd chain-worker`.
#[derive(clap::Args)]
pub struct ChainWorkerArgs {
    /// The online database: a SQLite file path, or a sqlite:// or postgres:// URL.
    #[arg(long)]
    db: String,
    /// The online token: its MAC key seals the worker's log records and events and verifies
    /// every message it consumes.
    #[command(flatten)]
    token: TokenArgs,
    /// A checkpoint of each log every this many records.
    #[arg(long, default_value_t = audit::CheckpointPolicy::default().every_records)]
    checkpoint_every_records: u64,
    /// RabbitMQ URL.
    #[arg(long, default_value = "amqp://guest:guest@127.0.0.1:5672/%2f")]
    amqp: String,
    /// The Ethereum node's JSON-RPC URL.
    #[arg(long, default_value = "http://127.0.0.1:8545")]
    rpc_url: String,
    /// The chain id the node must serve.
    #[arg(long)]
    chain_id: u64,
    /// Blocks (the transaction's own included) after which a transfer is CONFIRMED.
    #[arg(long, default_value_t = 12)]
    confirmations: u64,
    /// Milliseconds between two looks at a tracked transaction.
    #[arg(long, default_value_t = 2000)]
    poll_interval_ms: u64,
}

/// Runs the chain worker until Ctrl-C / SIGTERM.
pub async fn run_chain_worker(args: ChainWorkerArgs) -> anyhow::Result<()> {
    let token = args.token.open().await?;
    let policy = audit::CheckpointPolicy {
        every_records: args.checkpoint_every_records,
        ..audit::CheckpointPolicy::default()
    };
    let mut config = chain_worker::Config::new(
        offline_api::config::db_url(&args.db),
        online_db::sealer(&token, policy),
        args.amqp,
        args.rpc_url,
        args.chain_id,
    );
    config.confirmations = args.confirmations;
    config.poll_interval = Duration::from_millis(args.poll_interval_ms);
    println!(
        "chain worker for chain {} ({} confirmations)",
        config.chain_id, config.confirmations
    );
    chain_worker::run(config, crate::offline_cmd::shutdown_signal()).await?;
    Ok(())
}

/// Options of `custodyd online-api`. Each flag overrides the configuration file and the
/// `CUSTODY_ONLINE__…` environment; without a file, the flags must name everything required.
#[derive(clap::Args)]
pub struct OnlineApiArgs {
    /// TOML configuration file (see ops/online-api.example.toml).
    #[arg(long)]
    config: Option<std::path::PathBuf>,
    /// Database: a SQLite file path, or a sqlite:// or postgres:// URL.
    #[arg(long)]
    db: Option<String>,
    /// Listen address, e.g. 127.0.0.1:8080.
    #[arg(long)]
    listen: Option<String>,
    /// RabbitMQ URL (reported by /api/health; the chain worker consumes the work).
    #[arg(long)]
    amqp: Option<String>,
    /// The Ethereum node's JSON-RPC URL.
    #[arg(long)]
    rpc_url: Option<String>,
    /// The chain id the node must serve.
    #[arg(long)]
    chain_id: Option<u64>,
    /// PKCS#11 module of the export-key token.
    #[arg(long)]
    export_key_module: Option<std::path::PathBuf>,
    /// Label of the export-key token.
    #[arg(long)]
    export_key_token: Option<String>,
    /// File holding the export-key token's user PIN.
    #[arg(long)]
    export_key_pin_file: Option<std::path::PathBuf>,
    /// A pinned offline HSM envelope key (hex SEC1); repeat for several.
    #[arg(long = "offline-key")]
    offline_keys: Vec<String>,
    /// The built web front end to serve beside the API (web/online/dist).
    #[arg(long)]
    web_dir: Option<std::path::PathBuf>,
    /// Print the effective configuration (it holds no secret: the PIN is a file path) and exit.
    #[arg(long)]
    print_config: bool,
}

fn online_config(args: &OnlineApiArgs) -> anyhow::Result<online_api::Config> {
    #[allow(
        clippy::disallowed_methods,
        reason = "configuration is where the environment is read"
    )]
    let mut pairs: Vec<(String, String)> = std::env::vars().collect();
    let prefix = online_api::config::ENV_PREFIX;
    let mut flag = |key: &str, value: Option<String>| {
        if let Some(v) = value {
            pairs.push((format!("{prefix}{key}"), v));
        }
    };
    flag("LISTEN", args.listen.clone());
    flag("DB", args.db.clone());
    flag("AMQP", args.amqp.clone());
    flag(
        "WEB_DIR",
        args.web_dir.as_ref().map(|p| p.display().to_string()),
    );
    flag("RPC_URL", args.rpc_url.clone());
    flag(
        "EXPORT_KEY__MODULE",
        args.export_key_module
            .as_ref()
            .map(|p| p.display().to_string()),
    );
    flag("EXPORT_KEY__TOKEN_LABEL", args.export_key_token.clone());
    flag(
        "EXPORT_KEY__PIN_FILE",
        args.export_key_pin_file
            .as_ref()
            .map(|p| p.display().to_string()),
    );
    if let Some(id) = args.chain_id {
        pairs.push((format!("{prefix}CHAIN_ID"), id.to_string()));
    }
    if !args.offline_keys.is_empty() {
        let list: Vec<String> = args.offline_keys.iter().map(|k| toml_string(k)).collect();
        pairs.push((
            format!("{prefix}OFFLINE_KEYS"),
            format!("[{}]", list.join(", ")),
        ));
    }
    Ok(online_api::Config::load_with_env(
        args.config.as_deref(),
        pairs,
    )?)
}

fn toml_string(value: &str) -> String {
    toml::Value::String(value.to_owned()).to_string()
}

/// Runs the online API until Ctrl-C / SIGTERM.
pub async fn run_online_api(args: OnlineApiArgs) -> anyhow::Result<()> {
    let config = online_config(&args)?;
    if args.print_config {
        print!("{}", toml::to_string_pretty(&config)?);
        return Ok(());
    }
    println!(
        "online API on http://{} for chain {} (docs at /api/docs)",
        config.listen, config.chain_id
    );
    online_api::run(config, crate::offline_cmd::shutdown_signal()).await?;
    Ok(())
}

/// `custodyd online-admin` subcommands.
#[derive(clap::Subcommand)]
pub enum OnlineAdminCommand {
    /// Create an administrator. The password is read from standard input (without echo on a
    /// terminal).
    Create {
        /// The online database: a SQLite file path, or a sqlite:// or postgres:// URL.
        #[arg(long)]
        db: String,
        /// The online token (its MAC key seals the record of the creation).
        #[command(flatten)]
        token: TokenArgs,
        /// Login name.
        #[arg(long)]
        username: String,
        /// Name shown in the UI.
        #[arg(long)]
        display_name: String,
    },
    /// Generate the online zone's keys on an initialised PKCS#11 token (once; existing keys are
    /// never replaced): the export key, the audit-checkpoint key and the audit MAC key; print
    /// the public keys to pin (the export key in the offline zone, the checkpoint key for
    /// auditors).
    ProvisionExportKey {
        /// PKCS#11 module.
        #[arg(long)]
        module: std::path::PathBuf,
        /// Token label.
        #[arg(long)]
        token: String,
        /// File holding the token's user PIN.
        #[arg(long)]
        pin_file: std::path::PathBuf,
    },
}

/// Runs an `online-admin` subcommand.
pub async fn run_online_admin(command: OnlineAdminCommand) -> anyhow::Result<()> {
    match command {
        OnlineAdminCommand::Create {
            db,
            token,
            username,
            display_name,
        } => {
            let token = token.open().await?;
            let password = crate::offline_cmd::read_password()?;
            let sealer = online_db::sealer(&token, audit::CheckpointPolicy::default());
            let created = online_api::create_admin(&db, sealer, &username, &display_name, password)
                .await
                .context("the administrator was not created")?;
            println!(
                "administrator {} created (id {})",
                created.username, created.id
            );
            Ok(())
        }
        OnlineAdminCommand::ProvisionExportKey {
            module,
            token,
            pin_file,
        } => {
            let pin = web_pin(&pin_file)?;
            let key = tokio::task::spawn_blocking(move || -> anyhow::Result<hsm::OnlineHsm> {
                let module = p11::Module::load(&module)?;
                Ok(hsm::OnlineHsm::provision(
                    &module,
                    &hsm::TokenSelector::Label(token),
                    &pin,
                )?)
            })
            .await??;
            let hex_of =
                |key: p256::PublicKey| hex::encode(p256::EncodedPoint::from(key).as_bytes());
            println!("export key generated; pin it in the offline zone (online_export_keys):");
            println!("{}", hex_of(key.export_public_key()));
            println!("audit-checkpoint key (audit verify --checkpoint-key):");
            println!("{}", hex_of(key.checkpoint_public_key()));
            Ok(())
        }
    }
}

fn web_pin(path: &std::path::Path) -> anyhow::Result<secrecy::SecretString> {
    Ok(online_api::config::read_secret_file(path)?)
}
