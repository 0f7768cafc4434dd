use channel::Error;

use crate::common::World;

#[test]
fn replayed_frame_is_rejected() {
    let world = World::new();
    let (mut client, mut server) = world.handshake();
    let frame = client.seal(b"approve").unwrap();
    assert_eq!(&server.open(&frame).unwrap()[..], b"approve");
    assert!(matches!(
        server.open(&frame),
        Err(Error::UnexpectedSequence {
            expected: 1,
            got: 0
        })
    ));
}

#[test]
fn reordered_frames_are_rejected() {
    let world = World::new();
    let (mut client, mut server) = world.handshake();
    let first = client.seal(b"first").unwrap();
    let second = client.seal(b"second").unwrap();
    assert!(matches!(
        server.open(&second),
        Err(Error::UnexpectedSequence {
            expected: 0,
            got: 1
        })
    ));
    // Rejection does not advance the counter, so the genuine order still works.
    assert_eq!(&server.open(&first).unwrap()[..], b"first");
    assert_eq!(&server.open(&second).unwrap()[..], b"second");
}

#[test]
fn bit_flipped_frame_is_rejected() {
    let world = World::new();
    let (mut client, mut server) = world.handshake();
    let frame = client.seal(b"transfer 1 ETH").unwrap();
    for position in [0, 5, frame.ciphertext.len() - 1] {
        let mut tampered = frame.clone();
        tampered.ciphertext[position] ^= 0x01;
        assert!(matches!(server.open(&tampered), Err(Error::Decrypt)));
    }
    let mut truncated = frame.clone();
    truncated.ciphertext.truncate(10);
    assert!(matches!(server.open(&truncated), Err(Error::Decrypt)));
    assert_eq!(&server.open(&frame).unwrap()[..], b"transfer 1 ETH");
}

#[test]
fn reflected_frame_is_rejected() {
    let world = World::new();
    let (mut client, _server) = world.handshake();
    let frame = client.seal(b"to the server").unwrap();
    assert!(matches!(client.open(&frame), Err(Error::Decrypt)));
}

#[test]
fn frame_from_another_channel_is_rejected() {
    let world = World::new();
    let (mut client_a, _) = world.handshake();
    let (_, mut server_b) = world.handshake();
    let frame = client_a.seal(b"for channel a").unwrap();
    assert!(matches!(server_b.open(&frame), Err(Error::Decrypt)));
}
