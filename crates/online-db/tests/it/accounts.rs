use online_db::{Asset, BalanceQuery, Error, PolicyInput};

use crate::{address_of, eth, key, new_account, on_both, CHAIN};

#[tokio::test]
async fn importing_an_account_is_logged_and_a_duplicate_writes_nothing() {
    on_both!(|w| {
        let other = key(9);
        let before = w.counts().await;
        let account =
            w.db.import_account(new_account(&other, "ops"), &w.admin.id, w.now())
                .await
                .unwrap();
        assert_eq!(account.address, address_of(&other).to_checksum());
        assert_eq!(account.chain_id, CHAIN as i64);
        assert_eq!(
            w.counts().await,
            crate::Counts {
                accounts: before.accounts + 1,
                ..before.logs(1, 0)
            }
        );
        let rec = w.last_operation().await;
        assert_eq!(rec.action, "account.imported");
        assert_eq!(rec.details["account_id"], account.id);
        assert_eq!(rec.details["address"], account.address);

        let before = w.counts().await;
        let dup =
            w.db.import_account(new_account(&other, "again"), &w.admin.id, w.now())
                .await
                .unwrap_err();
        assert!(
            matches!(
                dup,
                Error::AlreadyExists {
                    what: "account",
                    ..
                }
            ),
            "{dup}"
        );
        assert!(dup.to_string().contains(&account.address), "{dup}");
        // A manifest that does not allow this zone's chain.
        let mut wrong_chain = new_account(&key(10), "x");
        wrong_chain.manifest_chain_ids = vec![1];
        let err =
            w.db.import_account(wrong_chain, &w.admin.id, w.now())
                .await
                .unwrap_err();
        assert!(matches!(err, Error::Validation { ref field, .. } if field == "chain_id"));
        assert_eq!(w.counts().await, before);

        let listed = w.db.list_accounts().await.unwrap();
        assert_eq!(listed.len(), 2);
        assert_eq!(
            w.db.account_by_address(&address_of(&other))
                .await
                .unwrap()
                .unwrap()
                .id,
            account.id
        );
    });
}

#[tokio::test]
async fn grants_and_revocations_decide_who_may_use_an_account() {
    on_both!(|w| {
        let before = w.counts().await;
        w.db.grant_account(&w.account.id, &w.outsider.id, &w.admin.id, w.now())
            .await
            .unwrap();
        assert_eq!(
            w.counts().await,
            crate::Counts {
                permissions: before.permissions + 1,
                ..before.logs(1, 0)
            }
        );
        assert!(w.db.may_use(&w.account.id, &w.outsider.id).await.unwrap());
        assert_eq!(
            w.db.accounts_for_user(&w.outsider.id).await.unwrap().len(),
            1
        );
        w.db.revoke_account(&w.account.id, &w.outsider.id, &w.admin.id, w.now())
            .await
            .unwrap();
        assert!(!w.db.may_use(&w.account.id, &w.outsider.id).await.unwrap());

        // Failures write nothing: an auditor cannot be granted, a grant twice, an unknown
        // account, a revocation of nothing.
        let before = w.counts().await;
        let err =
            w.db.grant_account(&w.account.id, &w.auditor.id, &w.admin.id, w.now())
                .await
                .unwrap_err();
        assert!(matches!(err, Error::Validation { .. }), "{err}");
        let err =
            w.db.grant_account(&w.account.id, &w.traders[0].id, &w.admin.id, w.now())
                .await
                .unwrap_err();
        assert!(matches!(err, Error::AlreadyExists { .. }), "{err}");
        let err =
            w.db.grant_account("no-such-account", &w.traders[0].id, &w.admin.id, w.now())
                .await
                .unwrap_err();
        assert!(
            matches!(
                err,
                Error::NotFound {
                    what: "account",
                    ..
                }
            ),
            "{err}"
        );
        let err =
            w.db.revoke_account(&w.account.id, &w.outsider.id, &w.admin.id, w.now())
                .await
                .unwrap_err();
        assert!(matches!(err, Error::NotFound { .. }), "{err}");
        assert_eq!(w.counts().await, before);
    });
}

#[tokio::test]
async fn policies_are_replaced_and_checked() {
    on_both!(|w| {
        let before = w.counts().await;
        let p =
            w.db.set_policy(
                &w.account.id,
                PolicyInput {
                    asset: Asset::Eth,
                    single_limit: eth(5),
                    daily_limit: eth(10),
                    require_approval: true,
                },
                &w.admin.id,
                w.now(),
            )
            .await
            .unwrap();
        // Replaced in place, not added.
        assert_eq!(w.counts().await, before.logs(1, 0));
        assert_eq!(p.single_limit().unwrap(), eth(5));
        assert!(p.require_approval);
        let rec = w.last_operation().await;
        assert_eq!(rec.details["previous"]["single_limit"], "1000");

        let before = w.counts().await;
        let err =
            w.db.set_policy(
                &w.account.id,
                PolicyInput {
                    asset: Asset::Eth,
                    single_limit: eth(11),
                    daily_limit: eth(10),
                    require_approval: false,
                },
                &w.admin.id,
                w.now(),
            )
            .await
            .unwrap_err();
        assert!(matches!(err, Error::Validation { .. }), "{err}");
        let err =
            w.db.set_policy(
                &w.account.id,
                PolicyInput {
                    asset: Asset::Token(crate::addr(0x71)),
                    single_limit: eth(1),
                    daily_limit: eth(10),
                    require_approval: false,
                },
                &w.admin.id,
                w.now(),
            )
            .await
            .unwrap_err();
        assert!(
            matches!(err, Error::Validation { ref field, .. } if field == "asset"),
            "{err}"
        );
        assert_eq!(w.counts().await, before);
    });
}

#[tokio::test]
async fn a_balance_query_is_an_operation() {
    on_both!(|w| {
        let before = w.counts().await;
        w.db.record_balance_query(
            BalanceQuery {
                account_id: w.account.id.clone(),
                block_number: 42,
                balances: vec![(Asset::Eth, eth(7)), (Asset::Token(w.token), eth(9))],
                cached: false,
            },
            &w.traders[0].id,
            w.now(),
        )
        .await
        .unwrap();
        assert_eq!(w.counts().await, before.logs(1, 0));
        let rec = w.last_operation().await;
        assert_eq!(rec.action, "account.balance_queried");
        assert_eq!(rec.details["balances"]["ETH"], "7");
        assert_eq!(rec.details["balances"][w.token.to_checksum()], "9");
        let before = w.counts().await;
        let err =
            w.db.record_balance_query(
                BalanceQuery {
                    account_id: "nope".into(),
                    block_number: 1,
                    balances: vec![],
                    cached: true,
                },
                &w.traders[0].id,
                w.now(),
            )
            .await
            .unwrap_err();
        assert!(matches!(err, Error::NotFound { .. }), "{err}");
        assert_eq!(w.counts().await, before);
    });
}
