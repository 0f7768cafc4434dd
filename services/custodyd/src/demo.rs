//! The core demo: everything a case needs, on one machine, with SoftHSM2 tokens standing in for
//! the HSM and the three managers' secure elements.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use alloy_consensus::{SignableTransaction, TxEip1559};
use alloy_primitives::{Address, TxKind, U256};
use anyhow::{bail, Context};
use channel::{ClientHandshake, RevocationList, ServerHandshake};
use party::{E2eTransport, RunKeys};
use rand_core::{OsRng, RngCore};
use se::{Pin, Se, SeSerial, ShareSlot};
use secrecy::SecretString;
use tss::{
    ExecutionIdBytes, InMemoryNetwork, PaillierPrimes, PrimePool, ProgressEvent, RunKind, SignerSet,
};

/// Options of `custodyd demo`.
#[derive(clap::Args)]
pub struct Args {
    /// Directory for the demo's token store; it is wiped and recreated on every run.
    #[arg(long, default_value = ".state/demo")]
    state_dir: PathBuf,
    /// The PKCS#11 module (SoftHSM2 by default).
    #[arg(long)]
    module: Option<PathBuf>,
}

/// What `prepare` set up before the runtime started.
pub struct Prepared {
    module_path: PathBuf,
}

const MODULE_CANDIDATES: [&str; 2] = [
    "/usr/lib/softhsm/libsofthsm2.so",
    "/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so",
];

const CASE_ID: &str = "demo-case-1";
const CHAIN_ID: u64 = 31337;

/// Creates a fresh SoftHSM2 token store for the demo and points SoftHSM at it.
pub fn prepare(args: &Args) -> anyhow::Result<Prepared> {
    let module_path = match &args.module {
        Some(p) => p.clone(),
        None => MODULE_CANDIDATES
            .iter()
            .map(PathBuf::from)
            .find(|p| p.exists())
            .context("SoftHSM2 is not installed: run ops/setup")?,
    };
    let tokens = args.state_dir.join("tokens");
    if tokens.exists() {
        std::fs::remove_dir_all(&tokens)
            .with_context(|| format!("cannot reset {}", tokens.display()))?;
    }
    std::fs::create_dir_all(&tokens)?;
    let conf = args.state_dir.join("softhsm2.conf");
    let tokens_abs = std::fs::canonicalize(&tokens)?;
    std::fs::write(
        &conf,
        format!(
            "directories.tokendir = {}\nobjectstore.backend = file\nlog.level = ERROR\nslots.removable = false\n",
            tokens_abs.display()
        ),
    )?;
    // Single-threaded here: nothing else reads the environment concurrently.
    std::env::set_var("SOFTHSM2_CONF", std::fs::canonicalize(&conf)?);
    Ok(Prepared { module_path })
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// A random demo PIN (the demo's tokens live only under its state directory).
fn random_pin() -> SecretString {
    let mut b = [0u8; 6];
    OsRng.fill_bytes(&mut b);
    SecretString::from(hex::encode(b))
}

struct Manager {
    name: &'static str,
    index: u16,
    serial: SeSerial,
    pin: Pin,
}

fn step(n: u32, text: &str) {
    println!("\n[{n}/7] {text}");
}

/// Runs the demo.
pub async fn run(args: Args, prepared: Prepared) -> anyhow::Result<()> {
    let started = Instant::now();
    println!("custody core demo — 2-of-3 threshold ECDSA with shares sealed in secure elements");
    step(
        1,
        &format!(
            "SoftHSM2 token store: {}",
            args.state_dir.join("tokens").display()
        ),
    );
    let module = p11::Module::load(&prepared.module_path)?;

    step(
        2,
        "Provisioning the offline server's HSM (CA, channel, envelope and audit keys)",
    );
    let hsm = hsm::Hsm::provision(
        &module,
        "demo-hsm",
        &random_pin(),
        &random_pin(),
        "offline-coordinator",
        now(),
    )?;
    let trust = hsm.trust_anchor();
    let revocation = RevocationList::default();
    println!("      CA key id {}", hex::encode(trust.key_id()));

    step(
        3,
        "Enrolling three secure elements; the HSM's CA certifies each SE identity key",
    );
    let mut managers = Vec::new();
    for (index, name) in ["Manager A", "Manager B", "Manager C"]
        .into_iter()
        .enumerate()
    {
        let (so_secret, pin_secret) = (random_pin(), random_pin());
        let (so_pin, pin) = (Pin::try_from(&so_secret)?, Pin::try_from(&pin_secret)?);
        let label = format!("SE-{}", index + 1);
        // The token starts with the SO PIN as a placeholder user PIN; enrolment sets the real one.
        let token = module.init_token(&label, &so_secret, &so_secret)?;
        let serial = SeSerial::parse(&token.serial)?;
        let enrollment = Se::enroll(&module, &serial, &so_pin, &pin)?;
        let cert = hsm.issue_se_certificate(
            serial.as_str(),
            &label,
            &enrollment.identity_public_key,
            365 * 24 * 3600,
            now(),
        )?;
        let open = Se::open(&module, &serial, &pin)?;
        open.store_certificate(&cert.to_bytes()?)?;
        drop(open);
        println!("      {name}: SE {label}, serial {serial}, identity key non-extractable, certificate issued");
        managers.push(Manager {
            name,
            index: index as u16,
            serial,
            pin,
        });
    }

    step(
        4,
        "Managers log in (PIN unlocks the SE) and authenticate to the HSM (SIGMA handshake)",
    );
    let mut ses = Vec::new();
    for m in &managers {
        let open = Se::open(&module, &m.serial, &m.pin)?;
        let cert = channel::Certificate::from_bytes(
            &open.certificate()?.context("SE has no certificate")?,
        )?;
        let (client, hello) = ClientHandshake::start(cert.clone(), b"demo-login", &mut OsRng);
        let (server, server_hello) = ServerHandshake::respond(
            &hello,
            &hsm.channel_signer(),
            hsm.channel_certificate(),
            &trust,
            &revocation,
            now(),
            &mut OsRng,
        )?;
        let (mut client_channel, finished) =
            client.finish(&server_hello, &open, &trust, &revocation, now())?;
        let mut server_channel = server.finish(&finished)?;
        let frame = client_channel.seal(format!("{} ready", m.name).as_bytes())?;
        let heard = server_channel.open(&frame)?;
        println!(
            "      {}: channel established (binding {}…), server heard \"{}\"",
            m.name,
            &hex::encode(client_channel.binding())[..16],
            String::from_utf8_lossy(&heard)
        );
        ses.push((open, cert));
    }

    step(
        5,
        "Each client generates its Paillier safe primes in the background and seals them in its SE",
    );
    let t = Instant::now();
    let pools: Vec<PrimePool> = (0..3).map(|_| PrimePool::new()).collect();
    let mut fills = Vec::new();
    for (pool, m) in pools.iter().zip(&managers) {
        let pool = pool.clone();
        let name = m.name;
        fills.push(tokio::spawn(async move {
            pool.fill(1, 1, move |p| {
                println!(
                    "      {name}: safe primes ready ({}/{})",
                    p.available, p.target
                )
            })
            .await
        }));
    }
    let ticker = tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(10));
        tick.tick().await;
        loop {
            tick.tick().await;
            println!(
                "      … generating safe primes, {} s",
                t.elapsed().as_secs()
            );
        }
    });
    for f in fills {
        f.await??;
    }
    ticker.abort();
    for (pool, (open, _)) in pools.iter().zip(&ses) {
        let primes = pool.try_take().context("prime pool is empty")?;
        open.seal_secret("paillier-primes", &primes.to_bytes()?)?;
    }
    println!("      primes took {:.1} s", t.elapsed().as_secs_f64());

    step(
        6,
        "Aux info + 2-of-3 keygen; every round message end-to-end encrypted between the clients",
    );
    let t = Instant::now();
    let session = uuid_like();
    let aux_eid = ExecutionIdBytes::derive(RunKind::AuxInfo, &session, CASE_ID.as_bytes(), b"");
    let kg_eid = ExecutionIdBytes::derive(RunKind::Keygen, &session, CASE_ID.as_bytes(), b"");
    let aux_transports = e2e_transports(&ses, &aux_eid, &[0, 1, 2], &trust, &revocation)?;
    let kg_transports = e2e_transports(&ses, &kg_eid, &[0, 1, 2], &trust, &revocation)?;
    let ses = Arc::new(ses);
    let mut tasks = Vec::new();
    for ((m, aux_t), kg_t) in managers.iter().zip(aux_transports).zip(kg_transports) {
        let ses = ses.clone();
        let (index, name) = (m.index, m.name);
        tasks.push(tokio::spawn(async move {
            let (open, _) = ses.get(usize::from(index)).context("no SE")?;
            let primes = PaillierPrimes::from_bytes(&open.unseal_secret("paillier-primes")?)?;
            let slot = ShareSlot::new(CASE_ID, index)?;
            let mut progress = move |e: ProgressEvent| {
                if let ProgressEvent::Round {
                    protocol, number, ..
                } = e
                {
                    if index == 0 {
                        println!("      {name}: {protocol} round {number}");
                    }
                }
            };
            let out = party::keygen_into_se(
                open,
                &slot,
                primes,
                (&aux_eid, aux_t),
                (&kg_eid, kg_t),
                Some(&mut progress),
            )
            .await?;
            open.delete_secret("paillier-primes")?;
            anyhow::Ok(out)
        }));
    }
    let mut outcomes = Vec::new();
    for t in tasks {
        outcomes.push(t.await??);
    }
    let first = outcomes.first().context("no keygen outcome")?.clone();
    if outcomes.iter().any(|o| *o != first) {
        bail!("the three clients disagree on the public key");
    }
    let address = first.address;
    println!(
        "      keygen took {:.1} s; each share sealed in its SE",
        t.elapsed().as_secs_f64()
    );
    println!("      case public key {}", hex::encode(&first.public_key));
    println!("      case address    {address}");

    step(
        7,
        "Managers A and B sign an EIP-1559 transfer (shares unsealed from their SEs)",
    );
    let tx = TxEip1559 {
        chain_id: CHAIN_ID,
        nonce: 0,
        gas_limit: 21_000,
        max_fee_per_gas: 30_000_000_000,
        max_priority_fee_per_gas: 1_000_000_000,
        to: TxKind::Call(Address::repeat_byte(0x35)),
        value: U256::from(10_000_000_000_000_000u64),
        access_list: Default::default(),
        input: Default::default(),
    };
    let hash = tx.signature_hash();
    println!(
        "      chain {CHAIN_ID}, to {}, 0.01 ETH, nonce 0, signing hash {hash}",
        Address::repeat_byte(0x35)
    );
    let signers = SignerSet::new(&[0, 1])?;
    let sign_eid =
        ExecutionIdBytes::derive(RunKind::Sign, &uuid_like(), CASE_ID.as_bytes(), &hash.0);
    let sign_transports = e2e_transports(&ses, &sign_eid, &[0, 1], &trust, &revocation)?;
    let mut tasks = Vec::new();
    for (share_index, transport) in [0u16, 1].into_iter().zip(sign_transports) {
        let ses = ses.clone();
        tasks.push(tokio::spawn(async move {
            let (open, _) = ses.get(usize::from(share_index)).context("no SE")?;
            let slot = ShareSlot::new(CASE_ID, share_index)?;
            anyhow::Ok(
                party::sign_with_se(open, &slot, &signers, &sign_eid, &hash.0, transport).await?,
            )
        }));
    }
    let mut sigs = Vec::new();
    for t in tasks {
        sigs.push(t.await??);
    }
    let sig = *sigs.first().context("no signature")?;
    if sigs.iter().any(|s| *s != sig) {
        bail!("the two signers produced different signatures");
    }
    let alloy_sig =
        alloy_primitives::Signature::from_bytes_and_parity(&sig.to_bytes65()[..64], sig.y_parity);
    let signed = tx.into_signed(alloy_sig);
    let recovered = signed.recover_signer()?;
    if recovered.0 .0 != address.0 {
        bail!("signature recovers to {recovered}, not to the case address {address}");
    }
    let mut raw = Vec::new();
    alloy_consensus::transaction::RlpEcdsaEncodableTx::eip2718_encode(
        signed.tx(),
        signed.signature(),
        &mut raw,
    );
    println!("      r = 0x{}", hex::encode(sig.r));
    println!("      s = 0x{}", hex::encode(sig.s));
    println!("      yParity = {}", u8::from(sig.y_parity));
    println!(
        "      signer recovered independently (alloy/k256): {recovered} ✓ matches the case address"
    );
    println!("      signed raw transaction: 0x{}", hex::encode(&raw));
    println!("      transaction hash: {}", signed.hash());
    println!(
        "\nDone in {:.1} s. One share alone cannot sign; the shares never left their SEs in clear.",
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

fn uuid_like() -> Vec<u8> {
    let mut id = vec![0u8; 16];
    OsRng.fill_bytes(&mut id);
    id
}

/// Every client announces a fresh E2E key for the run (signed by its SE); every client checks
/// all announcements and derives its pairwise keys. The in-memory network stands in for the
/// coordinator's relay.
fn e2e_transports(
    ses: &[(se::OpenSe, channel::Certificate)],
    eid: &ExecutionIdBytes,
    roster: &[u16],
    trust: &channel::TrustAnchor,
    revocation: &RevocationList,
) -> anyhow::Result<Vec<E2eTransport<tss::InMemoryTransport>>> {
    let mut keys = Vec::new();
    for share in roster {
        let (open, cert) = ses.get(usize::from(*share)).context("no SE for share")?;
        keys.push(RunKeys::announce(eid, *share, open, cert.clone())?);
    }
    let announcements: Vec<_> = keys.iter().map(|k| k.announcement.clone()).collect();
    let network = InMemoryNetwork::connect(roster.len() as u16);
    let mut out = Vec::new();
    for ((k, share), t) in keys.into_iter().zip(roster).zip(network) {
        let session = k.into_session(eid, *share, &announcements, trust, revocation, now())?;
        out.push(E2eTransport::new(t, session, roster.to_vec()));
    }
    Ok(out)
}
