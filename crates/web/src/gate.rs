//! The sign-in gate of both zones: who is calling (cookie or bearer session), the CSRF and role
//! checks, re-authentication, sign-in, sign-out and self-registration, with the throttle of
//! `auth::throttle` in front of every password evaluation. One piece of code over each zone's
//! [`auth::AccountStore`], so both zones have the same verbs and the same behaviour.
//!
//! **Cookie or bearer.** Browsers get the session in the zone's `__Host-` cookie and the CSRF
//! token in the sign-in response body; every state-changing request (anything but GET, HEAD and
//! OPTIONS) with the cookie must echo the CSRF token in [`crate::CSRF_HEADER`]. Tools sign in as
//! bearer clients and send `Authorization: Bearer <token>`: a browser never attaches that
//! header by itself, so bearer requests need no CSRF header. A request carrying both uses the
//! bearer token.
//!
//! **Order of checks**, so the status says what to fix: no or invalid session → 401; cookie
//! state change without the right CSRF token → 403; role not allowed (`auth::Action`) → 403.
//!
//! **Sign-in.** Throttled per (account, source), per account and per source with growing
//! delays, never locked against the right password from the owner's own source; the attempt is
//! claimed before the password is evaluated (so N concurrent wrong passwords evaluate at most
//! what the limits allow), by the name as typed (unknown names are throttled too, and the
//! throttle does not tell which accounts exist). Every evaluated attempt is recorded. A new
//! session every time; the session the client presented is revoked (rotation).

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use auth::{
    Account, AccountStore, Action, CounterStore, CsrfToken, Decision, Password, PasswordHasher,
    Registration, SessionPolicy, SessionRow, SessionState, SessionToken, SignInFailure, SignInKeys,
    SignInLimits, StoredSession, TokenHash, Username,
};
use poem::Request;

use crate::{client_ip, presented_csrf, presented_token, state_changing, Via};

/// Why the gate refused, or failed.
#[derive(Debug)]
pub enum GateError<E> {
    /// No valid session (401), with the sentence to show.
    Unauthenticated(String),
    /// A cookie session's state change without the right CSRF token (403).
    Csrf,
    /// The caller's role may not do this (403).
    Forbidden {
        /// The caller's role.
        role: &'static str,
        /// What was refused.
        action: String,
    },
    /// Wrong name or password (401); which one is not said.
    InvalidCredentials,
    /// The password was right but the account may not sign in (403).
    AccountDisabled,
    /// A re-authentication's password was wrong (403).
    ReauthFailed,
    /// Throttled: try again after this long (429).
    Throttled(Duration),
    /// A field of a registration is not acceptable (422).
    Invalid {
        /// The field.
        field: &'static str,
        /// Why (no secret in it).
        error: auth::Error,
    },
    /// The account store failed.
    Store(E),
    /// A server fault (its text carries no secret).
    Internal(String),
}

impl<E> From<E> for GateError<E> {
    fn from(e: E) -> Self {
        GateError::Store(e)
    }
}

/// The gate's result.
pub type GateResult<T, E> = Result<T, GateError<E>>;

/// An authenticated caller.
#[derive(Debug, Clone)]
pub struct Caller<A> {
    /// The caller's account.
    pub user: A,
    /// The session the request presented.
    pub session_id: String,
}

/// A successful sign-in.
#[derive(Debug)]
pub struct SignedIn<A> {
    /// The account signed in.
    pub user: A,
    /// The anti-CSRF token, for the client to echo.
    pub csrf_token: String,
    /// The session token, for a bearer client only (a browser gets the cookie).
    pub session_token: Option<String>,
    /// When the session expires if unused.
    pub expires_at: SystemTime,
    /// The session cookie to set, for a browser.
    pub set_cookie: Option<String>,
}

/// One zone's gate, for one request's time.
pub struct Gate<'a, S, C> {
    /// The zone's accounts and sessions.
    pub store: &'a S,
    /// Where the throttle's counters live (the zone's database).
    pub counters: &'a C,
    /// The throttle's limits.
    pub limits: &'a SignInLimits,
    /// Session lifetimes.
    pub policy: &'a SessionPolicy,
    /// Argon2id.
    pub hasher: &'a Arc<PasswordHasher>,
    /// The zone's session cookie name.
    pub cookie: &'static str,
    /// Now.
    pub now: SystemTime,
}

impl<S, C> Gate<'_, S, C>
where
    S: AccountStore,
    C: CounterStore + Sync,
    S::Error: From<C::Error>,
{
    /// The session and account of the presented token, if valid now.
    pub async fn session_of(
        &self,
        req: &Request,
    ) -> GateResult<(StoredSession, S::Account, Via), S::Error> {
        let unauth = || {
            GateError::Unauthenticated(
                "sign in first: this request has no valid session".to_owned(),
            )
        };
        let (raw, via) = presented_token(req, self.cookie).ok_or_else(unauth)?;
        let token = SessionToken::parse(&raw).map_err(|_| unauth())?;
        let session = self
            .store
            .session_by_token_hash(&token.token_hash().to_hex())
            .await?
            .ok_or_else(unauth)?;
        let user = self
            .store
            .account(&session.user_id)
            .await?
            .ok_or_else(unauth)?;
        let state = SessionState {
            created_at: session.created_at,
            last_seen_at: session.last_seen_at,
            revoked_at: session.revoked_at,
            user_disabled: !user.is_active(),
            password_changed_at: None,
        };
        self.policy
            .check(&state, self.now)
            .map_err(|why| GateError::Unauthenticated(why.to_string()))?;
        Ok((session, user, via))
    }

    /// Authenticate the request and check that the caller's role may perform `action`.
    pub async fn authorize(
        &self,
        req: &Request,
        action: Action,
    ) -> GateResult<Caller<S::Account>, S::Error> {
        let (session, user, via) = self.session_of(req).await?;
        if via == Via::Cookie && state_changing(req.method()) {
            let expected = TokenHash::from_hex(&session.csrf_hash)
                .map_err(|e| GateError::Internal(e.to_string()))?;
            let ok = presented_csrf(req)
                .is_some_and(|presented| CsrfToken::verify(presented, &expected));
            if !ok {
                return Err(GateError::Csrf);
            }
        }
        let role = user.role();
        if !role.may(action) {
            return Err(GateError::Forbidden {
                role: role.as_str(),
                action: format!("{action:?}"),
            });
        }
        self.store.touch_session(&session.id, self.now).await?;
        Ok(Caller {
            user,
            session_id: session.id,
        })
    }

    /// Re-authentication for a sensitive operation (DESIGN.md §13): the caller's password
    /// again, throttled like a sign-in from the caller's source; a wrong one is recorded as a
    /// failed sign-in and refused with [`GateError::ReauthFailed`].
    pub async fn reauthenticate(
        &self,
        req: &Request,
        caller: &Caller<S::Account>,
        password: String,
    ) -> GateResult<(), S::Error> {
        let ip = client_ip(req);
        let keys = SignInKeys::new(caller.user.username(), &ip);
        self.claim_sign_in(&keys).await?;
        let ok = self
            .verify_password(password, Some(caller.user.password_hash().to_owned()))
            .await?;
        if ok {
            self.sign_in_succeeded(&keys).await
        } else {
            self.store
                .record_failed_sign_in(
                    caller.user.username(),
                    Some(&caller.user),
                    &ip,
                    SignInFailure::Reauthentication,
                    self.now,
                )
                .await?;
            Err(GateError::ReauthFailed)
        }
    }

    /// Sign in with `username` (as typed) and `password`; `bearer` clients get the session
    /// token in the reply, browsers the cookie.
    pub async fn sign_in(
        &self,
        req: &Request,
        username: &str,
        password: String,
        bearer: bool,
    ) -> GateResult<SignedIn<S::Account>, S::Error> {
        let ip = client_ip(req);
        let key: String = match Username::parse(username) {
            Ok(u) => u.as_str().to_owned(),
            Err(_) => username.chars().take(64).collect(),
        };
        let keys = SignInKeys::new(&key, &ip);
        self.claim_sign_in(&keys).await?;
        let user = self.store.account_by_username(&key).await?;
        let ok = self
            .verify_password(
                password,
                user.as_ref().map(|u| u.password_hash().to_owned()),
            )
            .await?;
        let Some(user) = user.filter(|_| ok) else {
            self.store
                .record_failed_sign_in(&key, None, &ip, SignInFailure::WrongPassword, self.now)
                .await?;
            return Err(GateError::InvalidCredentials);
        };
        if !user.is_active() {
            self.store
                .record_failed_sign_in(&key, Some(&user), &ip, SignInFailure::Disabled, self.now)
                .await?;
            return Err(GateError::AccountDisabled);
        }
        let issued = self
            .policy
            .issue(self.now)
            .map_err(|e| GateError::Internal(e.to_string()))?;
        let previous = match presented_token(req, self.cookie) {
            Some((raw, _)) => match SessionToken::parse(&raw) {
                Ok(t) => self
                    .store
                    .session_by_token_hash(&t.token_hash().to_hex())
                    .await?
                    .map(|s| s.id),
                Err(_) => None,
            },
            None => None,
        };
        let expires_at = self.now + self.policy.idle_timeout();
        self.store
            .record_sign_in(
                &user,
                &ip,
                SessionRow {
                    token_hash: issued.token_hash.to_hex(),
                    csrf_hash: issued.csrf_hash.to_hex(),
                    expires_at,
                    revoke_previous: previous,
                },
                self.now,
            )
            .await?;
        self.sign_in_succeeded(&keys).await?;
        let set_cookie = (!bearer).then(|| {
            crate::session_cookie(
                self.cookie,
                issued.token.expose(),
                self.policy.idle_timeout().as_secs(),
            )
        });
        Ok(SignedIn {
            user,
            csrf_token: issued.csrf.expose().to_owned(),
            session_token: bearer.then(|| issued.token.expose().to_owned()),
            expires_at,
            set_cookie,
        })
    }

    /// End the caller's session; the `Set-Cookie` value that clears the cookie.
    pub async fn sign_out(&self, caller: &Caller<S::Account>) -> GateResult<String, S::Error> {
        self.store
            .sign_out(&caller.session_id, caller.user.id(), self.now)
            .await?;
        Ok(crate::clear_cookie(self.cookie))
    }

    /// Claim a registration from the request's source: refused with
    /// [`GateError::Throttled`] beyond the per-source rate limit. Call it before anything else
    /// of the request is looked at.
    pub async fn claim_registration(&self, req: &Request) -> GateResult<(), S::Error> {
        let decision = self
            .limits
            .claim_registration(self.counters, &client_ip(req), self.now)
            .await
            .map_err(|e| GateError::Store(S::Error::from(e)))?;
        allowed(decision)
    }

    /// Self-registration, after [`Gate::claim_registration`]: the name and the password are
    /// judged here (`auth::Username`, `auth::Password`), the zone's other fields by the caller.
    pub async fn register(
        &self,
        username: &str,
        password: String,
        display_name: String,
        phone: Option<String>,
    ) -> GateResult<S::Account, S::Error> {
        let username = Username::parse(username).map_err(|error| GateError::Invalid {
            field: "username",
            error,
        })?;
        let password =
            Password::parse(password, &username).map_err(|error| GateError::Invalid {
                field: "password",
                error,
            })?;
        let hasher = self.hasher.clone();
        let hash = tokio::task::spawn_blocking(move || hasher.hash(&password))
            .await
            .map_err(|e| GateError::Internal(format!("a blocking task failed: {e}")))?
            .map_err(|e| GateError::Internal(e.to_string()))?;
        Ok(self
            .store
            .register(
                Registration {
                    username: username.as_str().to_owned(),
                    display_name,
                    phone,
                    password_hash: hash.into_string(),
                },
                self.now,
            )
            .await?)
    }

    /// Argon2id off the async threads; `stored = None` runs against a dummy hash so an unknown
    /// user costs as much as a known one.
    async fn verify_password(
        &self,
        password: String,
        stored: Option<String>,
    ) -> GateResult<bool, S::Error> {
        crate::verify_login(self.hasher.clone(), password, stored)
            .await
            .map_err(GateError::Internal)
    }

    /// Claim a sign-in (or re-authentication) attempt for `keys` before the password is
    /// evaluated.
    async fn claim_sign_in(&self, keys: &SignInKeys) -> GateResult<(), S::Error> {
        let decision = self
            .limits
            .claim_sign_in(self.counters, keys, self.now)
            .await
            .map_err(|e| GateError::Store(S::Error::from(e)))?;
        allowed(decision)
    }

    /// The claimed attempt succeeded: reset its (account, source) counter.
    async fn sign_in_succeeded(&self, keys: &SignInKeys) -> GateResult<(), S::Error> {
        self.limits
            .sign_in_succeeded(self.counters, keys)
            .await
            .map_err(|e| GateError::Store(S::Error::from(e)))
    }
}

fn allowed<E>(decision: Decision) -> GateResult<(), E> {
    match decision {
        Decision::Allow => Ok(()),
        Decision::Delay { retry_after } => Err(GateError::Throttled(retry_after)),
    }
}
