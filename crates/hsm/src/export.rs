//! The online zone's token: one PKCS#11 token (an HSM in production, SoftHSM in development)
//! holding the online zone's three long-term keys.
//!
//! | label | purpose | exposed as |
//! |---|---|---|
//! | `custody-online-export` | signs the envelopes leaving the online zone (signing requests, balance attestations); the offline zone pins it | [`OnlineHsm::export_signer`] |
//! | `custody-online-audit-checkpoint` | signs the checkpoints of the operation and transaction logs | [`OnlineHsm::checkpoint_signer`] |
//! | `custody-online-audit-mac` | HMAC-SHA256 of every log record and bus event | [`OnlineHsm::audit_mac_key`] |
//!
//! The online zone holds no custody key; these keys only prove where a document, a checkpoint
//! or a log record came from. They are generated on the token as sensitive and
//! non-extractable, checked again at every open, and never leave the token. One logged-in
//! session serves all three (PKCS#11 login state is per application and token).

use std::sync::{Arc, Mutex};

use channel::{IdentitySigner, SignerError};
use p11::cryptoki::object::{ObjectClass, ObjectHandle};
use p256::ecdsa::Signature;
use p256::PublicKey;
use secrecy::SecretString;

use crate::{load_key, load_mac_key, lock, token_mac, Error, Key, Result, TokenSelector};

/// Label of the online export key pair.
pub const EXPORT_KEY_LABEL: &str = "custody-online-export";
/// Label of the online audit-checkpoint key pair.
pub const ONLINE_AUDIT_KEY_LABEL: &str = "custody-online-audit-checkpoint";
/// Label of the online audit MAC key (a generic secret for HMAC-SHA256).
pub const ONLINE_AUDIT_MAC_KEY_LABEL: &str = "custody-online-audit-mac";

struct Inner {
    session: Mutex<p11::Session>,
    export: Key,
    checkpoint: Key,
    audit_mac: ObjectHandle,
    token_serial: String,
}

/// The online zone's token, logged in. Cheap to clone (clones share one PKCS#11 session).
#[derive(Clone)]
pub struct OnlineHsm {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for OnlineHsm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OnlineHsm")
            .field("token_serial", &self.inner.token_serial)
            .finish_non_exhaustive()
    }
}

fn find_token(module: &p11::Module, token: &TokenSelector) -> Result<p11::TokenSummary> {
    Ok(match token {
        TokenSelector::Label(label) => module.find_by_label(label)?,
        TokenSelector::Serial(serial) => module.find_by_serial(serial)?,
    })
}

impl OnlineHsm {
    /// Generate the three keys on an initialised token that holds none of them yet
    /// ([`Error::AlreadyProvisioned`] otherwise: a pinned key is never replaced silently).
    pub fn provision(
        module: &p11::Module,
        token: &TokenSelector,
        user_pin: &SecretString,
    ) -> Result<OnlineHsm> {
        let summary = find_token(module, token)?;
        let session = module.open(&summary)?;
        session.login_user(user_pin)?;
        for label in [EXPORT_KEY_LABEL, ONLINE_AUDIT_KEY_LABEL] {
            if session.find_key(ObjectClass::PRIVATE_KEY, label)?.is_some()
                || session.find_key(ObjectClass::PUBLIC_KEY, label)?.is_some()
            {
                return Err(Error::AlreadyProvisioned(label));
            }
        }
        if session
            .find_key(ObjectClass::SECRET_KEY, ONLINE_AUDIT_MAC_KEY_LABEL)?
            .is_some()
        {
            return Err(Error::AlreadyProvisioned(ONLINE_AUDIT_MAC_KEY_LABEL));
        }
        session.generate_p256_keypair(EXPORT_KEY_LABEL)?;
        session.generate_p256_keypair(ONLINE_AUDIT_KEY_LABEL)?;
        session.generate_hmac_key(ONLINE_AUDIT_MAC_KEY_LABEL)?;
        Self::from_session(session, summary.serial)
    }

    /// Open the token, log in and load the keys ([`Error::MissingKey`] if they were never
    /// provisioned, [`Error::KeyNotProtected`] if the token would let one out).
    pub fn open(
        module: &p11::Module,
        token: &TokenSelector,
        user_pin: &SecretString,
    ) -> Result<OnlineHsm> {
        let summary = find_token(module, token)?;
        let session = module.open(&summary)?;
        session.login_user(user_pin)?;
        Self::from_session(session, summary.serial)
    }

    fn from_session(session: p11::Session, token_serial: String) -> Result<OnlineHsm> {
        let export = load_key(&session, EXPORT_KEY_LABEL)?;
        let checkpoint = load_key(&session, ONLINE_AUDIT_KEY_LABEL)?;
        let audit_mac = load_mac_key(&session, ONLINE_AUDIT_MAC_KEY_LABEL)?;
        Ok(OnlineHsm {
            inner: Arc::new(Inner {
                session: Mutex::new(session),
                export,
                checkpoint,
                audit_mac,
                token_serial,
            }),
        })
    }

    /// The token's serial number.
    pub fn token_serial(&self) -> &str {
        &self.inner.token_serial
    }

    /// The export key's public key (pinned by the offline zone).
    pub fn export_public_key(&self) -> PublicKey {
        self.inner.export.public
    }

    /// The export key as an [`IdentitySigner`] for `contracts::Envelope::seal`.
    pub fn export_signer(&self) -> OnlineSigner {
        OnlineSigner {
            hsm: self.clone(),
            key: self.inner.export,
        }
    }

    /// The audit-checkpoint key's public key (what an auditor pins for the online zone).
    pub fn checkpoint_public_key(&self) -> PublicKey {
        self.inner.checkpoint.public
    }

    /// The audit-checkpoint key as an [`IdentitySigner`] for
    /// `contracts::AuditCheckpoint::sign`.
    pub fn checkpoint_signer(&self) -> OnlineSigner {
        OnlineSigner {
            hsm: self.clone(),
            key: self.inner.checkpoint,
        }
    }

    /// The audit MAC key behind the [`channel::MacKey`] port.
    pub fn audit_mac_key(&self) -> OnlineMacKey {
        OnlineMacKey { hsm: self.clone() }
    }
}

/// One of the online token's P-256 keys behind the [`IdentitySigner`] port.
#[derive(Clone)]
pub struct OnlineSigner {
    hsm: OnlineHsm,
    key: Key,
}

impl std::fmt::Debug for OnlineSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OnlineSigner")
            .field("token_serial", &self.hsm.inner.token_serial)
            .finish_non_exhaustive()
    }
}

impl IdentitySigner for OnlineSigner {
    fn public_key(&self) -> PublicKey {
        self.key.public
    }

    fn sign_digest(&self, digest: &[u8; 32]) -> Result<Signature, SignerError> {
        lock(&self.hsm.inner.session)
            .sign_p256_digest(self.key.private, digest)
            .map_err(|e| SignerError(e.to_string()))
    }
}

/// The online token's audit MAC key behind the [`channel::MacKey`] port.
#[derive(Clone, Debug)]
pub struct OnlineMacKey {
    hsm: OnlineHsm,
}

impl channel::MacKey for OnlineMacKey {
    fn mac(&self, data: &[u8]) -> Result<[u8; 32], SignerError> {
        token_mac(&self.hsm.inner.session, self.hsm.inner.audit_mac, data)
    }
}
