//! `bench`: measures the project's paths against the raw libraries they stand on, in the same
//! run on the same machine, and prints a table plus `RATIO <name> <value>` lines.
//!
//! Usage: `cargo run --release -p bench -- tss|online|offline-sign|offline-keygen|e2e|audit [--quick]`.

mod audit_bench;
mod e2e_bench;
mod offline_bench;
mod online_bench;
mod raw;
mod stats;
mod tss_bench;

use anyhow::bail;

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let quick = args.iter().any(|a| a == "--quick");
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    match args.first().map(String::as_str) {
        Some("tss") => runtime.block_on(tss_bench::run(quick)),
        Some("online") => runtime.block_on(online_bench::run(quick)),
        Some("offline-sign") => runtime.block_on(offline_bench::sign(quick)),
        Some("offline-keygen") => runtime.block_on(offline_bench::keygen(quick)),
        Some("e2e") => runtime.block_on(e2e_bench::run(quick)),
        Some("audit") => runtime.block_on(audit_bench::run(quick)),
        Some(other) => {
            bail!("unknown bench {other:?}; available: tss, online, offline-sign, offline-keygen, e2e, audit")
        }
        None => bail!("usage: bench <tss|online|offline-sign|offline-keygen|e2e|audit> [--quick]"),
    }
}
