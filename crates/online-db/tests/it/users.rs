use chrono::Duration;
use online_db::{Error, Lockout, NewSession, NewUser, Role, UserStatus};

use crate::on_both;

fn session(token: &str, w: &crate::World) -> NewSession {
    NewSession {
        token_hash: format!("hash-{token}"),
        csrf_hash: format!("csrf-{token}"),
        expires_at: w.now() + Duration::hours(8),
        revoke_previous: None,
    }
}

#[tokio::test]
async fn a_fresh_user_has_no_role_and_role_changes_are_logged() {
    on_both!(|w| {
        let before = w.counts().await;
        let u =
            w.db.create_user(
                NewUser {
                    username: "newcomer".into(),
                    display_name: "New".into(),
                    password_hash: "$argon2id$x".into(),
                },
                "self-registration",
                w.now(),
            )
            .await
            .unwrap();
        assert_eq!(u.role, Role::Unassigned);
        assert_eq!(u.status, UserStatus::Active);
        let after = w.counts().await;
        assert_eq!(
            after,
            crate::Counts {
                users: before.users + 1,
                ..before.logs(1, 0)
            }
        );
        assert!(!format!("{u:?}").contains("argon2"));

        let before = w.counts().await;
        w.db.set_role(&u.id, Role::Auditor, &w.admin.id, w.now())
            .await
            .unwrap();
        assert_eq!(w.counts().await, before.logs(1, 0));
        let rec = w.last_operation().await;
        assert_eq!(rec.action, "user.role_changed");
        assert_eq!(rec.actor, w.admin.id);
        assert_eq!(rec.details["from"], "NONE");
        assert_eq!(rec.details["to"], "AUDITOR");

        // Failures write nothing: a taken username, an unknown user, the same role again.
        let before = w.counts().await;
        let dup =
            w.db.create_user(
                NewUser {
                    username: "newcomer".into(),
                    display_name: "again".into(),
                    password_hash: "x".into(),
                },
                &w.admin.id,
                w.now(),
            )
            .await
            .unwrap_err();
        assert!(matches!(dup, Error::AlreadyExists { .. }), "{dup}");
        let unknown =
            w.db.set_role("no-such-user", Role::Admin, &w.admin.id, w.now())
                .await
                .unwrap_err();
        assert!(matches!(unknown, Error::NotFound { .. }), "{unknown}");
        let same =
            w.db.set_role(&u.id, Role::Auditor, &w.admin.id, w.now())
                .await
                .unwrap_err();
        assert!(matches!(same, Error::Conflict(_)), "{same}");
        assert_eq!(w.counts().await, before);
        // No record carries a password hash.
        let all =
            w.db.operation_log(online_db::LogFilter {
                limit: Some(1000),
                ..Default::default()
            })
            .await
            .unwrap();
        assert!(all
            .iter()
            .all(|r| !r.details.to_string().contains("argon2")));
    });
}

#[tokio::test]
async fn disabling_a_user_revokes_their_sessions() {
    on_both!(|w| {
        let t = &w.traders[0];
        let s =
            w.db.record_login_success(&t.id, "10.0.0.1", session("a", &w), w.now())
                .await
                .unwrap();
        assert!(s.revoked_at.is_none());
        let before = w.counts().await;
        w.db.set_status(&t.id, UserStatus::Disabled, &w.admin.id, w.now())
            .await
            .unwrap();
        assert_eq!(w.counts().await, before.logs(1, 0));
        assert_eq!(w.last_operation().await.details["sessions_revoked"], 1);
        let s = w.db.session_by_token_hash("hash-a").await.unwrap().unwrap();
        assert!(s.revoked_at.is_some());
        // A disabled user cannot sign in; nothing is written.
        let before = w.counts().await;
        let err =
            w.db.record_login_success(&t.id, "10.0.0.1", session("b", &w), w.now())
                .await
                .unwrap_err();
        assert!(matches!(err, Error::Forbidden(_)), "{err}");
        assert_eq!(w.counts().await, before);
    });
}

#[tokio::test]
async fn failed_logins_lock_the_account_for_a_bounded_time() {
    on_both!(|w| {
        let t = &w.traders[0];
        let lockout = Lockout {
            after_failures: 3,
            duration: Duration::minutes(15),
        };
        for i in 1..=2u32 {
            let before = w.counts().await;
            let f =
                w.db.record_login_failure(&t.username, "10.0.0.9", lockout, w.now())
                    .await
                    .unwrap();
            assert_eq!(f.failed_logins, i);
            assert_eq!(f.locked_until, None);
            assert_eq!(w.counts().await, before.logs(1, 0));
        }
        let at = w.now();
        let f =
            w.db.record_login_failure(&t.username, "10.0.0.9", lockout, at)
                .await
                .unwrap();
        assert_eq!(f.locked_until, Some(at + Duration::minutes(15)));
        let rec = w.last_operation().await;
        assert_eq!(rec.action, "auth.login_failed");
        assert_eq!(rec.object, t.id);

        // While locked, neither a right nor a wrong password is evaluated or recorded.
        let before = w.counts().await;
        let attempts_before =
            w.db.login_attempts(&t.username, false, at - Duration::hours(1))
                .await
                .unwrap()
                .len();
        let err =
            w.db.record_login_success(&t.id, "10.0.0.9", session("c", &w), w.now())
                .await
                .unwrap_err();
        assert!(matches!(err, Error::Locked { until } if until == at + Duration::minutes(15)));
        let err =
            w.db.record_login_failure(&t.username, "10.0.0.9", lockout, w.now())
                .await
                .unwrap_err();
        assert!(matches!(err, Error::Locked { .. }), "{err}");
        assert_eq!(w.counts().await, before);
        assert_eq!(
            w.db.login_attempts(&t.username, false, at - Duration::hours(1))
                .await
                .unwrap()
                .len(),
            attempts_before
        );

        // After the lock, a success signs in and resets the count.
        w.advance(Duration::minutes(16));
        let before = w.counts().await;
        w.db.record_login_success(&t.id, "10.0.0.9", session("d", &w), w.now())
            .await
            .unwrap();
        assert_eq!(w.counts().await, before.logs(1, 0));
        let user = w.db.user(&t.id).await.unwrap().unwrap();
        assert_eq!((user.failed_logins, user.locked_until), (0, None));
        assert_eq!(w.last_operation().await.action, "auth.login_succeeded");

        // An unknown username is logged (and throttled by name) without a user to lock.
        let f =
            w.db.record_login_failure("nobody", "10.0.0.9", lockout, w.now())
                .await
                .unwrap();
        assert_eq!(f.failed_logins, 0);
        assert_eq!(w.last_operation().await.actor, "anonymous");
        assert_eq!(
            w.db.login_attempts("10.0.0.9", true, at - Duration::hours(1))
                .await
                .unwrap()
                .len(),
            5
        );
    });
}

#[tokio::test]
async fn logout_revokes_the_session_once() {
    on_both!(|w| {
        let t = &w.traders[1];
        let s =
            w.db.record_login_success(&t.id, "10.0.0.2", session("e", &w), w.now())
                .await
                .unwrap();
        let before = w.counts().await;
        w.db.logout(&s.id, &t.id, w.now()).await.unwrap();
        assert_eq!(w.counts().await, before.logs(1, 0));
        let before = w.counts().await;
        let err = w.db.logout(&s.id, &t.id, w.now()).await.unwrap_err();
        assert!(matches!(err, Error::NotFound { .. }), "{err}");
        assert_eq!(w.counts().await, before);
    });
}
