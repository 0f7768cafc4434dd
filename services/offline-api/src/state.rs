//! What every handler shares: the database, the HSM, the pinned online keys, the password
//! hasher, the session and throttle policies and the clock.

use std::sync::Arc;

use contracts::{KeyRing, Kind};

use crate::clock::Clock;
use crate::error::ApiError;

/// The application state. Cheap to clone.
#[derive(Clone)]
pub struct AppState {
    pub(crate) inner: Arc<Inner>,
}

pub(crate) struct Inner {
    pub web_dir: Option<std::path::PathBuf>,
    pub checkpoint_dir: Option<audit::CheckpointDir>,
    pub db: offline_db::Db,
    pub hsm: hsm::Hsm,
    pub keyring: KeyRing,
    pub hasher: Arc<auth::PasswordHasher>,
    pub policy: auth::SessionPolicy,
    pub limits: auth::SignInLimits,
    pub clock: Arc<dyn Clock>,
    pub se_certificate_secs: u64,
    pub attestation: Arc<dyn channel::VendorAttestation>,
}

/// Builds an [`AppState`].
pub struct AppStateBuilder {
    web_dir: Option<std::path::PathBuf>,
    checkpoint_dir: Option<audit::CheckpointDir>,
    db: offline_db::Db,
    hsm: hsm::Hsm,
    hasher: auth::PasswordHasher,
    clock: Arc<dyn Clock>,
    online_keys: Vec<p256::PublicKey>,
    policy: auth::SessionPolicy,
    limits: auth::SignInLimits,
    se_certificate_secs: u64,
    attestation: Arc<dyn channel::VendorAttestation>,
}

impl AppState {
    /// Start building: a database, an open HSM, a password hasher (its parameters decide the
    /// cost of new hashes; tests pass cheap ones) and a clock.
    pub fn builder(
        db: offline_db::Db,
        hsm: hsm::Hsm,
        hasher: auth::PasswordHasher,
        clock: Arc<dyn Clock>,
    ) -> AppStateBuilder {
        AppStateBuilder {
            web_dir: None,
            checkpoint_dir: None,
            // Every case the API creates gets its roster signed by the HSM envelope key.
            db: db.with_roster_signer(hsm.envelope_signer()),
            hsm,
            hasher,
            clock,
            online_keys: Vec::new(),
            policy: auth::SessionPolicy::default(),
            limits: auth::SignInLimits::default(),
            se_certificate_secs: 3 * 365 * 24 * 3600,
            attestation: Arc::new(channel::PossessionOnly),
        }
    }

    /// The database (for tests and tools).
    pub fn db(&self) -> &offline_db::Db {
        &self.inner.db
    }

    pub(crate) fn now(&self) -> chrono::DateTime<chrono::Utc> {
        self.inner.clock.now()
    }
}

impl AppStateBuilder {
    /// Pin an online export key: signing requests and balance attestations it signs are
    /// accepted.
    pub fn pin_online_key(mut self, key: p256::PublicKey) -> Self {
        self.online_keys.push(key);
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

    /// Validity of SE certificates issued at enrolment.
    pub fn se_certificate_secs(mut self, secs: u64) -> Self {
        self.se_certificate_secs = secs;
        self
    }

    /// How an SE vendor's attestation is checked at enrolment (default: possession only,
    /// [`channel::PossessionOnly`]).
    pub fn vendor_attestation(mut self, check: Arc<dyn channel::VendorAttestation>) -> Self {
        self.attestation = check;
        self
    }

    /// Serve the built web front end from this folder (every path outside `/api`).
    pub fn web_dir(mut self, dir: Option<std::path::PathBuf>) -> Self {
        self.web_dir = dir;
        self
    }

    /// Write every audit checkpoint to this directory (see [`audit::CheckpointDir`]).
    pub fn checkpoint_dir(mut self, dir: Option<audit::CheckpointDir>) -> Self {
        self.checkpoint_dir = dir;
        self
    }

    /// The state.
    pub fn build(self) -> AppState {
        let mut keyring = KeyRing::new();
        for key in self.online_keys {
            keyring.pin(key, &[Kind::SigningRequest, Kind::BalanceAttestation]);
        }
        AppState {
            inner: Arc::new(Inner {
                web_dir: self.web_dir,
                checkpoint_dir: self.checkpoint_dir,
                db: self.db,
                hsm: self.hsm,
                keyring,
                hasher: Arc::new(self.hasher),
                policy: self.policy,
                limits: self.limits,
                clock: self.clock,
                se_certificate_secs: self.se_certificate_secs,
                attestation: self.attestation,
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
