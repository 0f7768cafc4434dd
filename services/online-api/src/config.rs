//! The service configuration: a TOML file overlaid by `CUSTODY_ONLINE__…` environment
//! variables (`CUSTODY_ONLINE__EXPORT_KEY__TOKEN_LABEL=x` sets `export_key.token_label`), then
//! by the command line. Unknown keys are refused. Secrets are never inline: the export token's
//! PIN is read from the file `export_key.pin_file` names.

use std::path::{Path, PathBuf};

use secrecy::SecretString;
use serde::{Deserialize, Serialize};

pub use web::config::{db_url, read_secret_file, ConfigError, SessionConfig};

/// The environment prefix; `__` separates nested keys.
pub const ENV_PREFIX: &str = "CUSTODY_ONLINE__";

/// The online API's configuration.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Where to listen, e.g. `127.0.0.1:8080`.
    pub listen: String,
    /// The database: a `postgres://` or `sqlite://` URL, or a plain path (a SQLite file).
    pub db: String,
    /// The Ethereum node's JSON-RPC URL (anvil in development).
    pub rpc_url: String,
    /// The chain the node must serve and accounts are used on.
    pub chain_id: u64,
    /// RabbitMQ, reported by `/api/health` (the chain worker consumes the work; the API only
    /// writes the outbox).
    #[serde(default)]
    pub amqp: Option<String>,
    /// The online zone's PKCS#11 token: the export key that signs signing requests and
    /// attestations, and the audit keys that MAC every log record and event and sign the
    /// checkpoints.
    pub export_key: ExportKeyConfig,
    /// The offline zone's HSM envelope public keys (hex SEC1, P-256), pinned: only account
    /// manifests and signature responses signed by one of them are accepted.
    #[serde(default)]
    pub offline_keys: Vec<String>,
    /// Session timeouts.
    #[serde(default)]
    pub session: SessionConfig,
    /// How long a balance read from the node is served from memory, seconds (0: never).
    #[serde(default = "default_balance_cache_secs")]
    pub balance_cache_secs: u64,
    /// How long an exported signing request stays valid, seconds.
    #[serde(default = "default_request_ttl_secs")]
    pub request_ttl_secs: u64,
    /// The built web front end (`web/online/dist`), served on the same port as the API; none:
    /// the API only.
    #[serde(default)]
    pub web_dir: Option<std::path::PathBuf>,
    /// Audit checkpoints: the directory they are written to and how often they are made.
    #[serde(default)]
    pub audit: ::audit::AuditConfig,
}

fn default_balance_cache_secs() -> u64 {
    15
}

fn default_request_ttl_secs() -> u64 {
    24 * 3600
}

/// How to reach the export key's token.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExportKeyConfig {
    /// The PKCS#11 module (e.g. `/usr/lib/softhsm/libsofthsm2.so`).
    pub module: PathBuf,
    /// The token label.
    pub token_label: String,
    /// A file holding the user PIN (and nothing else but a trailing newline).
    pub pin_file: PathBuf,
}

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

    /// Read the export token's PIN from its file.
    pub fn export_pin(&self) -> Result<SecretString, ConfigError> {
        web::config::read_secret_file(&self.export_key.pin_file)
    }
}
