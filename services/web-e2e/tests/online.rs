//! The online zone in a real browser: the online API serves the built front end over real TCP
//! on a SQLite file database, with anvil (the test token deployed from the custody account), the
//! export key on a SoftHSM token, a private RabbitMQ and the real chain worker. The browser
//! script (web/e2e/online.mjs) registers a trader and an auditor, signs the administrator in by
//! keyboard, proposes roles (a second administrator in another browser approves them), imports
//! the account manifest by file upload, configures the token, proposes the policy, the
//! allow-list and the grant (approved by the second administrator), then the trader builds and exports a transfer in
//! the wizard, imports the signature the "offline zone" (this test's oracle) made, and watches it
//! go to CONFIRMED; then an ERC-20 transfer (TUSD) whose signature a second browser imports
//! through its camera (a video of the response's QR codes played as the camera: jsQR decodes
//! the frames, the parts are assembled in the page) and which also goes to CONFIRMED; the
//! auditor reads the logs. Afterwards this test checks the database and the chain: the browser
//! really moved the money.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    reason = "test code: a failed unwrap is how a test fails"
)]

use std::sync::Arc;
use std::time::Duration;

use alloy_primitives::U256;
use channel::IdentitySigner;
use contracts::transfer_format::{from_armor, to_armor, to_qr_parts};
use contracts::{AccountManifest, Amount, Envelope, EthAddress, Id, KeyRing, Kind, SigningRequest};
use online_api::{AppState, Clock, SystemClock};
use online_db::{Db, NewUser, Role};
use poem::web::{Data, Json};
use poem::{handler, post, EndpointExt, Route};
use sea_orm::{ConnectionTrait, Statement};
use serde_json::{json, Value};
use testkit::anvil::{Anvil, AnvilOptions, TEST_ONLY_DEV_ADDRESSES, TEST_ONLY_DEV_KEYS};
use testkit::db::TestDb;
use testkit::envelopes::{respond, SoftSigner};
use testkit::rabbitmq::RabbitMq;

/// The anvil dev account that is the custody account (its key stands in for the case key).
const CUSTODY: usize = 1;
/// The payee.
const PAYEE: usize = 2;
/// What the browser sends: 1.5 ETH.
const AMOUNT_WEI: u128 = 1_500_000_000_000_000_000;
/// Then 12.5 TUSD (6 decimals).
const TOKEN_AMOUNT: u128 = 12_500_000;
const ADMIN: &str = "root-admin";
const ADMIN_PASSWORD: &str = "granite harbour window 42";
const ADMIN2: &str = "second-admin";
const ADMIN2_PASSWORD: &str = "copper meadow lantern 17";
const TRADER_PASSWORD: &str = "copper kettle meadow 7";
const AUDITOR_PASSWORD: &str = "quiet ledger lantern 9";

fn offline_hsm() -> SoftSigner {
    SoftSigner::from_seed([0x22; 32])
}

fn case_key() -> k256::ecdsa::SigningKey {
    let bytes = hex::decode(TEST_ONLY_DEV_KEYS[CUSTODY].trim_start_matches("0x")).unwrap();
    k256::ecdsa::SigningKey::from_slice(&bytes).unwrap()
}

fn dev_address(index: usize) -> EthAddress {
    EthAddress::parse(TEST_ONLY_DEV_ADDRESSES[index]).unwrap()
}

fn unix_now() -> u64 {
    u64::try_from(SystemClock.now().timestamp()).unwrap()
}

fn seal<T: contracts::Body>(body: &T, sealer: &SoftSigner) -> String {
    to_armor(&seal_envelope(body, sealer)).unwrap()
}

fn seal_envelope<T: contracts::Body>(body: &T, sealer: &SoftSigner) -> Envelope {
    let now = unix_now();
    Envelope::seal(body, sealer, Id::new_v7(now), now, 3600).unwrap()
}

/// What the oracle serves: the offline zone's and the chain's side of the story.
struct Oracle {
    anvil: Arc<Anvil>,
    export_public: p256::PublicKey,
}

/// `POST /sign-response {"request": armored}`: verify the signing request under the pinned
/// export key, sign it with the case key and seal the response with the offline HSM key.
/// Answers the armored response and its QR part texts (`qr_parts`, as the offline zone shows
/// them: the response needs two).
#[handler]
fn sign_response(oracle: Data<&Arc<Oracle>>, body: Json<Value>) -> poem::Result<Json<Value>> {
    let bad = |e: String| poem::Error::from_string(e, poem::http::StatusCode::BAD_REQUEST);
    let armored = body["request"]
        .as_str()
        .ok_or_else(|| bad("no request".into()))?;
    let ring = KeyRing::new().with_key(oracle.export_public, &[Kind::SigningRequest]);
    let request = from_armor(armored)
        .map_err(|e| bad(format!("armor: {e}")))?
        .verify::<SigningRequest>(&ring, unix_now())
        .map_err(|e| bad(format!("verify: {e}")))?
        .into_body();
    let response = respond(&request, &case_key()).map_err(bad)?;
    let envelope = seal_envelope(&response, &offline_hsm());
    let qr_parts = to_qr_parts(&envelope).map_err(|e| bad(format!("qr: {e}")))?;
    Ok(Json(json!({
        "response": to_armor(&envelope).map_err(|e| bad(format!("armor: {e}")))?,
        "qr_parts": qr_parts,
    })))
}

/// `POST /mine {"blocks": n}`: mine n blocks now.
#[handler]
async fn mine(oracle: Data<&Arc<Oracle>>, body: Json<Value>) -> poem::Result<Json<Value>> {
    let blocks = body["blocks"].as_u64().unwrap_or(1);
    let anvil = oracle.anvil.clone();
    let number = tokio::task::spawn_blocking(move || {
        anvil.mine(blocks)?;
        anvil.block_number()
    })
    .await
    .map_err(poem::error::InternalServerError)?
    .map_err(poem::error::InternalServerError)?;
    Ok(Json(json!({ "block_number": number })))
}

async fn wait_for_port(port: u16) {
    for _ in 0..100 {
        if tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_ok()
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("nothing listens on port {port}");
}

fn eth_balance(anvil: &Anvil, who: usize) -> U256 {
    let v = anvil
        .rpc(
            "eth_getBalance",
            json!([TEST_ONLY_DEV_ADDRESSES[who], "latest"]),
        )
        .unwrap();
    U256::from_str_radix(v.as_str().unwrap().trim_start_matches("0x"), 16).unwrap()
}

async fn token_balance(chain: &chain::Chain, token: EthAddress, who: usize) -> U256 {
    let balances = chain
        .balances(dev_address(who), &[chain::TokenAddress(token)])
        .await
        .unwrap();
    assert_eq!(balances.tokens.len(), 1);
    balances.tokens[0].amount.0
}

#[tokio::test(flavor = "multi_thread")]
async fn online_zone_in_a_browser() {
    let web = web_e2e::web_dir("online");
    let tdb = TestDb::sqlite().unwrap();
    // Auto-mine: the transaction is mined as it is broadcast, and the confirmations come only
    // from the blocks the browser script asks the oracle to mine (so BROADCAST is seen).
    let anvil = Arc::new(Anvil::start_with(&AnvilOptions::default()).unwrap());
    let chain = chain::Chain::connect(&anvil.url(), anvil.chain_id())
        .await
        .unwrap();
    let token = chain::test_token::deploy(
        &chain,
        dev_address(CUSTODY),
        "TUSD",
        6,
        Amount::from(1_000_000_000_000_u128),
    )
    .await
    .unwrap()
    .0;
    let online_hsm = testkit::hsm::online_hsm();
    let db = Db::connect(tdb.url(), testkit::hsm::online_sealer_of(&online_hsm))
        .await
        .unwrap();
    let export_key = online_hsm.export_signer();
    let export_public = online_hsm.export_public_key();

    // The administrator, made directly in the database (as `custodyd online-admin create` does).
    let hasher = auth::PasswordHasher::new(auth::HashParams::insecure_for_tests_only()).unwrap();
    let hash = hasher
        .hash(
            &auth::Password::parse(
                ADMIN_PASSWORD.to_owned(),
                &auth::Username::parse(ADMIN).unwrap(),
            )
            .unwrap(),
        )
        .unwrap()
        .into_string();
    let admin = db
        .create_user(
            NewUser {
                username: ADMIN.to_owned(),
                display_name: "Root Admin".to_owned(),
                password_hash: hash,
            },
            "test-setup",
            SystemClock.now(),
        )
        .await
        .unwrap();
    db.set_role(&admin.id, Role::Admin, "test-setup", SystemClock.now())
        .await
        .unwrap();
    // The second administrator, who approves what the first one proposes (four-eyes).
    let hash2 = hasher
        .hash(
            &auth::Password::parse(
                ADMIN2_PASSWORD.to_owned(),
                &auth::Username::parse(ADMIN2).unwrap(),
            )
            .unwrap(),
        )
        .unwrap()
        .into_string();
    let admin2 = db
        .create_user(
            NewUser {
                username: ADMIN2.to_owned(),
                display_name: "Second Admin".to_owned(),
                password_hash: hash2,
            },
            "test-setup",
            SystemClock.now(),
        )
        .await
        .unwrap();
    db.set_role(&admin2.id, Role::Admin, "test-setup", SystemClock.now())
        .await
        .unwrap();

    // The broker and the chain worker (two confirmations).
    let broker = RabbitMq::start().unwrap();
    let config = chain_worker::Config {
        confirmations: 2,
        poll_interval: Duration::from_millis(100),
        trackers: 2,
        redeclare_interval: Duration::from_secs(1),
        ..chain_worker::Config::new(
            tdb.url(),
            db.sealer().clone(),
            broker.url(),
            anvil.url(),
            anvil.chain_id(),
        )
    };
    let (stop_worker, worker_rx) = tokio::sync::oneshot::channel::<()>();
    let worker = tokio::spawn(chain_worker::run(config, async {
        let _ = worker_rx.await;
    }));

    // The API with the front end, over real TCP.
    let state = AppState::builder(
        db.clone(),
        chain.clone(),
        Arc::new(export_key),
        auth::PasswordHasher::new(auth::HashParams::insecure_for_tests_only()).unwrap(),
        Arc::new(SystemClock),
    )
    .pin_offline_key(offline_hsm().public_key())
    .amqp(Some(broker.url()))
    .balance_cache_secs(0)
    .web_dir(Some(web))
    .build();
    let port = web_e2e::free_port();
    let (stop_api, api_rx) = tokio::sync::oneshot::channel::<()>();
    let api = tokio::spawn(online_api::serve(
        poem::listener::TcpListener::bind(format!("127.0.0.1:{port}")),
        state,
        async {
            let _ = api_rx.await;
        },
    ));
    wait_for_port(port).await;

    // The oracle.
    let oracle_port = web_e2e::free_port();
    let oracle = Arc::new(Oracle {
        anvil: anvil.clone(),
        export_public,
    });
    let (stop_oracle, oracle_rx) = tokio::sync::oneshot::channel::<()>();
    let oracle_app = Route::new()
        .at("/sign-response", post(sign_response))
        .at("/mine", post(mine))
        .data(oracle);
    let oracle_server = tokio::spawn(
        poem::Server::new(poem::listener::TcpListener::bind(format!(
            "127.0.0.1:{oracle_port}"
        )))
        .run_with_graceful_shutdown(
            oracle_app,
            async {
                let _ = oracle_rx.await;
            },
            None,
        ),
    );
    wait_for_port(oracle_port).await;

    // The account manifest the offline zone would hand over (dev address 1, chain 31337).
    let public_key = case_key()
        .verifying_key()
        .to_encoded_point(true)
        .as_bytes()
        .to_vec();
    let address = contracts::eth::address_of_secp256k1(&public_key).unwrap();
    assert_eq!(address, dev_address(CUSTODY));
    let manifest = AccountManifest {
        case_id: Id::new_v7(unix_now()),
        public_key,
        addresses: vec![address],
        chain_ids: vec![anvil.chain_id()],
    };
    let files = tempfile_dir();
    let manifest_file = files.join("account-manifest.custody.txt");
    std::fs::write(&manifest_file, seal(&manifest, &offline_hsm())).unwrap();

    let payee_before = eth_balance(&anvil, PAYEE);
    let payee_tokens_before = token_balance(&chain, token, PAYEE).await;
    web_e2e::run_browser_script(
        "online.mjs",
        "online",
        &[
            ("CUSTODY_E2E_URL", format!("http://127.0.0.1:{port}")),
            (
                "CUSTODY_E2E_ORACLE",
                format!("http://127.0.0.1:{oracle_port}"),
            ),
            ("CUSTODY_E2E_ADMIN_USER", ADMIN.to_owned()),
            ("CUSTODY_E2E_ADMIN_PASSWORD", ADMIN_PASSWORD.to_owned()),
            ("CUSTODY_E2E_ADMIN2", ADMIN2.to_owned()),
            ("CUSTODY_E2E_ADMIN2_PASSWORD", ADMIN2_PASSWORD.to_owned()),
            ("CUSTODY_E2E_TRADER_PASSWORD", TRADER_PASSWORD.to_owned()),
            ("CUSTODY_E2E_AUDITOR_PASSWORD", AUDITOR_PASSWORD.to_owned()),
            (
                "CUSTODY_E2E_MANIFEST_FILE",
                manifest_file.display().to_string(),
            ),
            ("CUSTODY_E2E_ACCOUNT", dev_address(CUSTODY).to_checksum()),
            ("CUSTODY_E2E_TOKEN", token.to_checksum()),
            ("CUSTODY_E2E_PAYEE", dev_address(PAYEE).to_checksum()),
        ],
        Duration::from_secs(480),
    )
    .await;

    // Four-eyes: every grant, first limit and allow-list entry took effect through a proposal
    // the first administrator made and the second approved (2 roles, 2 account grants, 2 first
    // limits, 1 destination).
    let approved = db.proposals(false, 100).await.unwrap();
    let by_both = approved
        .iter()
        .filter(|p| {
            p.status == "APPROVED"
                && p.proposed_by == admin.id
                && p.decided_by.as_deref() == Some(admin2.id.as_str())
        })
        .count();
    assert_eq!(by_both, 7, "{approved:?}");

    // The browser really did it: two transfers, both CONFIRMED, made by alice to the payee,
    // 1.5 ETH then 12.5 TUSD; the payee got exactly that on the chain.
    let conn = db.conn();
    let rows = conn
        .query_all_raw(Statement::from_string(
            conn.get_database_backend(),
            "SELECT t.status AS status, t.asset AS asset, t.amount AS amount, \
             t.to_address AS to_address, u.username AS username \
             FROM transfers t JOIN users u ON u.id = t.created_by ORDER BY t.created_at, t.id"
                .to_owned(),
        ))
        .await
        .unwrap();
    assert_eq!(rows.len(), 2, "two transfers were made in the browser");
    let expected = [
        ("ETH".to_owned(), AMOUNT_WEI.to_string()),
        (token.to_checksum(), TOKEN_AMOUNT.to_string()),
    ];
    for (row, (asset_want, amount_want)) in rows.iter().zip(&expected) {
        let status: String = row.try_get("", "status").unwrap();
        let asset: String = row.try_get("", "asset").unwrap();
        let amount: String = row.try_get("", "amount").unwrap();
        let to: String = row.try_get("", "to_address").unwrap();
        let username: String = row.try_get("", "username").unwrap();
        assert_eq!(status, "CONFIRMED", "the {asset} transfer");
        assert_eq!(&asset, asset_want);
        assert_eq!(&amount, amount_want);
        assert_eq!(
            EthAddress::parse(&to).unwrap(),
            dev_address(PAYEE),
            "to the payee"
        );
        assert_eq!(username, "alice");
    }
    let payee_after = eth_balance(&anvil, PAYEE);
    assert_eq!(payee_after - payee_before, U256::from(AMOUNT_WEI));
    let payee_tokens_after = token_balance(&chain, token, PAYEE).await;
    assert_eq!(
        payee_tokens_after - payee_tokens_before,
        U256::from(TOKEN_AMOUNT),
        "the payee got exactly 12.5 TUSD"
    );

    let _ = stop_oracle.send(());
    let _ = stop_api.send(());
    let _ = stop_worker.send(());
    oracle_server.await.unwrap().unwrap();
    api.await.unwrap().unwrap();
    worker.await.unwrap().unwrap();
    drop(broker);
    let _ = std::fs::remove_dir_all(&files);
}

/// A fresh folder for the files the browser uploads.
fn tempfile_dir() -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "custody-web-e2e-online-{}-{}",
        std::process::id(),
        unix_now()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}
