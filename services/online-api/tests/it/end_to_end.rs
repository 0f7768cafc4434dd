//! The whole online path against anvil, a private RabbitMQ and the real chain worker, on
//! SQLite and PostgreSQL: an account from a manifest → an ETH and an ERC-20 transfer built,
//! exported, signed by the stand-in case key through the same envelope code, imported →
//! broadcast → confirmed, and the balances change by exactly the amounts and fees. Then the
//! broker is stopped while a signature is imported: the transfer is broadcast once when it is
//! back.

use std::time::Duration;

use alloy_primitives::U256;
use contracts::Amount;
use serde_json::Value;
use testkit::anvil::AnvilOptions;
use testkit::db::TestDb;
use testkit::rabbitmq::RabbitMq;

use crate::common::*;

/// The chain worker, running until stopped.
struct Worker {
    stop: tokio::sync::oneshot::Sender<()>,
    task: tokio::task::JoinHandle<Result<(), chain_worker::Error>>,
}

impl Worker {
    fn start(w: &World, broker: &RabbitMq) -> Worker {
        let config = chain_worker::Config {
            confirmations: 2,
            poll_interval: Duration::from_millis(100),
            trackers: 2,
            redeclare_interval: Duration::from_secs(1),
            ..chain_worker::Config::new(
                w.tdb.url(),
                w.db.sealer().clone(),
                broker.url(),
                w.anvil.url(),
                w.anvil.chain_id(),
            )
        };
        let (stop, rx) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(chain_worker::run(config, async {
            let _ = rx.await;
        }));
        Worker { stop, task }
    }

    async fn stop(self) {
        let _ = self.stop.send(());
        self.task.await.unwrap().unwrap();
    }
}

/// Wait until the transfer (as the API shows it to the trader) has `status`.
async fn until_status(w: &World, id: &str, status: &str, secs: u64) -> Value {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
    loop {
        let t = w
            .call(
                "GET",
                &format!("/api/transfers/{id}"),
                Some(&w.trader),
                None,
            )
            .await;
        let body = t.ok().clone();
        if body["status"] == status {
            return body;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "transfer {id} is {} after {secs} s, not {status}: {body}",
            body["status"]
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// The fee a mined transaction paid: gas used × effective gas price.
fn fee_of(w: &World, tx_hash: &str) -> U256 {
    let receipt = w
        .anvil
        .rpc("eth_getTransactionReceipt", serde_json::json!([tx_hash]))
        .unwrap();
    let hex =
        |v: &Value| U256::from_str_radix(v.as_str().unwrap().trim_start_matches("0x"), 16).unwrap();
    hex(&receipt["gasUsed"]) * hex(&receipt["effectiveGasPrice"])
}

async fn balances(w: &World, who: usize) -> (U256, U256) {
    let b = w
        .chain
        .balances(dev_address(who), &[chain::TokenAddress(w.token)])
        .await
        .unwrap();
    (b.eth.0, b.tokens[0].amount.0)
}

fn every_second() -> AnvilOptions {
    AnvilOptions {
        block_time_secs: Some(1),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn eth_and_token_transfers_go_from_manifest_to_confirmed_and_balances_change_exactly() {
    for tdb in TestDb::both().await.unwrap() {
        eprintln!("--- on {}", tdb.kind());
        let w = World::with_anvil(tdb, every_second()).await;
        let broker = RabbitMq::start().unwrap();
        let worker = Worker::start(&w, &broker);
        let (custody_before, payee_before) =
            (balances(&w, CUSTODY).await, balances(&w, PAYEE).await);
        let eth_amount = 3 * ETHER / 2;
        let token_amount: u128 = 1_234_500_000; // 1,234.5 TUSD

        // Build and export both; the offline zone (stand-in) signs each request it verified.
        let (eth_id, eth_request) = w.exported("ETH", dev_address(PAYEE), eth_amount).await;
        let (token_id, token_request) = w
            .exported(&w.token.to_checksum(), dev_address(PAYEE), token_amount)
            .await;
        let (eth_req, eth_response) = w.offline_sign(&eth_request, &case_key(), &offline_hsm());
        assert_eq!(eth_req.summary.asset_symbol, "ETH");
        assert_eq!(eth_req.summary.amount, Amount::from(eth_amount));
        let (request, token_response) = w.offline_sign(&token_request, &case_key(), &offline_hsm());
        assert_eq!(request.summary.asset_symbol, "TUSD");
        assert_eq!(request.summary.decimals, TOKEN_DECIMALS);
        assert_eq!(request.summary.recipient, dev_address(PAYEE));
        // The second transfer's nonce counts the first, still in flight.
        assert_eq!(request.transaction.nonce, eth_req.transaction.nonce + 1);

        // Import → SIGNED (the broadcast is queued) → BROADCAST → CONFIRMED.
        for response in [&eth_response, &token_response] {
            let imported = w.import(response).await;
            assert_eq!(imported.ok()["status"], "SIGNED");
        }
        let eth = until_status(&w, &eth_id, "CONFIRMED", 90).await;
        let token = until_status(&w, &token_id, "CONFIRMED", 90).await;

        // Exactly the amounts arrived; the custody account paid them and the two fees.
        let eth_fee = fee_of(&w, eth["tx_hash"].as_str().unwrap());
        let token_fee = fee_of(&w, token["tx_hash"].as_str().unwrap());
        let (custody_after, payee_after) = (balances(&w, CUSTODY).await, balances(&w, PAYEE).await);
        assert_eq!(payee_after.0 - payee_before.0, U256::from(eth_amount));
        assert_eq!(payee_after.1 - payee_before.1, U256::from(token_amount));
        assert_eq!(
            custody_before.0 - custody_after.0,
            U256::from(eth_amount) + eth_fee + token_fee
        );
        assert_eq!(custody_before.1 - custody_after.1, U256::from(token_amount));

        // The API shows the same balances, read at one block.
        let shown = w
            .call(
                "GET",
                &format!("/api/accounts/{}/balances?fresh=true", w.account_id),
                Some(&w.trader),
                None,
            )
            .await;
        let shown = shown.ok();
        assert_eq!(shown["balances"][0]["amount"], custody_after.0.to_string());
        assert_eq!(shown["balances"][1]["symbol"], "TUSD");
        assert_eq!(shown["balances"][1]["amount"], custody_after.1.to_string());

        // The auditor sees every state change of the ETH transfer by its hash, in order.
        let log = w
            .call(
                "GET",
                &format!(
                    "/api/audit/logs/transactions?tx_hash={}",
                    eth["tx_hash"].as_str().unwrap()
                ),
                Some(&w.auditor),
                None,
            )
            .await;
        let actions: Vec<&str> = log
            .ok()
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["action"].as_str().unwrap())
            .filter(|a| *a != "transfer.confirmation_recorded")
            .collect();
        assert_eq!(
            actions,
            [
                "transfer.created",
                "transfer.exported",
                "transfer.signed",
                "transfer.broadcast",
                "transfer.confirmed"
            ]
        );
        let verify = w
            .call("GET", "/api/audit/verify", Some(&w.auditor), None)
            .await;
        assert_eq!(verify.ok()["intact"], true);
        worker.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_signature_imported_while_the_broker_is_down_is_broadcast_once_when_it_is_back() {
    for tdb in TestDb::both().await.unwrap() {
        eprintln!("--- on {}", tdb.kind());
        let w = World::with_anvil(tdb, every_second()).await;
        let mut broker = RabbitMq::start().unwrap();
        let worker = Worker::start(&w, &broker);
        let nonce = w.chain.next_nonce(dev_address(CUSTODY)).await.unwrap();
        let (id, request) = w.exported("ETH", dev_address(PAYEE), ETHER).await;
        let (_, response) = w.offline_sign(&request, &case_key(), &offline_hsm());
        // The worker is consuming before the broker goes down.
        tokio::time::sleep(Duration::from_secs(2)).await;

        broker.stop();
        let imported = w.import(&response).await;
        assert_eq!(
            imported.ok()["status"],
            "SIGNED",
            "the import does not need the broker"
        );
        tokio::time::sleep(Duration::from_secs(3)).await;
        let t = w
            .call(
                "GET",
                &format!("/api/transfers/{id}"),
                Some(&w.trader),
                None,
            )
            .await;
        assert_eq!(t.ok()["status"], "SIGNED", "nothing can be broadcast yet");
        let tx_hash = t.ok()["tx_hash"].as_str().unwrap().to_owned();
        let on_chain = w
            .anvil
            .rpc("eth_getTransactionByHash", serde_json::json!([tx_hash]))
            .unwrap();
        assert!(on_chain.is_null(), "{on_chain}");

        broker.restart().unwrap();
        until_status(&w, &id, "CONFIRMED", 120).await;
        // Sent once: the account's nonce moved by one, one broadcast record.
        assert_eq!(
            w.chain.next_nonce(dev_address(CUSTODY)).await.unwrap(),
            nonce + 1
        );
        let log = w
            .call(
                "GET",
                &format!(
                    "/api/audit/logs/transactions?tx_hash={tx_hash}&action=transfer.broadcast"
                ),
                Some(&w.auditor),
                None,
            )
            .await;
        assert_eq!(log.ok().as_array().unwrap().len(), 1);
        worker.stop().await;
    }
}
