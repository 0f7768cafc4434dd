use channel::IdentitySigner;
use contracts::{BalanceAttestation, Envelope, Id, KeyRing, Kind};
use hsm::{Error, ExportKey, TokenSelector};
use p11::cryptoki::object::{AttributeType, ObjectClass};
use testkit::softhsm::SoftHsm;

const NOW: u64 = 1_750_000_000;

#[test]
fn the_export_key_is_generated_once_reopened_and_signs_envelopes_the_offline_zone_accepts() {
    let softhsm = SoftHsm::global();
    let module = softhsm.module();
    let token = softhsm.new_token("export");
    let selector = TokenSelector::Label(token.summary.label.clone());

    // Not provisioned yet: opening names the missing key.
    let err = ExportKey::open(&module, &selector, &token.user_pin).unwrap_err();
    assert!(
        matches!(err, Error::MissingKey(hsm::EXPORT_KEY_LABEL)),
        "{err:?}"
    );

    let key = ExportKey::provision(&module, &selector, &token.user_pin).unwrap();
    let public = key.public_key();
    // (PKCS#11 logs a whole token in per process: close the session before logging in again.)
    drop(key);
    // A second provisioning never replaces the pinned key.
    let err = ExportKey::provision(&module, &selector, &token.user_pin).unwrap_err();
    assert!(matches!(err, Error::AlreadyProvisioned(_)), "{err:?}");

    let key = ExportKey::open(&module, &selector, &token.user_pin).unwrap();
    assert_eq!(key.public_key(), public);
    assert_eq!(key.token_serial(), token.summary.serial);

    // The private key is sensitive and never leaves the token (this session shares the
    // export key's login).
    let session = module.open(&token.summary).unwrap();
    let private = session
        .find_key(ObjectClass::PRIVATE_KEY, hsm::EXPORT_KEY_LABEL)
        .unwrap()
        .unwrap();
    assert_eq!(
        session
            .bool_attribute(private, AttributeType::Extractable)
            .unwrap(),
        Some(false)
    );

    // An envelope sealed by the token verifies under the pinned key, and not under another.
    let body = BalanceAttestation {
        address: contracts::EthAddress([7; 20]),
        chain_id: 31337,
        balances: vec![],
        block_number: 1,
        block_hash: [1; 32],
    };
    let envelope = Envelope::seal(&body, &key, Id::new_v7(NOW), NOW, 600).unwrap();
    let pinned = KeyRing::new().with_key(public, &[Kind::BalanceAttestation]);
    let verified = envelope
        .verify::<BalanceAttestation>(&pinned, NOW + 1)
        .unwrap();
    assert_eq!(verified.body(), &body);
    let other = p256::SecretKey::random(&mut rand_core::OsRng).public_key();
    let wrong = KeyRing::new().with_key(other, &[Kind::BalanceAttestation]);
    assert!(envelope
        .verify::<BalanceAttestation>(&wrong, NOW + 1)
        .is_err());
}
