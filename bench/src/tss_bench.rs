//! `bench tss`: raw cggmp21 (the floor) against the project's paths, in one run.
//!
//! - signing: raw = cggmp21 2-of-3 signing over round-based's in-memory simulation; project =
//!   both managers unseal their share from a SoftHSM2 SE, announce and verify E2E keys (signed by
//!   their SEs, certified by an HSM-style CA), and run `tss::sign` over E2E-encrypted transports.
//! - keygen: raw = aux info (pre-generated primes) + keygen; project = the same through `tss` and
//!   E2E transports, ending with each share sealed into its SE.
//!
//! Paillier primes and key shares come from the test-only fixtures, so both sides do the same
//! work and prime generation (which is the same code on both sides) is left out.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::Context;
use channel::{Certificate, RevocationList, TrustAnchor};
use party::{E2eTransport, RunKeys};
use rand_core::{OsRng, RngCore};
use se::{OpenSe, Pin, Se, SeSerial, ShareSlot};
use testkit::softhsm::SoftHsm;
use tss::{ExecutionIdBytes, InMemoryNetwork, KeyShare, PaillierPrimes, RunKind, SignerSet};

use crate::raw;
use crate::stats::{print_table, Comparison, Samples};

const CASE: &str = "bench-case";

struct Client {
    se: OpenSe,
    cert: Certificate,
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// Three enrolled SEs whose certificates are issued by a real (SoftHSM2) HSM CA.
fn clients(hsm: &hsm::Hsm) -> anyhow::Result<Vec<Client>> {
    let softhsm = SoftHsm::global();
    let module = softhsm.module();
    let mut out = Vec::new();
    for i in 0..3u16 {
        let token = softhsm.new_token(&format!("bench-se-{i}"));
        let serial = SeSerial::parse(&token.summary.serial)?;
        let so = Pin::try_from(&token.so_pin)?;
        let pin = Pin::try_from(&token.user_pin)?;
        let enrollment = Se::enroll(&module, &serial, &so, &pin)?;
        let cert = hsm.issue_se_certificate(
            serial.as_str(),
            &format!("SE-{i}"),
            &enrollment.identity_public_key,
            3600,
            now(),
        )?;
        let se = Se::open(&module, &serial, &pin)?;
        se.store_certificate(&cert.to_bytes()?)?;
        out.push(Client { se, cert });
    }
    Ok(out)
}

fn transports(
    clients: &[Client],
    eid: &ExecutionIdBytes,
    roster: &[u16],
    trust: &TrustAnchor,
) -> anyhow::Result<Vec<E2eTransport<tss::InMemoryTransport>>> {
    let revocation = RevocationList::default();
    let mut keys = Vec::new();
    for share in roster {
        let c = clients.get(usize::from(*share)).context("client")?;
        keys.push(RunKeys::announce(eid, *share, &c.se, c.cert.clone())?);
    }
    let ann: Vec<_> = keys.iter().map(|k| k.announcement.clone()).collect();
    let mut out = Vec::new();
    for ((k, share), t) in keys
        .into_iter()
        .zip(roster)
        .zip(InMemoryNetwork::connect(roster.len() as u16))
    {
        let session = k.into_session(eid, *share, &ann, trust, &revocation, now())?;
        out.push(E2eTransport::new(t, session, roster.to_vec()));
    }
    Ok(out)
}

fn fresh(n: usize) -> Vec<u8> {
    let mut v = vec![0u8; n];
    OsRng.fill_bytes(&mut v);
    v
}

async fn project_sign(
    clients: &std::sync::Arc<Vec<Client>>,
    trust: &TrustAnchor,
    hash: [u8; 32],
) -> anyhow::Result<Duration> {
    let start = Instant::now();
    let signers = SignerSet::new(&[0, 1])?;
    let eid = ExecutionIdBytes::derive(RunKind::Sign, &fresh(16), CASE.as_bytes(), &hash);
    let ts = transports(clients, &eid, &[0, 1], trust)?;
    let mut tasks = Vec::new();
    for (i, t) in ts.into_iter().enumerate() {
        let clients = clients.clone();
        tasks.push(tokio::spawn(async move {
            let c = clients.get(i).context("client")?;
            let slot = ShareSlot::new(CASE, i as u16)?;
            anyhow::Ok(party::sign_with_se(&c.se, &slot, &signers, &eid, &hash, t).await?)
        }));
    }
    for t in tasks {
        t.await??;
    }
    Ok(start.elapsed())
}

async fn project_keygen(
    clients: &std::sync::Arc<Vec<Client>>,
    trust: &TrustAnchor,
    primes: Vec<PaillierPrimes>,
    run: usize,
) -> anyhow::Result<Duration> {
    // Each run seals into a slot of its own: an SE refuses to overwrite a sealed share.
    let case = format!("bench-keygen-{run}");
    let start = Instant::now();
    let session = fresh(16);
    let aux_eid = ExecutionIdBytes::derive(RunKind::AuxInfo, &session, CASE.as_bytes(), b"");
    let kg_eid = ExecutionIdBytes::derive(RunKind::Keygen, &session, CASE.as_bytes(), b"");
    let aux = transports(clients, &aux_eid, &[0, 1, 2], trust)?;
    let kg = transports(clients, &kg_eid, &[0, 1, 2], trust)?;
    let mut tasks = Vec::new();
    for (i, ((p, a), k)) in primes.into_iter().zip(aux).zip(kg).enumerate() {
        let clients = clients.clone();
        let case = case.clone();
        tasks.push(tokio::spawn(async move {
            let c = clients.get(i).context("client")?;
            let slot = ShareSlot::new(&case, i as u16)?;
            anyhow::Ok(
                party::keygen_into_se(&c.se, &slot, p, (&aux_eid, a), (&kg_eid, k), None).await?,
            )
        }));
    }
    for t in tasks {
        t.await??;
    }
    Ok(start.elapsed())
}

pub async fn run(quick: bool) -> anyhow::Result<()> {
    let (sign_runs, keygen_runs) = if quick { (3, 1) } else { (10, 3) };
    let softhsm = SoftHsm::global();
    let hsm_token = softhsm.new_token("bench-hsm");
    let hsm = hsm::Hsm::provision(
        &softhsm.module(),
        &hsm_token.summary.label,
        &hsm_token.so_pin,
        &hsm_token.user_pin,
        "bench-coordinator",
        now(),
    )?;
    let trust = hsm.trust_anchor();
    let clients = std::sync::Arc::new(clients(&hsm)?);
    let shares: Vec<KeyShare> = testkit::fixtures::key_shares()?;
    for (c, s) in clients.iter().zip(&shares) {
        c.se.seal_share(&ShareSlot::new(CASE, s.index().get())?, &s.to_bytes()?)?;
    }
    let raw_shares: Vec<_> = shares.iter().map(|s| s.as_cggmp21().clone()).collect();

    eprintln!("signing: {sign_runs} runs each (alternating raw / project)…");
    let mut raw_sign = Samples::new("raw cggmp21 sign (in-memory sim)");
    let mut proj_sign = Samples::new("project sign (SE unseal + E2E + tss)");
    // One warm-up of each, not counted.
    raw::sign(&raw_shares, [0, 1], [1; 32]).await?;
    project_sign(&clients, &trust, [1; 32]).await?;
    for i in 0..sign_runs {
        let hash: [u8; 32] = fresh(32).try_into().map_err(|_| anyhow::anyhow!("hash"))?;
        raw_sign
            .times
            .push(raw::sign(&raw_shares, [0, 1], hash).await?);
        proj_sign
            .times
            .push(project_sign(&clients, &trust, hash).await?);
        eprintln!("  run {}/{sign_runs}", i + 1);
    }

    eprintln!("keygen (aux info from pre-generated primes + keygen): {keygen_runs} run(s) each…");
    let mut raw_kg = Samples::new("raw cggmp21 aux-info + keygen");
    let mut proj_kg = Samples::new("project aux-info + keygen + SE seal");
    for i in 0..keygen_runs {
        let raw_primes = testkit::fixtures::paillier_primes()?
            .into_iter()
            .map(PaillierPrimes::into_cggmp21)
            .collect();
        raw_kg.times.push(raw::keygen(raw_primes).await?);
        let primes = testkit::fixtures::paillier_primes()?;
        proj_kg
            .times
            .push(project_keygen(&clients, &trust, primes, i).await?);
        eprintln!("  run {}/{keygen_runs}", i + 1);
    }

    print_table(
        "bench tss — medians; ratio = project / raw (same run, same machine)",
        &[
            Comparison {
                ratio_name: "tss-sign",
                baseline: raw_sign,
                project: proj_sign,
            },
            Comparison {
                ratio_name: "tss-keygen",
                baseline: raw_kg,
                project: proj_kg,
            },
        ],
    );
    Ok(())
}
