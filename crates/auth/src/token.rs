//! Session and anti-CSRF tokens (DESIGN.md §13, ASVS 5.0 V7).
//!
//! A token is 256 bits from the OS RNG, sent to the client once as 43 base64url characters. The
//! server keeps only its SHA-256 ([`TokenHash`]): a database leak then yields no usable session,
//! and because the token has full 256-bit entropy a fast hash is enough (there is nothing to
//! brute-force, unlike a password). Looking a session up by its hash through a database index is
//! fine for the same reason: the timing of an index probe on a hash of an unguessable value says
//! nothing useful. The CSRF token is checked against the hash stored with the session in
//! constant time, which binds it to that session.

use std::fmt;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use rand_core::{OsRng, RngCore};
use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

use crate::error::{Error, Result};

/// Random bytes in a token.
pub const TOKEN_BYTES: usize = 32;
/// Characters of a token in its base64url (unpadded) text form.
pub const TOKEN_CHARS: usize = 43;

/// The SHA-256 of a token: the only form a token is stored in.
///
/// Equality is constant-time. `Debug` does not print it (it is a lookup key for a live session).
#[derive(Clone, Copy)]
pub struct TokenHash([u8; 32]);

impl TokenHash {
    /// The 32 hash bytes, for a binary column.
    #[must_use]
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// From a binary column.
    #[must_use]
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }

    /// Lower-case hex, for a text column.
    #[must_use]
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }

    /// From a text column written by [`TokenHash::to_hex`].
    ///
    /// # Errors
    /// [`Error::MalformedTokenHash`] unless `s` is 64 hex digits.
    pub fn from_hex(s: &str) -> Result<Self> {
        let mut bytes = [0u8; 32];
        hex::decode_to_slice(s, &mut bytes).map_err(|_| Error::MalformedTokenHash)?;
        Ok(Self(bytes))
    }

    fn of(raw: &[u8]) -> Self {
        Self(Sha256::digest(raw).into())
    }
}

impl PartialEq for TokenHash {
    fn eq(&self, other: &Self) -> bool {
        self.0.ct_eq(&other.0).into()
    }
}

impl Eq for TokenHash {}

impl fmt::Debug for TokenHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("TokenHash(<redacted>)")
    }
}

/// The raw text of a token: 43 base64url characters encoding 32 random bytes.
struct RawToken(SecretString);

impl RawToken {
    fn generate() -> Result<Self> {
        let mut bytes = Zeroizing::new([0u8; TOKEN_BYTES]);
        OsRng
            .try_fill_bytes(bytes.as_mut_slice())
            .map_err(|_| Error::Randomness)?;
        Ok(Self(SecretString::from(
            URL_SAFE_NO_PAD.encode(bytes.as_slice()),
        )))
    }

    /// Accepts only the exact shape this crate issues, so oversized or odd input is refused
    /// before it is hashed or looked up.
    fn parse(presented: &str) -> Result<Self> {
        if presented.len() != TOKEN_CHARS {
            return Err(Error::MalformedToken);
        }
        let mut bytes = Zeroizing::new([0u8; TOKEN_BYTES]);
        match URL_SAFE_NO_PAD.decode_slice(presented, bytes.as_mut_slice()) {
            Ok(TOKEN_BYTES) => Ok(Self(SecretString::from(presented))),
            _ => Err(Error::MalformedToken),
        }
    }

    fn hash(&self) -> TokenHash {
        TokenHash::of(self.0.expose_secret().as_bytes())
    }
}

/// A session token. The raw value goes to the client once (the `__Host-` cookie or the bearer
/// response); the server stores [`SessionToken::token_hash`].
pub struct SessionToken(RawToken);

impl SessionToken {
    /// 256 fresh bits from the OS RNG.
    ///
    /// # Errors
    /// [`Error::Randomness`] if the OS RNG fails.
    pub fn generate() -> Result<Self> {
        RawToken::generate().map(Self)
    }

    /// A token presented by a client (cookie or `Authorization: Bearer`).
    ///
    /// # Errors
    /// [`Error::MalformedToken`] unless it is 43 base64url characters.
    pub fn parse(presented: &str) -> Result<Self> {
        RawToken::parse(presented).map(Self)
    }

    /// The raw token, to hand to the client. Do not log or store it.
    #[must_use]
    pub fn expose(&self) -> &str {
        self.0 .0.expose_secret()
    }

    /// The SHA-256 of the token: the value to store and to look the session up by.
    #[must_use]
    pub fn token_hash(&self) -> TokenHash {
        self.0.hash()
    }
}

impl fmt::Debug for SessionToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SessionToken(<redacted>)")
    }
}

/// An anti-CSRF token, issued with a session and stored (hashed) beside it; the client echoes it
/// in a header on every state-changing request.
pub struct CsrfToken(RawToken);

impl CsrfToken {
    /// 256 fresh bits from the OS RNG.
    ///
    /// # Errors
    /// [`Error::Randomness`] if the OS RNG fails.
    pub fn generate() -> Result<Self> {
        RawToken::generate().map(Self)
    }

    /// The raw token, to hand to the client. Do not log or store it.
    #[must_use]
    pub fn expose(&self) -> &str {
        self.0 .0.expose_secret()
    }

    /// The SHA-256 of the token, stored with its session.
    #[must_use]
    pub fn token_hash(&self) -> TokenHash {
        self.0.hash()
    }

    /// Whether `presented` (the request header) is the CSRF token of the session whose stored
    /// CSRF hash is `expected`. A missing or malformed header is simply `false`. The comparison
    /// is constant-time.
    #[must_use]
    pub fn verify(presented: &str, expected: &TokenHash) -> bool {
        match RawToken::parse(presented) {
            Ok(raw) => raw.hash().0.ct_eq(&expected.0).into(),
            Err(_) => false,
        }
    }
}

impl fmt::Debug for CsrfToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("CsrfToken(<redacted>)")
    }
}
