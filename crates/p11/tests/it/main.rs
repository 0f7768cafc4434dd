//! Integration tests of the PKCS#11 layer against real SoftHSM2 tokens from the testkit.

// Helpers outside #[test] functions are test code too: clippy.toml only covers test functions.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use cryptoki::object::{AttributeType, ObjectClass};
use p11::{cryptoki, Error, Module};
use p256::ecdsa::signature::hazmat::PrehashVerifier;
use secrecy::SecretString;
use sha2::{Digest, Sha256};
use testkit::softhsm::{random_pin, SoftHsm};

fn logged_in(prefix: &str) -> (testkit::softhsm::TestToken, p11::Session) {
    let hsm = SoftHsm::global();
    let token = hsm.new_token(prefix);
    let session = hsm.module().open(&token.summary).unwrap();
    session.login_user(&token.user_pin).unwrap();
    (token, session)
}

#[test]
fn module_is_loaded_once_and_tokens_are_found() {
    let hsm = SoftHsm::global();
    let again = Module::load(hsm.module_path()).unwrap();
    let token = hsm.new_token("p11-find");
    assert!(!token.summary.serial.is_empty());
    assert_eq!(
        token.summary.label,
        "p11-find-".to_owned() + token.summary.label.rsplit('-').next().unwrap()
    );
    assert_eq!(
        again.find_by_serial(&token.summary.serial).unwrap().label,
        token.summary.label
    );
    assert_eq!(
        again.find_by_label(&token.summary.label).unwrap().serial,
        token.summary.serial
    );
    assert!(again
        .tokens()
        .unwrap()
        .iter()
        .any(|t| t.serial == token.summary.serial));
    match again.find_by_serial("no-such-serial") {
        Err(Error::TokenNotFound { serial }) => assert_eq!(serial, "no-such-serial"),
        other => panic!("expected TokenNotFound, got {other:?}"),
    }
}

#[test]
fn wrong_pin_is_reported_as_pin_incorrect_and_pins_change() {
    let hsm = SoftHsm::global();
    let token = hsm.new_token("p11-pin");
    let session = hsm.module().open(&token.summary).unwrap();
    let wrong = SecretString::from("not-the-pin");
    assert!(matches!(
        session.login_user(&wrong),
        Err(Error::PinIncorrect)
    ));
    session.login_user(&token.user_pin).unwrap();
    let new_pin = random_pin();
    session.set_pin(&token.user_pin, &new_pin).unwrap();
    session.logout().unwrap();
    assert!(matches!(
        session.login_user(&token.user_pin),
        Err(Error::PinIncorrect)
    ));
    session.login_user(&new_pin).unwrap();
    session.logout().unwrap();
    // The security officer can set a new user PIN without knowing the old one.
    session.login_so(&token.so_pin).unwrap();
    let reset = random_pin();
    session.init_user_pin(&reset).unwrap();
    session.logout().unwrap();
    session.login_user(&reset).unwrap();
}

#[test]
fn p256_signature_verifies_independently() {
    let (_token, session) = logged_in("p11-sign");
    let pair = session.generate_p256_keypair("id").unwrap();
    assert_eq!(
        session.find_key(ObjectClass::PRIVATE_KEY, "id").unwrap(),
        Some(pair.private)
    );
    assert_eq!(
        session.find_key(ObjectClass::PUBLIC_KEY, "id").unwrap(),
        Some(pair.public)
    );
    assert_eq!(
        session.find_key(ObjectClass::PUBLIC_KEY, "other").unwrap(),
        None
    );
    let public = session.p256_public_key(pair.public).unwrap();
    let digest: [u8; 32] = Sha256::digest(b"transcript").into();
    let sig = session.sign_p256_digest(pair.private, &digest).unwrap();
    let vk = p256::ecdsa::VerifyingKey::from(&public);
    vk.verify_prehash(&digest, &sig).unwrap();
    let other: [u8; 32] = Sha256::digest(b"other").into();
    assert!(vk.verify_prehash(&other, &sig).is_err());
    for (attr, want) in [
        (AttributeType::Extractable, false),
        (AttributeType::Sensitive, true),
        (AttributeType::Sign, true),
        (AttributeType::Token, true),
    ] {
        assert_eq!(
            session.bool_attribute(pair.private, attr).unwrap(),
            Some(want),
            "{attr:?}"
        );
    }
}

#[test]
fn aes_gcm_round_trip_and_authentication() {
    let (_token, session) = logged_in("p11-aes");
    let key = session.generate_aes256_key("wrap").unwrap();
    assert_eq!(
        session
            .bool_attribute(key, AttributeType::Extractable)
            .unwrap(),
        Some(false)
    );
    assert_eq!(
        session
            .bool_attribute(key, AttributeType::Sensitive)
            .unwrap(),
        Some(true)
    );
    let nonce = [7u8; 12];
    let ct = session
        .aes_gcm_encrypt(key, &nonce, b"aad", b"hello share")
        .unwrap();
    assert_eq!(ct.len(), b"hello share".len() + 16);
    let pt = session.aes_gcm_decrypt(key, &nonce, b"aad", &ct).unwrap();
    assert_eq!(pt.as_slice(), b"hello share");
    let r = session.aes_gcm_decrypt(key, &nonce, b"other", &ct);
    assert!(matches!(r, Err(Error::DecryptFailed)), "{r:?}");
    let mut tampered = ct.clone();
    tampered[0] ^= 1;
    assert!(matches!(
        session.aes_gcm_decrypt(key, &nonce, b"aad", &tampered),
        Err(Error::DecryptFailed)
    ));
    assert!(matches!(
        session.aes_gcm_decrypt(key, &[8u8; 12], b"aad", &ct),
        Err(Error::DecryptFailed)
    ));
}

#[test]
fn data_objects_are_replaced_listed_and_deleted() {
    let hsm = SoftHsm::global();
    let (token, session) = logged_in("p11-data");
    session.put_data("public", b"one", false).unwrap();
    session.put_data("public", b"two", false).unwrap();
    session.put_data("secret", b"hidden", true).unwrap();
    assert_eq!(
        session.get_data("public").unwrap().as_deref(),
        Some(&b"two"[..])
    );
    assert_eq!(
        session.get_data("secret").unwrap().as_deref(),
        Some(&b"hidden"[..])
    );
    assert_eq!(
        session.list_data_labels().unwrap(),
        vec!["public".to_owned(), "secret".to_owned()]
    );
    // Without login the private object is invisible, the public one readable. Login state is
    // shared by every session of the application on a token, so log out first.
    session.logout().unwrap();
    let anonymous = hsm.module().open(&token.summary).unwrap();
    assert_eq!(anonymous.get_data("secret").unwrap(), None);
    assert_eq!(
        anonymous.get_data("public").unwrap().as_deref(),
        Some(&b"two"[..])
    );
    session.login_user(&token.user_pin).unwrap();
    assert!(session.delete_data("public").unwrap());
    assert!(!session.delete_data("public").unwrap());
    assert_eq!(session.get_data("public").unwrap(), None);
}
