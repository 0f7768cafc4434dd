//! Compact certificates issued by the offline CA (a P-256 key in the HSM).
//!
//! X.509 would bring a large parser to the most exposed code path for no benefit: the
//! product has exactly one CA and two kinds of subject. A certificate here is the MessagePack
//! encoding of a [`CertificateBody`] plus an ECDSA P-256 signature over
//! SHA-256(`"custody/cert/v1"` || body). The body bytes are kept exactly as signed, so
//! verification never depends on re-encoding. The only way to obtain a
//! [`VerifiedCertificate`] is [`Certificate::verify`], so code that holds one knows the checks
//! were made.

use std::collections::HashSet;
use std::fmt;

use p256::PublicKey;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::wire::{self, decode, encode};
use crate::{Error, IdentitySigner, Result};

/// The certificate format version this crate issues and accepts.
pub const CERTIFICATE_VERSION: u8 = 1;

/// Domain tag prepended to the body before hashing; specified as a plain prefix (not length
/// prefixed) so the format is easy to reproduce in other languages.
const CERT_DOMAIN: &[u8] = b"custody/cert/v1";

/// Whom a certificate is for. The handshake requires a [`Subject::SecureElement`] on the
/// client side and a [`Subject::Server`] on the server side, so a stolen SE certificate can
/// never impersonate the server and vice versa.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Subject {
    /// A manager's secure element, named by its token serial number.
    SecureElement {
        /// The SE's token serial number (unique per SE).
        se_serial: String,
        /// A human-readable label, for display only.
        label: String,
    },
    /// The offline server's HSM channel key.
    Server {
        /// The server's name, for display and logs.
        name: String,
    },
}

impl Subject {
    /// Which kind of subject this is.
    pub fn kind(&self) -> SubjectKind {
        match self {
            Self::SecureElement { .. } => SubjectKind::SecureElement,
            Self::Server { .. } => SubjectKind::Server,
        }
    }
}

/// The kind of a [`Subject`], without its details.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SubjectKind {
    /// A manager's secure element.
    SecureElement,
    /// The offline server.
    Server,
}

impl fmt::Display for SubjectKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::SecureElement => "secure element",
            Self::Server => "server",
        })
    }
}

/// The signed content of a certificate.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CertificateBody {
    /// Format version, [`CERTIFICATE_VERSION`].
    pub version: u8,
    /// The certificate's own serial, unique per CA; revocation can name it.
    pub serial: String,
    /// Whom the key belongs to.
    pub subject: Subject,
    /// The subject's P-256 public key, SEC1 compressed (33 bytes).
    #[serde(with = "serde_bytes")]
    pub public_key: Vec<u8>,
    /// First second (unix time) at which the certificate is valid.
    pub not_before: u64,
    /// Last second (unix time) at which the certificate is valid.
    pub not_after: u64,
    /// SHA-256 of the CA public key, SEC1 compressed.
    #[serde(with = "serde_bytes")]
    pub issuer_key_id: [u8; 32],
}

impl CertificateBody {
    /// Check the body's internal consistency; shared by issuing and verifying so the CA can
    /// never issue something that verifiers would reject.
    fn check(&self) -> Result<PublicKey> {
        if self.version != CERTIFICATE_VERSION {
            return Err(Error::UnsupportedVersion(self.version));
        }
        if self.serial.is_empty() {
            return Err(Error::InvalidCertificate("empty serial"));
        }
        if self.not_before > self.not_after {
            return Err(Error::InvalidCertificate("validity window is inverted"));
        }
        wire::parse_compressed_public_key(&self.public_key)
    }
}

/// A certificate as it travels: the exact signed body bytes and the CA's signature.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Certificate {
    /// MessagePack of the [`CertificateBody`]; these exact bytes are signed.
    #[serde(with = "serde_bytes")]
    pub body: Vec<u8>,
    /// ECDSA P-256 signature, 64 bytes r||s, over SHA-256("custody/cert/v1" || body).
    #[serde(with = "serde_bytes")]
    pub signature: Vec<u8>,
}

fn certificate_digest(body: &[u8]) -> [u8; 32] {
    let mut hasher = Sha256::new();
    hasher.update(CERT_DOMAIN);
    hasher.update(body);
    hasher.finalize().into()
}

impl Certificate {
    /// Issue a certificate: encode `body` and sign it with the CA key behind `ca`.
    ///
    /// Refuses a body that verifiers would reject, or whose `issuer_key_id` does not name `ca`,
    /// and checks the token's signature before returning it, so a faulty token cannot produce
    /// a certificate that fails later in the field.
    pub fn issue(body: &CertificateBody, ca: &dyn IdentitySigner) -> Result<Self> {
        body.check()?;
        let ca_key = ca.public_key();
        if body.issuer_key_id != wire::key_id(&ca_key) {
            return Err(Error::InvalidCertificate(
                "issuer key id does not match the CA key",
            ));
        }
        let body_bytes = encode(body, "certificate body")?;
        let digest = certificate_digest(&body_bytes);
        let signature = wire::signature_bytes(&ca.sign_digest(&digest)?);
        if !wire::verify_digest(&ca_key, &digest, &signature) {
            return Err(Error::BadCertificateSignature);
        }
        Ok(Self {
            body: body_bytes,
            signature,
        })
    }

    /// MessagePack encoding of the whole certificate.
    pub fn to_bytes(&self) -> Result<Vec<u8>> {
        encode(self, "certificate")
    }

    /// Decode a certificate; this does not verify it.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        decode(bytes, "certificate")
    }

    /// Decode the body without verifying anything. For display and for matching a local key
    /// against its own certificate; never base a trust decision on it.
    pub fn unverified_body(&self) -> Result<CertificateBody> {
        decode(&self.body, "certificate body")
    }

    /// Verify issuer, signature, format and validity window at `now` (unix seconds).
    ///
    /// This does not consult revocation; use [`Certificate::verify_not_revoked`] wherever a
    /// peer is being authenticated.
    pub fn verify(&self, anchor: &TrustAnchor, now: u64) -> Result<VerifiedCertificate> {
        let body = self.unverified_body()?;
        if body.issuer_key_id != anchor.key_id() {
            return Err(Error::UnknownIssuer);
        }
        if !wire::verify_digest(
            &anchor.ca_public_key,
            &certificate_digest(&self.body),
            &self.signature,
        ) {
            return Err(Error::BadCertificateSignature);
        }
        let public_key = body.check()?;
        if now < body.not_before {
            return Err(Error::NotYetValid);
        }
        if now > body.not_after {
            return Err(Error::Expired);
        }
        Ok(VerifiedCertificate {
            certificate: self.clone(),
            body,
            public_key,
        })
    }

    /// [`Certificate::verify`], then reject the certificate with [`Error::Revoked`] if
    /// `revocation` lists it or its subject.
    pub fn verify_not_revoked(
        &self,
        anchor: &TrustAnchor,
        revocation: &dyn RevocationCheck,
        now: u64,
    ) -> Result<VerifiedCertificate> {
        let verified = self.verify(anchor, now)?;
        if revocation.is_revoked(verified.serial(), verified.subject()) {
            return Err(Error::Revoked);
        }
        Ok(verified)
    }
}

/// A certificate whose issuer, signature, format and validity were checked.
#[derive(Clone, Debug)]
pub struct VerifiedCertificate {
    certificate: Certificate,
    body: CertificateBody,
    public_key: PublicKey,
}

impl VerifiedCertificate {
    /// The certificate serial.
    pub fn serial(&self) -> &str {
        &self.body.serial
    }

    /// Whom the certificate is for.
    pub fn subject(&self) -> &Subject {
        &self.body.subject
    }

    /// The subject's public key.
    pub fn public_key(&self) -> &PublicKey {
        &self.public_key
    }

    /// The decoded body.
    pub fn body(&self) -> &CertificateBody {
        &self.body
    }

    /// The certificate as it was received.
    pub fn certificate(&self) -> &Certificate {
        &self.certificate
    }

    /// Fail with [`Error::WrongSubject`] unless the subject is of kind `expected`.
    pub fn require_kind(&self, expected: SubjectKind) -> Result<()> {
        if self.body.subject.kind() == expected {
            Ok(())
        } else {
            Err(Error::WrongSubject { expected })
        }
    }
}

/// The trusted offline CA, pinned by its public key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TrustAnchor {
    /// The CA public key.
    pub ca_public_key: PublicKey,
}

impl TrustAnchor {
    /// Trust certificates signed by `ca_public_key`.
    pub fn new(ca_public_key: PublicKey) -> Self {
        Self { ca_public_key }
    }

    /// SHA-256 of the CA key, SEC1 compressed: the `issuer_key_id` of its certificates.
    pub fn key_id(&self) -> [u8; 32] {
        wire::key_id(&self.ca_public_key)
    }
}

/// SHA-256 of a P-256 public key, SEC1 compressed: how certificates name their issuer.
pub fn key_id(key: &PublicKey) -> [u8; 32] {
    wire::key_id(key)
}

/// SEC1 compressed encoding of a public key, as certificates carry it.
pub fn encode_public_key(key: &PublicKey) -> Vec<u8> {
    wire::public_key_bytes(key)
}

/// Port for revocation: the offline database (or a signed list) answers whether a certificate
/// may still be used. The subject is passed so an implementation can revoke a whole SE (every
/// certificate ever issued for it), which is what a lost SE needs.
pub trait RevocationCheck {
    /// `true` if the certificate `cert_serial`, or its `subject`, is revoked.
    fn is_revoked(&self, cert_serial: &str, subject: &Subject) -> bool;
}

/// An in-memory revocation list: certificate serials and SE serials.
#[derive(Clone, Debug, Default)]
pub struct RevocationList {
    certificate_serials: HashSet<String>,
    se_serials: HashSet<String>,
}

impl RevocationList {
    /// An empty list.
    pub fn new() -> Self {
        Self::default()
    }

    /// Revoke one certificate by its serial.
    pub fn revoke_certificate(&mut self, cert_serial: impl Into<String>) {
        self.certificate_serials.insert(cert_serial.into());
    }

    /// Revoke every certificate naming this SE.
    pub fn revoke_se(&mut self, se_serial: impl Into<String>) {
        self.se_serials.insert(se_serial.into());
    }
}

impl RevocationCheck for RevocationList {
    fn is_revoked(&self, cert_serial: &str, subject: &Subject) -> bool {
        if self.certificate_serials.contains(cert_serial) {
            return true;
        }
        match subject {
            Subject::SecureElement { se_serial, .. } => self.se_serials.contains(se_serial),
            Subject::Server { .. } => false,
        }
    }
}
