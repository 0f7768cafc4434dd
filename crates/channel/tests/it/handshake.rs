use channel::{ClientHandshake, Error, IdentitySigner, Role, ServerHandshake, SubjectKind};
use p256::ecdh::EphemeralSecret;
use p256::elliptic_curve::sec1::ToEncodedPoint;
use rand_core::OsRng;

use crate::common::{se_subject, Pki, SoftSigner, World, NOW, YEAR};

#[test]
fn handshake_succeeds_and_traffic_flows_both_ways() {
    let world = World::new();
    let (mut client, mut server) = world.handshake();

    assert_eq!(client.role(), Role::Client);
    assert_eq!(server.role(), Role::Server);
    assert_eq!(client.binding(), server.binding());
    assert_eq!(client.context(), b"session-1");
    assert_eq!(server.context(), b"session-1");
    assert_eq!(server.peer().subject(), &se_subject("0042"));
    assert_eq!(server.peer().public_key(), &world.se.public_key());
    assert_eq!(client.peer().subject().kind(), SubjectKind::Server);

    for i in 0..3u8 {
        let frame = client.seal(&[i; 40]).unwrap();
        assert_eq!(frame.seq, u64::from(i));
        assert_ne!(frame.ciphertext[..40], [i; 40]);
        assert_eq!(&server.open(&frame).unwrap()[..], &[i; 40]);

        let frame = server.seal(b"reply").unwrap();
        let frame = channel::Frame::from_bytes(&frame.to_bytes().unwrap()).unwrap();
        assert_eq!(&client.open(&frame).unwrap()[..], b"reply");
    }

    // A second handshake between the same parties yields an unrelated channel.
    let (other_client, _) = world.handshake();
    assert_ne!(other_client.binding(), client.binding());

    // Both ends export the same secret per label; labels and channels give unrelated ones,
    // and none is the (public) binding.
    let login = client.export(b"login").unwrap();
    assert_eq!(*login, *server.export(b"login").unwrap());
    assert_ne!(*login, *client.export(b"other").unwrap());
    assert_ne!(*login, *other_client.export(b"login").unwrap());
    assert_ne!(*login, client.binding());
}

#[test]
fn client_rejects_a_server_certificate_not_signed_by_the_ca() {
    let world = World::new();
    let rogue_ca = Pki::new();
    let mitm = SoftSigner::random();
    let mitm_cert = rogue_ca.server_cert(&mitm);
    let anchor = world.pki.anchor();

    let (client, hello) = ClientHandshake::start(world.se_cert.clone(), b"s", &mut OsRng);
    // The MITM answers with its own key, certified by its own CA; it trusts the real CA for the
    // client so its own side of the handshake succeeds.
    let (_, reply) = ServerHandshake::respond(
        &hello,
        &mitm,
        &mitm_cert,
        &anchor,
        &world.revocation,
        NOW,
        &mut OsRng,
    )
    .unwrap();
    let err = client
        .finish(&reply, &world.se, &anchor, &world.revocation, NOW)
        .unwrap_err();
    assert!(matches!(err, Error::UnknownIssuer), "{err:?}");
}

#[test]
fn server_rejects_a_client_certificate_not_signed_by_the_ca() {
    let world = World::new();
    let rogue_ca = Pki::new();
    let mitm = SoftSigner::random();
    let mitm_cert = rogue_ca.se_cert("0042", &mitm);
    let (_, hello) = ClientHandshake::start(mitm_cert, b"s", &mut OsRng);
    let err = ServerHandshake::respond(
        &hello,
        &world.server,
        &world.server_cert,
        &world.pki.anchor(),
        &world.revocation,
        NOW,
        &mut OsRng,
    )
    .unwrap_err();
    assert!(matches!(err, Error::UnknownIssuer), "{err:?}");
}

#[test]
fn mitm_swapping_the_client_ephemeral_is_rejected_by_the_client() {
    let world = World::new();
    let anchor = world.pki.anchor();
    let (client, mut hello) = ClientHandshake::start(world.se_cert.clone(), b"s", &mut OsRng);
    let mitm_ephemeral = EphemeralSecret::random(&mut OsRng);
    hello.client_ephemeral = mitm_ephemeral
        .public_key()
        .to_encoded_point(true)
        .as_bytes()
        .to_vec();
    let (_, reply) = ServerHandshake::respond(
        &hello,
        &world.server,
        &world.server_cert,
        &anchor,
        &world.revocation,
        NOW,
        &mut OsRng,
    )
    .unwrap();
    let err = client
        .finish(&reply, &world.se, &anchor, &world.revocation, NOW)
        .unwrap_err();
    assert!(matches!(err, Error::BadHandshakeSignature), "{err:?}");
}

#[test]
fn mitm_swapping_the_server_ephemeral_is_rejected_by_the_client() {
    let world = World::new();
    let anchor = world.pki.anchor();
    let (client, hello) = ClientHandshake::start(world.se_cert.clone(), b"s", &mut OsRng);
    let (_, mut reply) = ServerHandshake::respond(
        &hello,
        &world.server,
        &world.server_cert,
        &anchor,
        &world.revocation,
        NOW,
        &mut OsRng,
    )
    .unwrap();
    let mitm_ephemeral = EphemeralSecret::random(&mut OsRng);
    reply.server_ephemeral = mitm_ephemeral
        .public_key()
        .to_encoded_point(false)
        .as_bytes()
        .to_vec();
    let err = client
        .finish(&reply, &world.se, &anchor, &world.revocation, NOW)
        .unwrap_err();
    assert!(matches!(err, Error::BadHandshakeSignature), "{err:?}");
}

#[test]
fn tampered_context_is_rejected_by_the_client() {
    let world = World::new();
    let anchor = world.pki.anchor();
    let (client, mut hello) =
        ClientHandshake::start(world.se_cert.clone(), b"session-1", &mut OsRng);
    hello.context = b"session-2".to_vec();
    let (_, reply) = ServerHandshake::respond(
        &hello,
        &world.server,
        &world.server_cert,
        &anchor,
        &world.revocation,
        NOW,
        &mut OsRng,
    )
    .unwrap();
    let err = client
        .finish(&reply, &world.se, &anchor, &world.revocation, NOW)
        .unwrap_err();
    assert!(matches!(err, Error::BadHandshakeSignature), "{err:?}");
}

#[test]
fn client_finished_from_another_handshake_is_rejected_by_the_server() {
    let world = World::new();
    let anchor = world.pki.anchor();
    let run = || {
        let (client, hello) = ClientHandshake::start(world.se_cert.clone(), b"s", &mut OsRng);
        let (server, reply) = ServerHandshake::respond(
            &hello,
            &world.server,
            &world.server_cert,
            &anchor,
            &world.revocation,
            NOW,
            &mut OsRng,
        )
        .unwrap();
        let (_, finished) = client
            .finish(&reply, &world.se, &anchor, &world.revocation, NOW)
            .unwrap();
        (server, finished)
    };
    let (server_a, _) = run();
    let (_, finished_b) = run();
    assert!(matches!(
        server_a.finish(&finished_b),
        Err(Error::BadHandshakeSignature)
    ));
}

#[test]
fn tampered_client_finished_is_rejected_by_the_server() {
    let world = World::new();
    let anchor = world.pki.anchor();
    let (client, hello) = ClientHandshake::start(world.se_cert.clone(), b"s", &mut OsRng);
    let (server, reply) = ServerHandshake::respond(
        &hello,
        &world.server,
        &world.server_cert,
        &anchor,
        &world.revocation,
        NOW,
        &mut OsRng,
    )
    .unwrap();
    let (_, mut finished) = client
        .finish(&reply, &world.se, &anchor, &world.revocation, NOW)
        .unwrap();
    finished.client_finished[31] ^= 0x80;
    assert!(matches!(server.finish(&finished), Err(Error::BadFinished)));
}

#[test]
fn tampered_server_finished_is_rejected_by_the_client() {
    let world = World::new();
    let anchor = world.pki.anchor();
    let (client, hello) = ClientHandshake::start(world.se_cert.clone(), b"s", &mut OsRng);
    let (_, mut reply) = ServerHandshake::respond(
        &hello,
        &world.server,
        &world.server_cert,
        &anchor,
        &world.revocation,
        NOW,
        &mut OsRng,
    )
    .unwrap();
    reply.server_finished[0] ^= 1;
    let err = client
        .finish(&reply, &world.se, &anchor, &world.revocation, NOW)
        .unwrap_err();
    assert!(matches!(err, Error::BadFinished), "{err:?}");
}

#[test]
fn expired_client_certificate_is_rejected_by_the_server() {
    let world = World::new();
    let expired = world
        .pki
        .issue(se_subject("0042"), &world.se, (NOW - 2 * YEAR, NOW - 1));
    let (_, hello) = ClientHandshake::start(expired, b"s", &mut OsRng);
    let err = ServerHandshake::respond(
        &hello,
        &world.server,
        &world.server_cert,
        &world.pki.anchor(),
        &world.revocation,
        NOW,
        &mut OsRng,
    )
    .unwrap_err();
    assert!(matches!(err, Error::Expired), "{err:?}");
}

#[test]
fn expired_server_certificate_is_rejected_by_the_client() {
    let world = World::new();
    let anchor = world.pki.anchor();
    let (client, hello) = ClientHandshake::start(world.se_cert.clone(), b"s", &mut OsRng);
    let (_, reply) = ServerHandshake::respond(
        &hello,
        &world.server,
        &world.server_cert,
        &anchor,
        &world.revocation,
        NOW,
        &mut OsRng,
    )
    .unwrap();
    // The client's clock is past the server certificate's end of validity.
    let err = client
        .finish(
            &reply,
            &world.se,
            &anchor,
            &world.revocation,
            NOW + 2 * YEAR,
        )
        .unwrap_err();
    assert!(matches!(err, Error::Expired), "{err:?}");
}

#[test]
fn revoked_se_certificate_is_rejected_by_the_server() {
    let mut world = World::new();
    world.revocation.revoke_se("0042");
    let (_, hello) = ClientHandshake::start(world.se_cert.clone(), b"s", &mut OsRng);
    let err = ServerHandshake::respond(
        &hello,
        &world.server,
        &world.server_cert,
        &world.pki.anchor(),
        &world.revocation,
        NOW,
        &mut OsRng,
    )
    .unwrap_err();
    assert!(matches!(err, Error::Revoked), "{err:?}");
}

#[test]
fn client_certificate_presented_as_server_is_rejected() {
    let world = World::new();
    let anchor = world.pki.anchor();
    // An attacker who controls another SE (valid SE certificate) tries to act as the server.
    let rogue_se = SoftSigner::random();
    let rogue_se_cert = world.pki.se_cert("0099", &rogue_se);
    let (client, hello) = ClientHandshake::start(world.se_cert.clone(), b"s", &mut OsRng);
    let (_, reply) = ServerHandshake::respond(
        &hello,
        &rogue_se,
        &rogue_se_cert,
        &anchor,
        &world.revocation,
        NOW,
        &mut OsRng,
    )
    .unwrap();
    let err = client
        .finish(&reply, &world.se, &anchor, &world.revocation, NOW)
        .unwrap_err();
    assert!(
        matches!(
            err,
            Error::WrongSubject {
                expected: SubjectKind::Server
            }
        ),
        "{err:?}"
    );
}

#[test]
fn server_certificate_presented_as_client_is_rejected() {
    let world = World::new();
    let (_, hello) = ClientHandshake::start(world.server_cert.clone(), b"s", &mut OsRng);
    let err = ServerHandshake::respond(
        &hello,
        &world.server,
        &world.server_cert,
        &world.pki.anchor(),
        &world.revocation,
        NOW,
        &mut OsRng,
    )
    .unwrap_err();
    assert!(
        matches!(
            err,
            Error::WrongSubject {
                expected: SubjectKind::SecureElement
            }
        ),
        "{err:?}"
    );
}

#[test]
fn signer_that_does_not_match_its_certificate_is_refused_locally() {
    let world = World::new();
    let (_, hello) = ClientHandshake::start(world.se_cert.clone(), b"s", &mut OsRng);
    let wrong = SoftSigner::random();
    let err = ServerHandshake::respond(
        &hello,
        &wrong,
        &world.server_cert,
        &world.pki.anchor(),
        &world.revocation,
        NOW,
        &mut OsRng,
    )
    .unwrap_err();
    assert!(matches!(err, Error::KeyMismatch), "{err:?}");
}

#[test]
fn stolen_certificate_without_the_key_cannot_complete_the_handshake() {
    let world = World::new();
    let anchor = world.pki.anchor();
    // The attacker replays the victim SE's (public) certificate but signs with its own key; the
    // local key check is bypassed by answering with a hand-made ClientFinished.
    let (_, hello) = ClientHandshake::start(world.se_cert.clone(), b"s", &mut OsRng);
    let (server, _) = ServerHandshake::respond(
        &hello,
        &world.server,
        &world.server_cert,
        &anchor,
        &world.revocation,
        NOW,
        &mut OsRng,
    )
    .unwrap();
    assert_eq!(server.pending_client().subject(), &se_subject("0042"));
    let attacker = SoftSigner::random();
    let forged = channel::ClientFinished {
        client_signature: attacker.sign_digest(&[7; 32]).unwrap().to_bytes().to_vec(),
        client_finished: [0; 32],
    };
    assert!(matches!(
        server.finish(&forged),
        Err(Error::BadHandshakeSignature)
    ));
}
