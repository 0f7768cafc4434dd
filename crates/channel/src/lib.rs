//! The SE↔HSM secure channel and client↔client end-to-end encryption (DESIGN.md §9).
//!
//! This crate is pure cryptography with no I/O, so the same code runs over NATS, over an
//! in-memory transport in tests, or anywhere else bytes can travel. It has four parts:
//! [`cert`] (compact certificates issued by the offline CA and how they are checked),
//! [`handshake`] (a SIGMA-I style mutually authenticated key exchange between an SE and the
//! HSM channel key, modelled on TLS 1.3), [`secure`] (the AEAD frames of an established
//! channel) and [`e2e`] (pairwise end-to-end encryption of protocol round messages between
//! clients, so the coordinator and the bus see ciphertext only). Long-term keys never enter this
//! crate: they stay in their token behind the [`IdentitySigner`] port. Time is always a
//! parameter (`now`, unix seconds) and randomness is always injected, so tests control both.
//! The design and threat model are in `docs/security/channel.md`.

pub mod cert;
pub mod e2e;
pub mod enrolment;
pub mod handshake;
pub mod secure;
mod wire;

pub use cert::{
    Certificate, CertificateBody, RevocationCheck, RevocationList, Subject, SubjectKind,
    TrustAnchor, VerifiedCertificate,
};
pub use e2e::{E2eKeyPair, E2eSession, PeerAnnouncement};
pub use enrolment::{EnrolmentProof, PossessionOnly, VendorAttestation};
pub use handshake::{ClientFinished, ClientHandshake, ClientHello, ServerHandshake, ServerHello};
pub use secure::{Frame, Role, SecureChannel};

/// Something that holds a long-term P-256 identity key (an SE or the HSM) and can sign a
/// SHA-256 digest with it. The private key never leaves the token; only this port is exposed.
pub trait IdentitySigner: Send + Sync {
    /// The public half of the identity key.
    fn public_key(&self) -> p256::PublicKey;
    /// Sign a 32-byte SHA-256 digest (ECDSA P-256, raw prehash signing, e.g. PKCS#11 CKM_ECDSA).
    fn sign_digest(&self, digest: &[u8; 32]) -> Result<p256::ecdsa::Signature, SignerError>;
}

/// Something that holds a non-extractable HMAC-SHA256 key (a zone's HSM) and can MAC data
/// with it: the audit records and bus events of a zone (DESIGN.md §14). The key never leaves
/// the token; callers domain-separate what they MAC (each use prepends its own tag).
pub trait MacKey: Send + Sync {
    /// HMAC-SHA256 of `data`.
    fn mac(&self, data: &[u8]) -> Result<[u8; 32], SignerError>;
}

/// The identity signer could not produce a signature (token removed, session closed…).
#[derive(Debug, thiserror::Error)]
#[error("identity signer failed: {0}")]
pub struct SignerError(pub String);

/// Everything that can go wrong in this crate. The messages name the failed check and never
/// carry key material, plaintext or MAC values, so they are safe to log and to show.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Bytes from the wire did not decode as the expected message.
    #[error("malformed {0}")]
    Malformed(&'static str),
    /// A value could not be encoded (should not happen for well-formed values).
    #[error("could not encode {0}")]
    Encode(&'static str),
    /// The peer speaks a version of the certificate or handshake format we do not.
    #[error("unsupported version {0}")]
    UnsupportedVersion(u8),
    /// A public key is not a valid P-256 point in the expected SEC1 encoding.
    #[error("invalid public key")]
    InvalidPublicKey,
    /// A signature is not a 64-byte r||s P-256 signature.
    #[error("invalid signature encoding")]
    InvalidSignatureEncoding,
    /// The certificate names an issuer other than the trusted CA.
    #[error("certificate is not issued by the trusted CA")]
    UnknownIssuer,
    /// The certificate's signature does not verify under the trusted CA key.
    #[error("certificate signature is invalid")]
    BadCertificateSignature,
    /// The certificate body is inconsistent (empty serial, inverted validity window…).
    #[error("invalid certificate: {0}")]
    InvalidCertificate(&'static str),
    /// `now` is before the certificate's `not_before`.
    #[error("certificate is not valid yet")]
    NotYetValid,
    /// `now` is after the certificate's `not_after`.
    #[error("certificate has expired")]
    Expired,
    /// The certificate (or the SE it names) is on the revocation list.
    #[error("certificate has been revoked")]
    Revoked,
    /// The peer's certificate is valid but for the wrong kind of subject.
    #[error("peer certificate has the wrong subject kind (expected {expected})")]
    WrongSubject {
        /// The kind that this role requires.
        expected: SubjectKind,
    },
    /// A signer's public key does not match the certificate it is used with.
    #[error("the identity key does not match its certificate")]
    KeyMismatch,
    /// The peer's signature over the handshake transcript does not verify.
    #[error("handshake signature is invalid")]
    BadHandshakeSignature,
    /// The peer's Finished MAC does not verify.
    #[error("handshake finished MAC is invalid")]
    BadFinished,
    /// A frame or end-to-end message carries a sequence number other than the next expected one
    /// (a replay, a reordering or a dropped message).
    #[error("unexpected sequence number (expected {expected}, got {got})")]
    UnexpectedSequence {
        /// The only sequence number that would have been accepted.
        expected: u64,
        /// The sequence number that arrived.
        got: u64,
    },
    /// AEAD decryption failed: the ciphertext, its header or its key does not match.
    #[error("decryption failed")]
    Decrypt,
    /// AEAD encryption failed (plaintext too long).
    #[error("encryption failed")]
    Encrypt,
    /// The 64-bit sequence space of a key is used up; a new channel or session is needed.
    #[error("sequence numbers exhausted")]
    SequenceExhausted,
    /// A peer announcement's signature does not verify under its certificate key.
    #[error("peer announcement signature is invalid")]
    BadAnnouncementSignature,
    /// A peer announcement belongs to another session.
    #[error("peer announcement is for another session")]
    SessionMismatch,
    /// Two announcements claim the same party index or the same SE, or our own index is
    /// announced with a key that is not ours.
    #[error("conflicting announcement for party {0}")]
    DuplicateParty(u16),
    /// An SE enrolment proof's signature does not verify under the key it names.
    #[error("the enrolment proof's signature does not verify: it was not made by this SE's identity key for this challenge")]
    BadEnrolmentProof,
    /// No key is established with this party index.
    #[error("unknown party {0}")]
    UnknownParty(u16),
    /// A key derivation or MAC setup failed in a way that well-formed inputs never cause.
    #[error("internal cryptographic error: {0}")]
    Internal(&'static str),
    /// The identity signer (SE or HSM) failed.
    #[error(transparent)]
    Signer(#[from] SignerError),
}

/// The result type of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;
