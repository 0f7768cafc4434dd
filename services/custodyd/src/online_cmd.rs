//! `custodyd chain-worker`: the online zone's broadcaster and tracker (RabbitMQ consumer of
//! `broadcast` and `track` work, outbox relay, alloy against a JSON-RPC node).

use std::time::Duration;

/// Options of `custodyd chain-worker`.
#[derive(clap::Args)]
pub struct ChainWorkerArgs {
    /// The online database: a SQLite file path, or a sqlite:// or postgres:// URL.
    #[arg(long)]
    db: String,
    /// RabbitMQ URL.
    #[arg(long, default_value = "amqp://guest:guest@127.0.0.1:5672/%2f")]
    amqp: String,
    /// The Ethereum node's JSON-RPC URL.
    #[arg(long, default_value = "http://127.0.0.1:8545")]
    rpc_url: String,
    /// The chain id the node must serve.
    #[arg(long)]
    chain_id: u64,
    /// Blocks (the transaction's own included) after which a transfer is CONFIRMED.
    #[arg(long, default_value_t = 12)]
    confirmations: u64,
    /// Milliseconds between two looks at a tracked transaction.
    #[arg(long, default_value_t = 2000)]
    poll_interval_ms: u64,
}

/// Runs the chain worker until Ctrl-C / SIGTERM.
pub async fn run_chain_worker(args: ChainWorkerArgs) -> anyhow::Result<()> {
    let mut config = chain_worker::Config::new(
        offline_api::config::db_url(&args.db),
        args.amqp,
        args.rpc_url,
        args.chain_id,
    );
    config.confirmations = args.confirmations;
    config.poll_interval = Duration::from_millis(args.poll_interval_ms);
    println!(
        "chain worker for chain {} ({} confirmations)",
        config.chain_id, config.confirmations
    );
    chain_worker::run(config, crate::offline_cmd::shutdown_signal()).await?;
    Ok(())
}
