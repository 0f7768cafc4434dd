//! The happy path and duplicate work: a signed transfer goes on chain once and is confirmed.

use std::time::Duration;

use alloy_primitives::U256;
use chain::TxStatus;
use contracts::subjects::online;
use contracts::Amount;
use online_db::entity::outbox;
use online_db::TransferStatus;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use testkit::anvil::AnvilOptions;

use crate::{both, fresh, Running, World};

fn every_second() -> AnvilOptions {
    AnvilOptions {
        block_time_secs: Some(1),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_signed_transfer_is_broadcast_and_confirmed_and_balances_change_by_amount_and_fee() {
    for tdb in both().await {
        let w = World::new(tdb, every_second()).await;
        let to = fresh(0x31);
        let amount = 1_234_567_890_000_u128;
        let p = w.prepare(to, amount).await;
        let nonce = w.chain.next_nonce(w.address()).await.unwrap();
        let before = w.balance(w.address()).await;
        let worker = Running::start(w.config());

        let t = w.attach(&p).await;
        let t = w.until_status(&t.id, TransferStatus::Confirmed, 60).await;

        // The recorded block is the one the chain has, with the confirmations asked for.
        let TxStatus::Confirmed(inclusion) = w.chain.status(p.tx_hash, 3, None).await.unwrap()
        else {
            panic!("the chain does not have the transfer confirmed");
        };
        assert_eq!(
            t.block_number,
            Some(i64::try_from(inclusion.block.number).unwrap())
        );
        assert_eq!(t.block_hash, Some(format!("{:#x}", inclusion.block.hash)));
        assert!(t.confirmations >= 3, "{}", t.confirmations);
        assert_eq!(t.error, None);

        // Exactly the amount arrived; the account paid the amount and the fee, once.
        assert_eq!(w.balance(to).await, Amount::from(amount));
        let after = w.balance(w.address()).await;
        assert_eq!(before.0 - after.0, U256::from(amount) + inclusion.fee_wei());
        assert_eq!(w.chain.next_nonce(w.address()).await.unwrap(), nonce + 1);

        // One transaction-log record per change, both events published, the logs intact.
        assert_eq!(w.records(&t.id, "transfer.broadcast").await.len(), 1);
        assert_eq!(w.records(&t.id, "transfer.confirmed").await.len(), 1);
        assert_eq!(w.unpublished().await, 0);
        w.assert_logs_intact().await;
        worker.stop().await;
    }
}

/// The dead-letter queue's messages once it holds at least `count`; fails after `wait`.
async fn dead_letters(mq: &mq::Mq, count: usize, wait: Duration) -> Vec<mq::DeadLetter> {
    let deadline = tokio::time::Instant::now() + wait;
    loop {
        let dead = mq
            .peek_dead_letters(online::DEAD_LETTER_QUEUE, 20)
            .await
            .unwrap();
        if dead.len() >= count {
            return dead;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{count} dead letters expected: {dead:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_work_delivered_again_changes_nothing() {
    for tdb in both().await {
        let w = World::new(tdb, every_second()).await;
        let to = fresh(0x32);
        let p = w.prepare(to, 5_000).await;
        let worker = Running::start(w.config());
        let t = w.attach(&p).await;
        let t = w.until_status(&t.id, TransferStatus::Confirmed, 60).await;
        let nonce = w.chain.next_nonce(w.address()).await.unwrap();
        let transaction_log = w.db.verify_logs().await.unwrap().transaction.records;

        // The broadcast event again, with its own message id and MAC: a lost confirm made the
        // relay publish it twice.
        let row = outbox::Entity::find()
            .filter(outbox::Column::RoutingKey.eq(online_db::routing_keys::BROADCAST))
            .one(w.db.conn())
            .await
            .unwrap()
            .unwrap();
        let mq = mq::Mq::connect(&w.broker.url(), mq::MqOptions::default())
            .await
            .unwrap();
        let entry = crate::entry_of(&row);
        mq.publish_entry(online::EXCHANGE, &entry).await.unwrap();
        mq.publish_entry(online::EXCHANGE, &entry).await.unwrap();
        // Then a sentinel without a MAC on the same queue. The consumer handles deliveries in
        // order, so once the sentinel is dead-lettered both copies were handled before it.
        let sentinel = events::OutboxEntry {
            message_id: "sentinel".into(),
            mac: None,
            ..entry.clone()
        };
        mq.publish_entry(online::EXCHANGE, &sentinel).await.unwrap();
        let dead = dead_letters(&mq, 1, Duration::from_secs(120)).await;
        // Both copies were acknowledged; only the sentinel was dead-lettered.
        tokio::time::sleep(Duration::from_millis(500)).await;
        let dead_now = mq
            .peek_dead_letters(online::DEAD_LETTER_QUEUE, 10)
            .await
            .unwrap();
        assert_eq!(dead_now.len(), 1, "{dead_now:?}");
        assert_eq!(dead[0].message_id.as_deref(), Some("sentinel"), "{dead:?}");
        assert_eq!(mq.ready_messages(online::BROADCAST_QUEUE).await.unwrap(), 0);

        assert_eq!(w.transfer(&t.id).await.status, TransferStatus::Confirmed);
        assert_eq!(w.chain.next_nonce(w.address()).await.unwrap(), nonce);
        assert_eq!(
            w.db.verify_logs().await.unwrap().transaction.records,
            transaction_log
        );
        assert_eq!(w.balance(to).await, Amount::from(5_000_u128));
        mq.close().await;
        worker.stop().await;
    }
}

/// Hand-made work on both routing keys the worker consumes — no MAC and naming an unknown
/// transfer, a genuine payload without its MAC, a real MAC of other content, a handled
/// message's id with altered content and its old MAC, a real message's bytes and MAC under a new
/// id or moved to the other key — changes nothing: no transaction is sent, every table's row
/// count and both logs stay the same, and each is dead-lettered with its reason.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forged_work_on_every_routing_key_changes_nothing_and_is_dead_lettered() {
    for tdb in both().await {
        let w = World::new(tdb, every_second()).await;
        let to = fresh(0x35);
        let p = w.prepare(to, 7_000).await;
        let worker = Running::start(w.config());
        let t = w.attach(&p).await;
        w.until_status(&t.id, TransferStatus::Confirmed, 60).await;
        // A second transfer, signed but kept from the worker: forged work names it.
        let idle = w.prepare(fresh(0x36), 8_000).await;
        let row = outbox::Entity::find()
            .filter(outbox::Column::RoutingKey.eq(online_db::routing_keys::BROADCAST))
            .one(w.db.conn())
            .await
            .unwrap()
            .unwrap();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        while w.unpublished().await > 0 {
            assert!(tokio::time::Instant::now() < deadline, "outbox not drained");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
        let before = testkit::db::table_counts(w.db.conn()).await.unwrap();
        let logs = w.db.verify_logs().await.unwrap();
        let nonce = w.chain.next_nonce(w.address()).await.unwrap();

        let mq = mq::Mq::connect(&w.broker.url(), mq::MqOptions::default())
            .await
            .unwrap();
        let genuine = crate::entry_of(&row);
        let sealed = |topic: &str, id: &str, payload: &[u8]| {
            events::seal_event(
                &testkit::hsm::shared_online_hsm().audit_mac_key(),
                &events::EventMacInput {
                    topic,
                    message_id: id,
                    content_type: &genuine.content_type,
                    schema: &genuine.schema,
                    payload,
                },
            )
            .unwrap()
        };
        let unknown = serde_json::json!({
            "transfer_id": "0190d9e4-8f2a-7c3b-9d1e-2f3a4b5c6d7e", "event_id": "forged-1", "at": 0,
        })
        .to_string()
        .into_bytes();
        let other = serde_json::json!({
            "transfer_id": idle.transfer.id, "event_id": "forged-3", "at": 0,
        })
        .to_string()
        .into_bytes();
        let forged = vec![
            // Valid shape, unknown transfer, no MAC (no outbox row produced it).
            events::OutboxEntry {
                message_id: "forged-1".into(),
                payload: unknown,
                mac: None,
                ..genuine.clone()
            },
            // A genuine payload without its MAC, on the other key.
            events::OutboxEntry {
                topic: online::TRACK_KEY.into(),
                message_id: "forged-2".into(),
                mac: None,
                ..genuine.clone()
            },
            // A real MAC, but of other content: the transfer kept from the worker.
            events::OutboxEntry {
                message_id: "forged-3".into(),
                payload: other.clone(),
                mac: Some(sealed(online::BROADCAST_KEY, "forged-3", b"{}")),
                ..genuine.clone()
            },
            // The handled message's id, with altered content and its old MAC.
            events::OutboxEntry {
                payload: other,
                ..genuine.clone()
            },
            // The real message's bytes and MAC under a new id.
            events::OutboxEntry {
                message_id: format!("{}-again", genuine.message_id),
                ..genuine.clone()
            },
            // The real message's bytes and MAC moved to the other key.
            events::OutboxEntry {
                topic: online::TRACK_KEY.into(),
                message_id: format!("{}-moved", genuine.message_id),
                ..genuine.clone()
            },
        ];
        for entry in &forged {
            mq.publish_entry(online::EXCHANGE, entry).await.unwrap();
        }
        // Every forged message reaches the dead-letter queue, with its reason.
        let dead = dead_letters(&mq, forged.len(), Duration::from_secs(30)).await;
        assert_eq!(dead.len(), forged.len(), "{dead:?}");
        for entry in &forged {
            let letter = dead
                .iter()
                .find(|d| {
                    d.message_id.as_deref() == Some(entry.message_id.as_str())
                        && d.routing_key == entry.topic
                })
                .unwrap_or_else(|| panic!("{} not dead-lettered: {dead:?}", entry.message_id));
            let reason = letter.reason.as_deref().unwrap_or_default();
            let expected = if entry.mac.is_some() {
                "does not verify"
            } else {
                "no MAC"
            };
            assert!(reason.contains(expected), "{}: {reason}", entry.message_id);
            assert!(letter.consumer.is_some(), "{letter:?}");
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
        assert_eq!(
            testkit::db::table_counts(w.db.conn()).await.unwrap(),
            before,
            "{}: no table changed",
            w.tdb.kind()
        );
        let after = w.db.verify_logs().await.unwrap();
        assert!(after.is_intact());
        assert_eq!(after.operation.records, logs.operation.records);
        assert_eq!(after.transaction.records, logs.transaction.records);
        assert_eq!(w.chain.next_nonce(w.address()).await.unwrap(), nonce);
        assert_eq!(w.balance(fresh(0x36)).await, Amount::from(0_u128));
        mq.close().await;
        worker.stop().await;
    }
}
