//! The offline server's HSM: a PKCS#11 token holding the offline zone's five long-term keys.
//!
//! Each key has exactly one purpose, so a signature made for one can never be presented as
//! another, and compromise or misuse of one API cannot spend another key's authority:
//!
//! | label | purpose | exposed as |
//! |---|---|---|
//! | `custody-ca` | the offline CA: signs SE certificates and the server's channel certificate | [`Hsm::issue_se_certificate`] only |
//! | `custody-channel` | the server's identity in the SE↔server channel handshake | [`Hsm::channel_signer`] + [`Hsm::channel_certificate`] |
//! | `custody-envelope` | signs cross-zone envelopes (responses, account manifests) | [`Hsm::sign_envelope`] |
//! | `custody-audit-checkpoint` | signs audit-log checkpoints | [`Hsm::checkpoint_signer`] |
//! | `custody-audit-mac` | HMAC-SHA256 of every audit record and bus event | [`Hsm::audit_mac_key`] |
//!
//! The first four are P-256 key pairs, the last a 256-bit generic secret; all are generated on
//! the token as sensitive and non-extractable; this crate checks those attributes at
//! provisioning and at every open, so a token that silently ignored the template is refused. The CA key never signs anything but certificates built
//! here: there is no raw "sign this digest with the CA" method. PINs arrive as `SecretString`
//! and go straight to the token. Time is a parameter (`now`, unix seconds).

mod export;

use std::sync::{Arc, Mutex, MutexGuard};

pub use export::{
    OnlineHsm, OnlineMacKey, OnlineSigner, EXPORT_KEY_LABEL, ONLINE_AUDIT_KEY_LABEL,
    ONLINE_AUDIT_MAC_KEY_LABEL,
};

use channel::cert::{encode_public_key, key_id};
use channel::{Certificate, CertificateBody, IdentitySigner, SignerError, Subject, TrustAnchor};
use p11::cryptoki::object::{AttributeType, ObjectClass, ObjectHandle};
use p256::ecdsa::Signature;
use p256::PublicKey;
use rand_core::{OsRng, RngCore};
use secrecy::SecretString;

/// Label of the offline CA key pair.
pub const CA_KEY_LABEL: &str = "custody-ca";
/// Label of the channel (server identity) key pair.
pub const CHANNEL_KEY_LABEL: &str = "custody-channel";
/// Label of the envelope-signing key pair.
pub const ENVELOPE_KEY_LABEL: &str = "custody-envelope";
/// Label of the audit-checkpoint key pair.
pub const AUDIT_KEY_LABEL: &str = "custody-audit-checkpoint";
/// Label of the audit MAC key (a generic secret for HMAC-SHA256).
pub const AUDIT_MAC_KEY_LABEL: &str = "custody-audit-mac";
/// Label of the data object holding the channel key's certificate.
pub const CHANNEL_CERT_LABEL: &str = "custody-channel-certificate";

const ALL_KEY_LABELS: [&str; 4] = [
    CA_KEY_LABEL,
    CHANNEL_KEY_LABEL,
    ENVELOPE_KEY_LABEL,
    AUDIT_KEY_LABEL,
];

/// Validity of the server's channel certificate issued at provisioning: five years. The CA
/// key lives in the same token, so renewal is a local operation, but it should be rare.
pub const CHANNEL_CERT_VALIDITY_SECONDS: u64 = 5 * 365 * 24 * 3600;

/// Errors from the HSM layer. None carries a PIN or key material.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The PKCS#11 layer failed (including a wrong PIN: `p11::Error::PinIncorrect`).
    #[error(transparent)]
    P11(#[from] p11::Error),
    /// Certificate encoding or verification failed.
    #[error(transparent)]
    Channel(#[from] channel::Error),
    /// The token already holds one of the custody keys; provisioning never overwrites keys.
    #[error("the token already holds the key {0:?}; refusing to overwrite it")]
    AlreadyProvisioned(&'static str),
    /// The token lacks one of the custody keys: it was not provisioned, or was tampered with.
    #[error("the token has no {0:?} key pair")]
    MissingKey(&'static str),
    /// A key on the token is extractable or not sensitive.
    #[error("the key {0:?} is not protected (sensitive and non-extractable) on the token")]
    KeyNotProtected(&'static str),
    /// The token has no channel certificate.
    #[error("the token holds no channel certificate")]
    MissingChannelCertificate,
    /// The stored channel certificate is not for the channel key or not issued by the CA key.
    #[error("the stored channel certificate does not match the token's keys")]
    ChannelCertificateMismatch,
    /// A certificate request was refused.
    #[error("invalid certificate request: {0}")]
    InvalidRequest(&'static str),
}

/// Result alias for this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// How to find the HSM token.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TokenSelector {
    /// The only token with this label.
    Label(String),
    /// The token with this serial number.
    Serial(String),
}

/// A private key handle and its public key.
#[derive(Clone, Copy, Debug)]
struct Key {
    private: ObjectHandle,
    public: PublicKey,
}

struct Inner {
    // One logged-in session, serialised by a mutex: PKCS#11 sessions must not be used from two
    // threads at once, and the HSM is not a throughput bottleneck of the offline server.
    session: Mutex<p11::Session>,
    token_serial: String,
    ca: Key,
    channel: Key,
    envelope: Key,
    audit: Key,
    audit_mac: ObjectHandle,
    channel_certificate: Certificate,
}

/// The offline server's HSM, logged in. Cheap to clone (all clones share one session).
#[derive(Clone)]
pub struct Hsm {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Hsm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Hsm")
            .field("token_serial", &self.inner.token_serial)
            .finish_non_exhaustive()
    }
}

/// Refuse a key the token would let out, whatever the template asked for.
fn ensure_protected(
    session: &p11::Session,
    private: ObjectHandle,
    label: &'static str,
) -> Result<()> {
    let sensitive = session.bool_attribute(private, AttributeType::Sensitive)?;
    let extractable = session.bool_attribute(private, AttributeType::Extractable)?;
    if sensitive == Some(true) && extractable == Some(false) {
        Ok(())
    } else {
        Err(Error::KeyNotProtected(label))
    }
}

/// The HMAC key labelled `label`, checked to be protected.
fn load_mac_key(session: &p11::Session, label: &'static str) -> Result<ObjectHandle> {
    let key = session
        .find_key(ObjectClass::SECRET_KEY, label)?
        .ok_or(Error::MissingKey(label))?;
    ensure_protected(session, key, label)?;
    Ok(key)
}

/// HMAC-SHA256 on the token, for the [`channel::MacKey`] port.
fn token_mac(
    session: &Mutex<p11::Session>,
    key: ObjectHandle,
    data: &[u8],
) -> Result<[u8; 32], SignerError> {
    lock(session)
        .hmac_sha256(key, data)
        .map_err(|e| SignerError(e.to_string()))
}

fn load_key(session: &p11::Session, label: &'static str) -> Result<Key> {
    let private = session
        .find_key(ObjectClass::PRIVATE_KEY, label)?
        .ok_or(Error::MissingKey(label))?;
    let public = session
        .find_key(ObjectClass::PUBLIC_KEY, label)?
        .ok_or(Error::MissingKey(label))?;
    ensure_protected(session, private, label)?;
    Ok(Key {
        private,
        public: session.p256_public_key(public)?,
    })
}

/// A fresh certificate serial: 128 random bits in hex. Randomness makes serials unique without
/// a counter that would have to survive restarts and could be rolled back with a backup.
fn new_serial(prefix: &str) -> String {
    let mut bytes = [0u8; 16];
    OsRng.fill_bytes(&mut bytes);
    format!("{prefix}-{}", hex::encode(bytes))
}

/// The CA key as an `IdentitySigner`, private to this crate so that the CA key can only sign
/// certificates that this crate builds.
struct CaSigner<'a> {
    session: &'a Mutex<p11::Session>,
    key: Key,
}

impl IdentitySigner for CaSigner<'_> {
    fn public_key(&self) -> PublicKey {
        self.key.public
    }

    fn sign_digest(&self, digest: &[u8; 32]) -> Result<Signature, SignerError> {
        lock(self.session)
            .sign_p256_digest(self.key.private, digest)
            .map_err(|e| SignerError(e.to_string()))
    }
}

/// Lock the session. A panic while holding the lock cannot leave it half-updated in a way we
/// rely on (each use is one PKCS#11 operation), so recover from poisoning.
fn lock(session: &Mutex<p11::Session>) -> MutexGuard<'_, p11::Session> {
    session
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn issue(
    session: &Mutex<p11::Session>,
    ca: Key,
    subject: Subject,
    subject_key: &PublicKey,
    not_before: u64,
    not_after: u64,
) -> Result<Certificate> {
    let serial_prefix = match subject {
        Subject::SecureElement { .. } => "se",
        Subject::Server { .. } => "server",
    };
    let body = CertificateBody {
        version: channel::cert::CERTIFICATE_VERSION,
        serial: new_serial(serial_prefix),
        subject,
        public_key: encode_public_key(subject_key),
        not_before,
        not_after,
        issuer_key_id: key_id(&ca.public),
    };
    Ok(Certificate::issue(&body, &CaSigner { session, key: ca })?)
}

impl Hsm {
    /// Provision the HSM: initialise a token labelled `token_label` (or use an existing,
    /// already initialised one with that label), generate the four custody keys, and issue and
    /// store the channel key's `Server` certificate, valid from `now` for
    /// [`CHANNEL_CERT_VALIDITY_SECONDS`].
    ///
    /// Refuses with [`Error::AlreadyProvisioned`] if any custody key already exists: keys are
    /// never replaced, because replacing the CA or envelope key would silently invalidate every
    /// certificate and pinned key in the field. Never re-initialises an existing token. If
    /// provisioning is interrupted after some keys were generated, the token must be
    /// re-initialised by an operator with the SO PIN before trying again; this is deliberate.
    pub fn provision(
        module: &p11::Module,
        token_label: &str,
        so_pin: &SecretString,
        user_pin: &SecretString,
        server_name: &str,
        now: u64,
    ) -> Result<Hsm> {
        if server_name.is_empty() {
            return Err(Error::InvalidRequest("empty server name"));
        }
        let token = match module.find_by_label(token_label) {
            Ok(existing) => existing,
            Err(p11::Error::LabelNotFound { .. }) => {
                module.init_token(token_label, so_pin, user_pin)?
            }
            Err(other) => return Err(other.into()),
        };
        let session = module.open(&token)?;
        session.login_user(user_pin)?;
        for label in ALL_KEY_LABELS {
            if session.find_key(ObjectClass::PRIVATE_KEY, label)?.is_some()
                || session.find_key(ObjectClass::PUBLIC_KEY, label)?.is_some()
            {
                return Err(Error::AlreadyProvisioned(label));
            }
        }
        if session
            .find_key(ObjectClass::SECRET_KEY, AUDIT_MAC_KEY_LABEL)?
            .is_some()
        {
            return Err(Error::AlreadyProvisioned(AUDIT_MAC_KEY_LABEL));
        }
        for label in ALL_KEY_LABELS {
            session.generate_p256_keypair(label)?;
        }
        session.generate_hmac_key(AUDIT_MAC_KEY_LABEL)?;
        let ca = load_key(&session, CA_KEY_LABEL)?;
        let channel = load_key(&session, CHANNEL_KEY_LABEL)?;
        let session = Mutex::new(session);
        let not_after = now
            .checked_add(CHANNEL_CERT_VALIDITY_SECONDS)
            .ok_or(Error::InvalidRequest("validity overflows"))?;
        let certificate = issue(
            &session,
            ca,
            Subject::Server {
                name: server_name.to_owned(),
            },
            &channel.public,
            now,
            not_after,
        )?;
        // Private, so only a logged-in user can replace it; `open` verifies it anyway.
        let session = session
            .into_inner()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        session.put_data(CHANNEL_CERT_LABEL, &certificate.to_bytes()?, true)?;
        Self::from_session(session, token.serial)
    }

    /// Open a provisioned HSM token and log in with the user PIN.
    pub fn open(
        module: &p11::Module,
        token: &TokenSelector,
        user_pin: &SecretString,
    ) -> Result<Hsm> {
        let summary = match token {
            TokenSelector::Label(label) => module.find_by_label(label)?,
            TokenSelector::Serial(serial) => module.find_by_serial(serial)?,
        };
        let session = module.open(&summary)?;
        session.login_user(user_pin)?;
        Self::from_session(session, summary.serial)
    }

    /// Load and check the keys and the channel certificate from a logged-in session.
    fn from_session(session: p11::Session, token_serial: String) -> Result<Hsm> {
        let ca = load_key(&session, CA_KEY_LABEL)?;
        let channel = load_key(&session, CHANNEL_KEY_LABEL)?;
        let envelope = load_key(&session, ENVELOPE_KEY_LABEL)?;
        let audit = load_key(&session, AUDIT_KEY_LABEL)?;
        let audit_mac = load_mac_key(&session, AUDIT_MAC_KEY_LABEL)?;
        let bytes = session
            .get_data(CHANNEL_CERT_LABEL)?
            .ok_or(Error::MissingChannelCertificate)?;
        let channel_certificate = Certificate::from_bytes(&bytes)?;
        let body = channel_certificate.unverified_body()?;
        // Check issuer and signature with a time inside the window: whether the certificate is
        // still current is for peers to decide at their `now`; here we only make sure the token
        // holds a genuine certificate for its own channel key.
        let verified = channel_certificate
            .verify(&TrustAnchor::new(ca.public), body.not_before)
            .map_err(|_| Error::ChannelCertificateMismatch)?;
        if verified.public_key() != &channel.public
            || !matches!(verified.subject(), Subject::Server { .. })
        {
            return Err(Error::ChannelCertificateMismatch);
        }
        Ok(Hsm {
            inner: Arc::new(Inner {
                session: Mutex::new(session),
                token_serial,
                ca,
                channel,
                envelope,
                audit,
                audit_mac,
                channel_certificate,
            }),
        })
    }

    fn session(&self) -> MutexGuard<'_, p11::Session> {
        lock(&self.inner.session)
    }

    /// The serial number of the HSM token.
    pub fn token_serial(&self) -> &str {
        &self.inner.token_serial
    }

    /// The offline CA public key.
    pub fn ca_public_key(&self) -> PublicKey {
        self.inner.ca.public
    }

    /// The trust anchor for verifying certificates this CA issued.
    pub fn trust_anchor(&self) -> TrustAnchor {
        TrustAnchor::new(self.inner.ca.public)
    }

    /// Issue a certificate for an SE's identity key, valid from `now` for `validity_seconds`.
    /// Each certificate gets a fresh random serial.
    pub fn issue_se_certificate(
        &self,
        se_serial: &str,
        label: &str,
        se_public_key: &PublicKey,
        validity_seconds: u64,
        now: u64,
    ) -> Result<Certificate> {
        if se_serial.is_empty() {
            return Err(Error::InvalidRequest("empty SE serial"));
        }
        if validity_seconds == 0 {
            return Err(Error::InvalidRequest("zero validity"));
        }
        let inner = &self.inner;
        // An SE certificate for one of our own keys would let that key act as a client.
        if [inner.ca, inner.channel, inner.envelope, inner.audit]
            .iter()
            .any(|k| &k.public == se_public_key)
        {
            return Err(Error::InvalidRequest("the key belongs to the HSM"));
        }
        let not_after = now
            .checked_add(validity_seconds)
            .ok_or(Error::InvalidRequest("validity overflows"))?;
        issue(
            &inner.session,
            inner.ca,
            Subject::SecureElement {
                se_serial: se_serial.to_owned(),
                label: label.to_owned(),
            },
            se_public_key,
            now,
            not_after,
        )
    }

    /// The channel key as an [`IdentitySigner`] for [`channel::ServerHandshake::respond`].
    pub fn channel_signer(&self) -> ChannelSigner {
        ChannelSigner { hsm: self.clone() }
    }

    /// The channel key's `Server` certificate, issued by the CA at provisioning.
    pub fn channel_certificate(&self) -> &Certificate {
        &self.inner.channel_certificate
    }

    /// The public key that verifies envelope signatures (pinned by the online zone).
    pub fn envelope_public_key(&self) -> PublicKey {
        self.inner.envelope.public
    }

    /// Sign the SHA-256 digest of a cross-zone envelope (responses, account manifests). The
    /// envelope format is responsible for domain-separating what it hashes.
    pub fn sign_envelope(&self, digest: &[u8; 32]) -> Result<Signature> {
        Ok(self
            .session()
            .sign_p256_digest(self.inner.envelope.private, digest)?)
    }

    /// The public key that verifies audit checkpoints.
    pub fn audit_public_key(&self) -> PublicKey {
        self.inner.audit.public
    }

    /// Sign the SHA-256 digest of an audit-log checkpoint.
    pub fn sign_audit_checkpoint(&self, digest: &[u8; 32]) -> Result<Signature> {
        Ok(self
            .session()
            .sign_p256_digest(self.inner.audit.private, digest)?)
    }

    /// The audit-checkpoint key as an [`IdentitySigner`], for
    /// `contracts::AuditCheckpoint::sign`.
    pub fn checkpoint_signer(&self) -> CheckpointSigner {
        CheckpointSigner { hsm: self.clone() }
    }

    /// The audit MAC key behind the [`channel::MacKey`] port: the MAC of every audit record
    /// and every bus event of the offline zone.
    pub fn audit_mac_key(&self) -> AuditMacKey {
        AuditMacKey { hsm: self.clone() }
    }
}

/// The HSM's audit-checkpoint key behind the [`IdentitySigner`] port.
#[derive(Clone, Debug)]
pub struct CheckpointSigner {
    hsm: Hsm,
}

impl IdentitySigner for CheckpointSigner {
    fn public_key(&self) -> PublicKey {
        self.hsm.audit_public_key()
    }

    fn sign_digest(&self, digest: &[u8; 32]) -> Result<Signature, SignerError> {
        self.hsm
            .sign_audit_checkpoint(digest)
            .map_err(|e| SignerError(e.to_string()))
    }
}

/// The HSM's audit MAC key behind the [`channel::MacKey`] port.
#[derive(Clone, Debug)]
pub struct AuditMacKey {
    hsm: Hsm,
}

impl channel::MacKey for AuditMacKey {
    fn mac(&self, data: &[u8]) -> Result<[u8; 32], SignerError> {
        token_mac(&self.hsm.inner.session, self.hsm.inner.audit_mac, data)
    }
}

/// The HSM channel key behind the [`IdentitySigner`] port. Owns a handle on the HSM, so it can
/// live as long as the server's handshakes need it.
#[derive(Clone, Debug)]
pub struct ChannelSigner {
    hsm: Hsm,
}

impl IdentitySigner for ChannelSigner {
    fn public_key(&self) -> PublicKey {
        self.hsm.inner.channel.public
    }

    fn sign_digest(&self, digest: &[u8; 32]) -> Result<Signature, SignerError> {
        self.hsm
            .session()
            .sign_p256_digest(self.hsm.inner.channel.private, digest)
            .map_err(|e| SignerError(e.to_string()))
    }
}

/// The HSM's envelope key behind the [`IdentitySigner`] port, for `contracts::Envelope::seal`
/// (signature responses and account manifests leaving the offline zone).
#[derive(Clone, Debug)]
pub struct EnvelopeSigner {
    hsm: Hsm,
}

impl Hsm {
    /// The envelope key as an [`IdentitySigner`].
    pub fn envelope_signer(&self) -> EnvelopeSigner {
        EnvelopeSigner { hsm: self.clone() }
    }
}

impl IdentitySigner for EnvelopeSigner {
    fn public_key(&self) -> PublicKey {
        self.hsm.envelope_public_key()
    }

    fn sign_digest(&self, digest: &[u8; 32]) -> Result<Signature, SignerError> {
        self.hsm
            .sign_envelope(digest)
            .map_err(|e| SignerError(e.to_string()))
    }
}
