//! What both zones' browser tests share: where the built front ends and the browser tests
//! live, a free local port, and running one `web/e2e/*.mjs` script in Debian's chromium
//! (playwright-core) against a zone the Rust test stood up.
//!
//! The scripts get everything they need in `CUSTODY_E2E_*` environment variables and talk back
//! to the test through a small "oracle" HTTP server the test runs (for the steps that belong to
//! the other zone or to the case managers, e.g. signing a response with the case key). The
//! screenshots go to `web/e2e/screenshots/<zone>/` (named in the README).

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, BufReader};

/// The repository root.
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .nth(2)
        .map_or_else(|| PathBuf::from("."), Path::to_path_buf)
}

/// The built front end of `zone` (`online` or `offline`). Panics with what to run when it is
/// missing: `ops/test` builds it before the Rust tests.
///
/// # Panics
/// If `web/<zone>/dist/index.html` does not exist.
pub fn web_dir(zone: &str) -> PathBuf {
    let dir = repo_root().join("web").join(zone).join("dist");
    assert!(
        dir.join("index.html").is_file(),
        "{} is missing: build the front ends first (npm --prefix web ci && npm --prefix web run build; ops/test does this)",
        dir.display()
    );
    dir
}

/// Where `zone`'s screenshots go.
pub fn screenshot_dir(zone: &str) -> PathBuf {
    repo_root().join("web/e2e/screenshots").join(zone)
}

/// The browser: `CUSTODY_CHROMIUM`, else Debian's `/usr/bin/chromium`.
pub fn chromium() -> PathBuf {
    #[allow(
        clippy::disallowed_methods,
        reason = "test configuration is read from the environment"
    )]
    std::env::var_os("CUSTODY_CHROMIUM")
        .map_or_else(|| PathBuf::from("/usr/bin/chromium"), PathBuf::from)
}

/// A free TCP port on 127.0.0.1.
///
/// # Panics
/// If no port can be bound.
pub fn free_port() -> u16 {
    #[allow(clippy::expect_used, reason = "test helper")]
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind a free port");
    #[allow(clippy::expect_used, reason = "test helper")]
    listener.local_addr().expect("local address").port()
}

/// Echoes each line of `stream` prefixed with `tag` (the test's output shows the browser's).
fn echo<R>(stream: Option<R>, tag: &'static str) -> tokio::task::JoinHandle<()>
where
    R: tokio::io::AsyncRead + Unpin + Send + 'static,
{
    tokio::spawn(async move {
        if let Some(stream) = stream {
            let mut lines = BufReader::new(stream).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                println!("[{tag}] {line}");
            }
        }
    })
}

/// Runs `node web/e2e/<script>` with `env` (plus the browser, the screenshot folder and the
/// node_modules check) and returns when it ends, echoing its output line by line.
///
/// # Panics
/// If node cannot start, the script fails or it runs longer than `limit`.
#[allow(
    clippy::panic,
    reason = "test helper: a failed browser script fails the test"
)]
pub async fn run_browser_script(script: &str, zone: &str, env: &[(&str, String)], limit: Duration) {
    let root = repo_root();
    let web = root.join("web");
    assert!(
        web.join("node_modules/playwright-core").is_dir(),
        "web/node_modules is missing: run `npm --prefix web ci` (ops/test does this)"
    );
    let shots = screenshot_dir(zone);
    #[allow(clippy::expect_used, reason = "test helper")]
    std::fs::create_dir_all(&shots).expect("create the screenshot folder");
    let mut cmd = tokio::process::Command::new("node");
    cmd.current_dir(&web)
        .arg(web.join("e2e").join(script))
        .env("CUSTODY_CHROMIUM", chromium())
        .env("CUSTODY_E2E_SCREENSHOTS", &shots)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    for (key, value) in env {
        cmd.env(key, value);
    }
    #[allow(clippy::expect_used, reason = "test helper")]
    let mut child = cmd.spawn().expect("start node (is Node.js installed?)");
    let out = echo(child.stdout.take(), "browser");
    let err = echo(child.stderr.take(), "browser!");
    let status = tokio::time::timeout(limit, child.wait()).await;
    let _ = out.await;
    let _ = err.await;
    match status {
        Ok(Ok(status)) => assert!(status.success(), "web/e2e/{script} failed: {status}"),
        Ok(Err(e)) => panic!("web/e2e/{script}: {e}"),
        Err(_) => panic!("web/e2e/{script} ran longer than {limit:?}"),
    }
}
