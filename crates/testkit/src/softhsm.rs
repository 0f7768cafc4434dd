//! SoftHSM2 tokens for tests, in a token directory private to the test process.
//!
//! SoftHSM reads `SOFTHSM2_CONF` once, when the module is initialised, and `p11::Module` loads a
//! library once per process. So there is exactly one [`SoftHsm`] per process ([`SoftHsm::global`]);
//! it writes its own `softhsm2.conf`, points `SOFTHSM2_CONF` at it before the module is loaded,
//! and hands out fresh tokens with unique labels and random PINs. Load the module through
//! [`SoftHsm::module`], never directly, or it may read the system configuration instead.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::OnceLock;

use rand_core::{OsRng, RngCore};
use secrecy::SecretString;

use crate::{io_context, Error, Result};

/// Where Debian and Ubuntu put the module; `CUSTODY_SOFTHSM2_MODULE` overrides.
const MODULE_CANDIDATES: [&str; 3] = [
    "/usr/lib/softhsm/libsofthsm2.so",
    "/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so",
    "/usr/local/lib/softhsm/libsofthsm2.so",
];

/// Prefix of the per-process directory under the system temporary directory.
const DIR_PREFIX: &str = "custody-softhsm-";

/// The process-wide SoftHSM set-up.
pub struct SoftHsm {
    // Kept for the life of the process: SoftHSM keeps using the directory.
    dir: tempfile::TempDir,
    token_dir: PathBuf,
    module_path: PathBuf,
    module: p11::Module,
    counter: AtomicU32,
}

/// A freshly initialised token and its PINs.
pub struct TestToken {
    /// The token as the module reports it (its serial is the SE serial).
    pub summary: p11::TokenSummary,
    /// The security officer PIN.
    pub so_pin: SecretString,
    /// The user PIN.
    pub user_pin: SecretString,
}

impl std::fmt::Debug for TestToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestToken")
            .field("summary", &self.summary)
            .finish_non_exhaustive()
    }
}

/// A random PIN of 16 hex digits: printable, and long enough that a test never guesses it.
pub fn random_pin() -> SecretString {
    let mut bytes = [0u8; 8];
    OsRng.fill_bytes(&mut bytes);
    SecretString::from(hex::encode(bytes))
}

fn find_module() -> Result<PathBuf> {
    if let Some(path) = std::env::var_os("CUSTODY_SOFTHSM2_MODULE") {
        return Ok(PathBuf::from(path));
    }
    MODULE_CANDIDATES
        .iter()
        .map(PathBuf::from)
        .find(|p| p.exists())
        .ok_or_else(|| {
            Error::Setup(format!(
                "libsofthsm2.so not found in {MODULE_CANDIDATES:?}; install softhsm2 or set CUSTODY_SOFTHSM2_MODULE"
            ))
        })
}

impl SoftHsm {
    /// The process-wide instance, created on first use.
    ///
    /// # Panics
    ///
    /// If SoftHSM cannot be set up (module missing, temporary directory not writable): no test
    /// that needs a token can run then, and the panic message says what is missing.
    #[allow(
        clippy::panic,
        reason = "test infrastructure: a clear stop beats a confusing failure later"
    )]
    pub fn global() -> &'static SoftHsm {
        static GLOBAL: OnceLock<std::result::Result<SoftHsm, String>> = OnceLock::new();
        match GLOBAL.get_or_init(|| SoftHsm::create().map_err(|e| e.to_string())) {
            Ok(softhsm) => softhsm,
            Err(message) => panic!("cannot set up SoftHSM for tests: {message}"),
        }
    }

    fn create() -> Result<SoftHsm> {
        crate::remove_stale_dirs(DIR_PREFIX);
        let module_path = find_module()?;
        let dir = tempfile::Builder::new()
            .prefix(&format!("{DIR_PREFIX}{}-", std::process::id()))
            .tempdir()
            .map_err(io_context("creating the SoftHSM temporary directory"))?;
        let token_dir = dir.path().join("tokens");
        std::fs::create_dir(&token_dir).map_err(io_context("creating the token directory"))?;
        let conf = dir.path().join("softhsm2.conf");
        std::fs::write(
            &conf,
            format!(
                "directories.tokendir = {}\nobjectstore.backend = file\nlog.level = ERROR\nslots.removable = false\n",
                token_dir.display()
            ),
        )
        .map_err(io_context("writing softhsm2.conf"))?;
        // Must happen before the module is initialised; nothing else in a test process should
        // load SoftHSM, so no other thread reads this variable concurrently.
        std::env::set_var("SOFTHSM2_CONF", &conf);
        let module = p11::Module::load(&module_path)?;
        Ok(SoftHsm {
            dir,
            token_dir,
            module_path,
            module,
            counter: AtomicU32::new(0),
        })
    }

    /// The path of `libsofthsm2.so`.
    pub fn module_path(&self) -> &Path {
        &self.module_path
    }

    /// The directory SoftHSM keeps token files in (tests scan it for plaintext).
    pub fn token_dir(&self) -> &Path {
        &self.token_dir
    }

    /// The directory holding the configuration and the token directory.
    pub fn root_dir(&self) -> &Path {
        self.dir.path()
    }

    /// The loaded module.
    pub fn module(&self) -> p11::Module {
        self.module.clone()
    }

    /// Initialise a new token labelled `<label_prefix>-<n>` (at most 32 bytes) with fresh PINs.
    pub fn try_new_token(&self, label_prefix: &str) -> Result<TestToken> {
        let n = self.counter.fetch_add(1, Ordering::Relaxed);
        let suffix = format!("-{n}");
        let keep = 32usize.saturating_sub(suffix.len());
        let prefix: String = label_prefix.chars().take(keep).collect();
        let label = format!("{prefix}{suffix}");
        let so_pin = random_pin();
        let user_pin = random_pin();
        let summary = self.module.init_token(&label, &so_pin, &user_pin)?;
        Ok(TestToken {
            summary,
            so_pin,
            user_pin,
        })
    }

    /// Like [`SoftHsm::try_new_token`].
    ///
    /// # Panics
    ///
    /// If SoftHSM refuses to initialise a token.
    #[allow(
        clippy::panic,
        reason = "test infrastructure: tests want a token or a clear stop"
    )]
    pub fn new_token(&self, label_prefix: &str) -> TestToken {
        match self.try_new_token(label_prefix) {
            Ok(token) => token,
            Err(e) => panic!("cannot initialise a SoftHSM token: {e}"),
        }
    }
}
