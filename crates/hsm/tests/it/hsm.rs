use channel::{
    ClientHandshake, IdentitySigner, RevocationList, ServerHandshake, SignerError, Subject,
};
use hsm::{Error, Hsm, TokenSelector};
use p11::cryptoki::object::{AttributeType, ObjectClass};
use p256::ecdsa::signature::hazmat::{PrehashSigner, PrehashVerifier};
use p256::ecdsa::{Signature, SigningKey, VerifyingKey};
use rand_core::OsRng;
use sha2::{Digest, Sha256};
use testkit::softhsm::{random_pin, SoftHsm};

const NOW: u64 = 1_750_000_000;
const DAY: u64 = 24 * 3600;

/// A software stand-in for an SE on the client side.
struct SoftSe(SigningKey);

impl IdentitySigner for SoftSe {
    fn public_key(&self) -> p256::PublicKey {
        p256::PublicKey::from(self.0.verifying_key())
    }

    fn sign_digest(&self, digest: &[u8; 32]) -> Result<Signature, SignerError> {
        self.0
            .sign_prehash(digest)
            .map_err(|_| SignerError("software signer failed".into()))
    }
}

/// A unique token label per test, so tests in this process do not see each other's tokens.
fn label(test: &str) -> String {
    let mut bytes = [0u8; 4];
    rand_core::RngCore::fill_bytes(&mut OsRng, &mut bytes);
    format!("hsm-{test}-{}", hex::encode(bytes))
}

fn provision(test: &str) -> (Hsm, String, secrecy::SecretString) {
    let module = SoftHsm::global().module();
    let label = label(test);
    let user_pin = random_pin();
    let hsm = Hsm::provision(&module, &label, &random_pin(), &user_pin, "offline-1", NOW).unwrap();
    (hsm, label, user_pin)
}

#[test]
fn provision_then_reopen_with_the_pin() {
    let module = SoftHsm::global().module();
    let (hsm, label, user_pin) = provision("reopen");
    let serial = hsm.token_serial().to_owned();
    let ca = hsm.ca_public_key();
    let channel_cert = hsm.channel_certificate().clone();
    let envelope = hsm.envelope_public_key();
    let audit = hsm.audit_public_key();
    // Four distinct keys, one per purpose.
    let keys = [ca, hsm.channel_signer().public_key(), envelope, audit];
    for (i, a) in keys.iter().enumerate() {
        for b in &keys[i + 1..] {
            assert_ne!(a, b);
        }
    }
    drop(hsm); // Closing the last session logs the user out.

    let wrong = module.find_by_label(&label).unwrap();
    let session = module.open(&wrong).unwrap();
    assert!(matches!(
        session.login_user(&random_pin()),
        Err(p11::Error::PinIncorrect)
    ));
    drop(session);
    assert!(matches!(
        Hsm::open(&module, &TokenSelector::Label(label.clone()), &random_pin()),
        Err(Error::P11(p11::Error::PinIncorrect))
    ));

    let reopened = Hsm::open(&module, &TokenSelector::Serial(serial.clone()), &user_pin).unwrap();
    assert_eq!(reopened.token_serial(), serial);
    assert_eq!(reopened.ca_public_key(), ca);
    assert_eq!(reopened.envelope_public_key(), envelope);
    assert_eq!(reopened.audit_public_key(), audit);
    assert_eq!(reopened.channel_certificate(), &channel_cert);

    let verified = channel_cert.verify(&reopened.trust_anchor(), NOW).unwrap();
    assert_eq!(
        verified.subject(),
        &Subject::Server {
            name: "offline-1".into()
        }
    );
    assert_eq!(
        verified.public_key(),
        &reopened.channel_signer().public_key()
    );
}

#[test]
fn provisioning_never_overwrites_keys() {
    let module = SoftHsm::global().module();
    let (hsm, label, user_pin) = provision("twice");
    let ca = hsm.ca_public_key();
    drop(hsm);
    let err =
        Hsm::provision(&module, &label, &random_pin(), &user_pin, "offline-1", NOW).unwrap_err();
    assert!(matches!(err, Error::AlreadyProvisioned(_)), "{err:?}");
    let reopened = Hsm::open(&module, &TokenSelector::Label(label), &user_pin).unwrap();
    assert_eq!(reopened.ca_public_key(), ca);
}

#[test]
fn issued_se_certificates_verify_and_have_unique_serials() {
    let (hsm, _, _) = provision("issue");
    let se = SigningKey::random(&mut OsRng);
    let se_public = p256::PublicKey::from(se.verifying_key());
    let a = hsm
        .issue_se_certificate("0042", "Alice's SE", &se_public, 365 * DAY, NOW)
        .unwrap();
    let b = hsm
        .issue_se_certificate("0042", "Alice's SE", &se_public, 365 * DAY, NOW)
        .unwrap();
    let anchor = hsm.trust_anchor();
    let va = a.verify(&anchor, NOW + DAY).unwrap();
    let vb = b.verify(&anchor, NOW + DAY).unwrap();
    assert_ne!(va.serial(), vb.serial());
    assert_eq!(va.public_key(), &se_public);
    assert_eq!(
        va.subject(),
        &Subject::SecureElement {
            se_serial: "0042".into(),
            label: "Alice's SE".into()
        }
    );
    assert!(matches!(
        a.verify(&anchor, NOW + 366 * DAY),
        Err(channel::Error::Expired)
    ));
    // The HSM refuses to certify its own keys as an SE.
    let own = hsm.channel_signer().public_key();
    assert!(matches!(
        hsm.issue_se_certificate("0042", "x", &own, DAY, NOW),
        Err(Error::InvalidRequest(_))
    ));
    assert!(matches!(
        hsm.issue_se_certificate("", "x", &se_public, DAY, NOW),
        Err(Error::InvalidRequest(_))
    ));
}

#[test]
fn handshake_with_the_hsm_channel_key() {
    let (hsm, _, _) = provision("handshake");
    let se = SoftSe(SigningKey::random(&mut OsRng));
    let se_cert = hsm
        .issue_se_certificate("0042", "SE 0042", &se.public_key(), 365 * DAY, NOW)
        .unwrap();
    let anchor = hsm.trust_anchor();
    let revocation = RevocationList::new();
    let signer = hsm.channel_signer();

    let (client, hello) = ClientHandshake::start(se_cert, b"session-9", &mut OsRng);
    let (server, reply) = ServerHandshake::respond(
        &hello,
        &signer,
        hsm.channel_certificate(),
        &anchor,
        &revocation,
        NOW,
        &mut OsRng,
    )
    .unwrap();
    let (mut client_channel, finished) = client
        .finish(&reply, &se, &anchor, &revocation, NOW)
        .unwrap();
    let mut server_channel = server.finish(&finished).unwrap();

    assert_eq!(client_channel.binding(), server_channel.binding());
    assert_eq!(
        client_channel.peer().subject(),
        &Subject::Server {
            name: "offline-1".into()
        }
    );
    let frame = client_channel.seal(b"approve request 7").unwrap();
    assert_eq!(
        &server_channel.open(&frame).unwrap()[..],
        b"approve request 7"
    );
    let frame = server_channel.seal(b"ok").unwrap();
    assert_eq!(&client_channel.open(&frame).unwrap()[..], b"ok");
}

#[test]
fn envelope_and_audit_signatures_verify_with_p256() {
    let (hsm, _, _) = provision("sign");
    let digest: [u8; 32] = Sha256::digest(b"envelope bytes").into();
    let signature = hsm.sign_envelope(&digest).unwrap();
    let envelope_key = VerifyingKey::from(&hsm.envelope_public_key());
    envelope_key.verify_prehash(&digest, &signature).unwrap();
    // One key, one purpose: the envelope signature does not verify under the other keys.
    assert!(VerifyingKey::from(&hsm.audit_public_key())
        .verify_prehash(&digest, &signature)
        .is_err());
    assert!(VerifyingKey::from(&hsm.ca_public_key())
        .verify_prehash(&digest, &signature)
        .is_err());

    let checkpoint: [u8; 32] = Sha256::digest(b"audit checkpoint").into();
    let signature = hsm.sign_audit_checkpoint(&checkpoint).unwrap();
    VerifyingKey::from(&hsm.audit_public_key())
        .verify_prehash(&checkpoint, &signature)
        .unwrap();
    assert!(envelope_key
        .verify_prehash(&checkpoint, &signature)
        .is_err());
    // The port used by contracts::AuditCheckpoint::sign signs with the same key.
    let signer = hsm.checkpoint_signer();
    assert_eq!(
        channel::IdentitySigner::public_key(&signer),
        hsm.audit_public_key()
    );
}

#[test]
fn the_audit_mac_is_hmac_sha256_under_a_key_that_stays_on_the_token() {
    use channel::MacKey;
    let module = SoftHsm::global().module();
    let (hsm, label, _) = provision("mac");
    let key = hsm.audit_mac_key();
    let tag = key.mac(b"audit record 1").unwrap();
    assert_eq!(key.mac(b"audit record 1").unwrap(), tag, "deterministic");
    assert_ne!(key.mac(b"audit record 2").unwrap(), tag);
    // Another HSM has another key.
    let (other, _, _) = provision("mac-other");
    assert_ne!(other.audit_mac_key().mac(b"audit record 1").unwrap(), tag);
    // The key is a sensitive, non-extractable generic secret whose value cannot be read.
    let session = module.open(&module.find_by_label(&label).unwrap()).unwrap();
    let secret = session
        .find_key(ObjectClass::SECRET_KEY, hsm::AUDIT_MAC_KEY_LABEL)
        .unwrap()
        .unwrap();
    for (attr, expected) in [
        (AttributeType::Sensitive, true),
        (AttributeType::Extractable, false),
        (AttributeType::NeverExtractable, true),
    ] {
        assert_eq!(
            session.bool_attribute(secret, attr).unwrap(),
            Some(expected)
        );
    }
    assert!(session
        .raw()
        .get_attributes(secret, &[AttributeType::Value])
        .map(|attrs| attrs.is_empty())
        .unwrap_or(true));
    drop(hsm);
}

#[test]
fn keys_are_sensitive_and_non_extractable() {
    let module = SoftHsm::global().module();
    let (hsm, label, _) = provision("attrs");
    // The Hsm's login is shared by every session of this process on the token.
    let session = module.open(&module.find_by_label(&label).unwrap()).unwrap();
    for key in [
        hsm::CA_KEY_LABEL,
        hsm::CHANNEL_KEY_LABEL,
        hsm::ENVELOPE_KEY_LABEL,
        hsm::AUDIT_KEY_LABEL,
    ] {
        let private = session
            .find_key(ObjectClass::PRIVATE_KEY, key)
            .unwrap()
            .unwrap_or_else(|| panic!("{key} missing"));
        assert_eq!(
            session
                .bool_attribute(private, AttributeType::Sensitive)
                .unwrap(),
            Some(true),
            "{key}"
        );
        assert_eq!(
            session
                .bool_attribute(private, AttributeType::Extractable)
                .unwrap(),
            Some(false),
            "{key}"
        );
        assert_eq!(
            session
                .bool_attribute(private, AttributeType::NeverExtractable)
                .unwrap(),
            Some(true),
            "{key}"
        );
        // The token refuses to reveal the private value.
        assert!(session
            .raw()
            .get_attributes(private, &[AttributeType::Value])
            .map(|attrs| attrs.is_empty())
            .unwrap_or(true));
    }
    drop(hsm);
}
