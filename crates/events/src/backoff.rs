//! Exponential back-off, the one used by every retry loop of the buses.

use std::time::Duration;

/// A back-off that starts at `min`, doubles per failure and stops growing at `max`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Backoff {
    min: Duration,
    max: Duration,
    current: Duration,
}

impl Backoff {
    /// A back-off from `min` to `max` (a `max` below `min` is raised to it).
    pub fn new(min: Duration, max: Duration) -> Backoff {
        Backoff {
            min,
            max: max.max(min),
            current: min,
        }
    }

    /// The pause to take now; the next one is twice as long, up to the maximum.
    pub fn next_delay(&mut self) -> Duration {
        let now = self.current;
        self.current = self.current.saturating_mul(2).min(self.max);
        now
    }

    /// Start again from the minimum (after a success).
    pub fn reset(&mut self) {
        self.current = self.min;
    }

    /// Sleep for [`Backoff::next_delay`], or return early when `shutdown` completes; `true`
    /// if it slept the whole pause.
    pub async fn sleep_or(&mut self, shutdown: impl std::future::Future<Output = ()>) -> bool {
        let delay = self.next_delay();
        tokio::select! {
            biased;
            () = shutdown => false,
            () = tokio::time::sleep(delay) => true,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grows_to_the_cap_and_resets() {
        let mut b = Backoff::new(Duration::from_millis(100), Duration::from_millis(350));
        assert_eq!(b.next_delay(), Duration::from_millis(100));
        assert_eq!(b.next_delay(), Duration::from_millis(200));
        assert_eq!(b.next_delay(), Duration::from_millis(350));
        assert_eq!(b.next_delay(), Duration::from_millis(350));
        b.reset();
        assert_eq!(b.next_delay(), Duration::from_millis(100));
    }
}
