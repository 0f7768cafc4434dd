//! Golden fixtures: envelopes and bus messages as bytes checked into `tests/fixtures`. Old
//! bytes must keep decoding to the same values, and today's code must still write the same
//! bytes; either failing means the wire changed. If that is intended, bump the schema
//! version, then regenerate with
//! `cargo test -p custody-contracts -- --ignored regenerate_golden_fixtures`.

use std::path::PathBuf;

use contracts::bus::{self, BusMessage};
use contracts::transfer_format::{to_armor, to_qr_parts};
use contracts::{Body, Envelope};

use crate::bus as samples;
use crate::common::*;

pub fn fixtures_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

pub fn corpus_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../fuzz/corpus/envelope_decode")
}

/// `(file name, envelope)` of every golden envelope.
pub fn golden_envelopes() -> Vec<(&'static str, Envelope)> {
    vec![
        (
            "envelope-account_manifest.bin",
            seal(&manifest(), &offline(), 71),
        ),
        (
            "envelope-signing_request-eth.bin",
            seal(&eth_request(), &online(), 72),
        ),
        (
            "envelope-signing_request-erc20.bin",
            seal(&erc20_request(), &online(), 73),
        ),
        (
            "envelope-signature_response.bin",
            seal(&response_for(&erc20_request()), &offline(), 74),
        ),
        (
            "envelope-balance_attestation.bin",
            seal(&attestation(), &online(), 75),
        ),
    ]
}

fn seal<T: Body>(body: &T, signer: &SoftSigner, n: u8) -> Envelope {
    Envelope::seal(body, signer, id(n), NOW, TTL).unwrap()
}

/// `(file name, bytes)` of every golden bus message.
pub fn golden_bus_messages() -> Vec<(String, Vec<u8>)> {
    fn one<T: BusMessage>(m: T) -> (String, Vec<u8>) {
        (
            format!("bus-{}.bin", T::SCHEMA.replace('/', ".")),
            bus::encode(&m).unwrap(),
        )
    }
    vec![
        one(samples::case_created()),
        one(samples::keygen_requested()),
        one(samples::share_available()),
        one(samples::keygen_completed()),
        one(samples::manager_replaced()),
        one(samples::access_revoked()),
        one(samples::signing_requested()),
        one(samples::signing_session_created()),
        one(samples::manager_notification()),
    ]
}

fn read(name: &str) -> Vec<u8> {
    let path = fixtures_dir().join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn check_envelope<T: Body + PartialEq + std::fmt::Debug>(name: &str, expected: &T, n: u8) {
    let bytes = read(name);
    let envelope = Envelope::from_bytes(&bytes).unwrap();
    let verified = envelope.verify::<T>(&keyring(), NOW).unwrap();
    assert_eq!(verified.body(), expected, "{name} decodes to other values");
    assert_eq!(verified.id(), id(n));
    assert_eq!(
        (verified.issued_at(), verified.expires_at()),
        (NOW, NOW + TTL)
    );
}

#[test]
fn golden_envelopes_decode() {
    check_envelope("envelope-account_manifest.bin", &manifest(), 71);
    check_envelope("envelope-signing_request-eth.bin", &eth_request(), 72);
    check_envelope("envelope-signing_request-erc20.bin", &erc20_request(), 73);
    check_envelope(
        "envelope-signature_response.bin",
        &response_for(&erc20_request()),
        74,
    );
    check_envelope("envelope-balance_attestation.bin", &attestation(), 75);
    // Spot checks that do not depend on the sample builders.
    let bytes = read("envelope-signing_request-erc20.bin");
    let request = Envelope::from_bytes(&bytes)
        .unwrap()
        .verify::<contracts::SigningRequest>(&keyring(), NOW)
        .unwrap()
        .into_body();
    assert_eq!(request.summary.asset_symbol, "USDC");
    assert_eq!(request.summary.amount.to_string(), "250000000");
    assert_eq!(
        request.summary.token.unwrap().to_string(),
        "0xA0b86991c6218b36c1d19D4a2e9Eb0cE3606eB48"
    );
    assert_eq!(request.transaction.nonce, 8);
}

#[test]
fn golden_envelopes_are_still_written_the_same_way() {
    for (name, envelope) in golden_envelopes() {
        assert_eq!(
            envelope.to_bytes().unwrap(),
            read(name),
            "{name}: the encoding changed; see the module comment"
        );
    }
}

#[test]
fn golden_bus_messages_decode() {
    fn check<T: BusMessage + PartialEq + std::fmt::Debug>(expected: T) {
        let name = format!("bus-{}.bin", T::SCHEMA.replace('/', "."));
        let bytes = read(&name);
        assert_eq!(bus::decode::<T>(&bytes).unwrap(), expected, "{name}");
        assert_eq!(
            bus::encode(&expected).unwrap(),
            bytes,
            "{name}: the encoding changed"
        );
    }
    check(samples::case_created());
    check(samples::keygen_requested());
    check(samples::share_available());
    check(samples::keygen_completed());
    check(samples::manager_replaced());
    check(samples::access_revoked());
    check(samples::signing_requested());
    check(samples::signing_session_created());
    check(samples::manager_notification());
    assert_eq!(golden_bus_messages().len(), 9);
}

/// Writes the golden fixtures and the fuzz seed corpus. Run on purpose only:
/// `cargo test -p custody-contracts -- --ignored regenerate_golden_fixtures`.
#[test]
#[ignore = "writes files; run by hand after an intentional wire change"]
fn regenerate_golden_fixtures() {
    let fixtures = fixtures_dir();
    let corpus = corpus_dir();
    std::fs::create_dir_all(&fixtures).unwrap();
    std::fs::create_dir_all(&corpus).unwrap();
    for (name, envelope) in golden_envelopes() {
        let bytes = envelope.to_bytes().unwrap();
        std::fs::write(fixtures.join(name), &bytes).unwrap();
        std::fs::write(corpus.join(format!("valid-{name}")), &bytes).unwrap();
    }
    for (name, bytes) in golden_bus_messages() {
        std::fs::write(fixtures.join(name), bytes).unwrap();
    }
    for (name, bytes) in crate::fuzz_corpus::seeds() {
        std::fs::write(corpus.join(name), bytes).unwrap();
    }
    // Text forms of one envelope.
    let (_, envelope) = &golden_envelopes()[2];
    std::fs::write(
        corpus.join("valid-armor-signing_request.txt"),
        to_armor(envelope).unwrap(),
    )
    .unwrap();
    std::fs::write(
        corpus.join("valid-qr-signing_request.txt"),
        to_qr_parts(envelope).unwrap().join("\n"),
    )
    .unwrap();
}
