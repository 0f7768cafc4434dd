//! Enrollment, sealing and unsealing, and the identity signature.

use channel::IdentitySigner;
use p256::ecdsa::signature::hazmat::PrehashVerifier;
use se::{Error, Se, SeSerial, ShareSlot};
use sha2::{Digest, Sha256};

use crate::{random_bytes, Enrolled};

#[test]
fn enroll_open_seal_unseal_round_trip() {
    let se = Enrolled::new("se-roundtrip");
    let open = se.open();
    assert_eq!(
        open.identity_public_key(),
        se.enrollment.identity_public_key
    );
    let slot = ShareSlot::new("case-1", 1).unwrap();
    let share = random_bytes::<64>();
    open.seal_share(&slot, &share).unwrap();
    assert_eq!(open.unseal_share(&slot).unwrap().as_slice(), &share);
    assert_eq!(open.list_shares().unwrap(), vec![slot.clone()]);
    // Sealing twice into one slot would destroy a share: refused.
    assert!(matches!(
        open.seal_share(&slot, &share),
        Err(Error::AlreadySealed { .. })
    ));
    // The share survives closing and reopening.
    drop(open);
    let open = se.open();
    assert_eq!(open.unseal_share(&slot).unwrap().as_slice(), &share);
    assert!(open.delete_share(&slot).unwrap());
    assert!(matches!(
        open.unseal_share(&slot),
        Err(Error::NotFound { .. })
    ));
    assert!(open.list_shares().unwrap().is_empty());
}

#[test]
fn enrolling_twice_is_refused() {
    let se = Enrolled::new("se-enroll-twice");
    match Se::enroll(&se.module, &se.serial, &se.so_pin, &se.user_pin) {
        Err(Error::AlreadyEnrolled { serial }) => assert_eq!(serial, se.serial.to_string()),
        other => panic!("expected AlreadyEnrolled, got {other:?}"),
    }
    let listed = se::list_tokens(&se.module).unwrap();
    let me = listed.iter().find(|s| s.serial == se.serial).unwrap();
    assert!(me.enrolled);
    assert_eq!(me.pin.tries_left, se::MAX_PIN_TRIES);
}

#[test]
fn identity_signature_verifies_with_p256() {
    let se = Enrolled::new("se-sign");
    let open = se.open();
    let signer: &dyn IdentitySigner = &open;
    let digest: [u8; 32] = Sha256::digest(b"sigma transcript").into();
    let sig = signer.sign_digest(&digest).unwrap();
    let vk = p256::ecdsa::VerifyingKey::from(&signer.public_key());
    vk.verify_prehash(&digest, &sig).unwrap();
    let vk_enrolled = p256::ecdsa::VerifyingKey::from(&se.enrollment.identity_public_key);
    vk_enrolled.verify_prehash(&digest, &sig).unwrap();
    let other: [u8; 32] = Sha256::digest(b"another transcript").into();
    assert!(vk.verify_prehash(&other, &sig).is_err());
}

#[test]
fn certificate_and_generic_secrets() {
    let se = Enrolled::new("se-cert");
    let open = se.open();
    assert_eq!(open.certificate().unwrap(), None);
    open.store_certificate(b"certificate bytes").unwrap();
    assert_eq!(
        open.certificate().unwrap().as_deref(),
        Some(&b"certificate bytes"[..])
    );
    let primes = random_bytes::<256>();
    open.seal_secret("paillier-primes-0", &primes).unwrap();
    assert_eq!(
        open.unseal_secret("paillier-primes-0").unwrap().as_slice(),
        &primes
    );
    assert!(matches!(
        open.unseal_secret("paillier-primes-1"),
        Err(Error::NotFound { .. })
    ));
    assert!(matches!(
        open.seal_secret("bad/label", b"x"),
        Err(Error::Parse(_))
    ));
    // A secret is not a share, even though both live on the same token.
    assert!(open.list_shares().unwrap().is_empty());
    assert!(open.delete_secret("paillier-primes-0").unwrap());
}

#[test]
fn unknown_serial_is_reported_clearly() {
    let se = Enrolled::new("se-unknown");
    let missing = SeSerial::parse("NOSUCHSE00000000").unwrap();
    let err = Se::open(&se.module, &missing, &se.user_pin).unwrap_err();
    match &err {
        Error::UnknownSe { serial } => assert_eq!(serial, "NOSUCHSE00000000"),
        other => panic!("expected UnknownSe, got {other:?}"),
    }
    assert!(err.to_string().contains("NOSUCHSE00000000"), "{err}");
    assert!(matches!(
        Se::pin_status(&se.module, &missing),
        Err(Error::UnknownSe { .. })
    ));
}

#[test]
fn a_blob_does_not_open_on_another_se_or_in_another_slot() {
    let a = Enrolled::new("se-move-a");
    let b = Enrolled::new("se-move-b");
    let slot = ShareSlot::new("case-7", 1).unwrap();
    let share = random_bytes::<64>();
    let open_a = a.open();
    open_a.seal_share(&slot, &share).unwrap();
    let blob = open_a.sealed_blob(&slot).unwrap();

    // Same slot, another SE: its wrap key differs and its serial is bound into the AAD.
    let open_b = b.open();
    open_b.import_sealed_blob(&slot, &blob).unwrap();
    let err = open_b.unseal_share(&slot).unwrap_err();
    match &err {
        Error::UnsealFailed { serial, .. } => assert_eq!(serial, &b.serial.to_string()),
        other => panic!("expected UnsealFailed, got {other:?}"),
    }
    let message = err.to_string();
    assert!(message.contains("another secure element"), "{message}");
    assert!(message.contains("case case-7"), "{message}");

    // Same SE, another slot: the case id and share index are bound into the AAD.
    for moved in [
        ShareSlot::new("case-7", 2).unwrap(),
        ShareSlot::new("case-8", 1).unwrap(),
    ] {
        open_a.import_sealed_blob(&moved, &blob).unwrap();
        assert!(matches!(
            open_a.unseal_share(&moved),
            Err(Error::UnsealFailed { .. })
        ));
    }
    // The original still opens, and the backup blob restores into its own slot.
    assert_eq!(open_a.unseal_share(&slot).unwrap().as_slice(), &share);
    assert!(open_a.delete_share(&slot).unwrap());
    open_a.import_sealed_blob(&slot, &blob).unwrap();
    assert_eq!(open_a.unseal_share(&slot).unwrap().as_slice(), &share);

    // Garbage is refused before it reaches the token.
    assert!(matches!(
        open_a.import_sealed_blob(&ShareSlot::new("case-9", 1).unwrap(), &[9, 1, 2]),
        Err(Error::MalformedBlob(_))
    ));
}
