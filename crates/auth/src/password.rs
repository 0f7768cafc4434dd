//! Passwords: the policy a new password must meet, and Argon2id hashing and verification
//! (DESIGN.md §13, OWASP ASVS 5.0 V6).
//!
//! The policy is deliberately short: 8 to 64 characters (Unicode scalar values after NFC
//! normalisation, so "é" typed precomposed or decomposed counts and hashes the same), no
//! composition rules, a rejection list of common passwords plus the username, and a strength
//! estimate (`zxcvbn`, with the username as a known input) of at least score 2. Hashes are
//! Argon2id PHC strings with at least m=19456 KiB, t=2, p=1, a 16-byte salt from the OS RNG,
//! compared in constant time. Unknown users are "verified" against a dummy hash with the same
//! parameters so the response time does not tell an attacker which usernames exist.

use std::collections::HashSet;
use std::fmt;
use std::sync::LazyLock;

use argon2::password_hash::{PasswordHasher as _, PasswordVerifier as _};
use argon2::{Algorithm, Argon2, Version};
use rand_core::{OsRng, RngCore};
use secrecy::{ExposeSecret, SecretBox, SecretString};
use unicode_normalization::UnicodeNormalization;
use zeroize::Zeroizing;

use crate::error::{Error, Result};
use crate::username::Username;

/// The bundled list (see the header of `data/common-passwords.txt` for source and licence).
static COMMON_PASSWORDS: LazyLock<HashSet<&'static str>> = LazyLock::new(|| {
    include_str!("../data/common-passwords.txt")
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty() && !line.starts_with('#'))
        .collect()
});

/// The lowest strength estimate a new password may have: `zxcvbn`'s score 2, more than 10^6
/// guesses. It is the highest score an eight-character password can reach (the estimator
/// credits a random string with at most 10^length guesses), so it keeps DESIGN.md §13's minimum
/// of eight characters meaningful while refusing what the list misses (`password123`,
/// `Password123!`, `summer2024`: dictionary words with digits, dates, keyboard walks).
const MIN_SCORE: zxcvbn::Score = zxcvbn::Score::Two;

/// Whether `candidate` is on the bundled common-password list, ignoring case.
#[must_use]
pub fn is_common_password(candidate: &str) -> bool {
    let lowered = lowercase(candidate);
    COMMON_PASSWORDS.contains(lowered.as_str())
}

/// Lower-cases into a buffer sized up front and zeroised on drop, so no copy of a password is
/// left behind in a freed reallocation. (Lower-casing grows UTF-8 by at most half.)
fn lowercase(s: &str) -> Zeroizing<String> {
    let mut out = Zeroizing::new(String::with_capacity(s.len().saturating_mul(3)));
    out.extend(s.chars().flat_map(char::to_lowercase));
    out
}

/// NFC-normalises into a buffer sized up front and zeroised on drop. NFC expands UTF-8 by at
/// most a factor of three, so the buffer never reallocates.
fn nfc(s: &str) -> Zeroizing<String> {
    let mut out = Zeroizing::new(String::with_capacity(s.len().saturating_mul(3)));
    out.extend(s.nfc());
    out
}

/// A new password that meets the policy, NFC-normalised, zeroised on drop, never printed.
///
/// Only new passwords (registration, change, reset) go through [`Password::parse`]; a login
/// attempt is checked with [`PasswordHasher::verify`] as typed, because the policy may have
/// changed since the password was set.
pub struct Password(SecretBox<String>);

impl Password {
    /// The fewest characters a password may have (ASVS 5.0 6.2.1).
    pub const MIN_CHARS: usize = 8;
    /// The most characters a password may have (ASVS 5.0 6.2.9 asks for at least 64).
    pub const MAX_CHARS: usize = 64;
    /// No NFC composition turns more than 16 UTF-8 bytes into one character, so anything longer
    /// than this cannot be a valid password; rejecting it first bounds the work done on input.
    const MAX_INPUT_BYTES: usize = Self::MAX_CHARS * 16;

    /// Checks a new password against the policy.
    ///
    /// `raw` is taken by value and zeroised here, so the caller's copy does not linger.
    ///
    /// # Errors
    /// [`Error::PasswordTooShort`], [`Error::PasswordTooLong`], [`Error::PasswordTooCommon`] (on
    /// the bundled list, ignoring case, or estimated too easy to guess by `zxcvbn`) or
    /// [`Error::PasswordContainsUsername`] (ignoring case).
    pub fn parse(raw: String, username: &Username) -> Result<Self> {
        let raw = Zeroizing::new(raw);
        if raw.len() > Self::MAX_INPUT_BYTES {
            return Err(Error::PasswordTooLong {
                max: Self::MAX_CHARS,
            });
        }
        let mut normalised = nfc(&raw);
        let chars = normalised.chars().count();
        if chars < Self::MIN_CHARS {
            return Err(Error::PasswordTooShort {
                min: Self::MIN_CHARS,
            });
        }
        if chars > Self::MAX_CHARS {
            return Err(Error::PasswordTooLong {
                max: Self::MAX_CHARS,
            });
        }
        let lowered = lowercase(&normalised);
        if COMMON_PASSWORDS.contains(lowered.as_str()) {
            return Err(Error::PasswordTooCommon);
        }
        if lowered.contains(username.as_str()) {
            return Err(Error::PasswordContainsUsername);
        }
        if zxcvbn::zxcvbn(&normalised, &[username.as_str()]).score() < MIN_SCORE {
            return Err(Error::PasswordTooCommon);
        }
        // Move (not copy) the String out of its zeroising wrapper into the secret box, which
        // zeroises it on drop; the heap buffer itself never moves.
        let owned = std::mem::take(&mut *normalised);
        Ok(Self(SecretBox::new(Box::new(owned))))
    }

    /// The normalised password, for hashing.
    fn expose(&self) -> &str {
        self.0.expose_secret()
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password(<redacted>)")
    }
}

/// Argon2id cost parameters. Construct with [`HashParams::default`] (the DESIGN.md §13 minimum,
/// which is also OWASP's) or [`HashParams::new`] to go higher; values below the minimum are
/// refused so a configuration mistake cannot weaken stored hashes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HashParams {
    m_cost_kib: u32,
    t_cost: u32,
    p_cost: u32,
}

impl HashParams {
    /// Minimum memory, KiB (19 MiB).
    pub const MIN_M_COST_KIB: u32 = 19_456;
    /// Minimum iterations.
    pub const MIN_T_COST: u32 = 2;
    /// Minimum parallelism.
    pub const MIN_P_COST: u32 = 1;
    /// Upper bounds accepted for both configuration and stored hashes: a stored hash asking for
    /// more (corrupted or planted) would let one login attempt tie up the server.
    pub const MAX_M_COST_KIB: u32 = 1 << 20;
    /// See [`HashParams::MAX_M_COST_KIB`].
    pub const MAX_T_COST: u32 = 64;
    /// See [`HashParams::MAX_M_COST_KIB`].
    pub const MAX_P_COST: u32 = 16;

    /// Parameters at or above the minimum.
    ///
    /// # Errors
    /// [`Error::WeakHashParams`] below the minimum; [`Error::InvalidHashParams`] above the upper
    /// bounds.
    pub fn new(m_cost_kib: u32, t_cost: u32, p_cost: u32) -> Result<Self> {
        if m_cost_kib < Self::MIN_M_COST_KIB
            || t_cost < Self::MIN_T_COST
            || p_cost < Self::MIN_P_COST
        {
            return Err(Error::WeakHashParams);
        }
        Self::bounded(m_cost_kib, t_cost, p_cost)
    }

    fn bounded(m_cost_kib: u32, t_cost: u32, p_cost: u32) -> Result<Self> {
        if m_cost_kib > Self::MAX_M_COST_KIB
            || t_cost > Self::MAX_T_COST
            || p_cost > Self::MAX_P_COST
        {
            return Err(Error::InvalidHashParams);
        }
        Ok(Self {
            m_cost_kib,
            t_cost,
            p_cost,
        })
    }

    /// Cheap parameters (m=64 KiB, t=1) so test suites that create many users run fast.
    ///
    /// They are far below the minimum and must never be used outside tests; the name says so
    /// and it is only compiled with the `insecure-test-params` feature, which only dev
    /// dependencies enable. [`PasswordHasher::needs_rehash`] flags hashes made with them as soon
    /// as the default parameters are in force.
    #[cfg(feature = "insecure-test-params")]
    #[must_use]
    pub const fn insecure_for_tests_only() -> Self {
        Self {
            m_cost_kib: 64,
            t_cost: 1,
            p_cost: 1,
        }
    }

    /// Memory cost in KiB.
    #[must_use]
    pub const fn m_cost_kib(&self) -> u32 {
        self.m_cost_kib
    }

    /// Number of iterations.
    #[must_use]
    pub const fn t_cost(&self) -> u32 {
        self.t_cost
    }

    /// Degree of parallelism.
    #[must_use]
    pub const fn p_cost(&self) -> u32 {
        self.p_cost
    }

    fn argon2(&self) -> Result<Argon2<'static>> {
        let params = argon2::Params::new(self.m_cost_kib, self.t_cost, self.p_cost, None)
            .map_err(|_| Error::InvalidHashParams)?;
        Ok(Argon2::new(Algorithm::Argon2id, Version::V0x13, params))
    }
}

impl Default for HashParams {
    fn default() -> Self {
        Self {
            m_cost_kib: Self::MIN_M_COST_KIB,
            t_cost: Self::MIN_T_COST,
            p_cost: Self::MIN_P_COST,
        }
    }
}

/// A stored password hash: an Argon2id PHC string (`$argon2id$v=19$m=…,t=…,p=…$salt$hash`).
///
/// Not secret in the way a password is, but still offline-crackable material, so `Debug` does
/// not print it; store [`PasswordHash::as_str`] in the `password_hash` column.
#[derive(Clone, PartialEq, Eq)]
pub struct PasswordHash(String);

impl PasswordHash {
    /// The PHC string, for storage.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The PHC string, for storage.
    #[must_use]
    pub fn into_string(self) -> String {
        self.0
    }
}

impl fmt::Debug for PasswordHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PasswordHash(<redacted>)")
    }
}

/// The parameters of a stored PHC string, when it is an Argon2id v19 hash within bounds.
fn stored_params(stored: &str) -> Result<(argon2::PasswordHash, HashParams)> {
    let parsed = argon2::PasswordHash::new(stored).map_err(|_| Error::UnusableStoredHash)?;
    if parsed.algorithm != argon2::ARGON2ID_IDENT
        || parsed.version != Some(Version::V0x13.into())
        || parsed.salt.is_none()
        || parsed.hash.is_none()
    {
        return Err(Error::UnusableStoredHash);
    }
    let params = argon2::Params::try_from(&parsed).map_err(|_| Error::UnusableStoredHash)?;
    let params = HashParams::bounded(params.m_cost(), params.t_cost(), params.p_cost())
        .map_err(|_| Error::UnusableStoredHash)?;
    Ok((parsed, params))
}

/// Whether a stored hash should be replaced at the next successful login: it is not Argon2id
/// v19, cannot be parsed, or was made with parameters other than `params` (older, cheaper ones
/// after the configuration was raised, or test parameters).
#[must_use]
pub fn needs_rehash(stored: &str, params: &HashParams) -> bool {
    !matches!(stored_params(stored), Ok((_, used)) if used == *params)
}

/// Checks a login attempt against a stored hash, in constant time with respect to the hash
/// output. Returns `Ok(false)` for a wrong password.
///
/// The candidate is NFC-normalised exactly as [`Password::parse`] did before hashing.
///
/// # Errors
/// [`Error::UnusableStoredHash`] if `stored` is not an Argon2id v19 PHC string within bounds;
/// [`Error::Hashing`] if Argon2 fails for another reason.
pub fn verify(candidate: &SecretString, stored: &str) -> Result<bool> {
    let (parsed, _) = stored_params(stored)?;
    // No password set through `Password::parse` is longer than this, so a longer candidate is
    // wrong; answering without hashing bounds the work a request can cause. This reveals nothing
    // about the account: the answer depends on the input length only.
    if candidate.expose_secret().len() > Password::MAX_INPUT_BYTES {
        return Ok(false);
    }
    let normalised = nfc(candidate.expose_secret());
    // Argon2 recomputes with the stored salt and parameters and compares the outputs with
    // `subtle` (phc::Output's PartialEq is ConstantTimeEq), so the time does not depend on how
    // many bytes match.
    match Argon2::default().verify_password(normalised.as_bytes(), &parsed) {
        Ok(()) => Ok(true),
        Err(argon2::password_hash::Error::PasswordInvalid) => Ok(false),
        Err(other) => Err(Error::Hashing(other.to_string())),
    }
}

/// Hashes and verifies passwords with one set of parameters, and holds the dummy hash that
/// makes a login for an unknown user cost the same as one for a known user.
///
/// Build it once at start-up (it computes one hash) and share it.
pub struct PasswordHasher {
    params: HashParams,
    dummy: PasswordHash,
}

impl PasswordHasher {
    /// A hasher for `params`, with a fresh dummy hash (of a random password nobody knows) made
    /// with the same parameters.
    ///
    /// # Errors
    /// [`Error::Randomness`] if the OS RNG fails; [`Error::InvalidHashParams`] or
    /// [`Error::Hashing`] if Argon2 rejects the parameters.
    pub fn new(params: HashParams) -> Result<Self> {
        let mut secret = Zeroizing::new([0u8; 32]);
        OsRng
            .try_fill_bytes(secret.as_mut_slice())
            .map_err(|_| Error::Randomness)?;
        let dummy = hash_bytes(secret.as_slice(), &params)?;
        Ok(Self { params, dummy })
    }

    /// The parameters new hashes are made with.
    #[must_use]
    pub fn params(&self) -> HashParams {
        self.params
    }

    /// Hashes a new password (random 16-byte salt from the OS RNG).
    ///
    /// # Errors
    /// [`Error::Randomness`] if the OS RNG fails; [`Error::Hashing`] if Argon2 fails.
    pub fn hash(&self, password: &Password) -> Result<PasswordHash> {
        hash_bytes(password.expose().as_bytes(), &self.params)
    }

    /// Checks a login attempt against a stored hash; see [`verify`].
    ///
    /// # Errors
    /// As [`verify`].
    pub fn verify(&self, candidate: &SecretString, stored: &str) -> Result<bool> {
        verify(candidate, stored)
    }

    /// The login check that does not reveal whether the user exists: pass the user's stored hash,
    /// or `None` when no such user (or the user has no password). With `None` the candidate is
    /// verified against the dummy hash by the same code, with the same parameters, and the answer
    /// is always `false`.
    ///
    /// # Errors
    /// As [`verify`].
    pub fn verify_login(&self, candidate: &SecretString, stored: Option<&str>) -> Result<bool> {
        match stored {
            Some(stored) => verify(candidate, stored),
            None => {
                // The result is discarded: even if someone guessed the random dummy password,
                // an unknown user must never log in.
                let _ = verify(candidate, self.dummy.as_str())?;
                Ok(false)
            }
        }
    }

    /// The dummy hash, exposed so tests can check it carries the configured parameters. It is a
    /// hash of 32 random bytes that were discarded, so it reveals nothing.
    #[must_use]
    pub fn dummy_hash(&self) -> &PasswordHash {
        &self.dummy
    }

    /// Whether `stored` should be replaced after the next successful login; see [`needs_rehash`].
    #[must_use]
    pub fn needs_rehash(&self, stored: &str) -> bool {
        needs_rehash(stored, &self.params)
    }
}

impl fmt::Debug for PasswordHasher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PasswordHasher")
            .field("params", &self.params)
            .finish_non_exhaustive()
    }
}

fn hash_bytes(password: &[u8], params: &HashParams) -> Result<PasswordHash> {
    let mut salt = [0u8; 16];
    OsRng
        .try_fill_bytes(&mut salt)
        .map_err(|_| Error::Randomness)?;
    let phc = params
        .argon2()?
        .hash_password_with_salt(password, &salt)
        .map_err(|e| Error::Hashing(e.to_string()))?;
    Ok(PasswordHash(phc.to_string()))
}
