use channel::{E2eKeyPair, E2eSession, Error, PeerAnnouncement, RevocationList};
use rand_core::OsRng;

use crate::common::{Pki, SoftSigner, NOW};

struct Party {
    signer: SoftSigner,
    cert: channel::Certificate,
}

fn parties(pki: &Pki, n: u16) -> Vec<Party> {
    (0..n)
        .map(|i| {
            let signer = SoftSigner::random();
            let cert = pki.se_cert(&format!("SE-{i}"), &signer);
            Party { signer, cert }
        })
        .collect()
}

/// Generate key pairs and announcements for every party in `session`, pass them through their
/// byte encoding, and build every party's session.
fn sessions(pki: &Pki, parties: &[Party], session: &[u8]) -> Vec<E2eSession> {
    let keypairs: Vec<E2eKeyPair> = parties
        .iter()
        .map(|_| E2eKeyPair::generate(&mut OsRng))
        .collect();
    let announcements: Vec<PeerAnnouncement> = parties
        .iter()
        .zip(&keypairs)
        .enumerate()
        .map(|(i, (p, kp))| {
            let a =
                PeerAnnouncement::create(session, i as u16, kp, p.cert.clone(), &p.signer).unwrap();
            PeerAnnouncement::from_bytes(&a.to_bytes().unwrap()).unwrap()
        })
        .collect();
    keypairs
        .into_iter()
        .enumerate()
        .map(|(i, kp)| {
            E2eSession::new(
                session,
                i as u16,
                kp,
                &announcements,
                &pki.anchor(),
                &RevocationList::new(),
                NOW,
            )
            .unwrap()
        })
        .collect()
}

#[test]
fn e2e_round_trip_between_every_pair() {
    let pki = Pki::new();
    let parties = parties(&pki, 3);
    let mut s = sessions(&pki, &parties, b"session-A");
    assert_eq!(s[0].peer_indices().collect::<Vec<_>>(), vec![1, 2]);
    for from in 0..3u16 {
        for to in 0..3u16 {
            if from == to {
                continue;
            }
            for round in 0..2u8 {
                let msg = [from as u8, to as u8, round];
                let ct = s[from as usize].seal(to, &msg).unwrap();
                assert_eq!(&s[to as usize].open(from, &ct).unwrap()[..], &msg);
            }
        }
    }
    assert!(matches!(s[0].seal(0, b"self"), Err(Error::UnknownParty(0))));
    assert!(matches!(s[0].seal(9, b"?"), Err(Error::UnknownParty(9))));
}

#[test]
fn e2e_message_for_another_recipient_fails() {
    let pki = Pki::new();
    let parties = parties(&pki, 3);
    let mut s = sessions(&pki, &parties, b"session-A");
    let ct = s[0].seal(1, b"for party 1 only").unwrap();
    // The coordinator delivers it to party 2 instead.
    assert!(matches!(s[2].open(0, &ct), Err(Error::Decrypt)));
    // Or claims it came from party 2.
    assert!(matches!(s[1].open(2, &ct), Err(Error::Decrypt)));
    assert_eq!(&s[1].open(0, &ct).unwrap()[..], b"for party 1 only");
}

#[test]
fn e2e_message_from_another_session_fails() {
    let pki = Pki::new();
    let parties = parties(&pki, 2);
    let mut a = sessions(&pki, &parties, b"session-A");
    let mut b = sessions(&pki, &parties, b"session-B");
    let ct = a[0].seal(1, b"round 1").unwrap();
    assert!(matches!(b[1].open(0, &ct), Err(Error::Decrypt)));
}

#[test]
fn e2e_replay_and_reorder_are_rejected() {
    let pki = Pki::new();
    let parties = parties(&pki, 2);
    let mut s = sessions(&pki, &parties, b"session-A");
    let m0 = s[0].seal(1, b"m0").unwrap();
    let m1 = s[0].seal(1, b"m1").unwrap();
    let m2 = s[0].seal(1, b"m2").unwrap();

    assert!(matches!(
        s[1].open(0, &m1),
        Err(Error::UnexpectedSequence {
            expected: 0,
            got: 1
        })
    ));
    assert_eq!(&s[1].open(0, &m0).unwrap()[..], b"m0");
    assert!(matches!(
        s[1].open(0, &m0),
        Err(Error::UnexpectedSequence {
            expected: 1,
            got: 0
        })
    ));
    assert_eq!(&s[1].open(0, &m1).unwrap()[..], b"m1");
    // An old message with its header rewritten to the expected sequence number does not
    // authenticate, because the sequence number is also the nonce and part of the AAD.
    let mut forged = m1.clone();
    forged[8] = 2;
    assert!(matches!(s[1].open(0, &forged), Err(Error::Decrypt)));
    let mut flipped = m2.clone();
    let last = flipped.len() - 1;
    flipped[last] ^= 1;
    assert!(matches!(s[1].open(0, &flipped), Err(Error::Decrypt)));
    assert_eq!(&s[1].open(0, &m2).unwrap()[..], b"m2");
    assert!(matches!(s[1].open(0, &[1, 0]), Err(Error::Malformed(_))));
}

#[test]
fn announcement_certified_by_a_non_ca_key_is_rejected() {
    let pki = Pki::new();
    let rogue = Pki::new();
    let honest = parties(&pki, 1);
    let intruder = parties(&rogue, 1);
    let kp0 = E2eKeyPair::generate(&mut OsRng);
    let kp1 = E2eKeyPair::generate(&mut OsRng);
    let a0 =
        PeerAnnouncement::create(b"s", 0, &kp0, honest[0].cert.clone(), &honest[0].signer).unwrap();
    let a1 = PeerAnnouncement::create(b"s", 1, &kp1, intruder[0].cert.clone(), &intruder[0].signer)
        .unwrap();
    let err = E2eSession::new(
        b"s",
        0,
        kp0,
        &[a0, a1],
        &pki.anchor(),
        &RevocationList::new(),
        NOW,
    )
    .unwrap_err();
    assert!(matches!(err, Error::UnknownIssuer), "{err:?}");
}

#[test]
fn announcement_with_a_stolen_certificate_or_swapped_key_is_rejected() {
    let pki = Pki::new();
    let honest = parties(&pki, 2);
    let attacker = SoftSigner::random();
    let kp0 = E2eKeyPair::generate(&mut OsRng);
    let kp1 = E2eKeyPair::generate(&mut OsRng);
    let a0 =
        PeerAnnouncement::create(b"s", 0, &kp0, honest[0].cert.clone(), &honest[0].signer).unwrap();

    // The coordinator signs with its own key but attaches party 1's real certificate.
    let mut stolen =
        PeerAnnouncement::create(b"s", 1, &kp1, honest[1].cert.clone(), &honest[1].signer).unwrap();
    let mitm_kp = E2eKeyPair::generate(&mut OsRng);
    stolen.e2e_public =
        p256::elliptic_curve::sec1::ToEncodedPoint::to_encoded_point(&mitm_kp.public_key(), true)
            .as_bytes()
            .to_vec();
    let err = E2eSession::new(
        b"s",
        0,
        kp0,
        &[a0.clone(), stolen.clone()],
        &pki.anchor(),
        &RevocationList::new(),
        NOW,
    )
    .unwrap_err();
    assert!(matches!(err, Error::BadAnnouncementSignature), "{err:?}");

    let digest = [3u8; 32];
    stolen.signature = channel::IdentitySigner::sign_digest(&attacker, &digest)
        .unwrap()
        .to_bytes()
        .to_vec();
    let kp0 = E2eKeyPair::generate(&mut OsRng);
    let err = E2eSession::new(
        b"s",
        0,
        kp0,
        &[stolen],
        &pki.anchor(),
        &RevocationList::new(),
        NOW,
    )
    .unwrap_err();
    assert!(matches!(err, Error::BadAnnouncementSignature), "{err:?}");
}

#[test]
fn announcement_for_another_session_or_duplicate_index_is_rejected() {
    let pki = Pki::new();
    let p = parties(&pki, 3);
    let kps: Vec<E2eKeyPair> = (0..3).map(|_| E2eKeyPair::generate(&mut OsRng)).collect();
    let a0 = PeerAnnouncement::create(b"s", 0, &kps[0], p[0].cert.clone(), &p[0].signer).unwrap();
    let old =
        PeerAnnouncement::create(b"old", 1, &kps[1], p[1].cert.clone(), &p[1].signer).unwrap();
    let dup = PeerAnnouncement::create(b"s", 0, &kps[2], p[2].cert.clone(), &p[2].signer).unwrap();
    let twice =
        PeerAnnouncement::create(b"s", 2, &kps[2], p[0].cert.clone(), &p[0].signer).unwrap();
    let anchor = pki.anchor();
    let none = RevocationList::new();
    let mk = || E2eKeyPair::generate(&mut OsRng);

    let err = E2eSession::new(b"s", 1, mk(), &[a0.clone(), old], &anchor, &none, NOW).unwrap_err();
    assert!(matches!(err, Error::SessionMismatch), "{err:?}");
    let err = E2eSession::new(b"s", 1, mk(), &[a0.clone(), dup], &anchor, &none, NOW).unwrap_err();
    assert!(matches!(err, Error::DuplicateParty(0)), "{err:?}");
    // One SE may not hold two seats.
    let err =
        E2eSession::new(b"s", 1, mk(), &[a0.clone(), twice], &anchor, &none, NOW).unwrap_err();
    assert!(matches!(err, Error::DuplicateParty(2)), "{err:?}");
    // Our own seat announced with a key that is not ours.
    let err = E2eSession::new(b"s", 0, mk(), &[a0], &anchor, &none, NOW).unwrap_err();
    assert!(matches!(err, Error::DuplicateParty(0)), "{err:?}");
}

#[test]
fn announcement_from_a_revoked_se_is_rejected() {
    let pki = Pki::new();
    let p = parties(&pki, 2);
    let kp0 = E2eKeyPair::generate(&mut OsRng);
    let kp1 = E2eKeyPair::generate(&mut OsRng);
    let a1 = PeerAnnouncement::create(b"s", 1, &kp1, p[1].cert.clone(), &p[1].signer).unwrap();
    let mut revoked = RevocationList::new();
    revoked.revoke_se("SE-1");
    let err = E2eSession::new(b"s", 0, kp0, &[a1], &pki.anchor(), &revoked, NOW).unwrap_err();
    assert!(matches!(err, Error::Revoked), "{err:?}");
}
