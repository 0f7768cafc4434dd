//! The operation and transaction logs for auditors: what is recorded, the filters, paging,
//! CSV, and that only auditors read them.

use poem::http::StatusCode;

use crate::common::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_logs_record_what_people_do_and_auditors_filter_page_and_download_them() {
    on_both(|w: World| async move {
        // A balance query (cached the second time) and an attestation export.
        let path = format!("/api/accounts/{}/balances", w.account_id);
        let first = w.call("GET", &path, Some(&w.trader), None).await;
        assert_eq!(first.ok()["cached"], false);
        let second = w.call("GET", &path, Some(&w.trader), None).await;
        assert_eq!(second.ok()["cached"], true);
        assert_eq!(second.body["block_number"], first.body["block_number"]);
        let fresh = w
            .call("GET", &format!("{path}?fresh=true"), Some(&w.trader), None)
            .await;
        assert_eq!(fresh.ok()["cached"], false);
        let att = w
            .call(
                "POST",
                &format!("/api/accounts/{}/attestation", w.account_id),
                Some(&w.trader),
                None,
            )
            .await;
        let att = att.ok();
        assert_eq!(att["kind"], "BalanceAttestation");
        let (_, _) = w.exported("ETH", dev_address(PAYEE), 1000).await;

        let ops = |query: &str| {
            let w = &w;
            let query = query.to_owned();
            async move {
                let r = w
                    .call(
                        "GET",
                        &format!("/api/audit/logs/operations{query}"),
                        Some(&w.auditor),
                        None,
                    )
                    .await;
                r.ok().as_array().unwrap().clone()
            }
        };
        let all = ops("?limit=1000").await;
        let actions: Vec<&str> = all.iter().map(|r| r["action"].as_str().unwrap()).collect();
        for expected in [
            "user.created",
            "user.role_changed",
            "auth.login_succeeded",
            "account.imported",
            "account.access_granted",
            "account.balance_queried",
            "account.attestation_exported",
            "transfer.request_exported",
        ] {
            assert!(
                actions.contains(&expected),
                "{expected} missing from {actions:?}"
            );
        }
        // Filters: by action, by user, by account, by time; paging with after_seq.
        let queried = ops("?action=account.balance_queried").await;
        assert_eq!(queried.len(), 3);
        assert_eq!(queried[1]["details"]["cached"], true);
        let by_trader = ops(&format!("?user={}", w.trader_id)).await;
        assert!(by_trader.iter().all(|r| r["actor"] == w.trader_id.as_str()));
        let by_account = ops(&format!("?account_id={}", w.account_id)).await;
        assert!(by_account.len() >= 5);
        assert!(ops("?from=2999-01-01T00:00:00Z").await.is_empty());
        let page1 = ops("?limit=2").await;
        let page2 = ops(&format!("?limit=2&after_seq={}", page1[1]["seq"])).await;
        assert_eq!(page2[0]["seq"], all[2]["seq"]);
        let r = w
            .call(
                "GET",
                "/api/audit/logs/operations?from=yesterday",
                Some(&w.auditor),
                None,
            )
            .await;
        assert_eq!(r.body["field"], "from");

        // CSV: a header, one line per record, formulas neutralised.
        let r = w
            .call(
                "GET",
                "/api/audit/logs/operations/csv",
                Some(&w.auditor),
                None,
            )
            .await;
        assert_eq!(r.status, StatusCode::OK);
        assert!(r.headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/csv"));
        assert!(r.headers["content-disposition"]
            .to_str()
            .unwrap()
            .contains("operation-log.csv"));
        let text = r.body.as_str().unwrap();
        assert!(text.starts_with("seq,at,actor,action,object,details,hash\n"));
        assert_eq!(text.lines().count(), all.len() + 1);
        let tx_csv = w
            .call(
                "GET",
                "/api/audit/logs/transactions/csv",
                Some(&w.auditor),
                None,
            )
            .await;
        assert!(tx_csv.body.as_str().unwrap().contains("transfer.exported"));

        // Only auditors read the logs.
        for who in [&w.admin, &w.trader] {
            let r = w
                .call("GET", "/api/audit/logs/operations", Some(who), None)
                .await;
            assert_eq!(r.status, StatusCode::FORBIDDEN);
        }
        let r = w
            .call("GET", "/api/audit/verify", Some(&w.auditor), None)
            .await;
        assert_eq!(r.ok()["intact"], true);
    })
    .await;
}

#[test]
fn csv_cells_are_quoted_and_formulas_neutralised() {
    let record = audit::Record {
        seq: 1,
        at: chrono::DateTime::from_timestamp(0, 0).unwrap(),
        actor: "=HYPERLINK(\"x\")".to_owned(),
        action: "a,b".to_owned(),
        object: "-1".to_owned(),
        details: serde_json::json!({"k": "v"}),
        prev_hash: String::new(),
        hash: "ab".to_owned(),
    };
    let csv = online_api::to_csv(&[record]);
    let line = csv.lines().nth(1).unwrap();
    assert!(line.contains("\"'=HYPERLINK(\"\"x\"\")\""), "{line}");
    assert!(line.contains("\"a,b\""), "{line}");
    assert!(line.contains("\"'-1\""), "{line}");
}
