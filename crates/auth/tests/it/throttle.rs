//! The sign-in throttle over an in-memory store: what a claim may do, that an attacker from
//! elsewhere cannot keep the owner out, that nothing locks anyone out for good, and that
//! concurrent claims get at most the free attempts.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, SystemTime};

use auth::throttle::{claim, registration_key};
use auth::{Backoff, Counter, CounterStore, Decision, RateLimit, SignInKeys, SignInLimits};

/// Counters in a map; every call yields first so concurrent claims interleave.
#[derive(Default)]
struct Memory(Mutex<HashMap<String, (Counter, i64)>>);

impl CounterStore for Memory {
    type Error = std::convert::Infallible;

    async fn load(&self, key: &str) -> Result<Option<(Counter, i64)>, Self::Error> {
        tokio::task::yield_now().await;
        Ok(self.0.lock().unwrap().get(key).copied())
    }

    async fn insert(&self, key: &str, counter: &Counter) -> Result<bool, Self::Error> {
        tokio::task::yield_now().await;
        let mut map = self.0.lock().unwrap();
        if map.contains_key(key) {
            return Ok(false);
        }
        map.insert(key.to_owned(), (*counter, 0));
        Ok(true)
    }

    async fn replace(
        &self,
        key: &str,
        version: i64,
        counter: &Counter,
    ) -> Result<bool, Self::Error> {
        tokio::task::yield_now().await;
        let mut map = self.0.lock().unwrap();
        match map.get_mut(key) {
            Some(row) if row.1 == version => {
                *row = (*counter, version + 1);
                Ok(true)
            }
            _ => Ok(false),
        }
    }
}

fn t(secs: u64) -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000 + secs)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_claims_get_at_most_the_free_attempts() {
    let store = std::sync::Arc::new(Memory::default());
    let limits = SignInLimits::default();
    let keys = SignInKeys::new("alice", "203.0.113.9");
    let tasks: Vec<_> = (0..150)
        .map(|_| {
            let store = store.clone();
            let keys = keys.clone();
            tokio::spawn(async move { limits.claim_sign_in(&*store, &keys, t(0)).await.unwrap() })
        })
        .collect();
    let mut allowed = 0;
    for task in tasks {
        if task.await.unwrap().is_allowed() {
            allowed += 1;
        }
    }
    assert_eq!(allowed, 5);
}

#[tokio::test]
async fn an_attacker_elsewhere_never_keeps_the_owner_out() {
    let store = Memory::default();
    let limits = SignInLimits::default();
    let owner = SignInKeys::new("alice", "198.51.100.1");
    // The owner signed in from home once.
    assert!(limits
        .claim_sign_in(&store, &owner, t(0))
        .await
        .unwrap()
        .is_allowed());
    limits.sign_in_succeeded(&store, &owner).await.unwrap();
    // For six hours, 300 attacker addresses try every ten seconds.
    for step in 0..(6 * 360u64) {
        let now = t(1 + step * 10);
        let attacker = SignInKeys::new("alice", &format!("192.0.2.{}", step % 300));
        let _ = limits.claim_sign_in(&store, &attacker, now).await.unwrap();
        if step % 97 == 0 {
            // The owner, typing the right password from home, is never delayed.
            assert_eq!(
                limits.claim_sign_in(&store, &owner, now).await.unwrap(),
                Decision::Allow,
                "step {step}"
            );
            limits.sign_in_succeeded(&store, &owner).await.unwrap();
        }
    }
}

#[tokio::test]
async fn the_account_cap_stops_untrusted_sources_at_a_hundred_per_hour() {
    let store = Memory::default();
    let limits = SignInLimits::default();
    let mut allowed = 0;
    for i in 0..1000u32 {
        let keys = SignInKeys::new("alice", &format!("10.{}.{}.1", i / 250, i % 250));
        if limits
            .claim_sign_in(&store, &keys, t(0))
            .await
            .unwrap()
            .is_allowed()
        {
            allowed += 1;
        }
    }
    assert_eq!(allowed, 100);
    // An hour later the window is over.
    let keys = SignInKeys::new("alice", "10.9.9.9");
    assert!(limits
        .claim_sign_in(&store, &keys, t(3600))
        .await
        .unwrap()
        .is_allowed());
}

#[tokio::test]
async fn growing_delays_are_forgotten_after_a_quiet_hour() {
    let store = Memory::default();
    let b = Backoff::per_account_and_source();
    let mut now = 0;
    let mut delays = Vec::new();
    for _ in 0..12 {
        match claim(&store, "k", &b, t(now)).await.unwrap() {
            Decision::Allow => {}
            Decision::Delay { retry_after } => {
                delays.push(retry_after.as_secs());
                now += retry_after.as_secs();
                assert!(claim(&store, "k", &b, t(now)).await.unwrap().is_allowed());
            }
        }
    }
    assert_eq!(delays, [2, 4, 8, 16, 32, 64, 128]);
    assert!(delays.iter().all(|d| *d <= 15 * 60));
    // Nobody is locked out for good: after an hour of quiet the count starts again.
    now += 3600 + 128;
    for _ in 0..5 {
        assert!(claim(&store, "k", &b, t(now)).await.unwrap().is_allowed());
    }
}

#[tokio::test]
async fn a_source_guessing_many_accounts_is_slowed_but_its_successes_are_given_back() {
    let store = Memory::default();
    let limits = SignInLimits::default();
    for i in 0..20 {
        let keys = SignInKeys::new(&format!("user{i}"), "203.0.113.50");
        assert!(limits
            .claim_sign_in(&store, &keys, t(0))
            .await
            .unwrap()
            .is_allowed());
    }
    let keys = SignInKeys::new("user99", "203.0.113.50");
    assert_eq!(
        limits.claim_sign_in(&store, &keys, t(0)).await.unwrap(),
        Decision::Delay {
            retry_after: Duration::from_secs(2)
        }
    );
    // An office address whose users sign in correctly is never slowed.
    for i in 0..100 {
        let keys = SignInKeys::new(&format!("staff{i}"), "203.0.113.60");
        assert!(limits
            .claim_sign_in(&store, &keys, t(0))
            .await
            .unwrap()
            .is_allowed());
        limits.sign_in_succeeded(&store, &keys).await.unwrap();
    }
}

#[tokio::test]
async fn registrations_are_limited_per_source_and_window() {
    let store = Memory::default();
    let limits = SignInLimits {
        registrations: RateLimit {
            max: 3,
            window: Duration::from_secs(60),
        },
        ..SignInLimits::default()
    };
    let mut answers = Vec::new();
    for _ in 0..5 {
        answers.push(
            limits
                .claim_registration(&store, "198.51.100.7", t(0))
                .await
                .unwrap()
                .is_allowed(),
        );
    }
    assert_eq!(answers, [true, true, true, false, false]);
    assert!(limits
        .claim_registration(&store, "198.51.100.8", t(0))
        .await
        .unwrap()
        .is_allowed());
    assert!(limits
        .claim_registration(&store, "198.51.100.7", t(60))
        .await
        .unwrap()
        .is_allowed());
    assert_eq!(registration_key("x"), "register:x");
}
