//! Authentication logic shared by the offline and online zones' APIs (DESIGN.md §13): the
//! password policy and Argon2id hashing ([`password`]), usernames ([`username`]), session and
//! anti-CSRF tokens ([`token`]), session lifetime rules ([`session`]), sign-in throttling
//! and rate limits ([`throttle`]), four-eyes proposals ([`proposal`]), the role/permission table
//! of both zones ([`role`]) and the verbs of the zones' account stores ([`accounts`]).
//!
//! The crate is storage-agnostic and has no I/O: the API crates keep the rows (users, sessions,
//! attempts) and call in here with them. Time is always a parameter (`now`), so tests control it
//! and nothing here reads the clock; randomness comes from the OS RNG. No password, token or
//! hash appears in an error message or a `Debug` output: secrets live in `secrecy` boxes and
//! intermediate copies are zeroised.

pub mod accounts;
pub mod error;
pub mod password;
pub mod proposal;
pub mod role;
pub mod session;
#[cfg(feature = "sql")]
pub mod sql;
pub mod throttle;
pub mod token;
pub mod username;

pub use accounts::{Account, AccountStore, Registration, SessionRow, SignInFailure, StoredSession};
pub use error::{Error, Result};
pub use password::{
    is_common_password, needs_rehash, verify, HashParams, Password, PasswordHash, PasswordHasher,
};
pub use role::{Action, Role, Zone};
pub use secrecy::SecretString;
pub use session::{NewSession, SessionPolicy, SessionRejected, SessionState};
pub use throttle::{
    Backoff, Counter, CounterStore, Decision, Limit, RateLimit, SignInKeys, SignInLimits,
};
pub use token::{CsrfToken, SessionToken, TokenHash};
pub use username::Username;
