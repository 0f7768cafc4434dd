use std::time::{Duration, SystemTime};

use auth::{Attempt, Decision, Error, Throttle};

use crate::{at, t0};

fn fail(t: SystemTime) -> Attempt {
    Attempt {
        at: t,
        success: false,
    }
}

fn ok(t: SystemTime) -> Attempt {
    Attempt {
        at: t,
        success: true,
    }
}

fn delay(secs: u64) -> Decision {
    Decision::Delay {
        retry_after: Duration::from_secs(secs),
    }
}

/// `n` failures one second apart starting at `t0()`.
fn failures(n: u64) -> Vec<Attempt> {
    (0..n).map(|i| fail(at(i))).collect()
}

#[test]
fn default_policies_are_valid() {
    Throttle::per_account().validate().unwrap();
    Throttle::per_ip().validate().unwrap();
    let broken = Throttle {
        window: Duration::ZERO,
        ..Throttle::per_account()
    };
    assert_eq!(broken.validate().unwrap_err(), Error::InvalidThrottlePolicy);
    let broken = Throttle {
        base_delay: Duration::from_secs(3600),
        ..Throttle::per_account()
    };
    assert_eq!(broken.validate().unwrap_err(), Error::InvalidThrottlePolicy);
}

#[test]
fn four_failures_allow_five_delay() {
    let policy = Throttle::per_account();
    assert_eq!(policy.decide(&[], t0()), Decision::Allow);
    assert_eq!(policy.decide(&failures(4), at(3)), Decision::Allow);
    // The fifth failure was at t0+4s: wait 1 s from then.
    assert_eq!(policy.decide(&failures(5), at(4)), delay(1));
    assert_eq!(policy.decide(&failures(5), at(5)), Decision::Allow);
}

#[test]
fn delays_double_and_cap_at_15_minutes() {
    let policy = Throttle::per_account();
    let mut seen = Vec::new();
    for n in 5..=20 {
        let attempts = failures(n);
        let latest = at(n - 1);
        match policy.decide(&attempts, latest) {
            Decision::Delay { retry_after } => seen.push(retry_after.as_secs()),
            Decision::Allow => panic!("{n} failures should be delayed"),
        }
    }
    assert_eq!(
        seen,
        [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 900, 900, 900, 900, 900, 900]
    );
    assert_eq!(policy.backoff(u32::MAX), Duration::from_secs(900));
    assert_eq!(policy.backoff(4), Duration::ZERO);
}

#[test]
fn delay_counts_down_from_the_latest_failure() {
    let policy = Throttle::per_account();
    let attempts = failures(7); // 4 s delay after the failure at t0+6s
    assert_eq!(policy.decide(&attempts, at(6)), delay(4));
    assert_eq!(policy.decide(&attempts, at(8)), delay(2));
    assert_eq!(policy.decide(&attempts, at(10)), Decision::Allow);
}

#[test]
fn success_resets_the_consecutive_count() {
    let policy = Throttle::per_account();
    let mut attempts = failures(5);
    attempts.push(ok(at(10)));
    assert_eq!(policy.decide(&attempts, at(10)), Decision::Allow);
    attempts.push(fail(at(11)));
    assert_eq!(policy.decide(&attempts, at(11)), Decision::Allow);
    attempts.extend((12..16).map(|s| fail(at(s))));
    // Five consecutive failures after the success: back-off starts again from 1 s.
    assert_eq!(policy.decide(&attempts, at(15)), delay(1));
}

#[test]
fn order_of_attempts_does_not_matter() {
    let policy = Throttle::per_account();
    let mut attempts = failures(8);
    attempts.insert(2, ok(at(1)));
    let forward = policy.decide(&attempts, at(8));
    attempts.reverse();
    assert_eq!(policy.decide(&attempts, at(8)), forward);
    // Failures at 2..=7 s follow the success at 1 s: six consecutive, a 2 s delay from the
    // latest failure at 7 s, so 1 s left at 8 s.
    assert_eq!(forward, delay(1));
}

#[test]
fn at_most_100_failures_per_account_per_hour() {
    let policy = Throttle::per_account();
    // Failures 30 s apart, with a success after every fourth so back-off never starts: only the
    // hourly cap can stop this sequence.
    let mut attempts = Vec::new();
    let mut t = 0;
    let mut n_failures = 0;
    while n_failures < 100 {
        assert_eq!(policy.decide(&attempts, at(t)), Decision::Allow, "at {t}s");
        attempts.push(fail(at(t)));
        n_failures += 1;
        if n_failures % 4 == 0 {
            attempts.push(ok(at(t + 1)));
        }
        t += 30;
    }
    // 100 failures between t0 and t0 + 2970 s: the next evaluated failure has to wait until the
    // first one leaves the hour, at t0 + 3600 s.
    assert_eq!(policy.decide(&attempts, at(t)), delay(3600 - t));
    assert_eq!(policy.decide(&attempts, at(3600)), Decision::Allow);
}

#[test]
fn old_attempts_age_out_so_nobody_is_locked_out_for_good() {
    let policy = Throttle::per_account();
    // A burst of 500 failures (as if recorded without throttling): the cap and the back-off both
    // apply, but only for the hour after the latest of them.
    let attempts: Vec<Attempt> = (0..500).map(|i| fail(at(i))).collect();
    match policy.decide(&attempts, at(500)) {
        Decision::Delay { retry_after } => assert!(retry_after <= Duration::from_secs(3600)),
        Decision::Allow => panic!("should be delayed"),
    }
    let after_window = 499 + 3600 + 1;
    assert_eq!(policy.decide(&attempts, at(after_window)), Decision::Allow);
    // And the count is back at zero: one more failure does not trigger a delay.
    let mut later = attempts.clone();
    later.push(fail(at(after_window)));
    assert_eq!(policy.decide(&later, at(after_window)), Decision::Allow);
}

#[test]
fn persistent_attacker_cannot_lock_out_the_user() {
    // An attacker tries a wrong password whenever allowed, for 24 hours. At every moment the real
    // user's wait is bounded by the 15-minute cap, and no rolling hour holds more than 100
    // evaluated failures.
    let policy = Throttle::per_account();
    let mut attempts: Vec<Attempt> = Vec::new();
    let mut longest_wait = Duration::ZERO;
    for s in 0..24 * 3600 {
        let now = at(s);
        match policy.decide(&attempts, now) {
            Decision::Allow => attempts.push(fail(now)),
            Decision::Delay { retry_after } => longest_wait = longest_wait.max(retry_after),
        }
    }
    assert!(
        longest_wait <= Duration::from_secs(15 * 60),
        "{longest_wait:?}"
    );
    for (i, a) in attempts.iter().enumerate() {
        let hour_end = a.at + Duration::from_secs(3600);
        let in_hour = attempts[i..].iter().filter(|b| b.at < hour_end).count();
        assert!(
            in_hour <= 100,
            "{in_hour} failures in the hour from attempt {i}"
        );
    }
    // Once the attacker stops, the user gets in within the cap and from then on normally.
    let last = attempts.last().unwrap().at;
    assert_eq!(
        policy.decide(&attempts, last + Duration::from_secs(15 * 60)),
        Decision::Allow
    );
}

#[test]
fn per_ip_limits_use_their_own_numbers_and_successes_do_not_reset() {
    let policy = Throttle::per_ip();
    assert_eq!(policy.decide(&failures(19), at(18)), Decision::Allow);
    assert_eq!(policy.decide(&failures(20), at(19)), delay(1));
    // A success from the same address (an attacker's own account) does not clear the count.
    let mut attempts = failures(20);
    attempts.push(ok(at(20)));
    assert_eq!(policy.decide(&attempts, at(20)), Decision::Allow);
    attempts.push(fail(at(21)));
    assert_eq!(policy.decide(&attempts, at(21)), delay(2));
    // The window cap is 300 per hour.
    let many: Vec<Attempt> = (0..300).map(|i| fail(at(i * 10))).collect();
    // With the defaults the back-off (900 s from the latest failure at 2990 s) is the stricter
    // rule; with the back-off capped at 1 s, the window cap shows on its own.
    assert_eq!(policy.decide(&many, at(3000)), delay(890));
    let capped = Throttle {
        max_delay: Duration::from_secs(1),
        base_delay: Duration::from_secs(1),
        ..Throttle::per_ip()
    };
    assert_eq!(capped.decide(&many, at(3000)), delay(600));
    assert_eq!(capped.decide(&many[1..], at(3000)), Decision::Allow);
}

#[test]
fn account_and_ip_decisions_combine_to_the_stricter() {
    assert_eq!(Decision::Allow.combine(Decision::Allow), Decision::Allow);
    assert_eq!(Decision::Allow.combine(delay(5)), delay(5));
    assert_eq!(delay(5).combine(Decision::Allow), delay(5));
    assert_eq!(delay(5).combine(delay(9)), delay(9));
    assert!(!delay(1).is_allowed());
    assert!(Decision::Allow.is_allowed());
}
