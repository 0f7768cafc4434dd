//! The test harness: one world per database — anvil with the test token, the export key on a
//! SoftHSM token, the app, users with roles and sessions, an account imported from a manifest,
//! and the offline zone's stand-in keys.

use std::future::Future;
use std::sync::Arc;

use channel::IdentitySigner;
use chrono::{DateTime, Utc};
use contracts::transfer_format::{from_armor, to_armor};
use contracts::{AccountManifest, Amount, Envelope, EthAddress, Id, KeyRing, Kind, SigningRequest};
use online_api::{app, AppState, Clock, SystemClock, TestClock};
use online_db::{Db, NewUser, Role};
use poem::endpoint::BoxEndpoint;
use poem::http::{HeaderMap, Method, StatusCode};
use poem::test::TestClient;
use poem::EndpointExt;
use sea_orm::{ConnectionTrait, Statement};
use serde_json::{json, Value};
use testkit::anvil::{Anvil, AnvilOptions, TEST_ONLY_DEV_KEYS};
use testkit::db::TestDb;
use testkit::envelopes::{respond, SoftSigner};

/// The password every test user has.
pub const PASSWORD: &str = "violet tractor lighthouse";
/// The anvil dev account that is the custody account (its key stands in for the case key).
pub const CUSTODY: usize = 1;
/// A payee with no special role.
pub const PAYEE: usize = 2;
/// One ether.
pub const ETHER: u128 = 1_000_000_000_000_000_000;
/// The test token's decimals and the supply minted to the custody account.
pub const TOKEN_DECIMALS: u8 = 6;
pub const TOKEN_SUPPLY: u128 = 1_000_000 * 1_000_000;

/// The offline zone's HSM envelope key, stood in for by a software key.
pub fn offline_hsm() -> SoftSigner {
    SoftSigner::from_seed([0x22; 32])
}

/// Another P-256 key nobody pinned.
pub fn stranger() -> SoftSigner {
    SoftSigner::from_seed([0x33; 32])
}

/// The case key of the custody account (the anvil dev key).
pub fn case_key() -> k256::ecdsa::SigningKey {
    let bytes = hex::decode(TEST_ONLY_DEV_KEYS[CUSTODY].trim_start_matches("0x")).unwrap();
    k256::ecdsa::SigningKey::from_slice(&bytes).unwrap()
}

/// Another secp256k1 key (a signature from the wrong key).
pub fn other_case_key() -> k256::ecdsa::SigningKey {
    let bytes = hex::decode(TEST_ONLY_DEV_KEYS[5].trim_start_matches("0x")).unwrap();
    k256::ecdsa::SigningKey::from_slice(&bytes).unwrap()
}

pub fn dev_address(index: usize) -> EthAddress {
    EthAddress::parse(testkit::anvil::TEST_ONLY_DEV_ADDRESSES[index]).unwrap()
}

/// The wall clock, read the way library code must.
pub fn now() -> DateTime<Utc> {
    SystemClock.now()
}

/// A response, read.
#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Value,
}

impl Reply {
    /// The problem `type` slug.
    pub fn problem(&self) -> &str {
        self.body["type"]
            .as_str()
            .and_then(|t| t.strip_prefix(online_api::error::PROBLEM_TYPE_PREFIX))
            .unwrap_or("")
    }

    #[track_caller]
    pub fn ok(&self) -> &Value {
        assert!(self.status.is_success(), "{} {}", self.status, self.body);
        &self.body
    }
}

/// A session as a client holds it.
#[derive(Clone, Debug)]
pub enum Session {
    /// Browser: the cookie value and the CSRF token.
    Cookie { token: String, csrf: String },
    /// Tool: the bearer token.
    Bearer(String),
}

/// Row counts of every table a rejected request must leave alone, and both logs' lengths.
#[derive(Debug, PartialEq, Eq)]
pub struct Counts(Vec<(String, String)>);

impl Counts {
    /// These counts with `table`'s row count moved by `by`.
    pub fn plus(mut self, table: &str, by: i64) -> Counts {
        for (k, v) in &mut self.0 {
            if k == table {
                *v = (v.parse::<i64>().unwrap() + by).to_string();
            }
        }
        self
    }

    /// These counts with transfer `id` in `status`.
    pub fn status(mut self, id: &str, status: &str) -> Counts {
        for (k, v) in &mut self.0 {
            if k == id {
                *v = status.to_owned();
            }
        }
        self
    }

    /// The row count of `table`.
    pub fn of(&self, table: &str) -> i64 {
        self.0
            .iter()
            .find(|(t, _)| t == table)
            .map(|(_, n)| n.parse().unwrap())
            .unwrap()
    }

    /// Every count but `table`'s.
    pub fn all_but(&self, table: &str) -> Vec<(String, String)> {
        self.0.iter().filter(|(t, _)| t != table).cloned().collect()
    }
}

/// One world: a database, anvil with the token, the app, four users, one account.
pub struct World {
    pub client: TestClient<BoxEndpoint<'static>>,
    /// The app's state, to serve it on a real socket too.
    pub state: AppState,
    pub clock: TestClock,
    pub db: Db,
    pub tdb: TestDb,
    pub anvil: Anvil,
    pub chain: chain::Chain,
    pub export_public: p256::PublicKey,
    pub admin: Session,
    /// A second administrator, who approves the first one's proposals.
    pub admin2: Session,
    pub admin_id: String,
    pub admin2_id: String,
    pub trader: Session,
    pub trader2: Session,
    pub outsider: Session,
    pub auditor: Session,
    pub trader_id: String,
    pub trader2_id: String,
    pub account_id: String,
    pub token: EthAddress,
}

impl World {
    pub async fn new(tdb: TestDb) -> World {
        Self::with_anvil(tdb, AnvilOptions::default()).await
    }

    pub async fn with_anvil(tdb: TestDb, options: AnvilOptions) -> World {
        let anvil = Anvil::start_with(&options).unwrap();
        let chain = chain::Chain::connect(&anvil.url(), anvil.chain_id())
            .await
            .unwrap();
        // The token is deployed from the custody account, which receives the supply.
        let token = chain::test_token::deploy(
            &chain,
            dev_address(CUSTODY),
            "TUSD",
            TOKEN_DECIMALS,
            Amount::from(TOKEN_SUPPLY),
        )
        .await
        .unwrap()
        .0;
        let online_hsm = testkit::hsm::online_hsm();
        let db = Db::connect(tdb.url(), testkit::hsm::online_sealer_of(&online_hsm))
            .await
            .unwrap();
        let clock = TestClock::at(now());
        let export_key = online_hsm.export_signer();
        let export_public = online_hsm.export_public_key();
        let hasher =
            auth::PasswordHasher::new(auth::HashParams::insecure_for_tests_only()).unwrap();
        let hash = hasher
            .hash(
                &auth::Password::parse(
                    PASSWORD.to_owned(),
                    &auth::Username::parse("x-user").unwrap(),
                )
                .unwrap(),
            )
            .unwrap()
            .into_string();
        let state = AppState::builder(
            db.clone(),
            chain.clone(),
            Arc::new(export_key),
            auth::PasswordHasher::new(auth::HashParams::insecure_for_tests_only()).unwrap(),
            Arc::new(clock.clone()),
        )
        .pin_offline_key(offline_hsm().public_key())
        .build();
        let client = TestClient::new(app(state.clone()).boxed());
        let mut ids = Vec::new();
        for (name, role) in [
            ("admin", Role::Admin),
            ("trader", Role::Trader),
            ("trader2", Role::Trader),
            ("outsider", Role::Trader),
            ("auditor", Role::Auditor),
            ("admin2", Role::Admin),
        ] {
            let u = db
                .create_user(
                    NewUser {
                        username: name.to_owned(),
                        display_name: name.to_owned(),
                        password_hash: hash.clone(),
                    },
                    "test-setup",
                    now(),
                )
                .await
                .unwrap();
            db.set_role(&u.id, role, "test-setup", now()).await.unwrap();
            ids.push(u.id);
        }
        let mut w = World {
            client,
            state,
            clock,
            db,
            tdb,
            anvil,
            chain,
            export_public,
            admin: Session::Bearer(String::new()),
            admin2: Session::Bearer(String::new()),
            admin_id: ids[0].clone(),
            admin2_id: ids[5].clone(),
            trader: Session::Bearer(String::new()),
            trader2: Session::Bearer(String::new()),
            outsider: Session::Bearer(String::new()),
            auditor: Session::Bearer(String::new()),
            trader_id: ids[1].clone(),
            trader2_id: ids[2].clone(),
            account_id: String::new(),
            token,
        };
        w.admin = w.login_bearer("admin").await;
        w.admin2 = w.login_bearer("admin2").await;
        w.trader = w.login_bearer("trader").await;
        w.trader2 = w.login_bearer("trader2").await;
        w.outsider = w.login_bearer("outsider").await;
        w.auditor = w.login_bearer("auditor").await;

        // The account, from a manifest signed by the offline HSM (stand-in).
        let manifest = w.manifest_for(&case_key(), offline_hsm());
        let account = w
            .call(
                "POST",
                "/api/accounts/import",
                Some(&w.trader),
                Some(json!({"document": manifest, "label": "treasury"})),
            )
            .await;
        w.account_id = account.ok()["id"].as_str().unwrap().to_owned();
        let account_id = w.account_id.clone();
        for user in [&w.trader_id, &w.trader2_id] {
            w.admin_change(
                "POST",
                &format!("/api/accounts/{account_id}/grants"),
                json!({"user_id": user}),
            )
            .await
            .ok();
        }
        w.call(
            "POST",
            "/api/tokens",
            Some(&w.admin),
            Some(json!({"address": w.token.to_checksum()})),
        )
        .await
        .ok();
        w.set_policy("ETH", 10 * ETHER, 20 * ETHER, false).await;
        w.set_policy(
            &w.token.to_checksum(),
            50_000 * 1_000_000,
            100_000 * 1_000_000,
            false,
        )
        .await;
        w
    }

    /// Set a policy as the administrator; one that loosens is approved by the second.
    pub async fn set_policy(&self, asset: &str, single: u128, daily: u128, approval: bool) {
        self.admin_change(
            "PUT",
            &format!("/api/accounts/{}/policies", self.account_id),
            json!({
                "asset": asset, "single_limit": single.to_string(),
                "daily_limit": daily.to_string(), "require_approval": approval,
            }),
        )
        .await
        .ok();
    }

    /// An administrator's change with the password: applied at once (the reply as it comes),
    /// or proposed (`202`) and then approved by the second administrator (the approval's
    /// reply).
    pub async fn admin_change(&self, method: &str, path: &str, mut body: Value) -> Reply {
        body["password"] = json!(PASSWORD);
        let r = self.call(method, path, Some(&self.admin), Some(body)).await;
        if r.status != StatusCode::ACCEPTED {
            return r;
        }
        self.approve(r.body["id"].as_str().unwrap(), &self.admin2)
            .await
    }

    /// Approve proposal `id` as `who` with the right password.
    pub async fn approve(&self, id: &str, who: &Session) -> Reply {
        self.call(
            "POST",
            &format!("/api/proposals/{id}/approve"),
            Some(who),
            Some(json!({"password": PASSWORD})),
        )
        .await
    }

    /// An armored `AccountManifest` for `key`'s address, sealed by `sealer`.
    pub fn manifest_for(&self, key: &k256::ecdsa::SigningKey, sealer: SoftSigner) -> String {
        let public_key = key
            .verifying_key()
            .to_encoded_point(true)
            .as_bytes()
            .to_vec();
        let address = contracts::eth::address_of_secp256k1(&public_key).unwrap();
        let body = AccountManifest {
            case_id: Id::new_v7(self.unix()),
            public_key,
            addresses: vec![address],
            chain_ids: vec![self.anvil.chain_id()],
        };
        seal(&body, &sealer, self.unix())
    }

    pub fn unix(&self) -> u64 {
        u64::try_from(self.clock.now().timestamp()).unwrap()
    }

    /// Sign in as `username` with a bearer session.
    pub async fn login_bearer(&self, username: &str) -> Session {
        let r = self
            .call(
                "POST",
                "/api/auth/login",
                None,
                Some(json!({"username": username, "password": PASSWORD, "client": "bearer"})),
            )
            .await;
        Session::Bearer(r.ok()["session_token"].as_str().unwrap().to_owned())
    }

    /// Sign in as `username` with a cookie session.
    pub async fn login_cookie(&self, username: &str) -> Session {
        let r = self
            .call(
                "POST",
                "/api/auth/login",
                None,
                Some(json!({"username": username, "password": PASSWORD})),
            )
            .await;
        let cookie = r.headers["set-cookie"].to_str().unwrap().to_owned();
        let token = cookie
            .split(';')
            .next()
            .unwrap()
            .split_once('=')
            .unwrap()
            .1
            .to_owned();
        Session::Cookie {
            token,
            csrf: r.ok()["csrf_token"].as_str().unwrap().to_owned(),
        }
    }

    pub async fn call(
        &self,
        method: &str,
        path: &str,
        session: Option<&Session>,
        body: Option<Value>,
    ) -> Reply {
        let csrf = match session {
            Some(Session::Cookie { csrf, .. }) => Some(csrf.clone()),
            _ => None,
        };
        self.call_raw(method, path, session, csrf.as_deref(), body)
            .await
    }

    pub async fn call_raw(
        &self,
        method: &str,
        path: &str,
        session: Option<&Session>,
        csrf: Option<&str>,
        body: Option<Value>,
    ) -> Reply {
        let mut rb = self.client.request(
            Method::from_bytes(method.as_bytes()).unwrap(),
            path.to_owned(),
        );
        match session {
            Some(Session::Cookie { token, .. }) => {
                rb = rb.header(
                    "Cookie",
                    format!("{}={token}", online_api::session::SESSION_COOKIE),
                );
            }
            Some(Session::Bearer(token)) => {
                rb = rb.header("Authorization", format!("Bearer {token}"));
            }
            None => {}
        }
        if let Some(csrf) = csrf {
            rb = rb.header("X-CSRF-Token", csrf);
        }
        if let Some(body) = body {
            let bytes = serde_json::to_vec(&body).unwrap();
            rb = rb
                .content_type("application/json")
                .header("content-length", bytes.len().to_string())
                .body(bytes);
        }
        let resp = rb.send().await.0;
        let status = resp.status();
        let headers = resp.headers().clone();
        let text = resp.into_body().into_string().await.unwrap();
        let body = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or(Value::String(text))
        };
        Reply {
            status,
            headers,
            body,
        }
    }

    /// Build a transfer as `session`; the reply as it comes.
    pub async fn create(&self, session: &Session, asset: &str, to: &str, amount: u128) -> Reply {
        self.call(
            "POST",
            "/api/transfers",
            Some(session),
            Some(json!({
                "account_id": self.account_id, "asset": asset, "to": to,
                "amount": amount.to_string(),
            })),
        )
        .await
    }

    /// Build and export a transfer; returns (transfer id, armored signing request).
    pub async fn exported(&self, asset: &str, to: EthAddress, amount: u128) -> (String, String) {
        let created = self
            .create(&self.trader, asset, &to.to_checksum(), amount)
            .await;
        let id = created.ok()["id"].as_str().unwrap().to_owned();
        let exported = self
            .call(
                "POST",
                &format!("/api/transfers/{id}/export"),
                Some(&self.trader),
                Some(json!({"password": PASSWORD})),
            )
            .await;
        let body = exported.ok();
        assert_eq!(body["transfer"]["status"], "EXPORTED");
        (id, body["document"]["armored"].as_str().unwrap().to_owned())
    }

    /// What the offline zone does with an exported request: verify it under the pinned export
    /// key, sign it with `key`, seal the response with `sealer`.
    pub fn offline_sign(
        &self,
        armored_request: &str,
        key: &k256::ecdsa::SigningKey,
        sealer: &SoftSigner,
    ) -> (SigningRequest, String) {
        let ring = KeyRing::new().with_key(self.export_public, &[Kind::SigningRequest]);
        let request = from_armor(armored_request)
            .unwrap()
            .verify::<SigningRequest>(&ring, self.unix())
            .unwrap()
            .into_body();
        let response = respond(&request, key).unwrap();
        (request, seal(&response, sealer, self.unix()))
    }

    /// Import a signature response as the trader.
    pub async fn import(&self, armored: &str) -> Reply {
        self.call(
            "POST",
            "/api/signature-responses",
            Some(&self.trader),
            Some(json!({"document": armored})),
        )
        .await
    }

    /// Row counts of the tables a rejection must not touch, and both logs' lengths.
    pub async fn counts(&self) -> Counts {
        let conn = self.db.conn();
        let mut out = Vec::new();
        for table in [
            "transfers",
            "imported_responses",
            "outbox",
            "accounts",
            "account_permissions",
            "policies",
            "destination_allowlist",
            "tokens",
            "operation_log",
            "transaction_log",
        ] {
            let row = conn
                .query_one_raw(Statement::from_string(
                    conn.get_database_backend(),
                    format!("SELECT COUNT(*) AS n FROM {table}"),
                ))
                .await
                .unwrap()
                .unwrap();
            out.push((
                table.to_owned(),
                row.try_get::<i64>("", "n").unwrap().to_string(),
            ));
        }
        // Transfer statuses too: a rejection must not move one.
        let rows = conn
            .query_all_raw(Statement::from_string(
                conn.get_database_backend(),
                "SELECT id, status FROM transfers ORDER BY id".to_owned(),
            ))
            .await
            .unwrap();
        for r in rows {
            let id: String = r.try_get("", "id").unwrap();
            let status: String = r.try_get("", "status").unwrap();
            out.push((id, status));
        }
        Counts(out)
    }
}

/// Seal `body` with `sealer` at `now`, valid for an hour, armored.
pub fn seal<T: contracts::Body>(body: &T, sealer: &SoftSigner, now: u64) -> String {
    let envelope = Envelope::seal(body, sealer, Id::new_v7(now), now, 3600).unwrap();
    to_armor(&envelope).unwrap()
}

/// Run `body` on a SQLite world and on a PostgreSQL world.
pub async fn on_both<F, Fut>(body: F)
where
    F: Fn(World) -> Fut,
    Fut: Future<Output = ()>,
{
    for db in TestDb::both().await.unwrap() {
        let kind = db.kind();
        eprintln!("--- on {kind}");
        body(World::new(db).await).await;
    }
}
