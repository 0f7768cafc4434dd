//! The secure element (SE): the manager's PKCS#11 token that holds the identity key and seals
//! key shares (DESIGN.md §9).
//!
//! An SE is enrolled once ([`Se::enroll`]): it gets a non-extractable P-256 identity key (used by
//! the secure channel through [`channel::IdentitySigner`]) and a non-extractable AES-256 key that
//! seals key shares and other secrets. A sealed share is AES-GCM ciphertext bound to the SE
//! serial and the share's slot, kept as a private token object, so a share exists in clear only
//! in the memory of the process that unsealed it. [`Se::open`] checks the PIN and enforces a
//! lockout of its own, because SoftHSM2 never locks a PIN; a token that locks itself wins.
//! [`reader`] watches PC/SC readers so the client can ask for an SE and wait for it.

pub mod reader;
mod types;

use std::sync::Mutex;

use cryptoki::object::{ObjectClass, ObjectHandle};
use p11::{Module, PinFlags, Session};
use rand_core::{OsRng, RngCore};
use zeroize::Zeroizing;

pub use p11;
pub use types::{ParseError, Pin, SeSerial, ShareSlot};

/// Label of the identity key pair (both halves).
pub const IDENTITY_LABEL: &str = "custody-identity";
/// Label of the AES-256 key that seals shares and secrets.
pub const WRAP_KEY_LABEL: &str = "custody-share-wrap";
/// Label of the public data object holding the SE certificate.
pub const CERTIFICATE_LABEL: &str = "custody-certificate";
/// Label of the public data object counting consecutive wrong PINs.
pub const PIN_FAILURES_LABEL: &str = "custody-pin-failures";
/// Wrong PINs allowed before the SE locks.
pub const MAX_PIN_TRIES: u8 = 3;

/// Prefix of the labels of sealed shares: `custody-share/<case id>/<share index>`.
const SHARE_PREFIX: &str = "custody-share/";
/// Prefix of the labels of sealed generic secrets: `custody-secret/<label>`.
const SECRET_PREFIX: &str = "custody-secret/";
/// Format version of a sealed blob; it is also bound into the associated data.
const BLOB_VERSION: u8 = 1;
/// Domain separation tag of the associated data, so a blob cannot be confused with any other
/// AES-GCM use of the same key.
const AAD_DOMAIN: &[u8] = b"custody/se/seal/v1";
const NONCE_LEN: usize = 12;
const TAG_LEN: usize = 16;

/// Errors from the SE. Messages are meant for the manager; none carries a PIN or a secret.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// No connected token has this serial.
    #[error("no secure element with serial {serial} is connected: insert it, or check the serial")]
    UnknownSe {
        /// The serial that was asked for.
        serial: String,
    },
    /// The user PIN was wrong.
    #[error("wrong PIN: {tries_left} attempt(s) left before the secure element locks")]
    WrongPin {
        /// Attempts left; 0 means the next attempt is refused.
        tries_left: u8,
    },
    /// Too many wrong PINs: the SE refuses logins until the security officer resets the PIN.
    #[error("the secure element's PIN is locked after too many wrong PINs: the security officer must reset it")]
    PinLocked,
    /// The security officer PIN was wrong.
    #[error("wrong security officer PIN")]
    WrongSoPin,
    /// The security officer PIN is locked by the token.
    #[error("the security officer PIN is locked")]
    SoPinLocked,
    /// The SE is already open in this process (PKCS#11 login is per process and token).
    #[error("secure element {serial} is already open in this process: close it first")]
    AlreadyOpen {
        /// The SE serial.
        serial: String,
    },
    /// The SE already has an identity key.
    #[error("secure element {serial} is already enrolled")]
    AlreadyEnrolled {
        /// The SE serial.
        serial: String,
    },
    /// The SE has no identity key or no wrap key.
    #[error("secure element {serial} is not enrolled")]
    NotEnrolled {
        /// The SE serial.
        serial: String,
    },
    /// No sealed object under this label.
    #[error("nothing is sealed on this secure element for {what}")]
    NotFound {
        /// The slot or label, e.g. `share 2 of case c-1`.
        what: String,
    },
    /// Sealing would overwrite an existing sealed object; delete it explicitly first.
    #[error("{what} is already sealed on this secure element: delete it explicitly first")]
    AlreadySealed {
        /// The slot or label.
        what: String,
    },
    /// The blob does not open on this SE for this slot.
    #[error("the sealed {what} does not open on secure element {serial}: it was sealed on another secure element or for another slot, or it was altered")]
    UnsealFailed {
        /// The slot or label.
        what: String,
        /// The SE that tried.
        serial: String,
    },
    /// The blob is not in a format we know.
    #[error("malformed sealed blob: {0}")]
    MalformedBlob(&'static str),
    /// A serial, PIN, case id or label did not parse.
    #[error(transparent)]
    Parse(#[from] ParseError),
    /// A PC/SC (reader) failure.
    #[error("smart-card reader service: {0}")]
    Reader(#[from] pcsc::Error),
    /// Any other token failure.
    #[error("secure element: {0}")]
    Token(#[from] p11::Error),
}

/// Result alias for this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What [`Se::enroll`] produced.
#[derive(Debug, Clone)]
pub struct Enrollment {
    /// The SE serial.
    pub serial: SeSerial,
    /// The identity public key, to be certified by the HSM CA.
    pub identity_public_key: p256::PublicKey,
}

/// PIN state for the UI.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PinStatus {
    /// Attempts left before the SE locks.
    pub tries_left: u8,
    /// Whether logins are refused (by our counter or by the token itself).
    pub locked: bool,
    /// The token's own flags.
    pub token_flags: PinFlags,
}

/// One SE as listed for the manager.
#[derive(Debug, Clone)]
pub struct SeSummary {
    /// The SE serial.
    pub serial: SeSerial,
    /// The token label.
    pub label: String,
    /// The token model.
    pub model: String,
    /// Whether it has an identity key.
    pub enrolled: bool,
    /// Its PIN state.
    pub pin: PinStatus,
}

/// Entry points that work on an SE before it is open.
#[derive(Debug, Clone, Copy)]
pub struct Se;

fn find_token(module: &Module, serial: &SeSerial) -> Result<p11::TokenSummary> {
    module.find_by_serial(serial.as_str()).map_err(|e| match e {
        p11::Error::TokenNotFound { serial } => Error::UnknownSe { serial },
        other => Error::Token(other),
    })
}

/// Consecutive wrong PINs recorded on the token.
///
/// The counter is a public, modifiable data object so that it travels with the card and can be
/// updated before anyone is logged in. That is also its limit: whoever holds the card and a
/// PKCS#11 library can reset it, so it only slows down guessing through this software. Real
/// tokens count in hardware, and their flags are honoured as well.
fn read_failures(session: &Session) -> Result<u8> {
    Ok(session
        .get_data(PIN_FAILURES_LABEL)?
        .and_then(|v| v.first().copied())
        .unwrap_or(0))
}

fn write_failures(session: &Session, failures: u8) -> Result<()> {
    if failures == 0 {
        session.delete_data(PIN_FAILURES_LABEL)?;
    } else {
        session.put_data(PIN_FAILURES_LABEL, &[failures], false)?;
    }
    Ok(())
}

fn pin_status_of(flags: PinFlags, failures: u8) -> PinStatus {
    let locked = flags.locked || failures >= MAX_PIN_TRIES;
    let mut tries_left = MAX_PIN_TRIES.saturating_sub(failures);
    if flags.final_try {
        tries_left = tries_left.min(1);
    }
    if locked {
        tries_left = 0;
    }
    PinStatus {
        tries_left,
        locked,
        token_flags: flags,
    }
}

fn map_so_login(e: p11::Error, serial: &SeSerial) -> Error {
    match e {
        p11::Error::PinIncorrect => Error::WrongSoPin,
        p11::Error::PinLocked => Error::SoPinLocked,
        p11::Error::AlreadyLoggedIn => Error::AlreadyOpen {
            serial: serial.to_string(),
        },
        other => Error::Token(other),
    }
}

impl Se {
    /// Every initialised token whose serial is a valid SE serial.
    pub fn list(module: &Module) -> Result<Vec<SeSummary>> {
        let mut out = Vec::new();
        for token in module.tokens()? {
            let Ok(serial) = SeSerial::parse(&token.serial) else {
                continue;
            };
            let session = module.open(&token)?;
            let enrolled = session
                .find_key(ObjectClass::PUBLIC_KEY, IDENTITY_LABEL)?
                .is_some();
            let pin = pin_status_of(token.pin_flags, read_failures(&session)?);
            out.push(SeSummary {
                serial,
                label: token.label,
                model: token.model,
                enrolled,
                pin,
            });
        }
        Ok(out)
    }

    /// Enroll an initialised token: set the user PIN (security officer), then create the
    /// identity key pair and the share-wrapping key on it. Refuses a token that already has an
    /// identity key.
    pub fn enroll(
        module: &Module,
        serial: &SeSerial,
        so_pin: &Pin,
        user_pin: &Pin,
    ) -> Result<Enrollment> {
        let token = find_token(module, serial)?;
        let session = module.open(&token)?;
        let already = || Error::AlreadyEnrolled {
            serial: serial.to_string(),
        };
        // The public half is visible without login, so we refuse before touching the PIN.
        if session
            .find_key(ObjectClass::PUBLIC_KEY, IDENTITY_LABEL)?
            .is_some()
        {
            return Err(already());
        }
        session
            .login_so(so_pin.secret())
            .map_err(|e| map_so_login(e, serial))?;
        let set = session.init_user_pin(user_pin.secret());
        session.logout()?;
        set?;
        session.login_user(user_pin.secret())?;
        let result = (|| {
            if session
                .find_key(ObjectClass::PRIVATE_KEY, IDENTITY_LABEL)?
                .is_some()
                || session
                    .find_key(ObjectClass::SECRET_KEY, WRAP_KEY_LABEL)?
                    .is_some()
            {
                return Err(already());
            }
            let pair = session.generate_p256_keypair(IDENTITY_LABEL)?;
            session.generate_aes256_key(WRAP_KEY_LABEL)?;
            write_failures(&session, 0)?;
            let identity_public_key = session.p256_public_key(pair.public)?;
            Ok(Enrollment {
                serial: serial.clone(),
                identity_public_key,
            })
        })();
        session.logout()?;
        result
    }

    /// The PIN state of an SE, readable without a PIN.
    pub fn pin_status(module: &Module, serial: &SeSerial) -> Result<PinStatus> {
        let token = find_token(module, serial)?;
        let session = module.open(&token)?;
        Ok(pin_status_of(token.pin_flags, read_failures(&session)?))
    }

    /// Open an SE with the user PIN.
    ///
    /// A wrong PIN counts against [`MAX_PIN_TRIES`] on the token; once they are used up every
    /// attempt is refused with [`Error::PinLocked`], even with the right PIN, until
    /// [`Se::reset_pin`]. The right PIN clears the count.
    pub fn open(module: &Module, serial: &SeSerial, pin: &Pin) -> Result<OpenSe> {
        let token = find_token(module, serial)?;
        let session = module.open(&token)?;
        let failures = read_failures(&session)?;
        if pin_status_of(token.pin_flags, failures).locked {
            return Err(Error::PinLocked);
        }
        match session.login_user(pin.secret()) {
            Ok(()) => {}
            Err(p11::Error::PinIncorrect) => {
                let failures = failures.saturating_add(1);
                write_failures(&session, failures)?;
                // Re-read the token's flags: a token that counts by itself may be stricter.
                let flags = module
                    .find_by_serial(serial.as_str())
                    .map(|t| t.pin_flags)
                    .unwrap_or(token.pin_flags);
                let status = pin_status_of(flags, failures);
                if flags.locked {
                    return Err(Error::PinLocked);
                }
                return Err(Error::WrongPin {
                    tries_left: status.tries_left,
                });
            }
            Err(p11::Error::PinLocked) => return Err(Error::PinLocked),
            Err(p11::Error::AlreadyLoggedIn) => {
                return Err(Error::AlreadyOpen {
                    serial: serial.to_string(),
                })
            }
            Err(other) => return Err(other.into()),
        }
        let opened = (|| {
            if failures > 0 {
                write_failures(&session, 0)?;
            }
            let not_enrolled = || Error::NotEnrolled {
                serial: serial.to_string(),
            };
            let public = session
                .find_key(ObjectClass::PUBLIC_KEY, IDENTITY_LABEL)?
                .ok_or_else(not_enrolled)?;
            let identity_private = session
                .find_key(ObjectClass::PRIVATE_KEY, IDENTITY_LABEL)?
                .ok_or_else(not_enrolled)?;
            let wrap_key = session
                .find_key(ObjectClass::SECRET_KEY, WRAP_KEY_LABEL)?
                .ok_or_else(not_enrolled)?;
            let identity_public_key = session.p256_public_key(public)?;
            Ok((identity_private, wrap_key, identity_public_key))
        })();
        match opened {
            Ok((identity_private, wrap_key, identity_public_key)) => Ok(OpenSe {
                serial: serial.clone(),
                session: Mutex::new(session),
                identity_private,
                identity_public_key,
                wrap_key,
            }),
            Err(e) => {
                let _ = session.logout();
                Err(e)
            }
        }
    }

    /// Security officer: set a new user PIN and clear the lockout.
    pub fn reset_pin(
        module: &Module,
        serial: &SeSerial,
        so_pin: &Pin,
        new_pin: &Pin,
    ) -> Result<()> {
        let token = find_token(module, serial)?;
        let session = module.open(&token)?;
        session
            .login_so(so_pin.secret())
            .map_err(|e| map_so_login(e, serial))?;
        let result = session
            .init_user_pin(new_pin.secret())
            .map_err(Error::from)
            .and_then(|()| write_failures(&session, 0));
        session.logout()?;
        result
    }
}

/// Every SE connected through `module` (see [`Se::list`]).
pub fn list_tokens(module: &Module) -> Result<Vec<SeSummary>> {
    Se::list(module)
}

/// An SE opened with its user PIN. Logs out when dropped.
pub struct OpenSe {
    serial: SeSerial,
    // A PKCS#11 session must not be used from two threads at once.
    session: Mutex<Session>,
    identity_private: ObjectHandle,
    identity_public_key: p256::PublicKey,
    wrap_key: ObjectHandle,
}

impl std::fmt::Debug for OpenSe {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OpenSe")
            .field("serial", &self.serial)
            .finish_non_exhaustive()
    }
}

/// What a sealed blob is for; bound into the associated data and the object label.
enum Sealed<'a> {
    Share(&'a ShareSlot),
    Secret(&'a str),
}

impl Sealed<'_> {
    fn label(&self) -> String {
        match self {
            Sealed::Share(slot) => {
                format!("{SHARE_PREFIX}{}/{}", slot.case_id(), slot.share_index())
            }
            Sealed::Secret(label) => format!("{SECRET_PREFIX}{label}"),
        }
    }

    fn describe(&self) -> String {
        match self {
            Sealed::Share(slot) => {
                format!("share {} of case {}", slot.share_index(), slot.case_id())
            }
            Sealed::Secret(label) => format!("secret {label:?}"),
        }
    }

    /// Domain tag, version, SE serial, kind and slot, each length-prefixed so that no two
    /// different inputs give the same bytes.
    fn aad(&self, serial: &SeSerial) -> Vec<u8> {
        fn field(out: &mut Vec<u8>, bytes: &[u8]) {
            // Every field is at most a few hundred bytes (parsed types), so u16 always fits.
            let len = u16::try_from(bytes.len()).unwrap_or(u16::MAX);
            out.extend_from_slice(&len.to_be_bytes());
            out.extend_from_slice(bytes);
        }
        let mut aad = Vec::with_capacity(96);
        field(&mut aad, AAD_DOMAIN);
        aad.push(BLOB_VERSION);
        field(&mut aad, serial.as_str().as_bytes());
        match self {
            Sealed::Share(slot) => {
                field(&mut aad, b"share");
                field(&mut aad, slot.case_id().as_bytes());
                field(&mut aad, &slot.share_index().to_be_bytes());
            }
            Sealed::Secret(label) => {
                field(&mut aad, b"secret");
                field(&mut aad, label.as_bytes());
            }
        }
        aad
    }
}

/// Split a blob into nonce and ciphertext after checking its version and length.
fn parse_blob(blob: &[u8]) -> Result<([u8; NONCE_LEN], &[u8])> {
    let (&version, rest) = blob.split_first().ok_or(Error::MalformedBlob("empty"))?;
    if version != BLOB_VERSION {
        return Err(Error::MalformedBlob("unknown version"));
    }
    if rest.len() < NONCE_LEN + TAG_LEN {
        return Err(Error::MalformedBlob("too short"));
    }
    let (nonce, ciphertext) = rest.split_at(NONCE_LEN);
    let nonce: [u8; NONCE_LEN] = nonce
        .try_into()
        .map_err(|_| Error::MalformedBlob("too short"))?;
    Ok((nonce, ciphertext))
}

impl OpenSe {
    /// The SE serial.
    pub fn serial(&self) -> &SeSerial {
        &self.serial
    }

    /// The identity public key.
    pub fn identity_public_key(&self) -> p256::PublicKey {
        self.identity_public_key
    }

    fn session(&self) -> std::sync::MutexGuard<'_, Session> {
        // A panic while holding the lock cannot leave the token half-updated in a way the
        // session would make worse, so a poisoned lock is still usable.
        self.session
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Store the certificate the HSM CA issued for the identity key (a public object).
    pub fn store_certificate(&self, certificate: &[u8]) -> Result<()> {
        self.session()
            .put_data(CERTIFICATE_LABEL, certificate, false)?;
        Ok(())
    }

    /// The stored certificate, if any.
    pub fn certificate(&self) -> Result<Option<Vec<u8>>> {
        Ok(self.session().get_data(CERTIFICATE_LABEL)?)
    }

    /// Change the user PIN. A wrong old PIN counts as a wrong PIN.
    pub fn change_pin(&self, old: &Pin, new: &Pin) -> Result<()> {
        let session = self.session();
        match session.set_pin(old.secret(), new.secret()) {
            Ok(()) => Ok(()),
            Err(p11::Error::PinIncorrect) => {
                let failures = read_failures(&session)?.saturating_add(1);
                write_failures(&session, failures)?;
                let status = pin_status_of(PinFlags::default(), failures);
                if status.locked {
                    Err(Error::PinLocked)
                } else {
                    Err(Error::WrongPin {
                        tries_left: status.tries_left,
                    })
                }
            }
            Err(p11::Error::PinLocked) => Err(Error::PinLocked),
            Err(other) => Err(other.into()),
        }
    }

    fn seal(&self, what: &Sealed<'_>, plaintext: &[u8]) -> Result<Vec<u8>> {
        let mut nonce = [0u8; NONCE_LEN];
        OsRng.fill_bytes(&mut nonce);
        let ciphertext = self.session().aes_gcm_encrypt(
            self.wrap_key,
            &nonce,
            &what.aad(&self.serial),
            plaintext,
        )?;
        let mut blob = Vec::with_capacity(1 + NONCE_LEN + ciphertext.len());
        blob.push(BLOB_VERSION);
        blob.extend_from_slice(&nonce);
        blob.extend_from_slice(&ciphertext);
        Ok(blob)
    }

    fn store_new(&self, what: &Sealed<'_>, blob: &[u8]) -> Result<()> {
        let session = self.session();
        let label = what.label();
        if session.get_data(&label)?.is_some() {
            return Err(Error::AlreadySealed {
                what: what.describe(),
            });
        }
        session.put_data(&label, blob, true)?;
        Ok(())
    }

    fn blob(&self, what: &Sealed<'_>) -> Result<Vec<u8>> {
        self.session()
            .get_data(&what.label())?
            .ok_or_else(|| Error::NotFound {
                what: what.describe(),
            })
    }

    fn open_blob(&self, what: &Sealed<'_>) -> Result<Zeroizing<Vec<u8>>> {
        let blob = self.blob(what)?;
        let (nonce, ciphertext) = parse_blob(&blob)?;
        self.session()
            .aes_gcm_decrypt(self.wrap_key, &nonce, &what.aad(&self.serial), ciphertext)
            .map_err(|e| match e {
                p11::Error::DecryptFailed => Error::UnsealFailed {
                    what: what.describe(),
                    serial: self.serial.to_string(),
                },
                other => Error::Token(other),
            })
    }

    /// Seal a key share into its slot. Refuses to overwrite a share already sealed there.
    pub fn seal_share(&self, slot: &ShareSlot, share: &[u8]) -> Result<()> {
        let what = Sealed::Share(slot);
        let blob = self.seal(&what, share)?;
        self.store_new(&what, &blob)
    }

    /// Unseal the key share of a slot. The result is wiped from memory when dropped.
    pub fn unseal_share(&self, slot: &ShareSlot) -> Result<Zeroizing<Vec<u8>>> {
        self.open_blob(&Sealed::Share(slot))
    }

    /// The sealed blob of a slot, as stored (for backup). It opens only on this SE, for this slot.
    pub fn sealed_blob(&self, slot: &ShareSlot) -> Result<Vec<u8>> {
        self.blob(&Sealed::Share(slot))
    }

    /// Store a sealed blob (e.g. from a backup) into a slot without opening it. Refuses to
    /// overwrite a share already sealed there.
    pub fn import_sealed_blob(&self, slot: &ShareSlot, blob: &[u8]) -> Result<()> {
        parse_blob(blob)?;
        self.store_new(&Sealed::Share(slot), blob)
    }

    /// The slots that hold a sealed share, sorted.
    pub fn list_shares(&self) -> Result<Vec<ShareSlot>> {
        let labels = self.session().list_data_labels()?;
        let mut slots: Vec<ShareSlot> = labels
            .iter()
            .filter_map(|l| l.strip_prefix(SHARE_PREFIX))
            .filter_map(|rest| {
                let (case_id, index) = rest.rsplit_once('/')?;
                ShareSlot::new(case_id, index.parse().ok()?).ok()
            })
            .collect();
        slots.sort();
        Ok(slots)
    }

    /// Destroy the sealed share of a slot. Irreversible unless a backup of the blob exists.
    /// Returns whether there was one.
    pub fn delete_share(&self, slot: &ShareSlot) -> Result<bool> {
        Ok(self.session().delete_data(&Sealed::Share(slot).label())?)
    }

    /// Seal a secret under a label (e.g. pre-generated Paillier primes). Refuses to overwrite.
    pub fn seal_secret(&self, label: &str, secret: &[u8]) -> Result<()> {
        let label = types::parse_label(label)?;
        let what = Sealed::Secret(&label);
        let blob = self.seal(&what, secret)?;
        self.store_new(&what, &blob)
    }

    /// Unseal the secret stored under a label.
    pub fn unseal_secret(&self, label: &str) -> Result<Zeroizing<Vec<u8>>> {
        let label = types::parse_label(label)?;
        self.open_blob(&Sealed::Secret(&label))
    }

    /// Destroy the secret stored under a label; returns whether there was one.
    pub fn delete_secret(&self, label: &str) -> Result<bool> {
        let label = types::parse_label(label)?;
        Ok(self
            .session()
            .delete_data(&Sealed::Secret(&label).label())?)
    }

    /// Sign a SHA-256 digest with the identity key.
    pub fn sign_digest(&self, digest: &[u8; 32]) -> Result<p256::ecdsa::Signature> {
        Ok(self
            .session()
            .sign_p256_digest(self.identity_private, digest)?)
    }
}

impl channel::IdentitySigner for OpenSe {
    fn public_key(&self) -> p256::PublicKey {
        self.identity_public_key
    }

    fn sign_digest(
        &self,
        digest: &[u8; 32],
    ) -> Result<p256::ecdsa::Signature, channel::SignerError> {
        OpenSe::sign_digest(self, digest).map_err(|e| channel::SignerError(e.to_string()))
    }
}

impl Drop for OpenSe {
    fn drop(&mut self) {
        // Closing the last session also ends the login, but say so explicitly.
        let _ = self.session().logout();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lockout_policy_honours_the_token_flags() {
        let clean = PinFlags::default();
        assert_eq!(pin_status_of(clean, 0).tries_left, MAX_PIN_TRIES);
        assert_eq!(pin_status_of(clean, 2).tries_left, 1);
        assert!(pin_status_of(clean, 3).locked);
        let final_try = PinFlags {
            final_try: true,
            ..PinFlags::default()
        };
        assert_eq!(pin_status_of(final_try, 0).tries_left, 1);
        let locked = PinFlags {
            locked: true,
            ..PinFlags::default()
        };
        let status = pin_status_of(locked, 0);
        assert!(status.locked);
        assert_eq!(status.tries_left, 0);
    }

    #[test]
    fn aad_binds_serial_and_slot() {
        let a = SeSerial::parse("AAAA").unwrap();
        let b = SeSerial::parse("BBBB").unwrap();
        let s1 = ShareSlot::new("c", 1).unwrap();
        let s2 = ShareSlot::new("c", 2).unwrap();
        let aad = |serial: &SeSerial, slot: &ShareSlot| Sealed::Share(slot).aad(serial);
        assert_ne!(aad(&a, &s1), aad(&b, &s1));
        assert_ne!(aad(&a, &s1), aad(&a, &s2));
        assert_ne!(Sealed::Secret("c").aad(&a), aad(&a, &s1));
    }
}
