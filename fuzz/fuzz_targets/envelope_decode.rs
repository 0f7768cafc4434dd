//! Feeds arbitrary bytes to envelope decoding: raw envelope bytes, armored text and QR part
//! text, then signature and body verification against the test key ring. Must never panic.
//! Seeds: `fuzz/corpus/envelope_decode/` (golden fixtures plus malformed inputs), which
//! `contracts/tests/it/fuzz_corpus.rs` also runs on every `cargo test`; keep the two in step.
#![no_main]

use contracts::transfer_format::{self, QrAssembler};
use contracts::{KeyRing, Kind};
use libfuzzer_sys::fuzz_target;

/// "Now" of the golden fixtures (contracts/tests/it/common.rs).
const NOW: u64 = 1_750_000_000;
/// The test keys of contracts/tests/it/common.rs (test-only secrets, pinned nowhere else).
const ONLINE_SEED: [u8; 32] = [0x11; 32];
const OFFLINE_SEED: [u8; 32] = [0x22; 32];

fn public(seed: [u8; 32]) -> Option<p256::PublicKey> {
    let key = p256::ecdsa::SigningKey::from_bytes(&seed.into()).ok()?;
    Some(p256::PublicKey::from(key.verifying_key()))
}

fn keyring() -> KeyRing {
    let mut ring = KeyRing::new();
    if let Some(key) = public(ONLINE_SEED) {
        ring.pin(key, &[Kind::SigningRequest, Kind::BalanceAttestation]);
    }
    if let Some(key) = public(OFFLINE_SEED) {
        ring.pin(key, &[Kind::AccountManifest, Kind::SignatureResponse]);
    }
    ring
}

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let mut assembler = QrAssembler::new();
        for line in text.lines() {
            let _ = assembler.add(line);
        }
        let _ = assembler.finish();
    }
    let _ = transfer_format::decode_and_verify(data, &keyring(), NOW);
});
