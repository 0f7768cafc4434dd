//! The crate's typed error. Messages are sentences a user (or an operator, for the server-side
//! ones) can act on; none of them ever carries a password, a token or a hash, so they are safe to
//! return in a problem response and to log.

/// What went wrong in `custody-auth`.
///
/// The first group (passwords and usernames) are 4xx-style validation errors for the person at
/// the keyboard. The rest are server-side faults the API edge should map to an opaque 500 and log.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Error {
    /// The new password has fewer characters than the policy allows.
    #[error("The password is too short: use at least {min} characters.")]
    PasswordTooShort {
        /// The minimum number of characters.
        min: usize,
    },
    /// The new password has more characters than the policy allows.
    #[error("The password is too long: use at most {max} characters.")]
    PasswordTooLong {
        /// The maximum number of characters.
        max: usize,
    },
    /// The new password is on the bundled list of common or breached passwords.
    #[error("This password is too common and easy to guess. Choose a different one; a few unrelated words make a good password.")]
    PasswordTooCommon,
    /// The new password equals or contains the username.
    #[error("The password must not contain the username. Choose a different one.")]
    PasswordContainsUsername,
    /// The username is shorter or longer than allowed.
    #[error("The username must be between {min} and {max} characters long.")]
    UsernameLength {
        /// The minimum number of characters.
        min: usize,
        /// The maximum number of characters.
        max: usize,
    },
    /// The username uses a character outside the allowed set.
    #[error("The username may only contain letters a-z, digits 0-9, '.', '_' and '-', and must start with a letter or a digit.")]
    UsernameCharacters,
    /// A role name read from storage or a request is not one of the known roles.
    #[error("Unknown role. Use one of: none, admin, trader, auditor, case_manager, operator.")]
    UnknownRole,
    /// Argon2 parameters below the DESIGN.md §13 minimum were requested.
    #[error("The password hashing parameters are below the minimum (Argon2id m=19456 KiB, t=2, p=1); raise them in the configuration.")]
    WeakHashParams,
    /// Argon2 parameters that the library rejects (for example absurdly large) were requested.
    #[error(
        "The password hashing parameters are invalid; check m (KiB), t and p in the configuration."
    )]
    InvalidHashParams,
    /// A stored password hash could not be parsed as an Argon2id PHC string, or its parameters are
    /// outside the range this crate is willing to compute.
    #[error("The stored password hash is not a usable Argon2id hash; the user's password has to be reset.")]
    UnusableStoredHash,
    /// The session-policy timeouts are inconsistent (zero, or idle longer than absolute).
    #[error("The session timeouts are invalid: both must be positive and the idle timeout must not exceed the absolute timeout.")]
    InvalidSessionPolicy,
    /// The throttle policy is inconsistent (zero window, or base delay above the cap).
    #[error("The throttle policy is invalid: the window must be positive and the base delay must not exceed the maximum delay.")]
    InvalidThrottlePolicy,
    /// A token presented by a client is not a well-formed token of this crate.
    #[error("The token is malformed; sign in again.")]
    MalformedToken,
    /// A stored token hash is not 64 hexadecimal characters.
    #[error("The stored token hash is malformed; the session has to be discarded.")]
    MalformedTokenHash,
    /// The operating system's random number generator failed.
    #[error("The system random number generator is unavailable; the server cannot create secrets until it is fixed.")]
    Randomness,
    /// A time computation overflowed (a timestamp or timeout far outside any sane range).
    #[error("A time calculation overflowed; check the server clock and the configured timeouts.")]
    TimeOverflow,
    /// Argon2 failed for a reason other than a wrong password (it names the library's reason,
    /// which never includes the input).
    #[error("Password hashing failed ({0}); this is a server fault.")]
    Hashing(String),
}

/// `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
