//! The service configuration: a TOML file overlaid by `CUSTODY_OFFLINE__…` environment
//! variables (`CUSTODY_OFFLINE__HSM__TOKEN_LABEL=x` sets `hsm.token_label`). Unknown keys are
//! refused. Secrets are never inline: the HSM PIN is read from the file `hsm.pin_file` names.

use std::path::{Path, PathBuf};
use std::time::Duration;

use secrecy::SecretString;
use serde::{Deserialize, Serialize};

/// The environment prefix; `__` separates nested keys.
pub const ENV_PREFIX: &str = "CUSTODY_OFFLINE__";

/// Errors loading the configuration; each names what to fix.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read the configuration file {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The TOML (after the environment overlay) does not describe a valid configuration.
    #[error("invalid configuration: {0}")]
    Invalid(String),
}

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

/// Session timeouts, seconds.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SessionConfig {
    /// Idle timeout.
    pub idle_timeout_secs: u64,
    /// Absolute timeout.
    pub absolute_timeout_secs: u64,
}

impl Default for SessionConfig {
    fn default() -> Self {
        let p = auth::SessionPolicy::default();
        SessionConfig {
            idle_timeout_secs: p.idle_timeout().as_secs(),
            absolute_timeout_secs: p.absolute_timeout().as_secs(),
        }
    }
}

impl SessionConfig {
    /// The policy these numbers describe.
    pub fn policy(&self) -> Result<auth::SessionPolicy, ConfigError> {
        auth::SessionPolicy::new(
            Duration::from_secs(self.idle_timeout_secs),
            Duration::from_secs(self.absolute_timeout_secs),
        )
        .map_err(|e| ConfigError::Invalid(format!("session: {e}")))
    }
}

impl Config {
    /// Load `path` (if given) and overlay the process environment.
    pub fn load(path: Option<&Path>) -> Result<Config, ConfigError> {
        #[allow(
            clippy::disallowed_methods,
            reason = "configuration is where the environment is read"
        )]
        let env: Vec<(String, String)> = std::env::vars().collect();
        Self::load_with_env(path, env)
    }

    /// Load `path` (if given) and overlay `env` (name, value) pairs; for tests.
    pub fn load_with_env(
        path: Option<&Path>,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Config, ConfigError> {
        let text = match path {
            Some(p) => std::fs::read_to_string(p).map_err(|source| ConfigError::Read {
                path: p.to_owned(),
                source,
            })?,
            None => String::new(),
        };
        let mut table: toml::Table = text
            .parse()
            .map_err(|e| ConfigError::Invalid(format!("{e}")))?;
        for (name, value) in env {
            let Some(rest) = name.strip_prefix(ENV_PREFIX) else {
                continue;
            };
            let keys: Vec<String> = rest.split("__").map(str::to_ascii_lowercase).collect();
            overlay(&mut table, &keys, &value)?;
        }
        let config: Config = toml::Value::Table(table)
            .try_into()
            .map_err(|e: toml::de::Error| ConfigError::Invalid(e.to_string()))?;
        Ok(config)
    }

    /// The database URL: a plain path becomes `sqlite://<path>?mode=rwc`.
    pub fn db_url(&self) -> String {
        db_url(&self.db)
    }

    /// Read the HSM PIN from its file.
    pub fn hsm_pin(&self) -> Result<SecretString, ConfigError> {
        let text =
            std::fs::read_to_string(&self.hsm.pin_file).map_err(|source| ConfigError::Read {
                path: self.hsm.pin_file.clone(),
                source,
            })?;
        Ok(SecretString::from(
            text.trim_end_matches(['\r', '\n']).to_owned(),
        ))
    }
}

/// A database setting as a URL: a plain path becomes `sqlite://<path>?mode=rwc`.
pub fn db_url(db: &str) -> String {
    if db.contains("://") {
        db.to_owned()
    } else {
        format!("sqlite://{db}?mode=rwc")
    }
}

/// Set `keys` (a path into nested tables) to `value`, typed as TOML would read it when it
/// parses as a number, a boolean or an array, and as a string otherwise.
fn overlay(table: &mut toml::Table, keys: &[String], value: &str) -> Result<(), ConfigError> {
    let Some((last, parents)) = keys.split_last() else {
        return Ok(());
    };
    let mut current = table;
    for key in parents {
        let entry = current
            .entry(key.clone())
            .or_insert_with(|| toml::Value::Table(toml::Table::new()));
        current = entry.as_table_mut().ok_or_else(|| {
            ConfigError::Invalid(format!(
                "{ENV_PREFIX}{}: {key} is not a table",
                keys.join("__")
            ))
        })?;
    }
    let parsed = format!("v = {value}")
        .parse::<toml::Table>()
        .ok()
        .and_then(|mut t| t.remove("v"))
        .filter(|v| !v.is_str() && !v.is_table())
        .unwrap_or_else(|| toml::Value::String(value.to_owned()));
    current.insert(last.clone(), parsed);
    Ok(())
}
