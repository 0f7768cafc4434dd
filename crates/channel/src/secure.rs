//! An established channel: ChaCha20-Poly1305 frames with a 64-bit sequence number per
//! direction.
//!
//! Each direction has its own key, the nonce is the sequence number, and the sequence number
//! and direction are also authenticated as associated data. The receiver accepts only the next
//! expected sequence number, so a replayed, reordered, dropped-then-later or reflected frame is
//! rejected. A failed `open` does not advance the counter, so injected garbage cannot
//! desynchronise the channel.

use std::fmt;

use chacha20poly1305::aead::{Aead, Payload};
use chacha20poly1305::{ChaCha20Poly1305, KeyInit, Nonce};
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use crate::cert::VerifiedCertificate;
use crate::wire::{self, decode, encode};
use crate::{Error, Result};

const FRAME_AAD_TAG: &[u8] = b"custody/channel/v1/frame";

/// Which end of the channel this is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// The SE side, which started the handshake.
    Client,
    /// The HSM side.
    Server,
}

/// Direction byte in the associated data. Keys are already per direction; authenticating the
/// direction too means that even a key-derivation mistake could not make a reflected frame
/// decrypt.
const CLIENT_TO_SERVER: u8 = 1;
const SERVER_TO_CLIENT: u8 = 2;

/// One encrypted frame.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Frame {
    /// The sender's sequence number for this frame (0, 1, 2, …).
    pub seq: u64,
    /// ChaCha20-Poly1305 ciphertext with its 16-byte tag.
    #[serde(with = "serde_bytes")]
    pub ciphertext: Vec<u8>,
}

impl Frame {
    /// MessagePack encoding.
    pub fn to_bytes(&self) -> Result<Vec<u8>> {
        encode(self, "frame")
    }

    /// Decode a frame (nothing is authenticated until [`SecureChannel::open`]).
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        decode(bytes, "frame")
    }
}

/// A mutually authenticated, encrypted channel produced by the handshake. Keys are zeroized
/// when it is dropped (the cipher instances zeroize their keys on drop).
pub struct SecureChannel {
    role: Role,
    send: ChaCha20Poly1305,
    receive: ChaCha20Poly1305,
    send_seq: u64,
    receive_seq: u64,
    exporter: Zeroizing<[u8; 32]>,
    peer: VerifiedCertificate,
    binding: [u8; 32],
    context: Vec<u8>,
}

impl fmt::Debug for SecureChannel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SecureChannel")
            .field("role", &self.role)
            .field("peer", &self.peer.subject())
            .field("send_seq", &self.send_seq)
            .field("receive_seq", &self.receive_seq)
            .finish_non_exhaustive()
    }
}

fn frame_aad(direction: u8, seq: u64) -> Vec<u8> {
    let mut aad = Vec::with_capacity(FRAME_AAD_TAG.len() + 9);
    aad.extend_from_slice(FRAME_AAD_TAG);
    aad.push(direction);
    aad.extend_from_slice(&seq.to_be_bytes());
    aad
}

impl SecureChannel {
    pub(crate) fn new(
        role: Role,
        client_to_server: &Zeroizing<[u8; 32]>,
        server_to_client: &Zeroizing<[u8; 32]>,
        exporter: Zeroizing<[u8; 32]>,
        peer: VerifiedCertificate,
        binding: [u8; 32],
        context: Vec<u8>,
    ) -> Self {
        let c2s = ChaCha20Poly1305::new(client_to_server.as_ref().into());
        let s2c = ChaCha20Poly1305::new(server_to_client.as_ref().into());
        let (send, receive) = match role {
            Role::Client => (c2s, s2c),
            Role::Server => (s2c, c2s),
        };
        Self {
            role,
            send,
            receive,
            send_seq: 0,
            receive_seq: 0,
            exporter,
            peer,
            binding,
            context,
        }
    }

    fn directions(&self) -> (u8, u8) {
        match self.role {
            Role::Client => (CLIENT_TO_SERVER, SERVER_TO_CLIENT),
            Role::Server => (SERVER_TO_CLIENT, CLIENT_TO_SERVER),
        }
    }

    /// Encrypt the next frame.
    ///
    /// Fails with [`Error::SequenceExhausted`] after 2^64 - 1 frames rather than ever reusing
    /// a nonce.
    pub fn seal(&mut self, plaintext: &[u8]) -> Result<Frame> {
        let seq = self.send_seq;
        let next = seq.checked_add(1).ok_or(Error::SequenceExhausted)?;
        let (send_direction, _) = self.directions();
        let aad = frame_aad(send_direction, seq);
        let nonce = wire::nonce_from_sequence(seq);
        let ciphertext = self
            .send
            .encrypt(
                &Nonce::from(nonce),
                Payload {
                    msg: plaintext,
                    aad: &aad,
                },
            )
            .map_err(|_| Error::Encrypt)?;
        self.send_seq = next;
        Ok(Frame { seq, ciphertext })
    }

    /// Decrypt a frame; only the next expected sequence number is accepted.
    pub fn open(&mut self, frame: &Frame) -> Result<Zeroizing<Vec<u8>>> {
        if frame.seq != self.receive_seq {
            return Err(Error::UnexpectedSequence {
                expected: self.receive_seq,
                got: frame.seq,
            });
        }
        let next = frame.seq.checked_add(1).ok_or(Error::SequenceExhausted)?;
        let (_, receive_direction) = self.directions();
        let aad = frame_aad(receive_direction, frame.seq);
        let nonce = wire::nonce_from_sequence(frame.seq);
        let plaintext = self
            .receive
            .decrypt(
                &Nonce::from(nonce),
                Payload {
                    msg: &frame.ciphertext,
                    aad: &aad,
                },
            )
            .map_err(|_| Error::Decrypt)?;
        self.receive_seq = next;
        Ok(Zeroizing::new(plaintext))
    }

    /// The authenticated peer: an SE certificate on the server side, the server certificate on
    /// the client side.
    pub fn peer(&self) -> &VerifiedCertificate {
        &self.peer
    }

    /// The hash of the complete handshake transcript. Both ends compute the same value, and no
    /// other channel has it, so upper layers can bind their own messages to this channel (for
    /// example by signing it). It is not secret.
    pub fn binding(&self) -> [u8; 32] {
        self.binding
    }

    /// A 32-byte secret that only the two ends of this channel can compute, for `label`
    /// (HKDF-Expand of the channel's exporter secret; different labels give unrelated
    /// secrets, and no frame key can be derived from one). Upper layers use it to prove
    /// elsewhere that they hold this channel, for example to log in to the channel's subjects.
    pub fn export(&self, label: &[u8]) -> Result<Zeroizing<[u8; 32]>> {
        wire::hkdf_expand(&self.exporter, &[label])
    }

    /// The context bytes (for example a session id) that the client put in its hello, which
    /// both signatures cover.
    pub fn context(&self) -> &[u8] {
        &self.context
    }

    /// Which end of the channel this is.
    pub fn role(&self) -> Role {
        self.role
    }
}
