//! Signing sessions created by an import, their progress view, and the documents that cross the
//! air gap: signature responses and account manifests (signed by the HSM, checked before), balance
//! attestations (verified, then the evidence for deleting a case), and the re-key mark.

use alloy_primitives::{Signature, U256};
use contracts::envelope::AssetBalance;
use contracts::eth;
use contracts::transfer_format::{from_armor, reassemble, to_armor};
use contracts::{
    AccountManifest, Amount, BalanceAttestation, Envelope, EthAddress, Id, KeyRing, Kind,
    SignatureResponse, SigningRequest,
};
use offline_db::{NewSignature, Role};
use poem::http::StatusCode;
use serde_json::json;

use crate::common::{case_fixture, hsm, on_both, online, Fixture, Session, SoftSigner, TestApp};
use crate::signing::{now, request, seal};

/// A case key held in clear by the test, standing in for the threshold key (the threshold
/// signing path itself is tested in crates/tss and crates/party).
struct TestKey {
    key: k256::ecdsa::SigningKey,
    public_key: String,
    address: String,
}

fn test_key() -> TestKey {
    let key = k256::ecdsa::SigningKey::random(&mut rand_core::OsRng);
    let point = key.verifying_key().to_encoded_point(true);
    let address = eth::address_of_secp256k1(point.as_bytes()).unwrap();
    TestKey {
        key,
        public_key: hex::encode(point.as_bytes()),
        address: address.to_checksum(),
    }
}

/// What the coordinator stores after a signing run: r, s, y-parity and the signed transaction.
fn signature_for(
    key: &k256::ecdsa::SigningKey,
    req: &SigningRequest,
) -> (String, String, i64, Vec<u8>) {
    let (sig, recid) = key.sign_prehash_recoverable(&req.signing_hash).unwrap();
    let (r, s) = (sig.r().to_bytes(), sig.s().to_bytes());
    let alloy_sig = Signature::new(
        U256::from_be_slice(&r),
        U256::from_be_slice(&s),
        recid.is_y_odd(),
    );
    let tx = eth::decode_unsigned(&req.unsigned_tx).unwrap();
    let signed = eth::encode_signed(&tx, &alloy_sig);
    (
        hex::encode(r),
        hex::encode(s),
        i64::from(recid.is_y_odd()),
        signed,
    )
}

/// An ACTIVE case under `key`, and an operator session.
async fn active_case(app: &TestApp, key: &TestKey) -> (Fixture, Session) {
    let f = case_fixture(app).await;
    app.db
        .complete_keygen(
            &f.case_id,
            &key.public_key,
            &key.address,
            "shard-registry",
            app.clock_now(),
        )
        .await
        .unwrap();
    let (_, operator) = app.signed_in("operator", Role::Operator).await;
    (f, operator)
}

async fn import(app: &TestApp, operator: &Session, req: &SigningRequest) -> serde_json::Value {
    let env = seal(req, &online(), now(app));
    let r = app
        .call(
            "POST",
            "/api/signing-requests",
            Some(operator),
            Some(json!({"envelope": to_armor(&env).unwrap()})),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    r.body
}

fn offline_keyring() -> KeyRing {
    KeyRing::new().with_key(
        hsm().envelope_public_key(),
        &[Kind::SignatureResponse, Kind::AccountManifest],
    )
}

#[tokio::test]
async fn an_import_creates_a_signing_session_whose_progress_lists_the_managers() {
    on_both(|app| async move {
        let key = test_key();
        let (f, operator) = active_case(&app, &key).await;
        let req = request(&key.address, 1);
        let imported = import(&app, &operator, &req).await;
        let session_id = imported["session_id"].as_str().unwrap().to_owned();
        assert!(!imported["session_expires_at"].as_str().unwrap().is_empty());

        let list = app
            .call("GET", "/api/sessions", Some(&operator), None)
            .await;
        assert_eq!(list.status, StatusCode::OK, "{:?}", list.body);
        let sessions = list.body.as_array().unwrap();
        assert_eq!(sessions.len(), 1);
        assert_eq!(sessions[0]["id"], session_id.as_str());
        assert_eq!(sessions[0]["kind"], "SIGN");
        assert_eq!(sessions[0]["status"], "PENDING");
        assert_eq!(sessions[0]["case_id"], f.case_id.as_str());
        assert_eq!(sessions[0]["execution_id"].as_str().unwrap().len(), 64);
        let filtered = app
            .call(
                "GET",
                &format!("/api/sessions?case_id={}&status=completed", f.case_id),
                Some(&operator),
                None,
            )
            .await;
        assert_eq!(filtered.body.as_array().unwrap().len(), 0);
        let bad = app
            .call("GET", "/api/sessions?status=DONE", Some(&operator), None)
            .await;
        assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(bad.problem(), "validation-failed");

        let (_, auditor) = app.signed_in("auditor", Role::Auditor).await;
        let detail = app
            .call(
                "GET",
                &format!("/api/sessions/{session_id}"),
                Some(&auditor),
                None,
            )
            .await;
        assert_eq!(detail.status, StatusCode::OK, "{:?}", detail.body);
        let people = detail.body["participants"].as_array().unwrap();
        assert_eq!(people.len(), 3);
        for (i, p) in people.iter().enumerate() {
            assert_eq!(p["share_index"], i as i64);
            assert_eq!(p["status"], "WAITING");
            assert_eq!(p["user_id"], f.managers[i].0.as_str());
            assert_eq!(p["se_serial"], format!("SE-000{i}"));
            assert!(p["phone"].as_str().unwrap().starts_with("+86"));
        }
        let reqs = detail.body["requests"].as_array().unwrap();
        assert_eq!(reqs.len(), 1);
        assert_eq!(reqs[0]["request_id"], req.request_id.to_string());
        assert_eq!(reqs[0]["tx_hash"], hex::encode(req.signing_hash));
        let missing = app
            .call(
                "GET",
                "/api/sessions/00000000-0000-7000-8000-000000000000",
                Some(&auditor),
                None,
            )
            .await;
        assert_eq!(missing.status, StatusCode::NOT_FOUND);
        assert!(app.db.verify_audit().await.unwrap().is_intact());
    })
    .await;
}

#[tokio::test]
async fn a_signed_request_exports_a_response_that_verifies_under_the_hsm_key() {
    on_both(|app| async move {
        let key = test_key();
        let (_, operator) = active_case(&app, &key).await;
        let req = request(&key.address, 1);
        let imported = import(&app, &operator, &req).await;
        let row_id = imported["id"].as_str().unwrap().to_owned();
        let session_id = imported["session_id"].as_str().unwrap().to_owned();
        let url = format!("/api/signing-requests/{row_id}/response");

        // No signature yet: nothing to export, nothing written.
        let before = app.snapshot().await;
        let r = app.call("POST", &url, Some(&operator), None).await;
        assert_eq!(r.status, StatusCode::CONFLICT, "{:?}", r.body);
        assert!(r.body["detail"].as_str().unwrap().contains("no signature"));
        assert_eq!(app.snapshot().await, before);

        let (r_hex, s_hex, v, signed) = signature_for(&key.key, &req);
        app.db
            .record_signature(
                NewSignature {
                    signing_request_id: row_id.clone(),
                    session_id: session_id.clone(),
                    r: r_hex,
                    s: s_hex,
                    v,
                    raw_signed_tx: signed.clone(),
                },
                "service:coordinator",
                app.clock_now(),
            )
            .await
            .unwrap();
        let r = app.call("POST", &url, Some(&operator), None).await;
        assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
        assert_eq!(r.body["kind"], "signature_response");
        let envelope = from_armor(r.body["armored"].as_str().unwrap()).unwrap();
        let parts: Vec<&str> = r.body["qr_parts"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p.as_str().unwrap())
            .collect();
        assert_eq!(
            reassemble(parts).unwrap(),
            envelope,
            "the QR parts carry the same document"
        );
        assert_eq!(
            envelope.id().to_string(),
            r.body["envelope_id"].as_str().unwrap()
        );
        let verified = envelope
            .verify::<SignatureResponse>(&offline_keyring(), now(&app))
            .unwrap();
        let response = verified.body();
        // The online zone's own check: same request, same transaction, recovers to the account.
        response.check_against(&req).unwrap();
        assert_eq!(response.signed_tx, signed);
        // Independently of contracts: alloy recovers the case address from the signed transaction.
        let decoded = eth::decode_signed(&response.signed_tx).unwrap();
        let recovered = decoded
            .signature
            .recover_address_from_prehash(&alloy_primitives::B256::from(req.signing_hash))
            .unwrap();
        assert_eq!(EthAddress::from(recovered).to_checksum(), key.address);
        // The online zone's key cannot pass for the HSM's.
        let wrong = KeyRing::new().with_key(
            online().0.verifying_key().into(),
            &[Kind::SignatureResponse],
        );
        assert!(envelope
            .verify::<SignatureResponse>(&wrong, now(&app))
            .is_err());

        let rec = audit::query(app.db.conn(), audit::Filter::default())
            .await
            .unwrap()
            .pop()
            .unwrap();
        assert_eq!(rec.action, "signature_response.exported");
        assert_eq!(rec.details["envelope_id"], envelope.id().to_string());
        let list = app
            .call("GET", "/api/signing-requests", Some(&operator), None)
            .await;
        assert_eq!(list.body[0]["status"], "EXPORTED");
        let detail = app
            .call(
                "GET",
                &format!("/api/sessions/{session_id}"),
                Some(&operator),
                None,
            )
            .await;
        assert_eq!(detail.body["session"]["status"], "COMPLETED");
        assert_eq!(detail.body["signatures"].as_array().unwrap().len(), 1);

        // A stored signature by another key never leaves the zone.
        let req2 = request(&key.address, 1);
        let imported2 = import(&app, &operator, &req2).await;
        let (r_hex, s_hex, v, signed) = signature_for(&test_key().key, &req2);
        app.db
            .record_signature(
                NewSignature {
                    signing_request_id: imported2["id"].as_str().unwrap().to_owned(),
                    session_id: imported2["session_id"].as_str().unwrap().to_owned(),
                    r: r_hex,
                    s: s_hex,
                    v,
                    raw_signed_tx: signed,
                },
                "service:coordinator",
                app.clock_now(),
            )
            .await
            .unwrap();
        let before = app.snapshot().await;
        let r = app
            .call(
                "POST",
                &format!(
                    "/api/signing-requests/{}/response",
                    imported2["id"].as_str().unwrap()
                ),
                Some(&operator),
                None,
            )
            .await;
        assert_eq!(r.status, StatusCode::CONFLICT, "{:?}", r.body);
        assert!(
            r.body["detail"]
                .as_str()
                .unwrap()
                .contains("does not check out"),
            "{:?}",
            r.body
        );
        assert_eq!(app.snapshot().await, before);
        // The admin may not export (signing traffic is outside the admin role).
        let (_, admin) = app.second_admin().await;
        let r = app.call("POST", &url, Some(admin), None).await;
        assert_eq!(r.status, StatusCode::FORBIDDEN);
    })
    .await;
}

#[tokio::test]
async fn an_active_case_exports_its_manifest_signed_by_the_hsm() {
    on_both(|app| async move {
        let draft = case_fixture(&app).await;
        let (_, operator) = app.signed_in("operator", Role::Operator).await;
        let before = app.snapshot().await;
        let r = app
            .call(
                "POST",
                &format!("/api/cases/{}/manifest", draft.case_id),
                Some(&operator),
                None,
            )
            .await;
        assert_eq!(r.status, StatusCode::CONFLICT, "{:?}", r.body);
        assert!(r.body["detail"].as_str().unwrap().contains("not active"));
        assert_eq!(app.snapshot().await, before);

        let key = test_key();
        app.db
            .complete_keygen(
                &draft.case_id,
                &key.public_key,
                &key.address,
                "shard-registry",
                app.clock_now(),
            )
            .await
            .unwrap();
        let r = app
            .call(
                "POST",
                &format!("/api/cases/{}/manifest", draft.case_id),
                Some(&operator),
                None,
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
        assert_eq!(r.body["kind"], "account_manifest");
        let envelope = from_armor(r.body["armored"].as_str().unwrap()).unwrap();
        let manifest = envelope
            .verify::<AccountManifest>(&offline_keyring(), now(&app))
            .unwrap()
            .into_body();
        assert_eq!(manifest.case_id.to_string(), draft.case_id);
        assert_eq!(hex::encode(&manifest.public_key), key.public_key);
        assert_eq!(manifest.addresses.len(), 1);
        assert_eq!(manifest.addresses[0].to_checksum(), key.address);
        assert_eq!(manifest.chain_ids, vec![1, 11155111]);
        let rec = audit::query(app.db.conn(), audit::Filter::default())
            .await
            .unwrap()
            .pop()
            .unwrap();
        assert_eq!(rec.action, "account_manifest.exported");
        let r = app
            .call(
                "POST",
                "/api/cases/00000000-0000-7000-8000-000000000000/manifest",
                Some(&operator),
                None,
            )
            .await;
        assert_eq!(r.status, StatusCode::NOT_FOUND);
    })
    .await;
}

fn attestation(address: &str, wei: u64, signer: &SoftSigner, issued_at: u64) -> Envelope {
    let body = BalanceAttestation {
        address: EthAddress::parse(address).unwrap(),
        chain_id: 1,
        balances: vec![AssetBalance {
            asset: "ETH".into(),
            token: None,
            amount: Amount::from(u128::from(wei)),
        }],
        block_number: 19_000_000,
        block_hash: [7; 32],
    };
    Envelope::seal(&body, signer, Id::new_v7(issued_at), issued_at, 3600).unwrap()
}

async fn delete(app: &TestApp, f: &Fixture) -> crate::common::Reply {
    let url = format!("/api/cases/{}", f.case_id);
    app.call(
        "DELETE",
        &url,
        Some(&f.admin),
        Some(json!({"password": crate::common::PASSWORD})),
    )
    .await
}

#[tokio::test]
async fn a_case_with_a_key_is_deleted_only_after_an_empty_balance_attestation() {
    on_both(|app| async move {
        let key = test_key();
        let (f, operator) = active_case(&app, &key).await;
        let before = app.snapshot().await;
        let r = delete(&app, &f).await;
        assert_eq!(r.status, StatusCode::CONFLICT, "{:?}", r.body);
        assert!(r.body["detail"]
            .as_str()
            .unwrap()
            .contains("zero-balance attestation"));
        assert_eq!(app.snapshot().await, before);

        // A funded account's attestation is stored but does not allow deletion.
        let t = now(&app);
        let funded = attestation(&key.address, 5, &online(), t);
        let r = app
            .call(
                "POST",
                "/api/balance-attestations",
                Some(&operator),
                Some(json!({"envelope": to_armor(&funded).unwrap()})),
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
        assert_eq!(r.body["empty"], false);
        assert_eq!(r.body["address"], key.address.as_str());
        let r = delete(&app, &f).await;
        assert_eq!(r.status, StatusCode::CONFLICT);
        assert!(
            r.body["detail"].as_str().unwrap().contains("shows funds"),
            "{:?}",
            r.body
        );

        // Rejections write nothing: a replay, an unknown signer, garbage.
        let before = app.snapshot().await;
        let r = app
            .call(
                "POST",
                "/api/balance-attestations",
                Some(&operator),
                Some(json!({"envelope": to_armor(&funded).unwrap()})),
            )
            .await;
        assert_eq!(r.status, StatusCode::CONFLICT, "{:?}", r.body);
        assert!(r.body["detail"]
            .as_str()
            .unwrap()
            .contains("already imported"));
        let stranger = SoftSigner::from_seed([0x42; 32]);
        let forged = attestation(&key.address, 0, &stranger, t);
        let r = app
            .call(
                "POST",
                "/api/balance-attestations",
                Some(&operator),
                Some(json!({"envelope": to_armor(&forged).unwrap()})),
            )
            .await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(r.problem(), "unknown-signer");
        let r = app
            .call(
                "POST",
                "/api/balance-attestations",
                Some(&operator),
                Some(json!({"envelope": "nonsense"})),
            )
            .await;
        assert_eq!(r.problem(), "malformed-envelope");
        assert_eq!(app.snapshot().await, before);

        // An empty account's attestation from the online zone's key: the case may go.
        let empty = attestation(&key.address, 0, &online(), t + 1);
        let r = app
            .call(
                "POST",
                "/api/balance-attestations",
                Some(&operator),
                Some(json!({"envelope": to_armor(&empty).unwrap()})),
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
        assert_eq!(r.body["empty"], true);
        let r = delete(&app, &f).await;
        app.approve(r).await;
        assert!(app.db.case(&f.case_id).await.unwrap().is_none());
        let rec = audit::query(
            app.db.conn(),
            audit::Filter {
                action: Some("case.deleted".into()),
                ..Default::default()
            },
        )
        .await
        .unwrap()
        .pop()
        .unwrap();
        assert_eq!(rec.action, "case.deleted");
        assert_eq!(rec.details["attestation"]["id"], empty.id().to_string());
        assert!(app.db.verify_audit().await.unwrap().is_intact());
    })
    .await;
}

#[tokio::test]
async fn an_active_case_is_marked_for_rekey_once() {
    on_both(|app| async move {
        let key = test_key();
        let (f, _) = active_case(&app, &key).await;
        let url = format!("/api/cases/{}/rekey", f.case_id);
        let r = app
            .call(
                "POST",
                &url,
                Some(&f.admin),
                Some(json!({"reason": "SE-0002 lost"})),
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
        assert_eq!(r.body["rekey_reason"], "SE-0002 lost");
        assert!(r.body["rekey_requested_at"].is_string());
        let before = app.snapshot().await;
        let r = app
            .call(
                "POST",
                &url,
                Some(&f.admin),
                Some(json!({"reason": "again"})),
            )
            .await;
        assert_eq!(r.status, StatusCode::CONFLICT);
        let r = app
            .call("POST", &url, Some(&f.admin), Some(json!({"reason": ""})))
            .await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(app.snapshot().await, before);
        let detail = app
            .call(
                "GET",
                &format!("/api/cases/{}", f.case_id),
                Some(&f.admin),
                None,
            )
            .await;
        assert_eq!(detail.body["case"]["rekey_reason"], "SE-0002 lost");
    })
    .await;
}
