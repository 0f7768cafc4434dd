//! Session lifetime rules (DESIGN.md §13, ASVS 5.0 V7): an idle timeout, an absolute timeout,
//! and revocation on logout, password change and account disable. The API crates keep the rows;
//! this module decides, from a row's timestamps and `now`, whether the session still stands.

use std::time::{Duration, SystemTime};

use crate::error::{Error, Result};
use crate::token::{CsrfToken, SessionToken, TokenHash};

/// Why a session no longer authenticates its holder. Each is a sentence the client can act on
/// (all of them mean "sign in again").
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SessionRejected {
    /// The session was ended (logout, or an admin revoked it).
    #[error("The session has been signed out. Sign in again.")]
    Revoked,
    /// The user account is disabled.
    #[error("The account is disabled. Contact an administrator.")]
    UserDisabled,
    /// The password changed after the session began.
    #[error(
        "The password was changed after this session began. Sign in again with the new password."
    )]
    PasswordChanged,
    /// The absolute lifetime is over.
    #[error("The session has reached its maximum lifetime. Sign in again.")]
    Expired,
    /// No request for longer than the idle timeout.
    #[error("The session timed out after a period of inactivity. Sign in again.")]
    Idle,
}

/// What the API crates store about a session, as far as its validity is concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionState {
    /// When the session was issued (at login).
    pub created_at: SystemTime,
    /// The last authenticated request; the caller updates it after a successful check.
    pub last_seen_at: SystemTime,
    /// When the session was revoked (logout, admin action), if it was.
    pub revoked_at: Option<SystemTime>,
    /// Whether the owning user is disabled now.
    pub user_disabled: bool,
    /// When the owning user's password last changed, if ever.
    pub password_changed_at: Option<SystemTime>,
}

/// A freshly issued session: give `token` and `csrf` to the client once, store the hashes.
#[derive(Debug)]
pub struct NewSession {
    /// The raw session token (cookie or bearer value).
    pub token: SessionToken,
    /// Its hash, the session's key in storage.
    pub token_hash: TokenHash,
    /// The raw anti-CSRF token (for the client to echo in a header).
    pub csrf: CsrfToken,
    /// Its hash, stored with the session.
    pub csrf_hash: TokenHash,
    /// When the session expires if it is not used: `now + idle_timeout` (never beyond the
    /// absolute limit). Suitable for the cookie's `Max-Age`/`Expires`.
    pub expires_at: SystemTime,
}

/// Idle and absolute session timeouts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionPolicy {
    idle_timeout: Duration,
    absolute_timeout: Duration,
}

impl Default for SessionPolicy {
    /// 15 minutes idle, 8 hours absolute: a working day at most, and an unattended screen in an
    /// operations room does not stay signed in for long.
    fn default() -> Self {
        Self {
            idle_timeout: Duration::from_secs(15 * 60),
            absolute_timeout: Duration::from_secs(8 * 60 * 60),
        }
    }
}

impl SessionPolicy {
    /// A policy with both timeouts positive and `idle_timeout <= absolute_timeout`.
    ///
    /// # Errors
    /// [`Error::InvalidSessionPolicy`] otherwise.
    pub fn new(idle_timeout: Duration, absolute_timeout: Duration) -> Result<Self> {
        if idle_timeout.is_zero() || idle_timeout > absolute_timeout {
            return Err(Error::InvalidSessionPolicy);
        }
        Ok(Self {
            idle_timeout,
            absolute_timeout,
        })
    }

    /// The idle timeout.
    #[must_use]
    pub fn idle_timeout(&self) -> Duration {
        self.idle_timeout
    }

    /// The absolute timeout.
    #[must_use]
    pub fn absolute_timeout(&self) -> Duration {
        self.absolute_timeout
    }

    /// Issues a new session at `now`. Call it at every login (and after re-authentication), never
    /// reuse an old token: that is the rotation that defeats session fixation.
    ///
    /// # Errors
    /// [`Error::Randomness`] if the OS RNG fails; [`Error::TimeOverflow`] for an absurd `now`.
    pub fn issue(&self, now: SystemTime) -> Result<NewSession> {
        let token = SessionToken::generate()?;
        let csrf = CsrfToken::generate()?;
        let expires_at = now
            .checked_add(self.idle_timeout)
            .ok_or(Error::TimeOverflow)?;
        Ok(NewSession {
            token_hash: token.token_hash(),
            csrf_hash: csrf.token_hash(),
            token,
            csrf,
            expires_at,
        })
    }

    /// Whether the session described by `state` is still valid at `now`.
    ///
    /// Checked in this order, so the most specific reason is reported: revoked, user disabled,
    /// password changed after the session was created, absolute lifetime, idle time. A session
    /// created in the same instant as a password change survives, so the caller can issue the
    /// user a fresh session right after the change. If the clock is behind a stored time the
    /// elapsed time counts as zero rather than failing, since a small clock step back must not
    /// sign everyone out (it also cannot extend a session beyond its limits).
    ///
    /// # Errors
    /// The [`SessionRejected`] reason.
    pub fn check(&self, state: &SessionState, now: SystemTime) -> Result<(), SessionRejected> {
        if state.revoked_at.is_some() {
            return Err(SessionRejected::Revoked);
        }
        if state.user_disabled {
            return Err(SessionRejected::UserDisabled);
        }
        if state
            .password_changed_at
            .is_some_and(|changed| changed > state.created_at)
        {
            return Err(SessionRejected::PasswordChanged);
        }
        let since = |t: SystemTime| now.duration_since(t).unwrap_or(Duration::ZERO);
        if since(state.created_at) >= self.absolute_timeout {
            return Err(SessionRejected::Expired);
        }
        if since(state.last_seen_at) >= self.idle_timeout {
            return Err(SessionRejected::Idle);
        }
        Ok(())
    }

    /// When the session in `state` will expire if it is not used again: the earlier of the idle
    /// and the absolute deadline. Useful to refresh the cookie after a request.
    ///
    /// # Errors
    /// [`Error::TimeOverflow`] for absurd stored times.
    pub fn expires_at(&self, state: &SessionState) -> Result<SystemTime> {
        let idle = state
            .last_seen_at
            .checked_add(self.idle_timeout)
            .ok_or(Error::TimeOverflow)?;
        let absolute = state
            .created_at
            .checked_add(self.absolute_timeout)
            .ok_or(Error::TimeOverflow)?;
        Ok(idle.min(absolute))
    }
}
