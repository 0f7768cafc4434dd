//! Batch import: several signing requests of one case become ONE signing session; a batch with
//! one bad envelope is refused as a whole, naming the envelope, with nothing written; the
//! session views show who is connected, the roster, the progress and the failure.

use contracts::transfer_format::{to_armor, to_qr_parts};
use offline_db::Role;
use poem::http::StatusCode;
use serde_json::{json, Value};

use crate::cases::case_key;
use crate::common::{case_fixture, on_both, online, Fixture, Session, SoftSigner, TestApp};
use crate::signing::{now, request, seal};

const BATCH: &str = "/api/signing-requests/batch";

/// An ACTIVE case (its key from `case_key`), its address and an operator session.
async fn active_case(app: &TestApp) -> (Fixture, String, Session) {
    let f = case_fixture(app).await;
    let (pk, addr) = case_key();
    app.db
        .complete_keygen(&f.case_id, &pk, &addr, "shard-registry", app.clock_now())
        .await
        .unwrap();
    let (_, operator) = app.signed_in("operator", Role::Operator).await;
    (f, addr, operator)
}

fn armored(addr: &str, chain_id: u64, issued_at: u64) -> String {
    to_armor(&seal(&request(addr, chain_id), &online(), issued_at)).unwrap()
}

#[tokio::test]
async fn a_batch_of_three_becomes_one_session_whose_progress_the_views_show() {
    on_both(|app| async move {
        let (f, addr, operator) = active_case(&app).await;
        let t = now(&app);
        let reqs = [
            request(&addr, 1),
            request(&addr, 11_155_111),
            request(&addr, 1),
        ];
        // Each import form; the second envelope was issued ten minutes earlier, so it expires
        // first and the session with it.
        let envelopes = [
            to_armor(&seal(&reqs[0], &online(), t)).unwrap(),
            to_qr_parts(&seal(&reqs[1], &online(), t - 600))
                .unwrap()
                .join("\n"),
            to_armor(&seal(&reqs[2], &online(), t)).unwrap(),
        ];
        let r = app
            .call(
                "POST",
                BATCH,
                Some(&operator),
                Some(json!({"envelopes": envelopes})),
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
        assert_eq!(r.body["case_id"], f.case_id.as_str());
        assert_eq!(r.body["case_name"], "Case one");
        let session_id = r.body["session_id"].as_str().unwrap().to_owned();
        let expires =
            chrono::DateTime::parse_from_rfc3339(r.body["session_expires_at"].as_str().unwrap())
                .unwrap();
        assert_eq!(expires.timestamp(), (t - 600 + 3600) as i64);
        let out = r.body["requests"].as_array().unwrap();
        assert_eq!(out.len(), 3);
        for (o, req) in out.iter().zip(&reqs) {
            assert_eq!(o["request_id"], req.request_id.to_string());
            assert!(!o["id"].as_str().unwrap().is_empty());
            assert_eq!(
                o["transaction"]["signing_hash"],
                hex::encode(req.signing_hash)
            );
            assert_eq!(o["transaction"]["chain_id"], req.chain_id);
            assert_eq!(o["created_by"], "trader-alice");
            assert_eq!(o["approved_by"], json!(["approver-bob"]));
        }
        let who = r.body["who_to_call"].as_array().unwrap();
        assert_eq!(who.len(), 3);
        for (i, c) in who.iter().enumerate() {
            assert_eq!(c["share_index"], i as i64);
            assert_eq!(c["user_id"], f.managers[i].0.as_str());
            assert_eq!(c["se_serial"], format!("SE-000{i}"));
        }

        // One session, not started: no progress, no roster, nobody connected.
        let list = app
            .call("GET", "/api/sessions", Some(&operator), None)
            .await;
        assert_eq!(list.status, StatusCode::OK, "{:?}", list.body);
        let sessions = list.body.as_array().unwrap();
        assert_eq!(sessions.len(), 1);
        assert_eq!(sessions[0]["id"], session_id.as_str());
        assert_eq!(sessions[0]["status"], "PENDING");
        assert_eq!(sessions[0]["progress"], Value::Null);
        assert_eq!(sessions[0]["roster"], Value::Null);
        assert_eq!(sessions[0]["error"], Value::Null);
        let url = format!("/api/sessions/{session_id}");
        let detail = app.call("GET", &url, Some(&operator), None).await;
        assert_eq!(detail.status, StatusCode::OK, "{:?}", detail.body);
        let mut listed: Vec<String> = detail.body["requests"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| {
                assert_eq!(r["status"], "IMPORTED");
                assert_eq!(r["execution_id"], Value::Null);
                r["request_id"].as_str().unwrap().to_owned()
            })
            .collect();
        listed.sort();
        let mut expected: Vec<String> = reqs.iter().map(|r| r.request_id.to_string()).collect();
        expected.sort();
        assert_eq!(listed, expected);
        let people = detail.body["participants"].as_array().unwrap();
        assert_eq!(people.len(), 3);
        assert!(people
            .iter()
            .all(|p| p["status"] == "WAITING" && p["connected"] == false));

        // Managers 0 and 1 connect and make their shares available.
        let db = &app.db;
        for i in 0..2 {
            let channel = format!("channel-{i}");
            db.open_channel(&channel, &f.ses[i], &f.managers[i].0, app.clock_now())
                .await
                .unwrap();
            db.mark_ready(
                &session_id,
                i as i32,
                &f.managers[i].0,
                &f.ses[i],
                &channel,
                app.clock_now(),
            )
            .await
            .unwrap();
        }
        let detail = app.call("GET", &url, Some(&operator), None).await;
        let seen: Vec<(&str, bool)> = detail.body["participants"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| {
                (
                    p["status"].as_str().unwrap(),
                    p["connected"].as_bool().unwrap(),
                )
            })
            .collect();
        assert_eq!(seen, [("READY", true), ("READY", true), ("WAITING", false)]);

        // The run starts with shares {0, 1}: one execution id per request.
        let rows: Vec<String> = out
            .iter()
            .map(|o| o["id"].as_str().unwrap().to_owned())
            .collect();
        let runs: Vec<(String, String)> = rows
            .iter()
            .enumerate()
            .map(|(i, id)| (id.clone(), format!("{:064x}", i + 1)))
            .collect();
        db.start_session(&session_id, &[1, 0], &runs, app.clock_now())
            .await
            .unwrap();
        let detail = app.call("GET", &url, Some(&operator), None).await;
        let s = &detail.body["session"];
        assert_eq!(s["status"], "RUNNING");
        assert_eq!(s["progress"], "signing");
        assert_eq!(s["roster"], json!([0, 1]));
        let mut eids: Vec<&str> = detail.body["requests"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| {
                assert_eq!(r["status"], "SIGNING");
                r["execution_id"].as_str().unwrap()
            })
            .collect();
        eids.sort_unstable();
        assert_eq!(
            eids,
            runs.iter().map(|(_, e)| e.as_str()).collect::<Vec<_>>()
        );

        // Manager 1's client goes away; the run fails and the views say why.
        db.close_channel("channel-1", Some("connection lost"), app.clock_now())
            .await
            .unwrap();
        let detail = app.call("GET", &url, Some(&operator), None).await;
        let connected: Vec<bool> = detail.body["participants"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["connected"].as_bool().unwrap())
            .collect();
        assert_eq!(connected, [true, false, false]);
        db.fail_session(
            &session_id,
            "manager 1's client left mid-round",
            None,
            app.clock_now(),
        )
        .await
        .unwrap();
        let list = app
            .call(
                "GET",
                &format!("/api/sessions?case_id={}&status=FAILED", f.case_id),
                Some(&operator),
                None,
            )
            .await;
        let sessions = list.body.as_array().unwrap();
        assert_eq!(sessions.len(), 1);
        assert_eq!(sessions[0]["error"], "manager 1's client left mid-round");
        assert_eq!(sessions[0]["progress"], "signing");
        assert_eq!(sessions[0]["roster"], json!([0, 1]));
        assert!(app.db.verify_audit().await.unwrap().is_intact());
    })
    .await;
}

/// What is wrong, the envelopes, and the status, problem slug and field expected.
type Refusal = (
    &'static str,
    Vec<String>,
    StatusCode,
    &'static str,
    Option<&'static str>,
);

#[tokio::test]
async fn a_batch_with_one_bad_envelope_is_refused_whole_and_writes_nothing() {
    on_both(|app| async move {
        let (f, addr, operator) = active_case(&app).await;
        let t = now(&app);
        // Imported on its own first.
        let old = armored(&addr, 1, t);
        let r = app
            .call(
                "POST",
                "/api/signing-requests",
                Some(&operator),
                Some(json!({"envelope": old})),
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
        let stranger = SoftSigner::from_seed([0x44; 32]);
        let (_, other_addr) = case_key();
        let twice = armored(&addr, 1, t);

        // Another ACTIVE case (other managers' SEs) for the mixed-case batch.
        let (pk2, addr2) = case_key();
        let mut ses = Vec::new();
        for i in 3..6 {
            ses.push(app.se(&f.managers[i - 3].1, &format!("SE-000{i}")).await);
        }
        let body = json!({
            "name": "Case two",
            "managers": (0..3).map(|i| json!({"user_id": f.managers[i].0, "se_id": ses[i]})).collect::<Vec<_>>(),
            "chain_ids": [1],
        });
        let case2 = app.proposed("POST", "/api/cases", &f.admin, body).await;
        app.db
            .complete_keygen(&case2, &pk2, &addr2, "shard-registry", app.clock_now())
            .await
            .unwrap();

        let fresh = || armored(&addr, 1, t);
        let cases: Vec<Refusal> = vec![
            (
                "wrong signer",
                vec![
                    fresh(),
                    to_armor(&seal(&request(&addr, 1), &stranger, t)).unwrap(),
                    fresh(),
                ],
                StatusCode::UNPROCESSABLE_ENTITY,
                "unknown-signer",
                Some("envelopes[1]"),
            ),
            (
                "replayed",
                vec![fresh(), fresh(), old.clone()],
                StatusCode::CONFLICT,
                "replayed",
                Some("envelopes[2]"),
            ),
            (
                "expired",
                vec![armored(&addr, 1, t - 7200), fresh()],
                StatusCode::UNPROCESSABLE_ENTITY,
                "expired",
                Some("envelopes[0]"),
            ),
            (
                "unknown account",
                vec![fresh(), armored(&other_addr, 1, t)],
                StatusCode::UNPROCESSABLE_ENTITY,
                "unknown-account",
                Some("envelopes[1]"),
            ),
            (
                "a chain the case does not sign on",
                vec![fresh(), fresh(), fresh(), armored(&addr, 137, t)],
                StatusCode::UNPROCESSABLE_ENTITY,
                "wrong-chain",
                Some("envelopes[3]"),
            ),
            (
                "malformed",
                vec!["not an envelope".to_owned(), fresh()],
                StatusCode::UNPROCESSABLE_ENTITY,
                "malformed-envelope",
                Some("envelopes[0]"),
            ),
            (
                "two cases",
                vec![fresh(), armored(&addr2, 1, t)],
                StatusCode::UNPROCESSABLE_ENTITY,
                "validation-failed",
                Some("envelopes[1]"),
            ),
            (
                "the same request twice",
                vec![twice.clone(), fresh(), twice.clone()],
                StatusCode::UNPROCESSABLE_ENTITY,
                "validation-failed",
                Some("envelopes[2]"),
            ),
            (
                "one envelope",
                vec![fresh()],
                StatusCode::UNPROCESSABLE_ENTITY,
                "validation-failed",
                Some("envelopes"),
            ),
            (
                "seventeen envelopes",
                (0..17).map(|_| fresh()).collect(),
                StatusCode::UNPROCESSABLE_ENTITY,
                "validation-failed",
                Some("envelopes"),
            ),
        ];
        let before = app.snapshot().await;
        for (what, envelopes, status, slug, field) in cases {
            let r = app
                .call(
                    "POST",
                    BATCH,
                    Some(&operator),
                    Some(json!({"envelopes": envelopes})),
                )
                .await;
            assert_eq!(r.status, status, "{what}: {:?}", r.body);
            assert_eq!(r.problem(), slug, "{what}: {:?}", r.body);
            assert_eq!(r.body["field"].as_str(), field, "{what}: {:?}", r.body);
            let detail = r.body["detail"].as_str().unwrap();
            if let Some(field) = field.filter(|f| f.contains('[')) {
                if slug != "validation-failed" {
                    assert!(detail.starts_with(field), "{what}: {detail}");
                }
            }
            assert_eq!(app.snapshot().await, before, "{what} wrote something");
        }
        // The good envelopes of a refused batch are still importable: nothing of them stayed.
        let r = app
            .call(
                "POST",
                BATCH,
                Some(&operator),
                Some(json!({"envelopes": [twice, fresh()]})),
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
        assert!(app.db.verify_audit().await.unwrap().is_intact());
    })
    .await;
}

#[tokio::test]
async fn only_operators_import_a_batch() {
    on_both(|app| async move {
        let (f, addr, _) = active_case(&app).await;
        let t = now(&app);
        let (_, auditor) = app.signed_in("auditor", Role::Auditor).await;
        let body = json!({"envelopes": [armored(&addr, 1, t), armored(&addr, 1, t)]});
        let before = app.snapshot().await;
        for (who, session) in [
            ("admin", &f.admin),
            ("auditor", &auditor),
            ("case manager", &f.managers[0].1),
        ] {
            let r = app
                .call("POST", BATCH, Some(session), Some(body.clone()))
                .await;
            assert_eq!(r.status, StatusCode::FORBIDDEN, "{who}: {:?}", r.body);
            assert_eq!(r.problem(), "forbidden", "{who}");
            assert_eq!(app.snapshot().await, before, "{who} wrote something");
        }
        let r = app.call("POST", BATCH, None, Some(body)).await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{:?}", r.body);
        assert_eq!(app.snapshot().await, before);
    })
    .await;
}
