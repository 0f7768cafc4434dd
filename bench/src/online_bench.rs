//! `bench online`: the online API over real HTTP (poem on a TCP port, reqwest keep-alive
//! clients), against a SQLite database, anvil and the export key on SoftHSM2, all in this run.
//!
//! Every route is driven by the same number of concurrent clients for the same time; the
//! baseline is the same HTTP stack's trivial route (`GET /api/live`, which touches nothing), so
//! each `RATIO online-<route>` is that route's throughput over the trivial route's: what the
//! route's own work costs, on this machine, now. Routes: login (Argon2id with the production
//! parameters), balance cached (memory) and uncached (`fresh=true`: one JSON-RPC read of ETH and
//! the token at one block), transfer build (node reads + one database transaction), and audit
//! search (a filtered page of the operation log holding 10^5 records).

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use contracts::{Amount, EthAddress};
use online_api::{AppState, Clock, SystemClock};
use online_db::{Asset, NewAccount, NewUser, PolicyInput, Role};
use serde_json::{json, Value};
use testkit::anvil::{Anvil, TEST_ONLY_DEV_ADDRESSES};

const PASSWORD: &str = "violet tractor lighthouse";
/// Concurrent clients per route.
const CLIENTS: usize = 8;
/// Operation-log records the audit search runs over.
const LOG_RECORDS: usize = 100_000;

/// One route's measurement.
struct Measured {
    name: &'static str,
    requests: usize,
    per_second: f64,
    p50: Duration,
    p99: Duration,
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = ((sorted.len() as f64) * p).ceil() as usize;
    sorted
        .get(rank.saturating_sub(1).min(sorted.len() - 1))
        .copied()
        .unwrap_or_default()
}

/// A request the clients repeat.
#[derive(Clone)]
struct Call {
    method: reqwest::Method,
    path: String,
    body: Option<Value>,
    bearer: Option<String>,
}

async fn drive(
    http: &reqwest::Client,
    base: &str,
    name: &'static str,
    call: Call,
    secs: f64,
) -> anyhow::Result<Measured> {
    let deadline = Instant::now() + Duration::from_secs_f64(secs);
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..CLIENTS {
        let http = http.clone();
        let url = format!("{base}{}", call.path);
        let call = call.clone();
        tasks.push(tokio::spawn(async move {
            let mut times = Vec::new();
            while Instant::now() < deadline {
                let mut rb = http.request(call.method.clone(), &url);
                if let Some(token) = &call.bearer {
                    rb = rb.bearer_auth(token);
                }
                if let Some(body) = &call.body {
                    rb = rb
                        .header("content-type", "application/json")
                        .body(serde_json::to_vec(body)?);
                }
                let t = Instant::now();
                let resp = rb.send().await?;
                let status = resp.status();
                let text = resp.text().await?;
                times.push(t.elapsed());
                if !status.is_success() {
                    bail!("{} answered {status}: {text}", call.path);
                }
            }
            Ok::<_, anyhow::Error>(times)
        }));
    }
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await??);
    }
    let elapsed = started.elapsed().as_secs_f64();
    all.sort();
    Ok(Measured {
        name,
        requests: all.len(),
        per_second: all.len() as f64 / elapsed,
        p50: percentile(&all, 0.50),
        p99: percentile(&all, 0.99),
    })
}

pub(crate) fn http_client() -> anyhow::Result<reqwest::Client> {
    let tls = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()?
    .with_root_certificates(rustls::RootCertStore::empty())
    .with_no_client_auth();
    Ok(reqwest::Client::builder()
        .tls_backend_preconfigured(tls)
        .pool_max_idle_per_host(CLIENTS)
        .build()?)
}

pub async fn run(quick: bool) -> anyhow::Result<()> {
    let secs = if quick { 1.0 } else { 5.0 };
    let dir = tempfile::tempdir()?;
    let db_url = format!(
        "sqlite://{}?mode=rwc",
        dir.path().join("online.db").display()
    );
    let anvil = Anvil::start().context("start anvil")?;
    let chain = chain::Chain::connect(&anvil.url(), anvil.chain_id()).await?;
    let custody = EthAddress::parse(TEST_ONLY_DEV_ADDRESSES[1])?;
    let token = chain::test_token::deploy(
        &chain,
        custody,
        "TUSD",
        6,
        Amount::from(1_000_000_000_000u128),
    )
    .await?
    .0;
    let online_hsm = testkit::hsm::online_hsm();
    let db = online_db::Db::connect(&db_url, testkit::hsm::online_sealer_of(&online_hsm)).await?;
    let key = online_hsm.export_signer();
    let hasher = auth::PasswordHasher::new(auth::HashParams::default())?;
    let now = SystemClock.now();

    // Users, the account, its grant and limits, the token.
    let username = auth::Username::parse("trader")?;
    let hash = hasher
        .hash(&auth::Password::parse(PASSWORD.to_owned(), &username)?)?
        .into_string();
    let mut ids = Vec::new();
    for (name, role) in [
        ("admin", Role::Admin),
        ("trader", Role::Trader),
        ("auditor", Role::Auditor),
    ] {
        let u = db
            .create_user(
                NewUser {
                    username: name.to_owned(),
                    display_name: name.to_owned(),
                    password_hash: hash.clone(),
                },
                "bench",
                now,
            )
            .await?;
        db.set_role(&u.id, role, "bench", now).await?;
        ids.push(u.id);
    }
    let (Some(admin), Some(trader)) = (ids.first().cloned(), ids.get(1).cloned()) else {
        bail!("the bench users were not created");
    };
    let signer = k256::ecdsa::SigningKey::from_slice(&hex::decode(
        testkit::anvil::TEST_ONLY_DEV_KEYS[1].trim_start_matches("0x"),
    )?)?;
    let account = db
        .import_account(
            NewAccount {
                address: custody,
                public_key: signer
                    .verifying_key()
                    .to_encoded_point(true)
                    .as_bytes()
                    .to_vec(),
                case_ref: "0190d9e4-8f2a-7c3b-9d1e-2f3a4b5c6d7e".into(),
                manifest_chain_ids: vec![anvil.chain_id()],
                chain_id: anvil.chain_id(),
                label: "bench".into(),
                manifest_id: "bench-manifest".into(),
                manifest_hash: "ab".repeat(32),
            },
            &admin,
            now,
        )
        .await?;
    db.grant_account(&account.id, &trader, &admin, now).await?;
    db.set_policy(
        &account.id,
        PolicyInput {
            asset: Asset::Eth,
            single_limit: Amount::from(10u128.pow(18)),
            daily_limit: Amount::from(10u128.pow(27)),
            require_approval: false,
        },
        &admin,
        now,
    )
    .await?;
    db.add_token(
        online_db::NewToken {
            chain_id: anvil.chain_id(),
            address: token,
            symbol: "TUSD".into(),
            decimals: 6,
        },
        &admin,
        now,
    )
    .await?;

    // 10^5 operation-log records, in batches of one transaction each.
    print!("seeding {LOG_RECORDS} operation-log records… ");
    let seeded = Instant::now();
    let mut written = 0;
    while written < LOG_RECORDS {
        let txn = db.begin_write().await?;
        for i in 0..5_000.min(LOG_RECORDS - written) {
            let n = written + i;
            online_db::record_operation(
                &txn,
                now,
                if n % 10 == 0 { &trader } else { &admin },
                if n % 100 == 0 {
                    "account.balance_queried"
                } else {
                    "user.viewed"
                },
                &account.id,
                json!({"account_id": account.id, "n": n}),
            )
            .await?;
        }
        txn.commit().await?;
        written += 5_000.min(LOG_RECORDS - written);
    }
    println!("{:.1} s", seeded.elapsed().as_secs_f64());

    let state = AppState::builder(
        db,
        chain,
        Arc::new(key.clone()),
        hasher,
        Arc::new(SystemClock),
    )
    .balance_cache_secs(3600)
    .build();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    drop(listener);
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(online_api::serve(
        poem::listener::TcpListener::bind(addr.to_string()),
        state,
        async {
            let _ = stopped.await;
        },
    ));
    let base = format!("http://{addr}");
    let http = http_client()?;
    for _ in 0..100 {
        if http.get(format!("{base}/api/live")).send().await.is_ok() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let login = |user: &str| {
        let http = http.clone();
        let url = format!("{base}/api/auth/login");
        let body = json!({"username": user, "password": PASSWORD, "client": "bearer"});
        async move {
            let v: Value = serde_json::from_str(
                &http
                    .post(url)
                    .header("content-type", "application/json")
                    .body(serde_json::to_vec(&body)?)
                    .send()
                    .await?
                    .text()
                    .await?,
            )?;
            v.get("session_token")
                .and_then(Value::as_str)
                .map(str::to_owned)
                .context("login failed")
        }
    };
    let trader_token = login("trader").await?;
    let auditor_token = login("auditor").await?;
    let get = |path: String, bearer: &str| Call {
        method: reqwest::Method::GET,
        path,
        body: None,
        bearer: Some(bearer.to_owned()),
    };
    let payee = EthAddress::parse(TEST_ONLY_DEV_ADDRESSES[2])?.to_checksum();
    let routes: Vec<(&'static str, Call)> = vec![
        ("trivial", Call { method: reqwest::Method::GET, path: "/api/live".into(), body: None, bearer: None }),
        ("login", Call {
            method: reqwest::Method::POST,
            path: "/api/auth/login".into(),
            body: Some(json!({"username": "auditor", "password": PASSWORD, "client": "bearer"})),
            bearer: None,
        }),
        ("balance-cached", get(format!("/api/accounts/{}/balances", account.id), &trader_token)),
        ("balance-uncached", get(format!("/api/accounts/{}/balances?fresh=true", account.id), &trader_token)),
        ("transfer-build", Call {
            method: reqwest::Method::POST,
            path: "/api/transfers".into(),
            body: Some(json!({"account_id": account.id, "asset": "ETH", "to": payee, "amount": "1000"})),
            bearer: Some(trader_token.clone()),
        }),
        ("audit-search", get(
            format!("/api/audit/logs/operations?action=account.balance_queried&user={trader}&limit=100"),
            &auditor_token,
        )),
    ];
    let mut results = Vec::new();
    for (name, call) in routes {
        results.push(drive(&http, &base, name, call, secs).await?);
    }
    let _ = stop.send(());
    server.await??;

    println!();
    println!(
        "online API over HTTP, {CLIENTS} concurrent clients, {secs} s per route, SQLite, anvil, SoftHSM2"
    );
    println!(
        "{:<20} {:>9} {:>12} {:>12} {:>12}",
        "route", "requests", "req/s", "p50", "p99"
    );
    for m in &results {
        println!(
            "{:<20} {:>9} {:>12.1} {:>10.2} ms {:>9.2} ms",
            m.name,
            m.requests,
            m.per_second,
            m.p50.as_secs_f64() * 1e3,
            m.p99.as_secs_f64() * 1e3
        );
    }
    let trivial = results
        .iter()
        .find(|m| m.name == "trivial")
        .map(|m| m.per_second)
        .unwrap_or(f64::NAN);
    println!();
    for m in results.iter().filter(|m| m.name != "trivial") {
        println!("RATIO online-{} {:.4}", m.name, m.per_second / trivial);
    }
    Ok(())
}
