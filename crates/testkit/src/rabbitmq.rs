//! A private RabbitMQ broker on free ports with its data in a temporary directory, for tests.
//!
//! Each [`RabbitMq`] runs its own Erlang node from Debian's `rabbitmq-server` package with a
//! unique node name, its own AMQP, distribution and epmd ports (all bound to 127.0.0.1), and its
//! database, logs and configuration under a temporary directory. It starts its own `epmd` on a
//! private port, so the system broker (the Debian service on 5672 with the system epmd on 4369)
//! is neither used nor touched, and two test brokers never share a port mapper. Plugins are off
//! (no management listener).
//!
//! [`RabbitMq::stop`] kills the broker (SIGKILL to its process group: a crash, not a clean
//! shutdown); [`RabbitMq::restart`] brings it back on the same ports and data directory, so
//! durable queues and the persistent messages they held before the crash are there again. On
//! `Drop` the broker and its epmd are killed and the directory is removed.
//!
//! Start-up takes about 6 s for a fresh node and about 4 s for a restart on an idle 2-core
//! machine (Erlang boot, then the Mnesia and quorum-queue recovery); readiness is the AMQP port
//! answering the protocol header with `connection.start`, which RabbitMQ only does once its boot
//! steps have finished.
//!
//! The default `guest`/`guest` user may only log in over loopback, which 127.0.0.1 is, so
//! [`RabbitMq::url`] uses it.
//!
//! Environment: `CUSTODY_RABBITMQ_SERVER` names the start script (default
//! [`DEFAULT_RABBITMQ_SERVER`], the one that runs the broker as the calling user rather than
//! switching to the `rabbitmq` system user); `CUSTODY_EPMD` names epmd (default `epmd` on PATH).

use std::fs::File;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use crate::{io_context, Error, Result};

/// The package's own start script (Debian `rabbitmq-server`); `/usr/sbin/rabbitmq-server` would
/// switch to the `rabbitmq` user and its fixed directories.
pub const DEFAULT_RABBITMQ_SERVER: &str = "/usr/lib/rabbitmq/bin/rabbitmq-server";
/// Environment variable that overrides the start script.
pub const RABBITMQ_SERVER_ENV: &str = "CUSTODY_RABBITMQ_SERVER";
/// Environment variable that overrides the epmd binary.
pub const EPMD_ENV: &str = "CUSTODY_EPMD";
/// How long the broker gets to come up; generous because tests start brokers in parallel on a
/// small machine.
const STARTUP_TIMEOUT: Duration = Duration::from_secs(90);
/// How long epmd gets to open its port.
const EPMD_TIMEOUT: Duration = Duration::from_secs(10);
/// How often we probe while waiting.
const POLL_INTERVAL: Duration = Duration::from_millis(100);
/// The AMQP 0-9-1 protocol header a client sends first.
const AMQP_HEADER: &[u8] = b"AMQP\x00\x00\x09\x01";

/// Numbers the brokers of this process, for unique node names.
static NEXT_NODE: AtomicU32 = AtomicU32::new(0);

/// A running private RabbitMQ broker; killed, with its epmd, and its directory removed on `Drop`.
pub struct RabbitMq {
    script: PathBuf,
    dir: tempfile::TempDir,
    node: String,
    port: u16,
    dist_port: u16,
    epmd_port: u16,
    epmd: Option<Child>,
    broker: Option<Child>,
    /// Counts starts, so each start writes its console output to its own file.
    generation: u32,
}

impl std::fmt::Debug for RabbitMq {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RabbitMq")
            .field("node", &self.node)
            .field("port", &self.port)
            .field("dir", &self.dir.path())
            .field("running", &self.broker.is_some())
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

/// A program named by `env`, or `default`.
fn program(env: &str, default: &str) -> PathBuf {
    std::env::var_os(env).map_or_else(|| PathBuf::from(default), PathBuf::from)
}

/// Three distinct free ports of 127.0.0.1 (AMQP, Erlang distribution, epmd). The broker binds
/// them a few seconds later; another process could take one in between, which on a test
/// machine is rare enough.
fn three_free_ports() -> Result<(u16, u16, u16)> {
    // Hold all three listeners until the ports are read, so they cannot be the same port.
    let bind = || TcpListener::bind(("127.0.0.1", 0)).map_err(io_context("binding a probe port"));
    let (a, b, c) = (bind()?, bind()?, bind()?);
    let port = |l: &TcpListener| {
        l.local_addr()
            .map(|a| a.port())
            .map_err(io_context("reading the probe port"))
    };
    Ok((port(&a)?, port(&b)?, port(&c)?))
}

impl RabbitMq {
    /// Start a private broker (and its epmd) on free ports of 127.0.0.1 with a fresh data
    /// directory, and wait until it accepts AMQP connections.
    pub fn start() -> Result<RabbitMq> {
        let script = program(RABBITMQ_SERVER_ENV, DEFAULT_RABBITMQ_SERVER);
        if !script.is_file() {
            return Err(Error::Setup(format!(
                "{} not found; run ops/setup (installs Debian's rabbitmq-server) or set \
                 {RABBITMQ_SERVER_ENV}",
                script.display()
            )));
        }
        let dir = tempfile::Builder::new()
            .prefix("custody-rabbitmq-")
            .tempdir()
            .map_err(io_context("creating the RabbitMQ directory"))?;
        let (port, dist_port, epmd_port) = three_free_ports()?;
        let node = format!(
            "custody-test-{}-{}@localhost",
            std::process::id(),
            NEXT_NODE.fetch_add(1, Ordering::Relaxed)
        );
        let mut broker = RabbitMq {
            script,
            dir,
            node,
            port,
            dist_port,
            epmd_port,
            epmd: None,
            broker: None,
            generation: 0,
        };
        broker.write_files()?;
        broker.start_epmd()?;
        broker.spawn()?;
        Ok(broker)
    }

    /// The AMQP URL with the default vhost: `amqp://guest:guest@127.0.0.1:<port>/%2f`.
    pub fn url(&self) -> String {
        format!("amqp://guest:guest@127.0.0.1:{}/%2f", self.port)
    }

    /// The AMQP port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The Erlang node name (`custody-test-<pid>-<n>@localhost`).
    pub fn node(&self) -> &str {
        &self.node
    }

    /// Whether the broker runs (was not stopped).
    pub fn is_running(&self) -> bool {
        self.broker.is_some()
    }

    /// Kill the broker (SIGKILL to its process group: a crash, not a graceful shutdown) and wait
    /// until it is gone. Ports and data stay for [`RabbitMq::restart`]; epmd keeps running.
    /// Stopping a stopped broker does nothing.
    pub fn stop(&mut self) {
        if let Some(child) = self.broker.take() {
            kill_group(child);
        }
    }

    /// Stop the broker if it runs and start it again on the same ports and data directory;
    /// waits until it accepts AMQP connections.
    pub fn restart(&mut self) -> Result<()> {
        self.stop();
        if self.epmd.is_none() {
            self.start_epmd()?;
        }
        self.spawn()
    }

    /// The broker's log of all runs so far, for diagnostics.
    pub fn log(&self) -> String {
        let log = self
            .dir
            .path()
            .join("log")
            .join(format!("{}.log", self.node));
        std::fs::read_to_string(log).unwrap_or_default()
    }

    fn env_path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn write_files(&self) -> Result<()> {
        for sub in ["home", "mnesia", "log"] {
            std::fs::create_dir_all(self.env_path(sub))
                .map_err(io_context(format!("creating the RabbitMQ {sub} directory")))?;
        }
        let config = format!(
            "listeners.tcp.1 = 127.0.0.1:{port}\n\
             loopback_users.guest = true\n\
             log.console = false\n\
             log.file.level = info\n",
            port = self.port
        );
        std::fs::write(self.env_path("rabbitmq.conf"), config)
            .map_err(io_context("writing rabbitmq.conf"))?;
        // No plugins: the management listener would need yet another port.
        std::fs::write(self.env_path("enabled_plugins"), "[].\n")
            .map_err(io_context("writing enabled_plugins"))?;
        // An empty environment file instead of /etc/rabbitmq/rabbitmq-env.conf, which names the
        // system node.
        std::fs::write(self.env_path("rabbitmq-env.conf"), "")
            .map_err(io_context("writing rabbitmq-env.conf"))?;
        Ok(())
    }

    fn start_epmd(&mut self) -> Result<()> {
        let epmd = program(EPMD_ENV, "epmd");
        let log =
            File::create(self.env_path("epmd.log")).map_err(io_context("creating the epmd log"))?;
        let log_err = log
            .try_clone()
            .map_err(io_context("duplicating the epmd log handle"))?;
        // In the foreground (no -daemon), so it stays our child and dies with us.
        let child = Command::new(&epmd)
            .args(["-address", "127.0.0.1", "-port"])
            .arg(self.epmd_port.to_string())
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log_err)
            .spawn()
            .map_err(io_context(format!("starting {}", epmd.display())))?;
        self.epmd = Some(child);
        // RabbitMQ starts an epmd of its own (daemonised, outliving us) if none answers.
        let deadline = Instant::now() + EPMD_TIMEOUT;
        let addr = SocketAddr::from(([127, 0, 0, 1], self.epmd_port));
        while TcpStream::connect_timeout(&addr, Duration::from_secs(1)).is_err() {
            if let Some(child) = self.epmd.as_mut() {
                if let Ok(Some(status)) = child.try_wait() {
                    self.epmd = None;
                    return Err(Error::Setup(format!(
                        "epmd on port {} exited with {status}",
                        self.epmd_port
                    )));
                }
            }
            if Instant::now() > deadline {
                return Err(Error::Setup(format!(
                    "epmd did not listen on port {} within {EPMD_TIMEOUT:?}",
                    self.epmd_port
                )));
            }
            pause();
        }
        Ok(())
    }

    fn spawn(&mut self) -> Result<()> {
        self.generation = self.generation.saturating_add(1);
        let out_path = self.env_path(&format!("console.{}.log", self.generation));
        let out = File::create(&out_path).map_err(io_context("creating the console log"))?;
        let out_err = out
            .try_clone()
            .map_err(io_context("duplicating the console log handle"))?;
        let path = |name: &str| self.env_path(name);
        let child = Command::new(&self.script)
            .current_dir(self.dir.path())
            // The script runs the Erlang VM as its child; a group of their own lets `stop`
            // kill the script, the VM and the VM's helper processes at once.
            .process_group(0)
            // Erlang keeps its cookie in $HOME.
            .env("HOME", path("home"))
            .env("RABBITMQ_CONF_ENV_FILE", path("rabbitmq-env.conf"))
            .env("RABBITMQ_NODENAME", &self.node)
            .env("RABBITMQ_NODE_IP_ADDRESS", "127.0.0.1")
            .env("RABBITMQ_NODE_PORT", self.port.to_string())
            .env("RABBITMQ_DIST_PORT", self.dist_port.to_string())
            .env("ERL_EPMD_PORT", self.epmd_port.to_string())
            .env("ERL_EPMD_ADDRESS", "127.0.0.1")
            .env(
                "RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS",
                "-kernel inet_dist_use_interface {127,0,0,1}",
            )
            .env("RABBITMQ_CONFIG_FILE", path("rabbitmq.conf"))
            .env("RABBITMQ_ADVANCED_CONFIG_FILE", path("advanced.config"))
            .env("RABBITMQ_ENABLED_PLUGINS_FILE", path("enabled_plugins"))
            .env("RABBITMQ_MNESIA_BASE", path("mnesia"))
            .env("RABBITMQ_LOG_BASE", path("log"))
            .env("RABBITMQ_PID_FILE", path("rabbitmq.pid"))
            .env("ERL_CRASH_DUMP", path("erl_crash.dump"))
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(out_err)
            .spawn()
            .map_err(io_context(format!("starting {}", self.script.display())))?;
        self.broker = Some(child);
        match self.wait_ready() {
            Ok(()) => Ok(()),
            Err(why) => {
                self.stop();
                let console = std::fs::read_to_string(&out_path).unwrap_or_default();
                Err(Error::Setup(format!(
                    "RabbitMQ node {} did not start: {why}; console: {}",
                    self.node,
                    console.trim()
                )))
            }
        }
    }

    /// Wait until the AMQP port answers the protocol header with `connection.start`.
    fn wait_ready(&mut self) -> std::result::Result<(), String> {
        let deadline = Instant::now() + STARTUP_TIMEOUT;
        loop {
            if let Some(child) = self.broker.as_mut() {
                if let Ok(Some(status)) = child.try_wait() {
                    return Err(format!("exited with {status}"));
                }
            }
            if amqp_answers(self.port) {
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err(format!("no AMQP answer after {STARTUP_TIMEOUT:?}"));
            }
            pause();
        }
    }
}

/// Whether an AMQP 0-9-1 broker on `port` answers the protocol header with a method frame of
/// `connection.start` (class 10, method 10).
fn amqp_answers(port: u16) -> bool {
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let Ok(mut stream) = TcpStream::connect_timeout(&addr, Duration::from_secs(1)) else {
        return false;
    };
    let timeout = Some(Duration::from_secs(2));
    if stream.set_read_timeout(timeout).is_err() || stream.write_all(AMQP_HEADER).is_err() {
        return false;
    }
    // Frame: type (1 = method), channel (2), size (4), then class id (2) and method id (2).
    let mut head = [0u8; 11];
    if stream.read_exact(&mut head).is_err() {
        return false;
    }
    is_connection_start(&head)
}

fn is_connection_start(head: &[u8; 11]) -> bool {
    let [frame_type, _, _, _, _, _, _, class_hi, class_lo, method_hi, method_lo] = *head;
    frame_type == 1
        && u16::from_be_bytes([class_hi, class_lo]) == 10
        && u16::from_be_bytes([method_hi, method_lo]) == 10
}

/// SIGKILL the process group led by `child` and reap the child.
fn kill_group(mut child: Child) {
    let group = format!("-{}", child.id());
    // `kill` from procps: the standard library can only signal the one process.
    let killed = Command::new("kill")
        .args(["-KILL", "--", &group])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !killed {
        let _ = child.kill();
    }
    let _ = child.wait();
}

impl Drop for RabbitMq {
    fn drop(&mut self) {
        self.stop();
        if let Some(mut epmd) = self.epmd.take() {
            let _ = epmd.kill();
            let _ = epmd.wait();
        }
        // The TempDir field removes the directory after this.
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recognises_connection_start() {
        let start = [1, 0, 0, 0, 0, 1, 0, 0, 10, 0, 10];
        assert!(is_connection_start(&start));
        let close = [1, 0, 0, 0, 0, 1, 0, 0, 10, 0, 50];
        assert!(!is_connection_start(&close));
    }

    #[test]
    fn three_ports_differ() {
        let (a, b, c) = three_free_ports().unwrap();
        assert!(a != b && b != c && a != c);
    }
}
