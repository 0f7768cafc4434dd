use audit::{BrokenReason, Chain};
use online_db::{LogFilter, SignatureImport};
use sea_orm::ConnectionTrait;

use crate::{on_both, sign};

#[tokio::test]
async fn both_logs_filter_by_user_action_time_account_and_tx_hash_with_paging() {
    on_both!(|w| {
        let trader = w.traders[0].id.clone();
        let start = w.now();
        let t =
            w.db.create_transfer(w.transfer(10, 0), &crate::plenty(), &trader, w.now())
                .await
                .unwrap();
        let t =
            w.db.mark_exported(&t.id, "req-1", &crate::plenty(), &trader, w.now())
                .await
                .unwrap();
        let t =
            w.db.attach_signature(
                SignatureImport {
                    response_id: "resp-1".into(),
                    request_id: "req-1".into(),
                    signed_tx: sign(&w.key, &t.unsigned_tx),
                },
                &crate::plenty(),
                &trader,
                w.now(),
            )
            .await
            .unwrap();
        let tx_hash = t.tx_hash.clone().unwrap();
        // Another transfer that must not match the tx-hash filter.
        w.db.create_transfer(w.transfer(11, 1), &crate::plenty(), &trader, w.now())
            .await
            .unwrap();
        let mid = w.now();
        w.db.mark_broadcast(&t.id, "chain-worker", w.now())
            .await
            .unwrap();

        let tx = |f: LogFilter| {
            let db = w.db.clone();
            async move { db.transaction_log(f).await.unwrap() }
        };
        let actions = |records: &[audit::Record]| {
            records.iter().map(|r| r.action.clone()).collect::<Vec<_>>()
        };
        // By tx hash: the whole history of that transfer, drafts included.
        let by_hash = tx(LogFilter {
            tx_hash: Some(tx_hash.clone()),
            ..Default::default()
        })
        .await;
        assert_eq!(
            actions(&by_hash),
            [
                "transfer.created",
                "transfer.exported",
                "transfer.signed",
                "transfer.broadcast"
            ]
        );
        assert!(by_hash.iter().all(|r| r.object == t.id));
        // By account, actor, action and time.
        assert_eq!(
            tx(LogFilter {
                account_id: Some(w.account.id.clone()),
                ..Default::default()
            })
            .await
            .len(),
            5
        );
        assert_eq!(
            tx(LogFilter {
                account_id: Some("other".into()),
                ..Default::default()
            })
            .await
            .len(),
            0
        );
        assert_eq!(
            actions(
                &tx(LogFilter {
                    actor: Some("chain-worker".into()),
                    ..Default::default()
                })
                .await
            ),
            ["transfer.broadcast"]
        );
        assert_eq!(
            tx(LogFilter {
                action: Some("transfer.created".into()),
                ..Default::default()
            })
            .await
            .len(),
            2
        );
        assert_eq!(
            tx(LogFilter {
                from: Some(start),
                to: Some(mid),
                ..Default::default()
            })
            .await
            .len(),
            4
        );
        // Paging: pages of two, continued after the last seq seen.
        let first = tx(LogFilter {
            limit: Some(2),
            ..Default::default()
        })
        .await;
        let second = tx(LogFilter {
            limit: Some(2),
            after_seq: Some(first[1].seq),
            ..Default::default()
        })
        .await;
        assert_eq!((first[0].seq, first[1].seq), (1, 2));
        assert_eq!((second[0].seq, second[1].seq), (3, 4));

        // The operation log: the import of the response names the tx hash and account.
        let ops =
            w.db.operation_log(LogFilter {
                tx_hash: Some(tx_hash.clone()),
                ..Default::default()
            })
            .await
            .unwrap();
        assert_eq!(
            actions(&ops),
            ["transfer.request_exported", "signature_response.imported"]
        );
        let ops =
            w.db.operation_log(LogFilter {
                account_id: Some(w.account.id.clone()),
                action: Some("account.imported".into()),
                ..Default::default()
            })
            .await
            .unwrap();
        assert_eq!(ops.len(), 1);
        let ops =
            w.db.operation_log(LogFilter {
                actor: Some(w.admin.id.clone()),
                to: Some(start),
                ..Default::default()
            })
            .await
            .unwrap();
        assert!(ops.iter().all(|r| r.actor == w.admin.id));
        assert!(ops.len() >= 5, "{}", ops.len());
    });
}

#[tokio::test]
async fn a_direct_edit_of_a_log_row_is_named_by_verify() {
    for tdb in testkit::db::TestDb::both().await.unwrap() {
        let w = crate::World::new(&tdb).await;
        let trader = w.traders[0].id.clone();
        let t =
            w.db.create_transfer(w.transfer(10, 0), &crate::plenty(), &trader, w.now())
                .await
                .unwrap();
        w.db.mark_exported(&t.id, "req-1", &crate::plenty(), &trader, w.now())
            .await
            .unwrap();
        let report = w.db.verify_logs().await.unwrap();
        assert!(report.is_intact(), "{}: {report:?}", tdb.kind());
        assert_eq!(report.transaction.records, 2);

        // Someone with database access raises an amount in the transaction log.
        let edit = match tdb.kind() {
            testkit::db::DbKind::Sqlite => {
                "UPDATE transaction_log SET details = REPLACE(details, '\"10\"', '\"99\"') WHERE seq = 1"
            }
            testkit::db::DbKind::Postgres => {
                "UPDATE transaction_log SET details = REPLACE(details::text, '\"10\"', '\"99\"')::json WHERE seq = 1"
            }
        };
        w.db.conn().execute_unprepared(edit).await.unwrap();
        let edited = w.db.transaction_log(LogFilter::default()).await.unwrap();
        assert_eq!(edited[0].details["amount"], "99", "{}", tdb.kind());
        let report = w.db.verify_logs().await.unwrap();
        let broken = report.transaction.first_broken.clone().unwrap();
        assert_eq!(
            (broken.seq, broken.reason),
            (1, BrokenReason::HashMismatch),
            "{}",
            tdb.kind()
        );
        assert!(report.operation.is_intact(), "{}", tdb.kind());
        assert!(!report.is_intact());

        // …and changes who did something in the operation log.
        w.db.conn()
            .execute_unprepared("UPDATE operation_log SET actor = 'someone-else' WHERE seq = 3")
            .await
            .unwrap();
        let report = audit::verify_chain(w.db.conn(), Chain::OPERATION)
            .await
            .unwrap();
        assert_eq!(report.records, 2, "{}", tdb.kind());
        let broken = report.first_broken.unwrap();
        assert_eq!((broken.seq, broken.reason), (3, BrokenReason::HashMismatch));
        assert_eq!(
            broken.to_string(),
            "audit record 3: its contents do not match its hash (it was edited)"
        );
    }
}

#[tokio::test]
async fn a_record_copied_from_one_chain_to_the_other_does_not_verify() {
    for tdb in testkit::db::TestDb::both().await.unwrap() {
        let db = online_db::Db::connect(tdb.url(), testkit::hsm::online_sealer())
            .await
            .unwrap();
        let now = chrono::DateTime::from_timestamp(1_780_000_000, 0).unwrap();
        // One record in the operation log; copy it, with the head, into the empty transaction log.
        db.create_user(
            online_db::NewUser {
                username: "u".into(),
                display_name: "u".into(),
                password_hash: "h".into(),
            },
            "bootstrap",
            now,
        )
        .await
        .unwrap();
        let c = db.conn();
        c.execute_unprepared("INSERT INTO transaction_log SELECT * FROM operation_log")
            .await
            .unwrap();
        c.execute_unprepared(
            "UPDATE transaction_log_head SET seq = 1, hash = (SELECT hash FROM operation_log WHERE seq = 1)",
        )
        .await
        .unwrap();
        let report = db.verify_logs().await.unwrap();
        assert!(report.operation.is_intact());
        let broken = report.transaction.first_broken.unwrap();
        assert_eq!(
            (broken.seq, broken.reason),
            (1, BrokenReason::HashMismatch),
            "{}",
            tdb.kind()
        );
    }
}

#[tokio::test]
async fn outbox_rows_are_marked_published_once_and_messages_are_processed_once() {
    on_both!(|w| {
        let trader = w.traders[0].id.clone();
        let t =
            w.db.create_transfer(w.transfer(10, 0), &crate::plenty(), &trader, w.now())
                .await
                .unwrap();
        let t =
            w.db.mark_exported(&t.id, "req-1", &crate::plenty(), &trader, w.now())
                .await
                .unwrap();
        w.db.attach_signature(
            SignatureImport {
                response_id: "resp-1".into(),
                request_id: "req-1".into(),
                signed_tx: sign(&w.key, &t.unsigned_tx),
            },
            &crate::plenty(),
            &trader,
            w.now(),
        )
        .await
        .unwrap();
        let pending = w.db.outbox_pending(10).await.unwrap();
        assert_eq!(pending.len(), 1);
        assert_eq!(pending[0].headers["content-type"], "application/json");
        let first = w.now();
        w.db.outbox_mark_published(&pending[0].id, first)
            .await
            .unwrap();
        w.db.outbox_mark_published(&pending[0].id, w.now())
            .await
            .unwrap();
        assert!(w.db.outbox_pending(10).await.unwrap().is_empty());
        use sea_orm::EntityTrait;
        let row = online_db::entity::outbox::Entity::find_by_id(pending[0].id.clone())
            .one(w.db.conn())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(row.published_at, Some(first));

        let msg = pending[0].msg_id.clone();
        assert!(w
            .db
            .first_time("chain-worker.broadcast", &msg, w.now())
            .await
            .unwrap());
        assert!(!w
            .db
            .first_time("chain-worker.broadcast", &msg, w.now())
            .await
            .unwrap());
        // Another consumer has its own claim.
        assert!(w
            .db
            .first_time("chain-worker.track", &msg, w.now())
            .await
            .unwrap());
    });
}

/// The logs fail closed: when the record cannot be written, the change is not made.
#[tokio::test]
async fn a_failing_log_append_rolls_the_change_back() {
    for tdb in testkit::db::TestDb::both().await.unwrap() {
        let w = crate::World::new(&tdb).await;
        w.db.conn()
            .execute_unprepared("DELETE FROM transaction_log_head")
            .await
            .unwrap();
        use sea_orm::{EntityTrait, PaginatorTrait};
        let transfers = || async {
            online_db::entity::transfers::Entity::find()
                .count(w.db.conn())
                .await
                .unwrap()
        };
        let before = transfers().await;
        let err =
            w.db.create_transfer(
                w.transfer(10, 0),
                &crate::plenty(),
                &w.traders[0].id,
                w.now(),
            )
            .await
            .unwrap_err();
        assert!(
            matches!(err, online_db::Error::Audit(_)),
            "{}: {err}",
            tdb.kind()
        );
        assert_eq!(transfers().await, before, "{}", tdb.kind());
        // The other chain is untouched and still verifies.
        assert!(audit::verify_chain(w.db.conn(), Chain::OPERATION)
            .await
            .unwrap()
            .is_intact());
    }
}
