//! Service configuration shared by both APIs: a TOML file overlaid by environment variables
//! (`<PREFIX>HSM__TOKEN_LABEL=x` sets `hsm.token_label`), the database setting as a URL, and
//! secrets read from files, never inline.

use std::path::{Path, PathBuf};

use std::time::Duration;

use secrecy::SecretString;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

/// Errors loading a configuration; each names what to fix.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// A file could not be read.
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

/// Load `path` (if given) and overlay the process environment's variables starting with
/// `prefix`.
pub fn load<T: DeserializeOwned>(path: Option<&Path>, prefix: &str) -> Result<T, ConfigError> {
    #[allow(
        clippy::disallowed_methods,
        reason = "configuration is where the environment is read"
    )]
    let env: Vec<(String, String)> = std::env::vars().collect();
    load_with_env(path, prefix, env)
}

/// Load `path` (if given), overlay the `env` pairs whose names start with `prefix` (`__`
/// separates nested keys), and deserialize.
pub fn load_with_env<T: DeserializeOwned>(
    path: Option<&Path>,
    prefix: &str,
    env: impl IntoIterator<Item = (String, String)>,
) -> Result<T, ConfigError> {
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
        let Some(rest) = name.strip_prefix(prefix) else {
            continue;
        };
        let keys: Vec<String> = rest.split("__").map(str::to_ascii_lowercase).collect();
        overlay(&mut table, prefix, &keys, &value)?;
    }
    toml::Value::Table(table)
        .try_into()
        .map_err(|e: toml::de::Error| ConfigError::Invalid(e.to_string()))
}

/// A database setting as a URL: a plain path becomes `sqlite://<path>?mode=rwc`.
pub fn db_url(db: &str) -> String {
    if db.contains("://") {
        db.to_owned()
    } else {
        format!("sqlite://{db}?mode=rwc")
    }
}

/// Read a secret (a PIN) from a file holding it and nothing else but a trailing newline.
pub fn read_secret_file(path: &Path) -> Result<SecretString, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        path: path.to_owned(),
        source,
    })?;
    Ok(SecretString::from(
        text.trim_end_matches(['\r', '\n']).to_owned(),
    ))
}

/// Session timeouts, seconds, and the registration rate limit.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SessionConfig {
    /// Idle timeout.
    pub idle_timeout_secs: u64,
    /// Absolute timeout.
    pub absolute_timeout_secs: u64,
    /// Registrations accepted from one source address per minute (the excess gets a 429).
    #[serde(default = "default_registrations_per_minute")]
    pub registrations_per_minute: u32,
}

fn default_registrations_per_minute() -> u32 {
    auth::RateLimit::registrations().max
}

impl Default for SessionConfig {
    fn default() -> Self {
        let p = auth::SessionPolicy::default();
        SessionConfig {
            idle_timeout_secs: p.idle_timeout().as_secs(),
            absolute_timeout_secs: p.absolute_timeout().as_secs(),
            registrations_per_minute: default_registrations_per_minute(),
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

    /// The sign-in throttle (the defaults of `auth::throttle`) with the configured registration
    /// rate limit.
    pub fn sign_in_limits(&self) -> Result<auth::SignInLimits, ConfigError> {
        if self.registrations_per_minute == 0 {
            return Err(ConfigError::Invalid(
                "session: registrations_per_minute must be at least 1".to_owned(),
            ));
        }
        Ok(auth::SignInLimits {
            registrations: auth::RateLimit {
                max: self.registrations_per_minute,
                window: Duration::from_secs(60),
            },
            ..auth::SignInLimits::default()
        })
    }
}

/// Set `keys` (a path into nested tables) to `value`, typed as TOML would read it when it
/// parses as a number, a boolean or an array, and as a string otherwise.
fn overlay(
    table: &mut toml::Table,
    prefix: &str,
    keys: &[String],
    value: &str,
) -> Result<(), ConfigError> {
    let Some((last, parents)) = keys.split_last() else {
        return Ok(());
    };
    let mut current = table;
    for key in parents {
        let entry = current
            .entry(key.clone())
            .or_insert_with(|| toml::Value::Table(toml::Table::new()));
        current = entry.as_table_mut().ok_or_else(|| {
            ConfigError::Invalid(format!("{prefix}{}: {key} is not a table", keys.join("__")))
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
