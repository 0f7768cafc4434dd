//! The identity key and the wrap key never leave the token.

use cryptoki::error::RvError;
use cryptoki::mechanism::Mechanism;
use cryptoki::object::{Attribute, AttributeInfo, AttributeType, KeyType, ObjectClass};
use se::p11::cryptoki;

use crate::Enrolled;

#[test]
fn identity_and_wrap_keys_are_sensitive_and_not_extractable() {
    let se = Enrolled::new("se-keys");
    let _open = se.open(); // logs the token in for the raw session below
    let session = se.raw_session();
    let identity = session
        .find_key(ObjectClass::PRIVATE_KEY, se::IDENTITY_LABEL)
        .unwrap()
        .unwrap();
    let wrap = session
        .find_key(ObjectClass::SECRET_KEY, se::WRAP_KEY_LABEL)
        .unwrap()
        .unwrap();

    // An extractable wrapping key of our own, to try to export the keys with.
    let exporter = session
        .raw()
        .generate_key(
            &Mechanism::AesKeyGen,
            &[
                Attribute::Class(ObjectClass::SECRET_KEY),
                Attribute::KeyType(KeyType::AES),
                Attribute::ValueLen(32.into()),
                Attribute::Token(false),
                Attribute::Wrap(true),
                Attribute::Extractable(true),
                Attribute::Sensitive(false),
            ],
        )
        .unwrap();

    for (name, key) in [("identity", identity), ("wrap", wrap)] {
        for (attr, want) in [
            (AttributeType::Extractable, false),
            (AttributeType::Sensitive, true),
            (AttributeType::NeverExtractable, true),
            (AttributeType::AlwaysSensitive, true),
            (AttributeType::Token, true),
            (AttributeType::Private, true),
        ] {
            assert_eq!(
                session.bool_attribute(key, attr).unwrap(),
                Some(want),
                "{name} {attr:?}"
            );
        }
        let info = session
            .raw()
            .get_attribute_info(key, &[AttributeType::Value])
            .unwrap();
        assert!(
            matches!(
                info.as_slice(),
                [AttributeInfo::Sensitive | AttributeInfo::Unavailable]
            ),
            "{name}: CKA_VALUE is {info:?}"
        );
        let values = session
            .raw()
            .get_attributes(key, &[AttributeType::Value])
            .unwrap();
        assert!(values.is_empty(), "{name}: CKA_VALUE was returned");
        for mechanism in [Mechanism::AesKeyWrapPad, Mechanism::AesKeyWrap] {
            match session.raw().wrap_key(&mechanism, exporter, key) {
                Err(cryptoki::error::Error::Pkcs11(RvError::KeyUnextractable, _)) => {}
                other => panic!("{name}: wrap with {mechanism:?} gave {other:?}"),
            }
        }
        // Nor can the flags be relaxed after the fact.
        assert!(session
            .raw()
            .update_attributes(key, &[Attribute::Extractable(true)])
            .is_err());
        assert!(session
            .raw()
            .update_attributes(key, &[Attribute::Sensitive(false)])
            .is_err());
    }
}
