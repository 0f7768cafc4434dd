//! Every rejection the issue names answers with a clear problem and changes nothing: row
//! counts, transfer statuses and both logs are compared before and after.

use contracts::transfer_format::{from_armor, to_armor};
use contracts::{Id, KeyRing, Kind, SigningRequest};
use poem::http::StatusCode;
use serde_json::json;
use testkit::envelopes::respond;

use crate::common::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_responses_are_rejected_each_with_its_problem_and_nothing_changes() {
    on_both(|w: World| async move {
        let (id, request) = w.exported("ETH", dev_address(PAYEE), ETHER).await;
        let (_, other_request) = w.exported("ETH", dev_address(PAYEE), ETHER / 2).await;
        let before = w.counts().await;

        // A signature from another key (a case key that is not the account's).
        let (_, wrong_key) = w.offline_sign(&request, &other_case_key(), &offline_hsm());
        let r = w.import(&wrong_key).await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.body);
        assert_eq!(r.problem(), "signature-mismatch", "{}", r.body);

        // An envelope sealed by a key the online zone has not pinned.
        let (_, unpinned) = w.offline_sign(&request, &case_key(), &stranger());
        let r = w.import(&unpinned).await;
        assert_eq!(r.problem(), "unknown-signer", "{}", r.body);

        // A response for another request: the right signature, but the request id of the
        // other transfer (so the signed transaction is not that transfer's).
        let ring = KeyRing::new().with_key(w.export_public, &[Kind::SigningRequest]);
        let req: SigningRequest = from_armor(&request)
            .unwrap()
            .verify(&ring, w.unix())
            .unwrap()
            .into_body();
        let other: SigningRequest = from_armor(&other_request)
            .unwrap()
            .verify(&ring, w.unix())
            .unwrap()
            .into_body();
        let mut swapped = respond(&req, &case_key()).unwrap();
        swapped.request_id = other.request_id;
        let r = w.import(&seal(&swapped, &offline_hsm(), w.unix())).await;
        assert_eq!(r.problem(), "signature-mismatch", "{}", r.body);
        // …and one for a request this zone never exported.
        let mut unknown = respond(&req, &case_key()).unwrap();
        unknown.request_id = Id::new_v7(w.unix());
        let r = w.import(&seal(&unknown, &offline_hsm(), w.unix())).await;
        assert_eq!(r.problem(), "unknown-request", "{}", r.body);

        // A tampered transaction: the recipient changed after signing.
        let mut tampered_req = req.clone();
        tampered_req.transaction.value = contracts::Amount::from(ETHER * 2);
        let tampered = respond(&tampered_req, &case_key()).unwrap();
        let mut forged = respond(&req, &case_key()).unwrap();
        forged.signed_tx = tampered.signed_tx.clone();
        forged.tx_hash = tampered.tx_hash;
        let r = w.import(&seal(&forged, &offline_hsm(), w.unix())).await;
        assert_eq!(r.problem(), "signature-mismatch", "{}", r.body);
        // A tampered envelope: one byte of the armored payload changed.
        let (_, good) = w.offline_sign(&request, &case_key(), &offline_hsm());
        let mut envelope_bytes = from_armor(&good).unwrap().to_bytes().unwrap();
        let n = envelope_bytes.len();
        envelope_bytes[n - 70] ^= 0x01;
        let r = w.import(&base64_of(&envelope_bytes)).await;
        assert!(
            ["bad-signature", "malformed-envelope"].contains(&r.problem()),
            "{}",
            r.body
        );
        // Garbage.
        let r = w.import("this is not an envelope").await;
        assert_eq!(r.problem(), "malformed-envelope", "{}", r.body);
        assert_eq!(
            w.counts().await,
            before,
            "a rejected import changed something"
        );

        // The real response is accepted once; a replay of it is refused.
        let r = w.import(&good).await;
        assert_eq!(r.ok()["status"], "SIGNED");
        assert_eq!(r.ok()["id"], id.as_str());
        let after_first = w.counts().await;
        let r = w.import(&good).await;
        assert_eq!(r.status, StatusCode::CONFLICT, "{}", r.body);
        assert_eq!(r.problem(), "replayed", "{}", r.body);
        // A second, freshly sealed response to the same (now signed) request.
        let (_, again) = w.offline_sign(&request, &case_key(), &offline_hsm());
        let r = w.import(&again).await;
        assert_eq!(r.status, StatusCode::CONFLICT, "{}", r.body);
        assert_eq!(w.counts().await, after_first, "a replay changed something");
    })
    .await;
}

fn base64_of(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_transfers_and_callers_are_refused_and_nothing_changes() {
    on_both(|w: World| async move {
        let payee = dev_address(PAYEE).to_checksum();
        let before = w.counts().await;

        // Above the single limit (10 ETH), and above the balance (anvil gives 10 000 ETH).
        let r = w.create(&w.trader, "ETH", &payee, 11 * ETHER).await;
        assert_eq!(r.problem(), "policy-violation", "{}", r.body);
        assert!(r.body["detail"].as_str().unwrap().contains("limit"), "{}", r.body);
        assert_eq!(w.counts().await, before);
        // Raise the limits so the balance is what refuses the next one.
        w.set_policy("ETH", 20_000 * ETHER, 40_000 * ETHER, false).await;
        let before = w.counts().await;
        let r = w.create(&w.trader, "ETH", &payee, 10_001 * ETHER).await;
        assert_eq!(r.problem(), "policy-violation", "{}", r.body);
        assert!(r.body["detail"].as_str().unwrap().contains("holds"), "{}", r.body);
        // Above the token balance.
        let r = w
            .create(&w.trader, &w.token.to_checksum(), &payee, TOKEN_SUPPLY + 1)
            .await;
        assert_eq!(r.problem(), "policy-violation", "{}", r.body);
        assert_eq!(w.counts().await, before);

        // Destinations: not checksummed (lower case, wrong case), zero, the account itself.
        for (to, why) in [
            (payee.to_lowercase(), "EIP-55"),
            (payee.replacen('C', "c", 1).replacen('a', "A", 1), "checksum"),
            (format!("0x{}", "0".repeat(40)), "zero"),
            (dev_address(CUSTODY).to_checksum(), "itself"),
            ("0x1234".to_owned(), "address"),
        ] {
            let r = w.create(&w.trader, "ETH", &to, ETHER).await;
            assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{to}: {}", r.body);
            assert_eq!(r.problem(), "validation-failed", "{to}: {}", r.body);
            assert_eq!(r.body["field"], "to", "{to}: {}", r.body);
            assert!(r.body["detail"].as_str().unwrap().contains(why), "{to}: {}", r.body);
        }
        // Amount: zero, negative, not a number.
        for amount in ["0", "-1", "1.5", "one"] {
            let r = w
                .call(
                    "POST",
                    "/api/transfers",
                    Some(&w.trader),
                    Some(json!({"account_id": w.account_id, "asset": "ETH", "to": payee, "amount": amount})),
                )
                .await;
            assert_eq!(r.body["field"], "amount", "{amount}: {}", r.body);
        }
        // An allow-list that does not list the payee.
        w.admin_change(
            "POST",
            &format!("/api/accounts/{}/destinations", w.account_id),
            json!({"address": dev_address(7).to_checksum(), "label": "cold wallet"}),
        )
        .await
        .ok();
        let listed = w.counts().await;
        let r = w.create(&w.trader, "ETH", &payee, ETHER).await;
        assert_eq!(r.problem(), "policy-violation", "{}", r.body);
        assert_eq!(w.counts().await, listed);

        // A trader on an account not granted to them; an auditor writing; anonymous.
        let r = w.create(&w.outsider, "ETH", &dev_address(7).to_checksum(), ETHER).await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.body);
        assert_eq!(r.problem(), "not-permitted");
        let r = w.create(&w.auditor, "ETH", &dev_address(7).to_checksum(), ETHER).await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.body);
        assert_eq!(r.problem(), "forbidden");
        let r = w.create(&w.admin, "ETH", &dev_address(7).to_checksum(), ETHER).await;
        assert_eq!(r.problem(), "forbidden", "the admin cannot move funds");
        let r = w
            .call(
                "POST",
                "/api/transfers",
                None,
                Some(json!({"account_id": w.account_id, "asset": "ETH", "to": payee, "amount": "1"})),
            )
            .await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED);
        for (session, path) in [
            (Some(&w.auditor), "/api/signature-responses"),
            (None, "/api/signature-responses"),
            (Some(&w.auditor), "/api/accounts/import"),
        ] {
            let r = w
                .call("POST", path, session, Some(json!({"document": "x"})))
                .await;
            assert!(
                [StatusCode::UNAUTHORIZED, StatusCode::FORBIDDEN].contains(&r.status),
                "{path}: {}",
                r.body
            );
        }
        // The outsider cannot see, export or import on the account either.
        let r = w
            .call("GET", &format!("/api/accounts/{}/balances", w.account_id), Some(&w.outsider), None)
            .await;
        assert_eq!(r.problem(), "not-permitted");
        assert_eq!(w.counts().await, listed, "a refused request changed something");

        // Transfers in flight keep their funds: with 6 000 of the 10 000 ETH exported, 5 000
        // more do not fit although the chain still shows 10 000.
        let cold = dev_address(7);
        w.exported("ETH", cold, 6_000 * ETHER).await;
        let before = w.counts().await;
        let r = w.create(&w.trader, "ETH", &cold.to_checksum(), 5_000 * ETHER).await;
        assert_eq!(r.problem(), "policy-violation", "{}", r.body);
        assert!(
            r.body["detail"].as_str().unwrap().contains("in flight"),
            "{}",
            r.body
        );
        assert_eq!(w.counts().await, before);
        let r = w.create(&w.trader, "ETH", &cold.to_checksum(), 3_000 * ETHER).await;
        assert_eq!(r.ok()["status"], "DRAFT");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_transfer_that_needs_approval_is_exported_only_after_a_second_trader_approves() {
    on_both(|w: World| async move {
        w.set_policy("ETH", 10 * ETHER, 20 * ETHER, true).await;
        let created = w
            .create(&w.trader, "ETH", &dev_address(PAYEE).to_checksum(), ETHER)
            .await;
        let id = created.ok()["id"].as_str().unwrap().to_owned();
        let export = |s: Session| {
            let w = &w;
            let id = id.clone();
            async move {
                w.call(
                    "POST",
                    &format!("/api/transfers/{id}/export"),
                    Some(&s),
                    Some(json!({"password": PASSWORD})),
                )
                .await
            }
        };
        let r = export(w.trader.clone()).await;
        assert_eq!(r.problem(), "policy-violation", "{}", r.body);
        // The maker cannot be the checker.
        let r = w
            .call(
                "POST",
                &format!("/api/transfers/{id}/approve"),
                Some(&w.trader),
                Some(json!({"password": PASSWORD})),
            )
            .await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.body);
        let r = w
            .call(
                "POST",
                &format!("/api/transfers/{id}/approve"),
                Some(&w.trader2),
                Some(json!({"password": PASSWORD})),
            )
            .await;
        assert_eq!(r.ok()["approved_by"], w.trader2_id.as_str());
        let r = export(w.trader.clone()).await;
        let body = r.ok();
        assert_eq!(body["transfer"]["status"], "EXPORTED");
        // The request names both people and renders as QR codes (SVG and PNG).
        let (request, _) = w.offline_sign(
            body["document"]["armored"].as_str().unwrap(),
            &case_key(),
            &offline_hsm(),
        );
        assert_eq!(request.created_by.username, "trader");
        assert_eq!(request.approved_by[0].username, "trader2");
        let parts = body["document"]["qr_parts"].as_array().unwrap().len();
        assert!(parts >= 1);
        assert_eq!(body["document"]["qr_svg"].as_array().unwrap().len(), parts);
        assert!(body["document"]["qr_svg"][0]
            .as_str()
            .unwrap()
            .contains("<svg"));
        assert_eq!(
            body["document"]["qr_png_base64"].as_array().unwrap().len(),
            parts
        );
        let qr: Vec<&str> = body["document"]["qr_parts"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p.as_str().unwrap())
            .collect();
        let from_qr = contracts::transfer_format::reassemble(qr).unwrap();
        assert_eq!(
            to_armor(&from_qr).unwrap(),
            body["document"]["armored"].as_str().unwrap()
        );
        // Exported again (a lost file): the same request id in a fresh envelope, logged; the
        // transfer does not change. Once signed, it cannot be exported any more.
        let again = export(w.trader.clone()).await;
        let again = again.ok();
        assert_eq!(again["transfer"]["status"], "EXPORTED");
        assert_ne!(again["document"]["id"], body["document"]["id"]);
        let (request_again, response) = w.offline_sign(
            again["document"]["armored"].as_str().unwrap(),
            &case_key(),
            &offline_hsm(),
        );
        assert_eq!(request_again.request_id, request.request_id);
        let r = export(w.trader2.clone()).await;
        assert_eq!(
            r.ok()["transfer"]["status"],
            "EXPORTED",
            "any granted trader may"
        );
        let r = export(w.outsider.clone()).await;
        assert_eq!(r.problem(), "not-permitted");
        assert_eq!(w.import(&response).await.ok()["status"], "SIGNED");
        let r = export(w.trader.clone()).await;
        assert_eq!(r.status, StatusCode::CONFLICT);
    })
    .await;
}
