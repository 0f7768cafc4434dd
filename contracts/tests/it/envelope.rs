//! Seal/verify round trips and every rejection, each with its own error.

use channel::IdentitySigner;
use contracts::envelope::MAX_ENVELOPE_BYTES;
use contracts::{
    AccountManifest, BalanceAttestation, Body, Envelope, Error, KeyRing, Kind, SignatureResponse,
    SigningRequest,
};

use crate::common::*;

fn round_trip<T: Body + PartialEq + std::fmt::Debug>(body: &T, signer: &SoftSigner) {
    let envelope = Envelope::seal(body, signer, id(7), NOW, TTL).unwrap();
    let bytes = envelope.to_bytes().unwrap();
    let parsed = Envelope::from_bytes(&bytes).unwrap();
    assert_eq!(parsed, envelope);
    let verified = parsed.verify::<T>(&keyring(), NOW + 10).unwrap();
    assert_eq!(verified.body(), body);
    assert_eq!(verified.id(), id(7));
    assert_eq!(verified.kind(), T::KIND);
    assert_eq!(verified.issued_at(), NOW);
    assert_eq!(verified.expires_at(), NOW + TTL);
    assert_eq!(
        verified.signer_key_id(),
        channel::cert::key_id(&signer.public_key())
    );
    assert_eq!(verified.digest(), envelope.signed_digest());
    assert_eq!(parsed.verify_any(&keyring(), NOW).unwrap().kind(), T::KIND);
}

#[test]
fn seal_verify_round_trip_account_manifest() {
    round_trip(&manifest(), &offline());
}

#[test]
fn seal_verify_round_trip_signing_request_eth_and_erc20() {
    round_trip(&eth_request(), &online());
    round_trip(&erc20_request(), &online());
}

#[test]
fn seal_verify_round_trip_signature_response() {
    round_trip(&response_for(&erc20_request()), &offline());
}

#[test]
fn seal_verify_round_trip_balance_attestation() {
    round_trip(&attestation(), &online());
}

#[test]
fn signature_follows_the_documented_preimage() {
    let envelope = Envelope::seal(&eth_request(), &online(), id(7), NOW, TTL).unwrap();
    let expected = documented_digest(
        2,
        "signing_request",
        &id(7),
        &envelope.signer_key_id(),
        NOW,
        NOW + TTL,
        envelope.payload(),
        &[],
    );
    assert_eq!(envelope.signed_digest(), expected);
    // And a document signed from the documented preimage alone verifies.
    let raw = RawEnvelope::signed("signing_request", &eth_request(), &online());
    let parsed = Envelope::from_bytes(&raw.to_bytes()).unwrap();
    parsed.verify::<SigningRequest>(&keyring(), NOW).unwrap();
}

#[test]
fn rejects_bad_signature() {
    // A changed payload byte (the nonce field's value) under the original signature.
    let mut raw = RawEnvelope::signed("balance_attestation", &attestation(), &online());
    let last = raw.payload.len() - 40;
    raw.payload[last] ^= 0x01;
    let err = Envelope::from_bytes(&raw.to_bytes())
        .and_then(|e| e.verify::<BalanceAttestation>(&keyring(), NOW))
        .unwrap_err();
    assert!(matches!(err, Error::BadSignature), "{err}");

    // A changed signature byte.
    let mut raw = RawEnvelope::signed("balance_attestation", &attestation(), &online());
    raw.signature[10] ^= 0x80;
    let err = Envelope::from_bytes(&raw.to_bytes())
        .unwrap()
        .verify::<BalanceAttestation>(&keyring(), NOW)
        .unwrap_err();
    assert!(matches!(err, Error::BadSignature), "{err}");

    // A changed expiry (extending a document's life) under the original signature.
    let mut raw = RawEnvelope::signed("balance_attestation", &attestation(), &online());
    raw.expires_at += 86_400;
    let err = Envelope::from_bytes(&raw.to_bytes())
        .unwrap()
        .verify::<BalanceAttestation>(&keyring(), NOW)
        .unwrap_err();
    assert!(matches!(err, Error::BadSignature), "{err}");

    // A valid signature by another key that claims the pinned key id.
    let mut raw = RawEnvelope::signed("balance_attestation", &attestation(), &online());
    let key_id = raw.signer_key_id;
    raw.resign(&SoftSigner::from_seed([0x44; 32]));
    raw.signer_key_id = key_id;
    let err = Envelope::from_bytes(&raw.to_bytes())
        .unwrap()
        .verify::<BalanceAttestation>(&keyring(), NOW)
        .unwrap_err();
    assert!(matches!(err, Error::BadSignature), "{err}");
}

#[test]
fn rejects_unknown_signer() {
    let stranger = SoftSigner::from_seed([0x44; 32]);
    let envelope = Envelope::seal(&eth_request(), &stranger, id(7), NOW, TTL).unwrap();
    let err = envelope
        .verify::<SigningRequest>(&keyring(), NOW)
        .unwrap_err();
    assert!(matches!(err, Error::UnknownSigner { .. }), "{err}");
    assert!(err.to_string().contains("unknown key"));
    // An empty key ring trusts nobody.
    let err = envelope
        .verify::<SigningRequest>(&KeyRing::new(), NOW)
        .unwrap_err();
    assert!(matches!(err, Error::UnknownSigner { .. }), "{err}");
}

#[test]
fn rejects_a_key_not_allowed_to_sign_that_kind() {
    // The online export key may not sign a signature response or a manifest.
    let envelope =
        Envelope::seal(&response_for(&eth_request()), &online(), id(7), NOW, TTL).unwrap();
    let err = envelope
        .verify::<SignatureResponse>(&keyring(), NOW)
        .unwrap_err();
    assert!(
        matches!(
            err,
            Error::SignerNotAllowed {
                kind: Kind::SignatureResponse
            }
        ),
        "{err}"
    );
    // And the offline HSM key may not sign a signing request.
    let envelope = Envelope::seal(&eth_request(), &offline(), id(7), NOW, TTL).unwrap();
    let err = envelope.verify_any(&keyring(), NOW).unwrap_err();
    assert!(
        matches!(
            err,
            Error::SignerNotAllowed {
                kind: Kind::SigningRequest
            }
        ),
        "{err}"
    );
}

#[test]
fn rejects_wrong_kind() {
    let envelope = Envelope::seal(&eth_request(), &online(), id(7), NOW, TTL).unwrap();
    let err = envelope
        .verify::<BalanceAttestation>(&keyring(), NOW)
        .unwrap_err();
    assert!(
        matches!(
            err,
            Error::WrongKind {
                expected: Kind::BalanceAttestation,
                found: Kind::SigningRequest
            }
        ),
        "{err}"
    );
    // A body of one kind signed under another kind's label does not decode.
    let raw = RawEnvelope::signed("balance_attestation", &eth_request(), &online());
    let err = Envelope::from_bytes(&raw.to_bytes())
        .unwrap()
        .verify::<BalanceAttestation>(&keyring(), NOW)
        .unwrap_err();
    assert!(matches!(err, Error::Malformed(_)), "{err}");
}

#[test]
fn rejects_expired() {
    let envelope = Envelope::seal(&eth_request(), &online(), id(7), NOW, TTL).unwrap();
    envelope
        .verify::<SigningRequest>(&keyring(), NOW + TTL - 1)
        .unwrap();
    let err = envelope
        .verify::<SigningRequest>(&keyring(), NOW + TTL)
        .unwrap_err();
    assert!(matches!(err, Error::Expired { .. }), "{err}");
}

#[test]
fn rejects_not_yet_valid() {
    let envelope = Envelope::seal(&eth_request(), &online(), id(7), NOW, TTL).unwrap();
    // Within the default skew of 300 s: accepted.
    envelope
        .verify::<SigningRequest>(&keyring(), NOW - 300)
        .unwrap();
    let err = envelope
        .verify::<SigningRequest>(&keyring(), NOW - 301)
        .unwrap_err();
    assert!(matches!(err, Error::NotYetValid { .. }), "{err}");
    let err = envelope
        .verify::<SigningRequest>(&keyring().with_clock_skew(0), NOW - 1)
        .unwrap_err();
    assert!(matches!(err, Error::NotYetValid { .. }), "{err}");
}

#[test]
fn rejects_malformed_bytes() {
    let good = Envelope::seal(&eth_request(), &online(), id(7), NOW, TTL)
        .unwrap()
        .to_bytes()
        .unwrap();
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("empty", Vec::new()),
        ("garbage", b"not an envelope at all".to_vec()),
        ("truncated", good[..good.len() - 1].to_vec()),
        ("trailing byte", [good.as_slice(), &[0]].concat()),
        ("msgpack nil", vec![0xc0]),
    ];
    for (name, bytes) in cases {
        let err = Envelope::from_bytes(&bytes).unwrap_err();
        assert!(matches!(err, Error::Malformed(_)), "{name}: {err}");
    }
    // Unknown kind, short signature, non-v7 id, expiry before issue.
    let mut raw = RawEnvelope::signed("signing_request", &eth_request(), &online());
    raw.kind = "launch_missiles";
    assert!(matches!(
        Envelope::from_bytes(&raw.to_bytes()),
        Err(Error::Malformed(_))
    ));
    let mut raw = RawEnvelope::signed("signing_request", &eth_request(), &online());
    raw.signature.truncate(63);
    assert!(matches!(
        Envelope::from_bytes(&raw.to_bytes()),
        Err(Error::Malformed(_))
    ));
    let mut raw = RawEnvelope::signed("signing_request", &eth_request(), &online());
    raw.id = contracts::Id::from_uuid(uuid::Uuid::from_bytes([0x42; 16]));
    assert!(matches!(
        Envelope::from_bytes(&raw.to_bytes()),
        Err(Error::Malformed(_))
    ));
    let mut raw = RawEnvelope::signed("signing_request", &eth_request(), &online());
    raw.expires_at = raw.issued_at;
    assert!(matches!(
        Envelope::from_bytes(&raw.to_bytes()),
        Err(Error::Malformed(_))
    ));
    // A signed payload that is not a valid body.
    let raw = RawEnvelope::signed("signing_request", &"just a string", &online());
    let err = Envelope::from_bytes(&raw.to_bytes())
        .unwrap()
        .verify::<SigningRequest>(&keyring(), NOW)
        .unwrap_err();
    assert!(matches!(err, Error::Malformed(_)), "{err}");
}

#[test]
fn rejects_unsupported_version() {
    let mut raw = RawEnvelope::signed("signing_request", &eth_request(), &online());
    raw.version = 1;
    raw.resign(&online());
    let err = Envelope::from_bytes(&raw.to_bytes()).unwrap_err();
    assert!(matches!(err, Error::UnsupportedVersion(1)), "{err}");
}

#[test]
fn rejects_oversized_input() {
    let bytes = vec![0u8; MAX_ENVELOPE_BYTES + 1];
    let err = Envelope::from_bytes(&bytes).unwrap_err();
    assert!(
        matches!(err, Error::TooLarge { size, max } if size == MAX_ENVELOPE_BYTES + 1 && max == MAX_ENVELOPE_BYTES),
        "{err}"
    );
    let err =
        contracts::transfer_format::decode_import(&vec![b'A'; 4 * MAX_ENVELOPE_BYTES]).unwrap_err();
    assert!(matches!(err, Error::TooLarge { .. }), "{err}");
}

#[test]
fn seal_refuses_bad_parameters_and_inconsistent_bodies() {
    let not_v7 = contracts::Id::from_uuid(uuid::Uuid::from_bytes([0x42; 16]));
    assert!(matches!(
        Envelope::seal(&eth_request(), &online(), not_v7, NOW, TTL),
        Err(Error::Invalid(_))
    ));
    assert!(matches!(
        Envelope::seal(&eth_request(), &online(), id(7), NOW, 0),
        Err(Error::Invalid(_))
    ));
    assert!(matches!(
        Envelope::seal(&eth_request(), &online(), id(7), u64::MAX, TTL),
        Err(Error::Invalid(_))
    ));
    let mut request = eth_request();
    request.signing_hash[0] ^= 1;
    assert!(matches!(
        Envelope::seal(&request, &online(), id(7), NOW, TTL),
        Err(Error::HashMismatch)
    ));
    let mut bad_manifest: AccountManifest = manifest();
    bad_manifest.addresses = vec![recipient()];
    assert!(matches!(
        Envelope::seal(&bad_manifest, &offline(), id(7), NOW, TTL),
        Err(Error::Malformed(_))
    ));
}

#[test]
fn errors_never_show_signature_bytes() {
    let mut raw = RawEnvelope::signed("signing_request", &eth_request(), &online());
    raw.signature[0] ^= 1;
    let err = Envelope::from_bytes(&raw.to_bytes())
        .unwrap()
        .verify::<SigningRequest>(&keyring(), NOW)
        .unwrap_err()
        .to_string();
    assert!(!err.contains(&hex::encode(&raw.signature[..8])), "{err}");
}

#[test]
fn the_witness_travels_signed_and_each_checkpoint_must_verify() {
    use contracts::{AuditCheckpoint, CheckpointStatement, Zone};
    let checkpoint = AuditCheckpoint::sign(
        &CheckpointStatement {
            zone: Zone::Online,
            chain: "operation",
            seq: 42,
            value: [3; 32],
            at: 1_750_000_000_000_000,
        },
        &online(),
    )
    .unwrap();
    let envelope = Envelope::seal_witnessed(
        &eth_request(),
        &online(),
        id(7),
        NOW,
        TTL,
        vec![checkpoint.clone()],
    )
    .unwrap();
    // The witness is part of the documented preimage.
    assert_eq!(
        envelope.signed_digest(),
        documented_digest(
            2,
            "signing_request",
            &id(7),
            &envelope.signer_key_id(),
            NOW,
            NOW + TTL,
            envelope.payload(),
            std::slice::from_ref(&checkpoint),
        )
    );
    let parsed = Envelope::from_bytes(&envelope.to_bytes().unwrap()).unwrap();
    let verified = parsed.verify::<SigningRequest>(&keyring(), NOW).unwrap();
    assert_eq!(verified.witness(), std::slice::from_ref(&checkpoint));

    // Swapping the witness breaks the envelope signature.
    let mut raw = RawEnvelope::signed("signing_request", &eth_request(), &online());
    raw.witness = vec![checkpoint.clone()];
    raw.resign(&online());
    let mut other = checkpoint.clone();
    other.seq = 41;
    raw.witness = vec![other.clone()];
    let err = Envelope::from_bytes(&raw.to_bytes())
        .unwrap()
        .verify::<SigningRequest>(&keyring(), NOW)
        .unwrap_err();
    assert!(matches!(err, Error::BadSignature), "{err}");

    // An exporter that signs an edited checkpoint under its envelope key still fails: each
    // checkpoint must carry its own valid signature.
    raw.resign(&online());
    let err = Envelope::from_bytes(&raw.to_bytes())
        .unwrap()
        .verify::<SigningRequest>(&keyring(), NOW)
        .unwrap_err();
    assert!(matches!(err, Error::Malformed(_)), "{err}");

    // At most eight checkpoints.
    assert!(Envelope::seal_witnessed(
        &eth_request(),
        &online(),
        id(8),
        NOW,
        TTL,
        vec![checkpoint; 9],
    )
    .is_err());
}
