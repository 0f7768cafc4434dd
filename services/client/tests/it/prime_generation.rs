//! The production path of Paillier primes: `custody-client primes` searches for safe primes
//! (no fixture), shows progress and seals them in the SE, where the next keygen finds them.

use std::io::Write;
use std::process::{Command, Stdio};

use secrecy::ExposeSecret;

use crate::world::World;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn primes_subcommand_generates_and_seals_real_safe_primes() {
    let world = World::new(coordinator::Timeouts::default()).await;
    let se = &world.ses[0];
    let mut child = Command::new(env!("CARGO_BIN_EXE_custody-client"))
        .args([
            "primes",
            "--module",
            testkit::softhsm::SoftHsm::global()
                .module_path()
                .to_str()
                .unwrap(),
            "--se-serial",
            &se.serial,
            "--pin-fd",
            "0",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    writeln!(child.stdin.take().unwrap(), "{}", se.pin.expose_secret()).unwrap();
    let out = child.wait_with_output().unwrap();
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{text}");
    assert!(text.contains("generating safe primes"), "{text}");
    assert!(text.contains("safe primes ready after"), "{text}");
    // Sealed in the SE, and they are valid primes for a keygen.
    let open = world.open_se(0);
    let bytes = open
        .unseal_secret(custody_client::primes::SEALED_PRIMES_LABEL)
        .unwrap();
    tss::PaillierPrimes::from_bytes(&bytes).unwrap();
    // A second run refuses to overwrite them (and generates nothing).
    let again = Command::new(env!("CARGO_BIN_EXE_custody-client"))
        .args([
            "primes",
            "--module",
            testkit::softhsm::SoftHsm::global()
                .module_path()
                .to_str()
                .unwrap(),
            "--se-serial",
            &se.serial,
            "--pin-fd",
            "0",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut again = again;
    writeln!(again.stdin.take().unwrap(), "{}", se.pin.expose_secret()).unwrap();
    let out = again.wait_with_output().unwrap();
    assert!(!out.status.success());
}
