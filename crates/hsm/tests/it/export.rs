use channel::MacKey;
use contracts::{BalanceAttestation, Envelope, Id, KeyRing, Kind};
use hsm::{Error, OnlineHsm, TokenSelector};
use p11::cryptoki::object::{AttributeType, ObjectClass};
use testkit::softhsm::SoftHsm;

const NOW: u64 = 1_750_000_000;

#[test]
fn the_online_keys_are_generated_once_reopened_and_sign_what_the_offline_zone_accepts() {
    let softhsm = SoftHsm::global();
    let module = softhsm.module();
    let token = softhsm.new_token("export");
    let selector = TokenSelector::Label(token.summary.label.clone());

    // Not provisioned yet: opening names the missing key.
    let err = OnlineHsm::open(&module, &selector, &token.user_pin).unwrap_err();
    assert!(
        matches!(err, Error::MissingKey(hsm::EXPORT_KEY_LABEL)),
        "{err:?}"
    );

    let online = OnlineHsm::provision(&module, &selector, &token.user_pin).unwrap();
    let public = online.export_public_key();
    let checkpoint_public = online.checkpoint_public_key();
    assert_ne!(public, checkpoint_public, "one key, one purpose");
    let mac = online.audit_mac_key().mac(b"record").unwrap();
    let key = online;
    // (PKCS#11 logs a whole token in per process: close the session before logging in again.)
    drop(key);
    // A second provisioning never replaces the pinned key.
    let err = OnlineHsm::provision(&module, &selector, &token.user_pin).unwrap_err();
    assert!(matches!(err, Error::AlreadyProvisioned(_)), "{err:?}");

    let online = OnlineHsm::open(&module, &selector, &token.user_pin).unwrap();
    assert_eq!(online.export_public_key(), public);
    assert_eq!(online.checkpoint_public_key(), checkpoint_public);
    assert_eq!(online.token_serial(), token.summary.serial);
    // The MAC key is the same after reopening (it lives on the token), and keyed: another
    // input gives another tag.
    assert_eq!(online.audit_mac_key().mac(b"record").unwrap(), mac);
    assert_ne!(online.audit_mac_key().mac(b"record!").unwrap(), mac);
    let key = online.export_signer();

    // The private key is sensitive and never leaves the token (this session shares the
    // export key's login).
    let session = module.open(&token.summary).unwrap();
    for (class, label) in [
        (ObjectClass::PRIVATE_KEY, hsm::EXPORT_KEY_LABEL),
        (ObjectClass::PRIVATE_KEY, hsm::ONLINE_AUDIT_KEY_LABEL),
        (ObjectClass::SECRET_KEY, hsm::ONLINE_AUDIT_MAC_KEY_LABEL),
    ] {
        let private = session.find_key(class, label).unwrap().unwrap();
        assert_eq!(
            session
                .bool_attribute(private, AttributeType::Extractable)
                .unwrap(),
            Some(false),
            "{label}"
        );
        assert_eq!(
            session
                .bool_attribute(private, AttributeType::Sensitive)
                .unwrap(),
            Some(true),
            "{label}"
        );
    }

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
