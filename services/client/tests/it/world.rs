//! The offline zone for the client tests, all real: a SoftHSM HSM token and three SoftHSM SE
//! tokens, a nats-server, a SQLite database, the offline API (in process, over its HTTP
//! routes), the coordinator (in process) and `custody-client` processes.

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use channel::IdentitySigner;
use contracts::envelope::{Person, TransferSummary};
use contracts::eth::{self, Eip1559Fields};
use contracts::{Amount, Envelope, EthAddress, Id, SignatureResponse, SigningRequest};
use offline_api::{app, AppState, SystemClock};
use offline_db::{Db, ManagerReplacement, ManagerSlot, NewSecureElement, NewUser, Role};
use poem::test::TestClient;
use poem::{endpoint::BoxEndpoint, EndpointExt};
use se::{Pin, Se, SeSerial};
use secrecy::{ExposeSecret, SecretString};
use serde_json::{json, Value};
use testkit::envelopes::SoftSigner;
use testkit::nats::NatsServer;
use testkit::softhsm::{random_pin, SoftHsm};

pub const PASSWORD: &str = "violet tractor lighthouse";
pub const CHAIN_ID: u64 = 31337;

pub fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// The offline HSM: one SoftHSM token per test process (PKCS#11 login is per token and
/// process, so every world of the process shares it).
pub fn hsm() -> hsm::Hsm {
    static HSM: OnceLock<(hsm::Hsm, String)> = OnceLock::new();
    HSM.get_or_init(|| {
        let module = SoftHsm::global().module();
        let label = format!("client-hsm-{}", std::process::id());
        let pin = random_pin();
        let hsm = hsm::Hsm::provision(
            &module,
            &label,
            &random_pin(),
            &pin,
            "coordinator",
            1_700_000_000,
        )
        .unwrap();
        (hsm, label)
    })
    .0
    .clone()
}

/// The online zone's export key, standing in (test only).
pub fn online() -> SoftSigner {
    SoftSigner::from_seed([0x11; 32])
}

/// One enrolled SE token.
#[derive(Clone)]
pub struct SeToken {
    pub serial: String,
    pub id: String,
    pub pin: SecretString,
    pub so_pin: SecretString,
}

pub struct World {
    pub module: p11::Module,
    pub hsm: hsm::Hsm,
    pub nats: NatsServer,
    pub db: Db,
    pub api: TestClient<BoxEndpoint<'static>>,
    pub operator: String,
    pub admin: String,
    pub ses: Vec<SeToken>,
    /// User ids of the three first managers (manager i holds share i in SE i).
    pub managers: Vec<String>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    coordinator: Option<tokio::task::JoinHandle<()>>,
    /// The running coordinator (its counters).
    pub coord: Option<coordinator::Coordinator>,
    /// With the zone's NATS users, permissions and channel logins (`ops/nats`): the
    /// passwords, and the directory of the client password file.
    pub zone: Option<(testkit::nats::ZonePasswords, tempfile::TempDir)>,
    _testdb: testkit::db::TestDb,
}

impl World {
    pub async fn new(timeouts: coordinator::Timeouts) -> World {
        let testdb = testkit::db::TestDb::sqlite().unwrap();
        Self::on(testdb, timeouts).await
    }

    pub async fn on(testdb: testkit::db::TestDb, timeouts: coordinator::Timeouts) -> World {
        Self::build(testdb, timeouts, None).await
    }

    /// The world on a nats-server configured as the zone's: no anonymous access, the
    /// coordinator logs in as `coordinator` and serves channel logins, clients as `client`.
    pub async fn zone(timeouts: coordinator::Timeouts) -> World {
        let passwords = testkit::nats::ZonePasswords::random();
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("client.password"), &passwords.client).unwrap();
        let testdb = testkit::db::TestDb::sqlite().unwrap();
        Self::build(testdb, timeouts, Some((passwords, dir))).await
    }

    async fn build(
        testdb: testkit::db::TestDb,
        timeouts: coordinator::Timeouts,
        zone: Option<(testkit::nats::ZonePasswords, tempfile::TempDir)>,
    ) -> World {
        let module = SoftHsm::global().module();
        let hsm = hsm();
        let nats = match &zone {
            Some((passwords, _)) => NatsServer::start_as_the_zone(passwords).unwrap(),
            None => NatsServer::start().unwrap(),
        };
        let db = Db::connect(testdb.url(), testkit::hsm::offline_sealer_of(&hsm))
            .await
            .unwrap()
            .with_roster_signer(hsm.envelope_signer());
        let hasher =
            auth::PasswordHasher::new(auth::HashParams::insecure_for_tests_only()).unwrap();
        let state = AppState::builder(
            db.clone(),
            hsm.clone(),
            auth::PasswordHasher::new(auth::HashParams::insecure_for_tests_only()).unwrap(),
            Arc::new(SystemClock),
        )
        .pin_online_key(online().public_key())
        .build();
        let api = TestClient::new(app(state).boxed());
        let mut world = World {
            module,
            hsm,
            nats,
            db,
            api,
            operator: String::new(),
            admin: String::new(),
            ses: Vec::new(),
            managers: Vec::new(),
            stop: None,
            coordinator: None,
            coord: None,
            zone,
            _testdb: testdb,
        };
        world.admin = world.user("admin", Role::Admin, &hasher).await;
        world.user("operator", Role::Operator, &hasher).await;
        world.operator = world.login("operator").await;
        for i in 0..3 {
            let id = world
                .user(&format!("manager{i}"), Role::CaseManager, &hasher)
                .await;
            world.managers.push(id);
            let se = world.enroll_se(&format!("se{i}")).await;
            world.ses.push(se);
        }
        world.start_coordinator(timeouts).await;
        world
    }

    async fn user(&self, username: &str, role: Role, hasher: &auth::PasswordHasher) -> String {
        let password = auth::Password::parse(
            PASSWORD.to_owned(),
            &auth::Username::parse(username).unwrap(),
        )
        .unwrap();
        self.db
            .create_user(
                NewUser {
                    username: username.to_owned(),
                    display_name: format!("{username} display"),
                    phone: Some(format!("+86 138 0000 {:04}", username.len() * 97)),
                    password_hash: hasher.hash(&password).unwrap().into_string(),
                    role,
                },
                "test",
                chrono::Utc::now(),
            )
            .await
            .unwrap()
            .id
    }

    pub async fn new_manager(&self, username: &str) -> String {
        let hasher =
            auth::PasswordHasher::new(auth::HashParams::insecure_for_tests_only()).unwrap();
        self.user(username, Role::CaseManager, &hasher).await
    }

    async fn login(&self, username: &str) -> String {
        let r = self
            .api
            .post("/api/auth/login")
            .body_json(&json!({"username": username, "password": PASSWORD, "client": "bearer"}))
            .send()
            .await;
        r.assert_status_is_ok();
        let body: Value = r.json().await.value().deserialize();
        body["session_token"].as_str().unwrap().to_owned()
    }

    /// A fresh SoftHSM token enrolled as an SE: identity key, certificate from the HSM's CA,
    /// registered in the database.
    pub async fn enroll_se(&self, prefix: &str) -> SeToken {
        let token = SoftHsm::global().new_token(prefix);
        let serial = SeSerial::parse(&token.summary.serial).unwrap();
        let pin = random_pin();
        let so = Pin::try_from(&token.so_pin).unwrap();
        let enrollment =
            Se::enroll(&self.module, &serial, &so, &Pin::try_from(&pin).unwrap()).unwrap();
        let cert = self
            .hsm
            .issue_se_certificate(
                serial.as_str(),
                prefix,
                &enrollment.identity_public_key,
                365 * 24 * 3600,
                unix_now() - 60,
            )
            .unwrap();
        {
            let open = Se::open(&self.module, &serial, &Pin::try_from(&pin).unwrap()).unwrap();
            open.store_certificate(&cert.to_bytes().unwrap()).unwrap();
        }
        let row = self
            .db
            .create_secure_element(
                NewSecureElement {
                    serial: serial.to_string(),
                    label: prefix.to_owned(),
                    identity_public_key: p256::PublicKey::to_sec1_bytes(
                        &enrollment.identity_public_key,
                    )
                    .to_vec(),
                    certificate: Some(cert.to_bytes().unwrap()),
                    enrolled_by: None,
                },
                &self.admin,
                chrono::Utc::now(),
            )
            .await
            .unwrap();
        SeToken {
            serial: serial.to_string(),
            id: row.id,
            pin,
            so_pin: token.so_pin,
        }
    }

    pub fn open_se(&self, se: usize) -> se::OpenSe {
        let t = &self.ses[se];
        Se::open(
            &self.module,
            &SeSerial::parse(&t.serial).unwrap(),
            &Pin::try_from(&t.pin).unwrap(),
        )
        .unwrap()
    }

    /// Seals the test-only pre-generated Paillier primes into SE `se`, so keygen tests do not
    /// spend minutes searching for safe primes (the production path generates them).
    pub fn seal_fixture_primes(&self, se: usize) {
        let primes = testkit::fixtures::paillier_primes().unwrap();
        let open = self.open_se(se);
        custody_client::primes::seal(&open, &primes[se % primes.len()]).unwrap();
    }

    pub async fn start_coordinator(&mut self, timeouts: coordinator::Timeouts) {
        let options = match &self.zone {
            Some((passwords, _)) => bus::BusOptions {
                auth: bus::Auth::UserPassword {
                    user: "coordinator".to_owned(),
                    password: SecretString::from(passwords.coordinator.clone()),
                },
                ..bus::BusOptions::default()
            },
            None => bus::BusOptions::default(),
        };
        let bus = bus::Bus::connect(&self.nats.url(), options).await.unwrap();
        let mut c = coordinator::Coordinator::new(
            self.db.clone(),
            self.hsm.clone(),
            bus.client().clone(),
            Arc::new(bus::SystemClock),
            timeouts,
        );
        if let Some((passwords, _)) = &self.zone {
            c = c.with_channel_logins(
                coordinator::ChannelLogins::from_seed(&passwords.callout_seed).unwrap(),
            );
        }
        let (tx, rx) = tokio::sync::oneshot::channel();
        self.stop = Some(tx);
        self.coord = Some(c.clone());
        self.coordinator = Some(tokio::spawn(async move {
            let _bus = bus;
            c.serve(async {
                let _ = rx.await;
            })
            .await
            .unwrap();
        }));
        // The coordinator subscribes before it serves; give it the moment it needs.
        tokio::time::sleep(Duration::from_millis(300)).await;
    }

    pub async fn stop_coordinator(&mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        if let Some(h) = self.coordinator.take() {
            let _ = h.await;
        }
    }

    /// Creates a draft case with manager i / SE i in slot i.
    pub async fn create_case(&self, name: &str) -> String {
        let slots: [ManagerSlot; 3] = std::array::from_fn(|i| ManagerSlot {
            user_id: self.managers[i].clone(),
            se_id: self.ses[i].id.clone(),
        });
        self.db
            .create_case(name, slots, &[CHAIN_ID], &self.admin, chrono::Utc::now())
            .await
            .unwrap()
            .id
    }

    /// A case keyed from the test-only pre-computed key shares: the shares are sealed into the
    /// three SEs and the case made ACTIVE with their key (for tests that are about signing,
    /// not keygen).
    pub async fn keyed_case(&self, name: &str) -> (String, EthAddress) {
        let case_id = self.create_case(name).await;
        let shares = testkit::fixtures::key_shares().unwrap();
        for (i, share) in shares.iter().enumerate() {
            let open = self.open_se(i);
            let slot = se::ShareSlot::new(&case_id, i as u16).unwrap();
            open.seal_share(&slot, &share.to_bytes().unwrap()).unwrap();
        }
        let address = EthAddress(shares[0].address().unwrap().0);
        self.db
            .complete_keygen(
                &case_id,
                &hex::encode(shares[0].public_key_sec1()),
                &address.to_checksum(),
                "test",
                chrono::Utc::now(),
            )
            .await
            .unwrap();
        (case_id, address)
    }

    pub fn ca_key(&self) -> String {
        hex::encode(p256::PublicKey::to_sec1_bytes(&self.hsm.ca_public_key()))
    }

    /// The offline HSM's envelope key: the clients verify case rosters under it.
    pub fn offline_key(&self) -> String {
        hex::encode(p256::PublicKey::to_sec1_bytes(
            &self.hsm.envelope_public_key(),
        ))
    }

    pub fn online_key(&self) -> String {
        hex::encode(p256::PublicKey::to_sec1_bytes(&online().public_key()))
    }

    /// Starts `custody-client login` for `user` with SE `se`, PIN `pin` (on stdin, `--pin-fd 0`).
    pub fn client(&self, user: &str, se: usize, pin: &SecretString, extra: &[&str]) -> ClientProc {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_custody-client"));
        cmd.args([
            "login",
            "--user",
            user,
            "--nats",
            &self.nats.url(),
            "--module",
            SoftHsm::global().module_path().to_str().unwrap(),
            "--se-serial",
            &self.ses[se].serial,
            "--pin-fd",
            "0",
            "--ca-key",
            &self.ca_key(),
            "--online-key",
            &self.online_key(),
            "--offline-key",
            &self.offline_key(),
            "--se-wait-secs",
            "5",
        ]);
        if let Some((_, dir)) = &self.zone {
            cmd.arg("--nats-user").arg("client");
            cmd.arg("--nats-password-file")
                .arg(dir.path().join("client.password"));
        }
        cmd.args(extra);
        cmd.stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().unwrap();
        let mut stdin = child.stdin.take().unwrap();
        writeln!(stdin, "{}", pin.expose_secret()).unwrap();
        drop(stdin);
        let lines = Arc::new(Mutex::new(Vec::new()));
        for out in [
            Box::new(child.stdout.take().unwrap()) as Box<dyn std::io::Read + Send>,
            Box::new(child.stderr.take().unwrap()),
        ] {
            let lines = lines.clone();
            let tag = format!("[nats {}/se{se}]", self.nats.port());
            std::thread::spawn(move || {
                for line in BufReader::new(out).lines().map_while(Result::ok) {
                    eprintln!("{tag} {line}");
                    lines.lock().unwrap().push(line);
                }
            });
        }
        ClientProc { child, lines }
    }

    /// A signing request from `from` (ETH transfer, nonce `nonce`), sealed by the stand-in
    /// online key.
    pub fn request(&self, from: &EthAddress, nonce: u64) -> (SigningRequest, Envelope) {
        let recipient = EthAddress::parse("0x00000000000000000000000000000000000000a1").unwrap();
        let value = Amount::from(1_500_000_000_000_000_000u128);
        let fields = Eip1559Fields {
            chain_id: CHAIN_ID,
            nonce,
            max_priority_fee_per_gas: Amount::from(1_500_000_000u128),
            max_fee_per_gas: Amount::from(30_000_000_000u128),
            gas_limit: 21_000,
            to: recipient,
            value,
            data: Vec::new(),
        };
        let unsigned_tx = fields.encode_unsigned().unwrap();
        let now = unix_now();
        let request = SigningRequest {
            request_id: Id::new_v7(now),
            chain_id: CHAIN_ID,
            from: *from,
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
            approved_by: vec![],
        };
        let envelope = Envelope::seal(&request, &online(), Id::new_v7(now), now, 3600).unwrap();
        (request, envelope)
    }

    /// The operator imports a request through the offline API; returns the import result.
    pub async fn import(&self, envelope: &Envelope) -> Value {
        let armored = contracts::transfer_format::to_armor(envelope).unwrap();
        let r = self
            .api
            .post("/api/signing-requests")
            .header("authorization", format!("Bearer {}", self.operator))
            .body_json(&json!({ "envelope": armored }))
            .send()
            .await;
        r.assert_status_is_ok();
        r.json().await.value().deserialize()
    }

    /// The operator exports the signature response of an imported request (row id).
    pub async fn export_response(&self, row_id: &str) -> SignatureResponse {
        let r = self
            .api
            .post(format!("/api/signing-requests/{row_id}/response"))
            .header("authorization", format!("Bearer {}", self.operator))
            .send()
            .await;
        r.assert_status_is_ok();
        let body: Value = r.json().await.value().deserialize();
        let envelope =
            contracts::transfer_format::from_armor(body["armored"].as_str().unwrap()).unwrap();
        let keyring = contracts::KeyRing::new().with_key(
            self.hsm.envelope_public_key(),
            &[contracts::Kind::SignatureResponse],
        );
        envelope
            .verify::<SignatureResponse>(&keyring, unix_now())
            .unwrap()
            .into_body()
    }

    /// Replaces the manager of share `share` by `new_user` and resets the SE's PIN to a new
    /// one (the hand-over); returns the new PIN.
    pub async fn replace_manager(
        &mut self,
        case_id: &str,
        share: usize,
        new_user: &str,
    ) -> SecretString {
        self.db
            .replace_manager(
                ManagerReplacement {
                    case_id: case_id.to_owned(),
                    share_index: share as i32,
                    new_user_id: new_user.to_owned(),
                    pin_reset_by: self.admin.clone(),
                    reason: "hand-over".to_owned(),
                },
                &self.admin,
                chrono::Utc::now(),
            )
            .await
            .unwrap();
        let new_pin = random_pin();
        Se::reset_pin(
            &self.module,
            &SeSerial::parse(&self.ses[share].serial).unwrap(),
            &Pin::try_from(&self.ses[share].so_pin).unwrap(),
            &Pin::try_from(&new_pin).unwrap(),
        )
        .unwrap();
        self.ses[share].pin = new_pin.clone();
        new_pin
    }

    /// Polls `f` until it returns `Some`, or fails after `timeout`.
    pub async fn until<T, F, Fut>(&self, what: &str, timeout: Duration, mut f: F) -> T
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Option<T>>,
    {
        let start = Instant::now();
        loop {
            if let Some(v) = f().await {
                return v;
            }
            assert!(start.elapsed() < timeout, "timed out waiting for {what}");
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }
}

impl Drop for World {
    fn drop(&mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
    }
}

/// A running `custody-client`.
pub struct ClientProc {
    pub child: Child,
    pub lines: Arc<Mutex<Vec<String>>>,
}

impl ClientProc {
    pub fn output(&self) -> String {
        self.lines.lock().unwrap().join("\n")
    }

    /// Waits for the process to exit (killing it after `timeout`).
    pub async fn wait(&mut self, timeout: Duration) -> ExitStatus {
        let start = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                // Let the reader threads drain.
                tokio::time::sleep(Duration::from_millis(100)).await;
                return status;
            }
            if start.elapsed() > timeout {
                let _ = self.child.kill();
                panic!(
                    "client did not exit within {timeout:?}; output:\n{}",
                    self.output()
                );
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// Waits until a line containing `needle` was printed.
    pub async fn wait_line(&self, needle: &str, timeout: Duration) {
        let start = Instant::now();
        while !self.output().contains(needle) {
            assert!(
                start.elapsed() < timeout,
                "no line with {needle:?} within {timeout:?}; output:\n{}",
                self.output()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for ClientProc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
