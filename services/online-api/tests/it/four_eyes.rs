//! Four-eyes in the online zone (issue 15), on SQLite and PostgreSQL: one administrator alone
//! cannot grant a role or an account, raise a limit, turn maker-checker off or add an
//! allow-list entry — the change becomes a proposal and nothing applies; every refused decision
//! (own proposal, wrong password, expired, already decided) changes nothing; a second
//! administrator's approval applies it exactly once, also when two approve at the same time.
//! Lowering a limit and revoking apply at once; exporting and approving a transfer need the
//! password.

use std::collections::BTreeMap;
use std::time::Duration;

use poem::http::StatusCode;
use serde_json::{json, Value};

use crate::common::*;

/// Tables whose rows are the proposals' and the throttle's own bookkeeping.
const BOOKKEEPING: [&str; 3] = ["proposals", "sign_in_throttle", "login_attempts"];

/// What a refusal must leave alone: every table's row count (but the bookkeeping's) and the
/// operation log's head.
#[derive(Debug, PartialEq, Eq)]
struct Snapshot {
    counts: BTreeMap<String, i64>,
    head: (i64, String),
}

async fn snapshot(w: &World) -> Snapshot {
    let mut counts = testkit::db::table_counts(w.db.conn()).await.unwrap();
    for t in BOOKKEEPING {
        counts.remove(t);
    }
    Snapshot {
        counts,
        head: head(w).await,
    }
}

/// The operation log's last (seq, hash).
async fn head(w: &World) -> (i64, String) {
    use sea_orm::{ConnectionTrait, Statement};
    let conn = w.db.conn();
    let row = conn
        .query_one_raw(Statement::from_string(
            conn.get_database_backend(),
            "SELECT seq, hash FROM operation_log ORDER BY seq DESC LIMIT 1".to_owned(),
        ))
        .await
        .unwrap()
        .unwrap();
    (
        row.try_get::<i64>("", "seq").unwrap(),
        row.try_get::<String>("", "hash").unwrap(),
    )
}

/// The operation-log records after `seq`, as (actor, action, details).
async fn records_after(w: &World, seq: i64) -> Vec<(String, String, Value)> {
    use sea_orm::{ConnectionTrait, Statement};
    let conn = w.db.conn();
    conn.query_all_raw(Statement::from_string(
        conn.get_database_backend(),
        format!("SELECT actor, action, details FROM operation_log WHERE seq > {seq} ORDER BY seq"),
    ))
    .await
    .unwrap()
    .into_iter()
    .map(|r| {
        let details: Value = r.try_get("", "details").unwrap();
        (
            r.try_get("", "actor").unwrap(),
            r.try_get("", "action").unwrap(),
            details,
        )
    })
    .collect()
}

async fn new_user(w: &World, name: &str) -> String {
    let hash = w.db.user_by_username("admin").await.unwrap().unwrap();
    w.db.create_user(
        online_db::NewUser {
            username: name.to_owned(),
            display_name: name.to_owned(),
            password_hash: hash.password_hash,
        },
        "test-setup",
        now(),
    )
    .await
    .unwrap()
    .id
}

async fn user_id(w: &World, name: &str) -> String {
    w.db.user_by_username(name).await.unwrap().unwrap().id
}

async fn decide(w: &World, id: &str, verb: &str, who: &Session, password: &str) -> Reply {
    w.call(
        "POST",
        &format!("/api/proposals/{id}/{verb}"),
        Some(who),
        Some(json!({"password": password})),
    )
    .await
}

/// One sensitive change: how to ask for it, and whether it took effect.
struct Case {
    name: &'static str,
    method: &'static str,
    path: String,
    body: Value,
    kind: &'static str,
}

async fn applied(w: &World, case: &Case) -> bool {
    let account = w.account_id.as_str();
    match case.name {
        "grant trader" => {
            let id = user_id(w, "puppet_trader").await;
            w.db.user(&id).await.unwrap().unwrap().role == online_db::Role::Trader
        }
        "grant admin" => {
            let id = user_id(w, "puppet_admin").await;
            w.db.user(&id).await.unwrap().unwrap().role == online_db::Role::Admin
        }
        "grant account" => {
            w.db.may_use(account, &user_id(w, "outsider").await)
                .await
                .unwrap()
        }
        "raise limit" => {
            let p =
                w.db.policy(account, &online_db::Asset::Eth)
                    .await
                    .unwrap()
                    .unwrap();
            p.single_limit == (15 * ETHER).to_string()
        }
        "maker-checker off" => {
            let p =
                w.db.policy(account, &online_db::Asset::Eth)
                    .await
                    .unwrap()
                    .unwrap();
            !p.require_approval
        }
        "allow-list" => {
            w.db.allowed_destinations(account)
                .await
                .unwrap()
                .iter()
                .any(|d| d.address == dev_address(7).to_checksum())
        }
        other => panic!("unknown case {other}"),
    }
}

fn cases(w: &World, puppet_trader: &str, puppet_admin: &str, outsider: &str) -> Vec<Case> {
    let account = &w.account_id;
    vec![
        Case {
            name: "grant trader",
            method: "PUT",
            path: format!("/api/users/{puppet_trader}/role"),
            body: json!({"role": "trader"}),
            kind: "user.grant_role",
        },
        Case {
            name: "grant admin",
            method: "PUT",
            path: format!("/api/users/{puppet_admin}/role"),
            body: json!({"role": "admin"}),
            kind: "user.grant_role",
        },
        Case {
            name: "grant account",
            method: "POST",
            path: format!("/api/accounts/{account}/grants"),
            body: json!({"user_id": outsider}),
            kind: "account.grant",
        },
        Case {
            name: "raise limit",
            method: "PUT",
            path: format!("/api/accounts/{account}/policies"),
            body: json!({"asset": "ETH", "single_limit": (15 * ETHER).to_string(),
                "daily_limit": (20 * ETHER).to_string(), "require_approval": true}),
            kind: "policy.raise",
        },
        Case {
            name: "maker-checker off",
            method: "PUT",
            path: format!("/api/accounts/{account}/policies"),
            body: json!({"asset": "ETH", "single_limit": (15 * ETHER).to_string(),
                "daily_limit": (20 * ETHER).to_string(), "require_approval": false}),
            kind: "policy.raise",
        },
        Case {
            name: "allow-list",
            method: "POST",
            path: format!("/api/accounts/{account}/destinations"),
            body: json!({"address": dev_address(7).to_checksum(), "label": "cold wallet"}),
            kind: "destination.add",
        },
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_admin_alone_changes_nothing_and_a_second_admin_applies_each_change_once() {
    on_both(|w: World| async move {
        let puppet_trader = new_user(&w, "puppet_trader").await;
        let puppet_admin = new_user(&w, "puppet_admin").await;
        let outsider = user_id(&w, "outsider").await;
        // Turning maker-checker on tightens: it applies at once.
        let r = w
            .call(
                "PUT",
                &format!("/api/accounts/{}/policies", w.account_id),
                Some(&w.admin),
                Some(
                    json!({"asset": "ETH", "single_limit": (10 * ETHER).to_string(),
                    "daily_limit": (20 * ETHER).to_string(), "require_approval": true,
                    "password": PASSWORD}),
                ),
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        assert_eq!(r.body["require_approval"], true);

        for case in cases(&w, &puppet_trader, &puppet_admin, &outsider) {
            let name = case.name;
            assert!(!applied(&w, &case).await, "{name}: applied before");
            // Without the password: refused, nothing stored.
            let before = snapshot(&w).await;
            let r = w
                .call(
                    case.method,
                    &case.path,
                    Some(&w.admin),
                    Some(case.body.clone()),
                )
                .await;
            assert!(r.status.is_client_error(), "{name}: {}", r.body);
            assert_eq!(snapshot(&w).await, before, "{name}: no password");

            // The first administrator proposes: 202, nothing applies.
            let mut body = case.body.clone();
            body["password"] = json!(PASSWORD);
            let r = w
                .call(case.method, &case.path, Some(&w.admin), Some(body.clone()))
                .await;
            assert_eq!(r.status, StatusCode::ACCEPTED, "{name}: {}", r.body);
            assert_eq!(r.body["status"], "PENDING", "{name}");
            assert_eq!(r.body["kind"], case.kind, "{name}");
            assert_eq!(r.body["proposed_by_name"], "admin", "{name}");
            assert_eq!(r.body["can_cancel"], true, "{name}");
            assert_eq!(r.body["can_decide"], false, "{name}");
            let id = r.body["id"].as_str().unwrap().to_owned();
            assert!(!applied(&w, &case).await, "{name}: applied by one admin");
            let proposed = records_after(&w, before.head.0).await;
            assert_eq!(proposed.len(), 1, "{name}: {proposed:?}");
            assert_eq!(proposed[0].1, "proposal.created", "{name}");
            assert_eq!(proposed[0].2["kind"], case.kind, "{name}");

            // The same change again while it waits: refused.
            let again = snapshot(&w).await;
            let r = w
                .call(case.method, &case.path, Some(&w.admin), Some(body))
                .await;
            assert_eq!(r.status, StatusCode::CONFLICT, "{name}: {}", r.body);
            assert_eq!(snapshot(&w).await, again, "{name}: duplicate");

            // The second administrator sees it and may decide it.
            let list = w
                .call("GET", "/api/proposals?pending=true", Some(&w.admin2), None)
                .await;
            let mine = list
                .ok()
                .as_array()
                .unwrap()
                .iter()
                .find(|p| p["id"] == id.as_str())
                .cloned()
                .unwrap();
            assert_eq!(mine["can_decide"], true, "{name}");
            assert_eq!(mine["can_cancel"], false, "{name}");

            // Self-approval: 403, nothing changes.
            let pending = snapshot(&w).await;
            let r = decide(&w, &id, "approve", &w.admin, PASSWORD).await;
            assert_eq!(r.status, StatusCode::FORBIDDEN, "{name}: {}", r.body);
            assert_eq!(r.problem(), "own-proposal", "{name}");
            assert_eq!(snapshot(&w).await, pending, "{name}: self-approval");
            let r = decide(&w, &id, "reject", &w.admin, PASSWORD).await;
            assert_eq!(r.problem(), "own-proposal", "{name}");
            assert_eq!(snapshot(&w).await, pending, "{name}: self-rejection");

            // Wrong password: refused; only the failed sign-in is recorded.
            let r = decide(&w, &id, "approve", &w.admin2, "not the password at all").await;
            assert_eq!(r.status, StatusCode::FORBIDDEN, "{name}: {}", r.body);
            assert_eq!(r.problem(), "reauthentication-failed", "{name}");
            assert!(
                !applied(&w, &case).await,
                "{name}: applied on a wrong password"
            );
            let after = snapshot(&w).await;
            assert_eq!(
                after.counts.get("operation_log").copied(),
                pending.counts.get("operation_log").map(|n| n + 1)
            );
            let mut counts = after.counts.clone();
            counts.insert("operation_log".to_owned(), pending.counts["operation_log"]);
            assert_eq!(counts, pending.counts, "{name}: wrong password");
            let failed = records_after(&w, pending.head.0).await;
            assert_eq!(failed.len(), 1, "{name}: {failed:?}");
            assert_eq!(failed[0].1, "auth.reauth_failed", "{name}");
            assert!(w.db.proposal(&id).await.unwrap().status == "PENDING");

            // The second administrator approves: it applies, once.
            let before_approval = snapshot(&w).await;
            let r = decide(&w, &id, "approve", &w.admin2, PASSWORD).await;
            assert_eq!(r.status, StatusCode::OK, "{name}: {}", r.body);
            assert_eq!(r.body["status"], "APPROVED", "{name}");
            assert_eq!(r.body["decided_by"], w.admin2_id.as_str(), "{name}");
            assert_eq!(r.body["decided_by_name"], "admin2", "{name}");
            assert!(applied(&w, &case).await, "{name}: not applied");
            let records = records_after(&w, before_approval.head.0).await;
            assert_eq!(records.len(), 2, "{name}: {records:?}");
            assert_eq!(records[1].0, w.admin2_id, "{name}");
            assert_eq!(records[1].1, "proposal.approved", "{name}");
            assert_eq!(records[1].2["proposed_by"], w.admin_id.as_str(), "{name}");
            assert_eq!(records[1].2["decided_by"], w.admin2_id.as_str(), "{name}");

            // A second approval: 409, nothing changes.
            let done = snapshot(&w).await;
            let r = decide(&w, &id, "approve", &w.admin2, PASSWORD).await;
            assert_eq!(r.status, StatusCode::CONFLICT, "{name}: {}", r.body);
            assert_eq!(r.problem(), "proposal-decided", "{name}");
            assert_eq!(snapshot(&w).await, done, "{name}: second approval");
        }
        // Every chain still verifies.
        for chain in online_db::CHAINS {
            let report = audit::verify_chain(w.db.conn(), chain).await.unwrap();
            assert!(report.is_intact(), "{chain:?}: {report:?}");
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expired_rejected_and_withdrawn_proposals_change_nothing() {
    on_both(|w: World| async move {
        let puppet = new_user(&w, "puppet_trader").await;
        let propose = || async {
            let r = w
                .call(
                    "PUT",
                    &format!("/api/users/{puppet}/role"),
                    Some(&w.admin),
                    Some(json!({"role": "trader", "password": PASSWORD})),
                )
                .await;
            assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.body);
            r.body["id"].as_str().unwrap().to_owned()
        };
        let role = || async { w.db.user(&puppet).await.unwrap().unwrap().role };

        // Rejected by the second administrator: nothing applies; it cannot be approved after.
        let id = propose().await;
        let r = decide(&w, &id, "reject", &w.admin2, PASSWORD).await;
        assert_eq!(r.ok()["status"], "REJECTED");
        let rejected = snapshot(&w).await;
        let r = decide(&w, &id, "approve", &w.admin2, PASSWORD).await;
        assert_eq!(r.problem(), "proposal-decided", "{}", r.body);
        assert_eq!(snapshot(&w).await, rejected);
        assert_eq!(role().await, online_db::Role::Unassigned);

        // Withdrawn: only by its proposer.
        let id = propose().await;
        let before = snapshot(&w).await;
        let r = w
            .call(
                "POST",
                &format!("/api/proposals/{id}/cancel"),
                Some(&w.admin2),
                None,
            )
            .await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.body);
        assert_eq!(r.problem(), "not-your-proposal");
        assert_eq!(snapshot(&w).await, before);
        let r = w
            .call(
                "POST",
                &format!("/api/proposals/{id}/cancel"),
                Some(&w.admin),
                None,
            )
            .await;
        assert_eq!(r.ok()["status"], "CANCELLED");
        assert_eq!(role().await, online_db::Role::Unassigned);

        // Expired: 409, nothing changes.
        let id = propose().await;
        w.clock.advance(Duration::from_secs(25 * 3600));
        let admin2 = w.login_bearer("admin2").await;
        let list = w
            .call("GET", "/api/proposals?pending=true", Some(&admin2), None)
            .await;
        let shown = list
            .ok()
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["id"] == id.as_str())
            .cloned()
            .unwrap();
        assert_eq!(shown["status"], "EXPIRED");
        assert_eq!(shown["can_decide"], false);
        let before = snapshot(&w).await;
        let r = decide(&w, &id, "approve", &admin2, PASSWORD).await;
        assert_eq!(r.status, StatusCode::CONFLICT, "{}", r.body);
        assert_eq!(r.problem(), "proposal-expired");
        assert_eq!(snapshot(&w).await, before);
        assert_eq!(role().await, online_db::Role::Unassigned);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn of_two_concurrent_approvals_exactly_one_wins() {
    on_both(|w: World| async move {
        let third = new_user(&w, "admin3").await;
        w.db.set_role(&third, online_db::Role::Admin, "test-setup", now())
            .await
            .unwrap();
        let admin3 = w.login_bearer("admin3").await;
        let r = w
            .call(
                "POST",
                &format!("/api/accounts/{}/destinations", w.account_id),
                Some(&w.admin),
                Some(
                    json!({"address": dev_address(7).to_checksum(), "label": "cold",
                    "password": PASSWORD}),
                ),
            )
            .await;
        assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.body);
        let id = r.body["id"].as_str().unwrap().to_owned();
        let (a, b) = tokio::join!(
            decide(&w, &id, "approve", &w.admin2, PASSWORD),
            decide(&w, &id, "approve", &admin3, PASSWORD),
        );
        let mut statuses = [a.status, b.status];
        statuses.sort();
        assert_eq!(
            statuses,
            [StatusCode::OK, StatusCode::CONFLICT],
            "{} / {}",
            a.body,
            b.body
        );
        let listed = w.db.allowed_destinations(&w.account_id).await.unwrap();
        assert_eq!(listed.len(), 1);
        let approvals = records_after(&w, 0)
            .await
            .into_iter()
            .filter(|(_, action, d)| {
                action == "proposal.approved" && d["proposal_id"] == id.as_str()
            })
            .count();
        assert_eq!(approvals, 1);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lowering_a_limit_and_revoking_apply_at_once() {
    on_both(|w: World| async move {
        let before = w.db.proposals(false, 100).await.unwrap().len();
        let r = w
            .call(
                "PUT",
                &format!("/api/accounts/{}/policies", w.account_id),
                Some(&w.admin),
                Some(json!({"asset": "ETH", "single_limit": ETHER.to_string(),
                    "daily_limit": (2 * ETHER).to_string(), "require_approval": false,
                    "password": PASSWORD})),
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        assert_eq!(r.body["single_limit"], ETHER.to_string());
        let r = w
            .call(
                "PUT",
                &format!("/api/users/{}/role", w.trader2_id),
                Some(&w.admin),
                Some(json!({"role": "none", "password": PASSWORD})),
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        assert_eq!(r.body["role"], "none");
        assert_eq!(w.db.proposals(false, 100).await.unwrap().len(), before);
        // Even taking a role away needs the password.
        let r = w
            .call(
                "PUT",
                &format!("/api/users/{}/role", w.trader_id),
                Some(&w.admin),
                Some(json!({"role": "none", "password": "wrong wrong wrong"})),
            )
            .await;
        assert_eq!(r.problem(), "reauthentication-failed", "{}", r.body);
        assert_eq!(
            w.db.user(&w.trader_id).await.unwrap().unwrap().role,
            online_db::Role::Trader
        );
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exporting_and_approving_a_transfer_need_the_password() {
    on_both(|w: World| async move {
        w.set_policy("ETH", 10 * ETHER, 20 * ETHER, true).await;
        let created = w
            .create(&w.trader, "ETH", &dev_address(PAYEE).to_checksum(), ETHER)
            .await;
        let id = created.ok()["id"].as_str().unwrap().to_owned();
        for verb in ["approve", "export"] {
            let who = if verb == "approve" {
                &w.trader2
            } else {
                &w.trader
            };
            let before = snapshot(&w).await;
            for body in [
                None,
                Some(json!({})),
                Some(json!({"password": "wrong wrong wrong"})),
            ] {
                let r = w
                    .call(
                        "POST",
                        &format!("/api/transfers/{id}/{verb}"),
                        Some(who),
                        body.clone(),
                    )
                    .await;
                assert!(r.status.is_client_error(), "{verb} {body:?}: {}", r.body);
                if body.as_ref().is_some_and(|b| b.get("password").is_some()) {
                    assert_eq!(r.problem(), "reauthentication-failed", "{verb}");
                }
            }
            let after = snapshot(&w).await;
            assert_eq!(
                after.counts.get("transfers"),
                before.counts.get("transfers")
            );
            let t = w.db.transfer(&id).await.unwrap().unwrap();
            assert_eq!(t.status, online_db::TransferStatus::Draft, "{verb}");
            assert_eq!(t.approved_by.is_none(), verb == "approve", "{verb}");
            let r = w
                .call(
                    "POST",
                    &format!("/api/transfers/{id}/{verb}"),
                    Some(who),
                    Some(json!({"password": PASSWORD})),
                )
                .await;
            r.ok();
        }
        let t = w.db.transfer(&id).await.unwrap().unwrap();
        assert_eq!(t.status, online_db::TransferStatus::Exported);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_command_line_bootstraps_only_the_first_two_administrators() {
    on_both(|w: World| async move {
        // The world has two active administrators already.
        let before = snapshot(&w).await;
        let r = online_api::create_admin(
            w.tdb.url(),
            w.db.sealer().clone(),
            "admin3",
            "Third administrator",
            secrecy::SecretString::from(PASSWORD.to_owned()),
        )
        .await;
        let e = r.unwrap_err();
        assert!(matches!(e, online_api::Error::BootstrapOver(2)), "{e}");
        assert!(e.to_string().contains("second administrator"), "{e}");
        assert_eq!(snapshot(&w).await, before);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nobody_approves_a_change_of_their_own_role() {
    on_both(|w: World| async move {
        // admin proposes to make admin2 an auditor; admin2 may not approve it for themselves.
        let r = w
            .call(
                "PUT",
                &format!("/api/users/{}/role", w.admin2_id),
                Some(&w.admin),
                Some(json!({"role": "auditor", "password": PASSWORD})),
            )
            .await;
        assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.body);
        let id = r.body["id"].as_str().unwrap().to_owned();
        let before = snapshot(&w).await;
        let r = decide(&w, &id, "approve", &w.admin2, PASSWORD).await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.body);
        assert_eq!(r.problem(), "second-person-required", "{}", r.body);
        assert_eq!(snapshot(&w).await, before);
        assert_eq!(w.db.proposal(&id).await.unwrap().status, "PENDING");
        // Rejecting it is allowed.
        let r = decide(&w, &id, "reject", &w.admin2, PASSWORD).await;
        assert_eq!(r.ok()["status"], "REJECTED");
        assert_eq!(
            w.db.user(&w.admin2_id).await.unwrap().unwrap().role,
            online_db::Role::Admin
        );
    })
    .await;
}
