//! Runs every seed of the `envelope_decode` fuzz corpus through the same decoding the fuzz
//! target performs. No seed may panic; `valid-*` seeds must verify, every other seed must be
//! rejected. CI runs this even where cargo-fuzz (nightly) is not available.

use contracts::transfer_format::{self, to_armor, to_qr_parts, QrAssembler};
use contracts::{Error, VerifiedBody};

use crate::common::*;
use crate::golden::{corpus_dir, golden_envelopes};

/// What `fuzz/fuzz_targets/envelope_decode.rs` does with one input (keep the two in step).
fn fuzz_one(data: &[u8]) -> Result<VerifiedBody, Error> {
    if let Ok(text) = std::str::from_utf8(data) {
        let mut assembler = QrAssembler::new();
        for line in text.lines() {
            let _ = assembler.add(line);
        }
        let _ = assembler.finish();
    }
    transfer_format::decode_and_verify(data, &keyring(), NOW)
}

/// The malformed seeds: one per rejection the importer must make, plus parser traps.
pub fn seeds() -> Vec<(String, Vec<u8>)> {
    let good = golden_envelopes()[2].1.to_bytes().unwrap();
    let mut out: Vec<(&str, Vec<u8>)> = vec![
        ("malformed-empty.bin", Vec::new()),
        (
            "malformed-garbage.bin",
            b"\x00\x01\x02 not an envelope".to_vec(),
        ),
        ("malformed-truncated.bin", good[..good.len() - 10].to_vec()),
        (
            "malformed-trailing.bin",
            [good.as_slice(), b"\x00"].concat(),
        ),
        // bin32 header announcing 4 GiB with nothing behind it.
        (
            "malformed-huge-length.bin",
            vec![0xc6, 0xff, 0xff, 0xff, 0xff],
        ),
        // 5000 nested one-element arrays.
        ("malformed-deep-nesting.bin", vec![0x91; 5000]),
    ];
    let mut flipped = good.clone();
    *flipped.last_mut().unwrap() ^= 0x01;
    out.push(("malformed-bad-signature.bin", flipped));

    let mut v1 = RawEnvelope::signed("signing_request", &erc20_request(), &online());
    v1.version = 1;
    v1.resign(&online());
    out.push(("malformed-version-1.bin", v1.to_bytes()));

    let stranger = RawEnvelope::signed(
        "signing_request",
        &erc20_request(),
        &SoftSigner::from_seed([0x44; 32]),
    );
    out.push(("malformed-unknown-signer.bin", stranger.to_bytes()));

    let not_allowed = RawEnvelope::signed("signing_request", &erc20_request(), &offline());
    out.push(("malformed-signer-not-allowed.bin", not_allowed.to_bytes()));

    let mut expired = RawEnvelope::signed("signing_request", &erc20_request(), &online());
    expired.issued_at = NOW - 2 * TTL;
    expired.expires_at = NOW - TTL;
    expired.resign(&online());
    out.push(("malformed-expired.bin", expired.to_bytes()));

    let mut request = erc20_request();
    request.signing_hash = [0x55; 32];
    let hash = RawEnvelope::signed("signing_request", &request, &online());
    out.push(("malformed-hash-mismatch.bin", hash.to_bytes()));

    let mut request = erc20_request();
    request.chain_id = 5;
    let chain = RawEnvelope::signed("signing_request", &request, &online());
    out.push(("malformed-wrong-chain.bin", chain.to_bytes()));

    let mut request = erc20_request();
    request.summary.amount = contracts::Amount::from(1u128);
    let summary = RawEnvelope::signed("signing_request", &request, &online());
    out.push(("malformed-summary-mismatch.bin", summary.to_bytes()));

    let envelope = &golden_envelopes()[2].1;
    let armor = to_armor(envelope).unwrap().replacen('\n', "\n!!", 1);
    out.push(("malformed-armor.txt", armor.into_bytes()));

    let parts = to_qr_parts(envelope).unwrap();
    out.push((
        "malformed-qr-missing-part.txt",
        parts[1..].join("\n").into_bytes(),
    ));
    let other = to_qr_parts(&golden_envelopes()[1].1).unwrap();
    let mixed = [parts[0].as_str(), other.last().unwrap().as_str()].join("\n");
    out.push(("malformed-qr-mixed.txt", mixed.into_bytes()));

    out.into_iter().map(|(n, b)| (n.to_owned(), b)).collect()
}

#[test]
fn fuzz_seed_corpus_never_panics_and_rejects_malformed_seeds() {
    let dir = corpus_dir();
    let mut valid = 0;
    let mut rejected = 0;
    for entry in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_str().unwrap().to_owned();
        let data = std::fs::read(&path).unwrap();
        let result = std::panic::catch_unwind(|| fuzz_one(&data))
            .unwrap_or_else(|_| panic!("seed {name} panicked"));
        if name.starts_with("valid-") {
            result.unwrap_or_else(|e| panic!("valid seed {name} was rejected: {e}"));
            valid += 1;
        } else {
            let err = result
                .err()
                .unwrap_or_else(|| panic!("malformed seed {name} was accepted"));
            assert!(!err.to_string().is_empty());
            rejected += 1;
        }
    }
    assert!(valid >= 7, "only {valid} valid seeds in {}", dir.display());
    assert!(
        rejected >= 15,
        "only {rejected} malformed seeds in {}",
        dir.display()
    );
}

#[test]
fn fuzz_seeds_are_current() {
    // The committed malformed seeds are the ones the code generates, so a seed cannot rot
    // into testing nothing.
    for (name, bytes) in seeds() {
        let path = corpus_dir().join(&name);
        let committed = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        assert_eq!(
            committed, bytes,
            "{name} is stale; regenerate (see golden.rs)"
        );
    }
}
