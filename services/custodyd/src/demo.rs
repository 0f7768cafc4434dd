//! `custodyd demo`: the whole custody story on embedded defaults (services/demo).

use std::path::PathBuf;

/// Options of `custodyd demo`.
#[derive(clap::Args)]
pub struct Args {
    /// Directory for all of the demo's state (databases, SoftHSM2 tokens, nats-server, RabbitMQ,
    /// anvil); it is wiped and recreated on every run.
    #[arg(long, default_value = ".state/demo")]
    state_dir: PathBuf,
    /// Run the whole story non-interactively and exit: 0 only if every step verified.
    #[arg(long)]
    check: bool,
    /// Seal the TEST-ONLY pre-generated Paillier primes (crates/testkit/fixtures) instead of
    /// generating safe primes. For tests and CI only; never for keys that hold value.
    #[arg(long)]
    test_only_fixture_primes: bool,
    /// Where web/online/dist and web/offline/dist are looked for (default: the current folder).
    #[arg(long)]
    web_root: Option<PathBuf>,
}

/// Prepares the state directory; must run before any thread starts (it sets `TMPDIR`, so the
/// processes and the token store the demo starts keep their state in it).
pub fn prepare(args: &Args) -> anyhow::Result<demo::DemoOptions> {
    let state_dir = demo::prepare_state_dir(&args.state_dir)?;
    let web_root = match &args.web_root {
        Some(p) => Some(p.clone()),
        None => std::env::current_dir().ok(),
    };
    Ok(demo::DemoOptions {
        state_dir,
        web_root,
        check: args.check,
        test_only_fixture_primes: args.test_only_fixture_primes,
    })
}

/// Runs the demo.
pub async fn run(opts: demo::DemoOptions) -> anyhow::Result<()> {
    demo::run_demo(opts).await?;
    Ok(())
}
