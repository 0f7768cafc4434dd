//! Cases: the create-case validation matrix (422 problems, nothing written), manager
//! replacement, archive and delete rules, the key-share table.

use offline_db::Role;
use poem::http::StatusCode;
use serde_json::{json, Value};

use crate::common::{case_fixture, on_both, PASSWORD};

fn slots(users: &[&str], ses: &[&str]) -> Value {
    json!(users
        .iter()
        .zip(ses)
        .map(|(u, s)| json!({"user_id": u, "se_id": s}))
        .collect::<Vec<_>>())
}

/// A secp256k1 key and its address, as keygen would bind them.
pub fn case_key() -> (String, String) {
    let key = k256::ecdsa::SigningKey::random(&mut rand_core::OsRng);
    let point = key.verifying_key().to_encoded_point(true);
    let addr = contracts::eth::address_of_secp256k1(point.as_bytes()).unwrap();
    (hex::encode(point.as_bytes()), addr.to_checksum())
}

#[tokio::test]
async fn create_case_validation_errors_are_422_and_write_nothing() {
    on_both(|app| async move {
        let f = case_fixture(&app).await;
        let m: Vec<&str> = f.managers.iter().map(|(id, _)| id.as_str()).collect();
        let s: Vec<&str> = f.ses.iter().map(String::as_str).collect();
        let (extra_mgr, extra_session) = app.signed_in("extra", Role::CaseManager).await;
        let extra_se = app.se(&extra_session, "SE-EXTRA").await;
        let lost_se = app.se(&f.managers[0].1, "SE-LOST").await;
        let r = app.call("PUT", &format!("/api/secure-elements/{lost_se}/status"), Some(&f.admin), Some(json!({"status": "LOST"}))).await;
        assert_eq!(r.status, StatusCode::OK);
        assert_eq!(r.body["status"], "LOST");
        let disabled = app.user("gone", Role::CaseManager).await;
        let r = app.call("PUT", &format!("/api/users/{disabled}/status"), Some(&f.admin), Some(json!({"status": "DISABLED"}))).await;
        assert_eq!(r.status, StatusCode::OK);
        let auditor = app.user("aud", Role::Auditor).await;

        let cases: Vec<(&str, Value, &str)> = vec![
            ("two managers", json!({"name": "x", "managers": slots(&m[..2], &s[..2]), "chain_ids": [1]}), "managers"),
            ("four managers", json!({"name": "x", "managers": slots(&[m[0], m[1], m[2], &extra_mgr], &[s[0], s[1], s[2], &extra_se]), "chain_ids": [1]}), "managers"),
            ("same user twice", json!({"name": "x", "managers": slots(&[m[0], m[0], &extra_mgr], &[&extra_se, &lost_se, s[2]]), "chain_ids": [1]}), "managers"),
            ("same SE twice", json!({"name": "x", "managers": slots(&[&extra_mgr, m[1], m[2]], &[&extra_se, &extra_se, s[2]]), "chain_ids": [1]}), "managers"),
            ("not a case manager", json!({"name": "x", "managers": slots(&[&auditor, m[1], m[2]], &[&extra_se, s[1], s[2]]), "chain_ids": [1]}), "managers[0].user_id"),
            ("disabled manager", json!({"name": "x", "managers": slots(&[&disabled, m[1], m[2]], &[&extra_se, s[1], s[2]]), "chain_ids": [1]}), "managers[0].user_id"),
            ("unknown user", json!({"name": "x", "managers": slots(&["nobody", m[1], m[2]], &[&extra_se, s[1], s[2]]), "chain_ids": [1]}), "managers[0].user_id"),
            ("unknown SE", json!({"name": "x", "managers": slots(&[&extra_mgr, m[1], m[2]], &["nothing", s[1], s[2]]), "chain_ids": [1]}), "managers[0].se_id"),
            ("lost SE", json!({"name": "x", "managers": slots(&[&extra_mgr, m[1], m[2]], &[&lost_se, s[1], s[2]]), "chain_ids": [1]}), "managers[0].se_id"),
            ("SE busy in the same slot of another case", json!({"name": "x", "managers": slots(&[&extra_mgr, m[1], m[2]], &[s[0], &extra_se, &lost_se]), "chain_ids": [1]}), "managers[0].se_id"),
            ("empty name", json!({"name": "  ", "managers": slots(&m, &[&extra_se, s[1], s[2]]), "chain_ids": [1]}), "name"),
            ("no chain", json!({"name": "x", "managers": slots(&m, &s), "chain_ids": []}), "chain_ids"),
            ("chain zero", json!({"name": "x", "managers": slots(&m, &s), "chain_ids": [0]}), "chain_ids"),
            ("duplicate chain", json!({"name": "x", "managers": slots(&m, &s), "chain_ids": [1, 1]}), "chain_ids"),
        ];
        let before = app.snapshot().await;
        for (what, body, field) in cases {
            let r = app.call("POST", "/api/cases", Some(&f.admin), Some(body)).await;
            assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{what}: {:?}", r.body);
            assert_eq!(r.problem(), "validation-failed", "{what}");
            assert_eq!(r.body["field"], field, "{what}: {:?}", r.body);
            assert!(!r.body["detail"].as_str().unwrap().is_empty());
        }
        assert_eq!(app.snapshot().await, before, "rejected cases wrote nothing");
    })
    .await;
}

#[tokio::test]
async fn manager_replacement_rebinds_the_share_and_revokes_access() {
    on_both(|app| async move {
        let f = case_fixture(&app).await;
        let (new_id, new_s) = app.signed_in("newmanager", Role::CaseManager).await;
        let (old_id, old_s) = (&f.managers[1].0, &f.managers[1].1);
        let mine = app.call("GET", "/api/me/cases", Some(old_s), None).await;
        assert_eq!(mine.body.as_array().unwrap().len(), 1);
        assert_eq!(mine.body[0]["share_index"], 1);

        let url = format!("/api/cases/{}/replace-manager", f.case_id);
        let body = |password: &str| json!({"share_index": 1, "new_user_id": new_id, "pin_reset_by": f.admin_id, "reason": "manager left the company", "password": password});
        let before = app.snapshot().await;
        let r = app.call("POST", &url, Some(&f.admin), Some(body("not my password"))).await;
        assert_eq!(r.status, StatusCode::FORBIDDEN);
        assert_eq!(r.problem(), "reauthentication-failed");
        let after = app.snapshot().await;
        let count = |s: &Vec<(String, i64)>, t: &str| s.iter().find(|(n, _)| n == t).unwrap().1;
        assert_eq!(count(&before, "key_shares"), count(&after, "key_shares"));
        assert_eq!(count(&before, "case_manager_changes"), count(&after, "case_manager_changes"));

        let r = app.call("POST", &url, Some(&f.admin), Some(body(PASSWORD))).await;
        let decided = app.approve(r).await;
        let row = app.db.key_shares_by_case(&f.case_id).await.unwrap();
        let row = row.iter().find(|k| k.share_index == 1).unwrap();
        assert_eq!(decided["result"], row.id.as_str());
        assert_eq!(row.user_id, new_id);
        assert_eq!(row.se_id, f.ses[1], "the SE stays with the share");

        let detail = app.call("GET", &format!("/api/cases/{}", f.case_id), Some(&f.admin), None).await;
        let shares = detail.body["key_shares"].as_array().unwrap();
        assert_eq!(shares.len(), 3);
        assert_eq!(shares[1]["user_id"], new_id.as_str());
        assert_eq!(shares[1]["se_serial"], "SE-0001");
        let history = app.call("GET", &format!("/api/cases/{}/key-shares", f.case_id), Some(&f.admin), None).await;
        let rows = history.body.as_array().unwrap();
        assert_eq!(rows.len(), 4);
        assert!(rows.iter().any(|r| r["user_id"] == old_id.as_str() && r["status"] == "INACTIVE"));

        let rec = app.call("GET", &format!("/api/audit?action=case.manager_replaced&object={}", f.case_id), Some(&f.admin), None).await;
        let rec = rec.body.as_array().unwrap();
        assert_eq!(rec.len(), 1);
        assert_eq!(rec[0]["details"]["from_user_id"], old_id.as_str());
        assert_eq!(rec[0]["details"]["to_user_id"], new_id.as_str());
        assert_eq!(rec[0]["details"]["pin_reset_by"], f.admin_id.as_str());
        assert_eq!(rec[0]["actor"], app.second_admin().await.0.as_str(), "applied by the approver");

        let mine = app.call("GET", "/api/me/cases", Some(old_s), None).await;
        assert_eq!(mine.body.as_array().unwrap().len(), 0, "the old manager lost access");
        let mine = app.call("GET", "/api/me/cases", Some(&new_s), None).await;
        assert_eq!(mine.body[0]["case"]["id"], f.case_id.as_str());
        assert_eq!(mine.body[0]["se_serial"], "SE-0001");

        // The old manager cannot be handed the share they no longer hold… via a role they lack.
        let r = app.call("POST", &url, Some(old_s), Some(body(PASSWORD))).await;
        assert_eq!(r.status, StatusCode::FORBIDDEN);
    })
    .await;
}

#[tokio::test]
async fn archive_and_delete_rules() {
    on_both(|app| async move {
        let f = case_fixture(&app).await;
        let del = |id: &str, pw: &str| {
            let url = format!("/api/cases/{id}");
            let body = json!({"password": pw});
            let admin = f.admin.clone();
            let app = &app;
            async move { app.call("DELETE", &url, Some(&admin), Some(body)).await }
        };
        // A draft case without a key: deletable (with the password).
        let r = del(&f.case_id, "wrong password!").await;
        assert_eq!(r.status, StatusCode::FORBIDDEN);
        assert!(app.db.case(&f.case_id).await.unwrap().is_some());
        let r = del(&f.case_id, PASSWORD).await;
        assert!(
            app.db.case(&f.case_id).await.unwrap().is_some(),
            "only proposed"
        );
        app.approve(r).await;
        assert!(app.db.case(&f.case_id).await.unwrap().is_none());
        assert!(app
            .db
            .key_shares_by_case(&f.case_id)
            .await
            .unwrap()
            .is_empty());
        let r = app
            .call(
                "GET",
                &format!("/api/cases/{}", f.case_id),
                Some(&f.admin),
                None,
            )
            .await;
        assert_eq!(r.status, StatusCode::NOT_FOUND);
        let rec = app
            .call(
                "GET",
                &format!("/api/audit?action=case.deleted&object={}", f.case_id),
                Some(&f.admin),
                None,
            )
            .await;
        assert_eq!(rec.body.as_array().unwrap().len(), 1);

        // A case with a key: not deletable (archive instead); archive once only.
        let m: Vec<Value> = (0..3)
            .map(|i| json!({"user_id": f.managers[i].0, "se_id": f.ses[i]}))
            .collect();
        let keyed = app
            .proposed(
                "POST",
                "/api/cases",
                &f.admin,
                json!({"name": "keyed", "managers": m, "chain_ids": [1]}),
            )
            .await;
        let (pk, addr) = case_key();
        app.db
            .complete_keygen(&keyed, &pk, &addr, "shard-registry", app.clock_now())
            .await
            .unwrap();
        let by_pk = app
            .call(
                "GET",
                &format!("/api/key-shares?public_key={pk}"),
                Some(&f.admin),
                None,
            )
            .await;
        assert_eq!(by_pk.status, StatusCode::OK);
        let rows = by_pk.body.as_array().unwrap();
        assert_eq!(rows.len(), 3);
        assert_eq!(
            rows.iter()
                .map(|r| r["share_index"].as_i64().unwrap())
                .collect::<Vec<_>>(),
            vec![0, 1, 2]
        );
        assert!(rows
            .iter()
            .all(|r| r["public_key"] == pk.as_str() && r["se_serial"].is_string()));

        let before = app.snapshot().await;
        let r = del(&keyed, PASSWORD).await;
        assert_eq!(r.status, StatusCode::CONFLICT, "{:?}", r.body);
        assert!(r.body["detail"].as_str().unwrap().contains("archive"));
        let after = app.snapshot().await;
        let count = |s: &Vec<(String, i64)>, t: &str| s.iter().find(|(n, _)| n == t).unwrap().1;
        assert_eq!(count(&before, "cases"), count(&after, "cases"));
        // Archiving cannot be undone: it asks for the password again; without it (or with a
        // wrong one) nothing changes.
        let archive = |id: &str, body: Option<serde_json::Value>| {
            let url = format!("/api/cases/{id}/archive");
            let admin = f.admin.clone();
            let app = &app;
            async move { app.call("POST", &url, Some(&admin), body).await }
        };
        let before = app.snapshot().await;
        let r = archive(&keyed, Some(json!({}))).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{:?}", r.body);
        let r = archive(&keyed, Some(json!({"password": "wrong password!"}))).await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{:?}", r.body);
        // Only the failed re-authentication is recorded (one audit record); nothing else moved.
        let after = app.snapshot().await;
        for ((table, was), (_, now)) in before.iter().zip(&after) {
            let grew = if table == "audit_log" { 1 } else { 0 };
            assert_eq!(*now, was + grew, "{table}");
        }
        assert_ne!(
            app.db.case(&keyed).await.unwrap().unwrap().status,
            offline_db::CaseStatus::Archived
        );
        let r = archive(&keyed, Some(json!({"password": PASSWORD}))).await;
        app.approve(r).await;
        assert_eq!(
            app.db.case(&keyed).await.unwrap().unwrap().status,
            offline_db::CaseStatus::Archived
        );
        let r = archive(&keyed, Some(json!({"password": PASSWORD}))).await;
        assert_eq!(r.status, StatusCode::CONFLICT);
        assert_eq!(r.problem(), "conflict");
        let r = del(&keyed, PASSWORD).await;
        assert_eq!(r.status, StatusCode::CONFLICT);
        // Archived: the managers no longer see it as work.
        let mine = app
            .call("GET", "/api/me/cases", Some(&f.managers[0].1), None)
            .await;
        assert_eq!(mine.body.as_array().unwrap().len(), 0);
        let r = archive("nope", Some(json!({"password": PASSWORD}))).await;
        assert_eq!(r.status, StatusCode::NOT_FOUND);
    })
    .await;
}
