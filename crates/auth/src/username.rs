//! Usernames: parsed once at the edge into a case-folded, conservative form, so that `Alice` and
//! `alice` are the same account everywhere (unique index, lookups, throttling keys, the
//! password-contains-username rule) and so that no look-alike Unicode, whitespace or control
//! character can ever reach a log line or a database key.

use std::fmt;

use crate::error::{Error, Result};

/// A valid username: 3..=64 characters from `[a-z0-9._-]`, starting with a letter or digit.
///
/// ASCII upper case is folded to lower case during parsing; anything else outside the set is
/// rejected rather than folded, because Unicode case folding and confusables are exactly how two
/// different-looking names end up colliding (or two identical-looking names not colliding).
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Username(String);

impl Username {
    /// The fewest characters a username may have.
    pub const MIN_LEN: usize = 3;
    /// The most characters a username may have.
    pub const MAX_LEN: usize = 64;

    /// Parses and case-folds a username.
    ///
    /// # Errors
    /// [`Error::UsernameLength`] outside 3..=64 characters, [`Error::UsernameCharacters`] for a
    /// character outside `[A-Za-z0-9._-]` or a first character that is not a letter or digit.
    pub fn parse(raw: &str) -> Result<Self> {
        // Count characters, not bytes, so a non-ASCII name gets the charset error (which tells
        // the user what to fix) rather than a misleading length error.
        let len = raw.chars().count();
        if !(Self::MIN_LEN..=Self::MAX_LEN).contains(&len) {
            return Err(Error::UsernameLength {
                min: Self::MIN_LEN,
                max: Self::MAX_LEN,
            });
        }
        let allowed = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-');
        if !raw.chars().all(allowed) || !raw.starts_with(|c: char| c.is_ascii_alphanumeric()) {
            return Err(Error::UsernameCharacters);
        }
        Ok(Self(raw.to_ascii_lowercase()))
    }

    /// The case-folded username, as stored and compared.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Username {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

// A username is not a secret, so Debug shows it (it is what makes test failures readable).
impl fmt::Debug for Username {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Username").field(&self.0).finish()
    }
}

impl std::str::FromStr for Username {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        Self::parse(s)
    }
}

impl AsRef<str> for Username {
    fn as_ref(&self) -> &str {
        &self.0
    }
}
