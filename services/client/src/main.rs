//! `custody-client`: the case manager's program. A shell around the `custody_client` library:
//! it parses the command line, reads the PIN, opens the secure element and hands over to the
//! coordinator session; every decision lives in the library.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context as _;
use clap::{Parser, Subcommand};
use contracts::{Id, KeyRing, Kind};
use custody_client::review::{self, ApprovalPolicy};
use custody_client::{pin, primes, se_login};

/// Where Debian and Ubuntu install SoftHSM2 (the development SE); `--module` names any other
/// PKCS#11 library (a real token's).
const MODULE_CANDIDATES: [&str; 2] = [
    "/usr/lib/softhsm/libsofthsm2.so",
    "/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so",
];

#[derive(Parser)]
#[command(
    name = "custody-client",
    version,
    about = "The case manager's client: log in with your secure element, take part in keygen and approve signing requests."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Log in to the offline coordinator with your SE and PIN, then work through pending keygen
    /// and signing; each signing request is decoded and shown for approval.
    Login(Box<LoginArgs>),
    /// Generate one set of Paillier primes and seal it in the SE, so the next keygen is fast.
    Primes(PrimesArgs),
    /// Show whether the SE is connected, enrolled, and how many PIN attempts are left.
    SeStatus(SeArgs),
    /// Enrol a new SE (the manager, with the security officer's SO PIN): set the manager's own
    /// PIN, create the identity key and the share-wrapping key on it, and sign the manager's
    /// one-time challenge (from their page in the offline zone) with the new identity key; print
    /// the enrolment proof to paste back there. Refuses an SE that is already enrolled.
    Enroll(EnrollArgs),
    /// Store the certificate the offline zone issued for this SE (the hex shown after
    /// registering it), after checking it certifies this SE's identity key.
    StoreCertificate(StoreCertificateArgs),
}

#[derive(clap::Args)]
struct EnrollArgs {
    #[command(flatten)]
    se: SeArgs,
    /// Read the SO PIN and then the manager's new PIN (one line each) from this file
    /// descriptor instead of the terminal.
    #[arg(long, value_name = "N")]
    pins_fd: Option<u32>,
    /// The one-time enrolment challenge the offline zone showed the manager (hex).
    #[arg(long, value_name = "HEX")]
    challenge: String,
}

#[derive(clap::Args)]
struct StoreCertificateArgs {
    #[command(flatten)]
    se: SeArgs,
    /// A file holding the certificate as hex (as the offline zone shows it).
    #[arg(long, value_name = "PATH")]
    certificate_file: PathBuf,
    /// Read the PIN from this file descriptor (one line) instead of the terminal.
    #[arg(long, value_name = "N")]
    pin_fd: Option<u32>,
}

/// Which SE, through which PKCS#11 library.
#[derive(clap::Args)]
struct SeArgs {
    /// The PKCS#11 library of the SE (default: SoftHSM2's).
    #[arg(long, value_name = "PATH")]
    module: Option<PathBuf>,
    /// The SE's token serial number.
    #[arg(long, value_name = "SERIAL")]
    se_serial: se::SeSerial,
}

#[derive(clap::Args)]
struct PrimesArgs {
    #[command(flatten)]
    se: SeArgs,
    /// Read the PIN from this file descriptor (one line) instead of the terminal.
    #[arg(long, value_name = "N")]
    pin_fd: Option<u32>,
    /// How long to wait for the SE to be inserted, in seconds.
    #[arg(long, value_name = "S", default_value_t = 120)]
    se_wait_secs: u64,
}

#[derive(clap::Args)]
struct LoginArgs {
    /// Your user id (UUID) in the offline zone.
    #[arg(long, value_name = "UUID")]
    user: Id,
    /// The offline zone's NATS server, e.g. nats://10.0.0.5:4222.
    #[arg(long, value_name = "URL")]
    nats: String,
    /// The NATS user of the managers' clients (`client` in ops/nats/nats-server.conf).
    #[arg(long, value_name = "USER")]
    nats_user: Option<String>,
    /// A file holding the NATS user's password (and nothing else but a trailing newline).
    #[arg(long, value_name = "PATH")]
    nats_password_file: Option<PathBuf>,
    /// The CA (PEM) that signed the NATS server's certificate; TLS is then required.
    #[arg(long, value_name = "PATH")]
    nats_ca: Option<PathBuf>,
    #[command(flatten)]
    se: SeArgs,
    /// Read the PIN from this file descriptor (one line) instead of the terminal.
    #[arg(long, value_name = "N")]
    pin_fd: Option<u32>,
    /// The offline CA public key (hex SEC1 P-256): the trust anchor for the coordinator's
    /// certificate.
    #[arg(long, value_name = "HEX")]
    ca_key: String,
    /// The online zone's export public key (hex SEC1 P-256): signing requests must be signed
    /// by it.
    #[arg(long, value_name = "HEX")]
    online_key: String,
    /// The offline zone's envelope public key (hex SEC1 P-256, `custodyd offline-admin
    /// hsm-keys`): each case's roster must be signed by it, and this client takes part only with
    /// the secure elements on it.
    #[arg(long, value_name = "HEX")]
    offline_key: String,
    /// Approve the signing request with exactly this signing hash without asking (repeatable).
    #[arg(long, value_name = "HASH")]
    approve_hash: Vec<String>,
    /// Take part in keygen without asking.
    #[arg(long)]
    approve_keygen: bool,
    /// Log out after this many completed work items.
    #[arg(long, value_name = "N")]
    exit_after: Option<u32>,
    /// Log out after this many seconds without work.
    #[arg(long, value_name = "S")]
    idle_exit_secs: Option<u64>,
    /// How long to wait for the SE to be inserted, in seconds.
    #[arg(long, value_name = "S", default_value_t = 120)]
    se_wait_secs: u64,
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(false)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .init();
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Login(args) => login(*args),
        Command::Primes(args) => prepare_primes(args),
        Command::SeStatus(args) => se_status(&args),
        Command::Enroll(args) => enroll(&args),
        Command::StoreCertificate(args) => store_certificate(&args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("custody-client: error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn say(message: &str) {
    println!("{message}");
}

fn load_module(path: Option<&PathBuf>) -> anyhow::Result<p11::Module> {
    let path = match path {
        Some(p) => p.clone(),
        None => MODULE_CANDIDATES
            .iter()
            .map(PathBuf::from)
            .find(|p| p.exists())
            .with_context(|| {
                format!(
                    "no PKCS#11 library given (--module) and SoftHSM2 is not installed at {}",
                    MODULE_CANDIDATES.join(" or ")
                )
            })?,
    };
    p11::Module::load(&path)
        .with_context(|| format!("cannot load the PKCS#11 library {}", path.display()))
}

fn parse_key(hex_text: &str, flag: &str) -> anyhow::Result<p256::PublicKey> {
    let bytes = hex::decode(hex_text.trim().trim_start_matches("0x"))
        .with_context(|| format!("{flag} is not hex"))?;
    p256::PublicKey::from_sec1_bytes(&bytes)
        .map_err(|_| anyhow::anyhow!("{flag} is not a SEC1-encoded P-256 public key"))
}

/// Waits for the SE, reads the PIN and opens it.
fn open(
    se_args: &SeArgs,
    pin_fd: Option<u32>,
    wait: Duration,
) -> anyhow::Result<(se::OpenSe, channel::Certificate)> {
    let module = load_module(se_args.module.as_ref())?;
    let serial = &se_args.se_serial;
    // Ask for the SE before the PIN: the PIN is typed only once the SE is there.
    se_login::wait_for_se(&module, serial, wait, &say)?;
    let pin = pin::read_pin(pin_fd, &format!("PIN of SE {serial}: "))?;
    Ok(se_login::open_se(&module, serial, &pin, wait, &say)?)
}

fn login(args: LoginArgs) -> anyhow::Result<()> {
    // Everything that can be checked without the SE is checked first.
    let trust = channel::TrustAnchor::new(parse_key(&args.ca_key, "--ca-key")?);
    let keyring = KeyRing::new().with_key(
        parse_key(&args.online_key, "--online-key")?,
        &[Kind::SigningRequest],
    );
    let roster_key = parse_key(&args.offline_key, "--offline-key")?;
    let nats_access = bus::NatsAccess {
        user: args.nats_user.clone(),
        password_file: args.nats_password_file.clone(),
        ca_file: args.nats_ca.clone(),
    };
    // A missing or unreadable password or CA file is named before the SE is asked for.
    nats_access.credentials()?;
    nats_access.checked_ca_file()?;
    let nats_access = (!nats_access.is_empty()).then_some(nats_access);
    let approval = if args.approve_hash.is_empty() && !args.approve_keygen {
        ApprovalPolicy::Interactive
    } else {
        ApprovalPolicy::Preapproved {
            hashes: args
                .approve_hash
                .iter()
                .map(|h| review::parse_hash(h))
                .collect::<Result<_, _>>()?,
            keygen: args.approve_keygen,
        }
    };
    let (se, certificate) = open(
        &args.se,
        args.pin_fd,
        Duration::from_secs(args.se_wait_secs),
    )?;
    say(&format!(
        "SE {} opened; logging in to {} as {}",
        args.se.se_serial, args.nats, args.user
    ));
    let session = Session {
        nats_url: args.nats,
        nats_access,
        user_id: args.user,
        trust,
        keyring,
        roster_key,
        approval,
        exit_after: args.exit_after,
        idle_exit: args.idle_exit_secs.map(Duration::from_secs),
    };
    run_session(session, se, certificate)
}

/// What the coordinator session needs (mirrors `custody_client::session::ClientConfig`).
struct Session {
    nats_url: String,
    nats_access: Option<bus::NatsAccess>,
    user_id: Id,
    trust: channel::TrustAnchor,
    keyring: KeyRing,
    roster_key: p256::PublicKey,
    approval: ApprovalPolicy,
    exit_after: Option<u32>,
    idle_exit: Option<Duration>,
}

fn run_session(
    s: Session,
    se: se::OpenSe,
    certificate: channel::Certificate,
) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let config = custody_client::session::ClientConfig {
        nats_url: s.nats_url,
        user_id: s.user_id,
        trust: s.trust,
        keyring: s.keyring,
        roster_key: s.roster_key,
        approval: s.approval,
        exit_after: s.exit_after,
        idle_exit: s.idle_exit,
        quiet: false,
        nats_access: s.nats_access,
    };
    let summary = runtime.block_on(custody_client::session::run(config, se, certificate))?;
    say(&format!(
        "logged out: {} session(s) completed, {} failed",
        summary.completed, summary.failed
    ));
    Ok(())
}

fn prepare_primes(args: PrimesArgs) -> anyhow::Result<()> {
    let (se, _certificate) = open(
        &args.se,
        args.pin_fd,
        Duration::from_secs(args.se_wait_secs),
    )?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(primes::prepare(&se, &say))?;
    Ok(())
}

fn se_status(args: &SeArgs) -> anyhow::Result<()> {
    let module = load_module(args.module.as_ref())?;
    let serial = &args.se_serial;
    let summary = se::Se::list(&module)?
        .into_iter()
        .find(|s| &s.serial == serial)
        .ok_or_else(|| anyhow::anyhow!("secure element {serial} is not connected"))?;
    println!("SE {serial}: connected");
    println!("  Label:     {}", summary.label);
    println!("  Model:     {}", summary.model);
    println!(
        "  Enrolled:  {}",
        if summary.enrolled {
            "yes (identity key present)"
        } else {
            "no"
        }
    );
    if summary.pin.locked {
        println!("  PIN:       locked: the security officer must reset it");
    } else {
        println!(
            "  PIN:       {} of {} attempts left",
            summary.pin.tries_left,
            se::MAX_PIN_TRIES
        );
    }
    Ok(())
}

fn enroll(args: &EnrollArgs) -> anyhow::Result<()> {
    let module = load_module(args.se.module.as_ref())?;
    let serial = &args.se.se_serial;
    let challenge = hex::decode(args.challenge.trim())
        .ok()
        .filter(|c| c.len() == 32)
        .context("the challenge must be the 64 hexadecimal characters shown on your page in the offline zone")?;
    anyhow::ensure!(
        se::Se::list(&module)?.iter().any(|s| &s.serial == serial),
        "secure element {serial} is not connected"
    );
    let pins = match args.pins_fd {
        Some(fd) => pin::read_pins(Some(fd), &["SO PIN", "new PIN"])?,
        None => {
            let pins = pin::read_pins(
                None,
                &[
                    &format!("SO PIN of SE {serial}: "),
                    "The manager's new PIN: ",
                    "The new PIN again: ",
                ],
            )?;
            let same = matches!(
                (pins.get(1), pins.get(2)),
                (Some(a), Some(b)) if a.same_as(b)
            );
            anyhow::ensure!(same, "the two new PINs differ; nothing was changed");
            pins
        }
    };
    let (Some(so_pin), Some(user_pin)) = (pins.first(), pins.get(1)) else {
        anyhow::bail!("two PINs are needed: the SO PIN and the new PIN");
    };
    let enrollment = se::Se::enroll(&module, serial, so_pin, user_pin)
        .with_context(|| format!("secure element {serial} was not enrolled"))?;
    say(&format!("SE {serial} enrolled: the manager's PIN is set, the identity and wrapping keys are on the SE."));
    let open = se::Se::open(&module, serial, user_pin)
        .with_context(|| format!("secure element {serial} does not open with the new PIN"))?;
    anyhow::ensure!(
        channel::IdentitySigner::public_key(&open) == enrollment.identity_public_key,
        "secure element {serial} does not sign with the key it just created"
    );
    let proof = channel::EnrolmentProof::sign(&open, serial.as_str(), &challenge)
        .context("the SE could not sign the enrolment challenge")?;
    say("Paste this enrolment proof into your page in the offline zone (My cases → Enrol my secure element):");
    println!("{}", proof.to_text()?);
    Ok(())
}

fn store_certificate(args: &StoreCertificateArgs) -> anyhow::Result<()> {
    let text = std::fs::read_to_string(&args.certificate_file)
        .with_context(|| format!("cannot read {}", args.certificate_file.display()))?;
    let bytes = hex::decode(text.trim().trim_start_matches("0x")).with_context(|| {
        format!(
            "{} does not hold a hex certificate",
            args.certificate_file.display()
        )
    })?;
    let certificate = channel::Certificate::from_bytes(&bytes).with_context(|| {
        format!(
            "{} does not hold a certificate",
            args.certificate_file.display()
        )
    })?;
    let body = certificate.unverified_body()?;
    let serial = &args.se.se_serial;
    match &body.subject {
        channel::cert::Subject::SecureElement { se_serial, .. }
            if se_serial == &serial.to_string() => {}
        other => anyhow::bail!(
            "the certificate is not for SE {serial} (it names {other:?}); nothing was stored"
        ),
    }
    let module = load_module(args.se.module.as_ref())?;
    let pin = pin::read_pin(args.pin_fd, &format!("PIN of SE {serial}: "))?;
    let se = se::Se::open(&module, serial, &pin)
        .with_context(|| format!("cannot open secure element {serial}"))?;
    anyhow::ensure!(
        body.public_key == channel::cert::encode_public_key(&se.identity_public_key()),
        "the certificate certifies another key than SE {serial}'s identity key; nothing was stored"
    );
    se.store_certificate(&bytes)?;
    say(&format!(
        "certificate {} stored on SE {serial}; it can log in with custody-client login",
        body.serial
    ));
    Ok(())
}
