//! The coordinator's records: channels, work lists, keygen sessions, shares made available,
//! runs started, failed (with retry) and finished.

use chrono::Duration;
use offline_db::entity::{
    cases, key_shares, protocol_sessions, secure_channels, session_participants, session_requests,
    signing_requests,
};
use offline_db::{
    CaseStatus, Error, ManagerReplacement, NewSignature, NewSigningRequest, ParticipantStatus,
    RetrySession, SeStatus, SessionKind, SessionStatus, SigningRequestStatus, Work,
};
use sea_orm::{ConnectionTrait, EntityTrait, QueryOrder, Statement};
use serde_json::json;

use crate::on_both;

const TABLES: &[&str] = &[
    "users",
    "auth_sessions",
    "login_attempts",
    "secure_elements",
    "secure_channels",
    "cases",
    "key_shares",
    "case_manager_changes",
    "protocol_sessions",
    "session_participants",
    "signing_requests",
    "signatures",
    "session_requests",
    "balance_attestations",
    "outbox",
    "processed_messages",
    "audit_log",
];

/// Everything a coordinator operation could write: the row count of every table and the rows
/// of the tables it updates in place.
#[derive(Debug, PartialEq)]
struct Snapshot {
    counts: Vec<i64>,
    cases: Vec<cases::Model>,
    shares: Vec<key_shares::Model>,
    sessions: Vec<protocol_sessions::Model>,
    participants: Vec<session_participants::Model>,
    links: Vec<session_requests::Model>,
    requests: Vec<signing_requests::Model>,
    channels: Vec<secure_channels::Model>,
}

async fn snapshot(w: &crate::World) -> Snapshot {
    let c = w.db.conn();
    let mut counts = Vec::new();
    for t in TABLES {
        let row = c
            .query_one_raw(Statement::from_string(
                c.get_database_backend(),
                format!("SELECT COUNT(*) AS n FROM {t}"),
            ))
            .await
            .unwrap()
            .unwrap();
        counts.push(row.try_get::<i64>("", "n").unwrap());
    }
    Snapshot {
        counts,
        cases: cases::Entity::find()
            .order_by_asc(cases::Column::Id)
            .all(c)
            .await
            .unwrap(),
        shares: key_shares::Entity::find()
            .order_by_asc(key_shares::Column::Id)
            .all(c)
            .await
            .unwrap(),
        sessions: protocol_sessions::Entity::find()
            .order_by_asc(protocol_sessions::Column::Id)
            .all(c)
            .await
            .unwrap(),
        participants: session_participants::Entity::find()
            .order_by_asc(session_participants::Column::SessionId)
            .order_by_asc(session_participants::Column::ShareIndex)
            .all(c)
            .await
            .unwrap(),
        links: session_requests::Entity::find()
            .order_by_asc(session_requests::Column::SessionId)
            .order_by_asc(session_requests::Column::SigningRequestId)
            .all(c)
            .await
            .unwrap(),
        requests: signing_requests::Entity::find()
            .order_by_asc(signing_requests::Column::Id)
            .all(c)
            .await
            .unwrap(),
        channels: secure_channels::Entity::find()
            .order_by_asc(secure_channels::Column::Id)
            .all(c)
            .await
            .unwrap(),
    }
}

async fn participants(w: &crate::World, session_id: &str) -> Vec<(i32, String, ParticipantStatus)> {
    w.db.session_detail(session_id)
        .await
        .unwrap()
        .participants
        .into_iter()
        .map(|p| (p.share_index, p.user_id, p.status))
        .collect()
}

/// A draft case of managers/SEs `m`/`s`.
async fn draft(w: &crate::World, name: &str, m: [usize; 3], s: [usize; 3]) -> cases::Model {
    w.db.create_case(name, w.slots(m, s), &[1], &w.admin.id, w.now())
        .await
        .unwrap()
}

/// A case with a key, managers/SEs 0, 1, 2.
async fn keyed(w: &crate::World, name: &str, key: &str) -> cases::Model {
    let case = draft(w, name, [0, 1, 2], [0, 1, 2]).await;
    w.db.complete_keygen(
        &case.id,
        key,
        &format!("0x{key}"),
        "shard-registry",
        w.now(),
    )
    .await
    .unwrap()
}

async fn import(w: &crate::World, case_id: &str, id: &str) -> offline_db::ImportedRequest {
    let now = w.now();
    w.db.record_signing_request(
        NewSigningRequest {
            request_id: id.to_owned(),
            case_id: case_id.to_owned(),
            tx_hash: format!("hash-{id}"),
            decoded: json!({"to": "0xdead", "value": "1"}),
            expires_at: now + Duration::hours(2),
            session_id: offline_db::new_id(now),
            execution_id: format!("eid-{id}"),
            envelope: id.as_bytes().to_vec(),
        },
        &w.operator.id,
        now,
    )
    .await
    .unwrap()
}

/// Open a channel for manager `m` with SE `s`.
async fn channel(w: &crate::World, m: usize, s: usize) -> String {
    let id = offline_db::new_id(w.now());
    w.db.open_channel(&id, &w.ses[s].id, &w.managers[m].id, w.now())
        .await
        .unwrap()
        .id
}

async fn ready(w: &crate::World, session: &str, index: i32, m: usize, s: usize) -> String {
    let ch = channel(w, m, s).await;
    w.db.mark_ready(
        session,
        index,
        &w.managers[m].id,
        &w.ses[s].id,
        &ch,
        w.now(),
    )
    .await
    .unwrap();
    ch
}

async fn open_keygen(w: &crate::World, case_id: &str, tag: &str) -> protocol_sessions::Model {
    let now = w.now();
    let (session, created) =
        w.db.open_keygen_session(
            case_id,
            &offline_db::new_id(now),
            &format!("kg-{tag}"),
            now + Duration::hours(1),
            &w.admin.id,
            now,
        )
        .await
        .unwrap();
    assert!(created);
    session
}

async fn last_event(w: &crate::World) -> (String, serde_json::Value) {
    let ev = w.db.outbox_pending(1000).await.unwrap().pop().unwrap();
    (ev.subject, serde_json::from_slice(&ev.payload).unwrap())
}

#[tokio::test]
async fn channels_open_and_close_once() {
    on_both!(|w| {
        let ch = channel(&w, 0, 0).await;
        let rec = w.last_audit().await;
        assert_eq!(
            (rec.action.as_str(), rec.actor.as_str()),
            ("channel.established", w.managers[0].id.as_str())
        );
        assert!(w
            .db
            .secure_element(&w.ses[0].id)
            .await
            .unwrap()
            .unwrap()
            .last_used_at
            .is_some());
        assert_eq!(
            w.db.se_by_serial("SE0000").await.unwrap().map(|s| s.id),
            Some(w.ses[0].id.clone())
        );
        assert!(w.db.se_by_serial("SE9999").await.unwrap().is_none());

        let before = snapshot(&w).await;
        let err =
            w.db.open_channel(&ch, &w.ses[0].id, &w.managers[0].id, w.now())
                .await
                .unwrap_err();
        assert!(
            matches!(err, Error::Validation { ref field, .. } if field == "channel_id"),
            "{err}"
        );
        let err =
            w.db.open_channel("c-x", &w.ses[0].id, &w.disabled.id, w.now())
                .await
                .unwrap_err();
        assert!(
            matches!(err, Error::NotPermitted(ref m) if m.contains("disabled")),
            "{err}"
        );
        let err =
            w.db.open_channel("c-y", "no-such-se", &w.managers[0].id, w.now())
                .await
                .unwrap_err();
        assert!(matches!(err, Error::NotPermitted(_)), "{err}");
        assert_eq!(snapshot(&w).await, before);

        let closed =
            w.db.close_channel(&ch, Some("client vanished"), w.now())
                .await
                .unwrap();
        assert_eq!(closed.status, "FAILED");
        assert_eq!(closed.error.as_deref(), Some("client vanished"));
        assert!(closed.closed_at.is_some());
        assert_eq!(w.last_audit().await.action, "channel.closed");
        let before = snapshot(&w).await;
        let again = w.db.close_channel(&ch, None, w.now()).await.unwrap();
        assert_eq!(again, closed, "closing twice changes nothing");
        assert_eq!(snapshot(&w).await, before);
        let ok = channel(&w, 1, 1).await;
        assert_eq!(
            w.db.close_channel(&ok, None, w.now()).await.unwrap().status,
            "CLOSED"
        );
    });
}

#[tokio::test]
async fn a_keygen_session_opens_once_and_is_reused() {
    on_both!(|w| {
        let case = draft(&w, "Treasury", [0, 1, 2], [0, 1, 2]).await;
        assert_eq!(
            w.db.work_for(&w.managers[0].id, &w.ses[0].id, w.now())
                .await
                .unwrap(),
            vec![Work::Keygen {
                case: case.clone(),
                share_index: 0
            }]
        );
        assert!(w
            .db
            .work_for(&w.managers[0].id, &w.ses[1].id, w.now())
            .await
            .unwrap()
            .is_empty());

        let session = open_keygen(&w, &case.id, "a").await;
        assert_eq!(
            (session.kind, session.status),
            (SessionKind::Keygen, SessionStatus::Pending)
        );
        assert_eq!(session.execution_id, "kg-a");
        assert_eq!(
            w.db.case(&case.id).await.unwrap().unwrap().status,
            CaseStatus::Keygen
        );
        assert_eq!(
            participants(&w, &session.id).await,
            (0..3)
                .map(|i| (
                    i as i32,
                    w.managers[i].id.clone(),
                    ParticipantStatus::Waiting
                ))
                .collect::<Vec<_>>()
        );
        let rec = w.last_audit().await;
        assert_eq!(
            (rec.action.as_str(), rec.object.as_str()),
            ("session.created", session.id.as_str())
        );
        // Still keygen work while the case waits for its key.
        assert!(matches!(
            w.db.work_for(&w.managers[2].id, &w.ses[2].id, w.now())
                .await
                .unwrap()
                .as_slice(),
            [Work::Keygen { share_index: 2, .. }]
        ));

        // Asking again returns the same session and writes nothing.
        let before = snapshot(&w).await;
        let now = w.now();
        let (again, created) =
            w.db.open_keygen_session(
                &case.id,
                "other",
                "kg-b",
                now + Duration::hours(1),
                &w.admin.id,
                now,
            )
            .await
            .unwrap();
        assert!(!created);
        assert_eq!(again, session);
        assert_eq!(snapshot(&w).await, before);

        // Another case cannot reuse the execution id; a case with a key runs no keygen.
        let other = draft(&w, "Other", [3, 4, 0], [3, 4, 0]).await;
        let before = snapshot(&w).await;
        let now = w.now();
        let err =
            w.db.open_keygen_session(
                &other.id,
                &offline_db::new_id(now),
                "kg-a",
                now + Duration::hours(1),
                &w.admin.id,
                now,
            )
            .await
            .unwrap_err();
        assert!(
            matches!(err, Error::Validation { ref field, .. } if field == "execution_id"),
            "{err}"
        );
        let err =
            w.db.open_keygen_session(
                &other.id,
                "s",
                "kg-c",
                now - Duration::seconds(1),
                &w.admin.id,
                now,
            )
            .await
            .unwrap_err();
        assert!(
            matches!(err, Error::Validation { ref field, .. } if field == "expires_at"),
            "{err}"
        );
        assert_eq!(snapshot(&w).await, before);
        w.db.complete_keygen(&other.id, "02k1", "0xk1", "shard-registry", w.now())
            .await
            .unwrap();
        let before = snapshot(&w).await;
        let now = w.now();
        let err =
            w.db.open_keygen_session(
                &other.id,
                "s2",
                "kg-d",
                now + Duration::hours(1),
                &w.admin.id,
                now,
            )
            .await
            .unwrap_err();
        assert!(matches!(err, Error::Conflict(_)), "{err}");
        assert_eq!(snapshot(&w).await, before);

        // Past its expiry, the sweep expires it and the case goes back to DRAFT.
        let later = w.now() + Duration::hours(2);
        let expired = w.db.expire_sessions(later).await.unwrap();
        assert_eq!(expired, vec![session.id.clone()]);
        assert_eq!(
            w.db.case(&case.id).await.unwrap().unwrap().status,
            CaseStatus::Draft
        );
        assert_eq!(w.last_audit().await.details["case_back_to_draft"], true);
    });
}

#[tokio::test]
async fn mark_ready_refusals_write_nothing() {
    on_both!(|w| {
        let case = draft(&w, "Treasury", [0, 1, 2], [0, 1, 2]).await;
        let session = open_keygen(&w, &case.id, "a").await;
        let ch0 = channel(&w, 0, 0).await;
        let ch_m0_se1 = channel(&w, 0, 1).await;
        let ch_m1_se0 = channel(&w, 1, 0).await;
        let ch_gone = channel(&w, 0, 0).await;
        w.db.close_channel(&ch_gone, None, w.now()).await.unwrap();
        let m = |i: usize| w.managers[i].id.clone();
        let s = |i: usize| w.ses[i].id.clone();

        let before = snapshot(&w).await;
        let refusals: Vec<(&str, i32, String, String, String, &str)> = vec![
            (
                "wrong SE",
                0,
                m(0),
                s(1),
                ch_m0_se1.clone(),
                "does not hold share 0",
            ),
            (
                "wrong user",
                0,
                m(1),
                s(0),
                ch_m1_se0.clone(),
                "does not hold share 0",
            ),
            (
                "unknown user",
                0,
                "nobody".into(),
                s(0),
                ch0.clone(),
                "does not hold share 0",
            ),
            (
                "another's channel",
                0,
                m(0),
                s(0),
                ch_m1_se0.clone(),
                "was not opened by",
            ),
        ];
        for (what, index, user, se, ch, says) in refusals {
            let err =
                w.db.mark_ready(&session.id, index, &user, &se, &ch, w.now())
                    .await
                    .unwrap_err();
            assert!(
                matches!(err, Error::NotPermitted(ref msg) if msg.contains(says)),
                "{what}: {err}"
            );
            assert_eq!(snapshot(&w).await, before, "{what}");
        }
        let err =
            w.db.mark_ready(&session.id, 0, &m(0), &s(0), &ch_gone, w.now())
                .await
                .unwrap_err();
        assert!(
            matches!(err, Error::Conflict(ref msg) if msg.contains("CLOSED")),
            "{err}"
        );
        let err =
            w.db.mark_ready(&session.id, 3, &m(0), &s(0), &ch0, w.now())
                .await
                .unwrap_err();
        assert!(matches!(err, Error::Validation { .. }), "{err}");
        let err =
            w.db.mark_ready("nope", 0, &m(0), &s(0), &ch0, w.now())
                .await
                .unwrap_err();
        assert!(matches!(err, Error::NotFound { .. }), "{err}");
        assert_eq!(snapshot(&w).await, before);

        // An SE that is no longer active.
        w.mark_se(0, SeStatus::Lost).await;
        let before = snapshot(&w).await;
        let err =
            w.db.mark_ready(&session.id, 0, &m(0), &s(0), &ch0, w.now())
                .await
                .unwrap_err();
        assert!(
            matches!(err, Error::NotPermitted(ref msg) if msg.contains("not active")),
            "{err}"
        );
        assert_eq!(snapshot(&w).await, before);
        w.mark_se(0, SeStatus::Active).await;

        // The right user, SE and channel.
        let all =
            w.db.mark_ready(&session.id, 0, &m(0), &s(0), &ch0, w.now())
                .await
                .unwrap();
        assert_eq!(all.len(), 3);
        assert_eq!(all[0].status, ParticipantStatus::Ready);
        assert_eq!(all[0].channel_id.as_deref(), Some(ch0.as_str()));
        assert_eq!(all[1].status, ParticipantStatus::Waiting);
        let rec = w.last_audit().await;
        assert_eq!(
            (rec.action.as_str(), rec.actor.as_str()),
            ("share.available", m(0).as_str())
        );
        let (subject, body) = last_event(&w).await;
        assert_eq!(subject, offline_db::subjects::SHARE_AVAILABLE);
        assert_eq!(
            (
                &body["session_id"],
                &body["case_id"],
                &body["share_index"],
                &body["user_id"],
                &body["se_id"],
                &body["channel_id"]
            ),
            (
                &json!(session.id),
                &json!(case.id),
                &json!(0),
                &json!(m(0)),
                &json!(s(0)),
                &json!(ch0)
            )
        );
        // Again on the same channel: nothing new.
        let before = snapshot(&w).await;
        let again =
            w.db.mark_ready(&session.id, 0, &m(0), &s(0), &ch0, w.now())
                .await
                .unwrap();
        assert_eq!(again, all);
        assert_eq!(snapshot(&w).await, before);

        // The channel closes before the run starts: the share is no longer available.
        w.db.close_channel(&ch0, None, w.now()).await.unwrap();
        assert_eq!(
            participants(&w, &session.id).await[0].2,
            ParticipantStatus::Waiting
        );

        // Past its expiry the session takes nobody.
        let ch = channel(&w, 1, 1).await;
        let late = session.expires_at.unwrap() + Duration::seconds(1);
        let before = snapshot(&w).await;
        let err =
            w.db.mark_ready(&session.id, 1, &m(1), &s(1), &ch, late)
                .await
                .unwrap_err();
        assert!(
            matches!(err, Error::Conflict(ref msg) if msg.contains("expired")),
            "{err}"
        );
        assert_eq!(snapshot(&w).await, before);
    });
}

#[tokio::test]
async fn a_failed_signing_run_is_retried_in_the_same_transaction() {
    on_both!(|w| {
        let case = keyed(&w, "Ops", "02aa").await;
        let imported = import(&w, &case.id, "r1").await;
        assert_eq!(imported.request.envelope.as_deref(), Some(&b"r1"[..]));
        let s1 = imported.session.clone();
        let req = imported.request.clone();
        ready(&w, &s1.id, 0, 0, 0).await;
        ready(&w, &s1.id, 1, 1, 1).await;

        let before = snapshot(&w).await;
        let run = |e: &str| vec![(req.id.clone(), e.to_owned())];
        let err =
            w.db.start_session(&s1.id, &[0, 2], &run("x-1"), w.now())
                .await
                .unwrap_err();
        assert!(
            matches!(err, Error::Conflict(ref m) if m.contains("share 2 is not ready")),
            "{err}"
        );
        let err =
            w.db.start_session(&s1.id, &[0], &run("x-1"), w.now())
                .await
                .unwrap_err();
        assert!(
            matches!(err, Error::Validation { ref field, .. } if field == "roster"),
            "{err}"
        );
        let err =
            w.db.start_session(&s1.id, &[0, 0], &run("x-1"), w.now())
                .await
                .unwrap_err();
        assert!(
            matches!(err, Error::Validation { ref field, .. } if field == "roster"),
            "{err}"
        );
        let err =
            w.db.start_session(&s1.id, &[0, 1], &[], w.now())
                .await
                .unwrap_err();
        assert!(
            matches!(err, Error::Validation { ref field, .. } if field == "runs"),
            "{err}"
        );
        let err =
            w.db.start_session(&s1.id, &[0, 1], &[("other".into(), "x-1".into())], w.now())
                .await
                .unwrap_err();
        assert!(
            matches!(err, Error::Validation { ref field, .. } if field == "runs"),
            "{err}"
        );
        let err =
            w.db.set_progress(&s1.id, "round 1", w.now())
                .await
                .unwrap_err();
        assert!(matches!(err, Error::Conflict(_)), "{err}");
        assert_eq!(snapshot(&w).await, before);

        let started =
            w.db.start_session(&s1.id, &[1, 0], &run("run-1"), w.now())
                .await
                .unwrap();
        assert_eq!(started.status, SessionStatus::Running);
        assert_eq!(started.roster.as_deref(), Some("[0,1]"));
        assert_eq!(started.progress.as_deref(), Some("signing"));
        let detail = w.db.session_detail(&s1.id).await.unwrap();
        assert_eq!(detail.requests[0].0.execution_id.as_deref(), Some("run-1"));
        assert_eq!(detail.requests[0].1.status, SigningRequestStatus::Signing);
        let rec = w.last_audit().await;
        assert_eq!(rec.action, "session.started");
        assert_eq!(rec.details["roster"], json!([0, 1]));
        assert_eq!(rec.details["runs"][0]["execution_id"], "run-1");
        // A running session takes no more shares and does not start twice.
        let ch = channel(&w, 2, 2).await;
        let before = snapshot(&w).await;
        let err =
            w.db.mark_ready(&s1.id, 2, &w.managers[2].id, &w.ses[2].id, &ch, w.now())
                .await
                .unwrap_err();
        assert!(matches!(err, Error::Conflict(_)), "{err}");
        let err =
            w.db.start_session(&s1.id, &[0, 1], &run("run-x"), w.now())
                .await
                .unwrap_err();
        assert!(matches!(err, Error::Conflict(_)), "{err}");
        assert_eq!(snapshot(&w).await, before);
        w.db.set_progress(&s1.id, "round 2/4", w.now())
            .await
            .unwrap();
        assert_eq!(w.last_audit().await.action, "session.progress");

        // The run fails; a retry session replaces it in the same transaction.
        let retry = RetrySession {
            session_id: offline_db::new_id(w.now()),
            execution_id: "eid-r1-retry".into(),
        };
        let s2 =
            w.db.fail_session(&s1.id, "client 1 vanished", Some(retry.clone()), w.now())
                .await
                .unwrap()
                .unwrap();
        assert_eq!(
            (s2.id.as_str(), s2.execution_id.as_str()),
            (retry.session_id.as_str(), "eid-r1-retry")
        );
        assert_eq!(
            (s2.kind, s2.status),
            (SessionKind::Sign, SessionStatus::Pending)
        );
        assert_eq!(s2.expires_at, s1.expires_at);
        let old = w.db.session_detail(&s1.id).await.unwrap();
        assert_eq!(old.session.status, SessionStatus::Failed);
        assert_eq!(old.session.error.as_deref(), Some("client 1 vanished"));
        assert!(old.session.finished_at.is_some());
        assert!(old
            .participants
            .iter()
            .all(|p| p.status == ParticipantStatus::Failed));
        assert_eq!(old.requests[0].1.status, SigningRequestStatus::Imported);
        let new = w.db.session_detail(&s2.id).await.unwrap();
        assert_eq!(new.requests.len(), 1);
        assert_eq!(new.requests[0].0.execution_id, None);
        assert_eq!(new.requests[0].1.id, req.id);
        assert!(new
            .participants
            .iter()
            .all(|p| p.status == ParticipantStatus::Waiting));
        assert_eq!(new.participants.len(), 3);
        let (subject, body) = last_event(&w).await;
        assert_eq!(subject, offline_db::subjects::SESSION_CREATED);
        assert_eq!(body["session_id"], s2.id);
        assert_eq!(body["request_id"], "r1");
        assert_eq!(body["signing_hash"], "hash-r1");
        assert_eq!(body["slots"].as_array().unwrap().len(), 3);
        let audit = audit::query(w.db.conn(), audit::Filter::default())
            .await
            .unwrap();
        let last: Vec<_> = audit
            .iter()
            .rev()
            .take(2)
            .map(|r| r.action.as_str())
            .collect();
        assert_eq!(last, ["session.created", "session.failed"]);
        assert!(audit.last().unwrap().details["cause"]
            .as_str()
            .unwrap()
            .contains(&s1.id));
        // The work list now shows the retry, not the failed session.
        match w
            .db
            .work_for(&w.managers[0].id, &w.ses[0].id, w.now())
            .await
            .unwrap()
            .as_slice()
        {
            [Work::Sign {
                session,
                share_index: 0,
                requests,
                ..
            }] => {
                assert_eq!(session.id, s2.id);
                assert_eq!(requests.len(), 1);
            }
            other => panic!("{other:?}"),
        }

        // A finished session cannot fail again.
        let before = snapshot(&w).await;
        let err =
            w.db.fail_session(&s1.id, "again", None, w.now())
                .await
                .unwrap_err();
        assert!(matches!(err, Error::Conflict(_)), "{err}");
        assert_eq!(snapshot(&w).await, before);

        // The retry cannot reuse the failed run's execution id.
        ready(&w, &s2.id, 1, 1, 1).await;
        ready(&w, &s2.id, 2, 2, 2).await;
        let before = snapshot(&w).await;
        let err =
            w.db.start_session(&s2.id, &[1, 2], &run("run-1"), w.now())
                .await
                .unwrap_err();
        assert!(
            matches!(err, Error::Validation { ref field, .. } if field == "execution_id"),
            "{err}"
        );
        assert_eq!(snapshot(&w).await, before);
        w.db.start_session(&s2.id, &[1, 2], &run("run-2"), w.now())
            .await
            .unwrap();
        w.db.record_signature(
            NewSignature {
                signing_request_id: req.id.clone(),
                session_id: s2.id.clone(),
                r: "11".repeat(32),
                s: "22".repeat(32),
                v: 0,
                raw_signed_tx: vec![2],
            },
            offline_db::COORDINATOR,
            w.now(),
        )
        .await
        .unwrap();
        let done = w.db.session_detail(&s2.id).await.unwrap();
        assert_eq!(done.session.status, SessionStatus::Completed);
        assert_eq!(done.session.progress.as_deref(), Some("done"));
        let statuses: Vec<_> = done.participants.iter().map(|p| p.status).collect();
        assert_eq!(
            statuses,
            [
                ParticipantStatus::Waiting,
                ParticipantStatus::Done,
                ParticipantStatus::Done
            ]
        );
        let err =
            w.db.fail_session(&s2.id, "late", None, w.now())
                .await
                .unwrap_err();
        assert!(matches!(err, Error::Conflict(_)), "{err}");

        // No retry once the session has expired: the request stays IMPORTED, no new session.
        let r2 = import(&w, &case.id, "r2").await;
        let late = r2.session.expires_at.unwrap() + Duration::seconds(1);
        let retry = RetrySession {
            session_id: offline_db::new_id(late),
            execution_id: "eid-r2-retry".into(),
        };
        let none =
            w.db.fail_session(&r2.session.id, "nobody came", Some(retry), late)
                .await
                .unwrap();
        assert!(none.is_none());
        assert_eq!(
            w.db.signing_request(&r2.request.id).await.unwrap().status,
            SigningRequestStatus::Imported
        );
        assert_eq!(
            w.last_audit().await.details["no_retry"],
            "the session has expired"
        );
    });
}

#[tokio::test]
async fn a_failed_keygen_frees_the_case_for_a_new_session() {
    on_both!(|w| {
        let case = draft(&w, "Treasury", [0, 1, 2], [0, 1, 2]).await;
        let s1 = open_keygen(&w, &case.id, "a").await;
        for i in 0..3 {
            ready(&w, &s1.id, i as i32, i, i).await;
        }
        let err =
            w.db.start_session(&s1.id, &[0, 1], &[], w.now())
                .await
                .unwrap_err();
        assert!(
            matches!(err, Error::Validation { ref field, .. } if field == "roster"),
            "{err}"
        );
        let started =
            w.db.start_session(&s1.id, &[0, 1, 2], &[], w.now())
                .await
                .unwrap();
        assert_eq!(started.progress.as_deref(), Some("keygen"));
        assert_eq!(started.roster.as_deref(), Some("[0,1,2]"));
        w.db.set_progress(&s1.id, "aux_info", w.now())
            .await
            .unwrap();
        assert!(
            w.db.work_for(&w.managers[0].id, &w.ses[0].id, w.now())
                .await
                .unwrap()
                .len()
                == 1
        );

        assert!(w
            .db
            .fail_session(&s1.id, "client 2 killed", None, w.now())
            .await
            .unwrap()
            .is_none());
        let failed = w.db.session_detail(&s1.id).await.unwrap();
        assert_eq!(failed.session.status, SessionStatus::Failed);
        assert!(failed
            .participants
            .iter()
            .all(|p| p.status == ParticipantStatus::Failed));
        assert_eq!(
            w.db.case(&case.id).await.unwrap().unwrap().status,
            CaseStatus::Draft
        );
        assert_eq!(w.last_audit().await.action, "session.failed");

        // A new keygen session opens; failing it with a retry keeps the case in KEYGEN.
        let s2 = open_keygen(&w, &case.id, "b").await;
        assert_ne!(s2.id, s1.id);
        assert_eq!(
            w.db.case(&case.id).await.unwrap().unwrap().status,
            CaseStatus::Keygen
        );
        let retry = RetrySession {
            session_id: offline_db::new_id(w.now()),
            execution_id: "kg-c".into(),
        };
        let s3 =
            w.db.fail_session(&s2.id, "nats restarted", Some(retry), w.now())
                .await
                .unwrap()
                .unwrap();
        assert_eq!(
            (s3.kind, s3.status),
            (SessionKind::Keygen, SessionStatus::Pending)
        );
        assert_eq!(
            w.db.case(&case.id).await.unwrap().unwrap().status,
            CaseStatus::Keygen
        );
        let now = w.now();
        let (same, created) =
            w.db.open_keygen_session(
                &case.id,
                "x",
                "kg-x",
                now + Duration::hours(1),
                &w.admin.id,
                now,
            )
            .await
            .unwrap();
        assert_eq!((same.id, created), (s3.id, false));
    });
}

#[tokio::test]
async fn finish_keygen_binds_the_key_atomically() {
    on_both!(|w| {
        let taken = keyed(&w, "Taken", "02ff").await;
        let case = draft(&w, "Treasury", [3, 4, 0], [3, 4, 0]).await;
        let s = open_keygen(&w, &case.id, "a").await;
        let reports = json!([{"share_index": 0, "public_key": "02bb", "se_signature": "30"}]);
        let before = snapshot(&w).await;
        let err =
            w.db.finish_keygen(&s.id, "02bb", "0xbb", reports.clone(), w.now())
                .await
                .unwrap_err();
        assert!(
            matches!(err, Error::Conflict(ref m) if m.contains("running keygen")),
            "{err}"
        );
        assert_eq!(snapshot(&w).await, before);
        for (i, (m, se)) in [(3, 3), (4, 4), (0, 0)].into_iter().enumerate() {
            ready(&w, &s.id, i as i32, m, se).await;
        }
        w.db.start_session(&s.id, &[0, 1, 2], &[], w.now())
            .await
            .unwrap();

        // A key (or address) bound to another case is refused and nothing is written.
        let before = snapshot(&w).await;
        let err =
            w.db.finish_keygen(&s.id, "02ff", "0xnew", reports.clone(), w.now())
                .await
                .unwrap_err();
        assert!(
            matches!(err, Error::Validation { ref field, .. } if field == "public_key"),
            "{err}"
        );
        let err =
            w.db.finish_keygen(
                &s.id,
                "02bb",
                taken.address.as_deref().unwrap(),
                reports.clone(),
                w.now(),
            )
            .await
            .unwrap_err();
        assert!(matches!(err, Error::Validation { .. }), "{err}");
        assert_eq!(snapshot(&w).await, before);

        let done =
            w.db.finish_keygen(&s.id, "02bb", "0xbb", reports.clone(), w.now())
                .await
                .unwrap();
        assert_eq!(done.status, CaseStatus::Active);
        assert_eq!(
            (done.public_key.as_deref(), done.address.as_deref()),
            (Some("02bb"), Some("0xbb"))
        );
        let rows = w.db.key_shares_by_case(&case.id).await.unwrap();
        assert_eq!(rows.len(), 3);
        assert!(rows.iter().all(|k| k.public_key.as_deref() == Some("02bb")));
        let detail = w.db.session_detail(&s.id).await.unwrap();
        assert_eq!(detail.session.status, SessionStatus::Completed);
        assert_eq!(detail.session.progress.as_deref(), Some("done"));
        assert!(detail
            .participants
            .iter()
            .all(|p| p.status == ParticipantStatus::Done));
        let audit = audit::query(w.db.conn(), audit::Filter::default())
            .await
            .unwrap();
        let last: Vec<_> = audit
            .iter()
            .rev()
            .take(2)
            .map(|r| r.action.as_str())
            .collect();
        assert_eq!(last, ["session.completed", "case.keygen_completed"]);
        assert_eq!(audit.last().unwrap().details["reports"], reports);
        let (subject, body) = last_event(&w).await;
        assert_eq!(subject, offline_db::subjects::KEYGEN_COMPLETED);
        assert_eq!(
            (&body["session_id"], &body["public_key"], &body["address"]),
            (&json!(s.id), &json!("02bb"), &json!("0xbb"))
        );
        assert_eq!(
            body["slots"][1],
            json!({"share_index": 1, "user_id": w.managers[4].id, "se_id": w.ses[4].id})
        );
        // Once only.
        let before = snapshot(&w).await;
        let err =
            w.db.finish_keygen(&s.id, "02cc", "0xcc", reports, w.now())
                .await
                .unwrap_err();
        assert!(matches!(err, Error::Conflict(_)), "{err}");
        assert_eq!(snapshot(&w).await, before);
        assert!(w
            .db
            .work_for(&w.managers[3].id, &w.ses[3].id, w.now())
            .await
            .unwrap()
            .is_empty());
    });
}

#[tokio::test]
async fn work_follows_the_current_key_share_table_after_a_manager_change() {
    on_both!(|w| {
        let case = keyed(&w, "Ops", "02aa").await;
        let a = import(&w, &case.id, "ra").await;
        let b = import(&w, &case.id, "rb").await;
        // A draft case in which manager 0 holds share 2 in the same SE.
        let other = draft(&w, "Next", [4, 3, 0], [3, 4, 0]).await;
        let work =
            w.db.work_for(&w.managers[0].id, &w.ses[0].id, w.now())
                .await
                .unwrap();
        match work.as_slice() {
            [Work::Keygen {
                case: k,
                share_index: 2,
            }, Work::Sign {
                session: s1,
                share_index: 0,
                requests: r1,
                ..
            }, Work::Sign {
                session: s2,
                requests: r2,
                ..
            }] => {
                assert_eq!(k.id, other.id);
                assert_eq!(
                    (s1.id.as_str(), s2.id.as_str()),
                    (a.session.id.as_str(), b.session.id.as_str())
                );
                assert_eq!(r1[0].request_id, "ra");
                assert_eq!(r2[0].envelope.as_deref(), Some(&b"rb"[..]));
            }
            other => panic!("{other:?}"),
        }

        w.db.replace_manager(
            ManagerReplacement {
                case_id: case.id.clone(),
                share_index: 1,
                new_user_id: w.managers[3].id.clone(),
                pin_reset_by: w.officer.id.clone(),
                reason: "manager1 left".into(),
            },
            &w.admin.id,
            w.now(),
        )
        .await
        .unwrap();
        assert!(w
            .db
            .work_for(&w.managers[1].id, &w.ses[1].id, w.now())
            .await
            .unwrap()
            .is_empty());
        let new_work =
            w.db.work_for(&w.managers[3].id, &w.ses[1].id, w.now())
                .await
                .unwrap();
        assert_eq!(new_work.len(), 2);
        assert!(new_work
            .iter()
            .all(|x| matches!(x, Work::Sign { share_index: 1, .. })));

        // The former manager is refused even with the SE; the new one is accepted.
        let old_ch = channel(&w, 1, 1).await;
        let before = snapshot(&w).await;
        let err =
            w.db.mark_ready(
                &a.session.id,
                1,
                &w.managers[1].id,
                &w.ses[1].id,
                &old_ch,
                w.now(),
            )
            .await
            .unwrap_err();
        assert!(
            matches!(err, Error::NotPermitted(ref m) if m.contains("manager1") && m.contains("SE0001")),
            "{err}"
        );
        assert_eq!(snapshot(&w).await, before);
        ready(&w, &a.session.id, 1, 3, 1).await;
        let p = participants(&w, &a.session.id).await;
        assert_eq!(
            p[1],
            (1, w.managers[3].id.clone(), ParticipantStatus::Ready)
        );
        assert_eq!(
            w.last_audit().await.details["replaces_user_id"],
            json!(w.managers[1].id)
        );

        // Neither expired nor running sessions are work.
        let ch0 = ready(&w, &a.session.id, 0, 0, 0).await;
        assert!(!ch0.is_empty());
        w.db.start_session(
            &a.session.id,
            &[0, 1],
            &[(a.request.id.clone(), "run-a".into())],
            w.now(),
        )
        .await
        .unwrap();
        let work =
            w.db.work_for(&w.managers[3].id, &w.ses[1].id, w.now())
                .await
                .unwrap();
        assert!(
            matches!(work.as_slice(), [Work::Sign { session, .. }] if session.id == b.session.id)
        );
        let late = b.session.expires_at.unwrap() + Duration::seconds(1);
        assert!(w
            .db
            .work_for(&w.managers[3].id, &w.ses[1].id, late)
            .await
            .unwrap()
            .is_empty());
    });
}
