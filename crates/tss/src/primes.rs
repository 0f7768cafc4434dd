//! Paillier primes and the background pool that pre-generates them.
//!
//! Safe-prime generation is the slow part of aux-info generation (tens of seconds per party), so a
//! client generates primes ahead of time and keeps them sealed until a keygen needs them.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use cggmp21::security_level::SecurityLevel128;
use cggmp21::PregeneratedPrimes;
use rand_core::OsRng;
use tokio::sync::Notify;
use zeroize::Zeroizing;

use crate::{Error, Result};

/// One party's pair of safe primes (its future Paillier secret key). Secret: serialise it only to
/// seal it into an SE.
pub struct PaillierPrimes(PregeneratedPrimes<SecurityLevel128>);

impl PaillierPrimes {
    /// Generates a fresh pair with the OS RNG. Blocking and slow (about half a minute): call it
    /// from a blocking thread, or use a [`PrimePool`].
    pub fn generate() -> Self {
        Self(PregeneratedPrimes::generate(&mut OsRng))
    }

    /// Serialises the primes (to seal them).
    pub fn to_bytes(&self) -> Result<Zeroizing<Vec<u8>>> {
        serde_json::to_vec(&self.0)
            .map(Zeroizing::new)
            .map_err(|e| Error::Encoding(e.to_string()))
    }

    /// Parses sealed primes and checks their size for the security level.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        let parsed: PregeneratedPrimes<SecurityLevel128> = serde_json::from_slice(bytes)
            .map_err(|e| Error::InvalidPrimes(format!("undecodable: {e}")))?;
        let (p, q) = parsed.split();
        PregeneratedPrimes::new(p, q)
            .map(Self)
            .ok_or_else(|| Error::InvalidPrimes("primes are too small for 128-bit security".into()))
    }

    /// The cggmp21 value (consumed: the primes become a Paillier secret key).
    pub fn into_cggmp21(self) -> PregeneratedPrimes<SecurityLevel128> {
        self.0
    }
}

/// Progress of a pool fill.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolProgress {
    /// Pairs in the pool now.
    pub available: usize,
    /// Pairs the fill aims for.
    pub target: usize,
}

/// A pool of pre-generated prime pairs, filled by background threads.
#[derive(Clone, Default)]
pub struct PrimePool {
    inner: Arc<(Mutex<VecDeque<PaillierPrimes>>, Notify)>,
}

impl PrimePool {
    /// An empty pool.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a pair (e.g. one unsealed from the SE at start-up).
    pub fn push(&self, primes: PaillierPrimes) {
        if let Ok(mut q) = self.inner.0.lock() {
            q.push_back(primes);
        }
        self.inner.1.notify_waiters();
        self.inner.1.notify_one();
    }

    /// Pairs available now.
    pub fn len(&self) -> usize {
        self.inner.0.lock().map(|q| q.len()).unwrap_or(0)
    }

    /// Whether the pool is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Takes a pair if one is available.
    pub fn try_take(&self) -> Option<PaillierPrimes> {
        self.inner.0.lock().ok().and_then(|mut q| q.pop_front())
    }

    /// Takes a pair, waiting for a background fill if the pool is empty.
    pub async fn take(&self) -> PaillierPrimes {
        loop {
            let notified = self.inner.1.notified();
            if let Some(p) = self.try_take() {
                return p;
            }
            notified.await;
        }
    }

    /// Generates pairs on `workers` blocking threads until the pool holds `target`, reporting
    /// progress after each pair. Returns when the target is reached.
    pub async fn fill(
        &self,
        target: usize,
        workers: usize,
        progress: impl Fn(PoolProgress) + Send + Sync + 'static,
    ) -> Result<()> {
        let progress = Arc::new(progress);
        let missing = target.saturating_sub(self.len());
        let per_worker = missing.div_ceil(workers.max(1));
        let mut tasks = Vec::new();
        for w in 0..workers.max(1) {
            let count = per_worker.min(missing.saturating_sub(w * per_worker));
            let pool = self.clone();
            let progress = progress.clone();
            tasks.push(tokio::task::spawn_blocking(move || {
                for _ in 0..count {
                    pool.push(PaillierPrimes::generate());
                    progress(PoolProgress {
                        available: pool.len(),
                        target,
                    });
                }
            }));
        }
        for t in tasks {
            t.await.map_err(|e| Error::Task(e.to_string()))?;
        }
        Ok(())
    }
}
