//! The role matrix: every operation × every role (+ anonymous). Anonymous → 401 wherever a
//! session is needed; a role the permission table does not allow → 403; an allowed role gets
//! neither (it may still get 404/422 for the placeholder ids and bodies used here).

use offline_api::ROUTES;
use offline_db::Role;
use poem::http::StatusCode;
use serde_json::{json, Value};

use crate::common::{on_both, PASSWORD};

fn body_for(method: &str, path: &str, n: usize) -> Option<Value> {
    let b = match (method, path) {
        ("POST", "/api/auth/register") => {
            json!({"username": format!("newuser{n}"), "display_name": "N", "password": PASSWORD})
        }
        ("POST", "/api/auth/login") => json!({"username": "matrixuser", "password": PASSWORD}),
        ("PUT", "/api/users/:id/role") => json!({"role": "auditor", "password": PASSWORD}),
        ("PUT", "/api/users/:id/status") => json!({"status": "ACTIVE"}),
        ("POST", "/api/me/se-enrolment") => json!({"label": format!("SE-M{n}"), "proof": "nope"}),
        ("PUT", "/api/secure-elements/:id/status") => json!({"status": "LOST"}),
        ("POST", "/api/cases") => json!({"name": "m", "managers": [], "chain_ids": [1]}),
        ("DELETE", "/api/cases/:id") | ("POST", "/api/cases/:id/archive") => {
            json!({"password": PASSWORD})
        }
        ("POST", "/api/cases/:id/replace-manager") => {
            json!({"share_index": 0, "new_user_id": "x", "pin_reset_by": "y", "reason": "r", "password": PASSWORD})
        }
        ("POST", "/api/signing-requests") => json!({"envelope": "not an envelope"}),
        ("POST", "/api/signing-requests/batch") => {
            json!({"envelopes": ["not an envelope", "nor this"]})
        }
        ("POST", "/api/balance-attestations") => json!({"envelope": "not an envelope"}),
        ("POST", "/api/cases/:id/rekey") => json!({"reason": "SE lost"}),
        ("POST", "/api/proposals/:id/approve") | ("POST", "/api/proposals/:id/reject") => {
            json!({"password": PASSWORD})
        }
        _ => return None,
    };
    Some(b)
}

fn concrete(path: &str) -> String {
    let p = path.replace(":id", "00000000-0000-7000-8000-000000000000");
    if p == "/api/key-shares" {
        format!("{p}?public_key=02ab")
    } else {
        p
    }
}

#[tokio::test]
async fn every_endpoint_checks_its_role() {
    on_both(|app| async move {
        app.user("matrixuser", Role::Auditor).await;
        let roles = [
            Role::Admin,
            Role::CaseManager,
            Role::Operator,
            Role::Auditor,
        ];
        let mut sessions = Vec::new();
        for (i, role) in roles.iter().enumerate() {
            sessions.push((*role, app.signed_in(&format!("role{i}"), *role).await.1));
        }
        // Logout last, or it would end the sessions the other rows use.
        let mut routes: Vec<_> = ROUTES.to_vec();
        routes.sort_by_key(|(_, p, _)| *p == "/api/auth/logout");
        let mut n = 0;
        let mut checked = 0;
        for (method, path, action) in routes {
            let url = concrete(path);
            n += 1;
            let anon = app
                .call(method, &url, None, body_for(method, path, n))
                .await;
            match action {
                None => assert!(
                    anon.status != StatusCode::UNAUTHORIZED && anon.status != StatusCode::FORBIDDEN,
                    "{method} {path} anonymous: {:?}",
                    anon
                ),
                Some(_) => assert_eq!(
                    anon.status,
                    StatusCode::UNAUTHORIZED,
                    "{method} {path} anonymous: {:?}",
                    anon.body
                ),
            }
            let Some(action) = action else { continue };
            for (role, session) in &sessions {
                n += 1;
                let r = app
                    .call(method, &url, Some(session), body_for(method, path, n))
                    .await;
                let allowed = offline_api::session::auth_role_of(*role).may(action);
                if allowed {
                    assert!(
                        r.status != StatusCode::UNAUTHORIZED && r.status != StatusCode::FORBIDDEN,
                        "{method} {path} as {role:?} should be allowed: {:?}",
                        r.body
                    );
                } else {
                    assert_eq!(
                        r.status,
                        StatusCode::FORBIDDEN,
                        "{method} {path} as {role:?} should be forbidden: {:?}",
                        r.body
                    );
                    assert_eq!(r.problem(), "forbidden");
                }
                checked += 1;
            }
        }
        assert_eq!(checked, 4 * ROUTES.iter().filter(|r| r.2.is_some()).count());
    })
    .await;
}
