//! The production path, for real: prime generation, aux info, keygen, then signing with the
//! fresh shares. Slow (about a minute in all); also regenerates the test-only fixtures on demand.

use std::sync::{Arc, Mutex};

use tss::{
    ExecutionIdBytes, InMemoryNetwork, KeyShare, PaillierPrimes, PoolProgress, PrimePool,
    ProgressEvent, RunKind,
};

use crate::common::{fixture_primes, fixtures_dir, sign_pair};

/// Runs aux info and keygen for all three parties over an in-memory network.
async fn distributed_keygen(primes: Vec<PaillierPrimes>, session: &[u8]) -> Vec<KeyShare> {
    let aux_eid = ExecutionIdBytes::derive(RunKind::AuxInfo, session, b"case", b"");
    let kg_eid = ExecutionIdBytes::derive(RunKind::Keygen, session, b"case", b"");
    let events = Arc::new(Mutex::new(Vec::new()));
    let mut tasks = Vec::new();
    let aux_net = InMemoryNetwork::connect(3);
    let kg_net = InMemoryNetwork::connect(3);
    for ((p, aux_t), kg_t) in primes.into_iter().zip(aux_net).zip(kg_net) {
        let events = events.clone();
        tasks.push(tokio::spawn(async move {
            let mut progress = move |e: ProgressEvent| events.lock().unwrap().push(e);
            let aux = tss::aux_info(&aux_eid, p, aux_t, Some(&mut progress)).await?;
            let core = tss::keygen(&kg_eid, kg_t, Some(&mut progress)).await?;
            KeyShare::assemble(core, aux)
        }));
    }
    let mut shares = Vec::new();
    for t in tasks {
        shares.push(t.await.unwrap().unwrap());
    }
    let events = events.lock().unwrap();
    for protocol in ["aux-info", "keygen"] {
        assert!(
            events.iter().any(|e| matches!(e, ProgressEvent::Round { protocol: p, number: 2, .. } if *p == protocol)),
            "{protocol} reported its rounds"
        );
        assert!(events.contains(&ProgressEvent::Finished { protocol }));
    }
    shares
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn aux_info_and_keygen_for_real_then_every_pair_signs() {
    let shares = distributed_keygen(fixture_primes(), b"real-path").await;
    let address = shares[0].address().unwrap();
    for (i, s) in shares.iter().enumerate() {
        assert_eq!(usize::from(s.index().get()), i);
        assert_eq!(s.address().unwrap(), address);
        // What would be sealed into the SE parses back to the same share.
        let back = KeyShare::from_bytes(&s.to_bytes().unwrap()).unwrap();
        assert_eq!(back.public_key_sec1(), s.public_key_sec1());
    }
    for pair in [[0, 1], [0, 2], [1, 2]] {
        let hash = [pair[0] as u8 + 7; 32];
        let sig = sign_pair(&shares, pair, hash).await;
        let rec = alloy_primitives::Signature::from_bytes_and_parity(
            &sig.to_bytes65()[..64],
            sig.y_parity,
        )
        .recover_address_from_prehash(&hash.into())
        .unwrap();
        assert_eq!(rec.0 .0, address.0);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_prime_pool_generates_real_safe_primes_in_the_background_with_progress() {
    let pool = PrimePool::new();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let s = seen.clone();
    pool.fill(1, 1, move |p| s.lock().unwrap().push(p))
        .await
        .unwrap();
    assert_eq!(
        *seen.lock().unwrap(),
        vec![PoolProgress {
            available: 1,
            target: 1
        }]
    );
    let primes = pool.take().await;
    assert!(pool.is_empty());
    // The pair survives sealing (bytes) and passes the security-level size check.
    let bytes = primes.to_bytes().unwrap();
    PaillierPrimes::from_bytes(&bytes).unwrap();
    let err = PaillierPrimes::from_bytes(
        br#"{"p":{"radix":16,"value":"11"},"q":{"radix":16,"value":"17"},"_phantom":null}"#,
    )
    .err()
    .unwrap();
    assert!(err.to_string().contains("too small"), "{err}");
}

/// TEST ONLY fixtures: `cargo test -p custody-tss --test it -- --ignored regenerate_fixtures`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "writes the test-only fixtures; run by hand"]
async fn regenerate_fixtures() {
    let pool = PrimePool::new();
    pool.fill(3, 2, |p| eprintln!("primes {}/{}", p.available, p.target))
        .await
        .unwrap();
    let primes: Vec<_> = (0..3).map(|_| pool.try_take().unwrap()).collect();
    let primes_json: Vec<serde_json::Value> = primes
        .iter()
        .map(|p| serde_json::from_slice(&p.to_bytes().unwrap()).unwrap())
        .collect();
    std::fs::write(
        fixtures_dir().join("paillier-primes.test-only.json"),
        serde_json::to_vec_pretty(&primes_json).unwrap(),
    )
    .unwrap();
    let shares = distributed_keygen(primes, b"fixtures").await;
    let shares_json: Vec<serde_json::Value> = shares
        .iter()
        .map(|s| serde_json::from_slice(&s.to_bytes().unwrap()).unwrap())
        .collect();
    std::fs::write(
        fixtures_dir().join("key-shares.test-only.json"),
        serde_json::to_vec(&shares_json).unwrap(),
    )
    .unwrap();
}
