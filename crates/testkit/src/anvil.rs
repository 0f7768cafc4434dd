//! A private anvil (Foundry's development Ethereum node) on a free port, for tests.
//!
//! Each [`Anvil`] runs its own `anvil` process bound to 127.0.0.1 with a fixed chain id, and
//! kills it on `Drop`. Blocks are mined on every transaction by default; [`AnvilOptions`] turns on
//! interval mining instead. Besides the URL, it offers the node's test controls that the chain
//! tests need: mining blocks, snapshots, reorganisations (`anvil_reorg`), dropping a pending
//! transaction (`anvil_dropTransaction`) and setting balances.
//!
//! The control calls are plain blocking JSON-RPC over HTTP/1.1 on a local socket, written with
//! the standard library so the test kit does not pull an HTTP client; they are short calls to
//! another process, so making them from an async test does not stall the node.
//!
//! The binary comes from the npm package `@foundry-rs/anvil` that `ops/setup` installs
//! ([`default_binary`]); `CUSTODY_ANVIL` overrides the path.

use std::fs::File;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::{io_context, Error, Result};

/// Where `ops/setup` installs the npm packages; anvil's binary is inside the platform package
/// (see [`default_binary`]).
pub const NODE_PREFIX: &str = "/opt/custody/node";
/// Environment variable that overrides the binary.
pub const ANVIL_ENV: &str = "CUSTODY_ANVIL";
/// The chain id every test node uses (anvil's own default, the common local-chain id).
pub const CHAIN_ID: u64 = 31337;
/// How long the node gets to answer `eth_chainId`.
const STARTUP_TIMEOUT: Duration = Duration::from_secs(20);
/// How often we look while waiting.
const POLL_INTERVAL: Duration = Duration::from_millis(50);
/// How long one control call may take.
const RPC_TIMEOUT: Duration = Duration::from_secs(10);
/// The log line anvil prints once its RPC port is open; the address follows it.
const LISTENING: &str = "Listening on ";

/// TEST ONLY, PUBLICLY KNOWN: the private keys of anvil's ten pre-funded accounts, derived from
/// the well-known mnemonic `test test test test test test test test test test test junk`
/// (`m/44'/60'/0'/0/i`). Anyone can spend from these addresses on any chain; never fund them.
pub const TEST_ONLY_DEV_KEYS: [&str; 10] = [
    "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80",
    "0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d",
    "0x5de4111afa1a4b94908f83103eb1f1706367c2e68ca870fc3fb9a804cdab365a",
    "0x7c852118294e51e653712a81e05800f419141751be58f605c371e15141b007a6",
    "0x47e179ec197488593b187f80a00eb0da91f1b9d0b13f8733639f19c30a34926a",
    "0x8b3a350cf5c34c9194ca85829a2df0ec3153be0318b5e2d3348e872092edffba",
    "0x92db14e403b83dfe3df233f83dfa3a0d7096f21ca9b0d6d6b8d88b2b4ec1564e",
    "0x4bbbf85ce3377467afe5d46f804f221813b2bb87f24d81f60f1fcdbf7cbf4356",
    "0xdbda1821b80551c9d65939329250298aa3472ba22feea921c0cf5d620ea67b97",
    "0x2a871d0798f97d79848a013d4936a73bf4cc922c825d33c1cf7073dff6d409c6",
];

/// The addresses of [`TEST_ONLY_DEV_KEYS`], in the same order (EIP-55).
pub const TEST_ONLY_DEV_ADDRESSES: [&str; 10] = [
    "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266",
    "0x70997970C51812dc3A010C7d01b50e0d17dc79C8",
    "0x3C44CdDdB6a900fa2b585dd299e03d12FA4293BC",
    "0x90F79bf6EB2c4f870365E785982E1f101E93b906",
    "0x15d34AAf54267DB7D7c367839AAf71A00a2C6A65",
    "0x9965507D1a55bcC2695C58ba16FB37d819B0A4dc",
    "0x976EA74026E726554dB657fA54763abd0C3a0aa9",
    "0x14dC79964da2C08b23698B3D3cc7Ca32193d9955",
    "0x23618e81E3f5cdF7f54C3d65f7FBc0aBf5B21E8f",
    "0xa0Ee7A142d267C1f36714E4a8F75612F20a79720",
];

/// How the node mines.
#[derive(Debug, Clone, Default)]
pub struct AnvilOptions {
    /// `None`: mine a block for every transaction as it arrives (anvil's auto-mine).
    /// `Some(seconds)`: mine a block every `seconds` seconds instead (`--block-time`), so
    /// transactions wait in the pool like on a real network.
    pub block_time_secs: Option<u64>,
}

/// A running anvil; killed on `Drop`.
pub struct Anvil {
    child: Option<Child>,
    port: u16,
    dir: tempfile::TempDir,
}

impl std::fmt::Debug for Anvil {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Anvil")
            .field("url", &self.url())
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

/// Where `ops/setup` puts the binary on this machine: npm installs the platform package for
/// the CPU (`@foundry-rs/anvil-linux-amd64` or `-linux-arm64`), which carries it.
pub fn default_binary() -> PathBuf {
    let platform = match std::env::consts::ARCH {
        "aarch64" => "linux-arm64",
        _ => "linux-amd64",
    };
    PathBuf::from(format!(
        "{NODE_PREFIX}/node_modules/@foundry-rs/anvil-{platform}/bin/anvil"
    ))
}

/// The binary to run: `$CUSTODY_ANVIL` or the path `ops/setup` installs to.
fn binary() -> Result<PathBuf> {
    let path = std::env::var_os(ANVIL_ENV)
        .map(PathBuf::from)
        .unwrap_or_else(default_binary);
    if path.is_file() {
        Ok(path)
    } else {
        Err(Error::Setup(format!(
            "anvil not found at {}; run ops/setup (installs @foundry-rs/anvil there) or set \
             {ANVIL_ENV}",
            path.display()
        )))
    }
}

impl Anvil {
    /// Start an auto-mining anvil on a free port of 127.0.0.1 and wait until it answers.
    pub fn start() -> Result<Anvil> {
        Self::start_with(&AnvilOptions::default())
    }

    /// Start an anvil with these options and wait until it answers `eth_chainId`.
    pub fn start_with(options: &AnvilOptions) -> Result<Anvil> {
        let binary = binary()?;
        let dir = tempfile::Builder::new()
            .prefix("custody-anvil-")
            .tempdir()
            .map_err(io_context("creating the anvil directory"))?;
        let log_path = dir.path().join("anvil.log");
        let log = File::create(&log_path).map_err(io_context("creating the anvil log"))?;
        let log_err = log
            .try_clone()
            .map_err(io_context("duplicating the anvil log handle"))?;
        let mut command = Command::new(&binary);
        // Port 0 lets anvil pick a free port itself and print it, so no other process can take
        // a port we probed before anvil binds it.
        command
            .args(["--host", "127.0.0.1", "--port", "0"])
            .args(["--chain-id", &CHAIN_ID.to_string()])
            .args(["--accounts", "10"]);
        if let Some(seconds) = options.block_time_secs {
            command.args(["--block-time", &seconds.to_string()]);
        }
        let child = command
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log_err)
            .spawn()
            .map_err(io_context(format!("starting {}", binary.display())))?;
        let mut anvil = Anvil {
            child: Some(child),
            port: 0,
            dir,
        };
        match anvil.wait_ready() {
            Ok(()) => Ok(anvil),
            Err(why) => {
                let log = anvil.log();
                anvil.stop();
                Err(Error::Setup(format!(
                    "anvil did not start: {why}; log: {}",
                    log.trim()
                )))
            }
        }
    }

    /// The JSON-RPC URL, `http://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// The RPC port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The chain id ([`CHAIN_ID`]).
    pub fn chain_id(&self) -> u64 {
        CHAIN_ID
    }

    /// TEST ONLY: the private key (`0x…`) of pre-funded account `index` (0 to 9).
    pub fn dev_key(&self, index: usize) -> Option<&'static str> {
        TEST_ONLY_DEV_KEYS.get(index).copied()
    }

    /// The address (`0x…`, EIP-55) of pre-funded account `index` (0 to 9).
    pub fn dev_address(&self, index: usize) -> Option<&'static str> {
        TEST_ONLY_DEV_ADDRESSES.get(index).copied()
    }

    /// What anvil printed so far, for diagnostics.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("anvil.log")).unwrap_or_default()
    }

    /// Kill the node (SIGKILL) and wait until it is gone. Stopping twice does nothing.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// One JSON-RPC call; returns `result`, or an error carrying the node's error object.
    pub fn rpc(&self, method: &str, params: Value) -> Result<Value> {
        let body = json!({"jsonrpc": "2.0", "id": 1, "method": method, "params": params});
        let reply = post(self.port, &body.to_string())
            .map_err(|e| Error::Setup(format!("anvil {method}: {e}")))?;
        let reply: Value = serde_json::from_str(&reply)
            .map_err(|e| Error::Setup(format!("anvil {method}: unreadable reply: {e}")))?;
        if let Some(error) = reply.get("error") {
            return Err(Error::Setup(format!("anvil {method} failed: {error}")));
        }
        Ok(reply.get("result").cloned().unwrap_or(Value::Null))
    }

    /// The number of the latest block.
    pub fn block_number(&self) -> Result<u64> {
        let value = self.rpc("eth_blockNumber", json!([]))?;
        parse_quantity(&value).ok_or_else(|| Error::Setup(format!("eth_blockNumber: {value}")))
    }

    /// Mine `blocks` empty (or pool-draining) blocks at once (`anvil_mine`).
    pub fn mine(&self, blocks: u64) -> Result<()> {
        self.rpc("anvil_mine", json!([quantity(blocks)])).map(drop)
    }

    /// Turn mining on every transaction on or off (`evm_setAutomine`). With it off, sent
    /// transactions stay pending until [`Anvil::mine`].
    pub fn set_automine(&self, on: bool) -> Result<()> {
        self.rpc("evm_setAutomine", json!([on])).map(drop)
    }

    /// Take a snapshot of the whole chain state (`evm_snapshot`); returns its id.
    pub fn snapshot(&self) -> Result<String> {
        let value = self.rpc("evm_snapshot", json!([]))?;
        value
            .as_str()
            .map(str::to_owned)
            .ok_or_else(|| Error::Setup(format!("evm_snapshot: {value}")))
    }

    /// Go back to a snapshot (`evm_revert`); blocks mined since are gone.
    pub fn revert(&self, snapshot: &str) -> Result<()> {
        match self.rpc("evm_revert", json!([snapshot]))? {
            Value::Bool(true) => Ok(()),
            other => Err(Error::Setup(format!(
                "evm_revert {snapshot}: the node answered {other}"
            ))),
        }
    }

    /// Replace the last `depth` blocks with as many new, empty blocks (`anvil_reorg`). The
    /// transactions of the replaced blocks are no longer on the canonical chain.
    pub fn reorg(&self, depth: u64) -> Result<()> {
        self.rpc("anvil_reorg", json!([depth, []])).map(drop)
    }

    /// Remove a pending transaction (`0x…` hash) from the pool (`anvil_dropTransaction`).
    pub fn drop_transaction(&self, tx_hash: &str) -> Result<()> {
        self.rpc("anvil_dropTransaction", json!([tx_hash]))
            .map(drop)
    }

    /// Set an account's ether balance, in wei (`anvil_setBalance`).
    pub fn set_balance(&self, address: &str, wei: u128) -> Result<()> {
        self.rpc("anvil_setBalance", json!([address, format!("{wei:#x}")]))
            .map(drop)
    }

    /// Wait for the "listening" line, read the port from it, then wait until `eth_chainId`
    /// answers with [`CHAIN_ID`].
    fn wait_ready(&mut self) -> std::result::Result<(), String> {
        let deadline = Instant::now() + STARTUP_TIMEOUT;
        loop {
            if let Some(child) = self.child.as_mut() {
                if let Ok(Some(status)) = child.try_wait() {
                    return Err(format!("exited with {status}"));
                }
            }
            if self.port == 0 {
                if let Some(port) = parse_port(&self.log()) {
                    self.port = port;
                }
            }
            if self.port != 0 {
                if let Ok(value) = self.rpc("eth_chainId", json!([])) {
                    return match parse_quantity(&value) {
                        Some(CHAIN_ID) => Ok(()),
                        _ => Err(format!("eth_chainId answered {value}, not {CHAIN_ID}")),
                    };
                }
            }
            if Instant::now() > deadline {
                return Err(format!("not answering after {STARTUP_TIMEOUT:?}"));
            }
            pause();
        }
    }
}

impl Drop for Anvil {
    fn drop(&mut self) {
        // The TempDir field removes the log after this.
        self.stop();
    }
}

/// `0x`-prefixed hexadecimal, as JSON-RPC writes quantities.
fn quantity(value: u64) -> String {
    format!("{value:#x}")
}

/// A JSON-RPC quantity (`"0x1f"`) as a number.
fn parse_quantity(value: &Value) -> Option<u64> {
    let digits = value.as_str()?.strip_prefix("0x")?;
    u64::from_str_radix(digits, 16).ok()
}

/// The port in "Listening on 127.0.0.1:PORT".
fn parse_port(log: &str) -> Option<u16> {
    let line = log.lines().find(|l| l.starts_with(LISTENING))?;
    let (_, port) = line.trim().rsplit_once(':')?;
    port.parse().ok()
}

/// POSTs `body` to `http://127.0.0.1:<port>/` with `Connection: close` and returns the
/// response body. Enough HTTP/1.1 for a local JSON-RPC node: anvil answers with a
/// `Content-Length` body, and closing the connection marks its end either way.
fn post(port: u16, body: &str) -> std::result::Result<String, String> {
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let mut stream =
        TcpStream::connect_timeout(&addr, RPC_TIMEOUT).map_err(|e| format!("connect: {e}"))?;
    stream
        .set_read_timeout(Some(RPC_TIMEOUT))
        .and_then(|()| stream.set_write_timeout(Some(RPC_TIMEOUT)))
        .map_err(|e| format!("socket: {e}"))?;
    let request = format!(
        "POST / HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    stream
        .write_all(request.as_bytes())
        .map_err(|e| format!("send: {e}"))?;
    let mut response = String::new();
    stream
        .read_to_string(&mut response)
        .map_err(|e| format!("receive: {e}"))?;
    let (head, body) = response
        .split_once("\r\n\r\n")
        .ok_or("the reply has no HTTP header")?;
    let status = head.lines().next().unwrap_or_default();
    if !status.contains(" 200 ") {
        return Err(format!("HTTP status {status:?}"));
    }
    Ok(body.to_owned())
}

#[cfg(test)]
mod tests {
    use super::{
        parse_port, parse_quantity, Anvil, AnvilOptions, TEST_ONLY_DEV_ADDRESSES,
        TEST_ONLY_DEV_KEYS,
    };

    #[test]
    fn reads_the_port_from_the_log() {
        let log = "Chain ID\n31337\n\nListening on 127.0.0.1:40123\n";
        assert_eq!(parse_port(log), Some(40123));
        assert_eq!(parse_port("nothing here"), None);
        assert_eq!(parse_quantity(&serde_json::json!("0x7a69")), Some(31337));
        assert_eq!(parse_quantity(&serde_json::json!("7a69")), None);
    }

    /// The hard-coded keys and addresses are the ones the node prints and funds, and the
    /// controls move the chain as documented.
    #[test]
    fn starts_with_the_known_accounts_and_mines() {
        let anvil = Anvil::start().unwrap();
        let log = anvil.log();
        for (key, address) in TEST_ONLY_DEV_KEYS.iter().zip(TEST_ONLY_DEV_ADDRESSES) {
            assert!(log.contains(key), "anvil did not print {key}");
            assert!(log.contains(address), "anvil did not print {address}");
        }
        let accounts = anvil.rpc("eth_accounts", serde_json::json!([])).unwrap();
        assert_eq!(
            accounts
                .as_array()
                .unwrap()
                .iter()
                .map(|a| a.as_str().unwrap().to_lowercase())
                .collect::<Vec<_>>(),
            TEST_ONLY_DEV_ADDRESSES
                .iter()
                .map(|a| a.to_lowercase())
                .collect::<Vec<_>>()
        );
        assert_eq!(anvil.block_number().unwrap(), 0);
        let snapshot = anvil.snapshot().unwrap();
        anvil.mine(3).unwrap();
        assert_eq!(anvil.block_number().unwrap(), 3);
        anvil.revert(&snapshot).unwrap();
        assert_eq!(anvil.block_number().unwrap(), 0);
        anvil.mine(4).unwrap();
        let before = anvil
            .rpc("eth_getBlockByNumber", serde_json::json!(["0x3", false]))
            .unwrap()["hash"]
            .clone();
        anvil.reorg(2).unwrap();
        assert_eq!(anvil.block_number().unwrap(), 4);
        let after = anvil
            .rpc("eth_getBlockByNumber", serde_json::json!(["0x3", false]))
            .unwrap()["hash"]
            .clone();
        assert_ne!(before, after, "anvil_reorg kept block 3");
        assert!(anvil.rpc("no_such_method", serde_json::json!([])).is_err());
    }

    /// With a block time, blocks come without transactions or `mine`.
    #[test]
    fn interval_mining_makes_blocks_by_itself() {
        let anvil = Anvil::start_with(&AnvilOptions {
            block_time_secs: Some(1),
        })
        .unwrap();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while anvil.block_number().unwrap() < 2 {
            assert!(std::time::Instant::now() < deadline, "no blocks after 10 s");
            super::pause();
        }
    }
}
