//! The service configuration: a TOML file overlaid by `CUSTODY_OFFLINE__…` environment
//! variables (`CUSTODY_OFFLINE__HSM__TOKEN_LABEL=x` sets `hsm.token_label`). Unknown keys are
//! refused. Secrets are never inline: the HSM PIN is read from the file `hsm.pin_file` names,
//! the NATS password from the file `nats_access.password_file` names.

use std::path::{Path, PathBuf};

use secrecy::SecretString;
use serde::{Deserialize, Serialize};

/// The environment prefix; `__` separates nested keys.
pub const ENV_PREFIX: &str = "CUSTODY_OFFLINE__";

pub use bus::NatsAccess;
pub use web::config::{db_url, ConfigError};

/// The offline API's configuration.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Where to listen, e.g. `127.0.0.1:8443`.
    pub listen: String,
    /// The database: a `postgres://` or `sqlite://` URL, or a plain path (a SQLite file).
    pub db: String,
    /// The NATS server (not used by the API yet; the outbox relay will use it).
    #[serde(default)]
    pub nats: Option<String>,
    /// How `custodyd coordinator` logs in to NATS (`[nats_access]`: user, password file, CA
    /// file; `CUSTODY_OFFLINE__NATS_ACCESS__USER` etc.). Secrets by file path only.
    #[serde(default, skip_serializing_if = "NatsAccess::is_empty")]
    pub nats_access: NatsAccess,
    /// The offline HSM.
    pub hsm: HsmConfig,
    /// The online zone's envelope-export public keys (hex SEC1, P-256), pinned: only signing
    /// requests and balance attestations signed by one of them are accepted.
    #[serde(default)]
    pub online_export_keys: Vec<String>,
    /// Session timeouts.
    #[serde(default)]
    pub session: SessionConfig,
    /// Validity of SE certificates issued at enrolment, in days.
    #[serde(default = "default_se_cert_days")]
    pub se_certificate_days: u64,
    /// The built web front end (`web/offline/dist`), served on the same port as the API; none:
    /// the API only.
    #[serde(default)]
    pub web_dir: Option<std::path::PathBuf>,
    /// Audit checkpoints: the directory they are written to and how often they are made.
    #[serde(default)]
    pub audit: audit::AuditConfig,
}

fn default_se_cert_days() -> u64 {
    3 * 365
}

/// How to reach the HSM token.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HsmConfig {
    /// The PKCS#11 module (e.g. `/usr/lib/softhsm/libsofthsm2.so`).
    pub module: PathBuf,
    /// The token label.
    pub token_label: String,
    /// A file holding the user PIN (and nothing else but a trailing newline).
    pub pin_file: PathBuf,
}

pub use web::config::SessionConfig;

impl Config {
    /// Load `path` (if given) and overlay the process environment.
    pub fn load(path: Option<&Path>) -> Result<Config, ConfigError> {
        web::config::load(path, ENV_PREFIX)
    }

    /// Load `path` (if given) and overlay `env` (name, value) pairs; for tests.
    pub fn load_with_env(
        path: Option<&Path>,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Config, ConfigError> {
        web::config::load_with_env(path, ENV_PREFIX, env)
    }

    /// The database URL: a plain path becomes `sqlite://<path>?mode=rwc`.
    pub fn db_url(&self) -> String {
        db_url(&self.db)
    }

    /// Read the HSM PIN from its file.
    pub fn hsm_pin(&self) -> Result<SecretString, ConfigError> {
        web::config::read_secret_file(&self.hsm.pin_file)
    }
}
