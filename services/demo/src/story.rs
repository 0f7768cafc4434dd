//! The whole custody story, step by step, over the real APIs, each step checked.

// Only `serde_json::Value` is indexed here, which yields `Null` for a missing key or index and
// never panics.
#![allow(clippy::indexing_slicing)]

use std::time::{Duration, Instant};

use alloy_primitives::U256;
use anyhow::{bail, ensure, Context};
use contracts::{Amount, EthAddress, KeyRing, Kind, SignatureResponse};
use custody_client::review::ApprovalPolicy;
use custody_client::session::SessionError;
use offline_db::{CaseStatus, KeyShareStatus};
use secrecy::SecretString;
use serde_json::{json, Value};

use crate::http::{str_field, Session};
use crate::managers::{start_client, wait_all};
use crate::stack::{unix_now, Stack};
use crate::{Balances, StepTiming, Summary, TransferRecord, DEMO_PASSWORD};

/// How the story runs.
#[derive(Clone, Debug, Default)]
pub struct StoryOptions {
    /// Seal the test-only pre-generated Paillier primes instead of generating safe primes
    /// (tests and benches only).
    pub test_only_fixture_primes: bool,
}

const KEYGEN_TIMEOUT: Duration = Duration::from_secs(900);
const SIGN_TIMEOUT: Duration = Duration::from_secs(300);
const CONFIRM_TIMEOUT: Duration = Duration::from_secs(120);
/// One ether.
const ETHER: u128 = 1_000_000_000_000_000_000;
const TOKEN_DECIMALS: u8 = 6;
const TOKEN_UNIT: u128 = 1_000_000;
/// anvil's first dev account funds the case and deploys the token; the third is the payee.
const FUNDER: usize = 0;
const PAYEE: usize = 2;

/// Prints and times the steps.
struct Steps {
    n: u32,
    timings: Vec<StepTiming>,
}

impl Steps {
    async fn run<T, F>(&mut self, name: &str, f: F) -> anyhow::Result<T>
    where
        F: std::future::Future<Output = anyhow::Result<T>>,
    {
        self.n += 1;
        let n = self.n;
        println!("\n▶ {n:>2}. {name}");
        let start = Instant::now();
        match f.await {
            Ok(v) => {
                let secs = start.elapsed().as_secs_f64();
                println!("✓ {n:>2}. {name} ({secs:.1} s)");
                self.timings.push(StepTiming {
                    n,
                    name: name.to_owned(),
                    secs,
                });
                Ok(v)
            }
            Err(e) => {
                println!("✗ {n:>2}. {name}: {e:#}");
                Err(e.context(format!("step {n} ({name})")))
            }
        }
    }
}

fn say(line: &str) {
    println!("      {line}");
}

/// A manager as the story knows them.
#[derive(Clone)]
struct Manager {
    username: String,
    user_id: String,
}

/// What the story holds between steps.
struct Ctx<'a> {
    stack: &'a Stack,
    off_admin: Session,
    off_admin_id: String,
    /// The offline zone's second administrator, who approves what `off_admin` proposes.
    off_admin2: Session,
    operator: Session,
    on_admin: Session,
    /// The online zone's second administrator, who approves what `on_admin` proposes.
    on_admin2: Session,
    trader: Session,
    trader_id: String,
    managers: Vec<Manager>,
    se_ids: Vec<String>,
    pins: Vec<SecretString>,
    case_id: String,
    address: Option<EthAddress>,
    public_key: String,
    account_id: String,
    token: Option<EthAddress>,
}

/// Runs the whole story on a started stack and writes `demo-summary.json` into its state
/// directory.
pub async fn run_story(stack: &Stack, opts: &StoryOptions) -> anyhow::Result<Summary> {
    let mut steps = Steps {
        n: 0,
        timings: Vec::new(),
    };
    let mut summary = Summary {
        chain_id: stack.anvil.chain_id(),
        test_only_fixture_primes: opts.test_only_fixture_primes,
        recipient: dev_address(PAYEE)?.to_checksum(),
        ..Summary::default()
    };
    let mut cx = steps
        .run(
            "both zones: administrators bootstrapped, operator and trader signed up and approved",
            bootstrap(stack),
        )
        .await?;
    steps
        .run(
            "offline: admin creates 3 case managers and 3 SEs (enrolled, certified by the HSM CA), then a case",
            create_case(&mut cx),
        )
        .await?;
    steps
        .run(
            if opts.test_only_fixture_primes {
                "offline: TEST-ONLY fixture Paillier primes sealed into the 3 SEs"
            } else {
                "offline: Paillier safe primes generated for the 3 SEs and sealed in them"
            },
            primes(&cx, opts.test_only_fixture_primes),
        )
        .await?;
    steps
        .run(
            "offline: 2-of-3 keygen (aux info + keygen) through the coordinator and the 3 managers' clients → address",
            keygen(&mut cx),
        )
        .await?;
    summary.case_id = cx.case_id.clone();
    summary.case_public_key = cx.public_key.clone();
    let address = cx.address.context("no address")?;
    summary.case_address = address.to_checksum();
    steps
        .run(
            "exchange: AccountManifest exported (offline API) → imported online; trader granted, token and limits set",
            manifest(&mut cx),
        )
        .await?;
    let (funded_eth, funded_token) = steps
        .run(
            "chain: anvil deploys the test ERC-20 and funds the address with ETH and TUSD",
            fund(&mut cx),
        )
        .await?;
    summary.token_address = cx.token.context("no token")?.to_checksum();
    let payee_before = balances(&cx, dev_address(PAYEE)?).await?;

    // The ETH and the ERC-20 transfer, signed by managers {0, 1} in one session.
    let eth_amount = 3 * ETHER / 2;
    let token_amount = 1_234 * TOKEN_UNIT + TOKEN_UNIT / 2;
    let token = cx.token.context("no token")?.to_checksum();
    let exported = steps
        .run(
            "online: the trader transfers 1.5 ETH and 1234.5 TUSD → signing requests exported",
            async {
                let a = export_transfer(&cx, "ETH", eth_amount).await?;
                let b = export_transfer(&cx, &token, token_amount).await?;
                Ok(vec![a, b])
            },
        )
        .await?;
    let imported = steps
        .run(
            "offline: requests imported in one batch (offline API) → who to call",
            import_batch(&cx, &exported),
        )
        .await?;
    let signed_by = [(0usize, 0usize), (1, 1)];
    steps
        .run(
            "offline: managers 0 and 1 review, approve and sign (two cggmp21 runs in parallel)",
            sign(&cx, &exported, &signed_by),
        )
        .await?;
    let responses1 = steps
        .run(
            "exchange: signature responses exported (offline API) → imported online → SIGNED",
            responses(&cx, &imported, &exported),
        )
        .await?;
    let confirmed = steps
        .run(
            "chain: the chain worker broadcasts both → CONFIRMED; balances checked on anvil",
            async {
                let before_case = (funded_eth, funded_token);
                let records = confirm(&cx, &exported, &responses1, &[0, 1]).await?;
                check_balances(&cx, before_case, payee_before, &records).await?;
                Ok(records)
            },
        )
        .await?;
    summary.transfers.extend(confirmed);

    // Manager replacement.
    let newcomer = steps
        .run(
            "offline: manager of share 2 replaced (replace-manager, re-authenticated) and SE-3's PIN reset by the security officer",
            replace_manager(&mut cx),
        )
        .await?;
    steps
        .run(
            "offline: the old manager is refused — by the SE (old PIN) and by the coordinator (new PIN, no current share)",
            old_manager_refused(&cx),
        )
        .await?;
    let case_after = balances(&cx, address).await?;
    let payee_mid = balances(&cx, dev_address(PAYEE)?).await?;
    let third_amount = ETHER / 4;
    let third = steps
        .run(
            "online: the trader transfers 0.25 ETH → exported → imported offline",
            async {
                let e = export_transfer(&cx, "ETH", third_amount).await?;
                let i = import_one(&cx, &e).await?;
                Ok((e, i))
            },
        )
        .await?;
    let exported3 = vec![third.0];
    steps
        .run(
            "offline: managers 1 and the new manager of share 2 sign",
            sign(&cx, &exported3, &[(1, 1), (3, 2)]),
        )
        .await?;
    let responses3 = steps
        .run(
            "exchange: response exported → imported online; chain worker → CONFIRMED",
            async {
                let r = responses(&cx, &[third.1], &exported3).await?;
                let records = confirm(&cx, &exported3, &r, &[1, 2]).await?;
                check_balances(&cx, case_after, payee_mid, &records).await?;
                Ok(records)
            },
        )
        .await?;
    summary.transfers.extend(responses3);
    let _ = newcomer;

    summary.audit_checkpoints = steps
        .run(
            "audit: both zones' chains verify against their checkpoint files (public keys only), the other zone's witness and the HSM MACs",
            verify_audit(stack),
        )
        .await?;

    let case_end = balances(&cx, address).await?;
    let payee_end = balances(&cx, dev_address(PAYEE)?).await?;
    summary.final_balances = Balances {
        case_eth: case_end.0.to_string(),
        case_token: case_end.1.to_string(),
        recipient_eth: payee_end.0.to_string(),
        recipient_token: payee_end.1.to_string(),
    };
    summary.steps = steps.timings;
    let path = crate::summary_path(&stack.state_dir);
    std::fs::write(&path, serde_json::to_vec_pretty(&summary)?)
        .with_context(|| format!("cannot write {}", path.display()))?;
    println!("\nsummary written to {}", path.display());
    Ok(summary)
}

fn dev_address(i: usize) -> anyhow::Result<EthAddress> {
    let a = testkit::anvil::TEST_ONLY_DEV_ADDRESSES
        .get(i)
        .context("no such dev account")?;
    Ok(EthAddress::parse(a)?)
}

async fn bootstrap(stack: &Stack) -> anyhow::Result<Ctx<'_>> {
    let pw = || SecretString::from(DEMO_PASSWORD.to_owned());
    let off = offline_api::create_admin(
        &stack.offline_db_url,
        stack.offline_db.sealer().clone(),
        "admin",
        "Offline administrator",
        Some("+86 138 0000 0001"),
        pw(),
    )
    .await?;
    online_api::create_admin(
        &stack.online_db_url,
        stack.online_db.sealer().clone(),
        "admin",
        "Online administrator",
        pw(),
    )
    .await?;
    // The bootstrap ceremony: the service's command line creates the first two administrators
    // of each zone (it refuses a third); from then on every sensitive change is proposed by one
    // and approved by the other.
    offline_api::create_admin(
        &stack.offline_db_url,
        stack.offline_db.sealer().clone(),
        "admin2",
        "Second offline administrator",
        Some("+86 138 0000 0002"),
        pw(),
    )
    .await?;
    online_api::create_admin(
        &stack.online_db_url,
        stack.online_db.sealer().clone(),
        "admin2",
        "Second online administrator",
        pw(),
    )
    .await?;
    let off_admin = stack.offline.login("admin", DEMO_PASSWORD).await?;
    let off_admin2 = stack.offline.login("admin2", DEMO_PASSWORD).await?;
    let on_admin = stack.online.login("admin", DEMO_PASSWORD).await?;
    let on_admin2 = stack.online.login("admin2", DEMO_PASSWORD).await?;
    say("offline and online administrators: admin proposes, admin2 approves");

    let operator_id = offline_user(
        stack,
        [&off_admin, &off_admin2],
        "operator",
        "Operator",
        "operator",
    )
    .await?;
    let _ = operator_id;
    let operator = stack.offline.login("operator", DEMO_PASSWORD).await?;
    // The trader signs up online; the admin grants the role.
    let v = stack
        .online
        .call(
            reqwest::Method::POST,
            "/auth/register",
            None,
            Some(
                json!({"username": "trader", "display_name": "Trader", "password": DEMO_PASSWORD}),
            ),
        )
        .await?;
    let trader_id = str_field(&v, "id")?;
    let proposal = stack
        .online
        .put(
            &format!("/users/{trader_id}/role"),
            &on_admin,
            json!({"role": "trader", "password": DEMO_PASSWORD}),
        )
        .await?;
    stack
        .online
        .approve(&proposal, &on_admin2, DEMO_PASSWORD)
        .await?;
    let trader = stack.online.login("trader", DEMO_PASSWORD).await?;
    say("offline operator: operator; online trader: trader");
    Ok(Ctx {
        stack,
        off_admin,
        off_admin_id: off.id,
        off_admin2,
        operator,
        on_admin,
        on_admin2,
        trader,
        trader_id,
        managers: Vec::new(),
        se_ids: Vec::new(),
        pins: stack.cards.iter().map(|c| c.pin.clone()).collect(),
        case_id: String::new(),
        address: None,
        public_key: String::new(),
        account_id: String::new(),
        token: None,
    })
}

/// A user registers on the offline API; the first admin proposes `role` (re-authenticated),
/// the second approves it, and the first enables the account. Returns the user id.
async fn offline_user(
    stack: &Stack,
    [admin, approver]: [&Session; 2],
    username: &str,
    display: &str,
    role: &str,
) -> anyhow::Result<String> {
    // A distinct, obviously fictitious number per user (derived from the name's bytes).
    let n = username.bytes().fold(7u32, |acc, b| {
        acc.wrapping_mul(31).wrapping_add(u32::from(b))
    });
    let phone = format!("+86 139 {:04} {:04}", n % 10_000, (n / 10_000) % 10_000);
    let v = stack
        .offline
        .call(
            reqwest::Method::POST,
            "/auth/register",
            None,
            Some(json!({
                "username": username, "display_name": display,
                "phone": phone, "password": DEMO_PASSWORD,
            })),
        )
        .await?;
    let id = str_field(&v, "id")?;
    ensure!(
        v.get("status").and_then(Value::as_str) == Some("DISABLED"),
        "a registration must wait for an administrator: {v}"
    );
    let proposal = stack
        .offline
        .put(
            &format!("/users/{id}/role"),
            admin,
            json!({"role": role, "password": DEMO_PASSWORD}),
        )
        .await?;
    stack
        .offline
        .approve(&proposal, approver, DEMO_PASSWORD)
        .await?;
    let v = stack
        .offline
        .put(
            &format!("/users/{id}/status"),
            admin,
            json!({"status": "ACTIVE"}),
        )
        .await?;
    ensure!(
        v.get("status").and_then(Value::as_str) == Some("ACTIVE"),
        "{v}"
    );
    Ok(id)
}

async fn create_case(cx: &mut Ctx<'_>) -> anyhow::Result<()> {
    let stack = cx.stack;
    for i in 0..3 {
        let username = format!("manager{}", i + 1);
        let id = offline_user(
            stack,
            [&cx.off_admin, &cx.off_admin2],
            &username,
            &format!("Case manager {}", i + 1),
            "case_manager",
        )
        .await?;
        cx.managers.push(Manager {
            username,
            user_id: id,
        });
    }
    say("case managers: manager1, manager2, manager3");
    for (i, card) in stack.cards.iter().enumerate() {
        // Each manager enrols their own card: a one-time challenge from their page, their new
        // PIN and the card's identity key (with the security officer's SO PIN), the card signs
        // the challenge (proof of possession); an administrator approves, and the HSM's CA
        // certifies the key; the certificate goes into the card.
        let manager = cx.managers.get(i).context("no manager for this card")?;
        let session = stack
            .offline
            .login(&manager.username, DEMO_PASSWORD)
            .await?;
        let v = stack
            .offline
            .post("/me/se-enrolment/challenge", &session, json!({}))
            .await?;
        let challenge = hex::decode(str_field(&v, "challenge")?)?;
        se::Se::enroll(
            &stack.module,
            &card.serial,
            &se::Pin::try_from(&card.so_pin)?,
            &se::Pin::try_from(&card.pin)?,
        )?;
        let open = se::Se::open(&stack.module, &card.serial, &se::Pin::try_from(&card.pin)?)?;
        let proof = channel::EnrolmentProof::sign(&open, card.serial.as_str(), &challenge)?;
        drop(open);
        let proposal = stack
            .offline
            .post(
                "/me/se-enrolment",
                &session,
                json!({"label": card.label, "proof": proof.to_text()?}),
            )
            .await?;
        let decided = stack
            .offline
            .approve(&proposal, &cx.off_admin, DEMO_PASSWORD)
            .await?;
        let se_id = str_field(&decided, "result")?;
        let all = stack.offline.get("/secure-elements", &cx.off_admin).await?;
        let v = all
            .as_array()
            .and_then(|a| a.iter().find(|se| se["id"] == se_id.as_str()))
            .cloned()
            .context("the approved SE is not listed")?;
        let cert = hex::decode(str_field(&v, "certificate")?)?;
        let parsed = channel::Certificate::from_bytes(&cert)?;
        let _ = parsed;
        se::Se::open(&stack.module, &card.serial, &se::Pin::try_from(&card.pin)?)?
            .store_certificate(&cert)?;
        cx.se_ids.push(str_field(&v, "id")?);
        say(&format!(
            "SE {} ({}) enrolled by manager{} (proof of possession), approved by admin, certified",
            card.label,
            card.serial.as_str(),
            i + 1
        ));
    }
    let slots: Vec<Value> = cx
        .managers
        .iter()
        .zip(&cx.se_ids)
        .map(|(m, se)| json!({"user_id": m.user_id, "se_id": se}))
        .collect();
    let proposal = stack
        .offline
        .post(
            "/cases",
            &cx.off_admin,
            json!({"name": "Demo case 2024-001", "managers": slots, "chain_ids": [stack.anvil.chain_id()]}),
        )
        .await?;
    let decided = stack
        .offline
        .approve(&proposal, &cx.off_admin2, DEMO_PASSWORD)
        .await?;
    let case_id = str_field(&decided, "result")?;
    let v = stack
        .offline
        .get(&format!("/cases/{case_id}"), &cx.off_admin)
        .await?;
    let case = v.get("case").context("no case in the reply")?;
    cx.case_id = str_field(case, "id")?;
    ensure!(
        case.get("status").and_then(Value::as_str) == Some("DRAFT"),
        "{v}"
    );
    ensure!(
        v["key_shares"].as_array().map(Vec::len) == Some(3),
        "three key-share rows: {v}"
    );
    say(&format!(
        "case {} proposed by admin, approved by admin2, created (DRAFT)",
        cx.case_id
    ));
    Ok(())
}

async fn primes(cx: &Ctx<'_>, fixture: bool) -> anyhow::Result<()> {
    let stack = cx.stack;
    if fixture {
        let primes = testkit::fixtures::paillier_primes()?;
        for (i, pin) in cx.pins.iter().enumerate() {
            let (open, _) = crate::managers::open_card(stack, i, pin)?;
            let p = primes.get(i % primes.len()).context("no fixture primes")?;
            custody_client::primes::seal(&open, p)?;
        }
        say("TEST-ONLY fixture primes (crates/testkit/fixtures) — not for real keys");
        return Ok(());
    }
    // Each manager's PC prepares its own primes; here the three run side by side.
    let mut tasks = Vec::new();
    for (i, pin) in cx.pins.iter().enumerate() {
        let (open, _) = crate::managers::open_card(stack, i, pin)?;
        tasks.push(async move {
            let tag = format!("SE-{}", i + 1);
            let say_se = |line: &str| say(&format!("[{tag}] {line}"));
            custody_client::primes::prepare(&open, &say_se).await?;
            anyhow::Ok(())
        });
    }
    for r in futures_join(tasks).await {
        r?;
    }
    Ok(())
}

/// Runs the futures concurrently on this task and returns their results in order.
async fn futures_join<F: std::future::Future>(futs: Vec<F>) -> Vec<F::Output> {
    let mut pinned: Vec<std::pin::Pin<Box<F>>> = futs.into_iter().map(Box::pin).collect();
    let mut out: Vec<Option<F::Output>> = pinned.iter().map(|_| None).collect();
    std::future::poll_fn(|cx| {
        let mut all = true;
        for (f, slot) in pinned.iter_mut().zip(out.iter_mut()) {
            if slot.is_none() {
                match f.as_mut().poll(cx) {
                    std::task::Poll::Ready(v) => *slot = Some(v),
                    std::task::Poll::Pending => all = false,
                }
            }
        }
        if all {
            std::task::Poll::Ready(())
        } else {
            std::task::Poll::Pending
        }
    })
    .await;
    out.into_iter().flatten().collect()
}

async fn keygen(cx: &mut Ctx<'_>) -> anyhow::Result<()> {
    let stack = cx.stack;
    let mut clients = Vec::new();
    for (i, m) in cx.managers.iter().enumerate() {
        clients.push(start_client(
            stack,
            &m.user_id,
            i,
            cx.pins.get(i).context("pin")?,
            ApprovalPolicy::Preapproved {
                hashes: Vec::new(),
                keygen: true,
            },
            Some(1),
            None,
        )?);
    }
    say("manager1..3 log in (PIN → SE → SE↔HSM handshake) and approve the keygen");
    let db = stack.offline_db.clone();
    let case_id = cx.case_id.clone();
    let progress = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
    let p2 = progress.clone();
    // The session's progress as operators see it, polled from the database.
    let watcher = tokio::spawn(async move {
        loop {
            if let Ok(sessions) = db.sessions(Some(&case_id), None, 5).await {
                if let Some(s) = sessions.first() {
                    if let Ok(mut p) = p2.lock() {
                        *p = format!("{:?} {}", s.status, s.progress.as_deref().unwrap_or(""));
                    }
                }
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    });
    let result = wait_all(clients, KEYGEN_TIMEOUT, &mut |t| {
        let p = progress.lock().map(|p| p.clone()).unwrap_or_default();
        say(&format!("keygen session: {p} ({} s)", t.as_secs()));
    })
    .await;
    watcher.abort();
    result?;

    let case = stack
        .offline_db
        .case(&cx.case_id)
        .await?
        .context("case gone")?;
    ensure!(
        case.status == CaseStatus::Active,
        "case is {:?}",
        case.status
    );
    let address = EthAddress::parse(case.address.as_deref().context("no address")?)?;
    let public_key = case.public_key.clone().context("no public key")?;
    // The address is the one of the public key (independently derived here).
    let derived = contracts::eth::address_of_secp256k1(&hex::decode(&public_key)?)?;
    ensure!(
        derived == address,
        "address {address:?} is not the key's {derived:?}"
    );
    let shares = stack.offline_db.key_shares_by_case(&cx.case_id).await?;
    ensure!(shares.len() == 3, "{} key-share rows", shares.len());
    for (i, s) in shares.iter().enumerate() {
        ensure!(s.share_index == i as i32 && s.status == KeyShareStatus::Active);
        ensure!(s.public_key.as_deref() == Some(public_key.as_str()));
        let (open, _) = crate::managers::open_card(stack, i, cx.pins.get(i).context("pin")?)?;
        ensure!(
            open.list_shares()?
                .contains(&se::ShareSlot::new(&cx.case_id, i as u16)?),
            "SE-{} does not hold share {i}",
            i + 1
        );
    }
    say(&format!(
        "case ACTIVE, address {}; each SE holds its share, sealed",
        address.to_checksum()
    ));
    cx.address = Some(address);
    cx.public_key = public_key;
    Ok(())
}

async fn manifest(cx: &mut Ctx<'_>) -> anyhow::Result<()> {
    let stack = cx.stack;
    let v = stack
        .offline
        .post(
            &format!("/cases/{}/manifest", cx.case_id),
            &cx.operator,
            json!({}),
        )
        .await?;
    let armored = str_field(&v, "armored")?;
    let parts = v
        .get("qr_parts")
        .and_then(Value::as_array)
        .map_or(0, Vec::len);
    say(&format!(
        "manifest exported: {} characters armored, {parts} QR part(s)",
        armored.len()
    ));
    let account = stack
        .online
        .post(
            "/accounts/import",
            &cx.trader,
            json!({"document": armored, "label": "Demo case 2024-001"}),
        )
        .await?;
    cx.account_id = str_field(&account, "id")?;
    let addr = str_field(&account, "address")?;
    let expected = cx.address.context("no address")?.to_checksum();
    ensure!(
        addr == expected,
        "online account {addr} is not the case address {expected}"
    );
    let proposal = stack
        .online
        .post(
            &format!("/accounts/{}/grants", cx.account_id),
            &cx.on_admin,
            json!({"user_id": cx.trader_id, "password": DEMO_PASSWORD}),
        )
        .await?;
    stack
        .online
        .approve(&proposal, &cx.on_admin2, DEMO_PASSWORD)
        .await?;
    say(&format!(
        "online account {addr} imported, granted to trader"
    ));
    Ok(())
}

async fn fund(cx: &mut Ctx<'_>) -> anyhow::Result<(U256, U256)> {
    let stack = cx.stack;
    let funder = dev_address(FUNDER)?;
    let address = cx.address.context("no address")?;
    let token = chain::test_token::deploy(
        &stack.chain,
        funder,
        "TUSD",
        TOKEN_DECIMALS,
        Amount::from(1_000_000 * TOKEN_UNIT),
    )
    .await?
    .0;
    cx.token = Some(token);
    say(&format!(
        "TestToken TUSD deployed at {}",
        token.to_checksum()
    ));
    stack
        .online
        .post(
            "/tokens",
            &cx.on_admin,
            json!({"address": token.to_checksum()}),
        )
        .await?;
    for (asset, single, daily) in [
        ("ETH".to_owned(), 10 * ETHER, 20 * ETHER),
        (
            token.to_checksum(),
            50_000 * TOKEN_UNIT,
            100_000 * TOKEN_UNIT,
        ),
    ] {
        // A first policy allows transfers where none were allowed: a second admin approves.
        let proposal = stack
            .online
            .put(
                &format!("/accounts/{}/policies", cx.account_id),
                &cx.on_admin,
                json!({"asset": asset, "single_limit": single.to_string(),
                       "daily_limit": daily.to_string(), "require_approval": false,
                       "password": DEMO_PASSWORD}),
            )
            .await?;
        stack
            .online
            .approve(&proposal, &cx.on_admin2, DEMO_PASSWORD)
            .await?;
    }
    let eth = 5 * ETHER;
    let tokens = 10_000 * TOKEN_UNIT;
    let tx1 = send_from_dev(
        stack,
        funder,
        json!({"from": funder.to_checksum(), "to": address.to_checksum(), "value": format!("0x{eth:x}")}),
    )
    .await?;
    // ERC-20 transfer(address,uint256).
    let mut data = hex::decode("a9059cbb")?;
    data.extend_from_slice(&[0u8; 12]);
    data.extend_from_slice(&address.0);
    data.extend_from_slice(&U256::from(tokens).to_be_bytes::<32>());
    let tx2 = send_from_dev(
        stack,
        funder,
        json!({"from": funder.to_checksum(), "to": token.to_checksum(), "data": format!("0x{}", hex::encode(data))}),
    )
    .await?;
    say(&format!("funding transactions {tx1}, {tx2} mined"));
    let (e, t) = balances(cx, address).await?;
    ensure!(e == U256::from(eth), "case holds {e} wei, expected {eth}");
    ensure!(
        t == U256::from(tokens),
        "case holds {t} TUSD units, expected {tokens}"
    );
    // The online API shows the same.
    let shown = stack
        .online
        .get(
            &format!("/accounts/{}/balances?fresh=true", cx.account_id),
            &cx.trader,
        )
        .await?;
    ensure!(
        shown["balances"][0]["amount"] == json!(e.to_string()),
        "online balances: {shown}"
    );
    say("case address holds 5 ETH and 10000 TUSD (anvil and the online API agree)");
    Ok((e, t))
}

/// Sends a transaction from an unlocked dev account and waits for its successful receipt.
async fn send_from_dev(stack: &Stack, _from: EthAddress, tx: Value) -> anyhow::Result<String> {
    let hash = stack.anvil.rpc("eth_sendTransaction", json!([tx]))?;
    let hash = hash.as_str().context("no tx hash")?.to_owned();
    let start = Instant::now();
    loop {
        let r = stack
            .anvil
            .rpc("eth_getTransactionReceipt", json!([hash]))?;
        if !r.is_null() {
            ensure!(r["status"] == json!("0x1"), "funding reverted: {r}");
            return Ok(hash);
        }
        ensure!(
            start.elapsed() < Duration::from_secs(60),
            "funding tx not mined"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

async fn balances(cx: &Ctx<'_>, who: EthAddress) -> anyhow::Result<(U256, U256)> {
    let token = cx.token.context("no token")?;
    let b = cx
        .stack
        .chain
        .balances(who, &[chain::TokenAddress(token)])
        .await?;
    let t = b.tokens.first().context("no token balance")?.amount.0;
    Ok((b.eth.0, t))
}

/// An exported transfer.
#[derive(Clone)]
struct Exported {
    asset: String,
    amount: u128,
    transfer_id: String,
    request_id: String,
    signing_hash: [u8; 32],
    armored: String,
}

async fn export_transfer(cx: &Ctx<'_>, asset: &str, amount: u128) -> anyhow::Result<Exported> {
    let stack = cx.stack;
    let created = stack
        .online
        .post(
            "/transfers",
            &cx.trader,
            json!({"account_id": cx.account_id, "asset": asset,
                   "to": dev_address(PAYEE)?.to_checksum(), "amount": amount.to_string()}),
        )
        .await?;
    let id = str_field(&created, "id")?;
    let exported = stack
        .online
        .post(
            &format!("/transfers/{id}/export"),
            &cx.trader,
            json!({"password": DEMO_PASSWORD}),
        )
        .await?;
    ensure!(exported["transfer"]["status"] == "EXPORTED", "{exported}");
    let armored = exported["document"]["armored"]
        .as_str()
        .context("no armored document")?
        .to_owned();
    // The request as the offline zone will read it, verified under the export key.
    let request = contracts::transfer_format::from_armor(&armored)?
        .verify::<contracts::SigningRequest>(
            &KeyRing::new().with_key(stack.export_public, &[Kind::SigningRequest]),
            unix_now(),
        )?
        .into_body();
    let symbol = request.summary.asset_symbol.clone();
    say(&format!(
        "transfer {id}: {amount} base units of {symbol}, nonce {}, request {} exported",
        request.transaction.nonce, request.request_id
    ));
    Ok(Exported {
        asset: symbol,
        amount,
        transfer_id: id,
        request_id: request.request_id.to_string(),
        signing_hash: request.signing_hash,
        armored,
    })
}

fn show_who_to_call(v: &Value) -> anyhow::Result<()> {
    let who = v["who_to_call"].as_array().context("no who_to_call")?;
    ensure!(who.len() == 3, "who to call: {v}");
    for c in who {
        say(&format!(
            "call: share {} — {} {} — SE {}",
            c["share_index"],
            c["display_name"].as_str().unwrap_or(""),
            c["phone"].as_str().unwrap_or("(no phone)"),
            c["se_label"].as_str().unwrap_or("")
        ));
    }
    Ok(())
}

async fn import_batch(cx: &Ctx<'_>, exported: &[Exported]) -> anyhow::Result<Vec<String>> {
    let envelopes: Vec<&str> = exported.iter().map(|e| e.armored.as_str()).collect();
    let v = cx
        .stack
        .offline
        .post(
            "/signing-requests/batch",
            &cx.operator,
            json!({"envelopes": envelopes}),
        )
        .await?;
    ensure!(v["case_id"] == json!(cx.case_id), "{v}");
    show_who_to_call(&v)?;
    let rows = v["requests"].as_array().context("no requests")?;
    ensure!(rows.len() == exported.len(), "{v}");
    let mut ids = Vec::new();
    for (row, e) in rows.iter().zip(exported) {
        ensure!(row["request_id"] == json!(e.request_id), "{row}");
        ids.push(str_field(row, "id")?);
    }
    say(&format!(
        "session {} for {} request(s)",
        v["session_id"].as_str().unwrap_or("?"),
        ids.len()
    ));
    Ok(ids)
}

async fn import_one(cx: &Ctx<'_>, e: &Exported) -> anyhow::Result<String> {
    let v = cx
        .stack
        .offline
        .post(
            "/signing-requests",
            &cx.operator,
            json!({"envelope": e.armored}),
        )
        .await?;
    ensure!(v["request_id"] == json!(e.request_id), "{v}");
    show_who_to_call(&v)?;
    str_field(&v, "id")
}

/// Managers sign: (manager index in `cx.managers`, SE card index).
async fn sign(
    cx: &Ctx<'_>,
    exported: &[Exported],
    signers: &[(usize, usize)],
) -> anyhow::Result<()> {
    let hashes: Vec<[u8; 32]> = exported.iter().map(|e| e.signing_hash).collect();
    let mut clients = Vec::new();
    for (m, card) in signers {
        let manager = cx.managers.get(*m).context("no such manager")?;
        say(&format!(
            "{} logs in with SE-{}, checks each request under the pinned online key, approves its hash",
            manager.username,
            card + 1
        ));
        clients.push(start_client(
            cx.stack,
            &manager.user_id,
            *card,
            cx.pins.get(*card).context("pin")?,
            ApprovalPolicy::Preapproved {
                hashes: hashes.clone(),
                keygen: false,
            },
            Some(1),
            None,
        )?);
    }
    wait_all(clients, SIGN_TIMEOUT, &mut |t| {
        say(&format!("signing… {} s", t.as_secs()))
    })
    .await
}

async fn responses(
    cx: &Ctx<'_>,
    rows: &[String],
    exported: &[Exported],
) -> anyhow::Result<Vec<SignatureResponse>> {
    let stack = cx.stack;
    let ring = KeyRing::new().with_key(stack.hsm.envelope_public_key(), &[Kind::SignatureResponse]);
    let address = cx.address.context("no address")?;
    let mut out = Vec::new();
    for (row, e) in rows.iter().zip(exported) {
        let v = stack
            .offline
            .post(
                &format!("/signing-requests/{row}/response"),
                &cx.operator,
                json!({}),
            )
            .await?;
        let armored = str_field(&v, "armored")?;
        let response = contracts::transfer_format::from_armor(&armored)?
            .verify::<SignatureResponse>(&ring, unix_now())?
            .into_body();
        ensure!(response.request_id.to_string() == e.request_id);
        let decoded = contracts::eth::decode_signed(&response.signed_tx)?;
        let hash = contracts::eth::signing_hash(&contracts::eth::encode_unsigned(&decoded.tx));
        ensure!(
            hash == e.signing_hash,
            "the signed transaction is not the exported one"
        );
        let from = decoded
            .signature
            .recover_address_from_prehash(&alloy_primitives::B256::from(hash))?;
        ensure!(
            from.0 .0 == address.0,
            "the signed transaction recovers to {from}, not the case address"
        );
        let imported = stack
            .online
            .post(
                "/signature-responses",
                &cx.trader,
                json!({"document": armored}),
            )
            .await?;
        ensure!(imported["status"] == "SIGNED", "{imported}");
        say(&format!(
            "{}: response exported, recovers to the case address, imported online → SIGNED (tx 0x{})",
            e.asset,
            hex::encode(response.tx_hash)
        ));
        out.push(response);
    }
    Ok(out)
}

async fn confirm(
    cx: &Ctx<'_>,
    exported: &[Exported],
    responses: &[SignatureResponse],
    signers: &[u16],
) -> anyhow::Result<Vec<TransferRecord>> {
    let stack = cx.stack;
    let mut out = Vec::new();
    for (e, r) in exported.iter().zip(responses) {
        let start = Instant::now();
        let t = loop {
            stack.check_running()?;
            let t = stack
                .online
                .get(&format!("/transfers/{}", e.transfer_id), &cx.trader)
                .await?;
            match t["status"].as_str() {
                Some("CONFIRMED") => break t,
                Some("FAILED") => bail!("transfer {} FAILED: {t}", e.transfer_id),
                _ => {}
            }
            ensure!(
                start.elapsed() < CONFIRM_TIMEOUT,
                "transfer {} not CONFIRMED within {CONFIRM_TIMEOUT:?}: {t}",
                e.transfer_id
            );
            tokio::time::sleep(Duration::from_millis(300)).await;
        };
        let tx_hash = format!("0x{}", hex::encode(r.tx_hash));
        ensure!(
            t["tx_hash"].as_str().map(str::to_lowercase) == Some(tx_hash.clone()),
            "online tx hash {} is not the signed one {tx_hash}",
            t["tx_hash"]
        );
        let receipt = stack
            .anvil
            .rpc("eth_getTransactionReceipt", json!([tx_hash]))?;
        ensure!(receipt["status"] == json!("0x1"), "receipt: {receipt}");
        let block = u64::from_str_radix(
            receipt["blockNumber"]
                .as_str()
                .context("no block number")?
                .trim_start_matches("0x"),
            16,
        )?;
        // The node holds exactly the bytes the offline zone signed.
        let raw = stack
            .anvil
            .rpc("eth_getRawTransactionByHash", json!([tx_hash]))?;
        let raw_tx = format!("0x{}", hex::encode(&r.signed_tx));
        ensure!(
            raw.as_str().map(str::to_lowercase) == Some(raw_tx.clone()),
            "the node's raw transaction differs from the signed one"
        );
        say(&format!(
            "{} CONFIRMED in block {block} ({} confirmations)",
            e.asset, t["confirmations"]
        ));
        out.push(TransferRecord {
            asset: e.asset.clone(),
            amount: e.amount.to_string(),
            transfer_id: e.transfer_id.clone(),
            request_id: e.request_id.clone(),
            signers: signers.to_vec(),
            tx_hash,
            raw_tx,
            block_number: block,
            status: "CONFIRMED".to_owned(),
        });
    }
    Ok(out)
}

/// Gas used × effective gas price of a mined transaction.
fn fee_of(stack: &Stack, tx_hash: &str) -> anyhow::Result<U256> {
    let receipt = stack
        .anvil
        .rpc("eth_getTransactionReceipt", json!([tx_hash]))?;
    let hex = |v: &Value| -> anyhow::Result<U256> {
        Ok(U256::from_str_radix(
            v.as_str()
                .context("receipt field")?
                .trim_start_matches("0x"),
            16,
        )?)
    };
    Ok(hex(&receipt["gasUsed"])? * hex(&receipt["effectiveGasPrice"])?)
}

/// The payee received exactly the amounts; the case paid them and the fees.
async fn check_balances(
    cx: &Ctx<'_>,
    case_before: (U256, U256),
    payee_before: (U256, U256),
    records: &[TransferRecord],
) -> anyhow::Result<()> {
    let address = cx.address.context("no address")?;
    let (mut eth, mut tok, mut fees) = (U256::ZERO, U256::ZERO, U256::ZERO);
    for r in records {
        let amount = U256::from_str_radix(&r.amount, 10)?;
        if r.asset == "ETH" {
            eth += amount;
        } else {
            tok += amount;
        }
        fees += fee_of(cx.stack, &r.tx_hash)?;
    }
    let case_after = balances(cx, address).await?;
    let payee_after = balances(cx, dev_address(PAYEE)?).await?;
    ensure!(
        payee_after.0 - payee_before.0 == eth,
        "payee received {} wei, expected {eth}",
        payee_after.0 - payee_before.0
    );
    ensure!(
        payee_after.1 - payee_before.1 == tok,
        "payee received {} token units, expected {tok}",
        payee_after.1 - payee_before.1
    );
    ensure!(
        case_before.0 - case_after.0 == eth + fees,
        "case paid {} wei, expected {} (amounts {eth} + fees {fees})",
        case_before.0 - case_after.0,
        eth + fees
    );
    ensure!(
        case_before.1 - case_after.1 == tok,
        "case paid {} token units, expected {tok}",
        case_before.1 - case_after.1
    );
    say(&format!(
        "balances: payee +{eth} wei +{tok} TUSD units; case −(amounts + {fees} wei fees)"
    ));
    Ok(())
}

async fn replace_manager(cx: &mut Ctx<'_>) -> anyhow::Result<String> {
    let stack = cx.stack;
    let id = offline_user(
        stack,
        [&cx.off_admin, &cx.off_admin2],
        "manager4",
        "Case manager 4",
        "case_manager",
    )
    .await?;
    let proposal = stack
        .offline
        .post(
            &format!("/cases/{}/replace-manager", cx.case_id),
            &cx.off_admin,
            json!({"share_index": 2, "new_user_id": id, "pin_reset_by": cx.off_admin_id,
                   "reason": "manager3 left the team; SE-3 handed over", "password": DEMO_PASSWORD}),
        )
        .await?;
    stack
        .offline
        .approve(&proposal, &cx.off_admin2, DEMO_PASSWORD)
        .await?;
    let shares = stack.offline_db.key_shares_by_case(&cx.case_id).await?;
    let active: Vec<_> = shares
        .iter()
        .filter(|s| s.share_index == 2 && s.status == KeyShareStatus::Active)
        .collect();
    ensure!(
        active.len() == 1 && active.first().map(|s| s.user_id.as_str()) == Some(id.as_str()),
        "share 2 is not held by the new manager"
    );
    // The hand-over: the security officer resets SE-3's PIN.
    let card = stack.cards.get(2).context("no SE-3")?;
    let new_pin = testkit::softhsm::random_pin();
    se::Se::reset_pin(
        &stack.module,
        &card.serial,
        &se::Pin::try_from(&card.so_pin)?,
        &se::Pin::try_from(&new_pin)?,
    )?;
    card.set_pin(new_pin.clone())?;
    *cx.pins.get_mut(2).context("pin")? = new_pin;
    cx.managers.push(Manager {
        username: "manager4".to_owned(),
        user_id: id.clone(),
    });
    say("share 2 now belongs to manager4; SE-3's PIN reset");
    Ok(id)
}

async fn old_manager_refused(cx: &Ctx<'_>) -> anyhow::Result<()> {
    let stack = cx.stack;
    let card = stack.cards.get(2).context("no SE-3")?;
    // The old PIN (the card's original one) no longer opens the SE.
    ensure!(
        se::Se::open(&stack.module, &card.serial, &se::Pin::try_from(&card.pin)?).is_err(),
        "SE-3 still opens with the old PIN"
    );
    say("manager3 with the old PIN: SE-3 refuses the PIN");
    // With the new PIN, the coordinator refuses manager3: no current share in that SE.
    let old = cx.managers.get(2).context("manager3")?;
    let task = start_client(
        stack,
        &old.user_id,
        2,
        cx.pins.get(2).context("pin")?,
        ApprovalPolicy::Preapproved {
            hashes: Vec::new(),
            keygen: false,
        },
        Some(1),
        Some(Duration::from_secs(5)),
    )?;
    match tokio::time::timeout(Duration::from_secs(60), task).await?? {
        Err(SessionError::Refused(why)) => {
            say(&format!(
                "manager3 with SE-3's new PIN: coordinator refused ({why})"
            ));
            Ok(())
        }
        Err(e) => bail!("the old manager's client failed, but not by refusal: {e}"),
        Ok(s) => bail!("the old manager was admitted: {s:?}"),
    }
}

/// The last step: both zones' chains verified the way an auditor would. A fresh checkpoint of
/// every chain is signed and written to the zone's checkpoint directory, then each chain is
/// verified three ways: with the zone's HSM (every record's MAC), against the checkpoint files
/// with the zone's checkpoint public key only, and against the checkpoints the other zone keeps
/// as a witness. Returns the checkpoint directories for the summary.
async fn verify_audit(stack: &Stack) -> anyhow::Result<Vec<crate::CheckpointSummary>> {
    use audit::{CheckpointDir, Witness, Zone};
    let now = chrono::Utc::now();
    let offline_key = stack.hsm.audit_public_key();
    let online_key = stack.online_checkpoint_key;
    let mut out = Vec::new();
    for (zone, dir) in &stack.checkpoint_dirs {
        let (db_conn, sealer, chains, key, peer) = match zone {
            Zone::Offline => (
                stack.offline_db.conn(),
                stack.offline_db.sealer(),
                vec![audit::Chain::AUDIT],
                offline_key,
                stack.online_db.conn(),
            ),
            Zone::Online => (
                stack.online_db.conn(),
                stack.online_db.sealer(),
                online_db::CHAINS.to_vec(),
                online_key,
                stack.offline_db.conn(),
            ),
        };
        // A checkpoint at the head of every chain, on disk, so the files cover everything.
        audit::export_witness(db_conn, sealer, &chains, now).await?;
        let checkpoint_dir = CheckpointDir::open(dir.clone())?;
        checkpoint_dir.export_new(db_conn, &chains).await?;
        let mut witnesses = Vec::new();
        let mut files = Vec::new();
        for loaded in CheckpointDir::read(dir)? {
            let checkpoint = loaded
                .checkpoint
                .map_err(|e| anyhow::anyhow!("{}: {e}", loaded.path.display()))?;
            files.push(loaded.path.display().to_string());
            witnesses.push(Witness {
                source: loaded.path.display().to_string(),
                checkpoint,
            });
        }
        let peer_witness = audit::witnessed(peer, *zone).await?;
        ensure!(
            !peer_witness.is_empty(),
            "the other zone keeps no witness of the {zone} zone's log"
        );
        for checkpoint in peer_witness {
            witnesses.push(Witness {
                source: "the other zone's witness".to_owned(),
                checkpoint,
            });
        }
        // An auditor's view: public keys only, the files and the other zone's witness.
        let public_only = audit::VerifyOptions {
            zone: Some(*zone),
            mac_key: None,
            checkpoint_key: Some(key),
            witnesses,
            stored_checkpoints: false,
        };
        // The operator's view: the HSM checks every record's MAC too.
        let with_hsm = audit::VerifyOptions {
            mac_key: Some(sealer.mac_key_arc()),
            ..public_only.clone()
        };
        for c in chains {
            let report = audit::verify_sealed(db_conn, c, &public_only).await?;
            if let Some(broken) = &report.first_broken {
                bail!("{zone} {} chain BROKEN at {broken}", c.name());
            }
            if let Some(bad) = report.first_bad_checkpoint() {
                bail!(
                    "{zone} {} chain BROKEN at the checkpoint of record {} ({}): {:?}",
                    c.name(),
                    bad.seq,
                    bad.source,
                    bad.problem
                );
            }
            ensure!(report.records > 0, "{zone} {} chain is empty", c.name());
            let newest = report
                .newest_good_checkpoint()
                .map(|n| n.seq)
                .context("no authenticated checkpoint")?;
            ensure!(
                i64::try_from(newest).ok() == Some(report.head),
                "{zone} {} chain: the newest checkpoint names record {newest}, the head is {}",
                c.name(),
                report.head
            );
            let keyed = audit::verify_sealed(db_conn, c, &with_hsm).await?;
            ensure!(
                keyed.is_intact(),
                "{zone} {} chain: a record MAC does not verify: {:?}",
                c.name(),
                keyed.first_broken
            );
            say(&format!(
                "{zone} {} chain intact: {} record(s), {} MAC(s) verified by the HSM, {} checkpoint(s) (files and the other zone's witness) reached with the public key",
                c.name(),
                report.records,
                match keyed.macs {
                    audit::MacCoverage::Verified(n) => n,
                    audit::MacCoverage::NotChecked => 0,
                },
                report.checkpoints.len()
            ));
        }
        out.push(crate::CheckpointSummary {
            zone: zone.to_string(),
            dir: dir.display().to_string(),
            checkpoint_key: hex::encode(p256::EncodedPoint::from(key).as_bytes()),
            files,
            db: match zone {
                Zone::Offline => stack.state_dir.join("offline.sqlite"),
                Zone::Online => stack.state_dir.join("online.sqlite"),
            }
            .display()
            .to_string(),
            token: stack
                .zone_tokens
                .iter()
                .find(|(z, _)| z == zone)
                .map(|(_, t)| t.clone())
                .unwrap_or_default(),
        });
    }
    Ok(out)
}
