//! The three simulated case managers: `custody_client::session::run` in this process, each with
//! its own open SE (a SoftHSM2 token), approving what the story (or, in the interactive demo,
//! the operator's imports) put before them.

use std::time::Duration;

use anyhow::Context;
use contracts::{Id, KeyRing, Kind};
use custody_client::review::ApprovalPolicy;
use custody_client::session::{ClientConfig, SessionError, Summary};
use secrecy::SecretString;

use crate::stack::Stack;

/// A manager's client task.
pub type ClientTask = tokio::task::JoinHandle<Result<Summary, SessionError>>;

/// Opens SE `card` with `pin` and reads its certificate.
pub fn open_card(
    stack: &Stack,
    card: usize,
    pin: &SecretString,
) -> anyhow::Result<(se::OpenSe, channel::Certificate)> {
    let c = stack.cards.get(card).context("no such SE")?;
    let open = se::Se::open(&stack.module, &c.serial, &se::Pin::try_from(pin)?)?;
    let cert = open
        .certificate()?
        .with_context(|| format!("SE {} holds no certificate", c.serial))?;
    Ok((open, channel::Certificate::from_bytes(&cert)?))
}

/// Starts manager `user_id`'s client with SE `card` (opened with `pin`).
pub fn start_client(
    stack: &Stack,
    user_id: &str,
    card: usize,
    pin: &SecretString,
    approval: ApprovalPolicy,
    exit_after: Option<u32>,
    idle_exit: Option<Duration>,
) -> anyhow::Result<ClientTask> {
    let (open, cert) = open_card(stack, card, pin)?;
    let config = ClientConfig {
        nats_url: stack.nats.url(),
        user_id: user_id.parse::<Id>()?,
        trust: stack.hsm.trust_anchor(),
        keyring: KeyRing::new().with_key(stack.export_public, &[Kind::SigningRequest]),
        roster_key: stack.hsm.envelope_public_key(),
        approval,
        exit_after,
        idle_exit,
        quiet: true,
        nats_access: Some(stack.nats_client.clone()),
    };
    Ok(tokio::spawn(custody_client::session::run(
        config, open, cert,
    )))
}

/// Waits for every client to finish one completed session, failing as soon as one fails;
/// `progress` is called every 5 s with the elapsed time.
pub async fn wait_all(
    clients: Vec<ClientTask>,
    timeout: Duration,
    progress: &mut (dyn FnMut(Duration) + Send),
) -> anyhow::Result<()> {
    let start = std::time::Instant::now();
    let mut next_tick = Duration::from_secs(5);
    let mut pending: Vec<(usize, ClientTask)> = clients.into_iter().enumerate().collect();
    while !pending.is_empty() {
        let mut still = Vec::new();
        for (i, c) in pending {
            if !c.is_finished() {
                still.push((i, c));
                continue;
            }
            let summary = c
                .await
                .context("client task")?
                .with_context(|| format!("manager client {i}"));
            let summary = match summary {
                Ok(s) => s,
                Err(e) => {
                    for (_, c) in &still {
                        c.abort();
                    }
                    return Err(e);
                }
            };
            anyhow::ensure!(
                summary.completed >= 1 && summary.failed == 0,
                "manager client {i} finished with {summary:?}"
            );
        }
        pending = still;
        if pending.is_empty() {
            break;
        }
        if start.elapsed() > timeout {
            for (_, c) in &pending {
                c.abort();
            }
            anyhow::bail!("the managers' clients did not finish within {timeout:?}");
        }
        if start.elapsed() >= next_tick {
            progress(start.elapsed());
            next_tick += Duration::from_secs(5);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Ok(())
}

/// A simulated manager for the interactive demo: logs in again and again (the coordinator
/// admits a manager only while they hold a current share), approving keygen and every signing
/// request the operator imported for the manager's cases (a real manager types the hash).
pub async fn simulate(
    stack: std::sync::Arc<Stack>,
    name: String,
    user_id: String,
    card: usize,
    pin: SecretString,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    let mut last_error = String::new();
    loop {
        if *stop.borrow() {
            return;
        }
        // Log in only when there is work, approving exactly what is waiting at that moment: a
        // client that is already logged in when a new request arrives would have to decline
        // it (it approves only the hashes it was given), failing that session.
        let (hashes, keygen) = match pending_work(&stack).await {
            Ok(work) => work,
            Err(e) => {
                eprintln!("[{name}] {e}");
                (Vec::new(), false)
            }
        };
        if hashes.is_empty() && !keygen {
            tokio::select! {
                _ = tokio::time::sleep(Duration::from_secs(1)) => continue,
                _ = stop.changed() => return,
            }
        }
        let task = start_client(
            &stack,
            &user_id,
            card,
            &pin,
            ApprovalPolicy::Preapproved {
                hashes,
                keygen: true,
            },
            None,
            Some(Duration::from_secs(2)),
        );
        let outcome = match task {
            Ok(t) => tokio::select! {
                r = t => r.map_err(|e| e.to_string()).and_then(|r| r.map_err(|e| e.to_string())),
                _ = stop.changed() => return,
            },
            Err(e) => Err(e.to_string()),
        };
        match outcome {
            Ok(summary) if summary.completed > 0 => {
                println!(
                    "[{name}] completed {} session(s) with SE-{}",
                    summary.completed,
                    card + 1
                );
                last_error.clear();
            }
            Ok(_) => {}
            Err(e) => {
                if e != last_error {
                    println!("[{name}] {e}");
                    last_error = e;
                }
                tokio::select! {
                    _ = tokio::time::sleep(Duration::from_secs(5)) => {}
                    _ = stop.changed() => return,
                }
            }
        }
    }
}

/// What waits for the managers: the signing hashes of requests waiting for signatures, and
/// whether a case waits for its keygen.
async fn pending_work(stack: &Stack) -> anyhow::Result<(Vec<[u8; 32]>, bool)> {
    use offline_db::entity::cases;
    use offline_db::CaseStatus;
    use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter};
    let keygen = cases::Entity::find()
        .filter(cases::Column::Status.is_in([CaseStatus::Draft, CaseStatus::Keygen]))
        .count(stack.offline_db.conn())
        .await?
        > 0;
    Ok((pending_hashes(stack).await?, keygen))
}

/// The signing hashes of requests waiting for signatures.
async fn pending_hashes(stack: &Stack) -> anyhow::Result<Vec<[u8; 32]>> {
    use offline_db::entity::signing_requests;
    use offline_db::SigningRequestStatus;
    use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
    let rows = signing_requests::Entity::find()
        .filter(signing_requests::Column::Status.is_in([
            SigningRequestStatus::Imported,
            SigningRequestStatus::Signing,
        ]))
        .all(stack.offline_db.conn())
        .await?;
    let mut out = Vec::new();
    for r in rows {
        let bytes = hex::decode(r.tx_hash.trim_start_matches("0x"))?;
        if let Ok(h) = <[u8; 32]>::try_from(bytes.as_slice()) {
            out.push(h);
        }
    }
    Ok(out)
}
