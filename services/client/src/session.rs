//! The client's conversation with the coordinator (protocol: `contracts::coord`).
//!
//! [`run`] connects to NATS, authenticates the SE to the coordinator's HSM (the SIGMA handshake
//! of `crates/channel`, with the user id bound into the transcript the SE signs), and then works
//! through the manager's work list: keygen of a case whose share this SE holds, or signing
//! sessions, each request reviewed and approved first ([`crate::review`]). Every message to and
//! from the coordinator travels inside the AEAD channel; protocol round messages are in
//! addition end-to-end encrypted between the clients (`party::E2eTransport`), so the
//! coordinator relays ciphertext only. A lost connection (no answer to pings, a frame that does
//! not open) aborts the run in progress and the client connects again with a fresh channel.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use channel::{
    Certificate, ClientHandshake, PeerAnnouncement, RevocationList, SecureChannel, ServerHello,
    TrustAnchor,
};
use contracts::coord::{
    self, Approval, ClientMessage, CoordinatorMessage, HandshakeReply, HandshakeRequest, RunId,
    RunKind, RunSpec, WorkItem,
};
use contracts::{CaseRoster, EthAddress, Id, KeyRing};
use futures::StreamExt;
use party::{E2eTransport, RunKeys};
use rand_core::OsRng;
use tokio::sync::{mpsc, oneshot, Mutex};
use tss::{
    ExecutionIdBytes, MessageReceiver, MessageSender, ProgressEvent, SignerSet, Transport,
    TransportError, WireMessage,
};

use crate::review::{self, ApprovalPolicy, Reviewed};
use crate::{say, QUIET};

/// How often the client pings the coordinator.
const PING_EVERY: Duration = Duration::from_secs(2);
/// No message from the coordinator for this long means the connection is gone.
const DEAD_AFTER: Duration = Duration::from_secs(12);
/// How long a handshake request may take.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(15);
/// Pause between work-list polls when there is nothing to do.
const POLL_EVERY: Duration = Duration::from_millis(250);

/// What the client needs besides its SE.
pub struct ClientConfig {
    /// `nats://host:port`.
    pub nats_url: String,
    /// The manager logging in.
    pub user_id: Id,
    /// The offline CA (verifies the coordinator's HSM certificate and the peers' SEs).
    pub trust: TrustAnchor,
    /// The online zone's pinned export key (verifies each signing request here, on this PC).
    pub keyring: KeyRing,
    /// The offline zone's pinned envelope key (verifies each case's signed roster here).
    pub roster_key: p256::PublicKey,
    /// How approvals are given.
    pub approval: ApprovalPolicy,
    /// Stop after this many completed sessions.
    pub exit_after: Option<u32>,
    /// Stop after this long without work.
    pub idle_exit: Option<Duration>,
    /// Print nothing (the manager-facing lines go to stdout otherwise).
    pub quiet: bool,
    /// The NATS user, its password file and the server's CA (`custody-client login
    /// --nats-user/--nats-password-file/--nats-ca`); none: connect without credentials.
    pub nats_access: Option<bus::NatsAccess>,
}

/// What a client run did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Summary {
    /// Sessions completed (keygen recorded, signatures stored).
    pub completed: u32,
    /// Sessions that failed while this client took part.
    pub failed: u32,
}

/// Why the client stopped.
#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    /// NATS could not be reached.
    #[error("cannot reach NATS at {url}: {reason}")]
    Connect {
        /// The URL.
        url: String,
        /// What the client library said.
        reason: String,
    },
    /// The coordinator refused the login (unknown SE or user, SE not active, bad certificate…).
    #[error("the coordinator refused the login: {0}")]
    Refused(String),
    /// The connection to the coordinator was lost (reconnect).
    #[error("connection to the coordinator lost: {0}")]
    Lost(String),
    /// The coordinator sent something that does not fit the protocol.
    #[error("protocol error: {0}")]
    Protocol(String),
    /// The channel crate failed (certificate, handshake, frame).
    #[error(transparent)]
    Channel(#[from] channel::Error),
    /// The wire contract failed (encoding, decoding).
    #[error(transparent)]
    Contract(#[from] contracts::Error),
    /// The protocol run failed.
    #[error(transparent)]
    Party(#[from] party::Error),
    /// The SE failed.
    #[error(transparent)]
    Se(#[from] se::Error),
    /// Reviewing a request failed.
    #[error(transparent)]
    Review(#[from] review::ReviewError),
    /// Paillier primes could not be had.
    #[error(transparent)]
    Primes(#[from] crate::primes::PrimesError),
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// Messages from the channel reader to the work loop.
enum Event {
    Message(CoordinatorMessage),
    Lost(String),
}

/// The sending side of an established channel (shared by the work loop and the runs).
struct Uplink {
    nats: async_nats::Client,
    subject: String,
    channel: Arc<Mutex<SecureChannel>>,
}

impl Uplink {
    async fn send(&self, message: &ClientMessage) -> Result<(), SessionError> {
        let bytes = coord::encode(message)?;
        // Seal and publish under one lock so frames leave in sequence order.
        let mut ch = self.channel.lock().await;
        let frame = ch.seal(&bytes)?.to_bytes()?;
        self.nats
            .publish(self.subject.clone(), frame.into())
            .await
            .map_err(|e| SessionError::Lost(e.to_string()))
    }
}

type Routes = Arc<std::sync::Mutex<HashMap<RunId, mpsc::UnboundedSender<WireMessage>>>>;
type PeerWaits = Arc<std::sync::Mutex<HashMap<RunId, oneshot::Sender<Vec<Vec<u8>>>>>>;
/// What a run waits on: its round messages and the set of announcements.
type RunWait = (
    mpsc::UnboundedReceiver<WireMessage>,
    oneshot::Receiver<Vec<Vec<u8>>>,
);

/// An established channel to the coordinator.
struct Conn {
    up: Arc<Uplink>,
    events: mpsc::UnboundedReceiver<Event>,
    routes: Routes,
    peers: PeerWaits,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Drop for Conn {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

impl Conn {
    /// Handshake, then start the reader and the pinger.
    async fn establish(
        nats: &async_nats::Client,
        config: &ClientConfig,
        se: &se::OpenSe,
        certificate: &Certificate,
    ) -> Result<Conn, SessionError> {
        let context = config.user_id.to_string();
        let (client, hello) =
            ClientHandshake::start(certificate.clone(), context.as_bytes(), &mut OsRng);
        let reply = request(
            nats,
            &HandshakeRequest::Hello {
                version: coord::PROTOCOL_VERSION,
                user_id: config.user_id,
                client_hello: hello.to_bytes()?,
            },
        )
        .await?;
        let (channel_id, server_hello) = match reply {
            HandshakeReply::Hello {
                channel_id,
                server_hello,
            } => (channel_id, server_hello),
            HandshakeReply::Refused { reason } => return Err(SessionError::Refused(reason)),
            other => return Err(SessionError::Protocol(format!("unexpected {other:?}"))),
        };
        let server_hello = ServerHello::from_bytes(&server_hello)?;
        // The PIN-unlocked SE signs the transcript here; the HSM's certificate is checked
        // against the offline CA.
        let (secure, finished) = client.finish(
            &server_hello,
            se,
            &config.trust,
            &RevocationList::new(),
            unix_now(),
        )?;
        // Without channel logins the handshake connection uses the channel's subjects; it
        // subscribes before the Finished so nothing sent after it can be missed.
        let mut down = nats
            .subscribe(coord::channel_down(&channel_id))
            .await
            .map_err(|e| SessionError::Lost(e.to_string()))?;
        let login = match request(
            nats,
            &HandshakeRequest::Finished {
                channel_id,
                client_finished: finished.to_bytes()?,
            },
        )
        .await?
        {
            HandshakeReply::Established { login, .. } => login,
            HandshakeReply::Refused { reason } => return Err(SessionError::Refused(reason)),
            other => return Err(SessionError::Protocol(format!("unexpected {other:?}"))),
        };
        // With channel logins (the zone's NATS), the channel's subjects are open only to a
        // connection that logs in with the channel's token: a connection of its own, which may
        // use this channel and nothing else. The coordinator sends nothing before the client
        // speaks, so subscribing now misses nothing.
        let link = if login {
            drop(down);
            let token = coord::channel_login_token(&channel_id, &secure)?;
            let link = channel_connect_options(config, &token)?
                .connect(config.nats_url.as_str())
                .await
                .map_err(|e| {
                    SessionError::Lost(format!("the NATS server refused the channel login: {e}"))
                })?;
            down = link
                .subscribe(coord::channel_down(&channel_id))
                .await
                .map_err(|e| SessionError::Lost(e.to_string()))?;
            link.flush()
                .await
                .map_err(|e| SessionError::Lost(e.to_string()))?;
            link
        } else {
            nats.clone()
        };
        let channel = Arc::new(Mutex::new(secure));
        let up = Arc::new(Uplink {
            nats: link,
            subject: coord::channel_up(&channel_id),
            channel: channel.clone(),
        });
        let (tx, events) = mpsc::unbounded_channel();
        let routes: Routes = Arc::default();
        let peers: PeerWaits = Arc::default();
        let heard = Arc::new(std::sync::Mutex::new(Instant::now()));
        let reader = {
            let (tx, routes, peers, heard) =
                (tx.clone(), routes.clone(), peers.clone(), heard.clone());
            tokio::spawn(async move {
                let mut rejected: u64 = 0;
                while let Some(msg) = down.next().await {
                    let opened = {
                        let frame = channel::Frame::from_bytes(&msg.payload);
                        let mut ch = channel.lock().await;
                        frame.and_then(|f| ch.open(&f))
                    };
                    // A frame that fails authentication (junk, a replay, a forgery) is
                    // dropped: the channel's sequence only advances on authentic frames, so
                    // whoever can publish on this subject cannot end the channel. A lost
                    // coordinator frame shows as silence, which the pinger notices.
                    let plain = match opened {
                        Ok(p) => p,
                        Err(e) => {
                            rejected += 1;
                            if rejected.is_power_of_two() {
                                tracing::warn!(error = %e, rejected, "unauthenticated frame dropped");
                            }
                            continue;
                        }
                    };
                    let message =
                        match coord::decode::<CoordinatorMessage>(&plain, "coordinator message") {
                            Ok(m) => m,
                            Err(e) => {
                                abort_runs(&routes, &peers);
                                let _ = tx.send(Event::Lost(format!(
                                    "the coordinator sent a message this client cannot read: {e}"
                                )));
                                return;
                            }
                        };
                    if let Ok(mut h) = heard.lock() {
                        *h = Instant::now();
                    }
                    match message {
                        CoordinatorMessage::Pong => {}
                        CoordinatorMessage::Round {
                            run,
                            from,
                            to,
                            payload,
                        } => {
                            let route = routes.lock().ok().and_then(|r| r.get(&run).cloned());
                            if let Some(route) = route {
                                let _ = route.send(WireMessage {
                                    from,
                                    to,
                                    broadcast: false,
                                    payload,
                                });
                            }
                        }
                        CoordinatorMessage::Peers { run, announcements } => {
                            let wait = peers.lock().ok().and_then(|mut p| p.remove(&run));
                            if let Some(wait) = wait {
                                let _ = wait.send(
                                    announcements.into_iter().map(|b| b.into_vec()).collect(),
                                );
                            }
                        }
                        other => {
                            if matches!(other, CoordinatorMessage::Failed { .. }) {
                                // Runs blocked on a peer that is gone must end now.
                                abort_runs(&routes, &peers);
                            }
                            let _ = tx.send(Event::Message(other));
                        }
                    }
                }
                let _ = tx.send(Event::Lost("the subscription ended".to_owned()));
            })
        };
        let pinger = {
            let (up, tx, routes, peers) = (up.clone(), tx, routes.clone(), peers.clone());
            tokio::spawn(async move {
                let mut tick = tokio::time::interval(PING_EVERY);
                loop {
                    tick.tick().await;
                    let silent = heard
                        .lock()
                        .map(|h| h.elapsed() > DEAD_AFTER)
                        .unwrap_or(true);
                    if silent {
                        abort_runs(&routes, &peers);
                        let _ = tx.send(Event::Lost(format!(
                            "no answer from the coordinator for {} s",
                            DEAD_AFTER.as_secs()
                        )));
                        return;
                    }
                    if up.send(&ClientMessage::Ping).await.is_err() {
                        // NATS is reconnecting; silence will tell if it lasts.
                    }
                }
            })
        };
        say(&format!(
            "secure channel {channel_id} established with the coordinator's HSM"
        ));
        Ok(Conn {
            up,
            events,
            routes,
            peers,
            tasks: vec![reader, pinger],
        })
    }

    async fn send(&self, message: &ClientMessage) -> Result<(), SessionError> {
        self.up.send(message).await
    }

    /// The next message from the coordinator.
    async fn next(&mut self) -> Result<CoordinatorMessage, SessionError> {
        match self.events.recv().await {
            Some(Event::Message(m)) => Ok(m),
            Some(Event::Lost(why)) => Err(SessionError::Lost(why)),
            None => Err(SessionError::Lost("the channel reader stopped".to_owned())),
        }
    }

    /// Registers the routes of a session's runs before anything of them can arrive.
    fn open_runs(&self, runs: &[RunId]) -> Vec<RunWait> {
        let mut out = Vec::new();
        for run in runs {
            let (tx, rx) = mpsc::unbounded_channel();
            let (ptx, prx) = oneshot::channel();
            if let Ok(mut r) = self.routes.lock() {
                r.insert(*run, tx);
            }
            if let Ok(mut p) = self.peers.lock() {
                p.insert(*run, ptx);
            }
            out.push((rx, prx));
        }
        out
    }

    fn close_runs(&self) {
        abort_runs(&self.routes, &self.peers);
    }
}

fn abort_runs(routes: &Routes, peers: &PeerWaits) {
    if let Ok(mut r) = routes.lock() {
        r.clear();
    }
    if let Ok(mut p) = peers.lock() {
        p.clear();
    }
}

async fn request(
    nats: &async_nats::Client,
    message: &HandshakeRequest,
) -> Result<HandshakeReply, SessionError> {
    let bytes = coord::encode(message)?;
    let reply = tokio::time::timeout(
        HANDSHAKE_TIMEOUT,
        nats.request(contracts::subjects::CHANNEL_HANDSHAKE, bytes.into()),
    )
    .await
    .map_err(|_| SessionError::Lost("the coordinator did not answer the handshake".to_owned()))?
    .map_err(|e| SessionError::Lost(format!("handshake request failed: {e}")))?;
    Ok(coord::decode::<HandshakeReply>(
        &reply.payload,
        "handshake reply",
    )?)
}

/// One run's transport: round messages go up the channel, and come down through the reader.
struct RunTransport {
    me: u16,
    parties: u16,
    run: RunId,
    up: Arc<Uplink>,
    rx: mpsc::UnboundedReceiver<WireMessage>,
}

struct RunSender {
    run: RunId,
    up: Arc<Uplink>,
}

struct RunReceiver {
    rx: mpsc::UnboundedReceiver<WireMessage>,
}

impl Transport for RunTransport {
    type Sender = RunSender;
    type Receiver = RunReceiver;
    fn me(&self) -> u16 {
        self.me
    }
    fn parties(&self) -> u16 {
        self.parties
    }
    fn split(self) -> (RunSender, RunReceiver) {
        (
            RunSender {
                run: self.run,
                up: self.up,
            },
            RunReceiver { rx: self.rx },
        )
    }
}

#[async_trait]
impl MessageSender for RunSender {
    async fn send(&mut self, msg: WireMessage) -> Result<(), TransportError> {
        self.up
            .send(&ClientMessage::Round {
                run: self.run,
                from: msg.from,
                to: msg.to,
                payload: msg.payload,
            })
            .await
            .map_err(|e| TransportError::Other(e.to_string()))
    }
}

#[async_trait]
impl MessageReceiver for RunReceiver {
    async fn recv(&mut self) -> Result<WireMessage, TransportError> {
        self.rx.recv().await.ok_or(TransportError::Closed)
    }
}

/// The execution id of a run as this client derives it (never taken from the coordinator).
fn execution_id(kind: RunKind, session: &Id, case: &Id, message: &[u8]) -> ExecutionIdBytes {
    let kind = match kind {
        RunKind::AuxInfo => tss::RunKind::AuxInfo,
        RunKind::Keygen => tss::RunKind::Keygen,
        RunKind::Sign => tss::RunKind::Sign,
    };
    ExecutionIdBytes::derive(
        kind,
        session.to_string().as_bytes(),
        case.to_string().as_bytes(),
        message,
    )
}

/// What the work loop remembers across sessions and reconnections.
#[derive(Default)]
struct Memory {
    summary: Summary,
    /// Requests this manager declined (or that failed review): never offered again.
    declined: HashSet<Id>,
    /// Cases whose keygen this manager declined.
    skipped_keygen: HashSet<Id>,
}

enum Outcome {
    Exit,
}

/// Log in and work until `exit_after` sessions completed, `idle_exit` passed without work, or
/// a fatal error.
pub async fn run(
    config: ClientConfig,
    se: se::OpenSe,
    certificate: Certificate,
) -> Result<Summary, SessionError> {
    if config.quiet {
        QUIET.store(true, std::sync::atomic::Ordering::Relaxed);
    }
    let se = Arc::new(se);
    let nats = connect_options(&config)?
        .connect(config.nats_url.as_str())
        .await
        .map_err(|e| SessionError::Connect {
            url: config.nats_url.clone(),
            reason: match (e.kind(), &config.nats_access) {
                (
                    async_nats::ConnectErrorKind::AuthorizationViolation
                    | async_nats::ConnectErrorKind::Authentication,
                    Some(bus::NatsAccess { user: Some(user), .. }),
                ) => format!("{e} (the server refused user {user}: check --nats-user and --nats-password-file)"),
                _ => e.to_string(),
            },
        })?;
    let mut memory = Memory::default();
    loop {
        let mut conn = match Conn::establish(&nats, &config, &se, &certificate).await {
            Ok(c) => c,
            Err(SessionError::Refused(reason)) => return Err(SessionError::Refused(reason)),
            Err(e) => {
                say(&format!(
                    "cannot reach the coordinator ({e}); retrying in 2 s"
                ));
                tokio::time::sleep(Duration::from_secs(2)).await;
                continue;
            }
        };
        match work(&mut conn, &config, &se, &certificate, &mut memory).await {
            Ok(Outcome::Exit) => {
                let _ = conn.send(&ClientMessage::Bye).await;
                let _ = conn.up.nats.flush().await;
                return Ok(memory.summary);
            }
            Err(SessionError::Lost(why)) => {
                say(&format!("connection lost ({why}); logging in again"));
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
            Err(e) => return Err(e),
        }
    }
}

/// The NATS connection options: the client's name, reconnects for ever, and the user, password
/// and CA of [`ClientConfig::nats_access`] (the password read from its file now, never shown).
fn connect_options(config: &ClientConfig) -> Result<async_nats::ConnectOptions, SessionError> {
    use secrecy::ExposeSecret;
    let options = async_nats::ConnectOptions::new()
        .name("custody-client")
        .max_reconnects(None);
    let Some(access) = &config.nats_access else {
        return Ok(options);
    };
    let refused = |e: bus::Error| SessionError::Connect {
        url: config.nats_url.clone(),
        reason: e.to_string(),
    };
    let options = match access.credentials().map_err(refused)? {
        Some((user, password)) => {
            options.user_and_password(user, password.expose_secret().to_owned())
        }
        None => options,
    };
    with_ca(options, config)
}

/// The options of a channel's own connection: logged in with the channel's token, and the CA
/// of [`ClientConfig::nats_access`].
fn channel_connect_options(
    config: &ClientConfig,
    token: &str,
) -> Result<async_nats::ConnectOptions, SessionError> {
    let options = async_nats::ConnectOptions::with_token(token.to_owned())
        .name("custody-client channel")
        .max_reconnects(None);
    with_ca(options, config)
}

/// `options` verifying the server against the CA of [`ClientConfig::nats_access`], if any.
fn with_ca(
    mut options: async_nats::ConnectOptions,
    config: &ClientConfig,
) -> Result<async_nats::ConnectOptions, SessionError> {
    let Some(access) = &config.nats_access else {
        return Ok(options);
    };
    let refused = |e: bus::Error| SessionError::Connect {
        url: config.nats_url.clone(),
        reason: e.to_string(),
    };
    if let Some(ca) = access.checked_ca_file().map_err(refused)? {
        options = options
            .add_root_certificates(ca.to_owned())
            .require_tls(true);
    }
    Ok(options)
}

async fn work(
    conn: &mut Conn,
    config: &ClientConfig,
    se: &Arc<se::OpenSe>,
    certificate: &Certificate,
    memory: &mut Memory,
) -> Result<Outcome, SessionError> {
    let mut idle_since = Instant::now();
    loop {
        if config
            .exit_after
            .is_some_and(|n| memory.summary.completed >= n)
        {
            return Ok(Outcome::Exit);
        }
        conn.send(&ClientMessage::ListWork).await?;
        let items = loop {
            match conn.next().await? {
                CoordinatorMessage::Work { items } => break items,
                CoordinatorMessage::Refused {
                    session_id: None,
                    reason,
                } => {
                    return Err(SessionError::Protocol(format!(
                        "work list refused: {reason}"
                    )))
                }
                // Late news of a session already left behind.
                _ => continue,
            }
        };
        let mut acted = false;
        for item in items {
            let roster_check = crate::roster::checked_for(&item, certificate, &config.roster_key);
            let done = match item {
                WorkItem::Keygen {
                    case_id,
                    case_name,
                    share_index,
                    ..
                } => {
                    if memory.skipped_keygen.contains(&case_id) {
                        continue;
                    }
                    // Before the manager is asked and before anything touches the SE.
                    let roster = match roster_check {
                        Ok(r) => r,
                        Err(e) => {
                            say(&format!(
                                "not taking part in the keygen of case {case_name}: {e}"
                            ));
                            tracing::warn!(case = %case_id, error = %e, "keygen offer refused");
                            memory.skipped_keygen.insert(case_id);
                            continue;
                        }
                    };
                    if holds_completed_share(se, &case_id, share_index)? {
                        say(&format!(
                            "not taking part in the keygen of case {case_name}: this SE already \
                             holds its completed share {share_index} of that case, and a new \
                             keygen would destroy it. Nothing was changed; tell the \
                             administrators (a case whose key is lost is re-keyed, never \
                             generated again)"
                        ));
                        tracing::warn!(case = %case_id, share_index, "keygen offered for a completed share");
                        memory.skipped_keygen.insert(case_id);
                        continue;
                    }
                    let policy = config.approval.clone();
                    let name = case_name.clone();
                    let approved = tokio::task::spawn_blocking(move || {
                        policy.approve_keygen(&name, share_index)
                    })
                    .await
                    .map_err(|e| SessionError::Protocol(e.to_string()))??;
                    if !approved {
                        memory.skipped_keygen.insert(case_id);
                        continue;
                    }
                    keygen(
                        conn,
                        config,
                        se,
                        certificate,
                        KeygenJob {
                            case_id,
                            case_name: &case_name,
                            share_index,
                            roster: &roster,
                        },
                    )
                    .await?
                }
                WorkItem::Sign {
                    session_id,
                    case_id,
                    case_name,
                    address,
                    share_index,
                    requests,
                    ..
                } => {
                    if requests.is_empty()
                        || requests
                            .iter()
                            .all(|r| memory.declined.contains(&r.request_id))
                    {
                        continue;
                    }
                    say(&format!(
                        "signing session {session_id} of case {case_name} ({} request(s)); your share: {share_index}",
                        requests.len()
                    ));
                    let mut reviewed = Vec::new();
                    let mut refusal = roster_check.as_ref().err().map(ToString::to_string);
                    for item in requests.iter().filter(|_| refusal.is_none()) {
                        match review::review(item, &config.keyring, &address, unix_now()) {
                            Ok(r) => reviewed.push(r),
                            Err(e) => {
                                refusal =
                                    Some(format!("request {} failed review: {e}", item.request_id));
                                break;
                            }
                        }
                    }
                    if refusal.is_none() {
                        for r in &reviewed {
                            let policy = config.approval.clone();
                            let shown = r.clone();
                            let approved =
                                tokio::task::spawn_blocking(move || policy.approve_signing(&shown))
                                    .await
                                    .map_err(|e| SessionError::Protocol(e.to_string()))??;
                            if !approved {
                                refusal = Some(format!(
                                    "the manager declined request {} (hash {})",
                                    r.request_id,
                                    r.hash_hex()
                                ));
                                break;
                            }
                        }
                    }
                    let roster = match (refusal, roster_check) {
                        (None, Ok(roster)) => roster,
                        (refusal, _) => {
                            let reason = refusal.unwrap_or_default();
                            say(&format!("not signing: {reason}"));
                            memory
                                .declined
                                .extend(requests.iter().map(|r| r.request_id));
                            conn.send(&ClientMessage::Abort { session_id, reason })
                                .await?;
                            acted = true;
                            continue;
                        }
                    };
                    sign(
                        conn,
                        config,
                        se,
                        certificate,
                        SignJob {
                            session_id,
                            case_id,
                            address,
                            share_index,
                            reviewed,
                            roster,
                        },
                    )
                    .await?
                }
            };
            acted = true;
            if done {
                memory.summary.completed += 1;
            } else {
                memory.summary.failed += 1;
            }
            // Re-read the work list after every session: it changes as sessions end.
            break;
        }
        if acted {
            idle_since = Instant::now();
            continue;
        }
        if config.idle_exit.is_some_and(|d| idle_since.elapsed() >= d) {
            say("no work; leaving");
            return Ok(Outcome::Exit);
        }
        tokio::time::sleep(POLL_EVERY).await;
    }
}

/// Waits for the join answer and then for the start of the session. `Ok(None)` when the
/// session ended (refused, failed) before starting.
async fn wait_start(
    conn: &mut Conn,
    session_id: &Id,
) -> Result<Option<(Vec<u16>, Vec<RunSpec>)>, SessionError> {
    loop {
        match conn.next().await? {
            CoordinatorMessage::Joined {
                session_id: s,
                ready,
                needed,
            } if s == *session_id => say(&format!(
                "share marked available; ready: {ready:?}, the session needs {needed}"
            )),
            CoordinatorMessage::Start {
                session_id: s,
                roster,
                runs,
            } if s == *session_id => return Ok(Some((roster, runs))),
            CoordinatorMessage::Refused { reason, .. } => {
                say(&format!("refused: {reason}"));
                return Ok(None);
            }
            CoordinatorMessage::Failed {
                session_id: s,
                reason,
            } if s == *session_id => {
                say(&format!("session failed: {reason}"));
                return Ok(None);
            }
            _ => {}
        }
    }
}

/// Waits for the session's end; true when it completed.
async fn wait_end(conn: &mut Conn, session_id: &Id) -> Result<bool, SessionError> {
    loop {
        match conn.next().await? {
            CoordinatorMessage::Completed { session_id: s } if s == *session_id => {
                say(&format!("session {session_id} completed"));
                return Ok(true);
            }
            CoordinatorMessage::Failed {
                session_id: s,
                reason,
            } if s == *session_id => {
                say(&format!("session {session_id} failed: {reason}"));
                return Ok(false);
            }
            _ => {}
        }
    }
}

/// Announces this client's E2E key for each run, waits for every participant's, checks them
/// against the case's signed roster and builds the end-to-end encrypted transports.
async fn connect_runs(
    conn: &Conn,
    runs: &[ExecutionIdBytes],
    waits: Vec<RunWait>,
    (share_index, roster, case_roster): (u16, &[u16], &CaseRoster),
    se: &se::OpenSe,
    certificate: &Certificate,
    trust: &TrustAnchor,
) -> Result<Vec<E2eTransport<RunTransport>>, SessionError> {
    let me = roster
        .iter()
        .position(|i| *i == share_index)
        .and_then(|p| u16::try_from(p).ok())
        .ok_or_else(|| SessionError::Protocol("this share is not in the run".to_owned()))?;
    let parties = u16::try_from(roster.len())
        .map_err(|_| SessionError::Protocol("roster too large".to_owned()))?;
    let mut keys = Vec::new();
    for eid in runs {
        let k = RunKeys::announce(eid, share_index, se, certificate.clone())?;
        conn.send(&ClientMessage::Announce {
            run: *eid.as_bytes(),
            announcement: k.announcement.to_bytes()?,
        })
        .await?;
        keys.push(k);
    }
    let mut out = Vec::new();
    for ((eid, k), (rx, peers)) in runs.iter().zip(keys).zip(waits) {
        let list = peers.await.map_err(|_| {
            SessionError::Lost("the session ended before the peers were known".to_owned())
        })?;
        let announcements = list
            .iter()
            .map(|b| PeerAnnouncement::from_bytes(b))
            .collect::<Result<Vec<_>, _>>()?;
        // Only the SEs the offline HSM put on the case's roster, each at its own share.
        crate::roster::check_peers(case_roster, &announcements)
            .map_err(|e| SessionError::Protocol(e.to_string()))?;
        let session = k.into_session(
            eid,
            share_index,
            &announcements,
            trust,
            &RevocationList::new(),
            unix_now(),
        )?;
        let transport = RunTransport {
            me,
            parties,
            run: *eid.as_bytes(),
            up: conn.up.clone(),
            rx,
        };
        out.push(E2eTransport::new(transport, session, roster.to_vec()));
    }
    Ok(out)
}

/// The SE secret that records that the coordinator stored the key of this share's keygen.
fn completed_label(case_id: &Id, share_index: u8) -> String {
    format!("keygen-done.{case_id}.{share_index}")
}

/// Whether this SE holds the share of `case_id` from a keygen the coordinator completed: such a
/// share is never removed for a keygen offer, whatever the coordinator says about the case.
fn holds_completed_share(
    se: &se::OpenSe,
    case_id: &Id,
    share_index: u8,
) -> Result<bool, SessionError> {
    let slot = se::ShareSlot::new(&case_id.to_string(), u16::from(share_index))
        .map_err(|e| SessionError::Protocol(e.to_string()))?;
    if !se.list_shares()?.contains(&slot) {
        return Ok(false);
    }
    match se.unseal_secret(&completed_label(case_id, share_index)) {
        Ok(_) => Ok(true),
        Err(se::Error::NotFound { .. }) => Ok(false),
        Err(e) => Err(e.into()),
    }
}

/// A keygen the manager agreed to, with the case's checked roster.
struct KeygenJob<'a> {
    case_id: Id,
    case_name: &'a str,
    share_index: u8,
    roster: &'a CaseRoster,
}

/// Joins and runs a keygen; `Ok(true)` when the coordinator recorded the key.
async fn keygen(
    conn: &mut Conn,
    config: &ClientConfig,
    se: &Arc<se::OpenSe>,
    certificate: &Certificate,
    job: KeygenJob<'_>,
) -> Result<bool, SessionError> {
    let KeygenJob {
        case_id,
        case_name,
        share_index,
        roster: case_roster,
    } = job;
    say(&format!(
        "keygen of case {case_name}: your share is {share_index}"
    ));
    // Primes first: the other managers should not wait for this client's prime search.
    let primes = crate::primes::take_or_generate(se, &say).await?;
    let slot = se::ShareSlot::new(&case_id.to_string(), u16::from(share_index))
        .map_err(|e| SessionError::Protocol(e.to_string()))?;
    conn.send(&ClientMessage::JoinKeygen { case_id }).await?;
    let session_id = loop {
        match conn.next().await? {
            CoordinatorMessage::Joined {
                session_id,
                ready,
                needed,
            } => {
                say(&format!(
                    "share marked available for keygen session {session_id}; ready: {ready:?} of {needed}"
                ));
                break session_id;
            }
            CoordinatorMessage::Refused { reason, .. } => {
                say(&format!("refused: {reason}"));
                return Ok(false);
            }
            _ => {}
        }
    };
    let Some((roster, runs)) = wait_start(conn, &session_id).await? else {
        return Ok(false);
    };
    let aux = execution_id(RunKind::AuxInfo, &session_id, &case_id, b"");
    let kg = execution_id(RunKind::Keygen, &session_id, &case_id, b"");
    let expected = [
        (RunKind::AuxInfo, aux.as_bytes()),
        (RunKind::Keygen, kg.as_bytes()),
    ];
    if roster != [0, 1, 2]
        || runs.len() != 2
        || runs
            .iter()
            .zip(expected)
            .any(|(r, (kind, eid))| r.kind != kind || r.run != *eid)
    {
        let reason = "the keygen runs are not the ones this client derived".to_owned();
        conn.send(&ClientMessage::Abort {
            session_id,
            reason: reason.clone(),
        })
        .await?;
        return Err(SessionError::Protocol(reason));
    }
    say("keygen started with all three shares: aux info (Paillier keys and proofs), then the key");
    let waits = conn.open_runs(&[*aux.as_bytes(), *kg.as_bytes()]);
    let result = async {
        let mut transports = connect_runs(
            conn,
            &[aux, kg],
            waits,
            (u16::from(share_index), &roster, case_roster),
            se,
            certificate,
            &config.trust,
        )
        .await?
        .into_iter();
        if se.list_shares()?.contains(&slot) {
            // Only a case without a key is offered for keygen, so this is the leftover of a
            // keygen that failed after this SE sealed its share. Removed only now: the case's
            // signed roster names this SE for this share and every peer is on it.
            say("removing the share an unfinished keygen left in this SE");
            se.delete_share(&slot)?;
        }
        let (Some(aux_t), Some(kg_t)) = (transports.next(), transports.next()) else {
            return Err(SessionError::Protocol("missing transports".to_owned()));
        };
        let started = Instant::now();
        let mut progress = move |e: ProgressEvent| {
            if let ProgressEvent::Round {
                protocol, number, ..
            } = e
            {
                say(&format!(
                    "  {protocol} round {number} ({} s)",
                    started.elapsed().as_secs()
                ));
            }
        };
        let outcome = party::keygen_into_se(
            se,
            &slot,
            primes,
            (&aux, aux_t),
            (&kg, kg_t),
            Some(&mut progress),
        )
        .await?;
        Ok(outcome)
    }
    .await;
    conn.close_runs();
    let outcome = match result {
        Ok(o) => o,
        Err(SessionError::Lost(why)) => return Err(SessionError::Lost(why)),
        Err(e) => {
            say(&format!("keygen failed here: {e}"));
            let _ = conn
                .send(&ClientMessage::Abort {
                    session_id,
                    reason: format!("keygen failed on share {share_index}: {e}"),
                })
                .await;
            return wait_end(conn, &session_id).await;
        }
    };
    crate::primes::consume(se)?;
    let address = EthAddress(outcome.address.0);
    say(&format!(
        "share sealed in the SE; public key {}, address {}",
        hex::encode(&outcome.public_key),
        address.to_checksum()
    ));
    let digest = coord::keygen_report_digest(
        &session_id,
        &case_id,
        share_index,
        &outcome.public_key,
        &address,
    );
    let signature = se.sign_digest(&digest)?;
    conn.send(&ClientMessage::KeygenResult {
        session_id,
        public_key: outcome.public_key.clone(),
        address,
        se_signature: signature.to_bytes().to_vec(),
    })
    .await?;
    let completed = wait_end(conn, &session_id).await?;
    if completed {
        // From now on no keygen offer for this case removes the share.
        match se.seal_secret(&completed_label(&case_id, share_index), &outcome.public_key) {
            Ok(()) | Err(se::Error::AlreadySealed { .. }) => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(completed)
}

struct SignJob {
    session_id: Id,
    case_id: Id,
    address: EthAddress,
    share_index: u8,
    reviewed: Vec<Reviewed>,
    roster: CaseRoster,
}

/// Joins a signing session with the manager's approvals and runs one signing per request, in
/// parallel; `Ok(true)` when the coordinator stored every signature.
async fn sign(
    conn: &mut Conn,
    config: &ClientConfig,
    se: &Arc<se::OpenSe>,
    certificate: &Certificate,
    job: SignJob,
) -> Result<bool, SessionError> {
    let SignJob {
        session_id,
        case_id,
        address,
        share_index,
        reviewed,
        roster: case_roster,
    } = job;
    let approvals = reviewed
        .iter()
        .map(|r| Approval {
            request_id: r.request_id,
            signing_hash: r.signing_hash,
        })
        .collect();
    conn.send(&ClientMessage::JoinSigning {
        session_id,
        approvals,
    })
    .await?;
    let Some((roster, runs)) = wait_start(conn, &session_id).await? else {
        return Ok(false);
    };
    // Every run must be one of the approved requests, with the execution id derived here.
    let mut plan = Vec::new();
    for spec in &runs {
        let found = reviewed
            .iter()
            .find(|r| Some(r.request_id) == spec.request_id);
        let ok = found.filter(|r| {
            spec.kind == RunKind::Sign
                && spec.run
                    == *execution_id(RunKind::Sign, &session_id, &case_id, &r.signing_hash)
                        .as_bytes()
        });
        match ok {
            Some(r) => plan.push(r.clone()),
            None => {
                let reason = "a signing run that this manager did not approve".to_owned();
                conn.send(&ClientMessage::Abort {
                    session_id,
                    reason: reason.clone(),
                })
                .await?;
                return Err(SessionError::Protocol(reason));
            }
        }
    }
    if plan.len() != reviewed.len() {
        let reason = "the session does not sign every approved request".to_owned();
        conn.send(&ClientMessage::Abort {
            session_id,
            reason: reason.clone(),
        })
        .await?;
        return Err(SessionError::Protocol(reason));
    }
    say(&format!("signing with shares {roster:?}"));
    let eids: Vec<ExecutionIdBytes> = plan
        .iter()
        .map(|r| execution_id(RunKind::Sign, &session_id, &case_id, &r.signing_hash))
        .collect();
    let run_ids: Vec<RunId> = eids.iter().map(|e| *e.as_bytes()).collect();
    let waits = conn.open_runs(&run_ids);
    let slot = se::ShareSlot::new(&case_id.to_string(), u16::from(share_index))
        .map_err(|e| SessionError::Protocol(e.to_string()))?;
    let result = async {
        let transports = connect_runs(
            conn,
            &eids,
            waits,
            (u16::from(share_index), &roster, &case_roster),
            se,
            certificate,
            &config.trust,
        )
        .await?;
        let signers = SignerSet::new(&roster).map_err(party::Error::from)?;
        let mut tasks = Vec::new();
        for ((transport, eid), r) in transports.into_iter().zip(&eids).zip(&plan) {
            let (se, slot, signers, eid, hash) =
                (se.clone(), slot.clone(), signers, *eid, r.signing_hash);
            tasks.push(tokio::spawn(async move {
                party::sign_with_se(&se, &slot, &signers, &eid, &hash, transport).await
            }));
        }
        let mut signatures = Vec::new();
        for t in tasks {
            signatures.push(
                t.await
                    .map_err(|e| SessionError::Protocol(format!("signing task: {e}")))??,
            );
        }
        Ok(signatures)
    }
    .await;
    conn.close_runs();
    let signatures = match result {
        Ok(s) => s,
        Err(SessionError::Lost(why)) => return Err(SessionError::Lost(why)),
        Err(e) => {
            say(&format!("signing failed here: {e}"));
            let _ = conn
                .send(&ClientMessage::Abort {
                    session_id,
                    reason: format!("signing failed on share {share_index}: {e}"),
                })
                .await;
            return wait_end(conn, &session_id).await;
        }
    };
    for ((sig, eid), r) in signatures.iter().zip(&run_ids).zip(&plan) {
        // Checked here, before it leaves this PC: the signature recovers to the case address.
        let recovered = alloy_primitives::Signature::new(
            alloy_primitives::U256::from_be_bytes(sig.r),
            alloy_primitives::U256::from_be_bytes(sig.s),
            sig.y_parity,
        )
        .recover_address_from_prehash(&alloy_primitives::B256::from(r.signing_hash))
        .map_err(|e| SessionError::Protocol(format!("signature does not recover: {e}")))?;
        if recovered.0 .0 != address.0 {
            let reason = format!("the signature recovers to {recovered}, not to the case address");
            conn.send(&ClientMessage::Abort {
                session_id,
                reason: reason.clone(),
            })
            .await?;
            return Err(SessionError::Protocol(reason));
        }
        say(&format!(
            "request {}: signed (r=0x{}…), recovers to {}",
            r.request_id,
            &hex::encode(sig.r)[..8],
            address.to_checksum()
        ));
        conn.send(&ClientMessage::SignResult {
            session_id,
            run: *eid,
            r: sig.r,
            s: sig.s,
            y_parity: sig.y_parity,
        })
        .await?;
    }
    wait_end(conn, &session_id).await
}
