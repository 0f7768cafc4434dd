//! A sealed share exists in clear nowhere but in process memory: not in any token object and not
//! in any file SoftHSM writes.

use std::path::Path;

use cryptoki::object::AttributeType;
use se::p11::cryptoki;
use se::ShareSlot;
use testkit::softhsm::SoftHsm;

use crate::{random_bytes, Enrolled};

/// Every variable-length attribute worth reading; sensitive ones simply do not come back.
const READABLE: [AttributeType; 12] = [
    AttributeType::Value,
    AttributeType::Label,
    AttributeType::Id,
    AttributeType::Application,
    AttributeType::ObjectId,
    AttributeType::EcPoint,
    AttributeType::EcParams,
    AttributeType::Subject,
    AttributeType::Issuer,
    AttributeType::SerialNumber,
    AttributeType::CheckValue,
    AttributeType::Owner,
];

/// The forms in which the share could leak: raw, lower-case hex, upper-case hex.
fn needles(secret: &[u8]) -> Vec<Vec<u8>> {
    vec![
        secret.to_vec(),
        hex::encode(secret).into_bytes(),
        hex::encode_upper(secret).into_bytes(),
    ]
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// Every attribute value of every object the (logged-in) session can see, with a description.
fn token_values(session: &se::p11::Session) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    let objects = session.raw().find_objects(&[]).unwrap();
    assert!(
        objects.len() >= 5,
        "expected the keys and data objects, saw {}",
        objects.len()
    );
    for object in objects {
        for attr in session.raw().get_attributes(object, &READABLE).unwrap() {
            let bytes = match &attr {
                cryptoki::object::Attribute::Value(v)
                | cryptoki::object::Attribute::Label(v)
                | cryptoki::object::Attribute::Id(v)
                | cryptoki::object::Attribute::Application(v)
                | cryptoki::object::Attribute::ObjectId(v)
                | cryptoki::object::Attribute::EcPoint(v)
                | cryptoki::object::Attribute::EcParams(v)
                | cryptoki::object::Attribute::Subject(v)
                | cryptoki::object::Attribute::Issuer(v)
                | cryptoki::object::Attribute::SerialNumber(v)
                | cryptoki::object::Attribute::CheckValue(v)
                | cryptoki::object::Attribute::Owner(v) => v.clone(),
                _ => continue,
            };
            out.push((
                format!("object {object} {:?}", attr.attribute_type()),
                bytes,
            ));
        }
    }
    out
}

fn files_under(dir: &Path, out: &mut Vec<(String, Vec<u8>)>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files_under(&path, out);
        } else if let Ok(bytes) = std::fs::read(&path) {
            // A file can vanish between listing and reading while other tests write tokens.
            out.push((path.display().to_string(), bytes));
        }
    }
}

fn find(places: &[(String, Vec<u8>)], secret: &[u8]) -> Vec<String> {
    let needles = needles(secret);
    places
        .iter()
        .filter(|(_, bytes)| needles.iter().any(|n| contains(bytes, n)))
        .map(|(name, _)| name.clone())
        .collect()
}

#[test]
fn a_sealed_share_is_nowhere_in_clear() {
    let se = Enrolled::new("se-leak");
    let open = se.open();
    let share = random_bytes::<64>();
    let slot = ShareSlot::new("case-leak", 3).unwrap();
    open.seal_share(&slot, &share).unwrap();
    open.store_certificate(b"a public certificate").unwrap();

    // A control: the scanners do find a value that is stored in clear (a public data object),
    // so an empty result below means something.
    let canary = random_bytes::<32>();
    let session = se.raw_session();
    session.put_data("test-canary", &canary, false).unwrap();

    let on_token = token_values(&session);
    let mut on_disk = Vec::new();
    files_under(SoftHsm::global().token_dir(), &mut on_disk);
    assert!(!on_disk.is_empty());

    assert!(
        !find(&on_token, &canary).is_empty(),
        "control value not seen through PKCS#11"
    );
    assert!(
        !find(&on_disk, &canary).is_empty(),
        "control value not seen on disk"
    );
    assert_eq!(
        find(&on_token, &share),
        Vec::<String>::new(),
        "share readable from the token"
    );
    assert_eq!(
        find(&on_disk, &share),
        Vec::<String>::new(),
        "share on disk in clear"
    );

    // And the share is really there, sealed.
    assert_eq!(open.unseal_share(&slot).unwrap().as_slice(), &share);
}

/// The same check with a real cggmp21 key share (a test-only fixture): neither its secret scalar
/// nor its Paillier primes appear anywhere in clear, raw or as the hex the serialised share uses.
#[test]
fn a_sealed_cggmp21_key_share_and_its_paillier_primes_are_nowhere_in_clear() {
    let share = testkit::fixtures::key_shares().unwrap().remove(0);
    let serialized = share.to_bytes().unwrap();
    let json: serde_json::Value = serde_json::from_slice(&serialized).unwrap();
    let x_hex = json["core"]["x"].as_str().unwrap().to_owned();
    let p_hex = json["aux"]["p"]["value"].as_str().unwrap().to_owned();
    let q_hex = json["aux"]["q"]["value"].as_str().unwrap().to_owned();
    let x_raw = hex::decode(&x_hex).unwrap();
    assert_eq!(x_raw.len(), 32, "the secret share is a 32-byte scalar");

    let se = Enrolled::new("se-leak-tss");
    let open = se.open();
    let slot = ShareSlot::new("case-leak-tss", 0).unwrap();
    open.seal_share(&slot, &serialized).unwrap();
    open.store_certificate(b"a public certificate").unwrap();

    let session = se.raw_session();
    let on_token = token_values(&session);
    let mut on_disk = Vec::new();
    files_under(SoftHsm::global().token_dir(), &mut on_disk);
    for (what, secret) in [
        ("secret scalar", x_raw.clone()),
        (
            "serialised share (first 64 bytes)",
            serialized[..64].to_vec(),
        ),
    ] {
        assert_eq!(
            find(&on_token, &secret),
            Vec::<String>::new(),
            "{what} readable from the token"
        );
        assert_eq!(
            find(&on_disk, &secret),
            Vec::<String>::new(),
            "{what} on disk in clear"
        );
    }
    for (what, text) in [
        ("Paillier p", &p_hex),
        ("Paillier q", &q_hex),
        ("secret scalar hex", &x_hex),
    ] {
        // A 32-character window is enough to identify the value and survives case changes below.
        let needle = text.as_bytes()[..32].to_vec();
        let places: Vec<_> = on_token.iter().chain(&on_disk).collect();
        let hits: Vec<_> = places
            .iter()
            .filter(|(_, bytes)| {
                contains(bytes, &needle) || contains(bytes, &needle.to_ascii_uppercase())
            })
            .map(|(name, _)| name.clone())
            .collect();
        assert_eq!(hits, Vec::<String>::new(), "{what} found in clear");
    }

    // The share unseals to exactly what was sealed, and parses back into the same key share.
    let back = open.unseal_share(&slot).unwrap();
    assert_eq!(back.as_slice(), serialized.as_slice());
    assert_eq!(
        tss::KeyShare::from_bytes(&back).unwrap().address().unwrap(),
        share.address().unwrap()
    );
}
