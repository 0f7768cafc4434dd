//! Registration, roles, sign-in delays, CSRF and sign-out.

use std::time::Duration;

use poem::http::StatusCode;
use serde_json::json;

use crate::common::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_registered_user_has_no_rights_until_an_admin_grants_a_role() {
    on_both(|w: World| async move {
        let r = w
            .call(
                "POST",
                "/api/auth/register",
                None,
                Some(
                    json!({"username": "newbie", "display_name": "New Bie", "password": PASSWORD}),
                ),
            )
            .await;
        assert_eq!(r.ok()["role"], "none");
        let id = r.body["id"].as_str().unwrap().to_owned();
        // Weak passwords and taken names are refused with the field named.
        for (name, password, field) in [
            ("newbie2", "short", "password"),
            ("newbie3", "newbie3 newbie3 newbie3", "password"),
            ("newbie", PASSWORD, "username"),
            ("x", PASSWORD, "username"),
        ] {
            let r = w
                .call(
                    "POST",
                    "/api/auth/register",
                    None,
                    Some(json!({"username": name, "display_name": "N", "password": password})),
                )
                .await;
            assert!(r.status.is_client_error(), "{name}: {}", r.body);
            if r.status == StatusCode::UNPROCESSABLE_ENTITY {
                assert_eq!(r.body["field"], field, "{name}: {}", r.body);
            }
        }
        let newbie = w.login_bearer("newbie").await;
        for path in [
            "/api/accounts",
            "/api/transfers",
            "/api/audit/logs/operations",
            "/api/users",
        ] {
            let r = w.call("GET", path, Some(&newbie), None).await;
            assert_eq!(r.status, StatusCode::FORBIDDEN, "{path}: {}", r.body);
        }
        // Only an admin grants roles; a trader cannot.
        let r = w
            .call(
                "PUT",
                &format!("/api/users/{id}/role"),
                Some(&w.trader),
                Some(json!({"role": "trader", "password": PASSWORD})),
            )
            .await;
        assert_eq!(r.status, StatusCode::FORBIDDEN);
        let r = w
            .call(
                "PUT",
                &format!("/api/users/{id}/role"),
                Some(&w.admin),
                Some(json!({"role": "superuser", "password": PASSWORD})),
            )
            .await;
        assert_eq!(r.body["field"], "role");
        let r = w
            .admin_change(
                "PUT",
                &format!("/api/users/{id}/role"),
                json!({"role": "auditor"}),
            )
            .await;
        assert_eq!(r.ok()["status"], "APPROVED");
        assert_eq!(
            w.db.user(&id).await.unwrap().unwrap().role,
            online_db::Role::Auditor
        );
        let r = w
            .call(
                "GET",
                "/api/audit/logs/operations?action=user.role_changed",
                Some(&newbie),
                None,
            )
            .await;
        assert!(!r.ok().as_array().unwrap().is_empty());
        // Disabling ends the session at once.
        let r = w
            .call(
                "PUT",
                &format!("/api/users/{id}/status"),
                Some(&w.admin),
                Some(json!({"status": "DISABLED"})),
            )
            .await;
        assert_eq!(r.ok()["status"], "DISABLED");
        let r = w.call("GET", "/api/auth/me", Some(&newbie), None).await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_logins_from_one_source_bring_growing_delays_never_a_lock() {
    on_both(|w: World| async move {
        let login = |password: &'static str| {
            let w = &w;
            async move {
                w.call(
                    "POST",
                    "/api/auth/login",
                    None,
                    Some(json!({"username": "trader2", "password": password, "client": "bearer"})),
                )
                .await
            }
        };
        for _ in 0..5 {
            let r = login("wrong password here").await;
            assert_eq!(r.status, StatusCode::UNAUTHORIZED);
            assert_eq!(r.problem(), "invalid-credentials");
        }
        // The sixth attempt from this source waits 2 s, with the right password too (it is not
        // evaluated).
        for (user, password) in [("trader2", "wrong password here"), ("trader2", PASSWORD)] {
            let r = w
                .call(
                    "POST",
                    "/api/auth/login",
                    None,
                    Some(json!({"username": user, "password": password, "client": "bearer"})),
                )
                .await;
            assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS, "{}", r.body);
            assert_eq!(r.problem(), "too-many-attempts");
            assert_eq!(r.headers["retry-after"], "2");
        }
        w.clock.advance(Duration::from_secs(2));
        let r = login("wrong password here").await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED);
        // The delay doubles.
        let r = login(PASSWORD).await;
        assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(r.headers["retry-after"], "4");
        w.clock.advance(Duration::from_secs(4));
        let r = login(PASSWORD).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        // A success resets the delay.
        let r = login("wrong password here").await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED);
        let r = login(PASSWORD).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        // The log has the evaluated failures.
        let r = w
            .call(
                "GET",
                "/api/audit/logs/operations?action=auth.login_failed",
                Some(&w.auditor),
                None,
            )
            .await;
        assert_eq!(r.ok().as_array().unwrap().len(), 7);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cookie_session_needs_its_csrf_token_for_changes_and_logout_ends_it() {
    on_both(|w: World| async move {
        let session = w.login_cookie("trader").await;
        let Session::Cookie { csrf, .. } = &session else {
            unreachable!()
        };
        let body = json!({
            "account_id": w.account_id, "asset": "ETH",
            "to": dev_address(PAYEE).to_checksum(), "amount": "1000",
        });
        let r = w
            .call_raw(
                "POST",
                "/api/transfers",
                Some(&session),
                None,
                Some(body.clone()),
            )
            .await;
        assert_eq!(r.status, StatusCode::FORBIDDEN);
        assert_eq!(r.problem(), "csrf-token-invalid");
        let r = w
            .call_raw(
                "POST",
                "/api/transfers",
                Some(&session),
                Some("forged"),
                Some(body.clone()),
            )
            .await;
        assert_eq!(r.problem(), "csrf-token-invalid");
        let r = w
            .call_raw(
                "POST",
                "/api/transfers",
                Some(&session),
                Some(csrf),
                Some(body),
            )
            .await;
        assert_eq!(r.ok()["status"], "DRAFT");
        // Reads need no CSRF token.
        let r = w
            .call_raw("GET", "/api/transfers", Some(&session), None, None)
            .await;
        assert_eq!(r.ok().as_array().unwrap().len(), 1);
        let r = w
            .call("POST", "/api/auth/logout", Some(&session), None)
            .await;
        assert_eq!(r.status, StatusCode::NO_CONTENT);
        assert!(r.headers["set-cookie"]
            .to_str()
            .unwrap()
            .contains("Max-Age=0"));
        let r = w.call("GET", "/api/auth/me", Some(&session), None).await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    })
    .await;
}
