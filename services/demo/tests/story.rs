//! The whole custody story end to end on real parts (SQLite, SoftHSM2, nats-server, RabbitMQ,
//! anvil, both APIs over HTTP, the coordinator, the chain worker, three in-process manager
//! clients), with the TEST-ONLY fixture primes; then `demo-summary.json` is checked by an
//! independent implementation: Python `eth-account` decodes each signed raw transaction,
//! recovers its sender (must be the case address) and recomputes its hash.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test code: a failed expectation should stop the test with its message"
)]

use std::path::PathBuf;
use std::process::Command;

/// Where ops/setup installs eth-account (override with CUSTODY_PYETH).
const PYETH: &str = "/opt/custody/pyeth";

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_whole_story_verifies_and_its_transactions_recover_to_the_case_address() {
    let dir = tempfile::tempdir().unwrap();
    let state_dir = dir.path().to_path_buf();
    let stack = demo::Stack::start(
        &demo::StackOptions {
            state_dir: state_dir.clone(),
            web_root: None,
            block_time_secs: Some(1),
        },
        &|l| println!("  {l}"),
    )
    .await
    .unwrap();
    let summary = demo::run_story(
        &stack,
        &demo::StoryOptions {
            test_only_fixture_primes: true,
        },
    )
    .await
    .unwrap();
    stack.stop().await.unwrap();

    // What the story claims.
    assert_eq!(summary.transfers.len(), 3);
    assert!(summary.test_only_fixture_primes);
    assert_eq!(summary.transfers[0].signers, [0, 1]);
    assert_eq!(summary.transfers[2].signers, [1, 2]);
    assert!(summary.transfers.iter().all(|t| t.status == "CONFIRMED"));
    let written: demo::Summary =
        serde_json::from_slice(&std::fs::read(demo::summary_path(&state_dir)).unwrap()).unwrap();
    assert_eq!(written.case_address, summary.case_address);

    // An independent implementation checks the signed transactions.
    let pyeth = std::env::var("CUSTODY_PYETH").unwrap_or_else(|_| PYETH.to_owned());
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/verify_summary.py");
    let out = Command::new("/usr/bin/python3")
        .arg(&script)
        .arg(demo::summary_path(&state_dir))
        .env("PYTHONPATH", &pyeth)
        .output()
        .expect("python3");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    println!("{stdout}{stderr}");
    assert!(
        out.status.success(),
        "eth-account rejected demo-summary.json (is eth-account installed in {pyeth}? ops/setup):\n{stdout}{stderr}"
    );
    assert!(stdout.contains("ok all"), "{stdout}");
    assert_eq!(
        stdout.matches("\nok ").count() + usize::from(stdout.starts_with("ok ")),
        4
    );
}
