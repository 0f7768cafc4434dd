//! The worked example of EIP-155: its signing hash, and a threshold signature over it.

use alloy_consensus::{SignableTransaction, TxLegacy};
use alloy_primitives::{address, b256, Address, TxKind, U256};
use cggmp21::generic_ec::{NonZero, SecretScalar};
use cggmp21::security_level::SecurityLevel128;
use cggmp21::supported_curves::Secp256k1;
use rand_core::OsRng;
use tss::{cggmp21, KeyShare};

use crate::common::{fixture_primes, sign_pair};

fn eip155_tx() -> TxLegacy {
    TxLegacy {
        chain_id: Some(1),
        nonce: 9,
        gas_price: 20_000_000_000,
        gas_limit: 21_000,
        to: TxKind::Call(address!("3535353535353535353535353535353535353535")),
        value: U256::from(1_000_000_000_000_000_000u128),
        input: Default::default(),
    }
}

#[test]
fn the_signing_hash_equals_the_published_value() {
    assert_eq!(
        eip155_tx().signature_hash(),
        b256!("daf5a779ae972f972197303d7b574746c7ef83eadac0f2791ad23db92e4c8e53")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_threshold_signature_over_the_example_recovers_to_the_published_sender() {
    // TEST ONLY: the EIP's private key is split with cggmp21's trusted dealer so the published
    // sender address can be checked; production keys only ever come from distributed keygen.
    let sk = SecretScalar::<Secp256k1>::from_be_bytes(&[0x46u8; 32]).unwrap();
    let sk = NonZero::from_secret_scalar(sk).unwrap();
    let primes = fixture_primes()
        .into_iter()
        .map(|p| {
            let v: serde_json::Value = serde_json::from_slice(&p.to_bytes().unwrap()).unwrap();
            let pp: cggmp21::PregeneratedPrimes<SecurityLevel128> =
                serde_json::from_value(v).unwrap();
            pp.split()
        })
        .collect();
    let shares: Vec<KeyShare> = cggmp21::trusted_dealer::builder::<Secp256k1, SecurityLevel128>(3)
        .set_threshold(Some(2))
        .set_shared_secret_key(sk)
        .set_pregenerated_primes(primes)
        .generate_shares(&mut OsRng)
        .unwrap()
        .into_iter()
        .map(|s| KeyShare::from_cggmp21(s).unwrap())
        .collect();
    let sender: Address = address!("9d8A62f656a8d1615C1294fd71e9CFb3E4855A4F");
    assert_eq!(Address::from(shares[0].address().unwrap().0), sender);

    let tx = eip155_tx();
    let hash = tx.signature_hash();
    for pair in [[0, 1], [1, 2]] {
        let sig = sign_pair(&shares, pair, hash.0).await;
        let v = sig.v_eip155(1);
        assert!(v == 37 || v == 38, "v = {v}");
        // Assemble the signed transaction with alloy and recover its sender independently.
        let alloy_sig = alloy_primitives::Signature::from_bytes_and_parity(
            &sig.to_bytes65()[..64],
            sig.y_parity,
        );
        let signed = tx.clone().into_signed(alloy_sig);
        assert_eq!(signed.recover_signer().unwrap(), sender, "pair {pair:?}");
    }
}
