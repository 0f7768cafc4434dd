use std::time::SystemTime;

use auth::{AccountStore, SessionRow, SignInFailure};
use chrono::Duration;
use online_db::{Error, NewUser, Role, UserStatus};

use crate::on_both;

fn session(token: &str, w: &crate::World) -> SessionRow {
    SessionRow {
        token_hash: format!("hash-{token}"),
        csrf_hash: format!("csrf-{token}"),
        expires_at: (w.now() + Duration::hours(8)).into(),
        revoke_previous: None,
    }
}

fn now(w: &crate::World) -> SystemTime {
    w.now().into()
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
            w.db.record_sign_in(t, "10.0.0.1", session("a", &w), now(&w))
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
            w.db.record_sign_in(t, "10.0.0.1", session("b", &w), now(&w))
                .await
                .unwrap_err();
        assert!(matches!(err, Error::Forbidden(_)), "{err}");
        assert_eq!(w.counts().await, before);
    });
}

#[tokio::test]
async fn failed_logins_are_recorded_but_never_lock_the_account() {
    on_both!(|w| {
        let t = &w.traders[0];
        let at = w.now();
        for i in 1..=7u32 {
            let before = w.counts().await;
            w.db.record_failed_sign_in(
                &t.username,
                None,
                "10.0.0.9",
                SignInFailure::WrongPassword,
                now(&w),
            )
            .await
            .unwrap();
            let user = w.db.user(&t.id).await.unwrap().unwrap();
            assert_eq!(user.failed_logins, i32::try_from(i).unwrap());
            assert_eq!(w.counts().await, before.logs(1, 0));
        }
        let rec = w.last_operation().await;
        assert_eq!(rec.action, "auth.login_failed");
        assert_eq!(rec.object, t.id);
        let user = w.db.user(&t.id).await.unwrap().unwrap();
        assert_eq!(user.locked_until, None);

        // The right password still signs in at once (the throttle, not the database, decides
        // what is evaluated), and the count is reset.
        let before = w.counts().await;
        w.db.record_sign_in(t, "10.0.0.9", session("d", &w), now(&w))
            .await
            .unwrap();
        assert_eq!(w.counts().await, before.logs(1, 0));
        let user = w.db.user(&t.id).await.unwrap().unwrap();
        assert_eq!((user.failed_logins, user.locked_until), (0, None));
        assert_eq!(w.last_operation().await.action, "auth.login_succeeded");

        // An unknown username is logged without a user to count on.
        w.db.record_failed_sign_in(
            "nobody",
            None,
            "10.0.0.9",
            SignInFailure::WrongPassword,
            now(&w),
        )
        .await
        .unwrap();
        assert_eq!(w.last_operation().await.actor, "anonymous");

        // A failed re-authentication is its own record, and counts like a failed sign-in.
        w.db.record_failed_sign_in(
            &t.username,
            Some(t),
            "10.0.0.9",
            SignInFailure::Reauthentication,
            now(&w),
        )
        .await
        .unwrap();
        let rec = w.last_operation().await;
        assert_eq!(
            (rec.action.as_str(), rec.object.as_str()),
            ("auth.reauth_failed", t.id.as_str())
        );
        assert_eq!(
            w.db.login_attempts("10.0.0.9", true, at - Duration::hours(1))
                .await
                .unwrap()
                .len(),
            10
        );
    });
}

#[tokio::test]
async fn concurrent_claims_never_exceed_the_free_attempts() {
    on_both!(|w| {
        let limits = auth::SignInLimits::default();
        let keys = auth::SignInKeys::new("trader0", "10.0.0.7");
        let now = std::time::SystemTime::from(w.now());
        let claims = (0..150).map(|_| {
            let db = w.db.clone();
            let keys = keys.clone();
            tokio::spawn(async move { limits.claim_sign_in(db.conn(), &keys, now).await.unwrap() })
        });
        let mut allowed = 0;
        for claim in claims {
            if claim.await.unwrap().is_allowed() {
                allowed += 1;
            }
        }
        assert_eq!(allowed, 5);
        assert_eq!(
            auth::sql::count(w.db.conn(), &keys.account_and_source)
                .await
                .unwrap(),
            Some(5)
        );
        // Another source is not affected.
        let elsewhere = auth::SignInKeys::new("trader0", "10.0.0.8");
        assert!(limits
            .claim_sign_in(w.db.conn(), &elsewhere, now)
            .await
            .unwrap()
            .is_allowed());
    });
}

#[tokio::test]
async fn logout_revokes_the_session_once() {
    on_both!(|w| {
        let t = &w.traders[1];
        let s =
            w.db.record_sign_in(t, "10.0.0.2", session("e", &w), now(&w))
                .await
                .unwrap();
        let before = w.counts().await;
        w.db.sign_out(&s.id, &t.id, now(&w)).await.unwrap();
        assert_eq!(w.counts().await, before.logs(1, 0));
        let before = w.counts().await;
        let err = w.db.sign_out(&s.id, &t.id, now(&w)).await.unwrap_err();
        assert!(matches!(err, Error::NotFound { .. }), "{err}");
        assert_eq!(w.counts().await, before);
    });
}
