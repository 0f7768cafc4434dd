//! Faults: the broker down, the worker killed between sending and recording, a reorg, a
//! transaction dropped from the pool.

use std::time::Duration;

use chain::TxStatus;
use contracts::Amount;
use online_db::entity::transfers;
use online_db::TransferStatus;
use sea_orm::{ConnectionTrait, DbBackend, EntityTrait, QuerySelect};
use testkit::anvil::AnvilOptions;

use crate::{both, fresh, Config, Running, World};

fn every_second() -> AnvilOptions {
    AnvilOptions {
        block_time_secs: Some(1),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_signature_attached_while_the_broker_is_down_is_broadcast_once_when_it_is_back() {
    for tdb in both().await {
        let mut w = World::new(tdb, every_second()).await;
        let to = fresh(0x41);
        let p = w.prepare(to, 7_000).await;
        let nonce = w.chain.next_nonce(w.address()).await.unwrap();
        let worker = Running::start(w.config());
        // The worker is consuming before the broker goes down.
        tokio::time::sleep(Duration::from_secs(2)).await;

        w.broker.stop();
        let t = w.attach(&p).await;
        // While the broker is down the event waits in the outbox and nothing is sent.
        tokio::time::sleep(Duration::from_secs(3)).await;
        assert_eq!(w.transfer(&t.id).await.status, TransferStatus::Signed);
        assert_eq!(w.unpublished().await, 1);
        assert_eq!(
            w.chain.status(p.tx_hash, 1, None).await.unwrap(),
            TxStatus::Dropped,
            "sent while the broker was down"
        );

        w.broker.restart().unwrap();
        let t = w.until_status(&t.id, TransferStatus::Confirmed, 90).await;
        assert_eq!(w.records(&t.id, "transfer.broadcast").await.len(), 1);
        assert_eq!(w.chain.next_nonce(w.address()).await.unwrap(), nonce + 1);
        assert_eq!(w.balance(to).await, Amount::from(7_000_u128));
        assert_eq!(w.unpublished().await, 0);
        w.assert_logs_intact().await;
        worker.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_killed_after_sending_but_before_recording_does_not_send_twice() {
    for tdb in both().await {
        let mut w = World::new(tdb, every_second()).await;
        let to = fresh(0x42);
        let p = w.prepare(to, 9_000).await;
        let nonce = w.chain.next_nonce(w.address()).await.unwrap();
        // The worker runs and is idle; the broker goes down so the event waits in the outbox
        // while the test takes its lock (a SQLite write lock would also hold up the worker's
        // start-up, so the worker starts first).
        let worker = Running::start(w.config());
        tokio::time::sleep(Duration::from_secs(2)).await;
        w.broker.stop();
        let t = w.attach(&p).await;

        // Hold the transfer so the worker can send but cannot record: SQLite's write lock
        // (BEGIN IMMEDIATE), PostgreSQL's row lock (the worker's update locks the row first).
        let lock = w.db.begin_write().await.unwrap();
        if lock.get_database_backend() == DbBackend::Postgres {
            transfers::Entity::find_by_id(t.id.clone())
                .lock_exclusive()
                .one(&lock)
                .await
                .unwrap()
                .unwrap();
        }
        w.broker.restart().unwrap();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
        while w.chain.status(p.tx_hash, 1, None).await.unwrap() == TxStatus::Dropped {
            assert!(
                tokio::time::Instant::now() < deadline,
                "the worker never sent"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        // Sent: give it a moment to be waiting on the lock, then kill it there.
        tokio::time::sleep(Duration::from_millis(500)).await;
        worker.kill();
        lock.rollback().await.unwrap();
        assert_eq!(w.transfer(&t.id).await.status, TransferStatus::Signed);

        // The restarted worker finds the transaction known, records it and tracks it.
        let worker = Running::start(w.config());
        let t = w.until_status(&t.id, TransferStatus::Confirmed, 90).await;
        assert_eq!(t.tx_hash, Some(format!("{:#x}", p.tx_hash)));
        assert_eq!(w.records(&t.id, "transfer.broadcast").await.len(), 1);
        assert_eq!(w.chain.next_nonce(w.address()).await.unwrap(), nonce + 1);
        assert_eq!(w.balance(to).await, Amount::from(9_000_u128));
        w.assert_logs_intact().await;
        worker.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reorg_is_detected_and_the_transfer_is_confirmed_in_its_new_block() {
    for tdb in both().await {
        // Auto-mining: a block per transaction, none otherwise, so the test decides the height.
        let w = World::new(tdb, AnvilOptions::default()).await;
        let to = fresh(0x43);
        let p = w.prepare(to, 11_000).await;
        let nonce = w.chain.next_nonce(w.address()).await.unwrap();
        let worker = Running::start(w.config());
        let t = w.attach(&p).await;
        let first = w.until(&t.id, 60, |t| t.block_hash.is_some()).await;
        assert_eq!(first.status, TransferStatus::Broadcast);
        w.anvil.mine(1).unwrap();

        // The block with the transaction and the one on top are replaced by empty blocks.
        w.anvil.reorg(2).unwrap();
        let again = w
            .until(&t.id, 60, |t| {
                t.block_hash.is_some() && t.block_hash != first.block_hash
            })
            .await;
        assert_eq!(again.status, TransferStatus::Broadcast);
        let reorgs: Vec<_> = w
            .records(&t.id, "transfer.confirmation_recorded")
            .await
            .into_iter()
            .filter(|r| r.details["reorg"] == serde_json::json!(true))
            .collect();
        assert_eq!(reorgs.len(), 1, "the reorg is not in the transaction log");
        assert_eq!(
            reorgs[0].details["previous_block_hash"],
            serde_json::json!(first.block_hash)
        );

        w.anvil.mine(3).unwrap();
        let done = w.until_status(&t.id, TransferStatus::Confirmed, 60).await;
        assert_eq!(done.block_hash, again.block_hash);
        assert_eq!(w.chain.next_nonce(w.address()).await.unwrap(), nonce + 1);
        assert_eq!(w.balance(to).await, Amount::from(11_000_u128));
        w.assert_logs_intact().await;
        worker.stop().await;
    }
}

/// Pool-only mining: transactions wait until the test mines.
async fn manual(w: &World) {
    w.anvil.set_automine(false).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dropped_transaction_is_sent_again_with_the_same_bytes() {
    for tdb in both().await {
        let w = World::new(tdb, AnvilOptions::default()).await;
        manual(&w).await;
        let to = fresh(0x44);
        let p = w.prepare(to, 13_000).await;
        let worker = Running::start(Config {
            confirmations: 1,
            ..w.config()
        });
        let t = w.attach(&p).await;
        w.until_status(&t.id, TransferStatus::Broadcast, 60).await;

        w.anvil
            .drop_transaction(&format!("{:#x}", p.tx_hash))
            .unwrap();
        // Only the worker can put it back into the pool.
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        loop {
            let status = w.chain.status(p.tx_hash, 1, None).await.unwrap();
            if status == TxStatus::Pending {
                break;
            }
            assert_eq!(status, TxStatus::Dropped);
            assert!(tokio::time::Instant::now() < deadline, "never sent again");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        w.anvil.mine(1).unwrap();
        let t = w.until_status(&t.id, TransferStatus::Confirmed, 60).await;
        assert_eq!(t.tx_hash, Some(format!("{:#x}", p.tx_hash)));
        assert_eq!(w.balance(to).await, Amount::from(13_000_u128));
        w.assert_logs_intact().await;
        worker.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_transaction_dropped_more_often_than_allowed_fails() {
    for tdb in both().await {
        let w = World::new(tdb, AnvilOptions::default()).await;
        manual(&w).await;
        let to = fresh(0x45);
        let p = w.prepare(to, 15_000).await;
        let nonce = w.chain.next_nonce(w.address()).await.unwrap();
        let worker = Running::start(Config {
            confirmations: 1,
            max_resends: 0,
            ..w.config()
        });
        let t = w.attach(&p).await;
        w.until_status(&t.id, TransferStatus::Broadcast, 60).await;

        w.anvil
            .drop_transaction(&format!("{:#x}", p.tx_hash))
            .unwrap();
        let t = w.until_status(&t.id, TransferStatus::Failed, 60).await;
        let error = t.error.unwrap();
        assert!(error.contains("dropped"), "{error}");
        assert_eq!(w.records(&t.id, "transfer.failed").await.len(), 1);
        w.anvil.mine(1).unwrap();
        assert_eq!(w.chain.next_nonce(w.address()).await.unwrap(), nonce);
        assert_eq!(w.balance(to).await, Amount::default());
        w.assert_logs_intact().await;
        worker.stop().await;
    }
}
