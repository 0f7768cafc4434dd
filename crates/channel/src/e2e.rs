//! End-to-end encryption of protocol round messages between clients.
//!
//! For each session every client generates a fresh [`E2eKeyPair`] and publishes a
//! [`PeerAnnouncement`]: its party index and E2E public key, signed by its SE identity key
//! and accompanied by the SE certificate. The coordinator relays announcements but cannot
//! forge or alter one, because each is signed by a CA-certified SE. From the verified
//! announcements every client derives one ChaCha20-Poly1305 key per ordered pair of parties
//! (ECDH + HKDF; the info binds the session id, both indices and both public keys), so a
//! message is readable only by its one intended recipient, in this one session.
//!
//! Messages carry a 64-bit per-pair sequence number, which is also the nonce; the receiver
//! accepts only the next one, so duplicates, replays, reorderings and silent drops are
//! detected. Because sequence numbers restart at zero with each [`E2eSession`], the key pair is
//! moved into the session and cannot be cloned or serialised: a restarted client must generate
//! a new key pair and announce it again, and can never reuse a (key, nonce) pair.

use std::collections::{BTreeMap, HashSet};
use std::fmt;

use chacha20poly1305::aead::{Aead, Payload};
use chacha20poly1305::{ChaCha20Poly1305, KeyInit, Nonce};
use p256::{PublicKey, SecretKey};
use rand_core::CryptoRngCore;
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use crate::cert::{
    Certificate, RevocationCheck, Subject, SubjectKind, TrustAnchor, VerifiedCertificate,
};
use crate::wire::{self, decode, encode};
use crate::{Error, IdentitySigner, Result};

const ANNOUNCEMENT_TAG: &[u8] = b"custody/e2e/v1/announcement";
const PAIR_KEY_SALT: &[u8] = b"custody/e2e/v1/pair-key";
const PAIR_KEY_LABEL: &[u8] = b"custody/e2e/v1/pair-key";
const MESSAGE_AAD_TAG: &[u8] = b"custody/e2e/v1/message";

/// Version byte at the start of every end-to-end ciphertext.
pub const E2E_VERSION: u8 = 1;

/// Version byte + 64-bit sequence number.
const HEADER_LEN: usize = 9;

/// A client's per-session end-to-end key pair. The secret zeroizes on drop; there is
/// deliberately no `Clone`, no serialisation and no `Debug` of the secret.
pub struct E2eKeyPair {
    secret: SecretKey,
    public: PublicKey,
}

impl fmt::Debug for E2eKeyPair {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("E2eKeyPair")
            .field("public", &self.public)
            .finish_non_exhaustive()
    }
}

impl E2eKeyPair {
    /// A fresh random key pair.
    pub fn generate(rng: &mut impl CryptoRngCore) -> Self {
        let secret = SecretKey::random(rng);
        let public = secret.public_key();
        Self { secret, public }
    }

    /// The public key to announce.
    pub fn public_key(&self) -> PublicKey {
        self.public
    }
}

/// A client's signed statement "in session S, party I uses E2E key K".
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PeerAnnouncement {
    /// The protocol session this key is for.
    #[serde(with = "serde_bytes")]
    pub session_id: Vec<u8>,
    /// The announcing party's index in the session.
    pub party_index: u16,
    /// The E2E public key, SEC1 compressed.
    #[serde(with = "serde_bytes")]
    pub e2e_public: Vec<u8>,
    /// The announcing SE's certificate.
    pub cert: Certificate,
    /// ECDSA signature (r||s) by the SE identity key over
    /// SHA-256 of the tag "custody/e2e/v1/announcement", session id, index and E2E key.
    #[serde(with = "serde_bytes")]
    pub signature: Vec<u8>,
}

fn announcement_digest(session_id: &[u8], party_index: u16, e2e_public: &[u8]) -> [u8; 32] {
    wire::tagged_digest(
        ANNOUNCEMENT_TAG,
        &[session_id, &party_index.to_be_bytes(), e2e_public],
    )
}

impl PeerAnnouncement {
    /// Sign an announcement with the SE identity key behind `signer`, whose certificate is
    /// `cert`.
    pub fn create(
        session_id: &[u8],
        party_index: u16,
        keypair: &E2eKeyPair,
        cert: Certificate,
        signer: &dyn IdentitySigner,
    ) -> Result<Self> {
        let body = cert.unverified_body()?;
        if body.public_key != wire::public_key_bytes(&signer.public_key()) {
            return Err(Error::KeyMismatch);
        }
        let e2e_public = wire::public_key_bytes(&keypair.public);
        let digest = announcement_digest(session_id, party_index, &e2e_public);
        let signature = wire::signature_bytes(&signer.sign_digest(&digest)?);
        Ok(Self {
            session_id: session_id.to_vec(),
            party_index,
            e2e_public,
            cert,
            signature,
        })
    }

    /// MessagePack encoding.
    pub fn to_bytes(&self) -> Result<Vec<u8>> {
        encode(self, "peer announcement")
    }

    /// Decode an announcement (verified only by [`E2eSession::new`]).
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        decode(bytes, "peer announcement")
    }

    /// Check the certificate, that it names an SE, and the signature; return the certificate
    /// and the E2E key.
    fn verify(
        &self,
        trust: &TrustAnchor,
        revocation: &dyn RevocationCheck,
        now: u64,
    ) -> Result<(VerifiedCertificate, PublicKey)> {
        let cert = self.cert.verify_not_revoked(trust, revocation, now)?;
        cert.require_kind(SubjectKind::SecureElement)?;
        let digest = announcement_digest(&self.session_id, self.party_index, &self.e2e_public);
        if !wire::verify_digest(cert.public_key(), &digest, &self.signature) {
            return Err(Error::BadAnnouncementSignature);
        }
        let e2e_public = wire::parse_compressed_public_key(&self.e2e_public)?;
        Ok((cert, e2e_public))
    }
}

/// Keys and counters shared with one peer.
struct PeerState {
    cert: VerifiedCertificate,
    /// Key for messages from us to the peer.
    send: ChaCha20Poly1305,
    /// Key for messages from the peer to us.
    receive: ChaCha20Poly1305,
    send_seq: u64,
    receive_seq: u64,
}

/// The end-to-end keys of one client in one protocol session.
pub struct E2eSession {
    session_id: Vec<u8>,
    my_index: u16,
    peers: BTreeMap<u16, PeerState>,
}

impl fmt::Debug for E2eSession {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("E2eSession")
            .field("my_index", &self.my_index)
            .field("peers", &self.peers.keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

/// The key for messages from party `from` to party `to` (each given as index and SEC1 key).
fn pair_key(
    shared: &p256::ecdh::SharedSecret,
    session_id: &[u8],
    from: (u16, &[u8]),
    to: (u16, &[u8]),
) -> Result<ChaCha20Poly1305> {
    let prk = wire::hkdf_extract(PAIR_KEY_SALT, wire::secret_bytes(shared));
    let key = wire::hkdf_expand(
        &prk,
        &[
            PAIR_KEY_LABEL,
            session_id,
            &from.0.to_be_bytes(),
            &to.0.to_be_bytes(),
            from.1,
            to.1,
        ],
    )?;
    Ok(ChaCha20Poly1305::new(key.as_ref().into()))
}

fn message_aad(session_id: &[u8], from: u16, to: u16, seq: u64) -> Vec<u8> {
    let mut aad = Vec::with_capacity(MESSAGE_AAD_TAG.len() + session_id.len() + 24);
    aad.extend_from_slice(MESSAGE_AAD_TAG);
    aad.extend_from_slice(&(session_id.len() as u64).to_be_bytes());
    aad.extend_from_slice(session_id);
    aad.extend_from_slice(&from.to_be_bytes());
    aad.extend_from_slice(&to.to_be_bytes());
    aad.extend_from_slice(&seq.to_be_bytes());
    aad
}

impl E2eSession {
    /// Verify every peer's announcement and derive the pairwise keys.
    ///
    /// Every announcement must be for `session_id`, carry a valid, unrevoked SE certificate at
    /// `now` and a valid signature by that SE. No two announcements may share a party index or
    /// an SE. Our own announcement may be in the list (it is simplest to pass everything that
    /// was relayed); if it is, it must carry our own key, so a substituted one is detected.
    pub fn new(
        session_id: &[u8],
        my_index: u16,
        my_keypair: E2eKeyPair,
        announcements: &[PeerAnnouncement],
        trust: &TrustAnchor,
        revocation: &dyn RevocationCheck,
        now: u64,
    ) -> Result<Self> {
        let my_public = wire::public_key_bytes(&my_keypair.public);
        let my_scalar = Zeroizing::new(my_keypair.secret.to_nonzero_scalar());
        let mut seen_indices = HashSet::new();
        let mut seen_ses = HashSet::new();
        let mut peers = BTreeMap::new();
        for announcement in announcements {
            if announcement.session_id != session_id {
                return Err(Error::SessionMismatch);
            }
            let index = announcement.party_index;
            if !seen_indices.insert(index) {
                return Err(Error::DuplicateParty(index));
            }
            let (cert, peer_public) = announcement.verify(trust, revocation, now)?;
            if let Subject::SecureElement { se_serial, .. } = cert.subject() {
                if !seen_ses.insert(se_serial.clone()) {
                    return Err(Error::DuplicateParty(index));
                }
            }
            if index == my_index {
                if announcement.e2e_public != my_public {
                    return Err(Error::DuplicateParty(index));
                }
                continue;
            }
            let peer_bytes = wire::public_key_bytes(&peer_public);
            let shared = p256::ecdh::diffie_hellman(&*my_scalar, peer_public.as_affine());
            let send = pair_key(
                &shared,
                session_id,
                (my_index, &my_public),
                (index, &peer_bytes),
            )?;
            let receive = pair_key(
                &shared,
                session_id,
                (index, &peer_bytes),
                (my_index, &my_public),
            )?;
            peers.insert(
                index,
                PeerState {
                    cert,
                    send,
                    receive,
                    send_seq: 0,
                    receive_seq: 0,
                },
            );
        }
        Ok(Self {
            session_id: session_id.to_vec(),
            my_index,
            peers,
        })
    }

    /// Encrypt `plaintext` for party `to`. Output: version byte, sequence number (8 bytes,
    /// big-endian), ChaCha20-Poly1305 ciphertext and tag.
    pub fn seal(&mut self, to: u16, plaintext: &[u8]) -> Result<Vec<u8>> {
        let aad_prefix = (self.my_index, to);
        let session_id = &self.session_id;
        let peer = self.peers.get_mut(&to).ok_or(Error::UnknownParty(to))?;
        let seq = peer.send_seq;
        let next = seq.checked_add(1).ok_or(Error::SequenceExhausted)?;
        let aad = message_aad(session_id, aad_prefix.0, aad_prefix.1, seq);
        let nonce = wire::nonce_from_sequence(seq);
        let ciphertext = peer
            .send
            .encrypt(
                &Nonce::from(nonce),
                Payload {
                    msg: plaintext,
                    aad: &aad,
                },
            )
            .map_err(|_| Error::Encrypt)?;
        peer.send_seq = next;
        let mut out = Vec::with_capacity(HEADER_LEN + ciphertext.len());
        out.push(E2E_VERSION);
        out.extend_from_slice(&seq.to_be_bytes());
        out.extend_from_slice(&ciphertext);
        Ok(out)
    }

    /// Decrypt a message from party `from`; only its next sequence number is accepted.
    pub fn open(&mut self, from: u16, message: &[u8]) -> Result<Zeroizing<Vec<u8>>> {
        let my_index = self.my_index;
        let session_id = &self.session_id;
        let peer = self.peers.get_mut(&from).ok_or(Error::UnknownParty(from))?;
        let (version, rest) = message
            .split_first()
            .ok_or(Error::Malformed("end-to-end message"))?;
        if *version != E2E_VERSION {
            return Err(Error::UnsupportedVersion(*version));
        }
        let (seq_bytes, ciphertext) = rest
            .split_first_chunk::<8>()
            .ok_or(Error::Malformed("end-to-end message"))?;
        let seq = u64::from_be_bytes(*seq_bytes);
        if seq != peer.receive_seq {
            return Err(Error::UnexpectedSequence {
                expected: peer.receive_seq,
                got: seq,
            });
        }
        let next = seq.checked_add(1).ok_or(Error::SequenceExhausted)?;
        let aad = message_aad(session_id, from, my_index, seq);
        let nonce = wire::nonce_from_sequence(seq);
        let plaintext = peer
            .receive
            .decrypt(
                &Nonce::from(nonce),
                Payload {
                    msg: ciphertext,
                    aad: &aad,
                },
            )
            .map_err(|_| Error::Decrypt)?;
        peer.receive_seq = next;
        Ok(Zeroizing::new(plaintext))
    }

    /// The verified certificate of party `index`, if it is a peer in this session.
    pub fn peer(&self, index: u16) -> Option<&VerifiedCertificate> {
        self.peers.get(&index).map(|p| &p.cert)
    }

    /// The indices of all peers (not including ours).
    pub fn peer_indices(&self) -> impl Iterator<Item = u16> + '_ {
        self.peers.keys().copied()
    }

    /// Our own party index.
    pub fn my_index(&self) -> u16 {
        self.my_index
    }

    /// The session id.
    pub fn session_id(&self) -> &[u8] {
        &self.session_id
    }
}
