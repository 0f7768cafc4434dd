//! `bench e2e`: the whole demo story (services/demo) once, end to end on real parts, with the
//! wall time of each step and the share of it that is cggmp21 computation.
//!
//! The story's clients do not expose their protocol time, so the cggmp21 share is measured the
//! way the other benches do: raw cggmp21 in memory in the same run on the same machine (aux info,
//! then keygen, with the same test-only fixture primes; 2-of-3 signing with the fixture shares),
//! divided by the step's wall time. A signing step that signs n requests in parallel counts n
//! raw signatures (an upper bound of the compute on 2 cores: the runs overlap).

use std::time::Duration;

use anyhow::Context;
use tss::{KeyShare, PaillierPrimes};

use crate::raw;

fn load() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|l| l.split_whitespace().next().map(str::to_owned))
        .unwrap_or_else(|| "?".to_owned())
}

/// What cggmp21 computes in a step, by the step's text.
fn compute_of(name: &str, keygen: Duration, sign: Duration) -> Option<(Duration, &'static str)> {
    if name.contains("keygen") {
        Some((keygen, "aux info + keygen"))
    } else if name.contains("two cggmp21 runs") {
        Some((sign * 2, "2 × 2-of-3 sign"))
    } else if name.contains("sign") && name.starts_with("offline: managers") {
        Some((sign, "2-of-3 sign"))
    } else {
        None
    }
}

pub async fn run(quick: bool) -> anyhow::Result<()> {
    let _ = quick;
    let load_before = load();
    let dir = tempfile::tempdir()?;
    eprintln!("e2e: starting both zones (SoftHSM2, nats-server, RabbitMQ, anvil, APIs, coordinator, chain worker)…");
    let started = std::time::Instant::now();
    let stack = demo::Stack::start(
        &demo::StackOptions {
            state_dir: dir.path().to_path_buf(),
            web_root: None,
            block_time_secs: Some(1),
        },
        &|l| eprintln!("  {l}"),
    )
    .await?;
    let start_up = started.elapsed();
    let summary = demo::run_story(
        &stack,
        &demo::StoryOptions {
            test_only_fixture_primes: true,
        },
    )
    .await;
    stack.stop().await?;
    let summary = summary?;

    eprintln!("e2e: raw cggmp21 baselines (same fixture primes and shares)…");
    let primes = testkit::fixtures::paillier_primes()?
        .into_iter()
        .map(PaillierPrimes::into_cggmp21)
        .collect();
    let raw_keygen = raw::keygen(primes).await?;
    let shares: Vec<KeyShare> = testkit::fixtures::key_shares()?;
    let raw_shares: Vec<_> = shares.iter().map(|s| s.as_cggmp21().clone()).collect();
    let mut sign_samples = Vec::new();
    for i in 0..3u8 {
        sign_samples.push(raw::sign(&raw_shares, [0, 1], [i + 1; 32]).await?);
    }
    let raw_sign = sign_samples.iter().sum::<Duration>() / 3;

    println!(
        "load average (1 min) before / after: {load_before} / {} on {} CPU(s)",
        load(),
        std::thread::available_parallelism().map_or(0, usize::from)
    );
    println!("\nbench e2e — the demo story, each step's wall time and its cggmp21 share (raw cggmp21, same run)");
    println!(
        "{:>3}  {:<100} {:>9} {:>10} {:>7}",
        "#", "step", "wall s", "cggmp21 s", "share"
    );
    println!(
        "{:>3}  {:<100} {:>9.2} {:>10} {:>7}",
        "-",
        "start-up: both zones and their processes",
        start_up.as_secs_f64(),
        "",
        ""
    );
    let mut total = start_up;
    let mut compute_total = Duration::ZERO;
    let mut keygen_share = None;
    let mut sign_shares = Vec::new();
    for s in &summary.steps {
        let wall = s.duration();
        total += wall;
        let name: String = s.name.chars().take(100).collect();
        match compute_of(&s.name, raw_keygen, raw_sign) {
            Some((c, what)) => {
                compute_total += c;
                let share = c.as_secs_f64() / wall.as_secs_f64();
                if what.contains("keygen") {
                    keygen_share = Some(share);
                } else {
                    sign_shares.push(share);
                }
                println!(
                    "{:>3}  {:<100} {:>9.2} {:>10.2} {:>6.1}%",
                    s.n,
                    name,
                    wall.as_secs_f64(),
                    c.as_secs_f64(),
                    share * 100.0
                );
            }
            None => println!(
                "{:>3}  {:<100} {:>9.2} {:>10} {:>7}",
                s.n,
                name,
                wall.as_secs_f64(),
                "",
                ""
            ),
        }
    }
    println!(
        "     {:<100} {:>9.2} {:>10.2} {:>6.1}%",
        "total",
        total.as_secs_f64(),
        compute_total.as_secs_f64(),
        100.0 * compute_total.as_secs_f64() / total.as_secs_f64()
    );
    println!(
        "raw cggmp21 in memory: aux info + keygen {:.2} s, 2-of-3 sign {:.3} s (mean of 3)",
        raw_keygen.as_secs_f64(),
        raw_sign.as_secs_f64()
    );
    println!();
    println!(
        "RATIO e2e-keygen-share {:.4}",
        keygen_share.context("no keygen step")?
    );
    println!(
        "RATIO e2e-sign-share {:.4}",
        sign_shares.iter().sum::<f64>() / sign_shares.len().max(1) as f64
    );
    println!(
        "RATIO e2e-total-share {:.4}",
        compute_total.as_secs_f64() / total.as_secs_f64()
    );
    Ok(())
}
