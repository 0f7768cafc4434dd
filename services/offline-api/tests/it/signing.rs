//! Signing-request import: success with the who-to-call list, and every rejection with its own
//! problem type and nothing written (row counts and the audit log unchanged).

use base64::Engine as _;
use channel::IdentitySigner;
use contracts::envelope::Person;
use contracts::eth::{self, Eip1559Fields};
use contracts::transfer_format::{to_armor, to_qr_parts};
use contracts::{Amount, Envelope, EthAddress, Id, SigningRequest, TransferSummary};
use poem::http::StatusCode;
use serde_json::json;

use crate::cases::case_key;
use crate::common::{case_fixture, on_both, online, SoftSigner, TestApp, PASSWORD};

const TTL: u64 = 3600;

pub(crate) fn request(from: &str, chain_id: u64) -> SigningRequest {
    let recipient = EthAddress::parse("0x00000000000000000000000000000000000000a1").unwrap();
    let value = Amount::from(1_500_000_000_000_000_000u128);
    let fields = Eip1559Fields {
        chain_id,
        nonce: 7,
        max_priority_fee_per_gas: Amount::from(1_500_000_000u128),
        max_fee_per_gas: Amount::from(30_000_000_000u128),
        gas_limit: 21_000,
        to: recipient,
        value,
        data: Vec::new(),
    };
    let unsigned_tx = fields.encode_unsigned().unwrap();
    SigningRequest {
        request_id: Id::new_v7(1_750_000_000),
        chain_id,
        from: EthAddress::parse(from).unwrap(),
        signing_hash: eth::signing_hash(&unsigned_tx),
        unsigned_tx,
        transaction: fields,
        summary: TransferSummary {
            asset_symbol: "ETH".into(),
            token: None,
            recipient,
            amount: value,
            decimals: 18,
        },
        created_by: Person {
            user_id: Id::new_v7(1_750_000_000),
            username: "trader-alice".into(),
        },
        approved_by: vec![Person {
            user_id: Id::new_v7(1_750_000_000),
            username: "approver-bob".into(),
        }],
    }
}

pub(crate) fn now(app: &TestApp) -> u64 {
    u64::try_from(app.clock_now().timestamp()).unwrap()
}

pub(crate) fn seal(req: &SigningRequest, signer: &SoftSigner, issued_at: u64) -> Envelope {
    Envelope::seal(req, signer, Id::new_v7(issued_at), issued_at, TTL).unwrap()
}

/// An envelope `seal` would refuse to make (an inconsistent body), signed by `signer`.
#[derive(serde::Serialize)]
struct RawEnvelope {
    version: u8,
    kind: &'static str,
    id: Id,
    #[serde(with = "serde_bytes")]
    signer_key_id: [u8; 32],
    issued_at: u64,
    expires_at: u64,
    #[serde(with = "serde_bytes")]
    payload: Vec<u8>,
    witness: Vec<contracts::AuditCheckpoint>,
    #[serde(with = "serde_bytes")]
    signature: Vec<u8>,
}

fn raw_signed(req: &SigningRequest, signer: &SoftSigner, issued_at: u64) -> Vec<u8> {
    use sha2::{Digest, Sha256};
    let mut raw = RawEnvelope {
        version: 2,
        kind: "signing_request",
        id: Id::new_v7(issued_at),
        signer_key_id: channel::cert::key_id(&signer.public_key()),
        issued_at,
        expires_at: issued_at + TTL,
        payload: rmp_serde::to_vec_named(req).unwrap(),
        witness: Vec::new(),
        signature: Vec::new(),
    };
    let mut h = Sha256::new();
    for field in [
        b"custody/envelope/v2".as_slice(),
        &[raw.version],
        raw.kind.as_bytes(),
        raw.id.as_bytes(),
        &raw.signer_key_id,
        &raw.issued_at.to_be_bytes(),
        &raw.expires_at.to_be_bytes(),
        &raw.payload,
        // The witness count (none), as u32 BE.
        &0u32.to_be_bytes(),
    ] {
        h.update((field.len() as u32).to_be_bytes());
        h.update(field);
    }
    let digest: [u8; 32] = h.finalize().into();
    raw.signature = signer.sign_digest(&digest).unwrap().to_bytes().to_vec();
    rmp_serde::to_vec_named(&raw).unwrap()
}

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

#[tokio::test]
async fn import_returns_the_decoded_transaction_and_who_to_call() {
    on_both(|app| async move {
        let f = case_fixture(&app).await;
        let (pk, addr) = case_key();
        app.db
            .complete_keygen(&f.case_id, &pk, &addr, "shard-registry", app.clock_now())
            .await
            .unwrap();
        let (_, operator) = app.signed_in("operator", offline_db::Role::Operator).await;
        let t = now(&app);
        let req = request(&addr, 1);
        let env = seal(&req, &online(), t);

        let r = app
            .call(
                "POST",
                "/api/signing-requests",
                Some(&operator),
                Some(json!({"envelope": to_armor(&env).unwrap()})),
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
        assert_eq!(r.body["case_id"], f.case_id.as_str());
        assert_eq!(r.body["request_id"], req.request_id.to_string());
        let tx = &r.body["transaction"];
        assert_eq!(tx["chain_id"], 1);
        assert_eq!(
            tx["from"].as_str().unwrap().to_lowercase(),
            addr.to_lowercase()
        );
        assert_eq!(tx["amount"], "1500000000000000000");
        assert_eq!(tx["asset_symbol"], "ETH");
        assert_eq!(tx["nonce"], 7);
        assert_eq!(tx["signing_hash"], hex::encode(req.signing_hash));
        assert_eq!(r.body["created_by"], "trader-alice");
        let who = r.body["who_to_call"].as_array().unwrap();
        assert_eq!(who.len(), 3);
        for (i, c) in who.iter().enumerate() {
            assert_eq!(c["share_index"], i as i64);
            assert_eq!(c["user_id"], f.managers[i].0.as_str());
            assert_eq!(c["display_name"], format!("manager{i} display"));
            assert!(c["phone"].as_str().unwrap().starts_with("+86"));
            assert_eq!(c["se_serial"], format!("SE-000{i}"));
        }
        let list = app
            .call("GET", "/api/signing-requests", Some(&operator), None)
            .await;
        assert_eq!(list.body.as_array().unwrap().len(), 1);
        assert_eq!(list.body[0]["status"], "IMPORTED");

        // The QR form and base64 bytes are accepted too (new request ids).
        let env2 = seal(&request(&addr, 1), &online(), t);
        let qr = to_qr_parts(&env2).unwrap().join("\n");
        let r = app
            .call(
                "POST",
                "/api/signing-requests",
                Some(&operator),
                Some(json!({"envelope": qr})),
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
        let env3 = seal(&request(&addr, 11_155_111), &online(), t);
        let r = app
            .call(
                "POST",
                "/api/signing-requests",
                Some(&operator),
                Some(json!({"envelope": b64(&env3.to_bytes().unwrap())})),
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
        assert!(app.db.verify_audit().await.unwrap().is_intact());
    })
    .await;
}

#[tokio::test]
async fn each_import_rejection_has_its_own_problem_and_writes_nothing() {
    on_both(|app| async move {
        let f = case_fixture(&app).await;
        let (pk, addr) = case_key();
        app.db
            .complete_keygen(&f.case_id, &pk, &addr, "shard-registry", app.clock_now())
            .await
            .unwrap();
        let (_, operator) = app.signed_in("operator", offline_db::Role::Operator).await;
        let t = now(&app);

        // Replay: the first import succeeds, the second is refused.
        let good = seal(&request(&addr, 1), &online(), t);
        let armored = to_armor(&good).unwrap();
        let r = app
            .call(
                "POST",
                "/api/signing-requests",
                Some(&operator),
                Some(json!({"envelope": armored})),
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);

        let mut tampered = good.to_bytes().unwrap();
        let last = tampered.len() - 1;
        tampered[last] ^= 0x01;
        let stranger = SoftSigner::from_seed([0x44; 32]);
        let mut bad_hash = request(&addr, 1);
        bad_hash.signing_hash[0] ^= 0xff;
        let mut chain_mismatch = request(&addr, 1);
        chain_mismatch.chain_id = 5;
        let unknown_addr = request("0x00000000000000000000000000000000000000b2", 1);
        let (_, other_addr) = case_key();

        let cases: Vec<(&str, String, StatusCode, &str)> = vec![
            (
                "bad signature",
                b64(&tampered),
                StatusCode::UNPROCESSABLE_ENTITY,
                "bad-signature",
            ),
            (
                "unknown signer",
                to_armor(&seal(&request(&addr, 1), &stranger, t)).unwrap(),
                StatusCode::UNPROCESSABLE_ENTITY,
                "unknown-signer",
            ),
            (
                "expired",
                to_armor(&seal(&request(&addr, 1), &online(), t - 2 * TTL)).unwrap(),
                StatusCode::UNPROCESSABLE_ENTITY,
                "expired",
            ),
            (
                "replayed",
                armored.clone(),
                StatusCode::CONFLICT,
                "replayed",
            ),
            (
                "hash mismatch",
                b64(&raw_signed(&bad_hash, &online(), t)),
                StatusCode::UNPROCESSABLE_ENTITY,
                "hash-mismatch",
            ),
            (
                "request chain differs from the transaction's",
                b64(&raw_signed(&chain_mismatch, &online(), t)),
                StatusCode::UNPROCESSABLE_ENTITY,
                "wrong-chain",
            ),
            (
                "chain the case does not sign on",
                to_armor(&seal(&request(&addr, 137), &online(), t)).unwrap(),
                StatusCode::UNPROCESSABLE_ENTITY,
                "wrong-chain",
            ),
            (
                "unknown address",
                to_armor(&seal(&unknown_addr, &online(), t)).unwrap(),
                StatusCode::UNPROCESSABLE_ENTITY,
                "unknown-account",
            ),
            (
                "address of no active case",
                to_armor(&seal(&request(&other_addr, 1), &online(), t)).unwrap(),
                StatusCode::UNPROCESSABLE_ENTITY,
                "unknown-account",
            ),
            (
                "malformed text",
                "hello, this is not an envelope".to_owned(),
                StatusCode::UNPROCESSABLE_ENTITY,
                "malformed-envelope",
            ),
            (
                "malformed bytes",
                b64(b"\x93\x01\x02\x03garbage"),
                StatusCode::UNPROCESSABLE_ENTITY,
                "malformed-envelope",
            ),
            (
                "oversized",
                "A".repeat(offline_api::MAX_IMPORT_CHARS + 1),
                StatusCode::PAYLOAD_TOO_LARGE,
                "oversized",
            ),
        ];
        let before = app.snapshot().await;
        for (what, envelope, status, slug) in cases {
            let r = app
                .call(
                    "POST",
                    "/api/signing-requests",
                    Some(&operator),
                    Some(json!({"envelope": envelope})),
                )
                .await;
            assert_eq!(r.status, status, "{what}: {:?}", r.body);
            assert_eq!(r.problem(), slug, "{what}: {:?}", r.body);
            assert_eq!(
                r.headers.get("content-type").unwrap(),
                "application/problem+json",
                "{what}"
            );
            assert!(!r.body["detail"].as_str().unwrap().is_empty(), "{what}");
            assert_eq!(app.snapshot().await, before, "{what} wrote something");
        }
        // A body over the server's limit is refused before it is read.
        let huge = "A".repeat(offline_api::MAX_BODY_BYTES + 10);
        let r = app
            .call(
                "POST",
                "/api/signing-requests",
                Some(&operator),
                Some(json!({"envelope": huge})),
            )
            .await;
        assert_eq!(r.status, StatusCode::PAYLOAD_TOO_LARGE, "{:?}", r.body);
        assert_eq!(r.problem(), "oversized");
        // An archived case's account is unknown for signing.
        let r = app
            .call(
                "POST",
                &format!("/api/cases/{}/archive", f.case_id),
                Some(&f.admin),
                Some(json!({"password": PASSWORD})),
            )
            .await;
        app.approve(r).await;
        let r = app
            .call(
                "POST",
                "/api/signing-requests",
                Some(&operator),
                Some(
                    json!({"envelope": to_armor(&seal(&request(&addr, 1), &online(), t)).unwrap()}),
                ),
            )
            .await;
        assert_eq!(r.problem(), "unknown-account");
        // Expiry follows the injected clock.
        let fresh = to_armor(&seal(&request(&addr, 1), &online(), t)).unwrap();
        app.clock.advance(std::time::Duration::from_secs(TTL + 1));
        let operator = app.session("operator", true).await;
        let r = app
            .call(
                "POST",
                "/api/signing-requests",
                Some(&operator),
                Some(json!({"envelope": fresh})),
            )
            .await;
        assert_eq!(r.problem(), "expired");
    })
    .await;
}
