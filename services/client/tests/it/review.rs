//! The clear-signing review: real envelopes sealed with `Envelope::seal`, verified under the
//! client's own key ring, decoded and shown; every way a request can be wrong is refused with
//! its own error.

use channel::IdentitySigner;
use contracts::coord::SignItem;
use contracts::envelope::Person;
use contracts::eth::{self, Eip1559Fields};
use contracts::{Amount, Envelope, EthAddress, Id, KeyRing, Kind, SigningRequest, TransferSummary};
use custody_client::review::{parse_hash, review, ApprovalPolicy, ReviewError, Reviewed};
use testkit::envelopes::SoftSigner;

use crate::NOW;

const TTL: u64 = 3600;

/// The online zone's export key (pinned by the client).
fn online() -> SoftSigner {
    SoftSigner::from_seed([0x11; 32])
}

/// Some other key (e.g. a stolen or a test key the client does not pin).
fn stranger() -> SoftSigner {
    SoftSigner::from_seed([0x55; 32])
}

fn keyring() -> KeyRing {
    KeyRing::new().with_key(online().public_key(), &[Kind::SigningRequest])
}

fn case_address() -> EthAddress {
    EthAddress::parse("0x00000000000000000000000000000000000c0ffe").unwrap()
}

fn recipient() -> EthAddress {
    EthAddress::parse("0x00000000000000000000000000000000000000a1").unwrap()
}

fn usdc() -> EthAddress {
    EthAddress::parse("0xA0b86991c6218b36c1d19D4a2e9Eb0cE3606eB48").unwrap()
}

fn person(name: &str) -> Person {
    Person {
        user_id: Id::new_v7(NOW),
        username: name.to_owned(),
    }
}

/// A consistent request from transaction fields and a summary.
fn request_from(fields: Eip1559Fields, summary: TransferSummary) -> SigningRequest {
    let unsigned_tx = fields.encode_unsigned().unwrap();
    SigningRequest {
        request_id: Id::new_v7(NOW),
        chain_id: fields.chain_id,
        from: case_address(),
        signing_hash: eth::signing_hash(&unsigned_tx),
        unsigned_tx,
        transaction: fields,
        summary,
        created_by: person("trader-alice"),
        approved_by: vec![person("approver-bob"), person("approver-carol")],
    }
}

/// 1.5 ETH to `recipient()` on mainnet.
fn eth_request() -> SigningRequest {
    let value = Amount::from(1_500_000_000_000_000_000u128);
    request_from(
        Eip1559Fields {
            chain_id: 1,
            nonce: 7,
            max_priority_fee_per_gas: Amount::from(1_500_000_000u128),
            max_fee_per_gas: Amount::from(30_000_000_000u128),
            gas_limit: 21_000,
            to: recipient(),
            value,
            data: Vec::new(),
        },
        TransferSummary {
            asset_symbol: "ETH".into(),
            token: None,
            recipient: recipient(),
            amount: value,
            decimals: 18,
        },
    )
}

/// 250.75 USDC to `recipient()` on Sepolia.
fn erc20_request() -> SigningRequest {
    let amount = Amount::from(250_750_000u128);
    request_from(
        Eip1559Fields {
            chain_id: 11_155_111,
            nonce: 8,
            max_priority_fee_per_gas: Amount::from(2_000_000_000u128),
            max_fee_per_gas: Amount::from(40_000_000_000u128),
            gas_limit: 65_000,
            to: usdc(),
            value: Amount::default(),
            data: eth::encode_erc20_transfer(&recipient(), &amount),
        },
        TransferSummary {
            asset_symbol: "USDC".into(),
            token: Some(usdc()),
            recipient: recipient(),
            amount,
            decimals: 6,
        },
    )
}

fn seal_with(request: &SigningRequest, signer: &SoftSigner, issued_at: u64) -> Vec<u8> {
    Envelope::seal(request, signer, Id::new_v7(issued_at), issued_at, TTL)
        .unwrap()
        .to_bytes()
        .unwrap()
}

fn item(request: &SigningRequest) -> SignItem {
    SignItem {
        request_id: request.request_id,
        envelope: seal_with(request, &online(), NOW - 60),
    }
}

fn reviewed(request: &SigningRequest) -> Reviewed {
    review(&item(request), &keyring(), &case_address(), NOW).unwrap()
}

#[test]
fn an_ether_transfer_is_decoded_and_shown() {
    let request = eth_request();
    let r = reviewed(&request);
    assert_eq!(r.request_id, request.request_id);
    assert_eq!(r.signing_hash, request.signing_hash);
    assert_eq!(r.signing_hash, eth::signing_hash(&request.unsigned_tx));
    assert_eq!(r.chain_id, 1);
    assert_eq!(r.from, case_address());
    assert_eq!(r.to, recipient());
    assert_eq!(r.recipient, recipient());
    assert_eq!(r.token, None);
    assert_eq!(r.amount_text(), "1.5 ETH");
    assert_eq!(r.max_fee_text(), "0.00063 ETH");
    assert_eq!(r.expires_at, NOW - 60 + TTL);

    let shown = r.to_string();
    println!("{shown}");
    let hash = format!("0x{}", hex::encode(request.signing_hash));
    for expected in [
        "Chain:",
        "1 (Ethereum mainnet)",
        &format!("From:             {}", case_address().to_checksum()),
        &format!("To:               {}", recipient().to_checksum()),
        "Amount:           1.5 ETH (1500000000000000000 base units)",
        "Token:            none (ether transfer)",
        "Nonce:            7",
        "Gas limit:        21000",
        "Max fee/gas:      30 gwei",
        "Priority fee/gas: 1.5 gwei",
        "Max fee total:    0.00063 ETH",
        &format!("Signing hash:     {hash}"),
        "Created by:       trader-alice",
        "Approved by:      approver-bob, approver-carol",
        "Expires:          2025-06-15 16:05:40 UTC",
    ] {
        assert!(
            shown.contains(expected),
            "{expected:?} missing from:\n{shown}"
        );
    }
    assert_eq!(hash.len(), 66);
}

#[test]
fn a_token_transfer_shows_the_recipient_and_the_contract() {
    let request = erc20_request();
    let r = reviewed(&request);
    assert_eq!(r.to, usdc(), "the transaction calls the token contract");
    assert_eq!(r.recipient, recipient(), "the funds go to the recipient");
    assert_eq!(r.token, Some(usdc()));
    assert_eq!(r.amount_text(), "250.75 USDC");
    let shown = r.to_string();
    assert!(shown.contains(&format!("To:               {}", recipient().to_checksum())));
    assert!(shown.contains("Amount:           250.75 USDC"));
    assert!(shown.contains(&format!("USDC — ERC-20 contract {}", usdc().to_checksum())));
    assert!(shown.contains("11155111 (Sepolia testnet)"));
    assert!(shown.contains("Max fee total:    0.0026 ETH"));
    assert!(shown.contains(&hex::encode(request.signing_hash)));
}

#[test]
fn a_request_sealed_by_an_unpinned_key_is_refused() {
    let request = eth_request();
    let item = SignItem {
        request_id: request.request_id,
        envelope: seal_with(&request, &stranger(), NOW - 60),
    };
    let err = review(&item, &keyring(), &case_address(), NOW).unwrap_err();
    assert!(
        matches!(
            err,
            ReviewError::UnknownSigner(contracts::Error::UnknownSigner { .. })
        ),
        "{err:?}"
    );

    // A pinned key that may not sign requests (e.g. an attestation-only key) is refused too.
    let limited = KeyRing::new().with_key(online().public_key(), &[Kind::BalanceAttestation]);
    let err = review(&self::item(&request), &limited, &case_address(), NOW).unwrap_err();
    assert!(matches!(err, ReviewError::UnknownSigner(_)), "{err:?}");
}

#[test]
fn an_expired_request_is_refused() {
    let request = eth_request();
    let item = item(&request);
    let expiry = NOW - 60 + TTL;
    let err = review(&item, &keyring(), &case_address(), expiry).unwrap_err();
    assert!(
        matches!(err, ReviewError::Expired(contracts::Error::Expired { .. })),
        "{err:?}"
    );
    assert!(err.to_string().contains("expired"));
    // Issued far in this PC's future (beyond the allowed clock skew): not yet valid.
    let err = review(&item, &keyring(), &case_address(), NOW - 3600).unwrap_err();
    assert!(matches!(err, ReviewError::Expired(_)), "{err:?}");
    // Just before expiry it is fine.
    review(&item, &keyring(), &case_address(), expiry - 1).unwrap();
}

#[test]
fn a_tampered_envelope_is_refused() {
    let request = eth_request();
    let good = item(&request);
    let mut refused = 0;
    // Flip one bit of every byte in turn: nothing altered may review.
    for i in 0..good.envelope.len() {
        let mut bad = good.clone();
        bad.envelope[i] ^= 0x01;
        match review(&bad, &keyring(), &case_address(), NOW) {
            Err(_) => refused += 1,
            Ok(r) => panic!("byte {i} altered, still reviewed as {}", r.hash_hex()),
        }
    }
    assert_eq!(refused, good.envelope.len());

    // Altering the value inside the payload specifically is a bad signature.
    let envelope = Envelope::from_bytes(&good.envelope).unwrap();
    let payload = envelope.payload();
    let amount = b"1500000000000000000";
    let at = payload
        .windows(amount.len())
        .position(|w| w == amount)
        .unwrap();
    let mut bytes = good.envelope.clone();
    let offset = bytes
        .windows(payload.len())
        .position(|w| w == payload)
        .unwrap();
    bytes[offset + at] = b'9';
    let bad = SignItem {
        request_id: good.request_id,
        envelope: bytes,
    };
    let err = review(&bad, &keyring(), &case_address(), NOW).unwrap_err();
    assert!(
        matches!(
            err,
            ReviewError::BadSignature(contracts::Error::BadSignature)
        ),
        "{err:?}"
    );

    // Not an envelope at all.
    let junk = SignItem {
        request_id: good.request_id,
        envelope: vec![0xc1, 0x00],
    };
    assert!(matches!(
        review(&junk, &keyring(), &case_address(), NOW),
        Err(ReviewError::Malformed(_))
    ));
}

#[test]
fn a_request_listed_under_another_id_is_refused() {
    let request = eth_request();
    let mut item = item(&request);
    let listed = Id::new_v7(NOW + 1);
    item.request_id = listed;
    match review(&item, &keyring(), &case_address(), NOW) {
        Err(ReviewError::RequestIdMismatch { listed: l, signed }) => {
            assert_eq!(l, listed);
            assert_eq!(signed, request.request_id);
        }
        other => panic!("expected RequestIdMismatch, got {other:?}"),
    }
}

#[test]
fn a_request_from_another_account_is_refused() {
    let mut request = eth_request();
    let other = EthAddress::parse("0x00000000000000000000000000000000000bad00").unwrap();
    request.from = other;
    match review(&item(&request), &keyring(), &case_address(), NOW) {
        Err(ReviewError::WrongAccount { expected, found }) => {
            assert_eq!(expected, case_address());
            assert_eq!(found, other);
        }
        other => panic!("expected WrongAccount, got {other:?}"),
    }
}

#[test]
fn a_signing_request_is_required_not_another_kind() {
    // A balance attestation signed by the same (pinned) key is not a request.
    let attestation = contracts::BalanceAttestation {
        address: case_address(),
        chain_id: 1,
        balances: Vec::new(),
        block_number: 1,
        block_hash: [0; 32],
    };
    let ring = KeyRing::new().with_key(
        online().public_key(),
        &[Kind::SigningRequest, Kind::BalanceAttestation],
    );
    let envelope = Envelope::seal(&attestation, &online(), Id::new_v7(NOW), NOW - 60, TTL)
        .unwrap()
        .to_bytes()
        .unwrap();
    let item = SignItem {
        request_id: Id::new_v7(NOW),
        envelope,
    };
    assert!(matches!(
        review(&item, &ring, &case_address(), NOW),
        Err(ReviewError::Malformed(contracts::Error::WrongKind { .. }))
    ));
}

#[test]
fn user_names_cannot_repaint_the_review() {
    let mut request = eth_request();
    request.created_by.username = "mallory\u{1b}[1A\u{1b}[2KTo: 0xattacker\n".into();
    let shown = reviewed(&request).to_string();
    assert!(!shown.contains('\u{1b}'));
    assert_eq!(
        shown
            .lines()
            .filter(|l| l.trim_start().starts_with("To:"))
            .count(),
        1,
        "{shown}"
    );
}

#[test]
fn preapproval_approves_only_the_exact_hash() {
    let eth = reviewed(&eth_request());
    let token = reviewed(&erc20_request());
    let policy = ApprovalPolicy::Preapproved {
        hashes: vec![parse_hash(&eth.hash_hex()).unwrap()],
        keygen: false,
    };
    assert!(policy.approve_signing(&eth).unwrap());
    assert!(!policy.approve_signing(&token).unwrap());
    // One bit off is another hash.
    let mut near = eth.signing_hash;
    near[31] ^= 1;
    let policy = ApprovalPolicy::Preapproved {
        hashes: vec![near],
        keygen: true,
    };
    assert!(!policy.approve_signing(&eth).unwrap());
    // Several hashes may be approved up front (batches); keygen follows its own flag.
    let both = ApprovalPolicy::Preapproved {
        hashes: vec![token.signing_hash, eth.signing_hash],
        keygen: false,
    };
    assert!(both.approve_signing(&eth).unwrap());
    assert!(both.approve_signing(&token).unwrap());
    assert!(!both.approve_keygen("case-1", 0).unwrap());
    assert!(policy.approve_keygen("case-1", 2).unwrap());
    // The hash as printed in the review parses back to itself.
    assert_eq!(parse_hash(&eth.hash_hex()).unwrap(), eth.signing_hash);
    assert_eq!(
        parse_hash(&hex::encode(eth.signing_hash)).unwrap(),
        eth.signing_hash
    );
    assert!(matches!(parse_hash("0x1234"), Err(ReviewError::BadHash(_))));
}
