//! The built `custody-client` binary: help, clear errors with exit code 1, the PIN read from a
//! descriptor, `se-status` against a SoftHSM2 token.

use std::io::Write;
use std::process::{Command, Output, Stdio};

use channel::IdentitySigner;
use testkit::softhsm::SoftHsm;

use crate::TestSe;

/// The binary, pointed at the test process's SoftHSM configuration and module.
fn client() -> Command {
    let hsm = SoftHsm::global();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_custody-client"));
    cmd.env("SOFTHSM2_CONF", hsm.root_dir().join("softhsm2.conf"))
        .env_remove("RUST_LOG")
        .stdin(Stdio::null());
    cmd
}

fn module_arg() -> String {
    SoftHsm::global().module_path().display().to_string()
}

fn key_hex(signer: &testkit::envelopes::SoftSigner) -> String {
    hex::encode(channel::cert::encode_public_key(&signer.public_key()))
}

/// `login` arguments for `serial`, with the PIN on stdin (`--pin-fd 0`).
fn login_args(serial: &str, extra: &[&str]) -> Vec<String> {
    let mut args: Vec<String> = [
        "login",
        "--user",
        "01930000-0000-7000-8000-000000000001",
        "--nats",
        "nats://127.0.0.1:1",
        "--module",
        &module_arg(),
        "--se-serial",
        serial,
        "--pin-fd",
        "0",
        "--ca-key",
        &key_hex(&crate::ca()),
        "--online-key",
        &key_hex(&testkit::envelopes::SoftSigner::from_seed([0x11; 32])),
        "--offline-key",
        &key_hex(&testkit::envelopes::SoftSigner::from_seed([0x22; 32])),
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    args.extend(extra.iter().map(|s| s.to_string()));
    args
}

fn run_with_stdin(mut cmd: Command, stdin: &str) -> Output {
    cmd.stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn help_lists_the_subcommands() {
    let out = client().arg("--help").output().unwrap();
    assert!(out.status.success());
    let stdout = text(&out.stdout);
    for sub in ["login", "primes", "se-status"] {
        assert!(stdout.contains(sub), "{sub} missing from:\n{stdout}");
    }
    let out = client().args(["login", "--help"]).output().unwrap();
    assert!(out.status.success());
    let stdout = text(&out.stdout);
    for flag in [
        "--user",
        "--nats",
        "--module",
        "--se-serial",
        "--pin-fd",
        "--ca-key",
        "--online-key",
        "--offline-key",
        "--approve-hash",
        "--approve-keygen",
        "--exit-after",
        "--idle-exit-secs",
        "--se-wait-secs",
    ] {
        assert!(stdout.contains(flag), "{flag} missing from:\n{stdout}");
    }
}

#[test]
fn login_with_a_missing_se_asks_for_it_and_fails_clearly() {
    let mut cmd = client();
    cmd.args(login_args("missing-se-4711", &["--se-wait-secs", "1"]));
    let out = run_with_stdin(cmd, "1234\n");
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert_eq!(
        out.status.code(),
        Some(1),
        "stdout:\n{stdout}\nstderr:\n{stderr}"
    );
    assert!(stdout.contains("insert SE missing-se-4711"), "{stdout}");
    assert!(
        stderr.contains("secure element missing-se-4711 was not found within 1 s"),
        "{stderr}"
    );
}

#[test]
fn login_with_a_wrong_pin_says_how_many_tries_are_left() {
    let se = TestSe::certified("cl-cli-wrongpin");
    let mut cmd = client();
    cmd.args(login_args(se.serial.as_str(), &["--se-wait-secs", "1"]));
    let out = run_with_stdin(cmd, "0000-wrong\n");
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("wrong PIN: 2 attempt(s) left"), "{stderr}");
    // se-status sees the failed attempt.
    let out = client()
        .args([
            "se-status",
            "--module",
            &module_arg(),
            "--se-serial",
            se.serial.as_str(),
        ])
        .output()
        .unwrap();
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(stdout.contains("Enrolled:  yes"), "{stdout}");
    assert!(
        stdout.contains("PIN:       2 of 3 attempts left"),
        "{stdout}"
    );
}

#[test]
fn bad_arguments_are_refused_before_the_se_is_touched() {
    let mut cmd = client();
    cmd.args(login_args("whatever-se", &["--approve-hash", "0x1234"]));
    let out = run_with_stdin(cmd, "");
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("is not a signing hash"), "{stderr}");

    let mut args = login_args("whatever-se", &[]);
    let at = args.iter().position(|a| a == "--ca-key").unwrap();
    args[at + 1] = "02abcd".into();
    let out = run_with_stdin(
        {
            let mut c = client();
            c.args(args);
            c
        },
        "",
    );
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("--ca-key is not a SEC1-encoded P-256 public key"),
        "{stderr}"
    );
}

#[test]
fn se_status_of_a_missing_se_fails_clearly() {
    let out = client()
        .args([
            "se-status",
            "--module",
            &module_arg(),
            "--se-serial",
            "absent-se-1",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("secure element absent-se-1 is not connected"));
}

/// `enroll` (security officer) sets the manager's PIN and creates the identity key, printing
/// it; a second enrolment is refused; `store-certificate` stores only a certificate for this
/// SE's own key, after which the SE opens with the new PIN and holds exactly that certificate.
#[test]
fn enroll_then_store_certificate_prepares_a_new_se() {
    use secrecy::ExposeSecret;

    let hsm = SoftHsm::global();
    let token = hsm.new_token("cli-enroll");
    let serial = token.summary.serial.clone();
    let new_pin = testkit::softhsm::random_pin();
    let pins = format!(
        "{}\n{}\n",
        token.so_pin.expose_secret(),
        new_pin.expose_secret()
    );
    let challenge = [0x3c_u8; 32];
    let challenge_hex = hex::encode(challenge);
    let enroll_args = [
        "enroll",
        "--module",
        &module_arg(),
        "--se-serial",
        &serial,
        "--pins-fd",
        "0",
        "--challenge",
        &challenge_hex,
    ];
    let mut cmd = client();
    cmd.args(enroll_args);
    let out = run_with_stdin(cmd, &pins);
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{stdout}{}", text(&out.stderr));
    assert!(!stdout.contains(new_pin.expose_secret()), "no PIN printed");
    // The proof of possession: the new identity key signed the challenge for this serial.
    let printed = stdout.lines().last().unwrap().trim().to_owned();
    let proof = channel::EnrolmentProof::from_text(&printed).expect("the enrolment prints a proof");
    let identity = proof.verify().expect("the proof verifies");
    assert_eq!(proof.serial, serial);
    assert_eq!(proof.challenge, challenge);
    let serial = se::SeSerial::parse(&serial).unwrap();
    // (This process's SoftHSM module does not see PIN changes made by another process, so the
    // SE is checked through the binary.)
    let mut status = client();
    status.args([
        "se-status",
        "--module",
        &module_arg(),
        "--se-serial",
        serial.as_ref(),
    ]);
    let out = status.output().unwrap();
    assert!(
        text(&out.stdout).contains("yes (identity key present)"),
        "{}",
        text(&out.stdout)
    );

    let mut again = client();
    again.args(enroll_args);
    let out = run_with_stdin(again, &pins);
    assert!(!out.status.success(), "a second enrolment is refused");
    assert!(
        text(&out.stderr).contains("not enrolled"),
        "{}",
        text(&out.stderr)
    );

    let dir = tempfile::tempdir().unwrap();
    let store = |cert: &channel::Certificate| {
        let file = dir.path().join("cert.hex");
        std::fs::write(
            &file,
            format!("{}\n", hex::encode(cert.to_bytes().unwrap())),
        )
        .unwrap();
        let mut cmd = client();
        cmd.args([
            "store-certificate",
            "--module",
            &module_arg(),
            "--se-serial",
            serial.as_ref(),
            "--certificate-file",
            file.to_str().unwrap(),
            "--pin-fd",
            "0",
        ]);
        run_with_stdin(cmd, &format!("{}\n", new_pin.expose_secret()))
    };
    // A certificate for another key (another SE's identity) is refused.
    let other = p256::SecretKey::from_slice(&[0x55; 32])
        .unwrap()
        .public_key();
    let out = store(&crate::certificate_for(&serial, &other));
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("another key"),
        "{}",
        text(&out.stderr)
    );

    // A certificate for the printed key is accepted: it is the SE's identity key (the command
    // compares them), and the SE then opens with the new PIN and its certificate for login.
    let cert = crate::certificate_for(&serial, &identity);
    let out = store(&cert);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains("stored"),
        "{}",
        text(&out.stdout)
    );
    let mut login = client();
    login.args(login_args(serial.as_ref(), &["--se-wait-secs", "1"]));
    let out = run_with_stdin(login, &format!("{}\n", new_pin.expose_secret()));
    let said = text(&out.stdout);
    assert!(
        said.contains(&format!("SE {serial} opened")),
        "the SE opens with the new PIN and its certificate: {said}{}",
        text(&out.stderr)
    );
}
