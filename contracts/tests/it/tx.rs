//! The unsigned transaction inside a signing request: hash, chain, summary, and the
//! signature response checks.

use alloy_consensus::{SignableTransaction, TxEip1559};
use alloy_primitives::{Bytes, TxKind, U256};
use contracts::envelope::Asset;
use contracts::eth::{self, Eip1559Fields};
use contracts::{Amount, Envelope, Error, EthAddress, SigningRequest};

use crate::common::*;

/// Signs a possibly inconsistent request the way a compromised exporter could, and runs the
/// importer's verification.
fn import(request: &SigningRequest) -> Result<contracts::Verified<SigningRequest>, Error> {
    let raw = RawEnvelope::signed("signing_request", request, &online());
    Envelope::from_bytes(&raw.to_bytes())?.verify::<SigningRequest>(&keyring(), NOW)
}

#[test]
fn signing_hash_equals_alloys() {
    for request in [eth_request(), erc20_request()] {
        let tx: TxEip1559 = request.transaction.to_alloy().unwrap();
        assert_eq!(
            eth::signing_hash(&request.unsigned_tx),
            tx.signature_hash().0
        );
        assert_eq!(request.signing_hash, tx.signature_hash().0);
        // And our decoder reads back alloy's own encoding.
        let mut alloy_bytes = Vec::new();
        tx.encode_for_signing(&mut alloy_bytes);
        assert_eq!(alloy_bytes, request.unsigned_tx);
        assert_eq!(eth::decode_unsigned(&alloy_bytes).unwrap(), tx);
    }
}

#[test]
fn decoded_transfer_shows_what_is_signed() {
    let decoded = erc20_request().decode().unwrap();
    assert_eq!(decoded.asset, Asset::Erc20(usdc()));
    assert_eq!(decoded.recipient, recipient());
    assert_eq!(decoded.amount, Amount::from(250_000_000u128));
    assert_eq!(
        decoded.max_fee_wei,
        U256::from(65_000u64) * U256::from(30_000_000_000u64)
    );
    let decoded = eth_request().decode().unwrap();
    assert_eq!(decoded.asset, Asset::Native);
    assert_eq!(decoded.fields.nonce, 7);
    import(&eth_request()).unwrap();
}

#[test]
fn rejects_tx_hash_mismatch() {
    let mut request = eth_request();
    request.signing_hash = [0x55; 32];
    assert!(matches!(import(&request), Err(Error::HashMismatch)));
    // A swapped transaction under the old hash (the Bybit pattern): still a hash mismatch.
    let mut request = eth_request();
    let other = erc20_request();
    request.unsigned_tx = other.unsigned_tx;
    request.transaction = other.transaction;
    assert!(matches!(import(&request), Err(Error::HashMismatch)));
}

#[test]
fn rejects_wrong_chain_id() {
    let mut request = eth_request();
    request.chain_id = 11_155_111;
    let err = import(&request).unwrap_err();
    assert!(
        matches!(
            err,
            Error::ChainMismatch {
                expected: 11_155_111,
                found: 1
            }
        ),
        "{err}"
    );
}

#[test]
fn rejects_summary_mismatch() {
    type Mutation = Box<dyn Fn(&mut SigningRequest)>;
    let cases: Vec<(&str, Mutation)> = vec![
        (
            "amount",
            Box::new(|r| r.summary.amount = Amount::from(1u128)),
        ),
        ("recipient", Box::new(|r| r.summary.recipient = usdc())),
        ("token", Box::new(|r| r.summary.token = Some(recipient()))),
        ("native token claim", Box::new(|r| r.summary.token = None)),
        (
            "symbol look-alike",
            Box::new(|r| r.summary.asset_symbol = "USDС".into()),
        ),
        ("fields nonce", Box::new(|r| r.transaction.nonce += 1)),
        ("fields gas", Box::new(|r| r.transaction.gas_limit = 1)),
    ];
    for (name, mutate) in cases {
        let mut request = erc20_request();
        mutate(&mut request);
        let err = import(&request).unwrap_err();
        assert!(matches!(err, Error::SummaryMismatch(_)), "{name}: {err}");
    }
    // Ether with the wrong decimals would show an amount off by 10^12.
    let mut request = eth_request();
    request.summary.decimals = 6;
    assert!(matches!(import(&request), Err(Error::SummaryMismatch(_))));
}

#[test]
fn rejects_transactions_the_summary_cannot_describe() {
    let base = eth_request().transaction.to_alloy().unwrap();
    let create = TxEip1559 {
        to: TxKind::Create,
        ..base.clone()
    };
    let other_call = TxEip1559 {
        to: TxKind::Call(usdc().into()),
        value: U256::ZERO,
        input: Bytes::from(vec![0x09, 0x5e, 0xa7, 0xb3, 0, 0]), // approve(...) prefix
        ..base
    };
    for (name, tx) in [("create", create), ("approve", other_call)] {
        let unsigned_tx = eth::encode_unsigned(&tx);
        let mut request = erc20_request();
        request.signing_hash = eth::signing_hash(&unsigned_tx);
        request.unsigned_tx = unsigned_tx;
        if let Ok(fields) = Eip1559Fields::from_alloy(&tx) {
            request.transaction = fields;
        }
        let err = import(&request).unwrap_err();
        assert!(
            matches!(err, Error::UnsupportedTransaction(_)),
            "{name}: {err}"
        );
    }
    // A legacy / other-typed payload and junk RLP.
    let mut request = eth_request();
    request.unsigned_tx[0] = 0x01;
    assert!(matches!(
        import(&request),
        Err(Error::UnsupportedTransaction(_))
    ));
    let mut request = eth_request();
    request.unsigned_tx.push(0x80);
    request.signing_hash = eth::signing_hash(&request.unsigned_tx);
    assert!(matches!(import(&request), Err(Error::Malformed(_))));
}

#[test]
fn erc20_calldata_is_decoded_strictly() {
    let amount = Amount::from(123u128);
    let data = eth::encode_erc20_transfer(&recipient(), &amount);
    assert_eq!(
        eth::decode_erc20_transfer(&data).unwrap(),
        (recipient(), amount)
    );
    let mut dirty = data.clone();
    dirty[5] = 1; // a non-zero byte in the address padding
    assert!(eth::decode_erc20_transfer(&dirty).is_err());
    assert!(eth::decode_erc20_transfer(&data[..67]).is_err());
    let mut other = data;
    other[0] = 0x23; // transferFrom selector starts 0x23b872dd
    assert!(eth::decode_erc20_transfer(&other).is_err());
}

#[test]
fn signature_response_recovers_to_the_account() {
    let request = erc20_request();
    let response = response_for(&request);
    response.check_against(&request).unwrap();
    let decoded = eth::decode_signed(&response.signed_tx).unwrap();
    assert_eq!(decoded.tx_hash, response.tx_hash);
    assert_eq!(decoded.tx, request.transaction.to_alloy().unwrap());

    // Another account.
    let err = response
        .check_for(&request.unsigned_tx, &recipient())
        .unwrap_err();
    assert!(matches!(err, Error::SignatureMismatch(_)), "{err}");
    // Another request's transaction.
    let err = response
        .check_for(&eth_request().unsigned_tx, &case_address())
        .unwrap_err();
    assert!(matches!(err, Error::SignatureMismatch(_)), "{err}");
    // Another request id.
    let mut other = request.clone();
    other.request_id = id(99);
    assert!(matches!(
        response.check_against(&other),
        Err(Error::SignatureMismatch(_))
    ));
    // Flipped parity: the fields no longer match the signed transaction.
    let mut flipped = response.clone();
    flipped.y_parity = !flipped.y_parity;
    assert!(matches!(
        flipped.check_against(&request),
        Err(Error::SignatureMismatch(_))
    ));
    // A wrong tx hash.
    let mut wrong_hash = response.clone();
    wrong_hash.tx_hash[0] ^= 1;
    assert!(matches!(
        wrong_hash.check_against(&request),
        Err(Error::SignatureMismatch(_))
    ));
}

#[test]
fn signature_response_with_high_s_is_refused() {
    let request = eth_request();
    let response = response_for(&request);
    // The same signature with s' = n - s and flipped parity is valid ECDSA but malleable.
    let n = U256::from_str_radix(
        "fffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141",
        16,
    )
    .unwrap();
    let high_s = n - U256::from_be_bytes(response.s);
    let sig = alloy_primitives::Signature::new(
        U256::from_be_bytes(response.r),
        high_s,
        !response.y_parity,
    );
    let tx = request.transaction.to_alloy().unwrap();
    let signed_tx = eth::encode_signed(&tx, &sig);
    let mut malleable = response.clone();
    malleable.s = high_s.to_be_bytes();
    malleable.y_parity = !response.y_parity;
    malleable.tx_hash = alloy_primitives::keccak256(&signed_tx).0;
    malleable.signed_tx = signed_tx;
    let err = malleable.check_against(&request).unwrap_err();
    assert!(err.to_string().contains("EIP-2"), "{err}");
}

#[test]
fn addresses_and_amounts_parse_one_way_only() {
    let checksummed = "0xA0b86991c6218b36c1d19D4a2e9Eb0cE3606eB48";
    assert_eq!(
        EthAddress::parse(checksummed).unwrap().to_string(),
        checksummed
    );
    EthAddress::parse(&checksummed.to_lowercase()).unwrap();
    assert!(EthAddress::parse("0xA0b86991c6218b36c1d19D4a2e9Eb0cE3606eb48").is_err());
    assert!(EthAddress::parse("A0b86991c6218b36c1d19D4a2e9Eb0cE3606eB48").is_err());
    assert!(Amount::parse("007").is_err());
    assert!(Amount::parse("-1").is_err());
    assert!(Amount::parse("").is_err());
    assert_eq!(Amount::parse("0").unwrap(), Amount::default());
    assert!(contracts::Id::parse("0190D9E4-8F2A-7C3B-9D1E-2F3A4B5C6D7E").is_err());
}
