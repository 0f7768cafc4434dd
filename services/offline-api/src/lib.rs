//! The offline zone's REST API (DESIGN.md §3, §11, §13; issue 3): sign-up and sign-in with
//! cookie or bearer sessions, users and roles, secure-element enrolment (certificates from the
//! HSM CA), cases and the key-share table, manager hand-over, signing-request import with the
//! who-to-call list, and the audit log — served with poem, described by poem-openapi
//! (`/api/openapi.json`, Swagger UI at `/api/docs`).
//!
//! The crate is a library: [`run`] serves a [`Config`] until a shutdown future resolves, [`app`]
//! builds the endpoint over an [`AppState`] (tests drive it directly), [`openapi_json`] prints
//! the document committed as `schemas/offline-api.openapi.json`, and [`create_admin`] is the
//! first-administrator bootstrap behind `custodyd offline-admin create`. Every change goes
//! through `offline_db` in one transaction with its audit
//! record. Errors are typed ([`ApiError`]) and rendered in one place ([`error::render`]) as
//! RFC 9457 problems. Time comes from an injected [`Clock`].

mod api;
pub mod config;
mod dto;
pub mod error;
mod exchange;
mod import;
mod proposals;
pub mod session;
pub mod state;

/// Time as a dependency (shared with the online API).
pub use web::clock;

use std::future::Future;
use std::sync::Arc;

use poem::listener::TcpListener;
use poem::Endpoint;
use poem_openapi::OpenApiService;

pub use api::ROUTES;
pub use clock::{Clock, SystemClock, TestClock};
pub use config::{Config, ConfigError};
pub use error::{ApiError, Problem};
pub use import::MAX_IMPORT_CHARS;
pub use state::{AppState, AppStateBuilder};

/// The largest request body accepted (bytes); larger bodies get a 413 problem before they are
/// read. Generous for an armored envelope of the largest size in a JSON string.
pub const MAX_BODY_BYTES: usize = 512 * 1024;

/// The OpenAPI title and version.
const TITLE: &str = "Custody offline zone API";

/// Errors of [`run`] and [`create_admin`].
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The configuration is unusable.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The database could not be opened or migrated, or an operation failed.
    #[error(transparent)]
    Db(#[from] offline_db::Error),
    /// The HSM could not be opened.
    #[error("cannot open the HSM: {0}")]
    Hsm(#[from] hsm::Error),
    /// The PKCS#11 module could not be loaded.
    #[error("cannot load the PKCS#11 module: {0}")]
    P11(#[from] p11::Error),
    /// Password policy, hashing or another authentication rule.
    #[error(transparent)]
    Auth(#[from] auth::Error),
    /// The listener failed.
    #[error("the server failed: {0}")]
    Io(#[from] std::io::Error),
    /// The bootstrap is over: the zone has its first administrators, and further ones are
    /// granted by a proposal that a second administrator approves.
    #[error("this zone already has {0} active administrators; the command line creates only the first {BOOTSTRAP_ADMINS} (the bootstrap ceremony) — grant the admin role in the web application instead, where a second administrator approves it")]
    BootstrapOver(u64),
    /// A pinned key is not a valid P-256 key.
    #[error("online_export_keys[{index}] is not a P-256 public key in hex SEC1")]
    PinnedKey {
        /// Which one.
        index: usize,
    },
}

fn service(
    state: &AppState,
) -> OpenApiService<(api::Api, exchange::ExchangeApi, proposals::ProposalsApi), ()> {
    OpenApiService::new(
        (
            api::Api {
                state: Some(state.clone()),
            },
            exchange::ExchangeApi {
                state: Some(state.clone()),
            },
            proposals::ProposalsApi {
                state: Some(state.clone()),
            },
        ),
        TITLE,
        env!("CARGO_PKG_VERSION"),
    )
    .description(
        "Errors are RFC 9457 problems (application/problem+json). Sessions: the \
             `__Host-custody-offline` cookie (state changes need `X-CSRF-Token`) or \
             `Authorization: Bearer <token>` (no CSRF header needed).",
    )
}

/// The OpenAPI document (pretty JSON), as committed in `schemas/offline-api.openapi.json`.
pub fn openapi_json() -> String {
    let api = OpenApiService::new(
        (
            api::Api { state: None },
            exchange::ExchangeApi { state: None },
            proposals::ProposalsApi { state: None },
        ),
        TITLE,
        env!("CARGO_PKG_VERSION"),
    );
    // The description is part of the document; keep it identical to `service`.
    let api = api.description(
        "Errors are RFC 9457 problems (application/problem+json). Sessions: the \
         `__Host-custody-offline` cookie (state changes need `X-CSRF-Token`) or \
         `Authorization: Bearer <token>` (no CSRF header needed).",
    );
    let mut s = api.spec();
    s.push('\n');
    s
}

/// The application: `/api/...` with security headers on every response and every error
/// rendered as a problem.
pub fn app(state: AppState) -> impl Endpoint<Output = poem::Response> {
    let web_dir = state.inner.web_dir.clone();
    web::app(
        service(&state),
        MAX_BODY_BYTES,
        error::render,
        web_dir.as_deref(),
    )
}

/// Build the state from a configuration: open (and migrate) the database, load the PKCS#11
/// module, open the HSM token with the PIN from its file, pin the online keys.
pub async fn state_from_config(config: &Config) -> Result<AppState, Error> {
    let hsm = open_hsm(config).await?;
    let sealer = offline_db::sealer(&hsm, config.audit.policy());
    let db = offline_db::Db::connect(&config.db_url(), sealer).await?;
    let checkpoint_dir = match &config.audit.checkpoint_dir {
        Some(dir) => {
            Some(audit::CheckpointDir::open(dir.clone()).map_err(offline_db::Error::from)?)
        }
        None => None,
    };
    let hasher = auth::PasswordHasher::new(auth::HashParams::default())?;
    let mut builder = AppState::builder(db, hsm, hasher, Arc::new(SystemClock))
        .session_policy(config.session.policy()?)
        .sign_in_limits(config.session.sign_in_limits()?)
        .se_certificate_secs(config.se_certificate_days.saturating_mul(24 * 3600))
        .web_dir(config.web_dir.clone())
        .checkpoint_dir(checkpoint_dir);
    for (index, key) in config.online_export_keys.iter().enumerate() {
        let key = state::parse_public_key(key).map_err(|_| Error::PinnedKey { index })?;
        builder = builder.pin_online_key(key);
    }
    Ok(builder.build())
}

/// Open the offline HSM named by `config` (a blocking PKCS#11 login, off the async threads).
pub async fn open_hsm(config: &Config) -> Result<hsm::Hsm, Error> {
    let pin = config.hsm_pin()?;
    let module_path = config.hsm.module.clone();
    let label = config.hsm.token_label.clone();
    tokio::task::spawn_blocking(move || -> Result<hsm::Hsm, Error> {
        let module = p11::Module::load(&module_path)?;
        Ok(hsm::Hsm::open(
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
    tracing::info!(listen = %config.listen, "offline API listening");
    serve(TcpListener::bind(config.listen.clone()), state, shutdown).await
}

/// Serve `state` on `listener` until `shutdown` resolves (tests bind port 0 and use this).
pub async fn serve<L: poem::listener::Listener + 'static>(
    listener: L,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send,
) -> Result<(), Error> {
    use futures::FutureExt;
    let shutdown = shutdown.shared();
    let db = state.inner.db.clone();
    let clock = state.inner.clock.clone();
    let checkpointer = audit::run_checkpointer(
        db.conn().clone(),
        db.sealer().clone(),
        vec![audit::Chain::AUDIT],
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
pub const CHECKPOINT_TICK: std::time::Duration = std::time::Duration::from_secs(10);

/// How many administrators the command line may create (the bootstrap ceremony, see
/// `docs/operations.md`): two, so that every later sensitive change has a second person to
/// approve it.
pub const BOOTSTRAP_ADMINS: u64 = 2;

/// The new administrator, as `create_admin` reports it.
#[derive(Debug, Clone)]
pub struct CreatedAdmin {
    /// The user id.
    pub id: String,
    /// The login name.
    pub username: String,
}

/// Bootstrap an administrator (`custodyd offline-admin create`): username and password are
/// checked by the same policy as a registration; the account is ACTIVE with the admin role and
/// the audit record names `cli:offline-admin` as the actor.
pub async fn create_admin(
    db_url: &str,
    sealer: audit::Sealer,
    username: &str,
    display_name: &str,
    phone: Option<&str>,
    password: secrecy::SecretString,
) -> Result<CreatedAdmin, Error> {
    use secrecy::ExposeSecret;
    let db = offline_db::Db::connect(&config::db_url(db_url), sealer).await?;
    let admins = db.active_admins().await?;
    if admins >= BOOTSTRAP_ADMINS {
        return Err(Error::BootstrapOver(admins));
    }
    let username = auth::Username::parse(username)?;
    let password = auth::Password::parse(password.expose_secret().to_owned(), &username)?;
    let hasher = auth::PasswordHasher::new(auth::HashParams::default())?;
    let hash = tokio::task::spawn_blocking(move || hasher.hash(&password))
        .await
        .map_err(|e| Error::Io(std::io::Error::other(e)))??;
    let clock = SystemClock;
    let user = db
        .create_user(
            offline_db::NewUser {
                username: username.as_str().to_owned(),
                display_name: display_name.to_owned(),
                phone: phone.map(str::to_owned),
                password_hash: hash.into_string(),
                role: offline_db::Role::Admin,
            },
            "cli:offline-admin",
            clock.now(),
        )
        .await?;
    Ok(CreatedAdmin {
        id: user.id,
        username: user.username,
    })
}
