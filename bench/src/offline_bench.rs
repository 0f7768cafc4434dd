//! `bench offline-sign` and `bench offline-keygen`: the offline zone end to end, against raw
//! in-memory cggmp21 in the same run.
//!
//! The zone is real and in this process: a SoftHSM2 HSM token (the coordinator's key and the
//! CA), three SoftHSM2 SE tokens enrolled with certificates from that CA, a nats-server, a
//! SQLite database, the offline API over HTTP on a local port, the coordinator, and one
//! `custody_client::session::run` task per manager, each holding its own open SE.
//!
//! - `offline-sign`: two managers' clients (shares 0 and 1) are logged in and idle-polling their
//!   work list, every request's hash pre-approved; each run imports one signing request through
//!   `POST /api/signing-requests` as an operator and ends when the signature is stored
//!   (`Db::signature_for`, polled every 5 ms). The case is keyed from the test-only fixture
//!   shares, sealed into the SEs. Baseline: cggmp21 2-of-3 signing of a hash with the same
//!   shares over round-based's in-memory simulation (`raw::sign`); `tss::sign` over
//!   `tss::InMemoryNetwork` is shown too.
//! - `offline-keygen`: three clients idle-polling with keygen pre-approved and the test-only
//!   Paillier primes sealed into their SEs; each run creates a case and ends when it is ACTIVE
//!   with its address. The coordinator lets a manager log in only while they hold a current
//!   share, so the SEs first serve a retired (archived) case; a manager with no share at all
//!   would log in after the case exists and add the handshake to this time. Baseline: cggmp21
//!   aux info (same primes) + keygen in memory (`raw::keygen`).
//!
//! How long a session waited for its clients ("session started") is read afterwards from the
//! coordinator's `session.started` audit record, not watched: while the clients compute, a
//! watcher on the same two worker threads would see it late.
//!
//! The start of each run is put at a random moment of the clients' 250 ms poll period, so the
//! wait for the next poll is measured as a manager would see it, not at a lucky phase.

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{bail, Context};
use channel::{Certificate, IdentitySigner};
use contracts::envelope::{Person, TransferSummary};
use contracts::eth::{self, Eip1559Fields};
use contracts::{Amount, Envelope, EthAddress, Id, KeyRing, Kind, SigningRequest};
use custody_client::review::ApprovalPolicy;
use custody_client::session::{ClientConfig, SessionError, Summary};
use offline_api::{AppState, Clock, SystemClock};
use offline_db::{CaseStatus, Db, ManagerSlot, NewSecureElement, NewUser, Role, SessionStatus};
use rand_core::{OsRng, RngCore};
use se::{OpenSe, Pin, Se, SeSerial, ShareSlot};
use secrecy::SecretString;
use serde_json::{json, Value};
use testkit::envelopes::SoftSigner;
use testkit::nats::NatsServer;
use testkit::softhsm::SoftHsm;
use tss::{ExecutionIdBytes, InMemoryNetwork, KeyShare, PaillierPrimes, RunKind, SignerSet};

use crate::raw;
use crate::stats::{print_mean_table, Samples};

const PASSWORD: &str = "violet tractor lighthouse";
const CHAIN_ID: u64 = 31337;
/// The clients' work-list poll period (`POLL_EVERY` in services/client/src/session.rs).
const CLIENT_POLL: Duration = Duration::from_millis(250);
/// How often the bench looks for the result.
const WATCH_EVERY: Duration = Duration::from_millis(5);
const SIGN_TIMEOUT: Duration = Duration::from_secs(120);
const KEYGEN_TIMEOUT: Duration = Duration::from_secs(600);

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// The online zone's export key, standing in (test-only seed).
fn online() -> SoftSigner {
    SoftSigner::from_seed([0x11; 32])
}

/// The 1-minute load average (Linux), so a table measured on a busy machine says so.
fn load() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|l| l.split_whitespace().next().map(str::to_owned))
        .unwrap_or_else(|| "?".to_owned())
}

/// A pause of `base` plus a random part of one client poll period.
async fn settle(base: Duration) {
    let jitter = u64::from(OsRng.next_u32()) % (CLIENT_POLL.as_millis() as u64);
    tokio::time::sleep(base + Duration::from_millis(jitter)).await;
}

/// One enrolled SE token.
struct SeToken {
    serial: SeSerial,
    pin: SecretString,
    id: String,
    cert: Certificate,
}

/// The offline zone, all in this process.
struct Zone {
    module: p11::Module,
    hsm: hsm::Hsm,
    nats: NatsServer,
    db: Db,
    http: reqwest::Client,
    base: String,
    operator: String,
    admin: String,
    managers: Vec<String>,
    ses: Vec<SeToken>,
    stop_api: Option<tokio::sync::oneshot::Sender<()>>,
    api: Option<tokio::task::JoinHandle<Result<(), offline_api::Error>>>,
    stop_coordinator: Option<tokio::sync::oneshot::Sender<()>>,
    coordinator: Option<tokio::task::JoinHandle<anyhow::Result<()>>>,
    coord: Option<coordinator::Coordinator>,
    _dir: tempfile::TempDir,
}

impl Zone {
    async fn new() -> anyhow::Result<Zone> {
        let dir = tempfile::tempdir()?;
        let db_url = format!(
            "sqlite://{}?mode=rwc",
            dir.path().join("offline.db").display()
        );
        let softhsm = SoftHsm::global();
        let module = softhsm.module();
        let hsm_token = softhsm.new_token("bench-offline-hsm");
        let hsm = hsm::Hsm::provision(
            &module,
            &hsm_token.summary.label,
            &hsm_token.so_pin,
            &hsm_token.user_pin,
            "coordinator",
            unix_now() - 60,
        )?;
        let db = Db::connect(&db_url, testkit::hsm::offline_sealer_of(&hsm))
            .await?
            .with_roster_signer(hsm.envelope_signer());
        let nats = NatsServer::start().context("start nats-server")?;
        let clock = SystemClock;
        // One Argon2id hash (production parameters) serves every bench user.
        let hasher = auth::PasswordHasher::new(auth::HashParams::default())?;
        let password_hash = hasher
            .hash(&auth::Password::parse(
                PASSWORD.to_owned(),
                &auth::Username::parse("operator")?,
            )?)?
            .into_string();
        let user = |username: &str, role: Role| {
            let db = db.clone();
            let new = NewUser {
                username: username.to_owned(),
                display_name: username.to_owned(),
                phone: None,
                password_hash: password_hash.clone(),
                role,
            };
            async move { anyhow::Ok(db.create_user(new, "bench", clock.now()).await?.id) }
        };
        let admin = user("admin", Role::Admin).await?;
        user("operator", Role::Operator).await?;
        let mut managers = Vec::new();
        for i in 0..3 {
            managers.push(user(&format!("manager{i}"), Role::CaseManager).await?);
        }
        let mut ses = Vec::new();
        for i in 0..3 {
            ses.push(enroll_se(&module, &hsm, &db, &admin, &format!("bench-se{i}")).await?);
        }

        // The offline API over HTTP on a local port.
        let state = AppState::builder(db.clone(), hsm.clone(), hasher, Arc::new(SystemClock))
            .pin_online_key(online().public_key())
            .build();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        drop(listener);
        let (stop_api, stopped) = tokio::sync::oneshot::channel::<()>();
        let api = tokio::spawn(offline_api::serve(
            poem::listener::TcpListener::bind(addr.to_string()),
            state,
            async {
                let _ = stopped.await;
            },
        ));
        let base = format!("http://{addr}");
        let http = crate::online_bench::http_client()?;
        for _ in 0..100 {
            if http.get(format!("{base}/api/live")).send().await.is_ok() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let login: Value = http
            .post(format!("{base}/api/auth/login"))
            .header("content-type", "application/json")
            .body(serde_json::to_vec(
                &json!({"username": "operator", "password": PASSWORD, "client": "bearer"}),
            )?)
            .send()
            .await?
            .json()
            .await?;
        let operator = login
            .get("session_token")
            .and_then(Value::as_str)
            .context("operator login failed")?
            .to_owned();

        let mut zone = Zone {
            module,
            hsm,
            nats,
            db,
            http,
            base,
            operator,
            admin,
            managers,
            ses,
            stop_api: Some(stop_api),
            api: Some(api),
            stop_coordinator: None,
            coordinator: None,
            coord: None,
            _dir: dir,
        };
        zone.start_coordinator().await?;
        Ok(zone)
    }

    async fn start_coordinator(&mut self) -> anyhow::Result<()> {
        let bus = bus::Bus::connect(&self.nats.url(), bus::BusOptions::default()).await?;
        let c = coordinator::Coordinator::new(
            self.db.clone(),
            self.hsm.clone(),
            bus.client().clone(),
            Arc::new(bus::SystemClock),
            coordinator::Timeouts::default(),
        );
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        self.stop_coordinator = Some(tx);
        self.coord = Some(c.clone());
        self.coordinator = Some(tokio::spawn(async move {
            let _bus = bus;
            c.serve(async {
                let _ = rx.await;
            })
            .await?;
            anyhow::Ok(())
        }));
        // The coordinator subscribes before it serves; give it the moment it needs.
        tokio::time::sleep(Duration::from_millis(300)).await;
        Ok(())
    }

    /// Frames the coordinator dropped because they failed authentication.
    fn rejected_frames(&self) -> u64 {
        self.coord
            .as_ref()
            .map_or(0, coordinator::Coordinator::rejected_frames)
    }

    async fn shutdown(mut self) -> anyhow::Result<()> {
        if let Some(tx) = self.stop_coordinator.take() {
            let _ = tx.send(());
        }
        if let Some(h) = self.coordinator.take() {
            h.await??;
        }
        if let Some(tx) = self.stop_api.take() {
            let _ = tx.send(());
        }
        if let Some(h) = self.api.take() {
            h.await??;
        }
        Ok(())
    }

    fn open_se(&self, i: usize) -> anyhow::Result<OpenSe> {
        let t = self.ses.get(i).context("no such SE")?;
        Ok(Se::open(&self.module, &t.serial, &Pin::try_from(&t.pin)?)?)
    }

    /// A draft case with manager i / SE i in slot i.
    async fn create_case(&self, name: &str) -> anyhow::Result<String> {
        let mut slots = Vec::new();
        for (user_id, se) in self.managers.iter().zip(&self.ses) {
            slots.push(ManagerSlot {
                user_id: user_id.clone(),
                se_id: se.id.clone(),
            });
        }
        let slots: [ManagerSlot; 3] = slots
            .try_into()
            .map_err(|_| anyhow::anyhow!("three managers"))?;
        Ok(self
            .db
            .create_case(name, slots, &[CHAIN_ID], &self.admin, SystemClock.now())
            .await?
            .id)
    }

    /// Manager `i`'s client, in process, with SE `i` already open.
    fn client(
        &self,
        i: usize,
        se: OpenSe,
        approval: ApprovalPolicy,
        exit_after: Option<u32>,
    ) -> anyhow::Result<ClientTask> {
        let user = self.managers.get(i).context("no such manager")?;
        let cert = self.ses.get(i).context("no such SE")?.cert.clone();
        let config = ClientConfig {
            nats_url: self.nats.url(),
            user_id: user.parse::<Id>()?,
            trust: self.hsm.trust_anchor(),
            keyring: KeyRing::new().with_key(online().public_key(), &[Kind::SigningRequest]),
            roster_key: self.hsm.envelope_public_key(),
            approval,
            exit_after,
            idle_exit: None,
            quiet: true,
            nats_access: None,
        };
        Ok(tokio::spawn(custody_client::session::run(config, se, cert)))
    }

    /// The operator imports `envelope`; returns (row id, session id).
    async fn import(&self, envelope: &Envelope) -> anyhow::Result<(String, String)> {
        let armored = contracts::transfer_format::to_armor(envelope)?;
        let resp = self
            .http
            .post(format!("{}/api/signing-requests", self.base))
            .bearer_auth(&self.operator)
            .header("content-type", "application/json")
            .body(serde_json::to_vec(&json!({ "envelope": armored }))?)
            .send()
            .await?;
        let status = resp.status();
        let text = resp.text().await?;
        if !status.is_success() {
            bail!("import answered {status}: {text}");
        }
        let v: Value = serde_json::from_str(&text)?;
        let field = |name: &str| {
            v.get(name)
                .and_then(Value::as_str)
                .map(str::to_owned)
                .with_context(|| format!("import result without {name}"))
        };
        Ok((field("id")?, field("session_id")?))
    }
}

/// A fresh SoftHSM2 token enrolled as an SE: identity key, certificate from the HSM's CA
/// (stored in the SE), registered in the database.
async fn enroll_se(
    module: &p11::Module,
    hsm: &hsm::Hsm,
    db: &Db,
    admin: &str,
    prefix: &str,
) -> anyhow::Result<SeToken> {
    let token = SoftHsm::global().new_token(prefix);
    let serial = SeSerial::parse(&token.summary.serial)?;
    let so = Pin::try_from(&token.so_pin)?;
    let pin = Pin::try_from(&token.user_pin)?;
    let enrollment = Se::enroll(module, &serial, &so, &pin)?;
    let cert = hsm.issue_se_certificate(
        serial.as_str(),
        prefix,
        &enrollment.identity_public_key,
        24 * 3600,
        unix_now() - 60,
    )?;
    Se::open(module, &serial, &pin)?.store_certificate(&cert.to_bytes()?)?;
    let row = db
        .create_secure_element(
            NewSecureElement {
                serial: serial.to_string(),
                label: prefix.to_owned(),
                identity_public_key: p256::PublicKey::to_sec1_bytes(
                    &enrollment.identity_public_key,
                )
                .to_vec(),
                certificate: Some(cert.to_bytes()?),
                enrolled_by: None,
            },
            admin,
            SystemClock.now(),
        )
        .await?;
    Ok(SeToken {
        serial,
        pin: token.user_pin,
        id: row.id,
        cert,
    })
}

/// A signing request from `from` (an ETH transfer with nonce `nonce`), sealed by the stand-in
/// online key.
fn request(from: &EthAddress, nonce: u64) -> anyhow::Result<(SigningRequest, Envelope)> {
    let recipient = EthAddress::parse("0x00000000000000000000000000000000000000a1")?;
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
    let unsigned_tx = fields.encode_unsigned()?;
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
    let envelope = Envelope::seal(&request, &online(), Id::new_v7(now), now, 3600)?;
    Ok((request, envelope))
}

/// `tss::sign` by shares 0 and 1 over `tss::InMemoryNetwork`, both parties concurrently.
async fn tss_sign(shares: &[KeyShare], hash: [u8; 32]) -> anyhow::Result<Duration> {
    let signers = SignerSet::new(&[0, 1])?;
    let mut session = [0u8; 16];
    OsRng.fill_bytes(&mut session);
    let eid = ExecutionIdBytes::derive(RunKind::Sign, &session, b"bench-offline", &hash);
    let start = Instant::now();
    let mut tasks = Vec::new();
    for (share, t) in shares.iter().take(2).zip(InMemoryNetwork::connect(2)) {
        let share = share.clone();
        tasks.push(tokio::spawn(async move {
            anyhow::Ok(tss::sign(&eid, &share, &signers, &hash, t).await?)
        }));
    }
    for t in tasks {
        t.await??;
    }
    Ok(start.elapsed())
}

/// Waits until a channel was established since `since` for each of `ses` (the clients are
/// logged in), then a moment more and a random part of a poll period (they are idle-polling).
async fn logged_in(
    zone: &Zone,
    ses: &[usize],
    since: chrono::DateTime<chrono::Utc>,
    clients: &mut [ClientTask],
) -> anyhow::Result<()> {
    use offline_db::entity::secure_channels;
    use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
    let start = Instant::now();
    for i in ses {
        let se_id = &zone.ses.get(*i).context("no such SE")?.id;
        loop {
            let open = secure_channels::Entity::find()
                .filter(secure_channels::Column::SeId.eq(se_id.as_str()))
                .filter(
                    secure_channels::Column::Status
                        .eq(offline_db::coordination::CHANNEL_ESTABLISHED),
                )
                .filter(secure_channels::Column::OpenedAt.gte(since))
                .one(zone.db.conn())
                .await?;
            if open.is_some() {
                break;
            }
            check_running(clients).await?;
            if start.elapsed() > Duration::from_secs(60) {
                bail!("the clients did not log in within 60 s");
            }
            tokio::time::sleep(WATCH_EVERY).await;
        }
    }
    settle(Duration::from_millis(500)).await;
    check_running(clients).await
}

type ClientTask = tokio::task::JoinHandle<Result<Summary, SessionError>>;

/// Fails if a client stopped (refused, lost, broken) while the bench expects it at work.
async fn check_running(clients: &mut [ClientTask]) -> anyhow::Result<()> {
    for c in clients.iter_mut() {
        if c.is_finished() {
            match c.await? {
                Ok(summary) => bail!("a client left early: {summary:?}"),
                Err(e) => bail!("a client stopped: {e}"),
            }
        }
    }
    Ok(())
}

/// Watches one imported request until its signature is stored; returns the time from `start`.
async fn watch_signature(db: &Db, row_id: &str, start: Instant) -> anyhow::Result<Duration> {
    loop {
        if db.signature_for(row_id).await?.is_some() {
            return Ok(start.elapsed());
        }
        if start.elapsed() > SIGN_TIMEOUT {
            bail!("no signature for request {row_id} within {SIGN_TIMEOUT:?}");
        }
        tokio::time::sleep(WATCH_EVERY).await;
    }
}

/// When the coordinator started `session_id` (every client it needed had joined), from the
/// audit record it wrote, after `since`. Read afterwards from the database: a watcher polling
/// for it would itself wait for a worker thread while the clients compute.
async fn started_after(
    db: &Db,
    session_id: &str,
    since: chrono::DateTime<chrono::Utc>,
) -> anyhow::Result<Duration> {
    let records = audit::query(
        db.conn(),
        audit::Filter {
            action: Some("session.started".to_owned()),
            object: Some(session_id.to_owned()),
            ..audit::Filter::default()
        },
    )
    .await?;
    let at = records
        .first()
        .map(|r| r.at)
        .with_context(|| format!("no session.started record for {session_id}"))?;
    Ok((at - since).to_std().unwrap_or_default())
}

pub async fn sign(quick: bool) -> anyhow::Result<()> {
    let runs: usize = if quick { 3 } else { 8 };
    eprintln!("offline-sign: starting the offline zone (SoftHSM2 HSM + 3 SEs, nats-server, SQLite, API, coordinator)…");
    let zone = Zone::new().await?;
    let load_before = load();

    // A case keyed from the fixture shares, sealed into the three SEs.
    let case_id = zone.create_case("bench signing case").await?;
    let shares: Vec<KeyShare> = testkit::fixtures::key_shares()?;
    let mut open = Vec::new();
    for (i, share) in shares.iter().enumerate() {
        let se = zone.open_se(i)?;
        se.seal_share(&ShareSlot::new(&case_id, i as u16)?, &share.to_bytes()?)?;
        open.push(se);
    }
    let first = shares.first().context("no fixture shares")?;
    let address = EthAddress(first.address()?.0);
    zone.db
        .complete_keygen(
            &case_id,
            &hex::encode(first.public_key_sec1()),
            &address.to_checksum(),
            "bench",
            SystemClock.now(),
        )
        .await?;

    // Every request (one warm-up, then the measured runs) is built first, so the clients can
    // be started once with all their hashes approved.
    let mut requests = Vec::new();
    // Each run signs twice: undisturbed, and under a jammer on the bus.
    for nonce in 0..=(2 * runs) as u64 {
        requests.push(request(&address, nonce)?);
    }
    let hashes: Vec<[u8; 32]> = requests.iter().map(|(r, _)| r.signing_hash).collect();
    // Managers 0 and 1 log in; SE 2 stays in its drawer.
    let since = SystemClock.now() - chrono::Duration::seconds(1);
    let mut clients = Vec::new();
    for (i, se) in open.into_iter().take(2).enumerate() {
        clients.push(zone.client(
            i,
            se,
            ApprovalPolicy::Preapproved {
                hashes: hashes.clone(),
                keygen: false,
            },
            None,
        )?);
    }
    // Logged in (handshake with the HSM) and idle-polling before the first import.
    logged_in(&zone, &[0, 1], since, &mut clients).await?;

    let raw_shares: Vec<_> = shares.iter().map(|s| s.as_cggmp21().clone()).collect();
    let mut raw_sign = Samples::new("raw cggmp21 2-of-3 sign (in-memory sim)");
    let mut tss_samples = Samples::new("tss::sign over InMemoryNetwork");
    let mut e2e = Samples::new("offline e2e: import → signature stored");
    let mut import_t = Samples::new("  of which: import (HTTP POST)");
    let mut join_t = Samples::new("  of which: import → session started");
    let mut jammed = Samples::new("offline e2e under junk and replayed frames");
    let mut jam_sent = 0u64;
    eprintln!(
        "offline-sign: 1 warm-up + {runs} runs (alternating raw / tss / e2e / e2e under a jammer)…"
    );
    let mut requests = requests.iter();
    let mut n = 0usize;
    while let Some((req, envelope)) = requests.next() {
        let hash = req.signing_hash;
        let raw_t = raw::sign(&raw_shares, [0, 1], hash).await?;
        let tss_t = tss_sign(&shares, hash).await?;
        // Import at a random moment of the clients' poll period.
        settle(Duration::from_millis(500)).await;
        let wall = SystemClock.now();
        let start = Instant::now();
        let (row_id, session_id) = zone.import(envelope).await?;
        let imported = start.elapsed();
        let stored = watch_signature(&zone.db, &row_id, start).await?;
        let started = started_after(&zone.db, &session_id, wall).await?;
        check_running(&mut clients).await?;
        n += 1;
        if n == 1 {
            eprintln!("  warm-up done ({:.0} ms)", stored.as_secs_f64() * 1e3);
            continue;
        }
        raw_sign.times.push(raw_t);
        tss_samples.times.push(tss_t);
        e2e.times.push(stored);
        import_t.times.push(imported);
        join_t.times.push(started);
        // The same again with an insider on the bus replaying every frame, forging the next
        // one each receiver expects and publishing junk on every channel subject every 20 ms.
        let (_, envelope) = requests.next().context("no request for the jammed run")?;
        let jammer = testkit::jammer::Jammer::start(&zone.nats.url(), Duration::from_millis(20))
            .await
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        settle(Duration::from_millis(500)).await;
        let start = Instant::now();
        let (row_id, _) = zone.import(envelope).await?;
        let under_jam = watch_signature(&zone.db, &row_id, start).await?;
        jam_sent += jammer.sent();
        drop(jammer);
        check_running(&mut clients).await?;
        jammed.times.push(under_jam);
        eprintln!(
            "  run {}/{runs}: e2e {:.0} ms (session started after {:.0} ms), jammed {:.0} ms, raw {:.0} ms",
            n - 1,
            stored.as_secs_f64() * 1e3,
            started.as_secs_f64() * 1e3,
            under_jam.as_secs_f64() * 1e3,
            raw_t.as_secs_f64() * 1e3
        );
    }
    for c in &clients {
        c.abort();
    }
    for c in clients {
        if let Ok(Err(e)) = c.await {
            bail!("a client stopped: {e}");
        }
    }
    let dropped = zone.rejected_frames();
    zone.shutdown().await?;

    println!(
        "load average (1 min) before / after: {load_before} / {} on {} CPU(s)",
        load(),
        std::thread::available_parallelism().map_or(0, usize::from)
    );
    print_mean_table(
        "bench offline-sign — ratio = e2e mean / raw cggmp21 mean (same run, same machine)",
        &[&raw_sign, &tss_samples, &e2e, &import_t, &join_t, &jammed],
    );
    println!(
        "the jammer published {jam_sent} messages during the jammed runs; the coordinator \
         dropped {dropped} unauthenticated frames"
    );
    println!(
        "the clients poll their work list every {} ms and the session starts once both have \
         polled and joined: \"import → session started\" is mostly that wait (at most one period \
         plus the join round trips)",
        CLIENT_POLL.as_millis()
    );
    println!(
        "e2e / tss::sign in-memory mean = {:.3}",
        e2e.mean().as_secs_f64() / tss_samples.mean().as_secs_f64()
    );
    println!();
    println!(
        "RATIO offline-sign {:.4}",
        e2e.mean().as_secs_f64() / raw_sign.mean().as_secs_f64()
    );
    println!(
        "RATIO offline-sign-jammed {:.4}",
        jammed.mean().as_secs_f64() / e2e.mean().as_secs_f64()
    );
    Ok(())
}

/// Seals the fixture primes for share `i` into `se`; primes left by an earlier failed run are
/// the same fixture and stay.
fn seal_fixture_primes(se: &OpenSe, i: usize) -> anyhow::Result<()> {
    let primes = testkit::fixtures::paillier_primes()?;
    let p = primes.get(i % primes.len()).context("no fixture primes")?;
    match custody_client::primes::seal(se, p) {
        Ok(()) | Err(custody_client::primes::PrimesError::AlreadyPrepared) => Ok(()),
        Err(e) => Err(e.into()),
    }
}

async fn case_active(zone: &Zone, case_id: &str) -> anyhow::Result<bool> {
    Ok(zone
        .db
        .case(case_id)
        .await?
        .is_some_and(|c| c.status == CaseStatus::Active && c.address.is_some()))
}

/// One end-to-end keygen: returns (until the keygen session started, until the case was
/// ACTIVE with its address), from the case's creation.
async fn e2e_keygen(zone: &Zone, run: usize) -> anyhow::Result<(Duration, Duration)> {
    let since = SystemClock.now() - chrono::Duration::seconds(1);
    let mut clients = Vec::new();
    for i in 0..3 {
        let se = zone.open_se(i)?;
        seal_fixture_primes(&se, i)?;
        clients.push(zone.client(
            i,
            se,
            ApprovalPolicy::Preapproved {
                hashes: Vec::new(),
                keygen: true,
            },
            Some(1),
        )?);
    }
    // Logged in and idle-polling; the case appears at a random moment of the poll period.
    logged_in(zone, &[0, 1, 2], since, &mut clients).await?;
    let wall = SystemClock.now();
    let start = Instant::now();
    let case_id = zone
        .create_case(&format!("bench keygen case {run}"))
        .await?;
    let total = loop {
        if case_active(zone, &case_id).await? {
            break start.elapsed();
        }
        if start.elapsed() > KEYGEN_TIMEOUT {
            bail!("case {case_id} not ACTIVE within {KEYGEN_TIMEOUT:?}");
        }
        // A client leaves on its own only once the key is recorded; before that, it failed.
        if clients.iter().any(|c| c.is_finished()) && !case_active(zone, &case_id).await? {
            check_running(&mut clients).await?;
        }
        tokio::time::sleep(WATCH_EVERY).await;
    };
    // Each client leaves after its one completed session, closing its SE.
    for c in clients {
        let summary = tokio::time::timeout(Duration::from_secs(60), c).await???;
        if summary.completed != 1 {
            bail!("a keygen client finished with {summary:?}");
        }
    }
    let session = zone
        .db
        .sessions(Some(&case_id), Some(SessionStatus::Completed), 10)
        .await?;
    let session = session.first().context("no completed keygen session")?;
    let started = started_after(&zone.db, &session.id, wall).await?;
    // Retired, so the SEs can serve the next run's case.
    zone.db
        .archive_case(&case_id, &zone.admin, SystemClock.now())
        .await?;
    Ok((started, total))
}

pub async fn keygen(quick: bool) -> anyhow::Result<()> {
    let runs: usize = if quick { 1 } else { 2 };
    eprintln!("offline-keygen: starting the offline zone (SoftHSM2 HSM + 3 SEs, nats-server, SQLite, API, coordinator)…");
    let zone = Zone::new().await?;
    let load_before = load();
    // The coordinator accepts a manager's login only while they hold a current share, and an SE
    // holds a share of one live case at a time: a retired case (keyed from the fixture shares,
    // then archived) lets the clients be logged in and idle before the measured case exists,
    // as for managers whose SEs served a case before.
    let held = zone.create_case("bench retired case").await?;
    let shares: Vec<KeyShare> = testkit::fixtures::key_shares()?;
    let first = shares.first().context("no fixture shares")?;
    zone.db
        .complete_keygen(
            &held,
            &hex::encode(first.public_key_sec1()),
            &EthAddress(first.address()?.0).to_checksum(),
            "bench",
            SystemClock.now(),
        )
        .await?;
    zone.db
        .archive_case(&held, &zone.admin, SystemClock.now())
        .await?;
    let mut raw_kg = Samples::new("raw cggmp21 aux-info + keygen (in-memory)");
    let mut e2e = Samples::new("offline e2e: case created → ACTIVE");
    let mut join_t = Samples::new("  of which: created → session started");
    eprintln!("offline-keygen: {runs} run(s) each (alternating raw / e2e)…");
    for run in 0..runs {
        let raw_primes = testkit::fixtures::paillier_primes()?
            .into_iter()
            .map(PaillierPrimes::into_cggmp21)
            .collect();
        let raw_t = raw::keygen(raw_primes).await?;
        raw_kg.times.push(raw_t);
        let (started, total) = e2e_keygen(&zone, run).await?;
        e2e.times.push(total);
        join_t.times.push(started);
        eprintln!(
            "  run {}/{runs}: e2e {:.2} s (session started after {:.0} ms), raw {:.2} s",
            run + 1,
            total.as_secs_f64(),
            started.as_secs_f64() * 1e3,
            raw_t.as_secs_f64()
        );
    }
    zone.shutdown().await?;

    println!(
        "load average (1 min) before / after: {load_before} / {} on {} CPU(s)",
        load(),
        std::thread::available_parallelism().map_or(0, usize::from)
    );
    print_mean_table(
        "bench offline-keygen — ratio = e2e mean / raw mean (same run, same machine, fixture primes)",
        &[&raw_kg, &e2e, &join_t],
    );
    println!();
    println!(
        "RATIO offline-keygen {:.4}",
        e2e.mean().as_secs_f64() / raw_kg.mean().as_secs_f64()
    );
    Ok(())
}
