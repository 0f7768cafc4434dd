use alloy_primitives::{Address, B256};
use rand_core::{OsRng, RngCore};
use tss::{BatchItem, Error, ExecutionIdBytes, InMemoryNetwork, RunKind, SignerSet};

use crate::common::{fixture_shares, sign_pair};

fn random_hash() -> [u8; 32] {
    let mut h = [0u8; 32];
    OsRng.fill_bytes(&mut h);
    h
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_pair_of_shares_signs_and_an_independent_implementation_recovers_the_address() {
    let shares = fixture_shares();
    let address = shares[0].address().unwrap();
    for s in &shares {
        assert_eq!(
            s.address().unwrap(),
            address,
            "all shares hold the same key"
        );
    }
    let expected = Address::from(address.0);
    for pair in [[0, 1], [0, 2], [1, 2]] {
        let hash = random_hash();
        let sig = sign_pair(&shares, pair, hash).await;
        // alloy's recovery (k256 underneath, not cggmp21's verify).
        let alloy_sig = alloy_primitives::Signature::from_bytes_and_parity(
            &sig.to_bytes65()[..64],
            sig.y_parity,
        );
        let recovered = alloy_sig
            .recover_address_from_prehash(&B256::from(hash))
            .unwrap();
        assert_eq!(recovered, expected, "pair {pair:?}");
        // Low-s (EIP-2): s <= n/2.
        let s = k256::ecdsa::Signature::from_scalars(sig.r, sig.s).unwrap();
        assert!(
            s.normalize_s().is_none(),
            "pair {pair:?} produced a high-s signature"
        );
    }
}

#[test]
fn one_share_alone_cannot_even_ask_for_a_signature() {
    for bad in [
        &[0u16][..],
        &[1],
        &[],
        &[0, 0],
        &[2, 2],
        &[0, 3],
        &[0, 1, 2],
    ] {
        let err = SignerSet::new(bad).unwrap_err();
        assert!(
            matches!(
                err,
                Error::InvalidSignerSet { .. } | Error::ShareIndexOutOfRange(_)
            ),
            "{bad:?}: {err}"
        );
    }
    assert_eq!(
        SignerSet::new(&[2, 0]).unwrap().indices().map(|i| i.get()),
        [0, 2],
        "signer sets are sorted"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_share_that_is_not_a_signer_is_refused_and_a_lone_signer_gets_no_signature() {
    let shares = fixture_shares();
    let signers = SignerSet::new(&[0, 1]).unwrap();
    let hash = random_hash();
    let eid = ExecutionIdBytes::derive(RunKind::Sign, b"s", b"c", &hash);
    let mut t = InMemoryNetwork::connect(2);
    let err = tss::sign(&eid, &shares[2], &signers, &hash, t.remove(0))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::NotASigner(2)), "{err}");

    // Share 0 runs alone: its peer never answers, so no signature comes out (the run is cut by
    // the caller's timeout, as the coordinator does).
    let mut t = InMemoryNetwork::connect(2);
    let lone = tss::sign(&eid, &shares[0], &signers, &hash, t.remove(0));
    let out = tokio::time::timeout(std::time::Duration::from_secs(3), lone).await;
    match out {
        Err(_) => {}
        Ok(r) => assert!(r.is_err(), "a single share must not produce a signature"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_signs_every_message_in_parallel_full_runs() {
    let shares = fixture_shares();
    let signers = SignerSet::new(&[1, 2]).unwrap();
    let hashes: Vec<[u8; 32]> = (0..3).map(|_| random_hash()).collect();
    let mut per_party: Vec<Vec<BatchItem<_>>> = vec![Vec::new(), Vec::new()];
    for h in &hashes {
        let eid = ExecutionIdBytes::derive(RunKind::Sign, b"batch", b"case", h);
        for (p, t) in InMemoryNetwork::connect(2).into_iter().enumerate() {
            per_party[p].push(BatchItem {
                eid,
                hash: *h,
                transport: t,
            });
        }
    }
    let mut tasks = Vec::new();
    for (p, items) in per_party.into_iter().enumerate() {
        let share = shares[usize::from(signers.indices()[p].get())].clone();
        tasks.push(tokio::spawn(async move {
            tss::sign_batch(&share, &signers, items).await
        }));
    }
    let a = tasks.remove(0).await.unwrap().unwrap();
    let b = tasks.remove(0).await.unwrap().unwrap();
    assert_eq!(a, b);
    let pk = shares[0].public_key().unwrap();
    for (sig, h) in a.iter().zip(&hashes) {
        let s = k256::ecdsa::Signature::from_scalars(sig.r, sig.s).unwrap();
        let id = k256::ecdsa::RecoveryId::new(sig.y_parity, false);
        let rec = k256::ecdsa::VerifyingKey::recover_from_prehash(h, &s, id).unwrap();
        assert_eq!(rec, pk);
    }

    // Re-using one execution id inside a batch is refused before anything runs.
    let eid = ExecutionIdBytes::derive(RunKind::Sign, b"dup", b"case", &hashes[0]);
    let items: Vec<_> = InMemoryNetwork::connect(2)
        .into_iter()
        .map(|t| BatchItem {
            eid,
            hash: hashes[0],
            transport: t,
        })
        .collect();
    let err = tss::sign_batch(&shares[1], &signers, items)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("own execution id"), "{err}");
}

#[test]
fn shares_round_trip_through_bytes_and_reject_garbage() {
    let shares = fixture_shares();
    let bytes = shares[1].to_bytes().unwrap();
    let back = tss::KeyShare::from_bytes(&bytes).unwrap();
    assert_eq!(back.index().get(), 1);
    assert_eq!(back.address().unwrap(), shares[1].address().unwrap());
    let err = tss::KeyShare::from_bytes(b"{\"not\":\"a share\"}").unwrap_err();
    assert!(matches!(err, Error::Encoding(_)), "{err}");
    // A share whose secret does not match its public commitment is rejected by validation.
    let mut v: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
    v["core"]["x"] = serde_json::to_value(
        &serde_json::from_slice::<serde_json::Value>(&shares[0].to_bytes().unwrap()).unwrap()
            ["core"]["x"],
    )
    .unwrap();
    let err = tss::KeyShare::from_bytes(&serde_json::to_vec(&v).unwrap()).unwrap_err();
    assert!(matches!(err, Error::InvalidKeyShare(_)), "{err}");
}
