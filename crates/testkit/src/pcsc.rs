//! A private PC/SC daemon with a virtual reader, and a virtual card that tests insert and remove.
//!
//! `pcscd` 1.9 always listens on `/run/pcscd/pcscd.comm` (it ignores `PCSCLITE_CSOCK_NAME`),
//! while the client library honours that variable. So [`VirtualReader`] starts `pcscd` in a
//! private mount namespace (`unshare --mount`, or a user namespace when not root) in which a
//! temporary directory is bound over `/run`, and points `PCSCLITE_CSOCK_NAME` of the test process
//! at the socket in that directory. The system daemon, if any, is never touched. The reader is
//! Debian's vsmartcard `vpcd` driver, configured through a private `reader.conf.d` on a free
//! port pair; the card is `vicc -t iso7816`, started on insert and killed on remove.
//!
//! The client library reads `PCSCLITE_CSOCK_NAME` once per process, so the socket path is fixed
//! per process (`<temp>/custody-pcsc-<pid>/run/pcscd/pcscd.comm`) and virtual readers in one
//! process take turns: [`VirtualReader::start`] waits for the previous one to be dropped.
//!
//! Environment: `CUSTODY_VICC_PYTHONPATH` (default `/opt/custody/pylib`) names the directory
//! where `ops/setup` installed pycryptodome, which Debian's python3-virtualsmartcard lacks.

use std::ffi::CString;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use crate::{io_context, Error, Result};

/// Where Debian's vsmartcard-vpcd puts its driver.
const VPCD_DRIVER: &str = "/usr/lib/pcsc/drivers/serial/libifdvpcd.so";
/// Where Debian's python3-virtualsmartcard puts its modules (one folder deeper than Python looks).
const VICC_MODULES: &str = "/usr/lib/python3/site-packages/virtualsmartcard";
/// Default directory holding pycryptodome for vicc.
const DEFAULT_VICC_PYTHONPATH: &str = "/opt/custody/pylib";
/// Prefix of the per-process directory under the system temporary directory.
const DIR_PREFIX: &str = "custody-pcsc-";
/// How long we wait for pcscd or a card state change before giving up.
const STARTUP_TIMEOUT: Duration = Duration::from_secs(15);
/// How often we poll while waiting for processes to come up.
const POLL_INTERVAL: Duration = Duration::from_millis(100);

/// Serialises virtual readers within a test process (one socket path per process).
static READER_LOCK: Mutex<()> = Mutex::new(());

/// A private `pcscd` with one virtual reader and, optionally, a virtual card in it.
pub struct VirtualReader {
    dir: PathBuf,
    socket: PathBuf,
    reader_name: String,
    port: u16,
    pcscd: Child,
    vicc: Option<Child>,
    // Dropped last, so the next reader starts only after this one's processes are gone.
    _turn: MutexGuard<'static, ()>,
}

impl std::fmt::Debug for VirtualReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VirtualReader")
            .field("socket", &self.socket)
            .field("reader_name", &self.reader_name)
            .field("port", &self.port)
            .field("card_inserted", &self.vicc.is_some())
            .finish()
    }
}

/// Two consecutive free TCP ports: vpcd listens on the configured port and the next one (it
/// offers two readers).
fn free_port_pair() -> Result<u16> {
    for _ in 0..50 {
        let first =
            TcpListener::bind(("127.0.0.1", 0)).map_err(io_context("binding a probe port"))?;
        let port = first
            .local_addr()
            .map_err(io_context("reading the probe port"))?
            .port();
        let Some(next) = port.checked_add(1) else {
            continue;
        };
        // vpcd binds the wildcard address, so probe the second port the same way.
        if TcpListener::bind(("0.0.0.0", next)).is_ok() {
            return Ok(port);
        }
    }
    Err(Error::Setup(
        "no pair of consecutive free TCP ports found".to_owned(),
    ))
}

/// Sleep for test polling. Test infrastructure has no async runtime to yield to here.
#[allow(
    clippy::disallowed_methods,
    reason = "blocking test infrastructure, no async runtime"
)]
fn pause() {
    std::thread::sleep(POLL_INTERVAL);
}

fn stop(child: &mut Child) {
    let _ = child.kill();
    let _ = child.wait();
}

impl VirtualReader {
    /// Start a private `pcscd` with the vpcd reader and wait until the reader is listed.
    pub fn start() -> Result<VirtualReader> {
        let turn = READER_LOCK
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        crate::remove_stale_dirs(DIR_PREFIX);
        for path in ["/usr/sbin/pcscd", VPCD_DRIVER] {
            if !Path::new(path).exists() {
                return Err(Error::Setup(format!(
                    "{path} is missing; install pcscd and vsmartcard-vpcd"
                )));
            }
        }
        let dir = std::env::temp_dir().join(format!("{DIR_PREFIX}{}", std::process::id()));
        // A reader dropped earlier in this process removed it; this clears a crashed one's.
        let _ = std::fs::remove_dir_all(&dir);
        let run = dir.join("run");
        let conf = dir.join("reader.conf.d");
        std::fs::create_dir_all(&run).map_err(io_context("creating the pcscd run directory"))?;
        std::fs::create_dir_all(&conf).map_err(io_context("creating reader.conf.d"))?;
        let port = free_port_pair()?;
        std::fs::write(
            conf.join("vpcd"),
            format!(
                "FRIENDLYNAME \"Virtual PCD\"\nDEVICENAME /dev/null:{port}\nLIBPATH {VPCD_DRIVER}\nCHANNELID {port}\n"
            ),
        )
        .map_err(io_context("writing the vpcd reader configuration"))?;
        let socket = run.join("pcscd").join("pcscd.comm");
        // Set before any PC/SC context exists in this process: the client library caches it.
        std::env::set_var("PCSCLITE_CSOCK_NAME", &socket);

        let script = format!(
            "mount --bind '{}' /run && exec /usr/sbin/pcscd --foreground --info --config '{}'",
            run.display(),
            conf.display()
        );
        let log_path = dir.join("pcscd.log");
        let mut failures = Vec::new();
        // Root can make a mount namespace directly; anyone else needs a user namespace first.
        let strategies: [&[&str]; 2] = [
            &["--mount", "--propagation", "private"],
            &[
                "--user",
                "--map-root-user",
                "--mount",
                "--propagation",
                "private",
            ],
        ];
        for args in strategies {
            let log =
                std::fs::File::create(&log_path).map_err(io_context("creating the pcscd log"))?;
            let log_err = log
                .try_clone()
                .map_err(io_context("duplicating the pcscd log handle"))?;
            let mut child = Command::new("unshare")
                .args(args)
                .arg("sh")
                .arg("-c")
                .arg(&script)
                .stdin(Stdio::null())
                .stdout(log)
                .stderr(log_err)
                .spawn()
                .map_err(io_context("starting unshare/pcscd"))?;
            match wait_for_socket(&mut child, &socket) {
                Ok(()) => {
                    let mut reader = VirtualReader {
                        dir,
                        socket,
                        reader_name: String::new(),
                        port,
                        pcscd: child,
                        vicc: None,
                        _turn: turn,
                    };
                    reader.reader_name = reader.wait_for_reader()?;
                    return Ok(reader);
                }
                Err(why) => {
                    stop(&mut child);
                    let log = std::fs::read_to_string(&log_path).unwrap_or_default();
                    failures.push(format!(
                        "unshare {}: {why}; log: {}",
                        args.join(" "),
                        log.trim()
                    ));
                }
            }
        }
        let _ = std::fs::remove_dir_all(&dir);
        Err(Error::Setup(format!(
            "could not start a private pcscd: {}",
            failures.join(" | ")
        )))
    }

    /// The name PC/SC gives the virtual reader, e.g. `Virtual PCD 00 00`.
    pub fn reader_name(&self) -> &str {
        &self.reader_name
    }

    /// The private daemon's socket (also exported as `PCSCLITE_CSOCK_NAME`).
    pub fn socket_path(&self) -> &Path {
        &self.socket
    }

    /// Whether a virtual card is currently inserted.
    pub fn card_inserted(&self) -> bool {
        self.vicc.is_some()
    }

    /// Insert a virtual ISO 7816 card and wait until PC/SC reports it present.
    pub fn insert_card(&mut self) -> Result<()> {
        if self.vicc.is_some() {
            return Ok(());
        }
        let extra = std::env::var_os("CUSTODY_VICC_PYTHONPATH")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from(DEFAULT_VICC_PYTHONPATH));
        let pythonpath = format!("{VICC_MODULES}:{}", extra.display());
        let log = std::fs::File::create(self.dir.join("vicc.log"))
            .map_err(io_context("creating the vicc log"))?;
        let log_err = log
            .try_clone()
            .map_err(io_context("duplicating the vicc log handle"))?;
        let child = Command::new("/usr/bin/python3")
            .arg("/usr/bin/vicc")
            .args(["-t", "iso7816", "-H", "127.0.0.1", "-P"])
            .arg(self.port.to_string())
            .env("PYTHONPATH", pythonpath)
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log_err)
            .spawn()
            .map_err(io_context("starting vicc"))?;
        self.vicc = Some(child);
        self.wait_for_card(true)
    }

    /// Remove the virtual card (kill vicc) and wait until PC/SC reports the reader empty.
    pub fn remove_card(&mut self) -> Result<()> {
        if let Some(mut child) = self.vicc.take() {
            stop(&mut child);
        }
        self.wait_for_card(false)
    }

    fn wait_for_reader(&self) -> Result<String> {
        let deadline = Instant::now() + STARTUP_TIMEOUT;
        let mut last_error = String::new();
        while Instant::now() < deadline {
            match ::pcsc::Context::establish(::pcsc::Scope::User)
                .and_then(|ctx| ctx.list_readers_owned())
            {
                Ok(readers) => {
                    if let Some(name) = readers
                        .iter()
                        .filter_map(|r| r.to_str().ok())
                        .find(|r| r.starts_with("Virtual PCD") && r.ends_with("00 00"))
                    {
                        return Ok(name.to_owned());
                    }
                    last_error = format!("readers listed: {readers:?}");
                }
                Err(e) => last_error = e.to_string(),
            }
            pause();
        }
        Err(Error::Setup(format!(
            "pcscd started but the virtual reader did not appear ({last_error}); see {}",
            self.dir.join("pcscd.log").display()
        )))
    }

    fn wait_for_card(&mut self, present: bool) -> Result<()> {
        let name = CString::new(self.reader_name.clone())
            .map_err(|_| Error::Setup("reader name contains a NUL byte".to_owned()))?;
        let ctx = ::pcsc::Context::establish(::pcsc::Scope::User)?;
        let deadline = Instant::now() + STARTUP_TIMEOUT;
        let mut state = [::pcsc::ReaderState::new(name, ::pcsc::State::UNAWARE)];
        while Instant::now() < deadline {
            if let Some(vicc) = self.vicc.as_mut() {
                if let Ok(Some(status)) = vicc.try_wait() {
                    let log =
                        std::fs::read_to_string(self.dir.join("vicc.log")).unwrap_or_default();
                    self.vicc = None;
                    return Err(Error::Setup(format!(
                        "vicc exited with {status}; is pycryptodome in CUSTODY_VICC_PYTHONPATH (default {DEFAULT_VICC_PYTHONPATH})? log: {}",
                        log.trim()
                    )));
                }
            }
            match ctx.get_status_change(Duration::from_millis(500), &mut state) {
                Ok(()) | Err(::pcsc::Error::Timeout) => {}
                Err(e) => return Err(e.into()),
            }
            let Some(reader) = state.first_mut() else {
                break;
            };
            let is_present = reader.event_state().contains(::pcsc::State::PRESENT);
            if is_present == present {
                return Ok(());
            }
            reader.sync_current_state();
        }
        Err(Error::Setup(format!(
            "the virtual card did not become {} within {STARTUP_TIMEOUT:?}",
            if present { "present" } else { "absent" }
        )))
    }
}

fn wait_for_socket(child: &mut Child, socket: &Path) -> std::result::Result<(), String> {
    let deadline = Instant::now() + STARTUP_TIMEOUT;
    while Instant::now() < deadline {
        if socket.exists() {
            return Ok(());
        }
        if let Ok(Some(status)) = child.try_wait() {
            return Err(format!("exited with {status}"));
        }
        pause();
    }
    Err(format!("socket did not appear within {STARTUP_TIMEOUT:?}"))
}

impl Drop for VirtualReader {
    fn drop(&mut self) {
        if let Some(mut child) = self.vicc.take() {
            stop(&mut child);
        }
        stop(&mut self.pcscd);
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
