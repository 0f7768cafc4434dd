//! What every handler shares: the database, the Ethereum node, the export key, the pinned
//! offline keys, the password hasher, the session, throttle and lockout policies, the balance
//! cache and the clock.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use channel::IdentitySigner;
use chrono::{DateTime, Utc};
use contracts::{KeyRing, Kind};
use web::Clock;

use crate::error::ApiError;

/// The application state. Cheap to clone.
#[derive(Clone)]
pub struct AppState {
    pub(crate) inner: Arc<Inner>,
}

/// A balance read kept for [`AppStateBuilder::balance_cache_secs`].
#[derive(Clone, Debug)]
pub(crate) struct CachedBalances {
    pub read_at: DateTime<Utc>,
    pub balances: chain::Balances,
}

pub(crate) struct Inner {
    pub web_dir: Option<std::path::PathBuf>,
    pub checkpoint_dir: Option<::audit::CheckpointDir>,
    pub db: online_db::Db,
    pub chain: chain::Chain,
    pub signer: Arc<dyn IdentitySigner>,
    pub keyring: KeyRing,
    pub hasher: Arc<auth::PasswordHasher>,
    pub policy: auth::SessionPolicy,
    pub limits: auth::SignInLimits,
    pub clock: Arc<dyn Clock>,
    pub cache: Mutex<HashMap<String, CachedBalances>>,
    pub cache_secs: u64,
    pub request_ttl_secs: u64,
    pub amqp: Option<String>,
}

/// Builds an [`AppState`].
pub struct AppStateBuilder {
    web_dir: Option<std::path::PathBuf>,
    checkpoint_dir: Option<::audit::CheckpointDir>,
    db: online_db::Db,
    chain: chain::Chain,
    signer: Arc<dyn IdentitySigner>,
    hasher: auth::PasswordHasher,
    clock: Arc<dyn Clock>,
    offline_keys: Vec<p256::PublicKey>,
    policy: auth::SessionPolicy,
    limits: auth::SignInLimits,
    cache_secs: u64,
    request_ttl_secs: u64,
    amqp: Option<String>,
}

impl AppState {
    /// Start building: a database, the node, the export key (any [`IdentitySigner`]; the
    /// service uses [`hsm::OnlineHsm::export_signer`]), a password hasher (tests pass cheap parameters) and a
    /// clock.
    pub fn builder(
        db: online_db::Db,
        chain: chain::Chain,
        signer: Arc<dyn IdentitySigner>,
        hasher: auth::PasswordHasher,
        clock: Arc<dyn Clock>,
    ) -> AppStateBuilder {
        AppStateBuilder {
            web_dir: None,
            checkpoint_dir: None,
            db,
            chain,
            signer,
            hasher,
            clock,
            offline_keys: Vec::new(),
            policy: auth::SessionPolicy::default(),
            limits: auth::SignInLimits::default(),
            cache_secs: 15,
            request_ttl_secs: 24 * 3600,
            amqp: None,
        }
    }

    /// The database (for tests and tools).
    pub fn db(&self) -> &online_db::Db {
        &self.inner.db
    }

    /// The export key's public half (what the offline zone pins).
    pub fn export_public_key(&self) -> p256::PublicKey {
        self.inner.signer.public_key()
    }

    pub(crate) fn now(&self) -> DateTime<Utc> {
        self.inner.clock.now()
    }

    pub(crate) fn cached(&self, account_id: &str) -> Option<CachedBalances> {
        if self.inner.cache_secs == 0 {
            return None;
        }
        let cache = self
            .inner
            .cache
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let hit = cache.get(account_id)?;
        let age = self.now().signed_duration_since(hit.read_at);
        let fresh = age >= chrono::Duration::zero()
            && age.num_seconds() < i64::try_from(self.inner.cache_secs).unwrap_or(i64::MAX);
        fresh.then(|| hit.clone())
    }

    pub(crate) fn remember(&self, account_id: &str, balances: chain::Balances) {
        let mut cache = self
            .inner
            .cache
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        cache.insert(
            account_id.to_owned(),
            CachedBalances {
                read_at: self.now(),
                balances,
            },
        );
    }

    /// Forget an account's cached balances (after a transfer from it changed them).
    pub(crate) fn forget(&self, account_id: &str) {
        self.inner
            .cache
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(account_id);
    }
}

impl AppStateBuilder {
    /// Pin an offline HSM envelope key: account manifests and signature responses it signs are
    /// accepted.
    pub fn pin_offline_key(mut self, key: p256::PublicKey) -> Self {
        self.offline_keys.push(key);
        self
    }

    /// Session timeouts.
    pub fn session_policy(mut self, policy: auth::SessionPolicy) -> Self {
        self.policy = policy;
        self
    }

    /// The sign-in throttle and the registration rate limit (`auth::throttle`).
    pub fn sign_in_limits(mut self, limits: auth::SignInLimits) -> Self {
        self.limits = limits;
        self
    }

    /// How long a balance read is served from memory (0: never).
    pub fn balance_cache_secs(mut self, secs: u64) -> Self {
        self.cache_secs = secs;
        self
    }

    /// Validity of exported signing requests.
    pub fn request_ttl_secs(mut self, secs: u64) -> Self {
        self.request_ttl_secs = secs;
        self
    }

    /// The broker `/api/health` reports on.
    pub fn amqp(mut self, url: Option<String>) -> Self {
        self.amqp = url;
        self
    }

    /// Serve the built web front end from this folder (every path outside `/api`).
    pub fn web_dir(mut self, dir: Option<std::path::PathBuf>) -> Self {
        self.web_dir = dir;
        self
    }

    /// Write every audit checkpoint to this directory (see [`::audit::CheckpointDir`]).
    pub fn checkpoint_dir(mut self, dir: Option<::audit::CheckpointDir>) -> Self {
        self.checkpoint_dir = dir;
        self
    }

    /// The state.
    pub fn build(self) -> AppState {
        let mut keyring = KeyRing::new();
        for key in self.offline_keys {
            keyring.pin(key, &[Kind::AccountManifest, Kind::SignatureResponse]);
        }
        AppState {
            inner: Arc::new(Inner {
                web_dir: self.web_dir,
                checkpoint_dir: self.checkpoint_dir,
                db: self.db,
                chain: self.chain,
                signer: self.signer,
                keyring,
                hasher: Arc::new(self.hasher),
                policy: self.policy,
                limits: self.limits,
                clock: self.clock,
                cache: Mutex::new(HashMap::new()),
                cache_secs: self.cache_secs,
                request_ttl_secs: self.request_ttl_secs,
                amqp: self.amqp,
            }),
        }
    }
}

/// Parse a pinned key from hex SEC1.
pub fn parse_public_key(hex_sec1: &str) -> Result<p256::PublicKey, ApiError> {
    let bytes = hex::decode(hex_sec1.trim().trim_start_matches("0x")).map_err(|_| {
        ApiError::invalid("public_key", "must be hex (SEC1 encoding of a P-256 key)")
    })?;
    p256::PublicKey::from_sec1_bytes(&bytes)
        .map_err(|_| ApiError::invalid("public_key", "is not a valid P-256 public key (SEC1)"))
}
