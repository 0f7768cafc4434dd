//! `GET /api/audit` filters.

use offline_db::Role;
use poem::http::StatusCode;

use crate::common::{case_fixture, on_both};

#[tokio::test]
async fn audit_query_filters() {
    on_both(|app| async move {
        let f = case_fixture(&app).await;
        let (_, auditor) = app.signed_in("auditor", Role::Auditor).await;
        let all = app
            .call("GET", "/api/audit?limit=1000", Some(&auditor), None)
            .await;
        assert_eq!(all.status, StatusCode::OK);
        let all = all.body.as_array().unwrap().clone();
        assert!(all.len() > 5);
        let seqs: Vec<i64> = all.iter().map(|r| r["seq"].as_i64().unwrap()).collect();
        assert!(seqs.windows(2).all(|w| w[0] < w[1]), "chain order");

        let by_action = app
            .call(
                "GET",
                "/api/audit?action=se.registered",
                Some(&auditor),
                None,
            )
            .await;
        let rows = by_action.body.as_array().unwrap();
        assert_eq!(rows.len(), 3);
        let admin2 = app.second_admin().await.0.clone();
        assert!(
            rows.iter()
                .all(|r| r["action"] == "se.registered" && r["actor"] == admin2.as_str()),
            "applied by the second administrator who approved them"
        );

        let by_actor = app
            .call(
                "GET",
                &format!("/api/audit?actor={}", f.admin_id),
                Some(&auditor),
                None,
            )
            .await;
        assert!(by_actor
            .body
            .as_array()
            .unwrap()
            .iter()
            .all(|r| r["actor"] == f.admin_id.as_str()));
        let by_object = app
            .call(
                "GET",
                &format!("/api/audit?object={}", f.case_id),
                Some(&auditor),
                None,
            )
            .await;
        let rows = by_object.body.as_array().unwrap();
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0]["action"], "case.created");

        let after = seqs[seqs.len() - 3];
        let page = app
            .call(
                "GET",
                &format!("/api/audit?after_seq={after}&limit=2"),
                Some(&auditor),
                None,
            )
            .await;
        let page: Vec<i64> = page
            .body
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["seq"].as_i64().unwrap())
            .collect();
        assert_eq!(page, vec![after + 1, after + 2]);

        // Time window: everything so far happened at the clock's start; move on and act again.
        app.clock.advance(std::time::Duration::from_secs(600));
        let later = app.clock_now();
        app.se(&f.managers[0].1, "SE-LATER").await;
        let from = later.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
        let recent = app
            .call(
                "GET",
                &format!("/api/audit?from={from}"),
                Some(&auditor),
                None,
            )
            .await;
        let rows = recent.body.as_array().unwrap();
        assert!(!rows.is_empty());
        assert!(rows.iter().any(|r| r["action"] == "se.registered"));
        assert!(rows.iter().all(|r| r["action"] != "case.created"));
        let early = app
            .call(
                "GET",
                &format!("/api/audit?to={from}&action=se.registered"),
                Some(&auditor),
                None,
            )
            .await;
        assert_eq!(early.body.as_array().unwrap().len(), 3);

        let bad = app
            .call("GET", "/api/audit?from=yesterday", Some(&auditor), None)
            .await;
        assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(bad.body["field"], "from");
        let bad = app
            .call("GET", "/api/audit?limit=0", Some(&auditor), None)
            .await;
        assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert!(app.db.verify_audit().await.unwrap().is_intact());
    })
    .await;
}

/// The auditor's verification: intact with every record's seal checked by the HSM and the
/// newest signed checkpoint; after a database administrator appends a record with a correct
/// hash, the page names it (no seal) and nothing is reported intact. An operator may not ask.
#[tokio::test]
async fn audit_verify_shows_the_newest_checkpoint_and_names_a_forged_record() {
    on_both(|app| async move {
        case_fixture(&app).await;
        let (_, auditor) = app.signed_in("auditor", Role::Auditor).await;
        // A checkpoint at the head, as every export makes one.
        app.db.export_witness(chrono::Utc::now()).await.unwrap();
        let r = app
            .call("GET", "/api/audit/verify", Some(&auditor), None)
            .await;
        assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
        let v = &r.body["audit"];
        assert_eq!(r.body["intact"], true, "{v}");
        let head = v["head"].as_i64().unwrap();
        assert!(head > 5);
        assert_eq!(v["macs_verified"].as_i64(), Some(head));
        assert_eq!(v["newest_checkpoint"]["seq"].as_i64(), Some(head), "{v}");
        assert!(v["bad_checkpoints"].as_array().unwrap().is_empty());

        let forged = testkit::tamper::forge_append(app.db.conn(), audit::Chain::AUDIT, None)
            .await
            .unwrap();
        let r = app
            .call("GET", "/api/audit/verify", Some(&auditor), None)
            .await;
        assert_eq!(r.body["intact"], false);
        assert_eq!(r.body["audit"]["broken_at"].as_i64(), Some(forged));
        assert_eq!(r.body["audit"]["broken_reason"], "mac_missing");

        let (_, operator) = app.signed_in("operator2", Role::Operator).await;
        let r = app
            .call("GET", "/api/audit/verify", Some(&operator), None)
            .await;
        assert_eq!(r.status, StatusCode::FORBIDDEN);
    })
    .await;
}
