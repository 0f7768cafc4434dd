//! The one-command demo (`ops/run`, `custodyd demo`): both zones on embedded defaults and the
//! whole custody story, each step checked.
//!
//! - [`stack`]: starts everything on free ports with its state under one directory — SoftHSM2
//!   tokens (the offline HSM, the three managers' SEs, the online export key), nats-server,
//!   a private RabbitMQ, anvil with the test ERC-20, two SQLite databases, the offline API and
//!   the coordinator (and reactors), the online API and the chain worker; the APIs serve the
//!   built web front ends when they exist.
//! - [`story`]: the story over the real HTTP APIs and in-process `custody-client` sessions:
//!   users and SEs, a case, a 2-of-3 keygen, the manifest across the gap, funding, an ETH and an
//!   ERC-20 transfer signed by managers {0,1}, a manager replaced (the old one refused), a
//!   transfer signed by {1,2}, both zones' audit chains. Every check can fail.
//! - [`Summary`]: what the story did, written as `demo-summary.json` in the state directory.

pub mod http;
pub mod managers;
pub mod stack;
pub mod story;

use std::path::{Path, PathBuf};
use std::time::Duration;

pub use stack::{Stack, StackOptions};
pub use story::{run_story, StoryOptions};

/// The password of every demo login (printed by the demo; a demo on one machine).
pub const DEMO_PASSWORD: &str = "amber harbor lantern 7";

/// What the story did; serialised to `demo-summary.json`.
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
pub struct Summary {
    /// The chain id (anvil).
    pub chain_id: u64,
    /// The offline case id.
    pub case_id: String,
    /// The case address (EIP-55), derived from the 2-of-3 key.
    pub case_address: String,
    /// The case's public key (SEC1, hex).
    pub case_public_key: String,
    /// The test ERC-20's address.
    pub token_address: String,
    /// The payee of every transfer.
    pub recipient: String,
    /// Every transfer, in order.
    pub transfers: Vec<TransferRecord>,
    /// Balances read on anvil at the end.
    pub final_balances: Balances,
    /// Wall time of each step.
    pub steps: Vec<StepTiming>,
    /// Whether the test-only fixture primes were used (never in the interactive demo).
    pub test_only_fixture_primes: bool,
    /// Each zone's checkpoint directory, its files and the public key that verifies them.
    pub audit_checkpoints: Vec<CheckpointSummary>,
}

/// One zone's audit checkpoints as the demo left them: verify with
/// `custodyd audit verify --db <zone db> --checkpoints <dir> --checkpoint-key <key>`.
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
pub struct CheckpointSummary {
    /// `offline` or `online`.
    pub zone: String,
    /// The checkpoint directory.
    pub dir: String,
    /// The zone's audit-checkpoint public key (hex SEC1).
    pub checkpoint_key: String,
    /// The checkpoint files.
    pub files: Vec<String>,
    /// The zone's database (SQLite file).
    pub db: String,
    /// The zone's token, to check MACs after the demo.
    pub token: DemoToken,
}

/// A zone's SoftHSM2 token as the demo leaves it: `SOFTHSM2_CONF=<softhsm2_conf> custodyd
/// audit verify … --hsm-module <module> --hsm-token <token> --hsm-pin-file <pin_file>`.
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
pub struct DemoToken {
    /// SoftHSM2's configuration file (its token store is in the state directory).
    pub softhsm2_conf: String,
    /// The PKCS#11 module.
    pub module: String,
    /// The token's label.
    pub token: String,
    /// The file holding the user PIN (development token only).
    pub pin_file: String,
}

/// One transfer as it went through both zones.
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
pub struct TransferRecord {
    /// `ETH` or the token's symbol.
    pub asset: String,
    /// Base units.
    pub amount: String,
    /// The online transfer id.
    pub transfer_id: String,
    /// The signing request id (the envelope body's id, shared by both zones).
    pub request_id: String,
    /// The share indexes that signed.
    pub signers: Vec<u16>,
    /// The transaction hash (0x…).
    pub tx_hash: String,
    /// The signed raw transaction (EIP-2718, 0x…), as the offline zone exported it.
    pub raw_tx: String,
    /// The block it was mined in.
    pub block_number: u64,
    /// Final status in the online zone.
    pub status: String,
}

/// Balances in base units (decimal strings).
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
pub struct Balances {
    /// The case address's ether.
    pub case_eth: String,
    /// The case address's tokens.
    pub case_token: String,
    /// The recipient's ether.
    pub recipient_eth: String,
    /// The recipient's tokens.
    pub recipient_token: String,
}

/// How long one step took.
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
pub struct StepTiming {
    /// Step number as printed.
    pub n: u32,
    /// What the step did.
    pub name: String,
    /// Wall time, seconds.
    pub secs: f64,
}

impl StepTiming {
    /// The wall time.
    pub fn duration(&self) -> Duration {
        Duration::from_secs_f64(self.secs)
    }
}

/// The summary file in `state_dir`.
pub fn summary_path(state_dir: &Path) -> PathBuf {
    state_dir.join("demo-summary.json")
}

/// Wipes and recreates `state_dir` and points the process's temporary directory into it, so
/// every process the demo starts (nats-server, RabbitMQ, anvil) and the SoftHSM2 token store
/// keep their state under it. Call before any thread starts (it sets environment variables).
pub fn prepare_state_dir(state_dir: &Path) -> anyhow::Result<PathBuf> {
    use anyhow::Context;
    if state_dir.exists() {
        std::fs::remove_dir_all(state_dir)
            .with_context(|| format!("cannot reset {}", state_dir.display()))?;
    }
    let tmp = state_dir.join("tmp");
    std::fs::create_dir_all(&tmp).with_context(|| format!("cannot create {}", tmp.display()))?;
    let abs = std::fs::canonicalize(state_dir)?;
    // Single-threaded here: nothing reads the environment concurrently.
    std::env::set_var("TMPDIR", abs.join("tmp"));
    Ok(abs)
}

/// Options of `custodyd demo`.
#[derive(Clone, Debug)]
pub struct DemoOptions {
    /// The prepared state directory (absolute).
    pub state_dir: PathBuf,
    /// Where `web/online/dist` and `web/offline/dist` are looked for.
    pub web_root: Option<PathBuf>,
    /// Run the story and exit (0 only if every step verified).
    pub check: bool,
    /// Use the test-only fixture primes.
    pub test_only_fixture_primes: bool,
}

/// `custodyd demo`: starts both zones, runs the story; with `check`, stops and returns;
/// otherwise prints the URLs and logins and keeps everything (and the three simulated managers)
/// running until Ctrl-C.
pub async fn run_demo(opts: DemoOptions) -> anyhow::Result<Summary> {
    let started = std::time::Instant::now();
    println!(
        "custody demo — state in {}{}",
        opts.state_dir.display(),
        if opts.test_only_fixture_primes {
            " — TEST-ONLY fixture primes"
        } else {
            ""
        }
    );
    let stack = Stack::start(
        &StackOptions {
            state_dir: opts.state_dir.clone(),
            web_root: opts.web_root.clone(),
            block_time_secs: Some(1),
        },
        &|l| println!("  {l}"),
    )
    .await?;
    print_urls(&stack);
    let story = run_story(
        &stack,
        &StoryOptions {
            test_only_fixture_primes: opts.test_only_fixture_primes,
        },
    )
    .await;
    let summary = match story {
        Ok(s) => s,
        Err(e) => {
            let _ = stack.stop().await;
            return Err(e);
        }
    };
    println!(
        "\nthe whole story verified in {:.1} s: {} transfers CONFIRMED, case {}",
        started.elapsed().as_secs_f64(),
        summary.transfers.len(),
        summary.case_address
    );
    if opts.check {
        stack.stop().await?;
        return Ok(summary);
    }
    print_urls(&stack);
    println!("the simulated managers stay logged in and approve keygens and imported requests; Ctrl-C stops everything");
    let stack = std::sync::Arc::new(stack);
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let mut sims = Vec::new();
    let holders = stack
        .offline_db
        .key_shares_by_case(&summary.case_id)
        .await?;
    for share in holders
        .iter()
        .filter(|s| s.status == offline_db::KeyShareStatus::Active)
    {
        let card = usize::try_from(share.share_index)?;
        let pin = stack
            .cards
            .get(card)
            .ok_or_else(|| anyhow::anyhow!("no SE {card}"))?
            .current_pin()?;
        sims.push(tokio::spawn(managers::simulate(
            stack.clone(),
            format!("share {card}"),
            share.user_id.clone(),
            card,
            pin,
            stop_rx.clone(),
        )));
    }
    tokio::signal::ctrl_c().await?;
    println!("stopping…");
    let _ = stop_tx.send(true);
    for s in sims {
        let _ = s.await;
    }
    match std::sync::Arc::try_unwrap(stack) {
        Ok(stack) => stack.stop().await?,
        Err(_) => anyhow::bail!("the stack is still in use"),
    }
    Ok(summary)
}

fn print_urls(stack: &Stack) {
    println!();
    for (zone, api) in [("online", &stack.online), ("offline", &stack.offline)] {
        let web = stack.web.iter().any(|(z, _)| *z == zone);
        println!(
            "  {zone:<7} zone: {}/{}   (API docs: {}/api/docs)",
            api.base(),
            if web {
                ""
            } else {
                "  [web front end not built: npm --prefix web run build]"
            },
            api.base()
        );
    }
    println!(
        "  logins (password \"{DEMO_PASSWORD}\"): online admin, admin2 (approves what admin proposes), trader; offline admin, admin2 (approves), operator, manager1..manager4"
    );
    println!(
        "  anvil: {}  nats: {}  RabbitMQ: {}",
        stack.anvil.url(),
        stack.nats.url(),
        stack.rabbit.url()
    );
}
