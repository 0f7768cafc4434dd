//! TEST-ONLY fixtures: pre-generated Paillier primes and the three shares of one real 2-of-3
//! keygen, so tests and benches that are not about keygen skip minutes of safe-prime generation.
//! Never use them outside tests and benches: their secrets are in this repository. The production
//! path (prime pool, aux info, keygen) is tested for real in `crates/tss/tests/it/real_path.rs`,
//! which also regenerates these files.

use tss::{KeyShare, PaillierPrimes};

use crate::{Error, Result};

const PRIMES: &str = include_str!("../fixtures/paillier-primes.test-only.json");
const SHARES: &str = include_str!("../fixtures/key-shares.test-only.json");

fn entries(name: &'static str, json: &str) -> Result<Vec<Vec<u8>>> {
    let fail = |reason: String| Error::Fixture { name, reason };
    let list: Vec<serde_json::Value> =
        serde_json::from_str(json).map_err(|e| fail(e.to_string()))?;
    list.iter()
        .map(|v| serde_json::to_vec(v).map_err(|e| fail(e.to_string())))
        .collect()
}

/// Three prime pairs, one per party.
pub fn paillier_primes() -> Result<Vec<PaillierPrimes>> {
    entries("paillier-primes.test-only.json", PRIMES)?
        .iter()
        .map(|b| {
            PaillierPrimes::from_bytes(b).map_err(|e| Error::Fixture {
                name: "paillier-primes.test-only.json",
                reason: e.to_string(),
            })
        })
        .collect()
}

/// The three key shares (indices 0, 1, 2) of one 2-of-3 secp256k1 key.
pub fn key_shares() -> Result<Vec<KeyShare>> {
    entries("key-shares.test-only.json", SHARES)?
        .iter()
        .map(|b| {
            KeyShare::from_bytes(b).map_err(|e| Error::Fixture {
                name: "key-shares.test-only.json",
                reason: e.to_string(),
            })
        })
        .collect()
}
