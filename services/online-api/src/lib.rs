//! The online zone's REST API (DESIGN.md §3, §6, §7, §10, §11; issue 5): sign-up and sign-in
//! with cookie or bearer sessions, roles granted by administrators (a fresh user has none);
//! custody accounts imported from the offline zone's signed manifests; ETH and ERC-20
//! balances read from the node at one block; transfers validated against the balance and the
//! account's policy, built with the node's nonce and fees, exported as a `SigningRequest`
//! signed by the export key on a PKCS#11 token, and completed by importing the offline zone's
//! `SignatureResponse`, which queues the broadcast for the chain worker; balance attestations;
//! and the operation and transaction logs for auditors (JSON, CSV, verification).
//!
//! The crate is a library: [`run`] serves a [`Config`] until a shutdown future resolves, [`app`]
//! builds the endpoint over an [`AppState`] (tests drive it directly), [`openapi_json`] prints
//! the document committed as `schemas/online-api.openapi.json`, and [`create_admin`] is the
//! first-administrator bootstrap behind `custodyd online-admin create`. The API holds no key
//! that can move funds and talks to no broker: every change goes through `online_db` in one
//! transaction with its log record and, for a broadcast, its outbox row.

mod accounts;
mod api;
mod audit;
pub mod config;
mod dto;
pub mod error;
mod export;
mod proposals;
pub mod session;
pub mod state;
mod transfers;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use poem::listener::TcpListener;
use poem::Endpoint;
use poem_openapi::OpenApiService;

pub use audit::to_csv;
pub use config::{Config, ConfigError};
pub use error::{ApiError, Problem};
pub use state::{AppState, AppStateBuilder};
pub use web::clock::{Clock, SystemClock, TestClock};

/// The largest request body accepted (bytes): an armored envelope of the largest size, QR part
/// texts, in a JSON string.
pub const MAX_BODY_BYTES: usize = 512 * 1024;

/// The OpenAPI title.
const TITLE: &str = "Custody online zone API";

/// The OpenAPI description.
const DESCRIPTION: &str = "Errors are RFC 9457 problems (application/problem+json). Sessions: \
    the `__Host-custody-online` cookie (state changes need `X-CSRF-Token`) or \
    `Authorization: Bearer <token>` (no CSRF header needed). Amounts are decimal strings of \
    base units; addresses are EIP-55 checksummed.";

/// Errors of [`run`] and [`create_admin`].
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The configuration is unusable.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The database could not be opened or migrated, or an operation failed.
    #[error(transparent)]
    Db(#[from] online_db::Error),
    /// The export key could not be opened.
    #[error("cannot open the export key: {0}")]
    Hsm(#[from] hsm::Error),
    /// The PKCS#11 module could not be loaded.
    #[error("cannot load the PKCS#11 module: {0}")]
    P11(#[from] p11::Error),
    /// The Ethereum node is unreachable or serves another chain.
    #[error(transparent)]
    Chain(#[from] chain::Error),
    /// Password policy, hashing or another authentication rule.
    #[error(transparent)]
    Auth(#[from] auth::Error),
    /// The listener failed.
    #[error("the server failed: {0}")]
    Io(#[from] std::io::Error),
    /// The bootstrap is over: the zone has its first two administrators, and further ones are
    /// granted by a proposal that a second administrator approves.
    #[error("this zone already has {0} active administrators; the command line creates only the first {BOOTSTRAP_ADMINS} (the bootstrap ceremony) — grant the admin role in the web application instead, where a second administrator approves it")]
    BootstrapOver(usize),
    /// A pinned key is not a valid P-256 key.
    #[error("offline_keys[{index}] is not a P-256 public key in hex SEC1")]
    PinnedKey {
        /// Which one.
        index: usize,
    },
}

type Apis = (
    api::Api,
    accounts::AccountsApi,
    transfers::TransfersApi,
    audit::AuditApi,
    proposals::ProposalsApi,
);

fn apis(state: Option<AppState>) -> Apis {
    (
        api::Api {
            state: state.clone(),
        },
        accounts::AccountsApi {
            state: state.clone(),
        },
        transfers::TransfersApi {
            state: state.clone(),
        },
        audit::AuditApi {
            state: state.clone(),
        },
        proposals::ProposalsApi { state },
    )
}

fn service(state: Option<AppState>) -> OpenApiService<Apis, ()> {
    OpenApiService::new(apis(state), TITLE, env!("CARGO_PKG_VERSION")).description(DESCRIPTION)
}

/// The OpenAPI document (pretty JSON), as committed in `schemas/online-api.openapi.json`.
pub fn openapi_json() -> String {
    let mut s = service(None).spec();
    s.push('\n');
    s
}

/// The application: `/api/...` with security headers on every response and every error
/// rendered as a problem.
pub fn app(state: AppState) -> impl Endpoint<Output = poem::Response> {
    let web_dir = state.inner.web_dir.clone();
    web::app(
        service(Some(state)),
        MAX_BODY_BYTES,
        error::render,
        web_dir.as_deref(),
    )
}

/// Whether a TCP connection to the broker of `amqp_url` opens within two seconds.
pub(crate) async fn broker_reachable(amqp_url: &str) -> bool {
    let Some(rest) = amqp_url
        .strip_prefix("amqp://")
        .or_else(|| amqp_url.strip_prefix("amqps://"))
    else {
        return false;
    };
    let authority = rest.split('/').next().unwrap_or_default();
    let host_port = authority.rsplit('@').next().unwrap_or_default();
    let target = if host_port.contains(':') {
        host_port.to_owned()
    } else {
        format!("{host_port}:5672")
    };
    matches!(
        tokio::time::timeout(
            Duration::from_secs(2),
            tokio::net::TcpStream::connect(target)
        )
        .await,
        Ok(Ok(_))
    )
}

/// Build the state from a configuration: open (and migrate) the database, connect to the
/// node (checking its chain id), open the export key's token with the PIN from its file, pin
/// the offline keys.
pub async fn state_from_config(config: &Config) -> Result<AppState, Error> {
    let token = open_token(config).await?;
    let sealer = online_db::sealer(&token, config.audit.policy());
    let db = online_db::Db::connect(&config.db_url(), sealer).await?;
    let chain = chain::Chain::connect(&config.rpc_url, config.chain_id).await?;
    let checkpoint_dir = match &config.audit.checkpoint_dir {
        Some(dir) => {
            Some(::audit::CheckpointDir::open(dir.clone()).map_err(online_db::Error::from)?)
        }
        None => None,
    };
    let hasher = auth::PasswordHasher::new(auth::HashParams::default())?;
    let signer = Arc::new(token.export_signer());
    let mut builder = AppState::builder(db, chain, signer, hasher, Arc::new(SystemClock))
        .session_policy(config.session.policy()?)
        .sign_in_limits(config.session.sign_in_limits()?)
        .balance_cache_secs(config.balance_cache_secs)
        .request_ttl_secs(config.request_ttl_secs)
        .web_dir(config.web_dir.clone())
        .checkpoint_dir(checkpoint_dir)
        .amqp(config.amqp.clone());
    for (index, key) in config.offline_keys.iter().enumerate() {
        let key = state::parse_public_key(key).map_err(|_| Error::PinnedKey { index })?;
        builder = builder.pin_offline_key(key);
    }
    Ok(builder.build())
}

/// Open the online zone's token named by `config` (export, audit-checkpoint and audit MAC keys;
/// a blocking PKCS#11 login, off the async threads).
pub async fn open_token(config: &Config) -> Result<hsm::OnlineHsm, Error> {
    let pin = config.export_pin()?;
    let module_path = config.export_key.module.clone();
    let label = config.export_key.token_label.clone();
    tokio::task::spawn_blocking(move || -> Result<hsm::OnlineHsm, Error> {
        let module = p11::Module::load(&module_path)?;
        Ok(hsm::OnlineHsm::open(
            &module,
            &hsm::TokenSelector::Label(label),
            &pin,
        )?)
    })
    .await
    .map_err(|e| Error::Io(std::io::Error::other(e)))?
}

/// Serve `config` until `shutdown` resolves.
pub async fn run(config: Config, shutdown: impl Future<Output = ()> + Send) -> Result<(), Error> {
    let state = state_from_config(&config).await?;
    tracing::info!(listen = %config.listen, "online API listening");
    serve(TcpListener::bind(config.listen.clone()), state, shutdown).await
}

/// Serve `state` on `listener` until `shutdown` resolves (tests bind port 0 and use this),
/// making the audit checkpoints that are due by time and writing checkpoint files meanwhile.
pub async fn serve<L: poem::listener::Listener + 'static>(
    listener: L,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send,
) -> Result<(), Error> {
    use futures::FutureExt;
    let shutdown = shutdown.shared();
    let db = state.inner.db.clone();
    let clock = state.inner.clock.clone();
    let checkpointer = ::audit::run_checkpointer(
        db.conn().clone(),
        db.sealer().clone(),
        online_db::CHAINS.to_vec(),
        state.inner.checkpoint_dir.clone(),
        move || clock.now(),
        CHECKPOINT_TICK,
        shutdown.clone(),
    );
    let (served, ()) = tokio::join!(web::serve(listener, app(state), shutdown), checkpointer);
    served?;
    Ok(())
}

/// How often the API makes the audit checkpoints that are due by time and writes new ones to the
/// checkpoint directory.
pub const CHECKPOINT_TICK: Duration = Duration::from_secs(10);

/// How many administrators the command line may create (the bootstrap ceremony).
pub const BOOTSTRAP_ADMINS: usize = 2;

/// The new administrator, as `create_admin` reports it.
#[derive(Debug, Clone)]
pub struct CreatedAdmin {
    /// The user id.
    pub id: String,
    /// The login name.
    pub username: String,
}

/// Bootstrap an administrator (`custodyd online-admin create`): username and password are
/// checked by the same policy as a registration; the log records `cli:online-admin` as the
/// actor. Only the first two administrators come from here (four-eyes needs two): with two or
/// more active administrators it refuses ([`Error::BootstrapOver`]), and further ones are granted
/// by proposal (`docs/operations.md`).
pub async fn create_admin(
    db_url: &str,
    sealer: ::audit::Sealer,
    username: &str,
    display_name: &str,
    password: secrecy::SecretString,
) -> Result<CreatedAdmin, Error> {
    use secrecy::ExposeSecret;
    const ACTOR: &str = "cli:online-admin";
    let db = online_db::Db::connect(&config::db_url(db_url), sealer).await?;
    let count = db
        .users()
        .await?
        .iter()
        .filter(|u| u.role == online_db::Role::Admin && u.status == online_db::UserStatus::Active)
        .count();
    if count >= BOOTSTRAP_ADMINS {
        return Err(Error::BootstrapOver(count));
    }
    let username = auth::Username::parse(username)?;
    let password = auth::Password::parse(password.expose_secret().to_owned(), &username)?;
    let hasher = auth::PasswordHasher::new(auth::HashParams::default())?;
    let hash = tokio::task::spawn_blocking(move || hasher.hash(&password))
        .await
        .map_err(|e| Error::Io(std::io::Error::other(e)))??;
    let now = SystemClock.now();
    let user = db
        .create_user_with_role(
            online_db::NewUser {
                username: username.as_str().to_owned(),
                display_name: display_name.to_owned(),
                password_hash: hash.into_string(),
            },
            online_db::Role::Admin,
            ACTOR,
            now,
        )
        .await?;
    Ok(CreatedAdmin {
        id: user.id,
        username: user.username,
    })
}
