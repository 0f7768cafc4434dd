//! Sign-in throttling and rate limits (DESIGN.md §13, ASVS 5.0 6.3.1) that cannot be turned
//! against the owner of an account, decided here once for both zones.
//!
//! Every limit is a [`Counter`] kept under a string key in the zone's database and changed only
//! by [`claim`]: read the counter, decide with the pure policy, and write the new counter back
//! with a compare-and-swap on its version. The attempt is *claimed before the password is
//! evaluated*: a claim that loses the race is decided again on the winner's counter, so N
//! concurrent wrong passwords get at most the allowed number evaluated, on any database that can
//! do `UPDATE … WHERE key = ? AND version = ?` (SQLite and PostgreSQL both can).
//!
//! The keys a sign-in claims, in this order ([`SignInKeys`]):
//!
//! * **(account, source)** with a [`Backoff`]: five attempts free, then growing delays (2 s,
//!   4 s, … up to 15 minutes). A success resets it. An attacker hammering an account from their
//!   own address only slows themselves down: the owner's (account, owner's address) counter is a
//!   different row.
//! * **account**, across sources, with a [`RateLimit`] of 100 evaluated attempts per hour
//!   (DESIGN.md §13). It does *not* apply to a source the account has signed in from before
//!   ([`Counter::trusted`]), so an attack spread over many addresses cannot keep the owner out
//!   from their own address.
//! * **source**, across accounts, with a looser [`Backoff`] (twenty attempts free): one address
//!   guessing many accounts. A success gives its claim back, so a shared office address is not
//!   punished for its users' correct sign-ins.
//!
//! A claim is counted as a failure until the caller reports a success ([`Limit::on_success`]);
//! a server crash between the two is therefore counted against the attacker, never in their
//! favour. Every count is forgotten after a quiet period, so nothing here locks anyone out for
//! good. Keys are built from the name *as typed* (normalised when it parses), so unknown names
//! are throttled exactly like existing ones and the answer does not tell which accounts exist.

use std::future::Future;
use std::time::{Duration, SystemTime};

/// What the store keeps per key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Counter {
    /// Attempts counted (claims not given back by a success) in the current period.
    pub count: u32,
    /// When the current period started (the first counted claim).
    pub window_start: SystemTime,
    /// The latest counted claim.
    pub last_at: SystemTime,
    /// Whether this key has seen a success: for an (account, source) key, the account has signed
    /// in from this source, which exempts it from the per-account cap. Survives resets.
    pub trusted: bool,
}

impl Counter {
    fn first(now: SystemTime, trusted: bool) -> Self {
        Self {
            count: 1,
            window_start: now,
            last_at: now,
            trusted,
        }
    }
}

/// The answer to a claim.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Go ahead and evaluate the attempt.
    Allow,
    /// Refuse without evaluating; the client may try again after `retry_after` (send it as
    /// `Retry-After` with a 429).
    Delay {
        /// How long from `now` until an attempt may be claimed.
        retry_after: Duration,
    },
}

impl Decision {
    /// Whether the attempt may be evaluated.
    #[must_use]
    pub fn is_allowed(&self) -> bool {
        matches!(self, Self::Allow)
    }
}

/// A policy over one [`Counter`]: what a claim does to it, and what a success does.
pub trait Limit {
    /// The counter after a granted claim at `now`, or how long to wait.
    ///
    /// # Errors
    /// The wait, when the claim is refused.
    fn claim(&self, current: Option<&Counter>, now: SystemTime) -> Result<Counter, Duration>;

    /// The counter after the claimed attempt succeeded.
    fn on_success(&self, current: &Counter) -> Counter;
}

/// Growing delays: `free` claims without delay, then each further claim must wait
/// `base_delay · 2^(count − free)` (at most `max_delay`) after the latest one. Everything is
/// forgotten once nobody claimed for `forget_after`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    /// Claims allowed without delay.
    pub free: u32,
    /// The first delay; each further claim doubles it.
    pub base_delay: Duration,
    /// The longest delay.
    pub max_delay: Duration,
    /// A quiet period after which the count starts again from zero.
    pub forget_after: Duration,
    /// Whether a success resets the count (per account and source) or only gives its own claim
    /// back (per source, so one valid account does not reset the limit for the others).
    pub success_resets: bool,
}

impl Backoff {
    /// Per (account, source): 5 free, then 2 s doubling up to 15 minutes, forgotten after an
    /// hour of quiet; a success resets it.
    #[must_use]
    pub const fn per_account_and_source() -> Self {
        Self {
            free: 5,
            base_delay: Duration::from_secs(2),
            max_delay: Duration::from_secs(15 * 60),
            forget_after: Duration::from_secs(60 * 60),
            success_resets: true,
        }
    }

    /// Per source across accounts: 20 free, then 2 s doubling up to 15 minutes, forgotten after
    /// an hour of quiet; a success gives its own claim back.
    #[must_use]
    pub const fn per_source() -> Self {
        Self {
            free: 20,
            base_delay: Duration::from_secs(2),
            max_delay: Duration::from_secs(15 * 60),
            forget_after: Duration::from_secs(60 * 60),
            success_resets: false,
        }
    }

    /// The wait after the latest claim once `count` claims are counted (zero below `free`).
    #[must_use]
    pub fn delay(&self, count: u32) -> Duration {
        let Some(doublings) = count.checked_sub(self.free) else {
            return Duration::ZERO;
        };
        let factor = 1u32.checked_shl(doublings).unwrap_or(u32::MAX);
        self.base_delay
            .checked_mul(factor)
            .map_or(self.max_delay, |d| d.min(self.max_delay))
    }

    fn live<'a>(&self, current: Option<&'a Counter>, now: SystemTime) -> Option<&'a Counter> {
        current.filter(|c| {
            c.count > 0
                && c.last_at
                    .checked_add(self.forget_after)
                    .is_none_or(|end| end > now)
        })
    }
}

fn wait(until: Option<SystemTime>, now: SystemTime) -> Option<Duration> {
    // An overflowing deadline is as good as "far away": refuse for the longest sane wait.
    let Some(until) = until else {
        return Some(Duration::from_secs(60 * 60));
    };
    until.duration_since(now).ok().filter(|d| !d.is_zero())
}

impl Limit for Backoff {
    fn claim(&self, current: Option<&Counter>, now: SystemTime) -> Result<Counter, Duration> {
        let trusted = current.is_some_and(|c| c.trusted);
        let Some(live) = self.live(current, now) else {
            return Ok(Counter::first(now, trusted));
        };
        let delay = self.delay(live.count);
        if let Some(retry_after) = wait(live.last_at.checked_add(delay), now) {
            return Err(retry_after);
        }
        Ok(Counter {
            count: live.count.saturating_add(1),
            window_start: live.window_start,
            // Clock skew between servers must not let a claim move the delay backwards.
            last_at: live.last_at.max(now),
            trusted,
        })
    }

    fn on_success(&self, current: &Counter) -> Counter {
        Counter {
            count: if self.success_resets {
                0
            } else {
                current.count.saturating_sub(1)
            },
            trusted: true,
            ..*current
        }
    }
}

/// A fixed window: at most `max` claims per `window`, counted from the first claim of the
/// window; a success gives its claim back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimit {
    /// Claims allowed per window.
    pub max: u32,
    /// The window.
    pub window: Duration,
}

impl RateLimit {
    /// Per account across untrusted sources: 100 per hour (DESIGN.md §13).
    #[must_use]
    pub const fn per_account() -> Self {
        Self {
            max: 100,
            window: Duration::from_secs(60 * 60),
        }
    }

    /// Registrations per source: 10 per minute.
    #[must_use]
    pub const fn registrations() -> Self {
        Self {
            max: 10,
            window: Duration::from_secs(60),
        }
    }
}

impl Limit for RateLimit {
    fn claim(&self, current: Option<&Counter>, now: SystemTime) -> Result<Counter, Duration> {
        let trusted = current.is_some_and(|c| c.trusted);
        let live = current.filter(|c| {
            c.window_start
                .checked_add(self.window)
                .is_none_or(|end| end > now)
        });
        let Some(live) = live else {
            return Ok(Counter::first(now, trusted));
        };
        if live.count >= self.max {
            if let Some(retry_after) = wait(live.window_start.checked_add(self.window), now) {
                return Err(retry_after);
            }
        }
        Ok(Counter {
            count: live.count.saturating_add(1),
            last_at: live.last_at.max(now),
            ..*live
        })
    }

    fn on_success(&self, current: &Counter) -> Counter {
        Counter {
            count: current.count.saturating_sub(1),
            ..*current
        }
    }
}

/// Where counters live: the zone's database. `version` is the store's optimistic-concurrency
/// token; [`CounterStore::replace`] must change the row only when it still has `version`, in one
/// statement, and report whether it did.
pub trait CounterStore {
    /// The store's error.
    type Error;

    /// The counter under `key` and its version, if any.
    fn load(
        &self,
        key: &str,
    ) -> impl Future<Output = Result<Option<(Counter, i64)>, Self::Error>> + Send;

    /// Insert a first counter; `false` when the key exists already (someone else was first).
    fn insert(
        &self,
        key: &str,
        counter: &Counter,
    ) -> impl Future<Output = Result<bool, Self::Error>> + Send;

    /// Replace the counter if it still has `version`; `false` when it changed in between.
    fn replace(
        &self,
        key: &str,
        version: i64,
        counter: &Counter,
    ) -> impl Future<Output = Result<bool, Self::Error>> + Send;
}

/// How often a claim re-reads after losing a race before it gives up (and refuses).
const MAX_RACES: usize = 64;

/// What is refused when a claim keeps losing races: a short wait, never an evaluation.
const CONTENDED: Duration = Duration::from_secs(1);

/// Claim one attempt under `key`: read, decide with `limit`, compare-and-swap, and decide again
/// on the winner's counter when another claim was faster. Refusals write nothing.
///
/// # Errors
/// The store's error.
pub async fn claim<S: CounterStore + Sync>(
    store: &S,
    key: &str,
    limit: &(impl Limit + Sync),
    now: SystemTime,
) -> Result<Decision, S::Error> {
    for _ in 0..MAX_RACES {
        let current = store.load(key).await?;
        let next = match limit.claim(current.as_ref().map(|(c, _)| c), now) {
            Ok(next) => next,
            Err(retry_after) => return Ok(Decision::Delay { retry_after }),
        };
        let won = match current {
            None => store.insert(key, &next).await?,
            Some((_, version)) => store.replace(key, version, &next).await?,
        };
        if won {
            return Ok(Decision::Allow);
        }
    }
    Ok(Decision::Delay {
        retry_after: CONTENDED,
    })
}

/// Report a success for the attempt claimed under `key` (reset, give back, mark trusted).
///
/// # Errors
/// The store's error.
pub async fn succeeded<S: CounterStore + Sync>(
    store: &S,
    key: &str,
    limit: &(impl Limit + Sync),
) -> Result<(), S::Error> {
    for _ in 0..MAX_RACES {
        let Some((current, version)) = store.load(key).await? else {
            return Ok(());
        };
        if store
            .replace(key, version, &limit.on_success(&current))
            .await?
        {
            return Ok(());
        }
    }
    Ok(())
}

/// The limits of a sign-in and of registration, with the keys they are counted under.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SignInLimits {
    /// Per (account, source).
    pub account_and_source: Backoff,
    /// Per account across sources it never signed in from.
    pub account: RateLimit,
    /// Per source across accounts.
    pub source: Backoff,
    /// Registrations per source.
    pub registrations: RateLimit,
}

impl Default for SignInLimits {
    fn default() -> Self {
        Self {
            account_and_source: Backoff::per_account_and_source(),
            account: RateLimit::per_account(),
            source: Backoff::per_source(),
            registrations: RateLimit::registrations(),
        }
    }
}

/// The counter keys of one sign-in attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignInKeys {
    /// `pair:<account>|<source>`.
    pub account_and_source: String,
    /// `account:<account>`.
    pub account: String,
    /// `source:<source>`.
    pub source: String,
}

impl SignInKeys {
    /// The keys for `account` (the name as typed, normalised when it parses) from `source`.
    #[must_use]
    pub fn new(account: &str, source: &str) -> Self {
        Self {
            account_and_source: format!("pair:{account}|{source}"),
            account: format!("account:{account}"),
            source: format!("source:{source}"),
        }
    }
}

/// The counter key of registrations from `source`.
#[must_use]
pub fn registration_key(source: &str) -> String {
    format!("register:{source}")
}

impl SignInLimits {
    /// Claim a sign-in (or re-authentication) attempt for `keys` at `now`: per (account,
    /// source), then per account unless the pair is trusted, then per source. The first refusal
    /// wins and later keys are not touched.
    ///
    /// # Errors
    /// The store's error.
    pub async fn claim_sign_in<S: CounterStore + Sync>(
        &self,
        store: &S,
        keys: &SignInKeys,
        now: SystemTime,
    ) -> Result<Decision, S::Error> {
        let pair = claim(
            store,
            &keys.account_and_source,
            &self.account_and_source,
            now,
        )
        .await?;
        if !pair.is_allowed() {
            return Ok(pair);
        }
        let trusted = store
            .load(&keys.account_and_source)
            .await?
            .is_some_and(|(c, _)| c.trusted);
        if !trusted {
            let account = claim(store, &keys.account, &self.account, now).await?;
            if !account.is_allowed() {
                return Ok(account);
            }
        }
        claim(store, &keys.source, &self.source, now).await
    }

    /// Report that the attempt claimed for `keys` was a success.
    ///
    /// # Errors
    /// The store's error.
    pub async fn sign_in_succeeded<S: CounterStore + Sync>(
        &self,
        store: &S,
        keys: &SignInKeys,
    ) -> Result<(), S::Error> {
        let was_trusted = store
            .load(&keys.account_and_source)
            .await?
            .is_some_and(|(c, _)| c.trusted);
        succeeded(store, &keys.account_and_source, &self.account_and_source).await?;
        if !was_trusted {
            succeeded(store, &keys.account, &self.account).await?;
        }
        succeeded(store, &keys.source, &self.source).await
    }

    /// Claim a registration from `source` at `now`.
    ///
    /// # Errors
    /// The store's error.
    pub async fn claim_registration<S: CounterStore + Sync>(
        &self,
        store: &S,
        source: &str,
        now: SystemTime,
    ) -> Result<Decision, S::Error> {
        claim(store, &registration_key(source), &self.registrations, now).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(secs: u64) -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000 + secs)
    }

    #[test]
    fn five_claims_are_free_then_the_delay_doubles() {
        let b = Backoff::per_account_and_source();
        let mut c: Option<Counter> = None;
        for _ in 0..5 {
            c = Some(b.claim(c.as_ref(), t(0)).unwrap());
        }
        assert_eq!(b.claim(c.as_ref(), t(0)), Err(Duration::from_secs(2)));
        c = Some(b.claim(c.as_ref(), t(2)).unwrap());
        assert_eq!(b.claim(c.as_ref(), t(5)), Err(Duration::from_secs(1)));
        c = Some(b.claim(c.as_ref(), t(6)).unwrap());
        assert_eq!(b.claim(c.as_ref(), t(6)), Err(Duration::from_secs(8)));
    }

    #[test]
    fn the_delay_never_exceeds_the_maximum_and_is_forgotten_after_the_quiet_period() {
        let b = Backoff::per_account_and_source();
        assert_eq!(b.delay(500), b.max_delay);
        let c = Counter {
            count: 500,
            window_start: t(0),
            last_at: t(0),
            trusted: false,
        };
        assert!(b.claim(Some(&c), t(60)).is_err());
        assert_eq!(b.claim(Some(&c), t(3600)).map(|c| c.count), Ok(1));
    }

    #[test]
    fn a_success_resets_the_pair_and_marks_it_trusted_but_only_gives_back_one_per_source() {
        let pair = Backoff::per_account_and_source();
        let c = Counter {
            count: 4,
            window_start: t(0),
            last_at: t(0),
            trusted: false,
        };
        let after = pair.on_success(&c);
        assert_eq!((after.count, after.trusted), (0, true));
        assert_eq!(Backoff::per_source().on_success(&c).count, 3);
    }

    #[test]
    fn a_rate_limit_refuses_the_excess_until_the_window_ends() {
        let r = RateLimit::registrations();
        let mut c: Option<Counter> = None;
        for _ in 0..10 {
            c = Some(r.claim(c.as_ref(), t(0)).unwrap());
        }
        assert_eq!(r.claim(c.as_ref(), t(10)), Err(Duration::from_secs(50)));
        assert_eq!(r.claim(c.as_ref(), t(60)).map(|c| c.count), Ok(1));
    }
}
