//! Registration, sign-in, sessions, throttling, CSRF, re-authentication, security headers.

use std::time::Duration;

use offline_db::Role;
use poem::http::StatusCode;
use serde_json::json;

use crate::common::{on_both, Session, PASSWORD};

#[tokio::test]
async fn register_login_me_logout() {
    on_both(|app| async move {
        let (_, admin) = app.signed_in("admin", Role::Admin).await;
        let r = app
            .call("POST", "/api/auth/register", None, Some(json!({"username": "Carol", "display_name": "Carol Chen", "phone": "+86 138 1234 5678", "password": PASSWORD})))
            .await;
        assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
        assert_eq!(r.body["status"], "DISABLED");
        assert_eq!(r.body["username"], "carol");
        assert!(r.body.get("password_hash").is_none());
        let carol = r.body["id"].as_str().unwrap().to_owned();

        // Policy errors are 422 problems naming the field.
        let weak = app.call("POST", "/api/auth/register", None, Some(json!({"username": "dave", "display_name": "D", "password": "password"}))).await;
        assert_eq!(weak.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(weak.problem(), "validation-failed");
        assert_eq!(weak.body["field"], "password");
        assert_eq!(weak.headers.get("content-type").unwrap(), "application/problem+json");
        let dup = app.call("POST", "/api/auth/register", None, Some(json!({"username": "carol", "display_name": "C2", "password": PASSWORD}))).await;
        assert_eq!(dup.status, StatusCode::UNPROCESSABLE_ENTITY);

        // Pending approval: the right password still cannot sign in.
        let r = app.login("carol", PASSWORD, false).await;
        assert_eq!(r.status, StatusCode::FORBIDDEN);
        assert_eq!(r.problem(), "account-disabled");

        // The admin grants a role (re-authenticated) and enables the account.
        let r = app.call("PUT", &format!("/api/users/{carol}/role"), Some(&admin), Some(json!({"role": "operator", "password": PASSWORD}))).await;
        app.approve(r).await;
        let r = app.call("PUT", &format!("/api/users/{carol}/status"), Some(&admin), Some(json!({"status": "ACTIVE"}))).await;
        assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);

        // Browser login: a __Host- cookie with the right attributes, CSRF token in the body.
        let r = app.login("carol", PASSWORD, false).await;
        assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
        let cookie = r.headers.get("set-cookie").unwrap().to_str().unwrap().to_owned();
        assert!(cookie.starts_with("__Host-custody-offline="), "{cookie}");
        for attr in ["Secure", "HttpOnly", "SameSite=Strict", "Path=/"] {
            assert!(cookie.contains(attr), "{cookie} lacks {attr}");
        }
        assert!(r.body["session_token"].is_null(), "browser sessions stay out of the body");
        let session = app.session("carol", false).await;
        let me = app.call("GET", "/api/auth/me", Some(&session), None).await;
        assert_eq!(me.status, StatusCode::OK);
        assert_eq!(me.body["username"], "carol");
        assert_eq!(me.body["role"], "operator");

        // Logout revokes; the same cookie no longer works.
        let out = app.call("POST", "/api/auth/logout", Some(&session), None).await;
        assert_eq!(out.status, StatusCode::NO_CONTENT);
        assert!(out.headers.get("set-cookie").unwrap().to_str().unwrap().contains("Max-Age=0"));
        let me = app.call("GET", "/api/auth/me", Some(&session), None).await;
        assert_eq!(me.status, StatusCode::UNAUTHORIZED);
        assert_eq!(me.problem(), "unauthenticated");

        // Wrong password and unknown user look the same.
        let a = app.login("carol", "wrong password here", false).await;
        let b = app.login("nobody", "wrong password here", false).await;
        assert_eq!(a.status, StatusCode::UNAUTHORIZED);
        assert_eq!(b.status, StatusCode::UNAUTHORIZED);
        assert_eq!(a.body["detail"], b.body["detail"]);

        // Sessions time out when idle (injected clock).
        let s = app.session("carol", true).await;
        app.clock.advance(Duration::from_secs(16 * 60));
        let me = app.call("GET", "/api/auth/me", Some(&s), None).await;
        assert_eq!(me.status, StatusCode::UNAUTHORIZED);
    })
    .await;
}

#[tokio::test]
async fn five_failures_from_one_source_bring_a_delay_that_passes_never_a_lock() {
    on_both(|app| async move {
        app.user("erin", Role::Auditor).await;
        for i in 0..5 {
            let r = app.login("erin", "not the password", false).await;
            assert_eq!(
                r.status,
                StatusCode::UNAUTHORIZED,
                "attempt {i}: {:?}",
                r.body
            );
        }
        // Even the right password is refused while the delay runs.
        let r = app.login("erin", PASSWORD, false).await;
        assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS, "{:?}", r.body);
        assert_eq!(r.problem(), "too-many-attempts");
        let retry: u64 = r
            .headers
            .get("retry-after")
            .unwrap()
            .to_str()
            .unwrap()
            .parse()
            .unwrap();
        assert!(retry >= 1);
        // Hammering during the delay does not extend it and is not evaluated.
        let r = app.login("erin", PASSWORD, false).await;
        assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS);
        app.clock.advance(Duration::from_secs(retry));
        let r = app.login("erin", PASSWORD, false).await;
        assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
        // Failed attempts were recorded and audited.
        let failed = audit::query(
            app.db.conn(),
            audit::Filter {
                action: Some("auth.login_failed".into()),
                ..Default::default()
            },
        )
        .await
        .unwrap();
        assert_eq!(failed.len(), 5);
    })
    .await;
}

#[tokio::test]
async fn csrf_is_required_for_cookie_state_changes() {
    on_both(|app| async move {
        app.user("manager", Role::CaseManager).await;
        let cookie = app.session("manager", false).await;
        let Session::Cookie { csrf, .. } = &cookie else {
            unreachable!()
        };
        let path = "/api/me/se-enrolment/challenge";
        let before = app.snapshot().await;
        let none = app.call_raw("POST", path, Some(&cookie), None, None).await;
        assert_eq!(none.status, StatusCode::FORBIDDEN);
        assert_eq!(none.problem(), "csrf-token-invalid");
        let wrong = app
            .call_raw(
                "POST",
                path,
                Some(&cookie),
                Some("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"),
                None,
            )
            .await;
        assert_eq!(wrong.status, StatusCode::FORBIDDEN);
        assert_eq!(
            app.snapshot().await,
            before,
            "a refused request writes nothing"
        );
        let right = app
            .call_raw("POST", path, Some(&cookie), Some(csrf), None)
            .await;
        assert_eq!(right.status, StatusCode::OK, "{:?}", right.body);
        // GET needs no CSRF header; a bearer session needs none at all.
        let list = app
            .call_raw("GET", "/api/me/cases", Some(&cookie), None, None)
            .await;
        assert_eq!(list.status, StatusCode::OK);
        let bearer = app.session("manager", true).await;
        let r = app.call_raw("POST", path, Some(&bearer), None, None).await;
        assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    })
    .await;
}

#[tokio::test]
async fn disabling_a_user_revokes_sessions_and_role_grants_need_the_password() {
    on_both(|app| async move {
        let (admin_id, admin) = app.signed_in("admin", Role::Admin).await;
        let (frank, frank_s) = app.signed_in("frank", Role::Auditor).await;
        assert_eq!(
            app.call("GET", "/api/users", Some(&frank_s), None)
                .await
                .status,
            StatusCode::OK
        );

        let before = app.snapshot().await;
        let r = app
            .call(
                "PUT",
                &format!("/api/users/{frank}/role"),
                Some(&admin),
                Some(json!({"role": "admin", "password": "wrong password!"})),
            )
            .await;
        assert_eq!(r.status, StatusCode::FORBIDDEN);
        assert_eq!(r.problem(), "reauthentication-failed");
        let after = app.snapshot().await;
        let users = |s: &Vec<(String, i64)>| s.iter().find(|(t, _)| t == "users").unwrap().1;
        assert_eq!(users(&before), users(&after));
        let me = app.call("GET", "/api/auth/me", Some(&frank_s), None).await;
        assert_eq!(me.body["role"], "auditor", "the role did not change");

        let r = app
            .call(
                "PUT",
                &format!("/api/users/{admin_id}/status"),
                Some(&admin),
                Some(json!({"status": "DISABLED"})),
            )
            .await;
        assert_eq!(
            r.status,
            StatusCode::CONFLICT,
            "an admin cannot lock themself out"
        );

        let r = app
            .call(
                "PUT",
                &format!("/api/users/{frank}/status"),
                Some(&admin),
                Some(json!({"status": "DISABLED"})),
            )
            .await;
        assert_eq!(r.status, StatusCode::OK);
        let r = app.call("GET", "/api/users", Some(&frank_s), None).await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED);
        let rec = audit::query(
            app.db.conn(),
            audit::Filter {
                action: Some("user.status_changed".into()),
                object: Some(frank.clone()),
                ..Default::default()
            },
        )
        .await
        .unwrap();
        assert_eq!(rec.len(), 1);
        assert_eq!(rec[0].details["sessions_revoked"], 1);
    })
    .await;
}

#[tokio::test]
async fn security_headers_and_problems_everywhere() {
    on_both(|app| async move {
        for path in [
            "/api/health",
            "/api/auth/me",
            "/api/no-such-thing",
            "/api/openapi.json",
        ] {
            let r = app.call("GET", path, None, None).await;
            let h = &r.headers;
            let csp = h.get("content-security-policy").unwrap().to_str().unwrap();
            assert!(csp.contains("frame-ancestors 'none'"), "{path}: {csp}");
            assert_eq!(
                h.get("x-content-type-options").unwrap(),
                "nosniff",
                "{path}"
            );
            assert_eq!(h.get("referrer-policy").unwrap(), "no-referrer", "{path}");
            assert_eq!(h.get("cache-control").unwrap(), "no-store", "{path}");
            if r.status.is_client_error() {
                assert_eq!(
                    h.get("content-type").unwrap(),
                    "application/problem+json",
                    "{path}"
                );
                assert_eq!(r.body["status"], r.status.as_u16());
                assert!(r.body["title"].is_string() && r.body["detail"].is_string());
            }
        }
        let docs = app.call("GET", "/api/docs", None, None).await;
        assert_eq!(docs.status, StatusCode::OK);
        assert!(docs
            .headers
            .get("content-security-policy")
            .unwrap()
            .to_str()
            .unwrap()
            .contains("frame-ancestors 'none'"));
        // A body that does not parse is a 400 problem.
        let r = app
            .call_raw(
                "POST",
                "/api/auth/login",
                None,
                None,
                Some(json!({"user": 1})),
            )
            .await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST);
        assert_eq!(
            r.headers.get("content-type").unwrap(),
            "application/problem+json"
        );
    })
    .await;
}
