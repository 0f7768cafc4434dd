//! The offline zone's front end in a real browser: the offline API over real TCP (SQLite file
//! database, the HSM on a SoftHSM2 token, the built front end served on the same port), driven
//! by `web/e2e/offline.mjs` in Debian's chromium. The admin adds users and SEs, creates a case
//! and replaces a manager; the operator imports a signing request, watches the managers join
//! and the session complete live, and exports the signature response (QR + file); the auditor
//! reads the audit log. The steps of other parties (keygen finishing, the online zone sealing a
//! request, managers' clients connecting, the coordinator recording their signature) are done
//! by this test through its oracle server with the offline-db calls those parties make.
//! Afterwards the database must show what the browser did, and the file the browser downloaded
//! must verify under the HSM's envelope key and recover to the case address.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    reason = "test code: a failed unwrap is how a test fails"
)]

use std::sync::{Arc, Mutex};
use std::time::Duration;

use channel::IdentitySigner;
use chrono::Utc;
use contracts::envelope::Person;
use contracts::eth::{self, Eip1559Fields};
use contracts::transfer_format::{from_armor, to_armor};
use contracts::{
    Amount, Envelope, EthAddress, Id, KeyRing, Kind, SignatureResponse, SigningRequest,
    TransferSummary,
};
use offline_api::AppState;
use offline_db::entity::{key_shares, protocol_sessions, secure_elements, signing_requests, users};
use offline_db::{
    Db, KeyShareStatus, NewSignature, NewUser, ParticipantStatus, Role, SessionStatus,
    SigningRequestStatus, UserStatus,
};
use poem::web::{Data, Json};
use poem::{handler, post, EndpointExt, Route};
use sea_orm::EntityTrait;
use serde_json::{json, Value};
use testkit::db::TestDb;
use testkit::envelopes::SoftSigner;
use testkit::softhsm::{random_pin, SoftHsm};
use web_e2e::{free_port, run_browser_script, web_dir};

const ADMIN: &str = "admin-wang";
const ADMIN_PASSWORD: &str = "harbour lantern 2048 kite";
/// The second administrator of the bootstrap ceremony, who approves what the first proposes.
const ADMIN2: &str = "admin-zhou";
const ADMIN2_PASSWORD: &str = "quiet meadow 4096 oar";

/// The people the admin adds in the browser: (username, display name, phone, role, password).
const PEOPLE: [(&str, &str, &str, &str, &str); 6] = [
    (
        "mgr-li",
        "李娜",
        "+86 138 0000 0001",
        "case_manager",
        "plum blossom river 01",
    ),
    (
        "mgr-zhang",
        "张伟",
        "+86 138 0000 0002",
        "case_manager",
        "plum blossom river 02",
    ),
    (
        "mgr-liu",
        "刘洋",
        "+86 138 0000 0003",
        "case_manager",
        "plum blossom river 03",
    ),
    (
        "mgr-chen",
        "陈静",
        "+86 138 0000 0004",
        "case_manager",
        "plum blossom river 04",
    ),
    (
        "op-zhao",
        "赵敏",
        "+86 139 0000 0005",
        "operator",
        "copper kettle window 05",
    ),
    (
        "aud-sun",
        "孙强",
        "+86 137 0000 0006",
        "auditor",
        "silver anchor meadow 06",
    ),
];

/// The online zone's export key, a software stand-in pinned by the offline API.
fn online() -> SoftSigner {
    SoftSigner::from_seed([0x11; 32])
}

/// The stand-in for the case's distributed key (what two managers' shares sign with).
fn case_key() -> k256::ecdsa::SigningKey {
    k256::ecdsa::SigningKey::from_bytes(&[0x42; 32].into()).expect("a valid secp256k1 scalar")
}

/// What the oracle needs: the database and the stand-in case key it makes ACTIVE; it keeps
/// the signature response the browser downloaded for the checks afterwards.
struct Oracle {
    db: Db,
    address: Mutex<Option<String>>,
    exported: Mutex<Option<String>>,
}

fn fail(e: impl std::fmt::Display) -> poem::Error {
    poem::Error::from_string(e.to_string(), poem::http::StatusCode::INTERNAL_SERVER_ERROR)
}

fn field<'a>(body: &'a Value, name: &str) -> poem::Result<&'a str> {
    body[name]
        .as_str()
        .ok_or_else(|| fail(format!("{name} is missing")))
}

/// The SE's identity key (P-256) of SE `i` (1..=4), as the SEs in this test hold them.
fn se_key(i: u8) -> p256::ecdsa::SigningKey {
    p256::ecdsa::SigningKey::from_bytes(&[0x20 + i; 32].into()).unwrap()
}

/// A manager's PC running `custody-client enroll --challenge` with SE `index`: the SE signs the
/// manager's challenge; returns the proof text the command prints.
#[handler]
async fn enrol(body: Json<Value>) -> poem::Result<Json<Value>> {
    let index = body
        .get("index")
        .and_then(Value::as_u64)
        .and_then(|i| u8::try_from(i).ok())
        .ok_or_else(|| fail("index is missing"))?;
    let challenge = hex::decode(field(&body, "challenge")?).map_err(fail)?;
    let signer = SoftSigner(se_key(index));
    let proof = channel::EnrolmentProof::sign(&signer, &format!("SE-WEB-000{index}"), &challenge)
        .map_err(fail)?;
    Ok(Json(json!({ "proof": proof.to_text().map_err(fail)? })))
}

/// Keygen finished: the case becomes ACTIVE with a stand-in secp256k1 key.
#[handler]
async fn activate(oracle: Data<&Arc<Oracle>>, body: Json<Value>) -> poem::Result<Json<Value>> {
    let case_id = field(&body, "case_id")?;
    let key = case_key();
    let point = key.verifying_key().to_encoded_point(true);
    let address = eth::address_of_secp256k1(point.as_bytes())
        .map_err(fail)?
        .to_checksum();
    oracle
        .db
        .complete_keygen(
            case_id,
            &hex::encode(point.as_bytes()),
            &address,
            "shard-registry",
            Utc::now(),
        )
        .await
        .map_err(fail)?;
    *oracle.address.lock().unwrap() = Some(address.clone());
    Ok(Json(json!({ "address": address })))
}

/// The online zone sends a signing request from the case address (1.5 ETH, nonce 7).
#[handler]
async fn signing_request(oracle: Data<&Arc<Oracle>>) -> poem::Result<Json<Value>> {
    let from = oracle
        .address
        .lock()
        .unwrap()
        .clone()
        .ok_or_else(|| fail("activate the case first"))?;
    let now = u64::try_from(Utc::now().timestamp()).map_err(fail)?;
    let recipient =
        EthAddress::parse("0x00000000000000000000000000000000000000a1").map_err(fail)?;
    let value = Amount::from(1_500_000_000_000_000_000u128);
    let fields = Eip1559Fields {
        chain_id: 1,
        nonce: 7,
        max_priority_fee_per_gas: Amount::from(1_500_000_000u128),
        max_fee_per_gas: Amount::from(30_000_000_000u128),
        gas_limit: 21_000,
        to: recipient,
        value,
        data: Vec::new(),
    };
    let unsigned_tx = fields.encode_unsigned().map_err(fail)?;
    let request = SigningRequest {
        request_id: Id::new_v7(now),
        chain_id: 1,
        from: EthAddress::parse(&from).map_err(fail)?,
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
            user_id: Id::new_v7(now),
            username: "trader-alice".into(),
        },
        approved_by: vec![Person {
            user_id: Id::new_v7(now),
            username: "approver-bob".into(),
        }],
    };
    let envelope = Envelope::seal(&request, &online(), Id::new_v7(now), now, 3600).map_err(fail)?;
    Ok(Json(json!({
        "armored": to_armor(&envelope).map_err(fail)?,
        "signing_hash": hex::encode(request.signing_hash),
        "request_id": request.request_id.to_string(),
    })))
}

/// A manager's client connects over a secure channel and makes its share available (what the
/// coordinator records).
#[handler]
async fn join(oracle: Data<&Arc<Oracle>>, body: Json<Value>) -> poem::Result<Json<Value>> {
    let session_id = field(&body, "session_id")?;
    let index = body["share_index"]
        .as_i64()
        .and_then(|i| i32::try_from(i).ok())
        .ok_or_else(|| fail("share_index is missing"))?;
    let db = &oracle.db;
    let session = db
        .session(session_id)
        .await
        .map_err(fail)?
        .ok_or_else(|| fail("no such session"))?;
    let share = db
        .key_shares_by_case(&session.case_id)
        .await
        .map_err(fail)?
        .into_iter()
        .find(|k| k.share_index == index)
        .ok_or_else(|| fail("no such share"))?;
    let channel = format!("web-e2e-channel-{index}");
    db.open_channel(&channel, &share.se_id, &share.user_id, Utc::now())
        .await
        .map_err(fail)?;
    db.mark_ready(
        session_id,
        index,
        &share.user_id,
        &share.se_id,
        &channel,
        Utc::now(),
    )
    .await
    .map_err(fail)?;
    Ok(Json(json!({ "user_id": share.user_id })))
}

/// The roster's clients finished signing: what the coordinator records. It starts the session
/// with the two READY shares (each request gets its run's execution id, derived as the clients
/// derive it), then for each request checks the signature the way the coordinator does (the
/// signed transaction is the requested one and recovers to the case address) and stores it;
/// the last one completes the session.
#[handler]
async fn sign_session(oracle: Data<&Arc<Oracle>>, body: Json<Value>) -> poem::Result<Json<Value>> {
    let session_id = field(&body, "session_id")?;
    let db = &oracle.db;
    let detail = db.session_detail(session_id).await.map_err(fail)?;
    let case_id = detail.session.case_id.clone();
    let case = db
        .case(&case_id)
        .await
        .map_err(fail)?
        .ok_or_else(|| fail("the session's case is gone"))?;
    let address = EthAddress::parse(case.address.as_deref().unwrap_or_default()).map_err(fail)?;
    let roster: Vec<i32> = detail
        .participants
        .iter()
        .filter(|p| p.status == ParticipantStatus::Ready)
        .map(|p| p.share_index)
        .take(2)
        .collect();
    let mut runs = Vec::new();
    let mut jobs = Vec::new();
    for (_, request) in &detail.requests {
        let hash = hex::decode(request.tx_hash.trim_start_matches("0x")).map_err(fail)?;
        let unsigned_tx = request
            .decoded
            .get("unsigned_tx")
            .and_then(|v| v.as_str())
            .and_then(|h| hex::decode(h).ok())
            .ok_or_else(|| fail("the request has no unsigned transaction"))?;
        let eid = tss::ExecutionIdBytes::derive(
            tss::RunKind::Sign,
            session_id.as_bytes(),
            case_id.as_bytes(),
            &hash,
        );
        runs.push((request.id.clone(), hex::encode(eid.as_bytes())));
        jobs.push((request.clone(), hash, unsigned_tx));
    }
    db.start_session(session_id, &roster, &runs, Utc::now())
        .await
        .map_err(fail)?;
    for (request, hash, unsigned_tx) in jobs {
        // What the managers' clients sign: the request's signing hash, a recoverable low-s
        // ECDSA signature by the case key.
        let hash: [u8; 32] = hash
            .try_into()
            .map_err(|_| fail("the signing hash is not 32 bytes"))?;
        let (signature, recid) = case_key().sign_prehash_recoverable(&hash).map_err(fail)?;
        let (signature, recid) = match signature.normalize_s() {
            Some(low) => (
                low,
                k256::ecdsa::RecoveryId::new(!recid.is_y_odd(), recid.is_x_reduced()),
            ),
            None => (signature, recid),
        };
        let r: [u8; 32] = signature.r().to_bytes().into();
        let s: [u8; 32] = signature.s().to_bytes().into();
        let y_parity = recid.is_y_odd();
        // The coordinator's check before it stores anything (`build_signed`).
        let tx = eth::decode_unsigned(&unsigned_tx).map_err(fail)?;
        let alloy_signature = alloy_primitives::Signature::new(
            alloy_primitives::U256::from_be_bytes(r),
            alloy_primitives::U256::from_be_bytes(s),
            y_parity,
        );
        let signed_tx = eth::encode_signed(&tx, &alloy_signature);
        let decoded = eth::decode_signed(&signed_tx).map_err(fail)?;
        let response = SignatureResponse {
            request_id: Id::parse(&request.request_id).map_err(fail)?,
            r,
            s,
            y_parity,
            signed_tx: signed_tx.clone(),
            tx_hash: decoded.tx_hash,
        };
        response.check_for(&unsigned_tx, &address).map_err(fail)?;
        db.record_signature(
            NewSignature {
                signing_request_id: request.id.clone(),
                session_id: session_id.to_owned(),
                r: hex::encode(r),
                s: hex::encode(s),
                v: i64::from(y_parity),
                raw_signed_tx: signed_tx,
            },
            offline_db::COORDINATOR,
            Utc::now(),
        )
        .await
        .map_err(fail)?;
    }
    let session = db
        .session(session_id)
        .await
        .map_err(fail)?
        .ok_or_else(|| fail("the session is gone"))?;
    let status = sea_orm::ActiveEnum::to_value(&session.status);
    Ok(Json(json!({ "status": status, "roster": roster })))
}

/// The signature response file the browser downloaded, kept for the checks afterwards.
#[handler]
async fn exported(oracle: Data<&Arc<Oracle>>, body: Json<Value>) -> poem::Result<Json<Value>> {
    let armored = field(&body, "armored")?;
    *oracle.exported.lock().unwrap() = Some(armored.to_owned());
    Ok(Json(json!({})))
}

async fn wait_for_port(port: u16) {
    for _ in 0..100 {
        if tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_ok()
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("nothing listens on port {port}");
}

#[tokio::test(flavor = "multi_thread")]
async fn offline_zone_in_a_browser() {
    let testdb = TestDb::sqlite().unwrap();
    let hsm = hsm::Hsm::provision(
        &SoftHsm::global().module(),
        &format!("web-e2e-offline-{}", std::process::id()),
        &random_pin(),
        &random_pin(),
        "offline-web-e2e",
        1_700_000_000,
    )
    .unwrap();
    let db = Db::connect(testdb.url(), testkit::hsm::offline_sealer_of(&hsm))
        .await
        .unwrap();
    let envelope_key = hsm.envelope_public_key();
    let hasher = || auth::PasswordHasher::new(auth::HashParams::insecure_for_tests_only()).unwrap();

    // The bootstrap ceremony's two administrators (as `custodyd offline-admin create` makes
    // them).
    for (name, display, phone, password) in [
        (ADMIN, "王管理", "+86 136 0000 0000", ADMIN_PASSWORD),
        (ADMIN2, "周复核", "+86 136 0000 0009", ADMIN2_PASSWORD),
    ] {
        let username = auth::Username::parse(name).unwrap();
        let password = auth::Password::parse(password.to_owned(), &username).unwrap();
        db.create_user(
            NewUser {
                username: name.to_owned(),
                display_name: display.to_owned(),
                phone: Some(phone.to_owned()),
                password_hash: hasher().hash(&password).unwrap().into_string(),
                role: Role::Admin,
            },
            "cli:offline-admin",
            Utc::now(),
        )
        .await
        .unwrap();
    }

    // Four SE identities (P-256 identity keys, as the SEs would report them).
    let ses: Vec<Value> = (1..=4u8)
        .map(|i| {
            let key = p256::PublicKey::from(se_key(i).verifying_key());
            json!({
                "index": i,
                "serial": format!("SE-WEB-000{i}"),
                "label": format!("保险柜 {i} 号芯片"),
                "identity_public_key": hex::encode(key.to_sec1_bytes()),
            })
        })
        .collect();
    let people: Vec<Value> = PEOPLE
        .iter()
        .map(|(u, d, p, r, pw)| json!({"username": u, "display_name": d, "phone": p, "role": r, "password": pw}))
        .collect();

    // The offline API with the front end, on a real port.
    let state = AppState::builder(
        db.clone(),
        hsm,
        hasher(),
        Arc::new(offline_api::SystemClock),
    )
    .pin_online_key(online().public_key())
    .web_dir(Some(web_dir("offline")))
    .build();
    let port = free_port();
    let (stop_api, api_stopped) = tokio::sync::oneshot::channel::<()>();
    let api = tokio::spawn(offline_api::serve(
        poem::listener::TcpListener::bind(format!("127.0.0.1:{port}")),
        state,
        async move {
            let _ = api_stopped.await;
        },
    ));

    // The oracle.
    let oracle = Arc::new(Oracle {
        db: db.clone(),
        address: Mutex::new(None),
        exported: Mutex::new(None),
    });
    let oracle_port = free_port();
    let routes = Route::new()
        .at("/enrol", post(enrol))
        .at("/activate", post(activate))
        .at("/signing-request", post(signing_request))
        .at("/join", post(join))
        .at("/sign", post(sign_session))
        .at("/exported", post(exported))
        .data(oracle.clone());
    let oracle_server = tokio::spawn(
        poem::Server::new(poem::listener::TcpListener::bind(format!(
            "127.0.0.1:{oracle_port}"
        )))
        .run(routes),
    );
    wait_for_port(port).await;
    wait_for_port(oracle_port).await;

    run_browser_script(
        "offline.mjs",
        "offline",
        &[
            ("CUSTODY_E2E_URL", format!("http://127.0.0.1:{port}")),
            (
                "CUSTODY_E2E_ORACLE",
                format!("http://127.0.0.1:{oracle_port}"),
            ),
            ("CUSTODY_E2E_ADMIN", ADMIN.to_owned()),
            ("CUSTODY_E2E_ADMIN_PASSWORD", ADMIN_PASSWORD.to_owned()),
            ("CUSTODY_E2E_ADMIN2", ADMIN2.to_owned()),
            ("CUSTODY_E2E_ADMIN2_PASSWORD", ADMIN2_PASSWORD.to_owned()),
            ("CUSTODY_E2E_PEOPLE", Value::Array(people).to_string()),
            ("CUSTODY_E2E_SES", Value::Array(ses.clone()).to_string()),
        ],
        Duration::from_secs(300),
    )
    .await;

    // What the browser did, as the database has it.
    let all_users = users::Entity::find().all(db.conn()).await.unwrap();
    let by_name = |name: &str| {
        all_users
            .iter()
            .find(|u| u.username == name)
            .unwrap_or_else(|| panic!("user {name} was not created"))
    };
    for (name, display, phone, role, _) in PEOPLE {
        let u = by_name(name);
        assert_eq!(u.display_name, display);
        assert_eq!(u.phone.as_deref(), Some(phone));
        assert_eq!(u.status, UserStatus::Active, "{name} was enabled");
        let want = match role {
            "case_manager" => Role::CaseManager,
            "operator" => Role::Operator,
            _ => Role::Auditor,
        };
        assert_eq!(u.role, want, "{name}'s role");
    }
    let all_ses = secure_elements::Entity::find()
        .all(db.conn())
        .await
        .unwrap();
    assert_eq!(all_ses.len(), 4);
    for se in &ses {
        let serial = se["serial"].as_str().unwrap();
        let row = all_ses.iter().find(|s| s.serial == serial).unwrap();
        assert_eq!(
            hex::encode(&row.identity_public_key),
            se["identity_public_key"].as_str().unwrap()
        );
        assert!(row.certificate.is_some(), "the HSM certified {serial}");
        // SE i was enrolled by manager i (proof of possession from their own page).
        let index = usize::try_from(se["index"].as_u64().unwrap()).unwrap();
        assert_eq!(
            row.enrolled_by.as_deref(),
            Some(by_name(PEOPLE[index - 1].0).id.as_str()),
            "{serial} names the manager who enrolled it"
        );
    }
    // Every change went through the second administrator: six roles, four SEs, the case and
    // the hand-over, each proposed by the first and approved by the second.
    let proposals = auth::proposal::store::list(db.conn(), false, 100)
        .await
        .unwrap();
    assert_eq!(proposals.len(), 12, "{proposals:?}");
    for p in &proposals {
        assert_eq!(p.status, "APPROVED", "{p:?}");
        if p.kind == "se.register" {
            // Proposed by the manager who enrolled it, approved by the first administrator.
            assert_ne!(p.proposed_by, by_name(ADMIN).id, "{p:?}");
            assert_eq!(p.decided_by.as_deref(), Some(by_name(ADMIN).id.as_str()));
        } else {
            assert_eq!(p.proposed_by, by_name(ADMIN).id);
            assert_eq!(p.decided_by.as_deref(), Some(by_name(ADMIN2).id.as_str()));
        }
    }
    let case = offline_db::entity::cases::Entity::find()
        .all(db.conn())
        .await
        .unwrap();
    assert_eq!(case.len(), 1);
    let case = &case[0];
    assert_eq!(case.status, offline_db::CaseStatus::Active);
    let history = db.key_share_history(&case.id).await.unwrap();
    assert_eq!(history.len(), 4, "three rows plus the replacement");
    let se_of = |serial: &str| {
        all_ses
            .iter()
            .find(|s| s.serial == serial)
            .unwrap()
            .id
            .clone()
    };
    let slot2: Vec<&key_shares::Model> = history.iter().filter(|k| k.share_index == 2).collect();
    assert_eq!(slot2.len(), 2, "share 2 has its former and current row");
    let former = slot2
        .iter()
        .find(|k| k.status == KeyShareStatus::Inactive)
        .unwrap();
    let current = slot2
        .iter()
        .find(|k| k.status == KeyShareStatus::Active)
        .unwrap();
    assert_eq!(former.user_id, by_name("mgr-liu").id);
    assert!(former.deactivated_at.is_some());
    assert_eq!(current.user_id, by_name("mgr-chen").id);
    assert_eq!(current.se_id, se_of("SE-WEB-0003"), "the SE stays");
    for (i, (name, serial)) in [("mgr-li", "SE-WEB-0001"), ("mgr-zhang", "SE-WEB-0002")]
        .iter()
        .enumerate()
    {
        let row = history
            .iter()
            .find(|k| {
                k.share_index == i32::try_from(i).unwrap() && k.status == KeyShareStatus::Active
            })
            .unwrap();
        assert_eq!(row.user_id, by_name(name).id);
        assert_eq!(row.se_id, se_of(serial));
    }
    let requests = signing_requests::Entity::find()
        .all(db.conn())
        .await
        .unwrap();
    assert_eq!(requests.len(), 1, "the operator imported one request");
    assert_eq!(requests[0].case_id, case.id);
    assert_eq!(requests[0].imported_by, by_name("op-zhao").id);
    let sessions = protocol_sessions::Entity::find()
        .all(db.conn())
        .await
        .unwrap();
    let sign: Vec<_> = sessions
        .iter()
        .filter(|s| s.case_id == case.id && s.kind == offline_db::SessionKind::Sign)
        .collect();
    assert_eq!(sign.len(), 1, "one signing session");
    let detail = db.session_detail(&sign[0].id).await.unwrap();
    let ready = detail
        .participants
        .iter()
        .filter(|p| p.status == offline_db::ParticipantStatus::Ready)
        .count();
    assert_eq!(ready, 0, "the two managers who joined are DONE");
    let mut roster: Vec<i32> = detail
        .participants
        .iter()
        .filter(|p| p.status == ParticipantStatus::Done)
        .map(|p| p.share_index)
        .collect();
    roster.sort_unstable();
    assert_eq!(roster, [0, 2], "shares 0 and 2 signed");
    assert_eq!(detail.session.status, SessionStatus::Completed);
    assert_eq!(detail.session.roster.as_deref(), Some("[0,2]"));
    assert!(detail.session.finished_at.is_some());

    // The request was signed (and, by the operator's export, is now EXPORTED); its signature
    // recovers to the case address.
    let request = db.signing_request(&requests[0].id).await.unwrap();
    assert_eq!(request.status, SigningRequestStatus::Exported);
    let stored = db
        .signature_for(&request.id)
        .await
        .unwrap()
        .expect("a signature");
    assert_eq!(stored.session_id, sign[0].id);
    assert_eq!(detail.signatures.len(), 1);
    let signed_at = audit::query(
        db.conn(),
        audit::Filter {
            action: Some("signature.recorded".to_owned()),
            ..audit::Filter::default()
        },
    )
    .await
    .unwrap();
    assert_eq!(signed_at.len(), 1);
    assert_eq!(signed_at[0].actor, offline_db::COORDINATOR);
    assert_eq!(signed_at[0].details["session_completed"], true);

    // The file the operator downloaded: the HSM's signature response for this request.
    let armored = oracle
        .exported
        .lock()
        .unwrap()
        .clone()
        .expect("the browser handed over the downloaded response");
    assert!(armored.starts_with("-----BEGIN CUSTODY SIGNATURE RESPONSE-----\n"));
    let envelope = from_armor(&armored).unwrap();
    assert_eq!(envelope.kind(), Kind::SignatureResponse);
    let now = u64::try_from(Utc::now().timestamp()).unwrap();
    let hsm_keys = KeyRing::new().with_key(envelope_key, &[Kind::SignatureResponse]);
    let verified = envelope
        .verify::<SignatureResponse>(&hsm_keys, now)
        .unwrap();
    let online_keys = KeyRing::new().with_key(online().public_key(), &[Kind::SignatureResponse]);
    assert!(
        envelope
            .verify::<SignatureResponse>(&online_keys, now)
            .is_err(),
        "only the HSM's envelope key verifies it"
    );
    let response = verified.body();
    assert_eq!(response.request_id.to_string(), request.request_id);
    assert_eq!(response.signed_tx, stored.raw_signed_tx);
    assert_eq!(hex::encode(response.r), stored.r);
    assert_eq!(hex::encode(response.s), stored.s);
    let exports = audit::query(
        db.conn(),
        audit::Filter {
            action: Some("signature_response.exported".to_owned()),
            ..audit::Filter::default()
        },
    )
    .await
    .unwrap();
    assert!(
        exports
            .iter()
            .any(|e| e.details["envelope_id"] == envelope.id().to_string()
                && e.actor == by_name("op-zhao").id),
        "the downloaded response is the one the operator's export recorded"
    );
    // Independently of contracts: k256 recovers the case key from the request's signing hash.
    let unsigned_tx = hex::decode(request.decoded["unsigned_tx"].as_str().unwrap()).unwrap();
    let signing_hash = eth::signing_hash(&unsigned_tx);
    assert_eq!(
        hex::encode(signing_hash),
        request.tx_hash.trim_start_matches("0x")
    );
    let signature = k256::ecdsa::Signature::from_scalars(response.r, response.s).unwrap();
    assert!(signature.normalize_s().is_none(), "s is low");
    let recovered = k256::ecdsa::VerifyingKey::recover_from_prehash(
        &signing_hash,
        &signature,
        k256::ecdsa::RecoveryId::new(response.y_parity, false),
    )
    .unwrap();
    let recovered_address =
        eth::address_of_secp256k1(recovered.to_encoded_point(true).as_bytes()).unwrap();
    assert_eq!(
        Some(recovered_address.to_checksum()),
        case.address.clone(),
        "the signature recovers to the case address"
    );
    assert_eq!(&recovered, case_key().verifying_key());
    // The signed transaction is the requested one.
    let decoded = eth::decode_signed(&response.signed_tx).unwrap();
    assert_eq!(eth::encode_unsigned(&decoded.tx), unsigned_tx);
    assert!(db.verify_audit().await.unwrap().is_intact());

    let _ = stop_api.send(());
    let _ = tokio::time::timeout(Duration::from_secs(5), api).await;
    oracle_server.abort();
    drop(testdb);
}
