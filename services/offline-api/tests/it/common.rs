//! The test harness: a fresh app per database, users with roles, sessions, HTTP helpers.

use std::future::Future;
use std::sync::{Arc, OnceLock};

use channel::{IdentitySigner, SignerError};
use chrono::{DateTime, TimeZone, Utc};
use offline_api::{app, AppState, TestClock};
use offline_db::{Db, NewUser, Role};
use p256::ecdsa::signature::hazmat::PrehashSigner;
use poem::endpoint::BoxEndpoint;
use poem::http::{HeaderMap, Method, StatusCode};
use poem::test::TestClient;
use poem::EndpointExt;
use serde_json::{json, Value};
use testkit::db::TestDb;
use testkit::softhsm::{random_pin, SoftHsm};

/// The password every test user has.
pub const PASSWORD: &str = "violet tractor lighthouse";

/// "Now" at the start of every test: 2025-06-15T15:06:40Z.
pub fn start() -> DateTime<Utc> {
    Utc.timestamp_opt(1_750_000_000, 0).unwrap()
}

/// The offline HSM: one SoftHSM token per test process.
pub fn hsm() -> hsm::Hsm {
    static HSM: OnceLock<hsm::Hsm> = OnceLock::new();
    HSM.get_or_init(|| {
        let module = SoftHsm::global().module();
        let label = format!("api-hsm-{}", std::process::id());
        hsm::Hsm::provision(
            &module,
            &label,
            &random_pin(),
            &random_pin(),
            "offline-test",
            1_700_000_000,
        )
        .unwrap()
    })
    .clone()
}

/// A software P-256 signer standing in for the online zone's export token.
pub struct SoftSigner(pub p256::ecdsa::SigningKey);

impl SoftSigner {
    pub fn from_seed(seed: [u8; 32]) -> Self {
        Self(p256::ecdsa::SigningKey::from_bytes(&seed.into()).unwrap())
    }
}

impl IdentitySigner for SoftSigner {
    fn public_key(&self) -> p256::PublicKey {
        p256::PublicKey::from(self.0.verifying_key())
    }
    fn sign_digest(&self, digest: &[u8; 32]) -> Result<p256::ecdsa::Signature, SignerError> {
        self.0
            .sign_prehash(digest)
            .map_err(|e| SignerError(e.to_string()))
    }
}

/// The pinned online export key.
pub fn online() -> SoftSigner {
    SoftSigner::from_seed([0x11; 32])
}

/// A session as a client holds it.
#[derive(Clone, Debug)]
pub enum Session {
    /// Browser: the cookie value and the CSRF token.
    Cookie { token: String, csrf: String },
    /// Tool: the bearer token.
    Bearer(String),
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
            .and_then(|t| t.strip_prefix(offline_api::error::PROBLEM_TYPE_PREFIX))
            .unwrap_or("")
    }
}

/// One app over one database.
pub struct TestApp {
    pub client: TestClient<BoxEndpoint<'static>>,
    pub state: AppState,
    pub clock: TestClock,
    pub db: Db,
    #[allow(dead_code, reason = "for debugging a failing test")]
    pub kind: testkit::db::DbKind,
    pub hasher: Arc<auth::PasswordHasher>,
    pub db_url: String,
    /// The second administrator (`admin2`), created on first use, who approves proposals.
    second: tokio::sync::OnceCell<(String, Session)>,
    _testdb: TestDb,
}

impl TestApp {
    pub async fn new(testdb: TestDb) -> TestApp {
        let db = Db::connect(testdb.url(), testkit::hsm::offline_sealer_of(&hsm()))
            .await
            .unwrap();
        let clock = TestClock::at(start());
        let hasher =
            auth::PasswordHasher::new(auth::HashParams::insecure_for_tests_only()).unwrap();
        let state = AppState::builder(
            db.clone(),
            hsm(),
            auth::PasswordHasher::new(auth::HashParams::insecure_for_tests_only()).unwrap(),
            Arc::new(clock.clone()),
        )
        .pin_online_key(online().public_key())
        .build();
        let client = TestClient::new(app(state.clone()).boxed());
        TestApp {
            client,
            state,
            clock,
            db,
            kind: testdb.kind(),
            hasher: Arc::new(hasher),
            db_url: testdb.url().to_owned(),
            second: tokio::sync::OnceCell::new(),
            _testdb: testdb,
        }
    }

    /// Send a request; `session` decides cookie or bearer (cookie requests carry the CSRF
    /// header unless `csrf` is overridden by [`TestApp::call_raw`]).
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
                    format!("{}={token}", offline_api::session::SESSION_COOKIE),
                );
            }
            Some(Session::Bearer(token)) => {
                rb = rb.header("Authorization", format!("Bearer {token}"));
            }
            None => {}
        }
        if let Some(csrf) = csrf {
            rb = rb.header(offline_api::session::CSRF_HEADER, csrf);
        }
        if let Some(body) = body {
            // Real clients send Content-Length; the server's size limit requires it.
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

    /// A user created directly in the database (ACTIVE) with `role`.
    pub async fn user(&self, username: &str, role: Role) -> String {
        let password = auth::Password::parse(
            PASSWORD.to_owned(),
            &auth::Username::parse(username).unwrap(),
        )
        .unwrap();
        let hash = self.hasher.hash(&password).unwrap();
        self.db
            .create_user(
                NewUser {
                    username: username.to_owned(),
                    display_name: format!("{username} display"),
                    phone: Some(format!("+86 138 0000 {:04}", username.len() * 97 % 10_000)),
                    password_hash: hash.into_string(),
                    role,
                },
                "test",
                self.clock_now(),
            )
            .await
            .unwrap()
            .id
    }

    pub fn clock_now(&self) -> DateTime<Utc> {
        use offline_api::Clock;
        self.clock.now()
    }

    /// Sign in; `bearer` chooses the client kind.
    pub async fn login(&self, username: &str, password: &str, bearer: bool) -> Reply {
        let client = if bearer { "bearer" } else { "browser" };
        self.call(
            "POST",
            "/api/auth/login",
            None,
            Some(json!({"username": username, "password": password, "client": client})),
        )
        .await
    }

    /// Sign in and return the session.
    pub async fn session(&self, username: &str, bearer: bool) -> Session {
        let r = self.login(username, PASSWORD, bearer).await;
        assert_eq!(r.status, StatusCode::OK, "login {username}: {:?}", r.body);
        let csrf = r.body["csrf_token"].as_str().unwrap().to_owned();
        if bearer {
            Session::Bearer(r.body["session_token"].as_str().unwrap().to_owned())
        } else {
            let cookie = r
                .headers
                .get("set-cookie")
                .unwrap()
                .to_str()
                .unwrap()
                .to_owned();
            let token = cookie
                .split(';')
                .next()
                .unwrap()
                .split_once('=')
                .unwrap()
                .1
                .to_owned();
            Session::Cookie { token, csrf }
        }
    }

    /// A user with `role`, signed in with a bearer token.
    pub async fn signed_in(&self, username: &str, role: Role) -> (String, Session) {
        let id = self.user(username, role).await;
        (id, self.session(username, true).await)
    }

    /// The second administrator (`admin2`): id and session.
    pub async fn second_admin(&self) -> &(String, Session) {
        self.second
            .get_or_init(|| async { self.signed_in("admin2", Role::Admin).await })
            .await
    }

    /// `reply` must be a 202 with a pending proposal; the second administrator approves it.
    /// Returns the approved proposal (its `result` names what the change produced).
    pub async fn approve(&self, reply: Reply) -> Value {
        assert_eq!(reply.status, StatusCode::ACCEPTED, "{:?}", reply.body);
        assert_eq!(reply.body["status"], "PENDING", "{:?}", reply.body);
        let id = reply.body["id"].as_str().unwrap().to_owned();
        let (_, approver) = self.second_admin().await;
        let r = self
            .call(
                "POST",
                &format!("/api/proposals/{id}/approve"),
                Some(approver),
                Some(json!({"password": PASSWORD})),
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "approve: {:?}", r.body);
        assert_eq!(r.body["status"], "APPROVED", "{:?}", r.body);
        r.body
    }

    /// Propose with `session` and have the second administrator approve; returns the id of
    /// what the change produced.
    pub async fn proposed(
        &self,
        method: &str,
        path: &str,
        session: &Session,
        body: Value,
    ) -> String {
        let r = self.call(method, path, Some(session), Some(body)).await;
        let decided = self.approve(r).await;
        decided["result"].as_str().unwrap().to_owned()
    }

    /// The enrolment proof `custody-client enroll --challenge` prints for an SE whose identity
    /// key is `key`, answering a fresh challenge issued to `manager`.
    pub async fn enrolment_proof(
        &self,
        manager: &Session,
        key: &SoftSigner,
        serial: &str,
    ) -> String {
        let r = self
            .call(
                "POST",
                "/api/me/se-enrolment/challenge",
                Some(manager),
                None,
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
        let challenge = hex::decode(r.body["challenge"].as_str().unwrap()).unwrap();
        channel::EnrolmentProof::sign(key, serial, &challenge)
            .unwrap()
            .to_text()
            .unwrap()
    }

    /// `manager` enrols an SE with a fresh identity key through the API (proof of possession),
    /// the second administrator approves; returns its id.
    pub async fn se(&self, manager: &Session, serial: &str) -> String {
        let key = SoftSigner(p256::ecdsa::SigningKey::random(&mut rand_core::OsRng));
        let proof = self.enrolment_proof(manager, &key, serial).await;
        self.proposed(
            "POST",
            "/api/me/se-enrolment",
            manager,
            json!({"label": format!("SE {serial}"), "proof": proof}),
        )
        .await
    }

    /// Row counts of every table a rejected request must not touch, and the audit head.
    pub async fn snapshot(&self) -> Vec<(String, i64)> {
        use sea_orm::{ConnectionTrait, Statement};
        let mut out = Vec::new();
        for table in [
            "users",
            "secure_elements",
            "cases",
            "key_shares",
            "signing_requests",
            "protocol_sessions",
            "session_participants",
            "session_requests",
            "signatures",
            "balance_attestations",
            "case_manager_changes",
            "outbox",
            "audit_log",
            "proposals",
            "se_enrolment_challenges",
        ] {
            let row = self
                .db
                .conn()
                .query_one_raw(Statement::from_string(
                    self.db.conn().get_database_backend(),
                    format!("SELECT COUNT(*) AS n FROM {table}"),
                ))
                .await
                .unwrap()
                .unwrap();
            out.push((table.to_owned(), row.try_get::<i64>("", "n").unwrap()));
        }
        out
    }
}

/// A case with three managers and three SEs, created through the API.
pub struct Fixture {
    pub admin: Session,
    pub admin_id: String,
    pub managers: Vec<(String, Session)>,
    pub ses: Vec<String>,
    pub case_id: String,
}

pub async fn case_fixture(app: &TestApp) -> Fixture {
    let (admin_id, admin) = app.signed_in("admin", Role::Admin).await;
    let mut managers = Vec::new();
    let mut ses = Vec::new();
    for i in 0..3 {
        managers.push(
            app.signed_in(&format!("manager{i}"), Role::CaseManager)
                .await,
        );
        ses.push(app.se(&managers[i].1, &format!("SE-000{i}")).await);
    }
    let body = json!({
        "name": "Case one",
        "managers": (0..3).map(|i| json!({"user_id": managers[i].0, "se_id": ses[i]})).collect::<Vec<_>>(),
        "chain_ids": [1, 11155111],
    });
    let case_id = app.proposed("POST", "/api/cases", &admin, body).await;
    Fixture {
        admin,
        admin_id,
        managers,
        ses,
        case_id,
    }
}

/// Run `body` once on SQLite and once on PostgreSQL, each with a fresh app.
pub async fn on_both<F, Fut>(body: F)
where
    F: Fn(TestApp) -> Fut,
    Fut: Future<Output = ()>,
{
    for db in TestDb::both().await.unwrap() {
        let kind = db.kind();
        eprintln!("--- on {kind}");
        body(TestApp::new(db).await).await;
    }
}
