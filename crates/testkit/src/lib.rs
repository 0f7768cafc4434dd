//! Real infrastructure for tests: SoftHSM2 tokens in a per-process temporary directory, a
//! private PC/SC daemon with a virtual smart-card reader, nats-server with JetStream on a free
//! port, a private RabbitMQ broker on free ports, fresh SQLite files and PostgreSQL databases
//! (feature `db`), anvil (a development Ethereum node) on a free port, and the test-only
//! fixtures.
//!
//! Tests use the real adapters (PKCS#11, PC/SC, NATS, SQL) against this infrastructure instead of
//! mocks, so what passes here is what runs in production. Every process and temporary directory it starts is owned by a value
//! whose `Drop` stops or removes it. The one exception is the SoftHSM token directory: SoftHSM
//! reads its configuration once per process, so that directory lives as long as the test
//! process, and directories left by earlier, finished test processes are removed at start-up.

pub mod anvil;
#[cfg(feature = "db")]
pub mod db;
#[cfg(feature = "envelopes")]
pub mod envelopes;
pub mod fixtures;
#[cfg(feature = "hsm")]
pub mod hsm;
#[cfg(feature = "jammer")]
pub mod jammer;
pub mod nats;
pub mod pcsc;
#[cfg(feature = "peer")]
pub mod peer;
pub mod rabbitmq;
pub mod softhsm;
#[cfg(feature = "tamper")]
pub mod tamper;

/// Errors from starting test infrastructure.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A file or process operation failed.
    #[error("{context}: {source}")]
    Io {
        /// What we were doing.
        context: String,
        /// The underlying error.
        source: std::io::Error,
    },
    /// A PKCS#11 operation failed.
    #[error(transparent)]
    P11(#[from] p11::Error),
    /// A PC/SC operation failed.
    #[error("PC/SC: {0}")]
    Pcsc(#[from] ::pcsc::Error),
    /// A test-only fixture is missing or does not parse.
    #[error("fixture {name}: {reason}")]
    Fixture {
        /// The fixture file.
        name: &'static str,
        /// What is wrong.
        reason: String,
    },
    /// Some infrastructure did not come up; the message says what to check.
    #[error("{0}")]
    Setup(String),
}

/// Result alias for this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Attach a context sentence to an I/O error.
pub(crate) fn io_context(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> Error {
    let context = context.into();
    move |source| Error::Io { context, source }
}

/// Remove `<temp>/<prefix><pid>…` directories whose process has exited, so that state kept for
/// the life of a test process does not pile up in the temporary directory.
pub(crate) fn remove_stale_dirs(prefix: &str) {
    let Ok(entries) = std::fs::read_dir(std::env::temp_dir()) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(rest) = name.to_str().and_then(|n| n.strip_prefix(prefix)) else {
            continue;
        };
        let pid: String = rest.chars().take_while(char::is_ascii_digit).collect();
        if pid.is_empty() || pid == std::process::id().to_string() {
            continue;
        }
        if !std::path::Path::new("/proc").join(&pid).exists() {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}
