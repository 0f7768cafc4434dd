use std::path::PathBuf;

use tss::{ExecutionIdBytes, InMemoryNetwork, KeyShare, PaillierPrimes, RunKind, SignerSet};

pub fn fixtures_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../testkit/fixtures")
}

/// TEST ONLY: three pre-generated Paillier prime pairs, so tests do not spend minutes on safe
/// primes. The production path generates them (see `real_path::prime_pool_*`).
pub fn fixture_primes() -> Vec<PaillierPrimes> {
    let raw = std::fs::read(fixtures_dir().join("paillier-primes.test-only.json")).unwrap();
    let list: Vec<serde_json::Value> = serde_json::from_slice(&raw).unwrap();
    list.iter()
        .map(|v| PaillierPrimes::from_bytes(&serde_json::to_vec(v).unwrap()).unwrap())
        .collect()
}

/// TEST ONLY: the three shares of one real 2-of-3 keygen.
pub fn fixture_shares() -> Vec<KeyShare> {
    let raw = std::fs::read(fixtures_dir().join("key-shares.test-only.json")).unwrap();
    let list: Vec<serde_json::Value> = serde_json::from_slice(&raw).unwrap();
    list.iter()
        .map(|v| KeyShare::from_bytes(&serde_json::to_vec(v).unwrap()).unwrap())
        .collect()
}

/// Signs `hash` with the two shares of `pair` over an in-memory network.
pub async fn sign_pair(shares: &[KeyShare], pair: [u16; 2], hash: [u8; 32]) -> tss::EthSignature {
    let signers = SignerSet::new(&pair).unwrap();
    let eid = ExecutionIdBytes::derive(RunKind::Sign, b"test-session", b"test-case", &hash);
    let transports = InMemoryNetwork::connect(2);
    let mut tasks = Vec::new();
    for (t, idx) in transports.into_iter().zip(signers.indices()) {
        let share = shares[usize::from(idx.get())].clone();
        tasks.push(tokio::spawn(async move {
            tss::sign(&eid, &share, &signers, &hash, t).await
        }));
    }
    let mut sigs = Vec::new();
    for t in tasks {
        sigs.push(t.await.unwrap().unwrap());
    }
    assert_eq!(sigs[0], sigs[1], "both signers output the same signature");
    sigs.remove(0)
}
