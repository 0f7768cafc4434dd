//! `custodyd`: the custody service binary. One executable with one subcommand per service keeps
//! build and link times low (DESIGN.md §3). For now it carries the core demo.

mod demo;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "custodyd",
    version,
    about = "Custody services (offline and online zones)"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Demo of the cryptographic core: provision an HSM and three SEs (SoftHSM2), run a real
    /// 2-of-3 keygen between three case managers, seal the shares, sign a transaction with two.
    Demo(demo::Args),
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::Demo(args) => {
            // SoftHSM reads its configuration when the module is loaded; point it at the demo's
            // own token store before any thread starts.
            let prepared = demo::prepare(&args)?;
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()?;
            runtime.block_on(demo::run(args, prepared))
        }
    }
}
