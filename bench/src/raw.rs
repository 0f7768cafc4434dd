//! The floor: cggmp21 driven directly over round-based's own in-memory simulation network, with
//! no serialisation, no encryption and no secure element.

use std::time::{Duration, Instant};

use cggmp21::generic_ec::Scalar;
use cggmp21::security_level::SecurityLevel128;
use cggmp21::supported_curves::Secp256k1;
use cggmp21::{DataToSign, ExecutionId, KeyShare, PregeneratedPrimes};
use rand_core::{OsRng, RngCore};
use round_based::sim::async_env::Network;

type Share = KeyShare<Secp256k1, SecurityLevel128>;

fn fresh_eid() -> Vec<u8> {
    let mut eid = vec![0u8; 32];
    OsRng.fill_bytes(&mut eid);
    eid
}

/// One 2-of-3 signing run of `hash` by `signers`.
pub async fn sign(shares: &[Share], signers: [u16; 2], hash: [u8; 32]) -> anyhow::Result<Duration> {
    let eid = fresh_eid();
    let mut net = Network::new();
    let start = Instant::now();
    let mut tasks = Vec::new();
    for (position, keygen_index) in signers.iter().enumerate() {
        let party = net.add_party();
        let share = shares
            .get(usize::from(*keygen_index))
            .cloned()
            .ok_or_else(|| anyhow::anyhow!("no share {keygen_index}"))?;
        let eid = eid.clone();
        tasks.push(tokio::spawn(async move {
            let data = DataToSign::from_scalar(Scalar::<Secp256k1>::from_be_bytes_mod_order(hash));
            cggmp21::signing(ExecutionId::new(&eid), position as u16, &signers, &share)
                .sign(&mut OsRng, party, data)
                .await
        }));
    }
    for t in tasks {
        t.await??;
    }
    Ok(start.elapsed())
}

/// Aux-info generation from pre-generated primes, then 2-of-3 keygen, for all three parties.
pub async fn keygen(primes: Vec<PregeneratedPrimes<SecurityLevel128>>) -> anyhow::Result<Duration> {
    let aux_eid = fresh_eid();
    let kg_eid = fresh_eid();
    let mut aux_net = Network::new();
    let mut kg_net = Network::new();
    let start = Instant::now();
    let mut tasks = Vec::new();
    for (i, p) in primes.into_iter().enumerate() {
        let aux_party = aux_net.add_party();
        let kg_party = kg_net.add_party();
        let (aux_eid, kg_eid) = (aux_eid.clone(), kg_eid.clone());
        tasks.push(tokio::spawn(async move {
            let aux = cggmp21::aux_info_gen(ExecutionId::new(&aux_eid), i as u16, 3, p)
                .start(&mut OsRng, aux_party)
                .await?;
            let core = cggmp21::keygen::<Secp256k1>(ExecutionId::new(&kg_eid), i as u16, 3)
                .set_threshold(2)
                .start(&mut OsRng, kg_party)
                .await?;
            let share =
                KeyShare::from_parts((core, aux)).map_err(|e| anyhow::anyhow!("{}", e.error()))?;
            anyhow::Ok(share)
        }));
    }
    for t in tasks {
        t.await??;
    }
    Ok(start.elapsed())
}
