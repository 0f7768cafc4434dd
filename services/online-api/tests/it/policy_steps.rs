//! Policy at every step (issue 15): a transfer whose limit was lowered, whose destination left
//! the allow-list, or whose balance (read from anvil) no longer covers it after drafting is
//! refused at export; after export, its signature response is refused at import and nothing is
//! queued for broadcast.

use poem::http::StatusCode;
use serde_json::json;

use crate::common::*;

/// A change after drafting (or after export) that the transfer no longer passes.
#[derive(Clone, Copy, Debug)]
enum Change {
    LowerLimit,
    LeaveAllowList,
    SpendBalance,
}

const CHANGES: [Change; 3] = [
    Change::LowerLimit,
    Change::LeaveAllowList,
    Change::SpendBalance,
];

/// What each transfer of these tests moves.
const AMOUNT: u128 = ETHER;
/// The custody account's ether on anvil at the start.
const START_BALANCE: u128 = 10_000 * ETHER;

impl Change {
    /// Make the change; returns words the refusal names.
    async fn apply(self, w: &World) -> &'static str {
        match self {
            Change::LowerLimit => {
                w.set_policy("ETH", AMOUNT - 1, 20 * ETHER, false).await;
                "single-transfer limit"
            }
            Change::LeaveAllowList => {
                w.db.remove_destination(&w.account_id, &dev_address(PAYEE), "test-setup", now())
                    .await
                    .unwrap();
                "allow-list"
            }
            Change::SpendBalance => {
                // The funds moved away on chain: less than the amount is left.
                w.anvil
                    .set_balance(&dev_address(CUSTODY).to_checksum(), AMOUNT / 2)
                    .unwrap();
                "wei"
            }
        }
    }

    /// Undo it.
    async fn undo(self, w: &World) {
        match self {
            Change::LowerLimit => w.set_policy("ETH", 10 * ETHER, 20 * ETHER, false).await,
            Change::LeaveAllowList => allow(w, dev_address(PAYEE)).await,
            Change::SpendBalance => w
                .anvil
                .set_balance(&dev_address(CUSTODY).to_checksum(), START_BALANCE)
                .unwrap(),
        }
    }
}

async fn allow(w: &World, to: contracts::EthAddress) {
    w.admin_change(
        "POST",
        &format!("/api/accounts/{}/destinations", w.account_id),
        json!({"address": to.to_checksum(), "label": "listed"}),
    )
    .await
    .ok();
}

async fn transfer(w: &World, id: &str) -> serde_json::Value {
    w.call(
        "GET",
        &format!("/api/transfers/{id}"),
        Some(&w.trader),
        None,
    )
    .await
    .ok()
    .clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_draft_that_no_longer_passes_is_refused_at_export_and_stays_a_draft() {
    on_both(|w: World| async move {
        w.anvil
            .set_balance(&dev_address(CUSTODY).to_checksum(), START_BALANCE)
            .unwrap();
        allow(&w, dev_address(PAYEE)).await;
        allow(&w, dev_address(7)).await;
        for change in CHANGES {
            let created = w
                .create(&w.trader, "ETH", &dev_address(PAYEE).to_checksum(), AMOUNT)
                .await;
            let id = created.ok()["id"].as_str().unwrap().to_owned();
            let words = change.apply(&w).await;
            let before = w.counts().await;
            let r = w
                .call(
                    "POST",
                    &format!("/api/transfers/{id}/export"),
                    Some(&w.trader),
                    Some(json!({"password": PASSWORD})),
                )
                .await;
            assert_eq!(
                r.status,
                StatusCode::UNPROCESSABLE_ENTITY,
                "{change:?}: {}",
                r.body
            );
            assert_eq!(r.problem(), "policy-violation", "{change:?}: {}", r.body);
            let detail = r.body["detail"].as_str().unwrap();
            assert!(
                detail.contains("at export") && detail.contains(words),
                "{change:?}: {detail}"
            );
            assert_eq!(
                w.counts().await,
                before,
                "{change:?}: the refusal wrote something"
            );
            let t = transfer(&w, &id).await;
            assert_eq!(t["status"], "DRAFT", "{change:?}");
            assert!(t["request_id"].is_null(), "{change:?}");
            // Undone, the same draft exports.
            change.undo(&w).await;
            let r = w
                .call(
                    "POST",
                    &format!("/api/transfers/{id}/export"),
                    Some(&w.trader),
                    Some(json!({"password": PASSWORD})),
                )
                .await;
            assert_eq!(r.ok()["transfer"]["status"], "EXPORTED", "{change:?}");
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_response_for_a_transfer_that_no_longer_passes_is_refused_and_nothing_is_queued() {
    on_both(|w: World| async move {
        w.anvil
            .set_balance(&dev_address(CUSTODY).to_checksum(), START_BALANCE)
            .unwrap();
        allow(&w, dev_address(PAYEE)).await;
        allow(&w, dev_address(7)).await;
        let nonce = w.chain.next_nonce(dev_address(CUSTODY)).await.unwrap();
        for change in CHANGES {
            let (id, request) = w.exported("ETH", dev_address(PAYEE), AMOUNT).await;
            let (_, response) = w.offline_sign(&request, &case_key(), &offline_hsm());
            let words = change.apply(&w).await;
            let before = w.counts().await;
            let r = w.import(&response).await;
            assert_eq!(
                r.status,
                StatusCode::UNPROCESSABLE_ENTITY,
                "{change:?}: {}",
                r.body
            );
            assert_eq!(r.problem(), "policy-violation", "{change:?}: {}", r.body);
            let detail = r.body["detail"].as_str().unwrap();
            assert!(
                detail.contains("at signature import") && detail.contains(words),
                "{change:?}: {detail}"
            );
            // What the refusal writes, and only that: the transfer FAILED, one record in each
            // log; no imported response, no outbox row (nothing to broadcast).
            assert_eq!(
                w.counts().await,
                before
                    .plus("operation_log", 1)
                    .plus("transaction_log", 1)
                    .status(&id, "FAILED"),
                "{change:?}"
            );
            let t = transfer(&w, &id).await;
            assert_eq!(t["status"], "FAILED", "{change:?}");
            assert!(t["tx_hash"].is_null(), "{change:?}");
            assert!(
                t["error"].as_str().unwrap().contains(words),
                "{change:?}: {}",
                t["error"]
            );
            // The same response once the change is undone: still refused, nothing written.
            change.undo(&w).await;
            let before = w.counts().await;
            let r = w.import(&response).await;
            assert!(!r.status.is_success(), "{change:?}: {}", r.body);
            assert_eq!(w.counts().await, before, "{change:?}");
        }
        // Nothing reached the chain: the account's nonce is untouched.
        assert_eq!(
            w.chain.next_nonce(dev_address(CUSTODY)).await.unwrap(),
            nonce
        );
        // A transfer that still passes is accepted and queued (the checks are not blanket).
        let (id, request) = w.exported("ETH", dev_address(PAYEE), AMOUNT).await;
        let (_, response) = w.offline_sign(&request, &case_key(), &offline_hsm());
        let before = w.counts().await;
        let r = w.import(&response).await;
        assert_eq!(r.ok()["status"], "SIGNED");
        assert_eq!(
            w.counts().await,
            before
                .plus("operation_log", 1)
                .plus("transaction_log", 1)
                .plus("imported_responses", 1)
                .plus("outbox", 1)
                .status(&id, "SIGNED")
        );
    })
    .await;
}
