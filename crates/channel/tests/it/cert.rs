use channel::{Certificate, Error, RevocationList, Subject, SubjectKind};

use crate::common::{se_subject, Pki, SoftSigner, NOW, YEAR};

#[test]
fn issued_certificate_verifies_and_round_trips() {
    let pki = Pki::new();
    let se = SoftSigner::random();
    let cert = pki.se_cert("0042", &se);
    let cert = Certificate::from_bytes(&cert.to_bytes().unwrap()).unwrap();
    let verified = cert.verify(&pki.anchor(), NOW).unwrap();
    assert_eq!(verified.subject(), &se_subject("0042"));
    assert_eq!(verified.subject().kind(), SubjectKind::SecureElement);
    assert_eq!(
        verified.public_key(),
        &channel::IdentitySigner::public_key(&se)
    );
    assert_eq!(cert.signature.len(), 64);
}

#[test]
fn issue_refuses_a_body_naming_another_ca() {
    let pki = Pki::new();
    let other_ca = SoftSigner::random();
    let se = SoftSigner::random();
    let body = pki.body(se_subject("1"), &se, (NOW, NOW + YEAR));
    assert!(matches!(
        Certificate::issue(&body, &other_ca),
        Err(Error::InvalidCertificate(_))
    ));
}

#[test]
fn certificate_from_another_ca_is_rejected() {
    let real = Pki::new();
    let rogue = Pki::new();
    let se = SoftSigner::random();
    let cert = rogue.se_cert("0042", &se);
    assert!(matches!(
        cert.verify(&real.anchor(), NOW),
        Err(Error::UnknownIssuer)
    ));
}

#[test]
fn tampered_certificate_is_rejected() {
    let pki = Pki::new();
    let se = SoftSigner::random();
    let mut cert = pki.se_cert("0042", &se);
    // A forger who copies the real issuer id into a body of their choosing cannot sign it.
    let mut body = cert.unverified_body().unwrap();
    body.subject = Subject::Server {
        name: "evil".into(),
    };
    cert.body = rmp_serde::to_vec_named(&body).unwrap();
    assert!(matches!(
        cert.verify(&pki.anchor(), NOW),
        Err(Error::BadCertificateSignature)
    ));

    let mut cert = pki.se_cert("0042", &se);
    cert.signature[10] ^= 1;
    assert!(matches!(
        cert.verify(&pki.anchor(), NOW),
        Err(Error::BadCertificateSignature)
    ));
}

#[test]
fn expired_and_not_yet_valid_certificates_are_rejected() {
    let pki = Pki::new();
    let se = SoftSigner::random();
    let cert = pki.issue(se_subject("7"), &se, (NOW - 2 * YEAR, NOW - YEAR));
    assert!(matches!(
        cert.verify(&pki.anchor(), NOW),
        Err(Error::Expired)
    ));
    let cert = pki.issue(se_subject("7"), &se, (NOW + 100, NOW + YEAR));
    assert!(matches!(
        cert.verify(&pki.anchor(), NOW),
        Err(Error::NotYetValid)
    ));
    // The window is inclusive at both ends.
    let cert = pki.issue(se_subject("7"), &se, (NOW, NOW));
    assert!(cert.verify(&pki.anchor(), NOW).is_ok());
}

#[test]
fn revoked_certificate_and_revoked_se_are_rejected() {
    let pki = Pki::new();
    let se = SoftSigner::random();
    let cert = pki.se_cert("0042", &se);
    let serial = cert.unverified_body().unwrap().serial;

    let mut by_serial = RevocationList::new();
    by_serial.revoke_certificate(serial);
    assert!(matches!(
        cert.verify_not_revoked(&pki.anchor(), &by_serial, NOW),
        Err(Error::Revoked)
    ));

    let mut by_se = RevocationList::new();
    by_se.revoke_se("0042");
    assert!(matches!(
        cert.verify_not_revoked(&pki.anchor(), &by_se, NOW),
        Err(Error::Revoked)
    ));
    // Revoking one SE leaves the others alone.
    let other = pki.se_cert("0043", &SoftSigner::random());
    assert!(other.verify_not_revoked(&pki.anchor(), &by_se, NOW).is_ok());
}

#[test]
fn garbage_is_malformed_not_a_panic() {
    assert!(matches!(
        Certificate::from_bytes(b"\xff\x00junk"),
        Err(Error::Malformed(_))
    ));
    let cert = Certificate {
        body: b"not msgpack".to_vec(),
        signature: vec![0; 64],
    };
    assert!(matches!(
        cert.verify(&Pki::new().anchor(), NOW),
        Err(Error::Malformed(_))
    ));
}
