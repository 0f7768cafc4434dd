use chrono::Duration;
use contracts::eth as ceth;
use online_db::{
    routing_keys, Asset, Confirmation, Error, PolicyInput, SignatureImport, TransferStatus,
};

use crate::{addr, eth, key, on_both, sign, Counts, World};

fn seen(confirmations: u64, hash: &str) -> Confirmation {
    Confirmation {
        block_number: 100,
        block_hash: hash.into(),
        confirmations,
    }
}

fn response(id: &str, request: &str, signed_tx: Vec<u8>) -> SignatureImport {
    SignatureImport {
        response_id: id.into(),
        request_id: request.into(),
        signed_tx,
    }
}

/// A transfer created and exported under `request`.
async fn exported(
    w: &World,
    amount: u128,
    nonce: u64,
    request: &str,
) -> online_db::entity::transfers::Model {
    let t =
        w.db.create_transfer(
            w.transfer(amount, nonce),
            &crate::plenty(),
            &w.traders[0].id,
            w.now(),
        )
        .await
        .unwrap();
    w.db.mark_exported(&t.id, request, &crate::plenty(), &w.traders[0].id, w.now())
        .await
        .unwrap()
}

#[tokio::test]
async fn a_transfer_goes_from_draft_to_confirmed_with_one_record_per_change() {
    on_both!(|w| {
        let maker = &w.traders[0];
        let checker = &w.traders[1];
        w.db.set_policy(
            &w.account.id,
            PolicyInput {
                asset: Asset::Eth,
                single_limit: eth(1_000),
                daily_limit: eth(2_500),
                require_approval: true,
            },
            &w.admin.id,
            w.now(),
        )
        .await
        .unwrap();

        let before = w.counts().await;
        let t =
            w.db.create_transfer(w.transfer(600, 0), &crate::plenty(), &maker.id, w.now())
                .await
                .unwrap();
        assert_eq!(t.status, TransferStatus::Draft);
        assert_eq!(t.amount().unwrap(), eth(600));
        assert_eq!(t.to().unwrap(), addr(0x22));
        // The stored bytes are the transaction the fields describe.
        let tx = ceth::decode_unsigned(&t.unsigned_tx).unwrap();
        assert_eq!(
            (tx.chain_id, tx.nonce, tx.gas_limit),
            (crate::CHAIN, 0, 21_000)
        );
        assert_eq!(
            t.signing_hash,
            format!("0x{}", hex::encode(ceth::signing_hash(&t.unsigned_tx)))
        );
        assert_eq!(
            w.counts().await,
            Counts {
                transfers: before.transfers + 1,
                ..before.logs(0, 1)
            }
        );
        let rec = w.last_transaction().await;
        assert_eq!(
            (rec.action.as_str(), rec.object.as_str()),
            ("transfer.created", t.id.as_str())
        );
        assert_eq!(rec.details["account_id"], w.account.id);

        // The policy wants a second trader: export without approval is refused, the maker
        // cannot approve their own transfer, and neither writes anything.
        let before = w.counts().await;
        let err =
            w.db.mark_exported(&t.id, "req-1", &crate::plenty(), &maker.id, w.now())
                .await
                .unwrap_err();
        assert!(matches!(err, Error::Policy(_)), "{err}");
        let err =
            w.db.approve_transfer(&t.id, &crate::plenty(), &maker.id, w.now())
                .await
                .unwrap_err();
        assert!(matches!(err, Error::Forbidden(_)), "{err}");
        let err =
            w.db.approve_transfer(&t.id, &crate::plenty(), &w.outsider.id, w.now())
                .await
                .unwrap_err();
        assert!(matches!(err, Error::Forbidden(_)), "{err}");
        assert_eq!(w.counts().await, before);

        let t =
            w.db.approve_transfer(&t.id, &crate::plenty(), &checker.id, w.now())
                .await
                .unwrap();
        assert_eq!(t.approved_by.as_deref(), Some(checker.id.as_str()));
        assert_eq!(w.counts().await, before.logs(0, 1));

        let before = w.counts().await;
        let t =
            w.db.mark_exported(&t.id, "req-1", &crate::plenty(), &maker.id, w.now())
                .await
                .unwrap();
        assert_eq!(t.status, TransferStatus::Exported);
        assert_eq!(w.counts().await, before.logs(1, 1));
        assert_eq!(w.last_operation().await.action, "transfer.request_exported");
        assert_eq!(w.last_transaction().await.action, "transfer.exported");

        // The offline zone signs; the response is attached and broadcast is queued.
        let signed = sign(&w.key, &t.unsigned_tx);
        let before = w.counts().await;
        let t =
            w.db.attach_signature(
                response("resp-1", "req-1", signed.clone()),
                &crate::plenty(),
                &maker.id,
                w.now(),
            )
            .await
            .unwrap();
        assert_eq!(t.status, TransferStatus::Signed);
        let tx_hash = format!(
            "0x{}",
            hex::encode(ceth::decode_signed(&signed).unwrap().tx_hash)
        );
        assert_eq!(t.tx_hash.as_deref(), Some(tx_hash.as_str()));
        assert_eq!(
            w.counts().await,
            Counts {
                responses: before.responses + 1,
                outbox: before.outbox + 1,
                ..before.logs(1, 1)
            }
        );
        let pending = w.db.outbox_pending(10).await.unwrap();
        let ev = pending.last().unwrap();
        assert_eq!(ev.routing_key, routing_keys::BROADCAST);
        let body: serde_json::Value = serde_json::from_slice(&ev.payload).unwrap();
        assert_eq!(body["transfer_id"], t.id);
        assert_eq!(body["tx_hash"], tx_hash);
        assert_eq!(body["event_id"], ev.msg_id);

        // A replayed response is refused with nothing written.
        let before = w.counts().await;
        let err =
            w.db.attach_signature(
                response("resp-1", "req-1", signed.clone()),
                &crate::plenty(),
                &maker.id,
                w.now(),
            )
            .await
            .unwrap_err();
        assert!(
            matches!(err, Error::Replay { ref response_id } if response_id == "resp-1"),
            "{err}"
        );
        assert_eq!(w.counts().await, before);

        let t =
            w.db.mark_broadcast(&t.id, "chain-worker", w.now())
                .await
                .unwrap();
        assert_eq!(t.status, TransferStatus::Broadcast);
        assert_eq!(
            w.counts().await,
            Counts {
                outbox: before.outbox + 1,
                ..before.logs(0, 1)
            }
        );
        assert_eq!(
            w.db.outbox_pending(10)
                .await
                .unwrap()
                .last()
                .unwrap()
                .routing_key,
            routing_keys::TRACK
        );

        let before = w.counts().await;
        w.db.record_confirmation(&t.id, seen(1, "0xb1"), "chain-worker", w.now())
            .await
            .unwrap();
        // A different block hash later is a reorg, and is said so.
        w.db.record_confirmation(&t.id, seen(1, "0xb2"), "chain-worker", w.now())
            .await
            .unwrap();
        assert_eq!(w.last_transaction().await.details["reorg"], true);
        let t =
            w.db.mark_confirmed(&t.id, seen(12, "0xb2"), "chain-worker", w.now())
                .await
                .unwrap();
        assert_eq!(t.status, TransferStatus::Confirmed);
        assert_eq!(
            (t.confirmations, t.block_hash.as_deref()),
            (12, Some("0xb2"))
        );
        assert_eq!(w.counts().await, before.logs(0, 3));

        // CONFIRMED is final: no signature, no failure, no confirmation changes it.
        let before = w.counts().await;
        let err =
            w.db.attach_signature(
                response("resp-2", "req-1", signed),
                &crate::plenty(),
                &maker.id,
                w.now(),
            )
            .await
            .unwrap_err();
        assert!(
            matches!(
                err,
                Error::IllegalTransition {
                    from: TransferStatus::Confirmed,
                    to: TransferStatus::Signed,
                    ..
                }
            ),
            "{err}"
        );
        let err =
            w.db.mark_failed(&t.id, "late", "chain-worker", w.now())
                .await
                .unwrap_err();
        assert!(matches!(err, Error::IllegalTransition { .. }), "{err}");
        let err =
            w.db.record_confirmation(&t.id, seen(13, "0xb2"), "chain-worker", w.now())
                .await
                .unwrap_err();
        assert!(matches!(err, Error::Conflict(_)), "{err}");
        let err =
            w.db.mark_broadcast(&t.id, "chain-worker", w.now())
                .await
                .unwrap_err();
        assert!(matches!(err, Error::IllegalTransition { .. }), "{err}");
        assert_eq!(w.counts().await, before);
        assert_eq!(
            w.db.transfer_by_tx_hash(&tx_hash)
                .await
                .unwrap()
                .unwrap()
                .id,
            t.id
        );
    });
}

#[tokio::test]
async fn bad_signature_responses_write_nothing() {
    on_both!(|w| {
        let t = exported(&w, 10, 0, "req-a").await;
        let other = exported(&w, 11, 1, "req-b").await;
        let before = w.counts().await;
        // Signed by another key.
        let err =
            w.db.attach_signature(
                response("r1", "req-a", sign(&key(8), &t.unsigned_tx)),
                &crate::plenty(),
                &w.traders[0].id,
                w.now(),
            )
            .await
            .unwrap_err();
        assert!(
            err.to_string().contains("not to the account address"),
            "{err}"
        );
        // A response for another request.
        let err =
            w.db.attach_signature(
                response("r2", "req-a", sign(&w.key, &other.unsigned_tx)),
                &crate::plenty(),
                &w.traders[0].id,
                w.now(),
            )
            .await
            .unwrap_err();
        assert!(
            matches!(err, Error::Validation { ref field, .. } if field == "signed_tx"),
            "{err}"
        );
        // Tampered bytes.
        let mut tampered = sign(&w.key, &t.unsigned_tx);
        let last = tampered.len() - 40;
        tampered[last] ^= 1;
        let err =
            w.db.attach_signature(
                response("r3", "req-a", tampered),
                &crate::plenty(),
                &w.traders[0].id,
                w.now(),
            )
            .await
            .unwrap_err();
        assert!(matches!(err, Error::Validation { .. }), "{err}");
        // An unknown request.
        let err =
            w.db.attach_signature(
                response("r4", "req-zzz", sign(&w.key, &t.unsigned_tx)),
                &crate::plenty(),
                &w.traders[0].id,
                w.now(),
            )
            .await
            .unwrap_err();
        assert!(matches!(err, Error::NotFound { .. }), "{err}");
        // A draft has no request yet.
        let draft =
            w.db.create_transfer(
                w.transfer(5, 2),
                &crate::plenty(),
                &w.traders[0].id,
                w.now(),
            )
            .await
            .unwrap();
        let before_draft = w.counts().await;
        let err =
            w.db.mark_broadcast(&draft.id, "chain-worker", w.now())
                .await
                .unwrap_err();
        assert!(
            matches!(
                err,
                Error::IllegalTransition {
                    from: TransferStatus::Draft,
                    ..
                }
            ),
            "{err}"
        );
        assert_eq!(w.counts().await, before_draft);
        assert_eq!(
            w.counts().await,
            Counts {
                transfers: before.transfers + 1,
                ..before.logs(0, 1)
            }
        );
    });
}

#[tokio::test]
async fn transfers_outside_the_rules_write_nothing() {
    on_both!(|w| {
        let trader = w.traders[0].id.clone();
        let before = w.counts().await;
        let cases: Vec<(online_db::NewTransfer, &str, &str)> = vec![
            (w.transfer(1_001, 0), "policy", "above the single limit"),
            (
                online_db::NewTransfer {
                    to: addr(0),
                    ..w.transfer(1, 0)
                },
                "validation",
                "zero address",
            ),
            (
                online_db::NewTransfer {
                    account_id: "no-such-account".into(),
                    ..w.transfer(1, 0)
                },
                "not found",
                "unknown account",
            ),
            (
                online_db::NewTransfer {
                    asset: Asset::Token(addr(0x71)),
                    ..w.transfer(1, 0)
                },
                "validation",
                "unconfigured token",
            ),
            (
                online_db::NewTransfer {
                    amount: eth(0),
                    ..w.transfer(1, 0)
                },
                "validation",
                "zero amount",
            ),
        ];
        for (new, kind, why) in cases {
            let err =
                w.db.create_transfer(new, &crate::plenty(), &trader, w.now())
                    .await
                    .unwrap_err();
            let ok = match kind {
                "policy" => matches!(err, Error::Policy(_)),
                "validation" => matches!(err, Error::Validation { .. }),
                _ => matches!(err, Error::NotFound { .. }),
            };
            assert!(ok, "{why}: {err}");
        }
        // Someone not granted on the account, and an auditor.
        for who in [&w.outsider.id, &w.auditor.id] {
            let err =
                w.db.create_transfer(w.transfer(1, 0), &crate::plenty(), who, w.now())
                    .await
                    .unwrap_err();
            assert!(matches!(err, Error::Forbidden(_)), "{err}");
        }
        assert_eq!(w.counts().await, before);

        // The daily limit counts every transfer exported in the last 24 hours that has not
        // failed; drafts take none of it.
        let a = exported(&w, 1_000, 0, "req-a").await;
        exported(&w, 1_000, 1, "req-b").await;
        assert_eq!(
            w.db.daily_total(&w.account.id, &Asset::Eth, w.now())
                .await
                .unwrap(),
            eth(2_000)
        );
        let before = w.counts().await;
        let err =
            w.db.create_transfer(w.transfer(501, 2), &crate::plenty(), &trader, w.now())
                .await
                .unwrap_err();
        assert!(err.to_string().contains("daily limit"), "{err}");
        assert_eq!(w.counts().await, before);
        w.db.create_transfer(w.transfer(500, 2), &crate::plenty(), &trader, w.now())
            .await
            .unwrap();
        assert_eq!(
            w.db.daily_total(&w.account.id, &Asset::Eth, w.now())
                .await
                .unwrap(),
            eth(2_000)
        );
        // A failed one frees its share; the token has its own limit.
        w.db.mark_failed(&a.id, "abandoned", &trader, w.now())
            .await
            .unwrap();
        w.db.create_transfer(w.transfer(1_000, 3), &crate::plenty(), &trader, w.now())
            .await
            .unwrap();
        let token = online_db::NewTransfer {
            asset: Asset::Token(w.token),
            ..w.transfer(1_000, 4)
        };
        let tt =
            w.db.create_transfer(token, &crate::plenty(), &trader, w.now())
                .await
                .unwrap();
        let tx = ceth::decode_unsigned(&tt.unsigned_tx).unwrap();
        assert_eq!(tx.value, alloy_primitives::U256::ZERO);
        assert_eq!(
            ceth::decode_erc20_transfer(&tx.input).unwrap(),
            (addr(0x22), eth(1_000))
        );
        // A day later the window is empty again.
        w.advance(Duration::hours(24));
        assert_eq!(
            w.db.daily_total(&w.account.id, &Asset::Eth, w.now())
                .await
                .unwrap(),
            eth(0)
        );

        // With an allow-list, only listed destinations.
        w.db.allow_destination(
            &w.account.id,
            &addr(0x33),
            "cold wallet",
            &w.admin.id,
            w.now(),
        )
        .await
        .unwrap();
        let before = w.counts().await;
        let err =
            w.db.create_transfer(w.transfer(1, 5), &crate::plenty(), &trader, w.now())
                .await
                .unwrap_err();
        assert!(err.to_string().contains("allow-list"), "{err}");
        assert_eq!(w.counts().await, before);
        let listed = online_db::NewTransfer {
            to: addr(0x33),
            ..w.transfer(1, 5)
        };
        w.db.create_transfer(listed, &crate::plenty(), &trader, w.now())
            .await
            .unwrap();
    });
}

#[tokio::test]
async fn the_pending_nonce_is_the_highest_in_flight() {
    on_both!(|w| {
        let trader = w.traders[0].id.clone();
        assert_eq!(w.db.pending_nonce(&w.account.id).await.unwrap(), None);
        // Drafts do not count.
        let d =
            w.db.create_transfer(w.transfer(1, 7), &crate::plenty(), &trader, w.now())
                .await
                .unwrap();
        assert_eq!(w.db.pending_nonce(&w.account.id).await.unwrap(), None);
        let a = exported(&w, 1, 3, "req-3").await;
        assert_eq!(w.db.pending_nonce(&w.account.id).await.unwrap(), Some(3));
        let b = exported(&w, 1, 4, "req-4").await;
        let b =
            w.db.attach_signature(
                response("resp-4", "req-4", sign(&w.key, &b.unsigned_tx)),
                &crate::plenty(),
                &trader,
                w.now(),
            )
            .await
            .unwrap();
        w.db.mark_broadcast(&b.id, "chain-worker", w.now())
            .await
            .unwrap();
        assert_eq!(w.db.pending_nonce(&w.account.id).await.unwrap(), Some(4));
        // Final transfers leave the set.
        w.db.mark_confirmed(&b.id, seen(12, "0x1"), "chain-worker", w.now())
            .await
            .unwrap();
        assert_eq!(w.db.pending_nonce(&w.account.id).await.unwrap(), Some(3));
        w.db.mark_failed(&a.id, "expired", "chain-worker", w.now())
            .await
            .unwrap();
        assert_eq!(w.db.pending_nonce(&w.account.id).await.unwrap(), None);
        // Another exported transfer with a nonce already in use is refused.
        let c =
            w.db.create_transfer(w.transfer(1, 4), &crate::plenty(), &trader, w.now())
                .await
                .unwrap();
        let before = w.counts().await;
        let err =
            w.db.mark_exported(&c.id, "req-c", &crate::plenty(), &trader, w.now())
                .await
                .unwrap_err();
        assert!(matches!(err, Error::Conflict(_)), "{err}");
        // And a request id is used once.
        let err =
            w.db.mark_exported(&d.id, "req-3", &crate::plenty(), &trader, w.now())
                .await
                .unwrap_err();
        assert!(matches!(err, Error::AlreadyExists { .. }), "{err}");
        assert_eq!(w.counts().await, before);
        // Another account's transfers are not counted.
        let other =
            w.db.import_account(crate::new_account(&key(11), "other"), &w.admin.id, w.now())
                .await
                .unwrap();
        assert_eq!(w.db.pending_nonce(&other.id).await.unwrap(), None);
    });
}
