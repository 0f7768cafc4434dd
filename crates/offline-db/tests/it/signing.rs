use chrono::Duration;
use offline_db::entity::{protocol_sessions, session_participants, session_requests};
use offline_db::{
    Error, NewSignature, NewSigningRequest, ParticipantStatus, SessionKind, SessionStatus,
    SigningRequestStatus,
};
use sea_orm::{EntityTrait, PaginatorTrait};
use serde_json::json;

use crate::on_both;

/// Row counts of the session tables, to prove a refused operation wrote nothing.
async fn session_rows(w: &crate::World) -> (u64, u64, u64) {
    let c = w.db.conn();
    (
        protocol_sessions::Entity::find().count(c).await.unwrap(),
        session_participants::Entity::find().count(c).await.unwrap(),
        session_requests::Entity::find().count(c).await.unwrap(),
    )
}

fn request(w: &crate::World, case_id: &str, id: &str, session: &str) -> NewSigningRequest {
    let now = w.now();
    NewSigningRequest {
        request_id: id.to_owned(),
        case_id: case_id.to_owned(),
        tx_hash: "0x1234".into(),
        decoded: json!({"to": "0xdead", "value": "1000", "chain_id": 1}),
        expires_at: now + Duration::hours(2),
        session_id: offline_db::new_id(now),
        execution_id: format!("eid-{session}"),
        envelope: vec![0x81, 0xa1, b'k'],
    }
}

#[tokio::test]
async fn an_import_creates_its_signing_session_and_a_replay_is_rejected() {
    on_both!(|w| {
        let case =
            w.db.create_case(
                "Treasury",
                w.slots([0, 1, 2], [0, 1, 2]),
                &[1],
                &w.admin.id,
                w.now(),
            )
            .await
            .unwrap();
        // A draft case cannot sign.
        let before = (w.counts().await, session_rows(&w).await);
        let err = w
            .db
            .record_signing_request(request(&w, &case.id, "req-0", "a"), &w.operator.id, w.now())
            .await
            .unwrap_err();
        assert!(matches!(err, Error::Conflict(_)), "{err}");
        assert_eq!((w.counts().await, session_rows(&w).await), before);

        w.db.complete_keygen(&case.id, "02cc", "0xcase", "shard-registry", w.now())
            .await
            .unwrap();
        let new = request(&w, &case.id, "req-1", "b");
        let expires = new.expires_at;
        let imported =
            w.db.record_signing_request(new, &w.operator.id, w.now())
                .await
                .unwrap();
        assert_eq!(imported.request.status, SigningRequestStatus::Imported);
        assert_eq!(imported.request.decoded["value"], "1000");
        let s = &imported.session;
        assert_eq!(
            (s.kind, s.status),
            (SessionKind::Sign, SessionStatus::Pending)
        );
        assert_eq!(s.case_id, case.id);
        assert_eq!(s.execution_id, "eid-b");
        assert_eq!(s.expires_at, Some(expires));
        let people: Vec<_> = imported
            .participants
            .iter()
            .map(|p| (p.share_index, p.user_id.clone(), p.se_id.clone(), p.status))
            .collect();
        assert_eq!(
            people,
            (0..3)
                .map(|i| (
                    i as i32,
                    w.managers[i].id.clone(),
                    w.ses[i].id.clone(),
                    ParticipantStatus::Waiting
                ))
                .collect::<Vec<_>>()
        );
        let audit = audit::query(w.db.conn(), audit::Filter::default())
            .await
            .unwrap();
        let actions: Vec<_> = audit
            .iter()
            .rev()
            .take(2)
            .map(|r| r.action.as_str())
            .collect();
        assert_eq!(actions, ["session.created", "signing_request.imported"]);
        let events = w.db.outbox_pending(100).await.unwrap();
        let subjects: Vec<_> = events
            .iter()
            .rev()
            .take(2)
            .map(|e| e.subject.as_str())
            .collect();
        assert_eq!(
            subjects,
            [
                offline_db::subjects::SESSION_CREATED,
                offline_db::subjects::SIGNING_REQUESTED
            ]
        );
        let body: serde_json::Value =
            serde_json::from_slice(&events.last().unwrap().payload).unwrap();
        assert_eq!(body["session_id"], s.id);
        assert_eq!(body["slots"].as_array().unwrap().len(), 3);

        // The listing and the detail show it.
        let listed = w.db.sessions(Some(&case.id), None, 10).await.unwrap();
        assert_eq!(listed.len(), 1);
        let detail = w.db.session_detail(&s.id).await.unwrap();
        assert_eq!(detail.requests.len(), 1);
        assert_eq!(detail.requests[0].1.request_id, "req-1");
        assert!(detail.signatures.is_empty());

        // Replay: same request id, nothing written.
        let before = (w.counts().await, session_rows(&w).await);
        let err = w
            .db
            .record_signing_request(request(&w, &case.id, "req-1", "c"), &w.operator.id, w.now())
            .await
            .unwrap_err();
        assert!(
            matches!(err, Error::Replay { ref request_id } if request_id == "req-1"),
            "{err}"
        );
        assert!(err.to_string().contains("only once"));
        // A reused execution id is refused too (cggmp21 must never see one twice).
        let err = w
            .db
            .record_signing_request(request(&w, &case.id, "req-2", "b"), &w.operator.id, w.now())
            .await
            .unwrap_err();
        assert!(
            matches!(err, Error::Validation { ref field, .. } if field == "execution_id"),
            "{err}"
        );
        // An expired request gets no session.
        let mut stale = request(&w, &case.id, "req-3", "d");
        stale.expires_at = w.now() - Duration::seconds(1);
        let err =
            w.db.record_signing_request(stale, &w.operator.id, w.now())
                .await
                .unwrap_err();
        assert!(matches!(err, Error::Validation { .. }), "{err}");
        assert_eq!((w.counts().await, session_rows(&w).await), before);

        // A case with signing history cannot be deleted, even with an empty-balance attestation.
        w.db.import_balance_attestation(
            w.attestation("att", "0xcase", 5, true),
            &w.operator.id,
            w.now(),
        )
        .await
        .unwrap();
        let err =
            w.db.delete_case(&case.id, &w.admin.id, w.now())
                .await
                .unwrap_err();
        assert!(
            matches!(err, Error::Conflict(ref m) if m.contains("signing history")),
            "{err}"
        );
    });
}

#[tokio::test]
async fn a_signature_completes_the_session_and_can_be_exported_but_not_recorded_twice() {
    on_both!(|w| {
        let case =
            w.db.create_case(
                "Ops",
                w.slots([0, 1, 2], [0, 1, 2]),
                &[1],
                &w.admin.id,
                w.now(),
            )
            .await
            .unwrap();
        w.db.complete_keygen(&case.id, "02dd", "0xops", "shard-registry", w.now())
            .await
            .unwrap();
        let a =
            w.db.record_signing_request(request(&w, &case.id, "r-a", "a"), &w.operator.id, w.now())
                .await
                .unwrap();
        let b =
            w.db.record_signing_request(request(&w, &case.id, "r-b", "b"), &w.operator.id, w.now())
                .await
                .unwrap();
        // Nothing to export before a signature exists.
        let err =
            w.db.record_response_export(&a.request.id, "env", &w.operator.id, w.now())
                .await
                .unwrap_err();
        assert!(
            matches!(err, Error::Conflict(ref m) if m.contains("no signature")),
            "{err}"
        );

        let sig = |req: &str, session: &str| NewSignature {
            signing_request_id: req.to_owned(),
            session_id: session.to_owned(),
            r: "11".repeat(32),
            s: "22".repeat(32),
            v: 1,
            raw_signed_tx: vec![2, 0xf8],
        };
        // A signature from another request's session is refused.
        let err =
            w.db.record_signature(
                sig(&a.request.id, &b.session.id),
                "service:coordinator",
                w.now(),
            )
            .await
            .unwrap_err();
        assert!(
            matches!(err, Error::Validation { ref field, .. } if field == "session_id"),
            "{err}"
        );
        let mut bad = sig(&a.request.id, &a.session.id);
        bad.v = 27;
        assert!(w
            .db
            .record_signature(bad, "service:coordinator", w.now())
            .await
            .is_err());

        w.db.record_signature(
            sig(&a.request.id, &a.session.id),
            "service:coordinator",
            w.now(),
        )
        .await
        .unwrap();
        let detail = w.db.session_detail(&a.session.id).await.unwrap();
        assert_eq!(detail.session.status, SessionStatus::Completed);
        assert!(detail.session.finished_at.is_some());
        assert_eq!(detail.requests[0].1.status, SigningRequestStatus::Signed);
        assert_eq!(detail.signatures.len(), 1);
        assert_eq!(w.last_audit().await.action, "signature.recorded");
        let before = w.counts().await;
        let err =
            w.db.record_signature(
                sig(&a.request.id, &a.session.id),
                "service:coordinator",
                w.now(),
            )
            .await
            .unwrap_err();
        assert!(matches!(err, Error::Conflict(_)), "{err}");
        assert_eq!(w.counts().await, before);

        let exported =
            w.db.record_response_export(&a.request.id, "env-1", &w.operator.id, w.now())
                .await
                .unwrap();
        assert_eq!(exported.status, SigningRequestStatus::Exported);
        let rec = w.last_audit().await;
        assert_eq!(rec.action, "signature_response.exported");
        assert_eq!(rec.details["envelope_id"], "env-1");
        // Exporting again is allowed (a lost file) and audited again.
        w.db.record_response_export(&a.request.id, "env-2", &w.operator.id, w.now())
            .await
            .unwrap();
        assert_eq!(w.last_audit().await.details["envelope_id"], "env-2");

        // The other session expires when its time is up; its request with it.
        let later = w.now() + Duration::hours(3);
        let expired = w.db.expire_sessions(later).await.unwrap();
        assert_eq!(expired, vec![b.session.id.clone()]);
        let detail = w.db.session_detail(&b.session.id).await.unwrap();
        assert_eq!(detail.session.status, SessionStatus::Expired);
        assert_eq!(detail.requests[0].1.status, SigningRequestStatus::Expired);
        assert_eq!(w.last_audit().await.action, "session.expired");
        assert!(
            w.db.expire_sessions(later).await.unwrap().is_empty(),
            "once"
        );
        let err =
            w.db.record_signature(
                sig(&b.request.id, &b.session.id),
                "service:coordinator",
                later,
            )
            .await
            .unwrap_err();
        assert!(matches!(err, Error::Conflict(_)), "{err}");
    });
}

#[tokio::test]
async fn manifests_export_only_for_active_cases_and_rekey_marks_once() {
    on_both!(|w| {
        let case =
            w.db.create_case(
                "Cold",
                w.slots([0, 1, 2], [0, 1, 2]),
                &[1],
                &w.admin.id,
                w.now(),
            )
            .await
            .unwrap();
        let before = w.counts().await;
        let err =
            w.db.record_manifest_export(&case.id, "m-0", &w.admin.id, w.now())
                .await
                .unwrap_err();
        assert!(
            matches!(err, Error::Conflict(ref m) if m.contains("not active")),
            "{err}"
        );
        let err =
            w.db.request_rekey(&case.id, "SE lost", &w.admin.id, w.now())
                .await
                .unwrap_err();
        assert!(matches!(err, Error::Conflict(_)), "{err}");
        assert_eq!(w.counts().await, before);

        w.db.complete_keygen(&case.id, "02ee", "0xcold", "shard-registry", w.now())
            .await
            .unwrap();
        w.db.record_manifest_export(&case.id, "m-1", &w.admin.id, w.now())
            .await
            .unwrap();
        let rec = w.last_audit().await;
        assert_eq!(
            (rec.action.as_str(), rec.details["envelope_id"].as_str()),
            ("account_manifest.exported", Some("m-1"))
        );

        let err =
            w.db.request_rekey(&case.id, "  ", &w.admin.id, w.now())
                .await
                .unwrap_err();
        assert!(matches!(err, Error::Validation { .. }), "{err}");
        let marked =
            w.db.request_rekey(&case.id, "SE 0002 lost", &w.admin.id, w.now())
                .await
                .unwrap();
        assert!(marked.rekey_requested_at.is_some());
        assert_eq!(marked.rekey_reason.as_deref(), Some("SE 0002 lost"));
        assert_eq!(w.last_audit().await.action, "case.rekey_requested");
        let ev = w.db.outbox_pending(100).await.unwrap();
        assert_eq!(
            ev.last().unwrap().subject,
            offline_db::subjects::CASE_REKEY_REQUESTED
        );
        let before = w.counts().await;
        let err =
            w.db.request_rekey(&case.id, "again", &w.admin.id, w.now())
                .await
                .unwrap_err();
        assert!(
            matches!(err, Error::Conflict(ref m) if m.contains("already")),
            "{err}"
        );
        assert_eq!(w.counts().await, before);
    });
}
