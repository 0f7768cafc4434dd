//! The whole offline C/S story with real parts: create case → keygen between three client
//! processes → key-share table and address written → signing request imported → managers
//! {0,1} sign → `SignatureResponse` exported, recovering to the address with an independent
//! implementation → manager replacement: the old manager is refused, the new one (same SE, new
//! PIN) signs with {1,2}.

use std::time::Duration;

use k256::ecdsa::{RecoveryId, Signature, VerifyingKey};
use offline_db::{CaseStatus, KeyShareStatus, SessionKind, SessionStatus};
use sha3::{Digest, Keccak256};

use crate::world::{World, CHAIN_ID};

const KEYGEN_WAIT: Duration = Duration::from_secs(600);
const SIGN_WAIT: Duration = Duration::from_secs(180);

/// Recovers the signer of `hash` from (r, s, v) with k256 and derives its address with Keccak
/// (sha3), independently of alloy and cggmp21.
pub fn recover_address(hash: &[u8; 32], r: &[u8; 32], s: &[u8; 32], y_parity: bool) -> [u8; 20] {
    let mut rs = [0u8; 64];
    rs[..32].copy_from_slice(r);
    rs[32..].copy_from_slice(s);
    let signature = Signature::from_slice(&rs).unwrap();
    let key = VerifyingKey::recover_from_prehash(
        hash,
        &signature,
        RecoveryId::from_byte(u8::from(y_parity)).unwrap(),
    )
    .unwrap();
    let point = key.to_encoded_point(false);
    let digest = Keccak256::digest(&point.as_bytes()[1..]);
    let mut out = [0u8; 20];
    out.copy_from_slice(&digest[12..]);
    out
}

/// What an insider with the database would do to have a keyed case offered for keygen again.
async fn rewind_to_draft(world: &World, case_id: &str) {
    use offline_db::entity::{cases, key_shares};
    use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter, Set};
    cases::ActiveModel {
        id: Set(case_id.to_owned()),
        status: Set(CaseStatus::Draft),
        public_key: Set(None),
        address: Set(None),
        ..Default::default()
    }
    .update(world.db.conn())
    .await
    .unwrap();
    key_shares::Entity::update_many()
        .col_expr(
            key_shares::Column::PublicKey,
            sea_orm::sea_query::Expr::value(Option::<String>::None),
        )
        .filter(key_shares::Column::CaseId.eq(case_id))
        .exec(world.db.conn())
        .await
        .unwrap();
}

async fn sign_with(
    world: &World,
    address: &contracts::EthAddress,
    nonce: u64,
    signers: &[(String, usize)],
) -> (contracts::SignatureResponse, [u8; 32]) {
    let (request, envelope) = world.request(address, nonce);
    let imported = world.import(&envelope).await;
    let row_id = imported["id"].as_str().unwrap().to_owned();
    assert_eq!(imported["who_to_call"].as_array().unwrap().len(), 3);
    let hash = format!("0x{}", hex::encode(request.signing_hash));
    let mut clients = Vec::new();
    for (user, se) in signers {
        let pin = world.ses[*se].pin.clone();
        clients.push(world.client(
            user,
            *se,
            &pin,
            &["--approve-hash", &hash, "--exit-after", "1"],
        ));
    }
    for c in &mut clients {
        let status = c.wait(SIGN_WAIT).await;
        assert!(status.success(), "client failed:\n{}", c.output());
        // Clear signing: the manager saw the decoded transaction and its hash.
        let out = c.output();
        assert!(
            out.contains("0x00000000000000000000000000000000000000A1")
                || out.contains("0x00000000000000000000000000000000000000a1"),
            "{out}"
        );
        assert!(out.contains("1.5 ETH"), "{out}");
        assert!(out.contains(&hex::encode(request.signing_hash)), "{out}");
    }
    let response = world.export_response(&row_id).await;
    (response, request.signing_hash)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn keygen_then_two_of_three_signing_then_a_manager_change() {
    let mut world = World::new(coordinator::Timeouts::default()).await;
    for se in 0..3 {
        world.seal_fixture_primes(se);
    }
    let case_id = world.create_case("flow case").await;
    // A bus observer sees everything from here on: keygen, signing, the manager change.
    let sniffer = crate::sniff::Sniffer::start(&world.nats.url()).await;
    let mut pins = vec![];
    for se in &world.ses {
        pins.push(se.pin.clone());
    }

    // Keygen: three client processes, each with its own SE.
    let mut clients = Vec::new();
    for i in 0..3 {
        let pin = world.ses[i].pin.clone();
        clients.push(world.client(
            &world.managers[i].clone(),
            i,
            &pin,
            &["--approve-keygen", "--exit-after", "1"],
        ));
    }
    for c in &mut clients {
        let status = c.wait(KEYGEN_WAIT).await;
        assert!(status.success(), "keygen client failed:\n{}", c.output());
        assert!(
            c.output().contains("aux-info round"),
            "progress shown:\n{}",
            c.output()
        );
    }
    let case = world.db.case(&case_id).await.unwrap().unwrap();
    assert_eq!(case.status, CaseStatus::Active);
    let address = contracts::EthAddress::parse(case.address.as_deref().unwrap()).unwrap();
    let public_key = case.public_key.clone().unwrap();
    let shares = world.db.key_shares_by_case(&case_id).await.unwrap();
    assert_eq!(shares.len(), 3);
    for (i, share) in shares.iter().enumerate() {
        assert_eq!(share.share_index, i as i32);
        assert_eq!(share.public_key.as_deref(), Some(public_key.as_str()));
        assert_eq!(share.status, KeyShareStatus::Active);
        assert_eq!(share.se_id, world.ses[i].id);
    }
    let keygens = world
        .db
        .sessions(Some(&case_id), Some(SessionStatus::Completed), 10)
        .await
        .unwrap();
    assert_eq!(keygens.len(), 1);
    assert_eq!(keygens[0].kind, SessionKind::Keygen);
    // Operators saw it go through aux info and keygen to the end.
    assert_eq!(keygens[0].progress.as_deref(), Some("done"));
    assert_eq!(
        offline_db::coordination::roster_of(&keygens[0]),
        Some(vec![0, 1, 2])
    );
    // Each SE holds its own share of the case, sealed.
    for i in 0..3 {
        let slots = world.open_se(i).list_shares().unwrap();
        assert!(slots.contains(&se::ShareSlot::new(&case_id, i as u16).unwrap()));
    }

    // Managers 0 and 1 sign.
    let m = world.managers.clone();
    let (response, hash) =
        sign_with(&world, &address, 0, &[(m[0].clone(), 0), (m[1].clone(), 1)]).await;
    assert_eq!(
        recover_address(&hash, &response.r, &response.s, response.y_parity),
        address.0,
        "the exported signature recovers to the case address (k256 + keccak)"
    );
    let decoded = contracts::eth::decode_signed(&response.signed_tx).unwrap();
    assert_eq!(decoded.tx.chain_id, CHAIN_ID);
    assert_eq!(decoded.tx.nonce, 0);

    // Manager 2 hands SE 2 over to a new manager; the SE's PIN is reset.
    let old_pin = world.ses[2].pin.clone();
    let newcomer = world.new_manager("manager-new").await;
    let new_pin = world.replace_manager(&case_id, 2, &newcomer).await;
    // The old manager with the old PIN: the SE refuses.
    let mut old = world.client(&m[2].clone(), 2, &old_pin, &["--idle-exit-secs", "3"]);
    let status = old.wait(SIGN_WAIT).await;
    assert!(!status.success(), "{}", old.output());
    assert!(
        old.output().to_lowercase().contains("pin"),
        "{}",
        old.output()
    );
    // The old manager even with the new PIN: the coordinator refuses (no share in this SE).
    let mut old = world.client(&m[2].clone(), 2, &new_pin, &["--idle-exit-secs", "3"]);
    let status = old.wait(SIGN_WAIT).await;
    assert!(!status.success(), "{}", old.output());
    assert!(old.output().contains("refused"), "{}", old.output());

    // The new manager (same SE, new PIN) signs with manager 1.
    let (response, hash) = sign_with(
        &world,
        &address,
        1,
        &[(m[1].clone(), 1), (newcomer.clone(), 2)],
    )
    .await;
    assert_eq!(
        recover_address(&hash, &response.r, &response.s, response.y_parity),
        address.0
    );

    // An insider rewinds the case to "no key yet" so that the managers would wipe their shares
    // for a new keygen: the roster is genuine, but the client knows this SE's share of the case
    // was completed, and refuses.
    rewind_to_draft(&world, &case_id).await;
    let pin = world.ses[0].pin.clone();
    let mut c = world.client(
        &m[0].clone(),
        0,
        &pin,
        &["--approve-keygen", "--idle-exit-secs", "3"],
    );
    let status = c.wait(SIGN_WAIT).await;
    assert!(status.success(), "{}", c.output());
    assert!(
        c.output().contains("already holds its completed share 0"),
        "{}",
        c.output()
    );
    assert!(!c.output().contains("removing the share"), "{}", c.output());
    assert!(world
        .open_se(0)
        .list_shares()
        .unwrap()
        .contains(&se::ShareSlot::new(&case_id, 0).unwrap()));
    world.stop_coordinator().await;

    // Nothing secret ever crossed the bus, in any message, decoded by its subject.
    use secrecy::ExposeSecret;
    pins.push(new_pin.clone());
    let mut secrets: Vec<(&str, Vec<u8>)> = pins
        .iter()
        .map(|p| ("a PIN", p.expose_secret().as_bytes().to_vec()))
        .collect();
    for primes in testkit::fixtures::paillier_primes().unwrap() {
        secrets.push(("Paillier primes", primes.to_bytes().unwrap().to_vec()));
    }
    for i in 0..3 {
        let slot = se::ShareSlot::new(&case_id, i as u16).unwrap();
        let share = world.open_se(i).unseal_share(&slot).unwrap();
        secrets.push(("a key share", share.to_vec()));
    }
    let (handshakes, frames) = sniffer.check(&secrets);
    assert!(handshakes >= 14, "handshakes seen: {handshakes}");
    assert!(frames > 100, "frames seen: {frames}");
}

/// The same signing path on PostgreSQL (the production database): managers {0,1} sign a
/// request for a case keyed from the test-only fixture shares.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_managers_sign_on_postgresql() {
    let testdb = testkit::db::TestDb::postgres().await.unwrap();
    let world = World::on(testdb, coordinator::Timeouts::default()).await;
    let (_case_id, address) = world.keyed_case("postgres case").await;
    let m = world.managers.clone();
    let (response, hash) =
        sign_with(&world, &address, 0, &[(m[0].clone(), 0), (m[1].clone(), 1)]).await;
    assert_eq!(
        recover_address(&hash, &response.r, &response.s, response.y_parity),
        address.0
    );
}

/// Batch signing: one session signs three requests of the same case, one full signing run per
/// request in parallel (each with its own execution id), each request reviewed and approved by
/// both managers; the operator's progress view shows the roster and the runs.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn one_session_signs_a_batch_of_three_requests() {
    let world = World::new(coordinator::Timeouts::default()).await;
    let (_case_id, address) = world.keyed_case("batch case").await;
    let mut requests = Vec::new();
    let mut armored = Vec::new();
    for nonce in 0..3 {
        let (request, envelope) = world.request(&address, nonce);
        armored.push(contracts::transfer_format::to_armor(&envelope).unwrap());
        requests.push(request);
    }
    let r = world
        .api
        .post("/api/signing-requests/batch")
        .header("authorization", format!("Bearer {}", world.operator))
        .body_json(&serde_json::json!({ "envelopes": armored }))
        .send()
        .await;
    r.assert_status_is_ok();
    let batch: serde_json::Value = r.json().await.value().deserialize();
    let session_id = batch["session_id"].as_str().unwrap().to_owned();
    let rows: Vec<String> = batch["requests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|q| q["id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(rows.len(), 3);

    let mut approvals = Vec::new();
    for request in &requests {
        approvals.push("--approve-hash".to_owned());
        approvals.push(format!("0x{}", hex::encode(request.signing_hash)));
    }
    approvals.push("--exit-after".to_owned());
    approvals.push("1".to_owned());
    let args: Vec<&str> = approvals.iter().map(String::as_str).collect();
    let m = world.managers.clone();
    let mut clients = vec![
        world.client(&m[0], 0, &world.ses[0].pin.clone(), &args),
        world.client(&m[1], 1, &world.ses[1].pin.clone(), &args),
    ];
    for c in &mut clients {
        let status = c.wait(SIGN_WAIT).await;
        assert!(status.success(), "client failed:\n{}", c.output());
        // Every request of the batch was shown and approved on its own.
        assert_eq!(c.output().matches("approved by --approve-hash").count(), 3);
    }
    for (row, request) in rows.iter().zip(&requests) {
        let response = world.export_response(row).await;
        assert_eq!(response.request_id, request.request_id);
        assert_eq!(
            recover_address(
                &request.signing_hash,
                &response.r,
                &response.s,
                response.y_parity
            ),
            address.0
        );
    }
    let r = world
        .api
        .get(format!("/api/sessions/{session_id}"))
        .header("authorization", format!("Bearer {}", world.operator))
        .send()
        .await;
    r.assert_status_is_ok();
    let view: serde_json::Value = r.json().await.value().deserialize();
    assert_eq!(view["session"]["status"], "COMPLETED", "{view}");
    assert_eq!(
        view["session"]["roster"],
        serde_json::json!([0, 1]),
        "{view}"
    );
    assert_eq!(view["signatures"].as_array().unwrap().len(), 3, "{view}");
    let runs: std::collections::HashSet<String> = view["requests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|q| q["execution_id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(runs.len(), 3, "one execution id per request: {view}");
}
