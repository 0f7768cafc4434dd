//! How a service logs in to NATS: a user, a file holding its password, and the CA that signed
//! the server certificate ([`NatsAccess`]). The offline zone's server (ops/nats/nats-server.conf)
//! requires TLS and one user per role; this is the configuration piece every service and the
//! managers' client share. The password is read from its file when the connection options are
//! built, kept in a [`SecretString`], and never printed: errors name the file, not its content.

use std::path::{Path, PathBuf};

use secrecy::SecretString;
use serde::{Deserialize, Serialize};

use crate::{Auth, BusOptions, Error, Result};

/// NATS credentials and trust, by reference: the password lives in a file readable by the
/// service account only. All fields default to none (no authentication, the URL decides TLS).
///
/// TOML (`[nats_access]` in the offline configuration):
///
/// ```toml
/// [nats_access]
/// user = "coordinator"
/// password_file = "/etc/custody/nats-coordinator.password"
/// ca_file = "/etc/custody/nats-ca.pem"
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NatsAccess {
    /// The NATS user (one per role: `coordinator`, `reactors`, `client`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    /// A file holding the user's password (and nothing else but a trailing newline).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password_file: Option<PathBuf>,
    /// PEM file with the CA that signed the server certificate; when set, TLS is required.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_file: Option<PathBuf>,
}

impl NatsAccess {
    /// Whether nothing is set (connect without credentials, TLS as the URL says).
    pub fn is_empty(&self) -> bool {
        self.user.is_none() && self.password_file.is_none() && self.ca_file.is_none()
    }

    /// The user and the password read from its file; `None` without a user.
    ///
    /// Errors: a user without a password file ([`Error::NatsPasswordFileMissing`]), a password
    /// file without a user ([`Error::NatsUserMissing`]), a password file that cannot be read or
    /// is empty ([`Error::NatsPasswordFile`]).
    pub fn credentials(&self) -> Result<Option<(String, SecretString)>> {
        match (&self.user, &self.password_file) {
            (None, None) => Ok(None),
            (Some(user), None) => Err(Error::NatsPasswordFileMissing { user: user.clone() }),
            (None, Some(path)) => Err(Error::NatsUserMissing { path: path.clone() }),
            (Some(user), Some(path)) => Ok(Some((user.clone(), read_password(path)?))),
        }
    }

    /// The CA file, checked to be readable now (a missing file is named here instead of in a
    /// TLS error at connect time).
    pub fn checked_ca_file(&self) -> Result<Option<&Path>> {
        match &self.ca_file {
            None => Ok(None),
            Some(path) => {
                std::fs::File::open(path).map_err(|source| Error::NatsCaFile {
                    path: path.clone(),
                    source,
                })?;
                Ok(Some(path.as_path()))
            }
        }
    }

    /// `options` with these credentials ([`Auth::UserPassword`]) and, with a CA file, TLS
    /// required and that CA trusted. Reads the password file now.
    pub fn apply(&self, mut options: BusOptions) -> Result<BusOptions> {
        if let Some((user, password)) = self.credentials()? {
            options.auth = Auth::UserPassword { user, password };
        }
        if let Some(ca) = self.checked_ca_file()? {
            let mut tls = options.tls.take().unwrap_or_default();
            tls.ca_file = Some(ca.to_owned());
            options.tls = Some(tls);
        }
        Ok(options)
    }
}

/// Read a password file: its content without the trailing line break; empty is refused.
fn read_password(path: &Path) -> Result<SecretString> {
    let text = std::fs::read_to_string(path).map_err(|source| Error::NatsPasswordFile {
        path: path.to_owned(),
        reason: source.to_string(),
    })?;
    let password = text.trim_end_matches(['\r', '\n']);
    if password.is_empty() {
        return Err(Error::NatsPasswordFile {
            path: path.to_owned(),
            reason: "the file is empty".to_owned(),
        });
    }
    Ok(SecretString::from(password.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nothing_set_changes_nothing() {
        let options = NatsAccess::default().apply(BusOptions::default());
        assert!(matches!(
            options,
            Ok(BusOptions {
                auth: Auth::None,
                tls: None,
                ..
            })
        ));
    }

    #[test]
    fn unknown_keys_are_refused() {
        let parsed: std::result::Result<NatsAccess, _> =
            serde_json::from_str(r#"{"user":"a","password":"inline"}"#);
        assert!(parsed.is_err());
    }
}
