use std::time::Duration;

use auth::{CsrfToken, Error, SessionPolicy, SessionRejected, SessionState};

use crate::{at, t0};

const MIN: u64 = 60;
const HOUR: u64 = 60 * MIN;

fn fresh() -> SessionState {
    SessionState {
        created_at: t0(),
        last_seen_at: t0(),
        revoked_at: None,
        user_disabled: false,
        password_changed_at: None,
    }
}

#[test]
fn default_policy_is_15_minutes_idle_8_hours_absolute() {
    let policy = SessionPolicy::default();
    assert_eq!(policy.idle_timeout(), Duration::from_secs(15 * MIN));
    assert_eq!(policy.absolute_timeout(), Duration::from_secs(8 * HOUR));
}

#[test]
fn policy_timeouts_must_be_coherent() {
    let s = Duration::from_secs;
    assert!(SessionPolicy::new(s(60), s(3600)).is_ok());
    assert!(SessionPolicy::new(s(3600), s(3600)).is_ok());
    assert_eq!(
        SessionPolicy::new(s(0), s(3600)).unwrap_err(),
        Error::InvalidSessionPolicy
    );
    assert_eq!(
        SessionPolicy::new(s(7200), s(3600)).unwrap_err(),
        Error::InvalidSessionPolicy
    );
}

#[test]
fn session_idle_timeout() {
    let policy = SessionPolicy::default();
    let state = fresh();
    assert_eq!(policy.check(&state, t0()), Ok(()));
    assert_eq!(policy.check(&state, at(15 * MIN - 1)), Ok(()));
    assert_eq!(
        policy.check(&state, at(15 * MIN)),
        Err(SessionRejected::Idle)
    );
    // Activity moves the idle deadline.
    let touched = SessionState {
        last_seen_at: at(10 * MIN),
        ..state
    };
    assert_eq!(policy.check(&touched, at(20 * MIN)), Ok(()));
    assert_eq!(
        policy.expires_at(&touched).unwrap(),
        at(25 * MIN),
        "idle deadline"
    );
}

#[test]
fn session_absolute_timeout_despite_activity() {
    let policy = SessionPolicy::default();
    let mut state = fresh();
    // A request every 10 minutes keeps the session alive until the 8-hour limit, not beyond.
    let mut now = 0;
    while now + 10 * MIN < 8 * HOUR {
        now += 10 * MIN;
        assert_eq!(policy.check(&state, at(now)), Ok(()), "at {now}s");
        state.last_seen_at = at(now);
    }
    assert_eq!(
        policy.check(&state, at(8 * HOUR)),
        Err(SessionRejected::Expired)
    );
    state.last_seen_at = at(8 * HOUR - 1);
    assert_eq!(policy.expires_at(&state).unwrap(), at(8 * HOUR));
}

#[test]
fn session_revoked() {
    let policy = SessionPolicy::default();
    let state = SessionState {
        revoked_at: Some(at(60)),
        ..fresh()
    };
    assert_eq!(policy.check(&state, at(61)), Err(SessionRejected::Revoked));
    // Revocation is reported even when the session has also expired.
    assert_eq!(
        policy.check(&state, at(9 * HOUR)),
        Err(SessionRejected::Revoked)
    );
}

#[test]
fn session_ends_when_password_changes() {
    let policy = SessionPolicy::default();
    let changed_after = SessionState {
        password_changed_at: Some(at(30)),
        ..fresh()
    };
    assert_eq!(
        policy.check(&changed_after, at(31)),
        Err(SessionRejected::PasswordChanged)
    );
    // A session issued at or after the change (the user's new login) is fine.
    let changed_before = SessionState {
        created_at: at(30),
        last_seen_at: at(30),
        password_changed_at: Some(at(30)),
        ..fresh()
    };
    assert_eq!(policy.check(&changed_before, at(31)), Ok(()));
}

#[test]
fn session_ends_when_user_disabled() {
    let policy = SessionPolicy::default();
    let state = SessionState {
        user_disabled: true,
        ..fresh()
    };
    assert_eq!(
        policy.check(&state, at(1)),
        Err(SessionRejected::UserDisabled)
    );
}

#[test]
fn session_rejections_are_user_facing_sentences() {
    for reason in [
        SessionRejected::Revoked,
        SessionRejected::UserDisabled,
        SessionRejected::PasswordChanged,
        SessionRejected::Expired,
        SessionRejected::Idle,
    ] {
        let text = reason.to_string();
        assert!(text.ends_with('.'), "{text}");
        assert!(text.chars().next().unwrap().is_uppercase(), "{text}");
    }
}

#[test]
fn issue_returns_fresh_tokens_and_their_hashes() {
    let policy = SessionPolicy::default();
    let a = policy.issue(t0()).unwrap();
    let b = policy.issue(t0()).unwrap();
    assert_eq!(a.token.token_hash(), a.token_hash);
    assert_eq!(a.csrf.token_hash(), a.csrf_hash);
    assert_ne!(a.token.expose(), a.csrf.expose());
    assert_ne!(a.token_hash, b.token_hash, "every login rotates the token");
    assert_eq!(a.expires_at, at(15 * MIN));
    assert!(CsrfToken::verify(a.csrf.expose(), &a.csrf_hash));
    assert!(!CsrfToken::verify(b.csrf.expose(), &a.csrf_hash));
    let debug = format!("{a:?}");
    assert!(!debug.contains(a.token.expose()) && !debug.contains(a.csrf.expose()));
}
