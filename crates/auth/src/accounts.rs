//! The verbs of an account store: what both zones' databases offer the sign-in gate
//! (`web::gate`), so sign-in, sessions, re-authentication, sign-out and registration are one
//! piece of code with the same verbs in both zones. The stores keep the rows (users, sessions,
//! attempts) and their audit records; nothing here does I/O.

use std::future::Future;
use std::time::SystemTime;

use crate::Role;

/// What the gate needs to know about an account.
pub trait Account: Clone + Send + Sync {
    /// The account's id.
    fn id(&self) -> &str;
    /// Its login name.
    fn username(&self) -> &str;
    /// Its Argon2id PHC string.
    fn password_hash(&self) -> &str;
    /// Its role in the permission table.
    fn role(&self) -> Role;
    /// Whether it may sign in (not disabled, not awaiting approval).
    fn is_active(&self) -> bool;
}

/// A stored session, as far as the gate is concerned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredSession {
    /// The session's id.
    pub id: String,
    /// Its account.
    pub user_id: String,
    /// The hash of its anti-CSRF token (hex).
    pub csrf_hash: String,
    /// When it began.
    pub created_at: SystemTime,
    /// Its last authenticated request.
    pub last_seen_at: SystemTime,
    /// When it was revoked, if it was.
    pub revoked_at: Option<SystemTime>,
}

/// A session to store at a successful sign-in: only hashes of the tokens.
#[derive(Clone)]
pub struct SessionRow {
    /// Hash of the session token (hex).
    pub token_hash: String,
    /// Hash of the anti-CSRF token (hex).
    pub csrf_hash: String,
    /// When it expires if unused.
    pub expires_at: SystemTime,
    /// The session the client presented, revoked in the same transaction (rotation).
    pub revoke_previous: Option<String>,
}

impl std::fmt::Debug for SessionRow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SessionRow")
            .field("expires_at", &self.expires_at)
            .finish_non_exhaustive()
    }
}

/// Why an evaluated sign-in started no session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignInFailure {
    /// The password was wrong, or no account has the name.
    WrongPassword,
    /// The password was right but the account may not sign in.
    Disabled,
    /// A re-authentication (password re-entry for a sensitive operation) failed.
    Reauthentication,
}

/// A self-registration, validated and hashed.
#[derive(Clone)]
pub struct Registration {
    /// The login name (a parsed `Username`).
    pub username: String,
    /// The name shown in the UI.
    pub display_name: String,
    /// A phone number, where the zone keeps one.
    pub phone: Option<String>,
    /// The Argon2id PHC string.
    pub password_hash: String,
}

impl std::fmt::Debug for Registration {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Registration")
            .field("username", &self.username)
            .finish_non_exhaustive()
    }
}

/// A zone's accounts and sessions. Every write is one transaction with its audit record.
pub trait AccountStore: Send + Sync {
    /// The zone's account row.
    type Account: Account;
    /// The store's error.
    type Error: Send;

    /// The account with this login name.
    fn account_by_username(
        &self,
        username: &str,
    ) -> impl Future<Output = Result<Option<Self::Account>, Self::Error>> + Send;

    /// The account with this id.
    fn account(
        &self,
        id: &str,
    ) -> impl Future<Output = Result<Option<Self::Account>, Self::Error>> + Send;

    /// The session with this token hash, revoked or not (the gate judges it).
    fn session_by_token_hash(
        &self,
        token_hash: &str,
    ) -> impl Future<Output = Result<Option<StoredSession>, Self::Error>> + Send;

    /// Record that a session was used (its idle timeout). Bookkeeping, not audited.
    fn touch_session(
        &self,
        session_id: &str,
        now: SystemTime,
    ) -> impl Future<Output = Result<(), Self::Error>> + Send;

    /// A sign-in whose password was right, by an account that may sign in: the attempt, the
    /// new session (the presented one revoked), `auth.login_succeeded`.
    fn record_sign_in(
        &self,
        account: &Self::Account,
        ip: &str,
        session: SessionRow,
        now: SystemTime,
    ) -> impl Future<Output = Result<StoredSession, Self::Error>> + Send;

    /// An evaluated sign-in or re-authentication that started no session: the attempt under
    /// `username` (as typed), audited (`auth.login_failed` or `auth.reauth_failed`).
    fn record_failed_sign_in(
        &self,
        username: &str,
        account: Option<&Self::Account>,
        ip: &str,
        why: SignInFailure,
        now: SystemTime,
    ) -> impl Future<Output = Result<(), Self::Error>> + Send;

    /// End a session of `user_id` (`auth.logout`).
    fn sign_out(
        &self,
        session_id: &str,
        user_id: &str,
        now: SystemTime,
    ) -> impl Future<Output = Result<(), Self::Error>> + Send;

    /// Self-registration: an account with no role, in the state the zone gives new accounts.
    fn register(
        &self,
        registration: Registration,
        now: SystemTime,
    ) -> impl Future<Output = Result<Self::Account, Self::Error>> + Send;
}
