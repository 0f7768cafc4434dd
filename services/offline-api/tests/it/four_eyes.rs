//! Four-eyes (issue 15): what one administrator alone can do to the offline zone. Every
//! sensitive change is only a proposal until a second administrator approves it with their
//! password; the proposer cannot approve, nobody can approve twice, expired proposals are dead,
//! and each refusal leaves every table and the audit chain as they were. Each test runs on
//! SQLite and on PostgreSQL.

use std::time::Duration;

use offline_db::{CaseStatus, Role, SeStatus};
use poem::http::StatusCode;
use serde_json::{json, Value};

use crate::common::{case_fixture, on_both, Reply, Session, SoftSigner, TestApp, PASSWORD};

async fn decide(app: &TestApp, who: &Session, id: &str, verb: &str, password: &str) -> Reply {
    app.call(
        "POST",
        &format!("/api/proposals/{id}/{verb}"),
        Some(who),
        Some(json!({"password": password})),
    )
    .await
}

fn id_of(r: &Reply) -> String {
    assert_eq!(r.status, StatusCode::ACCEPTED, "{:?}", r.body);
    r.body["id"].as_str().unwrap().to_owned()
}

/// Every refusal a lone administrator meets on one pending proposal, each checked to change
/// nothing (the failed re-authentication alone is audited).
async fn lone_admin_is_refused(app: &TestApp, admin: &Session, proposal: &str) {
    let before = app.snapshot().await;
    let own = decide(app, admin, proposal, "approve", PASSWORD).await;
    assert_eq!(own.status, StatusCode::FORBIDDEN, "{:?}", own.body);
    assert_eq!(own.problem(), "own-proposal");
    let own = decide(app, admin, proposal, "reject", PASSWORD).await;
    assert_eq!(own.problem(), "own-proposal");
    assert_eq!(
        app.snapshot().await,
        before,
        "self-approval changed something"
    );
    let list = app.call("GET", "/api/proposals", Some(admin), None).await;
    let mine = list
        .body
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["id"] == proposal)
        .cloned()
        .unwrap();
    assert_eq!(mine["status"], "PENDING");
    assert_eq!(
        mine["can_decide"], false,
        "the proposer is not offered to decide"
    );
    assert_eq!(mine["can_cancel"], true);
}

#[tokio::test]
async fn one_admin_alone_cannot_register_an_se_grant_a_role_or_create_a_case() {
    on_both(|app| async move {
        let (admin_id, admin) = app.signed_in("admin", Role::Admin).await;
        app.user("operator", Role::Operator).await;
        let (mgr_id, mgr) = app.signed_in("manager", Role::CaseManager).await;
        let (_, other_mgr) = app.signed_in("othermanager", Role::CaseManager).await;

        // An administrator cannot enrol an SE at all: only a case manager, whose SE proves it
        // holds the identity key by signing the manager's one-time challenge.
        let r = app.call("POST", "/api/me/se-enrolment/challenge", Some(&admin), None).await;
        assert_eq!(r.status, StatusCode::FORBIDDEN);
        let key = SoftSigner(p256::ecdsa::SigningKey::random(&mut rand_core::OsRng));
        let enrol = |who: &Session, proof: String, label: &str| {
            let (app, who, label) = (&app, who.clone(), label.to_owned());
            async move {
                app.call("POST", "/api/me/se-enrolment", Some(&who), Some(json!({"label": label, "proof": proof}))).await
            }
        };
        let proof = app.enrolment_proof(&mgr, &key, "SE-1").await;
        let r = enrol(&mgr, proof.clone(), "one").await;
        let se_prop = id_of(&r);
        assert_eq!(r.body["kind"], "se.register");
        assert_eq!(r.body["proposed_by"], mgr_id.as_str());
        assert_eq!(r.body["payload"]["enrolled_by"], mgr_id.as_str());
        let ses = app.call("GET", "/api/secure-elements", Some(&admin), None).await;
        assert_eq!(ses.body.as_array().unwrap().len(), 0, "nothing registered yet");

        // Proofs that do not hold: each refused, nothing written.
        let before = app.snapshot().await;
        let replayed = enrol(&mgr, proof.clone(), "again").await;
        let other_key = SoftSigner(p256::ecdsa::SigningKey::random(&mut rand_core::OsRng));
        let someone_elses = app.enrolment_proof(&other_mgr, &other_key, "SE-2").await;
        let not_mine = enrol(&mgr, someone_elses, "stolen challenge").await;
        let forged = {
            let fresh = app.enrolment_proof(&mgr, &other_key, "SE-3").await;
            let mut p = channel::EnrolmentProof::from_text(&fresh).unwrap();
            p.serial = "SE-OTHER".into();
            enrol(&mgr, p.to_text().unwrap(), "forged").await
        };
        let garbled = enrol(&mgr, "custody-se-enrolment:AAAA".to_owned(), "garbled").await;
        for (what, r) in [("replayed", &replayed), ("another manager's challenge", &not_mine), ("signature over another serial", &forged), ("garbled", &garbled)] {
            assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{what}: {:?}", r.body);
            assert_eq!(r.body["field"], "proof", "{what}");
        }
        let counts = app.snapshot().await;
        for ((table, was), (_, now)) in before.iter().zip(&counts) {
            // Only the two challenges asked for meanwhile were recorded (and audited).
            let grew = if table == "audit_log" || table == "se_enrolment_challenges" { 2 } else { 0 };
            assert_eq!(*now, was + grew, "{table}");
        }
        // A challenge answered too late.
        let late = app.enrolment_proof(&other_mgr, &other_key, "SE-LATE").await;
        app.clock.advance(Duration::from_secs(16 * 60));
        let other_mgr = app.session("othermanager", true).await;
        let r = enrol(&other_mgr, late, "late").await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{:?}", r.body);
        let admin = app.session("admin", true).await;
        let mgr = app.session("manager", true).await;
        let operator = app.session("operator", true).await;

        // The manager cannot approve their own enrolment (nor any proposal).
        let r = decide(&app, &mgr, &se_prop, "approve", PASSWORD).await;
        assert_eq!(r.status, StatusCode::FORBIDDEN);
        // The same SE cannot be proposed twice while one waits.
        let again = app.enrolment_proof(&mgr, &key, "SE-1").await;
        let dup = enrol(&mgr, again, "again").await;
        assert_eq!(dup.status, StatusCode::CONFLICT, "{:?}", dup.body);

        // Puppets: three self-registered users; the lone admin can only propose their roles.
        let mut puppets = Vec::new();
        for i in 0..3 {
            let r = app.call("POST", "/api/auth/register", None, Some(json!({"username": format!("puppet{i}"), "display_name": "P", "password": PASSWORD}))).await;
            assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
            let id = r.body["id"].as_str().unwrap().to_owned();
            let r = app.call("PUT", &format!("/api/users/{id}/role"), Some(&admin), Some(json!({"role": "case_manager", "password": PASSWORD}))).await;
            let prop = id_of(&r);
            lone_admin_is_refused(&app, &admin, &prop).await;
            puppets.push(id);
        }
        for id in &puppets {
            let u = app.db.user(id).await.unwrap().unwrap();
            assert_eq!(u.role, Role::Unassigned, "no role without a second admin");
        }
        // Nor can the admin give themself a role.
        let r = app.call("PUT", &format!("/api/users/{admin_id}/role"), Some(&admin), Some(json!({"role": "case_manager", "password": PASSWORD}))).await;
        assert_eq!(r.status, StatusCode::CONFLICT, "{:?}", r.body);

        // Someone without the right cannot decide either.
        let r = decide(&app, &operator, &se_prop, "approve", PASSWORD).await;
        assert_eq!(r.status, StatusCode::FORBIDDEN);
        assert_eq!(r.problem(), "forbidden");

        // A second admin with a wrong password: refused; only the failed re-authentication is
        // recorded.
        let (admin2_id, admin2) = app.second_admin().await.clone();
        let before = app.snapshot().await;
        let r = decide(&app, &admin2, &se_prop, "approve", "not the password").await;
        assert_eq!(r.problem(), "reauthentication-failed");
        for ((table, was), (_, now)) in before.iter().zip(&app.snapshot().await) {
            let grew = i64::from(table == "audit_log");
            assert_eq!(*now, was + grew, "{table}");
        }

        // The second admin approves: the CA certifies the SE, exactly once.
        let r = decide(&app, &admin2, &se_prop, "approve", PASSWORD).await;
        assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
        assert_eq!(r.body["status"], "APPROVED");
        assert_eq!(r.body["decided_by"], admin2_id.as_str());
        let se_id = r.body["result"].as_str().unwrap().to_owned();
        let se = app.db.secure_element(&se_id).await.unwrap().unwrap();
        assert!(se.certificate.is_some(), "certified at approval");
        assert_eq!(se.enrolled_by.as_deref(), Some(mgr_id.as_str()), "the SE names who enrolled it");
        assert!(se.enrolled_at.is_some());
        let before = app.snapshot().await;
        let again = decide(&app, &admin2, &se_prop, "approve", PASSWORD).await;
        assert_eq!(again.status, StatusCode::CONFLICT);
        assert_eq!(again.problem(), "proposal-decided");
        assert_eq!(app.snapshot().await, before, "a second approval changed something");
        let audit = |action: &'static str| {
            let app = &app;
            async move {
                audit::query(app.db.conn(), audit::Filter { action: Some(action.into()), ..Default::default() }).await.unwrap()
            }
        };
        let approved = audit("proposal.approved").await;
        assert_eq!(approved.len(), 1);
        assert_eq!(approved[0].actor, admin2_id);
        assert_eq!(approved[0].details["proposed_by"], mgr_id.as_str());
        assert_eq!(audit("se.registered").await.len(), 1);

        // The same key under another serial: refused when proposed, nothing written.
        let copy = app.enrolment_proof(&mgr, &key, "SE-COPY").await;
        let before = app.snapshot().await;
        let r = enrol(&mgr, copy, "copy").await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{:?}", r.body);
        assert_eq!(r.body["field"], "identity_public_key");
        assert_eq!(app.snapshot().await, before);

        // The approver cannot be the one a role is for.
        let r = app.call("PUT", &format!("/api/users/{admin2_id}/role"), Some(&admin), Some(json!({"role": "case_manager", "password": PASSWORD}))).await;
        let prop = id_of(&r);
        let before = app.snapshot().await;
        let r = decide(&app, &admin2, &prop, "approve", PASSWORD).await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{:?}", r.body);
        assert_eq!(r.problem(), "second-person-required");
        assert_eq!(app.snapshot().await, before);
        assert_eq!(app.db.user(&admin2_id).await.unwrap().unwrap().role, Role::Admin);
    })
    .await;
}

#[tokio::test]
async fn one_admin_alone_cannot_change_a_case_or_revive_an_se() {
    on_both(|app| async move {
        let f = case_fixture(&app).await;
        let (new_mgr, _) = app.signed_in("newmanager", Role::CaseManager).await;

        // Replace a manager, archive, delete: proposals only.
        let r = app.call("POST", &format!("/api/cases/{}/replace-manager", f.case_id), Some(&f.admin), Some(json!({"share_index": 0, "new_user_id": new_mgr, "pin_reset_by": f.admin_id, "reason": "left", "password": PASSWORD}))).await;
        let replace = id_of(&r);
        lone_admin_is_refused(&app, &f.admin, &replace).await;
        let r = app.call("POST", &format!("/api/cases/{}/archive", f.case_id), Some(&f.admin), Some(json!({"password": PASSWORD}))).await;
        let archive = id_of(&r);
        lone_admin_is_refused(&app, &f.admin, &archive).await;
        let r = app.call("DELETE", &format!("/api/cases/{}", f.case_id), Some(&f.admin), Some(json!({"password": PASSWORD}))).await;
        let delete = id_of(&r);
        lone_admin_is_refused(&app, &f.admin, &delete).await;
        let case = app.db.case(&f.case_id).await.unwrap().unwrap();
        assert_eq!(case.status, CaseStatus::Draft);
        let shares = app.db.key_shares_by_case(&f.case_id).await.unwrap();
        assert_eq!(shares[0].user_id, f.managers[0].0, "share 0 still with its manager");

        // A new case: proposed only; and never with the proposer's or approver's puppets as
        // managers — the admin roles are not case-manager roles, and a manager cannot approve.
        let mut ses = Vec::new();
        for i in 0..3 {
            ses.push(app.se(&f.managers[i].1, &format!("SE-NEW{i}")).await);
        }
        let body = json!({"name": "second", "managers": (0..3).map(|i| json!({"user_id": f.managers[i].0, "se_id": ses[i]})).collect::<Vec<_>>(), "chain_ids": [1]});
        let r = app.call("POST", "/api/cases", Some(&f.admin), Some(body.clone())).await;
        let create = id_of(&r);
        let cases_before = app.call("GET", "/api/cases", Some(&f.admin), None).await.body.as_array().unwrap().len();
        lone_admin_is_refused(&app, &f.admin, &create).await;
        assert_eq!(app.call("GET", "/api/cases", Some(&f.admin), None).await.body.as_array().unwrap().len(), cases_before);
        // A manager may only get an SE they enrolled themselves.
        let swapped = json!({"name": "swapped", "managers": [{"user_id": f.managers[0].0, "se_id": ses[1]}, {"user_id": f.managers[1].0, "se_id": ses[0]}, {"user_id": f.managers[2].0, "se_id": ses[2]}], "chain_ids": [1]});
        let before = app.snapshot().await;
        let r = app.call("POST", "/api/cases", Some(&f.admin), Some(swapped)).await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{:?}", r.body);
        assert_eq!(r.body["field"], "managers[0].se_id");
        assert_eq!(app.snapshot().await, before);
        let with_admin = json!({"name": "mine", "managers": [{"user_id": f.admin_id, "se_id": ses[0]}, {"user_id": f.managers[1].0, "se_id": ses[1]}, {"user_id": f.managers[2].0, "se_id": ses[2]}], "chain_ids": [1]});
        let r = app.call("POST", "/api/cases", Some(&f.admin), Some(with_admin)).await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{:?}", r.body);
        assert_eq!(r.problem(), "second-person-required");

        // An SE marked lost takes effect at once; bringing it back needs a second admin; a
        // revoked SE never comes back.
        let r = app.call("PUT", &format!("/api/secure-elements/{}/status", ses[0]), Some(&f.admin), Some(json!({"status": "LOST"}))).await;
        assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
        assert_eq!(r.body["status"], "LOST");
        let r = app.call("PUT", &format!("/api/secure-elements/{}/status", ses[0]), Some(&f.admin), Some(json!({"status": "ACTIVE"}))).await;
        let revive = id_of(&r);
        assert_eq!(r.body["kind"], "se.reactivate");
        lone_admin_is_refused(&app, &f.admin, &revive).await;
        assert_eq!(app.db.secure_element(&ses[0]).await.unwrap().unwrap().status, SeStatus::Lost);
        let r = app.call("PUT", &format!("/api/secure-elements/{}/status", ses[1]), Some(&f.admin), Some(json!({"status": "REVOKED"}))).await;
        assert_eq!(r.status, StatusCode::OK);
        let before = app.snapshot().await;
        let r = app.call("PUT", &format!("/api/secure-elements/{}/status", ses[1]), Some(&f.admin), Some(json!({"status": "ACTIVE"}))).await;
        assert_eq!(r.status, StatusCode::CONFLICT, "{:?}", r.body);
        assert_eq!(app.snapshot().await, before);

        // The pending case creation now names a lost SE: its approval is refused and changes
        // nothing; the proposal stays pending (it may be rejected or expire).
        let (_, admin2) = app.second_admin().await.clone();
        let before = app.snapshot().await;
        let r = decide(&app, &admin2, &create, "approve", PASSWORD).await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{:?}", r.body);
        assert_eq!(app.snapshot().await, before);
        let r = decide(&app, &admin2, &create, "reject", PASSWORD).await;
        assert_eq!(r.body["status"], "REJECTED");

        // Withdrawn by the proposer: dead for everyone.
        let r = app.call("POST", &format!("/api/proposals/{delete}/cancel"), Some(&f.admin), None).await;
        assert_eq!(r.body["status"], "CANCELLED", "{:?}", r.body);
        let r = decide(&app, &admin2, &delete, "approve", PASSWORD).await;
        assert_eq!(r.problem(), "proposal-decided");

        // The second admin approves the replacement: it takes effect, once.
        let r = decide(&app, &admin2, &replace, "approve", PASSWORD).await;
        assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
        let shares = app.db.key_shares_by_case(&f.case_id).await.unwrap();
        assert_eq!(shares[0].user_id, new_mgr);
        assert_eq!(app.db.key_share_history(&f.case_id).await.unwrap().len(), 4);
        let r = decide(&app, &admin2, &replace, "approve", PASSWORD).await;
        assert_eq!(r.problem(), "proposal-decided");
        assert_eq!(app.db.key_share_history(&f.case_id).await.unwrap().len(), 4);

        // Expired: a day later the archive proposal cannot be approved.
        app.clock.advance(Duration::from_secs(25 * 3600));
        let admin2 = app.session("admin2", true).await;
        let before = app.snapshot().await;
        let r = decide(&app, &admin2, &archive, "approve", PASSWORD).await;
        assert_eq!(r.status, StatusCode::CONFLICT, "{:?}", r.body);
        assert_eq!(r.problem(), "proposal-expired");
        assert_eq!(app.snapshot().await, before);
        let all = app.call("GET", "/api/proposals?pending=false", Some(&admin2), None).await;
        let status_of = |id: &str| -> Value {
            all.body.as_array().unwrap().iter().find(|p| p["id"] == id).unwrap()["status"].clone()
        };
        assert_eq!(status_of(&archive), "EXPIRED");
        assert_eq!(status_of(&replace), "APPROVED");
        assert_eq!(status_of(&create), "REJECTED");
        assert_eq!(app.db.case(&f.case_id).await.unwrap().unwrap().status, CaseStatus::Draft);
    })
    .await;
}

#[tokio::test]
async fn concurrent_approvals_take_effect_exactly_once() {
    on_both(|app| async move {
        let (_, admin) = app.signed_in("admin", Role::Admin).await;
        let (_, admin2) = app.second_admin().await.clone();
        let (_, admin3) = app.signed_in("admin3", Role::Admin).await;
        let (_, mgr) = app.signed_in("manager", Role::CaseManager).await;
        for round in 0..5 {
            let key = SoftSigner(p256::ecdsa::SigningKey::random(&mut rand_core::OsRng));
            let serial = format!("SE-R{round}");
            let proof = app.enrolment_proof(&mgr, &key, &serial).await;
            let r = app
                .call(
                    "POST",
                    "/api/me/se-enrolment",
                    Some(&mgr),
                    Some(json!({"label": "race", "proof": proof})),
                )
                .await;
            let prop = id_of(&r);
            let (a, b) = tokio::join!(
                decide(&app, &admin2, &prop, "approve", PASSWORD),
                decide(&app, &admin3, &prop, "approve", PASSWORD),
            );
            let mut statuses = [a.status, b.status];
            statuses.sort();
            assert_eq!(
                statuses,
                [StatusCode::OK, StatusCode::CONFLICT],
                "{:?} / {:?}",
                a.body,
                b.body
            );
        }
        let ses = app
            .call("GET", "/api/secure-elements", Some(&admin), None)
            .await;
        assert_eq!(
            ses.body.as_array().unwrap().len(),
            5,
            "each SE registered once"
        );
        let registered = audit::query(
            app.db.conn(),
            audit::Filter {
                action: Some("se.registered".into()),
                ..Default::default()
            },
        )
        .await
        .unwrap();
        assert_eq!(registered.len(), 5);
        app.db.verify_audit().await.unwrap();
    })
    .await;
}

#[tokio::test]
async fn an_approved_case_carries_the_roster_the_hsm_signed_for_it() {
    on_both(|app| async move {
        let f = case_fixture(&app).await;
        let case = app.db.case(&f.case_id).await.unwrap().unwrap();
        let roster =
            contracts::CaseRoster::from_bytes(&case.roster.expect("a signed roster")).unwrap();
        // Signed by the offline HSM's envelope key (what the clients pin), for this case.
        let id = contracts::Id::parse(&f.case_id).unwrap();
        roster
            .verify_for(&id, &crate::common::hsm().envelope_public_key())
            .unwrap();
        // Slot i is the SE the proposal named for share i, with its registered key.
        for (i, se_id) in f.ses.iter().enumerate() {
            let se = app.db.secure_element(se_id).await.unwrap().unwrap();
            let key = p256::PublicKey::from_sec1_bytes(&se.identity_public_key).unwrap();
            assert!(roster.holds(i as u16, &se.serial, &key), "slot {i}");
            assert_eq!(roster.slots[i].se_serial, format!("SE-000{i}"));
        }
    })
    .await;
}

#[tokio::test]
async fn vendor_evidence_the_deployment_cannot_verify_is_refused_and_changes_nothing() {
    on_both(|app| async move {
        let (_, manager) = app.signed_in("manager0", Role::CaseManager).await;
        let key = SoftSigner(p256::ecdsa::SigningKey::random(&mut rand_core::OsRng));
        let text = app.enrolment_proof(&manager, &key, "SE-VENDOR").await;
        let mut proof = channel::EnrolmentProof::from_text(&text).unwrap();
        proof.vendor_evidence = b"a vendor certificate chain".to_vec();
        let before = app.snapshot().await;
        let r = app
            .call(
                "POST",
                "/api/me/se-enrolment",
                Some(&manager),
                Some(json!({"label": "vendor SE", "proof": proof.to_text().unwrap()})),
            )
            .await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{:?}", r.body);
        assert!(
            r.body.to_string().contains("checks possession only"),
            "{:?}",
            r.body
        );
        assert_eq!(app.snapshot().await, before);
        // Without the evidence the same proof (its challenge unused) is proposed.
        let r = app
            .call(
                "POST",
                "/api/me/se-enrolment",
                Some(&manager),
                Some(json!({"label": "vendor SE", "proof": text})),
            )
            .await;
        assert_eq!(r.status, StatusCode::ACCEPTED, "{:?}", r.body);
    })
    .await;
}
