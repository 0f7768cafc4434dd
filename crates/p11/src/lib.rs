//! PKCS#11 plumbing shared by the secure element (`se`) and the HSM (`hsm`) crates.
//!
//! It wraps `cryptoki` in the handful of operations the product needs: load a module once per
//! process, find or initialise tokens, log in, generate non-extractable P-256 and AES-256 keys,
//! sign a SHA-256 prehash, AES-GCM on the token and small data objects. Nothing here knows what a
//! key share or a certificate is; that policy lives in `se` and `hsm`. PINs only travel as
//! [`SecretString`] and never appear in an error, a log line or `Debug` output.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};

use cryptoki::context::{CInitializeArgs, CInitializeFlags, Pkcs11};
use cryptoki::error::{Error as CkError, RvError};
use cryptoki::mechanism::aead::GcmParams;
use cryptoki::mechanism::Mechanism;
use cryptoki::object::{Attribute, AttributeType, KeyType, ObjectClass, ObjectHandle};
use cryptoki::session::UserType;
use cryptoki::slot::{Slot, TokenInfo};
use rand_core::{OsRng, RngCore};
use secrecy::SecretString;
use zeroize::Zeroizing;

pub use cryptoki;

/// DER encoding of the named-curve OID for P-256 (prime256v1, 1.2.840.10045.3.1.7), the value
/// PKCS#11 expects in `CKA_EC_PARAMS`.
const P256_EC_PARAMS: [u8; 10] = [0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07];

/// Length of the AES-GCM authentication tag, in bits. We never truncate tags.
const GCM_TAG_BITS: u64 = 128;

/// Errors from the PKCS#11 layer. None of them carries a PIN or key material.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The module could not be loaded or initialised.
    #[error("cannot load the PKCS#11 module {path}: {source}")]
    Load {
        /// The library path that was tried.
        path: PathBuf,
        /// What cryptoki reported.
        source: CkError,
    },
    /// No initialised token with this serial number is present.
    #[error("no token with serial number {serial:?} is present")]
    TokenNotFound {
        /// The serial that was looked for.
        serial: String,
    },
    /// No initialised token with this label is present.
    #[error("no token labelled {label:?} is present")]
    LabelNotFound {
        /// The label that was looked for.
        label: String,
    },
    /// More than one token carries the label, so the label cannot pick one.
    #[error("more than one token is labelled {label:?}")]
    AmbiguousLabel {
        /// The label that matched several tokens.
        label: String,
    },
    /// Every slot already holds an initialised token.
    #[error("no free slot to initialise a new token in")]
    NoFreeSlot,
    /// The PIN was rejected by the token.
    #[error("the PIN is incorrect")]
    PinIncorrect,
    /// The token has locked the PIN after too many failures.
    #[error("the PIN is locked")]
    PinLocked,
    /// Someone is already logged in to this token from this process. PKCS#11 login state is
    /// shared by all sessions of an application, so the PIN was not checked.
    #[error("a user is already logged in to this token in this process")]
    AlreadyLoggedIn,
    /// AES-GCM authentication failed: wrong key, wrong associated data or altered ciphertext.
    #[error("decryption failed: the ciphertext or its associated data was altered, or it was sealed under another key")]
    DecryptFailed,
    /// `CKA_EC_POINT` did not hold a valid P-256 point.
    #[error("the token returned an invalid P-256 public key")]
    InvalidPublicKey,
    /// The token returned a signature that is not 64 bytes of r‖s.
    #[error("the token returned a malformed ECDSA signature")]
    InvalidSignature,
    /// Several objects share a label that must be unique.
    #[error("more than one {class} object is labelled {label:?}")]
    DuplicateObject {
        /// The object class, e.g. `data`.
        class: String,
        /// The duplicated label.
        label: String,
    },
    /// The token did not return an attribute we asked for.
    #[error("the token did not return attribute {0}")]
    MissingAttribute(String),
    /// Any other PKCS#11 failure.
    #[error("PKCS#11 error: {0}")]
    Pkcs11(#[from] CkError),
}

/// Result alias for this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// One process-wide context per library path: `C_Initialize` fails the second time it is called
/// in a process, and two contexts on one library would share its global state anyway.
fn module_cache() -> &'static Mutex<HashMap<PathBuf, Module>> {
    static CACHE: OnceLock<Mutex<HashMap<PathBuf, Module>>> = OnceLock::new();
    CACHE.get_or_init(|| Mutex::new(HashMap::new()))
}

/// A loaded and initialised PKCS#11 library. Cheap to clone.
#[derive(Clone)]
pub struct Module {
    ctx: Arc<Pkcs11>,
    path: PathBuf,
}

impl std::fmt::Debug for Module {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Module").field("path", &self.path).finish()
    }
}

/// The user-PIN state flags a token reports in `CK_TOKEN_INFO`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PinFlags {
    /// `CKF_USER_PIN_COUNT_LOW`: at least one wrong PIN since the last success.
    pub count_low: bool,
    /// `CKF_USER_PIN_FINAL_TRY`: one more wrong PIN locks the token.
    pub final_try: bool,
    /// `CKF_USER_PIN_LOCKED`: the token refuses user logins.
    pub locked: bool,
}

/// An initialised token as seen at one moment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenSummary {
    /// The slot that holds it now. SoftHSM may renumber slots after `C_InitToken`.
    pub slot: Slot,
    /// The serial number the token assigned itself.
    pub serial: String,
    /// The label given at initialisation.
    pub label: String,
    /// The token model, e.g. `SoftHSM v2`.
    pub model: String,
    /// The user-PIN flags.
    pub pin_flags: PinFlags,
}

impl TokenSummary {
    fn from_info(slot: Slot, info: &TokenInfo) -> Self {
        TokenSummary {
            slot,
            serial: info.serial_number().trim().to_owned(),
            label: info.label().trim().to_owned(),
            model: info.model().trim().to_owned(),
            pin_flags: PinFlags {
                count_low: info.user_pin_count_low(),
                final_try: info.user_pin_final_try(),
                locked: info.user_pin_locked(),
            },
        }
    }
}

#[allow(
    clippy::disallowed_methods,
    reason = "PKCS#11 calls block anyway; callers run them off the async threads"
)]
fn back_off(attempt: u32) {
    std::thread::sleep(std::time::Duration::from_millis(
        (25 * u64::from(attempt)).min(200),
    ));
}

/// How often a failed token enumeration is retried (see [`Module::tokens`]): about 3 s in all,
/// enough for another process to finish rewriting a token's files on a busy machine.
const TOKEN_LIST_RETRIES: u32 = 20;

impl Module {
    /// Load the library at `path`, or return the context already loaded from it in this process.
    pub fn load(path: impl AsRef<Path>) -> Result<Module> {
        let path = path.as_ref();
        // Canonicalise so that two spellings of the same library share one context.
        let key = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
        let mut cache = module_cache()
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(module) = cache.get(&key) {
            return Ok(module.clone());
        }
        let load_err = |source| Error::Load {
            path: key.clone(),
            source,
        };
        let ctx = Pkcs11::new(&key).map_err(load_err)?;
        // OS locking: the client shares one context between threads (each with its own session).
        ctx.initialize(CInitializeArgs::new(CInitializeFlags::OS_LOCKING_OK))
            .map_err(load_err)?;
        let module = Module {
            ctx: Arc::new(ctx),
            path: key.clone(),
        };
        cache.insert(key, module.clone());
        Ok(module)
    }

    /// The library path this module was loaded from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The underlying cryptoki context, for operations this crate does not wrap.
    pub fn context(&self) -> &Pkcs11 {
        &self.ctx
    }

    /// Every initialised token currently present.
    pub fn tokens(&self) -> Result<Vec<TokenSummary>> {
        // SoftHSM's file store can fail a read while another process is rewriting the same
        // token's files (another manager's client logging in on this PC, an enrolment); such a
        // failure is transient, so the enumeration is retried a few times before giving up.
        let mut attempt = 0u32;
        loop {
            match self.try_tokens() {
                Ok(tokens) => return Ok(tokens),
                Err(_) if attempt < TOKEN_LIST_RETRIES => {
                    attempt += 1;
                    back_off(attempt);
                }
                Err(e) => return Err(e),
            }
        }
    }

    fn try_tokens(&self) -> Result<Vec<TokenSummary>> {
        let mut out = Vec::new();
        for slot in self.ctx.get_slots_with_initialized_token()? {
            let info = self.ctx.get_token_info(slot)?;
            out.push(TokenSummary::from_info(slot, &info));
        }
        Ok(out)
    }

    /// The token with this serial number.
    pub fn find_by_serial(&self, serial: &str) -> Result<TokenSummary> {
        self.tokens()?
            .into_iter()
            .find(|t| t.serial == serial)
            .ok_or_else(|| Error::TokenNotFound {
                serial: serial.to_owned(),
            })
    }

    /// The only token with this label.
    pub fn find_by_label(&self, label: &str) -> Result<TokenSummary> {
        let mut matches = self.tokens()?.into_iter().filter(|t| t.label == label);
        let first = matches.next().ok_or_else(|| Error::LabelNotFound {
            label: label.to_owned(),
        })?;
        if matches.next().is_some() {
            return Err(Error::AmbiguousLabel {
                label: label.to_owned(),
            });
        }
        Ok(first)
    }

    /// Initialise a token in a free slot, set its user PIN, and return it.
    ///
    /// SoftHSM always offers one uninitialised slot; a real reader offers one only if a blank
    /// card is inserted.
    pub fn init_token(
        &self,
        label: &str,
        so_pin: &SecretString,
        user_pin: &SecretString,
    ) -> Result<TokenSummary> {
        // Two threads initialising at once would both pick the same free slot.
        static INIT_LOCK: Mutex<()> = Mutex::new(());
        let _guard = INIT_LOCK
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let mut free = None;
        for slot in self.ctx.get_slots_with_token()? {
            if !self.ctx.get_token_info(slot)?.token_initialized() {
                free = Some(slot);
                break;
            }
        }
        let slot = free.ok_or(Error::NoFreeSlot)?;
        self.ctx.init_token(slot, so_pin, label)?;
        // The serial is assigned by the token at initialisation; look the token up again by it,
        // because SoftHSM moves a freshly initialised token to a slot numbered after its serial.
        let serial = self
            .ctx
            .get_token_info(slot)?
            .serial_number()
            .trim()
            .to_owned();
        let token = self.find_by_serial(&serial)?;
        let session = self.open(&token)?;
        session.login_so(so_pin)?;
        session.init_user_pin(user_pin)?;
        session.logout()?;
        self.find_by_serial(&serial)
    }

    /// Open a read/write session on the token.
    pub fn open(&self, token: &TokenSummary) -> Result<Session> {
        let inner = self.ctx.open_rw_session(token.slot)?;
        Ok(Session {
            inner,
            serial: token.serial.clone(),
        })
    }
}

/// A P-256 key pair on a token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeyPair {
    /// The public key object.
    pub public: ObjectHandle,
    /// The private key object (sensitive, non-extractable).
    pub private: ObjectHandle,
}

/// A read/write session on one token. Not `Sync`: wrap it in a `Mutex` to share it.
pub struct Session {
    inner: cryptoki::session::Session,
    serial: String,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("serial", &self.serial)
            .finish_non_exhaustive()
    }
}

/// Map the PIN-related return values to our variants and leave the rest as PKCS#11 errors.
fn map_login_error(err: CkError) -> Error {
    match err {
        CkError::Pkcs11(RvError::PinIncorrect, _) => Error::PinIncorrect,
        CkError::Pkcs11(RvError::PinLocked, _) => Error::PinLocked,
        CkError::Pkcs11(RvError::UserAlreadyLoggedIn | RvError::UserAnotherAlreadyLoggedIn, _) => {
            Error::AlreadyLoggedIn
        }
        other => Error::Pkcs11(other),
    }
}

/// Return the value of a boolean attribute, or `None` for attributes that are not booleans.
fn attribute_bool(attr: &Attribute) -> Option<bool> {
    match attr {
        Attribute::AlwaysAuthenticate(b)
        | Attribute::AlwaysSensitive(b)
        | Attribute::Copyable(b)
        | Attribute::Decrypt(b)
        | Attribute::Derive(b)
        | Attribute::Destroyable(b)
        | Attribute::Encrypt(b)
        | Attribute::Extractable(b)
        | Attribute::Local(b)
        | Attribute::Modifiable(b)
        | Attribute::NeverExtractable(b)
        | Attribute::Private(b)
        | Attribute::Sensitive(b)
        | Attribute::Sign(b)
        | Attribute::SignRecover(b)
        | Attribute::Token(b)
        | Attribute::Trusted(b)
        | Attribute::Unwrap(b)
        | Attribute::Verify(b)
        | Attribute::VerifyRecover(b)
        | Attribute::Wrap(b)
        | Attribute::WrapWithTrusted(b) => Some(*b),
        _ => None,
    }
}

/// Strip the DER OCTET STRING that PKCS#11 puts around `CKA_EC_POINT`, if it is there.
fn unwrap_der_octet_string(bytes: &[u8]) -> Option<&[u8]> {
    let (&tag, rest) = bytes.split_first()?;
    if tag != 0x04 {
        return None;
    }
    let (&len0, rest) = rest.split_first()?;
    let (len, body) = match len0 {
        l if l < 0x80 => (usize::from(l), rest),
        0x81 => {
            let (&l, body) = rest.split_first()?;
            (usize::from(l), body)
        }
        _ => return None,
    };
    (body.len() == len).then_some(body)
}

impl Session {
    /// The serial number of the token this session is on.
    pub fn token_serial(&self) -> &str {
        &self.serial
    }

    /// Log in as the normal user.
    pub fn login_user(&self, pin: &SecretString) -> Result<()> {
        self.inner
            .login(UserType::User, Some(pin))
            .map_err(map_login_error)
    }

    /// Log in as the security officer.
    pub fn login_so(&self, so_pin: &SecretString) -> Result<()> {
        self.inner
            .login(UserType::So, Some(so_pin))
            .map_err(map_login_error)
    }

    /// Log out whoever is logged in.
    pub fn logout(&self) -> Result<()> {
        Ok(self.inner.logout()?)
    }

    /// Set the user PIN (`C_InitPIN`); the security officer must be logged in.
    pub fn init_user_pin(&self, new_pin: &SecretString) -> Result<()> {
        Ok(self.inner.init_pin(new_pin)?)
    }

    /// Change the user PIN (`C_SetPIN`); the user must be logged in.
    pub fn set_pin(&self, old: &SecretString, new: &SecretString) -> Result<()> {
        self.inner.set_pin(old, new).map_err(map_login_error)
    }

    /// Generate a P-256 key pair whose private half never leaves the token.
    pub fn generate_p256_keypair(&self, label: &str) -> Result<KeyPair> {
        let mut id = [0u8; 16];
        OsRng.fill_bytes(&mut id);
        let public_template = [
            Attribute::Class(ObjectClass::PUBLIC_KEY),
            Attribute::KeyType(KeyType::EC),
            Attribute::Token(true),
            Attribute::Private(false),
            Attribute::Verify(true),
            Attribute::EcParams(P256_EC_PARAMS.to_vec()),
            Attribute::Label(label.as_bytes().to_vec()),
            Attribute::Id(id.to_vec()),
        ];
        let private_template = [
            Attribute::Class(ObjectClass::PRIVATE_KEY),
            Attribute::KeyType(KeyType::EC),
            Attribute::Token(true),
            Attribute::Private(true),
            Attribute::Sensitive(true),
            Attribute::Extractable(false),
            Attribute::Sign(true),
            Attribute::Label(label.as_bytes().to_vec()),
            Attribute::Id(id.to_vec()),
        ];
        let (public, private) = self.inner.generate_key_pair(
            &Mechanism::EccKeyPairGen,
            &public_template,
            &private_template,
        )?;
        Ok(KeyPair { public, private })
    }

    /// The only object of `class` with `label`, if any.
    pub fn find_key(&self, class: ObjectClass, label: &str) -> Result<Option<ObjectHandle>> {
        self.find_unique(class, label)
    }

    fn find_all(&self, class: ObjectClass, label: &str) -> Result<Vec<ObjectHandle>> {
        Ok(self.inner.find_objects(&[
            Attribute::Class(class),
            Attribute::Label(label.as_bytes().to_vec()),
        ])?)
    }

    fn find_unique(&self, class: ObjectClass, label: &str) -> Result<Option<ObjectHandle>> {
        let found = self.find_all(class, label)?;
        match found.as_slice() {
            [] => Ok(None),
            [one] => Ok(Some(*one)),
            _ => Err(Error::DuplicateObject {
                class: class.to_string(),
                label: label.to_owned(),
            }),
        }
    }

    /// Decode the P-256 public key held in a public-key object's `CKA_EC_POINT`.
    pub fn p256_public_key(&self, public_key: ObjectHandle) -> Result<p256::PublicKey> {
        let attrs = self
            .inner
            .get_attributes(public_key, &[AttributeType::EcPoint])?;
        let point = attrs
            .iter()
            .find_map(|a| match a {
                Attribute::EcPoint(p) => Some(p.as_slice()),
                _ => None,
            })
            .ok_or_else(|| Error::MissingAttribute("CKA_EC_POINT".to_owned()))?;
        // The standard says DER OCTET STRING, some tokens return the bare SEC1 point.
        if let Some(inner) = unwrap_der_octet_string(point) {
            if let Ok(key) = p256::PublicKey::from_sec1_bytes(inner) {
                return Ok(key);
            }
        }
        p256::PublicKey::from_sec1_bytes(point).map_err(|_| Error::InvalidPublicKey)
    }

    /// ECDSA-sign a SHA-256 digest on the token (`CKM_ECDSA`, prehash). The signature is
    /// normalised to low-S so every verifier accepts it.
    pub fn sign_p256_digest(
        &self,
        private_key: ObjectHandle,
        digest: &[u8; 32],
    ) -> Result<p256::ecdsa::Signature> {
        let raw = self.inner.sign(&Mechanism::Ecdsa, private_key, digest)?;
        let sig = p256::ecdsa::Signature::from_slice(&raw).map_err(|_| Error::InvalidSignature)?;
        Ok(sig.normalize_s().unwrap_or(sig))
    }

    /// Generate an AES-256 key that never leaves the token.
    pub fn generate_aes256_key(&self, label: &str) -> Result<ObjectHandle> {
        let template = [
            Attribute::Class(ObjectClass::SECRET_KEY),
            Attribute::KeyType(KeyType::AES),
            Attribute::ValueLen(32.into()),
            Attribute::Token(true),
            Attribute::Private(true),
            Attribute::Sensitive(true),
            Attribute::Extractable(false),
            Attribute::Encrypt(true),
            Attribute::Decrypt(true),
            Attribute::Label(label.as_bytes().to_vec()),
        ];
        Ok(self.inner.generate_key(&Mechanism::AesKeyGen, &template)?)
    }

    /// Generate a 256-bit generic secret key for HMAC-SHA256 (`CKM_GENERIC_SECRET_KEY_GEN`)
    /// that never leaves the token: sensitive, non-extractable, usable only to sign and verify
    /// MACs.
    pub fn generate_hmac_key(&self, label: &str) -> Result<ObjectHandle> {
        let template = [
            Attribute::Class(ObjectClass::SECRET_KEY),
            Attribute::KeyType(KeyType::GENERIC_SECRET),
            Attribute::ValueLen(32.into()),
            Attribute::Token(true),
            Attribute::Private(true),
            Attribute::Sensitive(true),
            Attribute::Extractable(false),
            Attribute::Sign(true),
            Attribute::Verify(true),
            Attribute::Encrypt(false),
            Attribute::Decrypt(false),
            Attribute::Derive(false),
            Attribute::Wrap(false),
            Attribute::Unwrap(false),
            Attribute::Label(label.as_bytes().to_vec()),
        ];
        Ok(self
            .inner
            .generate_key(&Mechanism::GenericSecretKeyGen, &template)?)
    }

    /// HMAC-SHA256 of `data` under a token key (`CKM_SHA256_HMAC`).
    pub fn hmac_sha256(&self, key: ObjectHandle, data: &[u8]) -> Result<[u8; 32]> {
        let raw = self.inner.sign(&Mechanism::Sha256Hmac, key, data)?;
        raw.try_into()
            .map_err(|_| Error::MissingAttribute("a 32-byte HMAC-SHA256 tag".to_owned()))
    }

    /// AES-GCM encrypt on the token; returns ciphertext ‖ 16-byte tag.
    pub fn aes_gcm_encrypt(
        &self,
        key: ObjectHandle,
        nonce: &[u8; 12],
        aad: &[u8],
        plaintext: &[u8],
    ) -> Result<Vec<u8>> {
        let mut iv = *nonce;
        let params = GcmParams::new(&mut iv, aad, GCM_TAG_BITS.into())?;
        Ok(self
            .inner
            .encrypt(&Mechanism::AesGcm(params), key, plaintext)?)
    }

    /// AES-GCM decrypt on the token. Any authentication failure is [`Error::DecryptFailed`].
    pub fn aes_gcm_decrypt(
        &self,
        key: ObjectHandle,
        nonce: &[u8; 12],
        aad: &[u8],
        ciphertext: &[u8],
    ) -> Result<Zeroizing<Vec<u8>>> {
        let mut iv = *nonce;
        let params = GcmParams::new(&mut iv, aad, GCM_TAG_BITS.into())?;
        match self
            .inner
            .decrypt(&Mechanism::AesGcm(params), key, ciphertext)
        {
            Ok(plain) => Ok(Zeroizing::new(plain)),
            Err(CkError::Pkcs11(
                RvError::EncryptedDataInvalid
                | RvError::EncryptedDataLenRange
                | RvError::DataInvalid
                | RvError::DataLenRange,
                _,
            )) => Err(Error::DecryptFailed),
            // SoftHSM 2.6 reports a GCM tag mismatch as CKR_GENERAL_ERROR from C_Decrypt (OpenSSL's
            // final step fails). Once C_DecryptInit has accepted the key and parameters, a failure
            // of C_Decrypt itself is an authentication failure for every token we know.
            Err(CkError::Pkcs11(RvError::GeneralError, cryptoki::context::Function::Decrypt)) => {
                Err(Error::DecryptFailed)
            }
            Err(other) => Err(other.into()),
        }
    }

    /// Store a `CKO_DATA` token object, replacing any data object with the same label.
    ///
    /// The new object is created before the old one is destroyed, so an interruption can leave a
    /// duplicate (reported by [`Session::get_data`]) but never loses the value.
    pub fn put_data(&self, label: &str, value: &[u8], private: bool) -> Result<ObjectHandle> {
        let old = self.find_all(ObjectClass::DATA, label)?;
        let handle = self.inner.create_object(&[
            Attribute::Class(ObjectClass::DATA),
            Attribute::Token(true),
            Attribute::Private(private),
            Attribute::Modifiable(true),
            Attribute::Label(label.as_bytes().to_vec()),
            Attribute::Value(value.to_vec()),
        ])?;
        for object in old {
            self.inner.destroy_object(object)?;
        }
        Ok(handle)
    }

    /// The value of the data object with this label, if it exists and is visible to this session
    /// (private objects are visible only after login).
    pub fn get_data(&self, label: &str) -> Result<Option<Vec<u8>>> {
        let Some(handle) = self.find_unique(ObjectClass::DATA, label)? else {
            return Ok(None);
        };
        let attrs = self.inner.get_attributes(handle, &[AttributeType::Value])?;
        let value = attrs
            .into_iter()
            .find_map(|a| match a {
                Attribute::Value(v) => Some(v),
                _ => None,
            })
            .ok_or_else(|| Error::MissingAttribute("CKA_VALUE".to_owned()))?;
        Ok(Some(value))
    }

    /// Destroy every data object with this label; `true` if there was one.
    pub fn delete_data(&self, label: &str) -> Result<bool> {
        let found = self.find_all(ObjectClass::DATA, label)?;
        for object in &found {
            self.inner.destroy_object(*object)?;
        }
        Ok(!found.is_empty())
    }

    /// The labels of every data object visible to this session, sorted.
    pub fn list_data_labels(&self) -> Result<Vec<String>> {
        let mut labels = Vec::new();
        for handle in self
            .inner
            .find_objects(&[Attribute::Class(ObjectClass::DATA)])?
        {
            let attrs = self.inner.get_attributes(handle, &[AttributeType::Label])?;
            for attr in attrs {
                if let Attribute::Label(l) = attr {
                    labels.push(String::from_utf8_lossy(&l).into_owned());
                }
            }
        }
        labels.sort();
        Ok(labels)
    }

    /// A boolean attribute of an object; `None` if the object has no such attribute.
    pub fn bool_attribute(
        &self,
        object: ObjectHandle,
        attr: AttributeType,
    ) -> Result<Option<bool>> {
        let attrs = self.inner.get_attributes(object, &[attr])?;
        Ok(attrs
            .iter()
            .find(|a| a.attribute_type() == attr)
            .and_then(attribute_bool))
    }

    /// The raw cryptoki session, for tests and for operations this crate does not wrap.
    pub fn raw(&self) -> &cryptoki::session::Session {
        &self.inner
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn der_octet_string_is_unwrapped() {
        let mut der = vec![0x04, 0x41];
        der.extend_from_slice(&[0x04; 65]);
        assert_eq!(unwrap_der_octet_string(&der).map(<[u8]>::len), Some(65));
        // A bare uncompressed point also starts with 0x04 but its length byte does not match.
        let raw = [0x04u8; 65];
        assert_eq!(unwrap_der_octet_string(&raw), None);
    }
}
