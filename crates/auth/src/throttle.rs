//! Login throttling (DESIGN.md §13, ASVS 5.0 6.3.1): a pure decision over the recent attempts of
//! one account, or of one client IP, at `now`.
//!
//! Two rules, the stricter of which wins:
//!
//! * **Back-off.** After `delay_after_failures` consecutive failures the next attempt must wait
//!   `base_delay`, doubling with each further failure up to `max_delay`, counted from the latest
//!   failure. For accounts a success resets the count; for IPs it does not (one valid account
//!   must not let an attacker reset the limit for the others they are guessing).
//! * **Window cap.** At most `max_failures_per_window` evaluated failures in any rolling
//!   `window`; once reached, the next attempt waits until the oldest of them leaves the window.
//!   Per account this is the "100 per hour" of DESIGN.md §13.
//!
//! **Why this cannot lock a user out for good.** Both rules only look at failures inside the last
//! `window` (one hour for the defaults). A delay is never longer than `max(max_delay, window)`
//! after the latest evaluated failure, and once nobody has failed for a full `window` there is
//! nothing left to count, so the decision is `Allow` again with the count back at zero. An
//! attacker can therefore slow the real user down (by at most `max_delay`, 15 minutes, per
//! failure they manage to get evaluated, and only while they keep going), but never disable the
//! account; the `users.locked_until` column of DESIGN.md §6 should hold at most the `retry_after`
//! computed here, never an open-ended lock.
//!
//! **Contract for callers.** Ask for a decision *before* checking the password. When it is
//! `Delay`, refuse without evaluating the password and do *not* record an attempt: only evaluated
//! attempts are recorded, so hammering during a delay does not push the delay further out. Pass
//! the attempts of the last [`Throttle::window`] (older ones are ignored anyway); the order does
//! not matter. Check both the account and the IP and combine with [`Decision::combine`]. For an
//! unknown username, throttle by the username string as if it were an account, so throttling
//! does not reveal which accounts exist.

use std::time::{Duration, SystemTime};

use crate::error::{Error, Result};

/// One evaluated login attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Attempt {
    /// When it was made.
    pub at: SystemTime,
    /// Whether the password was right.
    pub success: bool,
}

/// Whether a login attempt may be evaluated now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Go ahead and check the password.
    Allow,
    /// Refuse without checking the password; the client may try again after `retry_after`
    /// (send it as `Retry-After` with a 429).
    Delay {
        /// How long from `now` until an attempt will be allowed.
        retry_after: Duration,
    },
}

impl Decision {
    /// Whether the attempt may be evaluated.
    #[must_use]
    pub fn is_allowed(&self) -> bool {
        matches!(self, Self::Allow)
    }

    /// The stricter of two decisions (for example per account and per IP).
    #[must_use]
    pub fn combine(self, other: Self) -> Self {
        match (self, other) {
            (Self::Allow, d) | (d, Self::Allow) => d,
            (Self::Delay { retry_after: a }, Self::Delay { retry_after: b }) => Self::Delay {
                retry_after: a.max(b),
            },
        }
    }

    fn wait_until(until: SystemTime, now: SystemTime) -> Self {
        match until.duration_since(now) {
            Ok(retry_after) if !retry_after.is_zero() => Self::Delay { retry_after },
            _ => Self::Allow,
        }
    }
}

/// A throttling policy. Use [`Throttle::per_account`] and [`Throttle::per_ip`]; the fields are
/// public so a configuration can tune them, and [`Throttle::validate`] checks them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Throttle {
    /// Consecutive failures after which back-off starts (the first delay is `base_delay`).
    pub delay_after_failures: u32,
    /// The first back-off delay; each further failure doubles it.
    pub base_delay: Duration,
    /// The longest back-off delay.
    pub max_delay: Duration,
    /// The rolling window for the cap, and how far back failures count at all.
    pub window: Duration,
    /// The most evaluated failures allowed in `window`.
    pub max_failures_per_window: u32,
    /// Whether a success resets the consecutive-failure count.
    pub success_resets: bool,
}

impl Throttle {
    /// Per account: back-off after 5 consecutive failures (1 s, 2 s, 4 s … up to 15 min), at most
    /// 100 evaluated failures per rolling hour, and a success resets the back-off.
    #[must_use]
    pub const fn per_account() -> Self {
        Self {
            delay_after_failures: 5,
            base_delay: Duration::from_secs(1),
            max_delay: Duration::from_secs(15 * 60),
            window: Duration::from_secs(60 * 60),
            max_failures_per_window: 100,
            success_resets: true,
        }
    }

    /// Per client IP, across all accounts: back-off after 20 failures in the hour (1 s doubling
    /// up to 15 min), at most 300 failures per rolling hour, and successes do not reset it. The
    /// numbers are looser than per account because several people may share an address.
    #[must_use]
    pub const fn per_ip() -> Self {
        Self {
            delay_after_failures: 20,
            base_delay: Duration::from_secs(1),
            max_delay: Duration::from_secs(15 * 60),
            window: Duration::from_secs(60 * 60),
            max_failures_per_window: 300,
            success_resets: false,
        }
    }

    /// How far back the caller needs to load attempts.
    #[must_use]
    pub fn window(&self) -> Duration {
        self.window
    }

    /// Checks that the policy is coherent.
    ///
    /// # Errors
    /// [`Error::InvalidThrottlePolicy`] if `window` is zero, `base_delay` exceeds `max_delay`, or
    /// either count is zero.
    pub fn validate(&self) -> Result<()> {
        if self.window.is_zero()
            || self.base_delay > self.max_delay
            || self.delay_after_failures == 0
            || self.max_failures_per_window == 0
        {
            return Err(Error::InvalidThrottlePolicy);
        }
        Ok(())
    }

    /// The back-off delay after `failures` consecutive failures (zero below the threshold).
    #[must_use]
    pub fn backoff(&self, failures: u32) -> Duration {
        let Some(doublings) = failures.checked_sub(self.delay_after_failures) else {
            return Duration::ZERO;
        };
        let factor = 1u32.checked_shl(doublings).unwrap_or(u32::MAX);
        self.base_delay
            .checked_mul(factor)
            .map_or(self.max_delay, |d| d.min(self.max_delay))
    }

    /// Whether an attempt may be evaluated at `now`, given the earlier evaluated `attempts` of
    /// this account or IP.
    #[must_use]
    pub fn decide(&self, attempts: &[Attempt], now: SystemTime) -> Decision {
        // Attempts at or before this instant no longer count at all; this is what makes every
        // delay decay. Attempts stamped after `now` (clock skew between servers) do count.
        let window_start = now.checked_sub(self.window);
        let in_window = |a: &&Attempt| window_start.is_none_or(|start| a.at > start);

        let mut failures: Vec<SystemTime> = attempts
            .iter()
            .filter(in_window)
            .filter(|a| !a.success)
            .map(|a| a.at)
            .collect();
        failures.sort_unstable();

        // The window cap: with k >= cap failures in the window, the count drops below the cap
        // when failure number k - cap (oldest first) leaves the window.
        let cap = usize::try_from(self.max_failures_per_window).unwrap_or(usize::MAX);
        let capped = failures
            .len()
            .checked_sub(cap)
            .and_then(|i| failures.get(i))
            .and_then(|oldest| oldest.checked_add(self.window))
            .map_or(Decision::Allow, |until| Decision::wait_until(until, now));

        // Back-off from the consecutive failures since the latest success in the window.
        let last_success = if self.success_resets {
            attempts
                .iter()
                .filter(in_window)
                .filter(|a| a.success)
                .map(|a| a.at)
                .max()
        } else {
            None
        };
        let consecutive = failures
            .iter()
            .filter(|at| last_success.is_none_or(|s| **at > s))
            .count();
        let consecutive = u32::try_from(consecutive).unwrap_or(u32::MAX);
        let backoff = match failures.last() {
            Some(latest) if consecutive > 0 => latest
                .checked_add(self.backoff(consecutive))
                .map_or(Decision::Allow, |until| Decision::wait_until(until, now)),
            _ => Decision::Allow,
        };

        capped.combine(backoff)
    }
}
