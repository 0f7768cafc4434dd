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

        // The broadcast event again: once with its own message id (a lost confirm made the
        // relay publish it twice), once under a new id (the same work queued twice).
        let row = outbox::Entity::find()
            .filter(outbox::Column::RoutingKey.eq(online_db::routing_keys::BROADCAST))
            .one(w.db.conn())
            .await
            .unwrap()
            .unwrap();
        let mq = mq::Mq::connect(&w.broker.url(), mq::MqOptions::default())
            .await
            .unwrap();
        for id in [row.msg_id.clone(), format!("{}-again", row.msg_id)] {
            mq.publish(
                online::EXCHANGE,
                online::BROADCAST_KEY,
                &id,
                mq::content_types::JSON,
                &row.payload,
            )
            .await
            .unwrap();
        }
        // The consumer handles deliveries in order: once the second is claimed, both were seen.
        let processed =
            chain_worker::DbProcessed::new(w.db.clone(), std::sync::Arc::new(mq::SystemClock));
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        while !processed
            .is_claimed(
                chain_worker::BROADCAST_CONSUMER,
                &format!("{}-again", row.msg_id),
            )
            .await
            .unwrap()
        {
            assert!(
                tokio::time::Instant::now() < deadline,
                "the duplicate was not handled"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }

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
