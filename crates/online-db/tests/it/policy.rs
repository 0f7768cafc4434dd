//! Policy at every step (issue 15): limits, allow-list, approval and balance are checked when a
//! draft is created, again at approval, at export and at signature import, against the policy
//! as it is at that moment; the 24-hour limit counts by export time.

use chrono::Duration;
use online_db::{Amount, Asset, Error, Funds, PolicyInput, SignatureImport, TransferStatus};

use crate::{addr, eth, on_both, plenty, sign, Counts, World};

fn response(id: &str, request: &str, signed_tx: Vec<u8>) -> SignatureImport {
    SignatureImport {
        response_id: id.into(),
        request_id: request.into(),
        signed_tx,
    }
}

async fn limits(w: &World, single: u128, daily: u128, approval: bool) {
    w.db.set_policy(
        &w.account.id,
        PolicyInput {
            asset: Asset::Eth,
            single_limit: eth(single),
            daily_limit: eth(daily),
            require_approval: approval,
        },
        &w.admin.id,
        w.now(),
    )
    .await
    .unwrap();
}

/// Funds of `wei` ether and no tokens.
fn holding(wei: u128) -> Funds {
    Funds {
        eth: Amount::from(wei),
        tokens: Vec::new(),
    }
}

/// The ether a test transfer of `amount` needs: the amount and 21 000 gas at 30 gwei.
fn needs(amount: u128) -> u128 {
    amount + 21_000 * 30_000_000_000
}

async fn draft(w: &World, amount: u128, nonce: u64) -> online_db::entity::transfers::Model {
    w.db.create_transfer(
        w.transfer(amount, nonce),
        &plenty(),
        &w.traders[0].id,
        w.now(),
    )
    .await
    .unwrap()
}

async fn status(w: &World, id: &str) -> online_db::entity::transfers::Model {
    w.db.transfer(id).await.unwrap().unwrap()
}

/// What an import refused by the policy writes: the transfer's status (same row count), one
/// transaction-log record (`transfer.failed`) and one operation-log record
/// (`signature_response.refused`); no imported response and no outbox row.
fn after_refused_import(before: Counts) -> Counts {
    before.logs(1, 1)
}

/// Change the world so that the transfer `t` no longer passes, in one of three ways.
#[derive(Clone, Copy, Debug)]
enum Change {
    LowerLimit,
    LeaveAllowList,
    SpendBalance,
}

impl Change {
    /// Make the change; returns the funds to check with and the words the refusal names.
    async fn apply(self, w: &World) -> (Funds, &'static str) {
        match self {
            Change::LowerLimit => {
                limits(w, 999, 2_500, false).await;
                (plenty(), "single-transfer limit")
            }
            Change::LeaveAllowList => {
                w.db.remove_destination(&w.account.id, &addr(0x22), &w.admin.id, w.now())
                    .await
                    .unwrap();
                (plenty(), "allow-list")
            }
            // The funds moved away: the balance read now covers less than the transfer.
            Change::SpendBalance => (holding(needs(1_000) - 1), "wei"),
        }
    }
}

/// With an allow-list holding the test destination (so that leaving it is a change).
async fn listed(w: &World) {
    w.db.allow_destination(&w.account.id, &addr(0x22), "payee", &w.admin.id, w.now())
        .await
        .unwrap();
    w.db.allow_destination(&w.account.id, &addr(0x33), "cold", &w.admin.id, w.now())
        .await
        .unwrap();
}

#[tokio::test]
async fn a_draft_that_no_longer_passes_is_not_exported_and_nothing_is_written() {
    for change in [
        Change::LowerLimit,
        Change::LeaveAllowList,
        Change::SpendBalance,
    ] {
        on_both!(|w| {
            listed(&w).await;
            let t = draft(&w, 1_000, 0).await;
            let (funds, words) = change.apply(&w).await;
            let before = w.counts().await;
            let err =
                w.db.mark_exported(&t.id, "req-1", &funds, &w.traders[0].id, w.now())
                    .await
                    .unwrap_err();
            assert!(matches!(err, Error::Policy(_)), "{change:?}: {err}");
            let text = err.to_string();
            assert!(
                text.contains("at export") && text.contains(words),
                "{change:?}: {text}"
            );
            assert_eq!(w.counts().await, before, "{change:?}");
            let t = status(&w, &t.id).await;
            assert_eq!(t.status, TransferStatus::Draft);
            assert_eq!(t.request_id, None);
            assert_eq!(t.exported_at, None);
        });
    }
}

#[tokio::test]
async fn a_signed_transfer_that_no_longer_passes_fails_at_import_and_nothing_is_queued() {
    for change in [
        Change::LowerLimit,
        Change::LeaveAllowList,
        Change::SpendBalance,
    ] {
        on_both!(|w| {
            listed(&w).await;
            let t = draft(&w, 1_000, 0).await;
            w.db.mark_exported(&t.id, "req-1", &plenty(), &w.traders[0].id, w.now())
                .await
                .unwrap();
            let (funds, words) = change.apply(&w).await;
            let before = w.counts().await;
            let err =
                w.db.attach_signature(
                    response("resp-1", "req-1", sign(&w.key, &t.unsigned_tx)),
                    &funds,
                    &w.traders[0].id,
                    w.now(),
                )
                .await
                .unwrap_err();
            let Error::Refused {
                transfer_id,
                reason,
            } = &err
            else {
                panic!("{change:?}: {err}");
            };
            assert_eq!(transfer_id, &t.id);
            assert!(
                reason.contains("at signature import") && reason.contains(words),
                "{change:?}: {reason}"
            );
            // Exactly the refusal record, nothing for the broadcast.
            assert_eq!(w.counts().await, after_refused_import(before), "{change:?}");
            let failed = status(&w, &t.id).await;
            assert_eq!(failed.status, TransferStatus::Failed);
            assert_eq!(failed.signed_tx, None);
            assert_eq!(failed.tx_hash, None);
            assert!(failed.error.as_deref().unwrap().contains(words));
            assert_eq!(
                w.last_operation().await.action,
                "signature_response.refused"
            );
            assert_eq!(w.last_transaction().await.action, "transfer.failed");
            // The same response again changes nothing more.
            let before = w.counts().await;
            w.db.attach_signature(
                response("resp-1", "req-1", sign(&w.key, &t.unsigned_tx)),
                &plenty(),
                &w.traders[0].id,
                w.now(),
            )
            .await
            .unwrap_err();
            assert_eq!(w.counts().await, before, "{change:?}");
        });
    }
}

#[tokio::test]
async fn approval_and_export_check_the_policy_as_it_is_then() {
    on_both!(|w| {
        limits(&w, 1_000, 2_500, true).await;
        let t = draft(&w, 1_000, 0).await;
        // A lowered limit stops the approval, and writes nothing.
        limits(&w, 999, 2_500, true).await;
        let before = w.counts().await;
        let err =
            w.db.approve_transfer(&t.id, &plenty(), &w.traders[1].id, w.now())
                .await
                .unwrap_err();
        assert!(err.to_string().contains("at approval"), "{err}");
        assert_eq!(w.counts().await, before);
        assert_eq!(status(&w, &t.id).await.approved_by, None);
        // Raised again: approved, exported.
        limits(&w, 1_000, 2_500, true).await;
        w.db.approve_transfer(&t.id, &plenty(), &w.traders[1].id, w.now())
            .await
            .unwrap();
        // Maker-checker turned on after an unapproved export: refused at import.
        limits(&w, 1_000, 2_500, false).await;
        let u = draft(&w, 10, 1).await;
        w.db.mark_exported(&u.id, "req-u", &plenty(), &w.traders[0].id, w.now())
            .await
            .unwrap();
        limits(&w, 1_000, 2_500, true).await;
        let err =
            w.db.attach_signature(
                response("resp-u", "req-u", sign(&w.key, &u.unsigned_tx)),
                &plenty(),
                &w.traders[0].id,
                w.now(),
            )
            .await
            .unwrap_err();
        assert!(err.to_string().contains("approval"), "{err}");
        assert_eq!(status(&w, &u.id).await.status, TransferStatus::Failed);
        // The approved one still passes at export and at import.
        let t =
            w.db.mark_exported(
                &t.id,
                "req-t",
                &holding(needs(1_000)),
                &w.traders[0].id,
                w.now(),
            )
            .await
            .unwrap();
        let t =
            w.db.attach_signature(
                response("resp-t", "req-t", sign(&w.key, &t.unsigned_tx)),
                &holding(needs(1_000)),
                &w.traders[0].id,
                w.now(),
            )
            .await
            .unwrap();
        assert_eq!(t.status, TransferStatus::Signed);
    });
}

#[tokio::test]
async fn the_daily_limit_counts_what_was_exported_in_the_last_24_hours() {
    on_both!(|w| {
        // Single 1 000, daily 2 500 (the world's limits).
        // Three drafts of 1 000 at once: drafts take none of the allowance (counting by
        // creation time would refuse the third).
        let a = draft(&w, 1_000, 0).await;
        let b = draft(&w, 1_000, 1).await;
        let c = draft(&w, 1_000, 2).await;
        let trader = &w.traders[0].id;
        assert_eq!(
            w.db.daily_total(&w.account.id, &Asset::Eth, w.now())
                .await
                .unwrap(),
            eth(0)
        );
        w.db.mark_exported(&a.id, "req-a", &plenty(), trader, w.now())
            .await
            .unwrap();
        w.db.mark_exported(&b.id, "req-b", &plenty(), trader, w.now())
            .await
            .unwrap();
        let before = w.counts().await;
        let err =
            w.db.mark_exported(&c.id, "req-c", &plenty(), trader, w.now())
                .await
                .unwrap_err();
        assert!(err.to_string().contains("daily limit"), "{err}");
        assert_eq!(w.counts().await, before);
        // A day after a and b were exported, c (drafted then) fits, and counts from now on:
        // by creation time it would count nothing.
        w.advance(Duration::hours(24));
        let c =
            w.db.mark_exported(&c.id, "req-c", &plenty(), trader, w.now())
                .await
                .unwrap();
        assert!(c.exported_at.unwrap() > c.created_at + Duration::hours(23));
        assert_eq!(
            w.db.daily_total(&w.account.id, &Asset::Eth, w.now())
                .await
                .unwrap(),
            eth(1_000)
        );
        // A draft created now sees c's 1 000: 1 500 more fit, 1 501 do not.
        w.db.create_transfer(w.transfer(1_000, 3), &plenty(), trader, w.now())
            .await
            .unwrap();
        w.db.create_transfer(w.transfer(1_000, 4), &plenty(), trader, w.now())
            .await
            .unwrap();
        let d = draft(&w, 501, 5).await;
        let e = draft(&w, 1_000, 6).await;
        w.db.mark_exported(&e.id, "req-e", &plenty(), trader, w.now())
            .await
            .unwrap();
        let err =
            w.db.mark_exported(&d.id, "req-d", &plenty(), trader, w.now())
                .await
                .unwrap_err();
        assert!(err.to_string().contains("2000 already exported"), "{err}");
        // Lowering the daily limit after export refuses the import of the one that no longer
        // fits with what else was exported in the window.
        limits(&w, 1_000, 1_500, false).await;
        let err =
            w.db.attach_signature(
                response("resp-e", "req-e", sign(&w.key, &e.unsigned_tx)),
                &plenty(),
                trader,
                w.now(),
            )
            .await
            .unwrap_err();
        assert!(err.to_string().contains("daily limit"), "{err}");
        assert_eq!(status(&w, &e.id).await.status, TransferStatus::Failed);
    });
}
