//! `custodyd offline-api`, `custodyd reactors` and `custodyd offline-admin`: the offline zone's
//! REST service, its NATS reactors (with the outbox relay) and its bootstrap. Configuration is a TOML file overlaid by `CUSTODY_OFFLINE__…` variables, then by
//! the flags given here.

use std::io::{BufRead, IsTerminal};
use std::path::PathBuf;

use anyhow::Context;
use offline_api::Config;
use secrecy::SecretString;

/// Options of `custodyd offline-api`.
#[derive(clap::Args)]
pub struct ApiArgs {
    /// TOML configuration file (see ops/offline-api.example.toml).
    #[arg(long)]
    config: Option<PathBuf>,
    /// Database: a SQLite file path, or a sqlite:// or postgres:// URL.
    #[arg(long)]
    db: Option<String>,
    /// Listen address, e.g. 127.0.0.1:8443.
    #[arg(long)]
    listen: Option<String>,
    /// NATS server URL.
    #[arg(long)]
    nats: Option<String>,
    /// PKCS#11 module of the HSM.
    #[arg(long)]
    hsm_module: Option<PathBuf>,
    /// Label of the HSM token.
    #[arg(long)]
    hsm_token: Option<String>,
    /// File holding the HSM user PIN.
    #[arg(long)]
    hsm_pin_file: Option<PathBuf>,
    /// The built web front end to serve beside the API (web/offline/dist).
    #[arg(long)]
    web_dir: Option<PathBuf>,
    /// Print the effective configuration (it holds no secret: the PIN is a file path) and exit.
    #[arg(long)]
    print_config: bool,
}

/// `custodyd offline-admin` subcommands.
#[derive(clap::Subcommand)]
pub enum AdminCommand {
    /// Create an administrator. The password is read from standard input (without echo on a
    /// terminal), so it never appears in the shell history or the process list. The HSM seals
    /// the audit record of the creation.
    Create {
        /// The offline database: a SQLite file path, or a sqlite:// or postgres:// URL.
        #[arg(long)]
        db: String,
        /// The offline HSM (its audit MAC key seals the record).
        #[command(flatten)]
        hsm: HsmArgs,
        /// Login name.
        #[arg(long)]
        username: String,
        /// Name shown in the UI.
        #[arg(long)]
        display_name: String,
        /// Phone number (for the who-to-call list).
        #[arg(long)]
        phone: Option<String>,
    },
    /// Provision the offline HSM once: initialise the token if it does not exist, generate the
    /// CA, channel, envelope and audit-checkpoint keys (non-extractable), issue the channel
    /// certificate, and print the public keys the other parties pin. Refuses a token that
    /// already holds any of the keys (they are never replaced).
    ProvisionHsm {
        /// PKCS#11 module of the HSM.
        #[arg(long)]
        module: PathBuf,
        /// Token label.
        #[arg(long, default_value = "offline-hsm")]
        token: String,
        /// File holding the token's user PIN.
        #[arg(long)]
        pin_file: PathBuf,
        /// File holding the token's SO PIN (used only if the token must be initialised).
        #[arg(long)]
        so_pin_file: PathBuf,
        /// The coordinator's name in its channel certificate.
        #[arg(long, default_value = "coordinator")]
        server_name: String,
    },
    /// Make the NATS callout issuer of the coordinator's channel logins: writes a new account
    /// nkey seed to `--seed-file` (mode 0600; an existing file is kept) and prints its public
    /// key, which the zone's NATS configuration names (`NATS_CALLOUT_ISSUER`).
    NatsIssuer {
        /// The seed file (give it to `custodyd coordinator --nats-callout-seed-file`).
        #[arg(long)]
        seed_file: PathBuf,
    },
    /// Print the public keys of a provisioned offline HSM (to pin them again elsewhere).
    HsmKeys {
        /// PKCS#11 module of the HSM.
        #[arg(long)]
        module: PathBuf,
        /// Token label.
        #[arg(long, default_value = "offline-hsm")]
        token: String,
        /// File holding the token's user PIN.
        #[arg(long)]
        pin_file: PathBuf,
    },
}

/// Where the offline HSM is: what every command that writes the audit log needs (its MAC key
/// seals each record).
#[derive(clap::Args, Clone, Debug)]
pub struct HsmArgs {
    /// PKCS#11 module of the HSM.
    #[arg(long)]
    hsm_module: PathBuf,
    /// Label of the HSM token.
    #[arg(long, default_value = "offline-hsm")]
    hsm_token: String,
    /// File holding the HSM user PIN.
    #[arg(long)]
    hsm_pin_file: PathBuf,
}

impl HsmArgs {
    /// Open the HSM (a blocking PKCS#11 login, off the async threads).
    pub async fn open(&self) -> anyhow::Result<hsm::Hsm> {
        let pin = web::config::read_secret_file(&self.hsm_pin_file)?;
        let module = self.hsm_module.clone();
        let token = self.hsm_token.clone();
        tokio::task::spawn_blocking(move || -> anyhow::Result<hsm::Hsm> {
            let module = p11::Module::load(&module)?;
            Ok(hsm::Hsm::open(
                &module,
                &hsm::TokenSelector::Label(token),
                &pin,
            )?)
        })
        .await?
        .context("the offline HSM could not be opened")
    }
}

/// The public keys of the offline HSM that other parties pin, one per line.
fn print_hsm_keys(hsm: &hsm::Hsm) {
    let hex_of = |key: p256::PublicKey| hex::encode(p256::EncodedPoint::from(key).as_bytes());
    println!("offline HSM token {}:", hsm.token_serial());
    println!(
        "  CA key        (custody-client login --ca-key):          {}",
        hex_of(hsm.ca_public_key())
    );
    println!(
        "  envelope key  (online zone offline_keys):               {}",
        hex_of(hsm.envelope_public_key())
    );
    println!(
        "  audit key     (audit checkpoints; audit verify --checkpoint-key): {}",
        hex_of(hsm.audit_public_key())
    );
}

fn effective_config(args: &ApiArgs) -> anyhow::Result<Config> {
    let mut config = Config::load(args.config.as_deref())?;
    if let Some(db) = &args.db {
        config.db = db.clone();
    }
    if let Some(listen) = &args.listen {
        config.listen = listen.clone();
    }
    if let Some(nats) = &args.nats {
        config.nats = Some(nats.clone());
    }
    if let Some(dir) = &args.web_dir {
        config.web_dir = Some(dir.clone());
    }
    if let Some(module) = &args.hsm_module {
        config.hsm.module = module.clone();
    }
    if let Some(token) = &args.hsm_token {
        config.hsm.token_label = token.clone();
    }
    if let Some(pin_file) = &args.hsm_pin_file {
        config.hsm.pin_file = pin_file.clone();
    }
    Ok(config)
}

/// Options of `custodyd reactors`.
#[derive(clap::Args)]
pub struct ReactorsArgs {
    /// Database: a SQLite file path, or a sqlite:// or postgres:// URL (the offline API's).
    #[arg(long)]
    db: String,
    /// The offline HSM: its MAC key seals the reactors' audit records and events and verifies
    /// every event they consume.
    #[command(flatten)]
    hsm: HsmArgs,
    /// A checkpoint of the audit log every this many records.
    #[arg(long, default_value_t = audit::CheckpointPolicy::default().every_records)]
    checkpoint_every_records: u64,
    /// NATS server URL.
    #[arg(long, default_value = "nats://127.0.0.1:4222")]
    nats: String,
    #[command(flatten)]
    nats_access: NatsAccessArgs,
}

/// How a service logs in to NATS (ops/nats/nats-server.conf: TLS and one user per role).
#[derive(clap::Args)]
pub struct NatsAccessArgs {
    /// NATS user (`reactors`, `coordinator` in ops/nats/nats-server.conf).
    #[arg(long, value_name = "USER")]
    nats_user: Option<String>,
    /// File holding the NATS user's password (and nothing else but a trailing newline).
    #[arg(long, value_name = "PATH")]
    nats_password_file: Option<PathBuf>,
    /// CA (PEM) that signed the NATS server's certificate; TLS is then required.
    #[arg(long, value_name = "PATH")]
    nats_ca: Option<PathBuf>,
}

impl NatsAccessArgs {
    /// `base` with each flag given replacing its setting.
    fn overlay(
        &self,
        mut base: offline_api::config::NatsAccess,
    ) -> offline_api::config::NatsAccess {
        if let Some(user) = &self.nats_user {
            base.user = Some(user.clone());
        }
        if let Some(file) = &self.nats_password_file {
            base.password_file = Some(file.clone());
        }
        if let Some(ca) = &self.nats_ca {
            base.ca_file = Some(ca.clone());
        }
        base
    }
}

/// Completes on Ctrl-C or SIGTERM (systemd's stop).
pub async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

/// Runs the reactors and the outbox relay until Ctrl-C / SIGTERM.
pub async fn run_reactors(args: ReactorsArgs) -> anyhow::Result<()> {
    let hsm = args.hsm.open().await?;
    let policy = audit::CheckpointPolicy {
        every_records: args.checkpoint_every_records,
        ..audit::CheckpointPolicy::default()
    };
    let config = reactors::Config {
        db_url: offline_api::config::db_url(&args.db),
        sealer: offline_db::sealer(&hsm, policy),
        nats_url: args.nats,
        nats_access: args
            .nats_access
            .overlay(offline_api::config::NatsAccess::default()),
    };
    println!("offline reactors and outbox relay on {}", config.nats_url);
    reactors::run(config, shutdown_signal()).await?;
    Ok(())
}

/// Runs the offline API until Ctrl-C / SIGTERM.
pub async fn run_api(args: ApiArgs) -> anyhow::Result<()> {
    let config = effective_config(&args)?;
    if args.print_config {
        print!("{}", toml::to_string_pretty(&config)?);
        return Ok(());
    }
    println!(
        "offline API on http://{} (docs at /api/docs)",
        config.listen
    );
    offline_api::run(config, shutdown_signal()).await?;
    Ok(())
}

pub(crate) fn read_password() -> anyhow::Result<SecretString> {
    let stdin = std::io::stdin();
    if stdin.is_terminal() {
        let first = rpassword::prompt_password("New administrator password: ")?;
        let second = rpassword::prompt_password("Repeat the password: ")?;
        anyhow::ensure!(
            first == second,
            "the two passwords differ; nothing was created"
        );
        return Ok(SecretString::from(first));
    }
    let mut line = String::new();
    stdin.lock().read_line(&mut line)?;
    Ok(SecretString::from(
        line.trim_end_matches(['\r', '\n']).to_owned(),
    ))
}

/// Runs an `offline-admin` subcommand.
pub async fn run_admin(command: AdminCommand) -> anyhow::Result<()> {
    match command {
        AdminCommand::Create {
            db,
            hsm,
            username,
            display_name,
            phone,
        } => {
            let hsm = hsm.open().await?;
            let password = read_password()?;
            let created = offline_api::create_admin(
                &db,
                offline_db::sealer(&hsm, audit::CheckpointPolicy::default()),
                &username,
                &display_name,
                phone.as_deref(),
                password,
            )
            .await
            .context("the administrator was not created")?;
            println!(
                "administrator {} created (id {})",
                created.username, created.id
            );
            Ok(())
        }
        AdminCommand::ProvisionHsm {
            module,
            token,
            pin_file,
            so_pin_file,
            server_name,
        } => {
            let pin = web::config::read_secret_file(&pin_file)?;
            let so_pin = web::config::read_secret_file(&so_pin_file)?;
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .context("the system clock is before 1970")?
                .as_secs();
            let hsm = tokio::task::spawn_blocking(move || -> anyhow::Result<hsm::Hsm> {
                let module = p11::Module::load(&module)?;
                Ok(hsm::Hsm::provision(
                    &module,
                    &token,
                    &so_pin,
                    &pin,
                    &server_name,
                    now,
                )?)
            })
            .await?
            .context("the offline HSM was not provisioned")?;
            println!("offline HSM provisioned; pin these public keys:");
            print_hsm_keys(&hsm);
            Ok(())
        }
        AdminCommand::NatsIssuer { seed_file } => {
            if seed_file.exists() {
                let logins = coordinator::ChannelLogins::from_seed_file(&seed_file)?;
                println!(
                    "{} already holds the NATS callout issuer; its public key:",
                    seed_file.display()
                );
                println!("NATS_CALLOUT_ISSUER={}", logins.public_key());
                return Ok(());
            }
            let (seed, public) = coordinator::ChannelLogins::generate();
            write_new_secret(&seed_file, &seed)?;
            println!(
                "NATS callout issuer written to {} (mode 0600); its public key:",
                seed_file.display()
            );
            println!("NATS_CALLOUT_ISSUER={public}");
            Ok(())
        }
        AdminCommand::HsmKeys {
            module,
            token,
            pin_file,
        } => {
            let hsm = HsmArgs {
                hsm_module: module,
                hsm_token: token,
                hsm_pin_file: pin_file,
            }
            .open()
            .await?;
            print_hsm_keys(&hsm);
            Ok(())
        }
    }
}

/// Writes `secret` to a new file `path`, readable by this user only (mode 0600); an existing
/// file is never overwritten.
fn write_new_secret(path: &std::path::Path, secret: &str) -> anyhow::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("cannot create {}", path.display()))?
        .write_all(format!("{secret}\n").as_bytes())
        .with_context(|| format!("cannot write {}", path.display()))?;
    Ok(())
}

/// Options of `custodyd coordinator`. It reads the offline API's configuration file (same
/// database and HSM) and takes the same overriding flags.
#[derive(clap::Args)]
pub struct CoordinatorArgs {
    /// TOML configuration file (see ops/offline-api.example.toml).
    #[arg(long)]
    config: Option<PathBuf>,
    /// Database: a SQLite file path, or a sqlite:// or postgres:// URL.
    #[arg(long)]
    db: Option<String>,
    /// NATS server URL.
    #[arg(long)]
    nats: Option<String>,
    /// NATS user, password file and CA; override `[nats_access]` of the configuration.
    #[command(flatten)]
    nats_access: NatsAccessArgs,
    /// PKCS#11 module of the HSM.
    #[arg(long)]
    hsm_module: Option<PathBuf>,
    /// Label of the HSM token.
    #[arg(long)]
    hsm_token: Option<String>,
    /// File holding the HSM user PIN.
    #[arg(long)]
    hsm_pin_file: Option<PathBuf>,
    /// File holding the NATS callout issuer's seed (`offline-admin nats-issuer`): the
    /// coordinator then serves channel logins, as the zone's NATS configuration expects
    /// (`auth_callout`); without it clients use their channel on the handshake connection.
    #[arg(long)]
    nats_callout_seed_file: Option<PathBuf>,
    /// A client silent for this many seconds is gone (clients ping every 2 s).
    #[arg(long, default_value_t = 30)]
    idle_secs: u64,
    /// A signing session's runs must finish within this many seconds.
    #[arg(long, default_value_t = 300)]
    sign_run_secs: u64,
    /// Aux info + keygen must finish within this many seconds.
    #[arg(long, default_value_t = 1200)]
    keygen_run_secs: u64,
}

/// Runs the coordinator until Ctrl-C / SIGTERM.
pub async fn run_coordinator(args: CoordinatorArgs) -> anyhow::Result<()> {
    // The coordinator shares the offline API's configuration (database, HSM, NATS); the
    // flags overlay it like the API's do. It does not listen on HTTP, so `listen` may be absent.
    #[allow(
        clippy::disallowed_methods,
        reason = "configuration is where the environment is read"
    )]
    let mut env: Vec<(String, String)> = std::env::vars().collect();
    let prefix = offline_api::config::ENV_PREFIX;
    if !env.iter().any(|(k, _)| k == &format!("{prefix}LISTEN")) {
        env.push((format!("{prefix}LISTEN"), "unused".to_owned()));
    }
    let flags = [
        ("DB", args.db.clone()),
        ("NATS", args.nats.clone()),
        (
            "HSM__MODULE",
            args.hsm_module.as_ref().map(|p| p.display().to_string()),
        ),
        ("HSM__TOKEN_LABEL", args.hsm_token.clone()),
        (
            "HSM__PIN_FILE",
            args.hsm_pin_file.as_ref().map(|p| p.display().to_string()),
        ),
    ];
    for (key, value) in flags {
        if let Some(value) = value {
            env.push((format!("{prefix}{key}"), value));
        }
    }
    let config = Config::load_with_env(args.config.as_deref(), env).context(
        "the coordinator's configuration (the offline API's file, environment and flags)",
    )?;
    let nats_url = config
        .nats
        .clone()
        .unwrap_or_else(|| "nats://127.0.0.1:4222".to_owned());
    let coordinator = coordinator::Config {
        db_url: config.db_url(),
        checkpoint_policy: config.audit.policy(),
        nats_url: nats_url.clone(),
        nats_access: args.nats_access.overlay(config.nats_access.clone()),
        hsm_module: config.hsm.module.clone(),
        hsm_token_label: config.hsm.token_label.clone(),
        hsm_pin: config.hsm_pin()?,
        timeouts: coordinator::Timeouts {
            idle: std::time::Duration::from_secs(args.idle_secs.max(3)),
            sign_run: std::time::Duration::from_secs(args.sign_run_secs.max(5)),
            keygen_run: std::time::Duration::from_secs(args.keygen_run_secs.max(30)),
            ..coordinator::Timeouts::default()
        },
        nats_callout_seed_file: args.nats_callout_seed_file.clone(),
    };
    println!("offline coordinator on {nats_url}");
    coordinator::run(coordinator, shutdown_signal()).await?;
    Ok(())
}
