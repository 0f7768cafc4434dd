//! `custodyd`: the custody service binary. One executable with one subcommand per service keeps
//! build and link times low (DESIGN.md §3). It carries the core demo and the audit tools; the services join as they are built.

mod audit_cmd;
mod demo;
mod offline_cmd;
mod online_cmd;

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
    /// The whole custody story on embedded defaults: both zones (SQLite, SoftHSM2, nats-server,
    /// RabbitMQ, anvil), three simulated managers; `--check` runs it and exits 0 only if every
    /// step verified.
    Demo(demo::Args),
    /// The offline zone's REST API (users, SEs, cases, key-share table, signing requests, audit).
    OfflineApi(offline_cmd::ApiArgs),
    /// The offline zone's NATS reactors (case, shard registry, notify) and outbox relay.
    Reactors(offline_cmd::ReactorsArgs),
    /// The offline zone's coordinator: SE↔HSM handshakes, keygen and 2-of-3 signing sessions
    /// between the managers' clients (relays their end-to-end encrypted rounds).
    Coordinator(offline_cmd::CoordinatorArgs),
    /// The online zone's chain worker: broadcasts signed transfers and tracks them to N
    /// confirmations (RabbitMQ work queues, JSON-RPC node).
    ChainWorker(online_cmd::ChainWorkerArgs),
    /// The online zone's REST API (users, accounts, balances, transfers, signing requests and
    /// responses, logs).
    OnlineApi(online_cmd::OnlineApiArgs),
    /// Online zone administration from the command line.
    #[command(subcommand)]
    OnlineAdmin(online_cmd::OnlineAdminCommand),
    /// Offline zone administration from the command line.
    #[command(subcommand)]
    OfflineAdmin(offline_cmd::AdminCommand),
    /// Audit log tools (either zone's database).
    #[command(subcommand)]
    Audit(audit_cmd::AuditCommand),
}

fn main() -> anyhow::Result<std::process::ExitCode> {
    let cli = Cli::parse();
    match cli.command {
        Command::Audit(command) => {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            Ok(std::process::ExitCode::from(
                runtime.block_on(audit_cmd::run(command))?,
            ))
        }
        Command::OfflineApi(args) => {
            runtime()?.block_on(offline_cmd::run_api(args))?;
            Ok(std::process::ExitCode::SUCCESS)
        }
        Command::Reactors(args) => {
            runtime()?.block_on(offline_cmd::run_reactors(args))?;
            Ok(std::process::ExitCode::SUCCESS)
        }
        Command::Coordinator(args) => {
            runtime()?.block_on(offline_cmd::run_coordinator(args))?;
            Ok(std::process::ExitCode::SUCCESS)
        }
        Command::ChainWorker(args) => {
            runtime()?.block_on(online_cmd::run_chain_worker(args))?;
            Ok(std::process::ExitCode::SUCCESS)
        }
        Command::OnlineApi(args) => {
            runtime()?.block_on(online_cmd::run_online_api(args))?;
            Ok(std::process::ExitCode::SUCCESS)
        }
        Command::OnlineAdmin(command) => {
            runtime()?.block_on(online_cmd::run_online_admin(command))?;
            Ok(std::process::ExitCode::SUCCESS)
        }
        Command::OfflineAdmin(command) => {
            runtime()?.block_on(offline_cmd::run_admin(command))?;
            Ok(std::process::ExitCode::SUCCESS)
        }
        Command::Demo(args) => {
            // The state directory (and TMPDIR inside it) is set up before any thread starts.
            let opts = demo::prepare(&args)?;
            runtime()?.block_on(demo::run(opts))?;
            Ok(std::process::ExitCode::SUCCESS)
        }
    }
}

fn runtime() -> std::io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
}
