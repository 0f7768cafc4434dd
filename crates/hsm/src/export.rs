//! The online zone's export key: one P-256 key pair on a PKCS#11 token (an HSM in production,
//! SoftHSM in development) that signs the envelopes leaving the online zone — signing requests
//! and balance attestations. The offline zone pins its public key.
//!
//! The online zone holds no custody key; this key only proves where a document came from. It
//! is generated on the token as sensitive and non-extractable, checked again at every open, and
//! never leaves the token.

use std::sync::{Arc, Mutex};

use channel::{IdentitySigner, SignerError};
use p11::cryptoki::object::ObjectClass;
use p256::ecdsa::Signature;
use p256::PublicKey;
use secrecy::SecretString;

use crate::{load_key, lock, Error, Key, Result, TokenSelector};

/// Label of the online export key pair.
pub const EXPORT_KEY_LABEL: &str = "custody-online-export";

/// The export key, logged in. Cheap to clone (clones share one PKCS#11 session).
#[derive(Clone)]
pub struct ExportKey {
    session: Arc<Mutex<p11::Session>>,
    key: Key,
    token_serial: String,
}

impl std::fmt::Debug for ExportKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ExportKey")
            .field("token_serial", &self.token_serial)
            .finish_non_exhaustive()
    }
}

fn find_token(module: &p11::Module, token: &TokenSelector) -> Result<p11::TokenSummary> {
    Ok(match token {
        TokenSelector::Label(label) => module.find_by_label(label)?,
        TokenSelector::Serial(serial) => module.find_by_serial(serial)?,
    })
}

impl ExportKey {
    /// Generate the export key on an initialised token that does not hold one yet
    /// ([`Error::AlreadyProvisioned`] otherwise: a pinned key is never replaced silently).
    pub fn provision(
        module: &p11::Module,
        token: &TokenSelector,
        user_pin: &SecretString,
    ) -> Result<ExportKey> {
        let summary = find_token(module, token)?;
        let session = module.open(&summary)?;
        session.login_user(user_pin)?;
        if session
            .find_key(ObjectClass::PRIVATE_KEY, EXPORT_KEY_LABEL)?
            .is_some()
            || session
                .find_key(ObjectClass::PUBLIC_KEY, EXPORT_KEY_LABEL)?
                .is_some()
        {
            return Err(Error::AlreadyProvisioned(EXPORT_KEY_LABEL));
        }
        session.generate_p256_keypair(EXPORT_KEY_LABEL)?;
        Self::from_session(session, summary.serial)
    }

    /// Open the token, log in and load the export key ([`Error::MissingKey`] if it was never
    /// provisioned, [`Error::KeyNotProtected`] if the token would let it out).
    pub fn open(
        module: &p11::Module,
        token: &TokenSelector,
        user_pin: &SecretString,
    ) -> Result<ExportKey> {
        let summary = find_token(module, token)?;
        let session = module.open(&summary)?;
        session.login_user(user_pin)?;
        Self::from_session(session, summary.serial)
    }

    fn from_session(session: p11::Session, token_serial: String) -> Result<ExportKey> {
        let key = load_key(&session, EXPORT_KEY_LABEL)?;
        Ok(ExportKey {
            session: Arc::new(Mutex::new(session)),
            key,
            token_serial,
        })
    }

    /// The token's serial number.
    pub fn token_serial(&self) -> &str {
        &self.token_serial
    }
}

impl IdentitySigner for ExportKey {
    fn public_key(&self) -> PublicKey {
        self.key.public
    }

    fn sign_digest(&self, digest: &[u8; 32]) -> Result<Signature, SignerError> {
        lock(&self.session)
            .sign_p256_digest(self.key.private, digest)
            .map_err(|e| SignerError(e.to_string()))
    }
}
