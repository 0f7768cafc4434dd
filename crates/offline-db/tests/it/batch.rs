//! Batch signing: several requests of one case imported together get ONE signing session that
//! links them all; a batch that breaks any rule writes nothing at all.

use chrono::Duration;
use offline_db::entity::{protocol_sessions, session_requests};
use offline_db::{
    Error, NewSigningRequest, ParticipantStatus, RetrySession, SessionKind, SessionStatus,
    SigningRequestStatus, MAX_BATCH,
};
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, PaginatorTrait, QueryFilter, Statement};
use serde_json::json;

use crate::on_both;

/// Row counts of every table an import could touch, and the audit chain length.
async fn everything(w: &crate::World) -> Vec<(&'static str, i64)> {
    let c = w.db.conn();
    let mut out = Vec::new();
    for table in [
        "users",
        "secure_elements",
        "cases",
        "key_shares",
        "signing_requests",
        "protocol_sessions",
        "session_participants",
        "session_requests",
        "signatures",
        "balance_attestations",
        "outbox",
        "audit_log",
    ] {
        let row = c
            .query_one_raw(Statement::from_string(
                c.get_database_backend(),
                format!("SELECT COUNT(*) AS n FROM {table}"),
            ))
            .await
            .unwrap()
            .unwrap();
        out.push((table, row.try_get::<i64>("", "n").unwrap()));
    }
    out
}

/// A verified request of `case_id`, expiring `ttl_min` minutes from now.
fn request(w: &crate::World, case_id: &str, id: &str, ttl_min: i64) -> NewSigningRequest {
    let now = w.now();
    NewSigningRequest {
        request_id: id.to_owned(),
        case_id: case_id.to_owned(),
        tx_hash: format!("0x{id}"),
        decoded: json!({"to": "0xdead", "value": "1000", "chain_id": 1, "id": id}),
        expires_at: now + Duration::minutes(ttl_min),
        // Not used by a batch: the session ids are parameters.
        session_id: "ignored".into(),
        execution_id: "ignored".into(),
        envelope: vec![0x81, 0xa1, b'k'],
    }
}

/// An ACTIVE case named `name` with managers 0, 1, 2 holding shares 0, 1, 2 in `ses`.
async fn active_case(w: &crate::World, name: &str, address: &str, ses: [usize; 3]) -> String {
    let case =
        w.db.create_case(name, w.slots([0, 1, 2], ses), &[1], &w.admin.id, w.now())
            .await
            .unwrap();
    w.db.complete_keygen(
        &case.id,
        &format!("02{name}"),
        address,
        "shard-registry",
        w.now(),
    )
    .await
    .unwrap();
    case.id
}

#[tokio::test]
async fn a_batch_of_three_gets_one_session_linking_all_three() {
    on_both!(|w| {
        let case_id = active_case(&w, "Treasury", "0xtreasury", [0, 1, 2]).await;
        let batch = vec![
            request(&w, &case_id, "b-0", 120),
            request(&w, &case_id, "b-1", 30),
            request(&w, &case_id, "b-2", 90),
        ];
        let earliest = batch[1].expires_at;
        let imported =
            w.db.record_signing_batch(batch, "sess-batch", "eid-batch", &w.operator.id, w.now())
                .await
                .unwrap();
        let s = &imported.session;
        assert_eq!(s.id, "sess-batch");
        assert_eq!(s.execution_id, "eid-batch");
        assert_eq!(
            (s.kind, s.status),
            (SessionKind::Sign, SessionStatus::Pending)
        );
        assert_eq!(s.expires_at, Some(earliest), "the earliest request expiry");
        assert_eq!((s.progress.as_deref(), s.roster.as_deref()), (None, None));
        let ids: Vec<_> = imported
            .requests
            .iter()
            .map(|r| (r.request_id.as_str(), r.status, r.case_id.as_str()))
            .collect();
        assert_eq!(
            ids,
            [
                ("b-0", SigningRequestStatus::Imported, case_id.as_str()),
                ("b-1", SigningRequestStatus::Imported, case_id.as_str()),
                ("b-2", SigningRequestStatus::Imported, case_id.as_str()),
            ]
        );
        assert_eq!(imported.requests[2].decoded["id"], "b-2");
        let people: Vec<_> = imported
            .participants
            .iter()
            .map(|p| (p.share_index, p.user_id.clone(), p.status))
            .collect();
        assert_eq!(
            people,
            (0..3)
                .map(|i| (
                    i as i32,
                    w.managers[i].id.clone(),
                    ParticipantStatus::Waiting
                ))
                .collect::<Vec<_>>()
        );
        let links = session_requests::Entity::find()
            .filter(session_requests::Column::SessionId.eq("sess-batch"))
            .count(w.db.conn())
            .await
            .unwrap();
        assert_eq!(links, 3);
        assert_eq!(
            protocol_sessions::Entity::find()
                .count(w.db.conn())
                .await
                .unwrap(),
            1
        );
        let detail = w.db.session_detail(&s.id).await.unwrap();
        let mut in_detail: Vec<_> = detail
            .requests
            .iter()
            .map(|(link, r)| {
                assert_eq!(link.execution_id, None);
                r.request_id.clone()
            })
            .collect();
        in_detail.sort();
        assert_eq!(in_detail, ["b-0", "b-1", "b-2"]);

        // One audit record per request, then one session.created listing them all.
        let audit = audit::query(w.db.conn(), audit::Filter::default())
            .await
            .unwrap();
        let last: Vec<_> = audit.iter().rev().take(4).rev().collect();
        let actions: Vec<_> = last.iter().map(|r| r.action.as_str()).collect();
        assert_eq!(
            actions,
            [
                "signing_request.imported",
                "signing_request.imported",
                "signing_request.imported",
                "session.created"
            ]
        );
        assert_eq!(last[3].details["request_ids"], json!(["b-0", "b-1", "b-2"]));
        assert_eq!(last[3].object, "sess-batch");
        // One custody.signing.requested per request, one custody.session.created.
        let events = w.db.outbox_pending(100).await.unwrap();
        let tail: Vec<_> = events.iter().rev().take(4).rev().collect();
        let subjects: Vec<_> = tail.iter().map(|e| e.subject.as_str()).collect();
        assert_eq!(
            subjects,
            [
                offline_db::subjects::SIGNING_REQUESTED,
                offline_db::subjects::SIGNING_REQUESTED,
                offline_db::subjects::SIGNING_REQUESTED,
                offline_db::subjects::SESSION_CREATED,
            ]
        );
        let created: serde_json::Value = serde_json::from_slice(&tail[3].payload).unwrap();
        assert_eq!(created["session_id"], "sess-batch");
        assert_eq!(created["request_id"], "b-0");
        assert_eq!(created["signing_hash"], "0xb-0");
        assert_eq!(created["request_ids"], json!(["b-0", "b-1", "b-2"]));
        assert_eq!(created["slots"].as_array().unwrap().len(), 3);
        assert_eq!(created["expires_at"], earliest.timestamp());
        let requested: serde_json::Value = serde_json::from_slice(&tail[1].payload).unwrap();
        assert_eq!(requested["request_id"], "b-1");

        // Each manager sees ONE piece of signing work with the three requests.
        let work =
            w.db.work_for(&w.managers[1].id, &w.ses[1].id, w.now())
                .await
                .unwrap();
        let signs: Vec<_> = work
            .iter()
            .filter_map(|x| match x {
                offline_db::Work::Sign {
                    session, requests, ..
                } => Some((session.id.clone(), requests.len())),
                _ => None,
            })
            .collect();
        assert_eq!(signs, [("sess-batch".to_owned(), 3)]);

        // A retry of a failed batch session links the same three requests again and says so.
        let retry =
            w.db.fail_session(
                "sess-batch",
                "a client left",
                Some(RetrySession {
                    session_id: "sess-retry".into(),
                    execution_id: "eid-retry".into(),
                }),
                w.now(),
            )
            .await
            .unwrap()
            .unwrap();
        assert_eq!(retry.expires_at, Some(earliest));
        let detail = w.db.session_detail(&retry.id).await.unwrap();
        assert_eq!(detail.requests.len(), 3);
        let events = w.db.outbox_pending(100).await.unwrap();
        let body: serde_json::Value =
            serde_json::from_slice(&events.last().unwrap().payload).unwrap();
        assert_eq!(body["session_id"], "sess-retry");
        let mut listed: Vec<String> = serde_json::from_value(body["request_ids"].clone()).unwrap();
        listed.sort();
        assert_eq!(listed, ["b-0", "b-1", "b-2"]);

        // The single import's session.created event lists its one request too.
        w.db.record_signing_request(
            NewSigningRequest {
                session_id: "sess-single".into(),
                execution_id: "eid-single".into(),
                ..request(&w, &case_id, "single", 60)
            },
            &w.operator.id,
            w.now(),
        )
        .await
        .unwrap();
        let events = w.db.outbox_pending(100).await.unwrap();
        let body: serde_json::Value =
            serde_json::from_slice(&events.last().unwrap().payload).unwrap();
        assert_eq!(
            (&body["request_id"], &body["request_ids"]),
            (&json!("single"), &json!(["single"]))
        );
    });
}

#[tokio::test]
async fn a_batch_breaking_any_rule_writes_nothing() {
    on_both!(|w| {
        let case_id = active_case(&w, "Ops", "0xops", [0, 1, 2]).await;
        let other = active_case(&w, "Cold", "0xcold", [3, 4, 0]).await;
        let draft =
            w.db.create_case(
                "Draft",
                w.slots([0, 1, 2], [4, 0, 1]),
                &[1],
                &w.admin.id,
                w.now(),
            )
            .await
            .unwrap();
        // Imported before, on its own.
        w.db.record_signing_request(
            NewSigningRequest {
                session_id: "sess-old".into(),
                execution_id: "eid-old".into(),
                ..request(&w, &case_id, "old", 60)
            },
            &w.operator.id,
            w.now(),
        )
        .await
        .unwrap();
        let before = everything(&w).await;

        let three = |ids: [&str; 3]| ids.map(|id| request(&w, &case_id, id, 60)).to_vec();
        let mut mixed = three(["m-0", "m-1", "m-2"]);
        mixed[2].case_id = other.clone();
        let mut stale = three(["s-0", "s-1", "s-2"]);
        stale[1].expires_at = w.now() - Duration::seconds(1);
        let mut empty_envelope = three(["e-0", "e-1", "e-2"]);
        empty_envelope[0].envelope.clear();
        let on_draft = ["d-0", "d-1"]
            .map(|id| request(&w, &draft.id, id, 60))
            .to_vec();
        let too_many: Vec<_> = (0..=MAX_BATCH)
            .map(|i| request(&w, &case_id, &format!("t-{i}"), 60))
            .collect();

        let attempts: Vec<(&str, Vec<NewSigningRequest>, &str)> = vec![
            ("mixed cases", mixed, "eid-1"),
            ("a replay", three(["r-0", "old", "r-2"]), "eid-2"),
            ("twice in the batch", three(["x-0", "x-1", "x-0"]), "eid-3"),
            ("an expired request", stale, "eid-4"),
            ("an empty envelope", empty_envelope, "eid-5"),
            (
                "one request",
                three(["o-0", "o-1", "o-2"])[..1].to_vec(),
                "eid-6",
            ),
            ("no request", Vec::new(), "eid-7"),
            ("17 requests", too_many, "eid-8"),
            ("a draft case", on_draft, "eid-9"),
            // The execution id of an existing session.
            (
                "a reused execution id",
                three(["u-0", "u-1", "u-2"]),
                "eid-old",
            ),
        ];
        for (what, batch, eid) in attempts {
            let err = w
                .db
                .record_signing_batch(batch, &format!("sess-{eid}"), eid, &w.operator.id, w.now())
                .await
                .unwrap_err();
            match what {
                "mixed cases" => assert!(
                    matches!(&err, Error::Validation { field, reason }
                        if field == "requests[2].case_id" && reason == "a batch signs requests of one case"),
                    "{what}: {err}"
                ),
                "a replay" => assert!(
                    matches!(&err, Error::Replay { request_id } if request_id == "old"),
                    "{what}: {err}"
                ),
                "twice in the batch" => assert!(
                    matches!(&err, Error::Validation { field, .. } if field == "requests[2].request_id"),
                    "{what}: {err}"
                ),
                "an expired request" => assert!(
                    matches!(&err, Error::Validation { field, .. } if field == "requests[1].expires_at"),
                    "{what}: {err}"
                ),
                "an empty envelope" => assert!(
                    matches!(&err, Error::Validation { field, .. } if field == "requests[0].envelope"),
                    "{what}: {err}"
                ),
                "one request" | "no request" | "17 requests" => assert!(
                    matches!(&err, Error::Validation { field, .. } if field == "requests"),
                    "{what}: {err}"
                ),
                "a draft case" => assert!(matches!(err, Error::Conflict(_)), "{what}: {err}"),
                _ => assert!(
                    matches!(&err, Error::Validation { field, .. } if field == "execution_id"),
                    "{what}: {err}"
                ),
            }
            assert_eq!(everything(&w).await, before, "{what} wrote something");
        }
        // The requests of a refused batch can be imported afterwards: nothing of them stayed.
        w.db.record_signing_batch(
            three(["r-0", "m-1", "s-0"]),
            "sess-ok",
            "eid-ok",
            &w.operator.id,
            w.now(),
        )
        .await
        .unwrap();
    });
}
