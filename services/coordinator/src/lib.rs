//! The offline zone's coordinator (DESIGN.md §3, §8, §9, §11; issue 4).
//!
//! It is the server end of the managers' clients and nothing more: it never holds a key share,
//! a PIN or a plaintext round message. What it does, over core NATS (the protocol is in
//! `contracts::coord`):
//!
//! 1. **Handshake** ([`handshake`]): a client's SE and the HSM's channel key run the SIGMA
//!    handshake of `crates/channel`. The coordinator checks the SE certificate against the
//!    offline CA, that the SE is registered with that identity key and ACTIVE, and that the
//!    user exists and is an ACTIVE case manager. The channel is recorded in `secure_channels`.
//! 2. **Joining** ([`Coordinator`]): a manager asks for their work (from the current key-share
//!    table: this user AND this SE hold the share), joins a keygen or a signing session; the
//!    coordinator marks the share READY in `session_participants` (and emits
//!    `custody.share.available`). A signing join must carry the manager's approval of every
//!    request's signing hash.
//! 3. **Runs**: keygen starts when all three shares are ready (aux info, then keygen), signing
//!    when two are (one full cggmp21 run per request, in parallel; no presignatures). Each run
//!    has its own execution id, derived as the clients derive it. The coordinator collects the
//!    clients' SE-signed E2E announcements, hands every participant the set, and relays round
//!    messages, which are end-to-end encrypted between the clients, inside each client's AEAD
//!    channel.
//! 4. **Results**: keygen is recorded only when all three clients report the same public key,
//!    each report signed by its SE; the case gets its key and address and the key-share rows
//!    their public key in one transaction (`Db::finish_keygen`). A signature is rebuilt into
//!    the signed transaction and must recover to the case address before it is stored.
//! 5. **Faults**: a client that stops answering (no authentic frame within the idle timeout), a
//!    run past its deadline, a decline or a bad result fail the session with the reason;
//!    nothing of it is stored. A frame that fails authentication (junk, forged, replayed,
//!    reordered) is dropped and counted, never fatal: the channel's sequence only advances on
//!    authentic frames, so anyone who can publish on a channel's subject cannot end it. An
//!    authentic frame that does not decode is the client's own fault and ends its channel. A failed
//!    signing session is replaced by a new PENDING one for the same requests (fresh execution
//!    ids), so managers can retry until the request expires; a failed keygen is retried by
//!    joining again.

mod callout;
mod handshake;
mod live;

use std::collections::HashMap;
use std::future::Future;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bus::Clock;
use chrono::{DateTime, Utc};
use contracts::coord::{self, ClientMessage, CoordinatorMessage};
use contracts::{subjects, Id};
use futures::StreamExt;
use offline_db::Db;
use secrecy::SecretString;
use tokio::sync::Mutex;

pub use callout::{CalloutError, ChannelLogins, CHANNEL_ACCOUNT};
pub use live::Timeouts;

/// Where the coordinator finds its database, NATS and HSM.
#[derive(Debug)]
pub struct Config {
    /// `sqlite://path?mode=rwc` or `postgres://…`.
    pub db_url: String,
    /// How often the HSM checkpoints the audit log (the coordinator's records are sealed by
    /// the HSM it opens).
    pub checkpoint_policy: audit::CheckpointPolicy,
    /// `nats://host:port`.
    pub nats_url: String,
    /// The NATS user, its password file and the server's CA (none: no credentials).
    pub nats_access: bus::NatsAccess,
    /// The PKCS#11 module of the HSM.
    pub hsm_module: PathBuf,
    /// The HSM token's label.
    pub hsm_token_label: String,
    /// The HSM user PIN.
    pub hsm_pin: SecretString,
    /// Run, idle and handshake timeouts.
    pub timeouts: Timeouts,
    /// The NATS callout issuer's seed file: with it the coordinator serves channel logins
    /// (the zone's NATS configuration has `auth_callout`), and clients use their channel's
    /// subjects only through them; without it the handshake connection uses them.
    pub nats_callout_seed_file: Option<PathBuf>,
}

/// Why the coordinator could not start.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The database could not be opened or migrated.
    #[error("coordinator: {0}")]
    Db(#[from] offline_db::Error),
    /// NATS could not be reached.
    #[error("coordinator: {0}")]
    Bus(#[from] bus::Error),
    /// A NATS subscription failed.
    #[error("coordinator: NATS subscription failed: {0}")]
    Subscribe(String),
    /// The HSM could not be opened.
    #[error("coordinator: {0}")]
    Hsm(#[from] hsm::Error),
    /// The PKCS#11 module could not be loaded.
    #[error("coordinator: {0}")]
    P11(#[from] p11::Error),
    /// A background task failed.
    #[error("coordinator: {0}")]
    Task(String),
    /// The NATS callout issuer could not be read.
    #[error("coordinator: {0}")]
    Callout(#[from] CalloutError),
}

/// Run the coordinator on the system clock until `shutdown` completes.
pub async fn run(config: Config, shutdown: impl Future<Output = ()>) -> Result<(), Error> {
    // The secret files are read before anything else, so a wrong setting is named at once.
    let bus_options = config.nats_access.apply(bus::BusOptions {
        name: "custody-coordinator".to_owned(),
        ..bus::BusOptions::default()
    })?;
    let logins = config
        .nats_callout_seed_file
        .as_deref()
        .map(ChannelLogins::from_seed_file)
        .transpose()?;
    let (module, label, pin) = (
        config.hsm_module.clone(),
        config.hsm_token_label.clone(),
        config.hsm_pin.clone(),
    );
    let hsm = tokio::task::spawn_blocking(move || -> Result<hsm::Hsm, Error> {
        let module = p11::Module::load(&module)?;
        Ok(hsm::Hsm::open(
            &module,
            &hsm::TokenSelector::Label(label),
            &pin,
        )?)
    })
    .await
    .map_err(|e| Error::Task(e.to_string()))??;
    let db = Db::connect(
        &config.db_url,
        offline_db::sealer(&hsm, config.checkpoint_policy),
    )
    .await?;
    let bus = bus::Bus::connect(&config.nats_url, bus_options).await?;
    let mut coordinator = Coordinator::new(
        db,
        hsm,
        bus.client().clone(),
        Arc::new(bus::SystemClock),
        config.timeouts,
    );
    if let Some(logins) = logins {
        coordinator = coordinator.with_channel_logins(logins);
    }
    coordinator.serve(shutdown).await
}

/// One established channel: who is on the other end and the channel's keys.
pub(crate) struct Chan {
    pub(crate) id: Id,
    pub(crate) user_id: String,
    pub(crate) se_id: String,
    pub(crate) se_key: p256::PublicKey,
    /// Sealing and opening share the channel's sequence state; sealing and publishing happen
    /// under this lock so frames leave in sequence order.
    pub(crate) channel: Mutex<channel::SecureChannel>,
    pub(crate) last_seen: std::sync::Mutex<Instant>,
    /// The session this channel takes part in, if any.
    pub(crate) session: std::sync::Mutex<Option<String>>,
    /// Frames on this channel's subject that failed authentication (dropped).
    pub(crate) rejected: AtomicU64,
}

/// The coordinator: cheap to clone (shared state).
#[derive(Clone)]
pub struct Coordinator {
    pub(crate) inner: Arc<Inner>,
}

pub(crate) struct Inner {
    pub(crate) db: Db,
    pub(crate) hsm: hsm::Hsm,
    pub(crate) nats: async_nats::Client,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) timeouts: Timeouts,
    pub(crate) pending: std::sync::Mutex<HashMap<Id, handshake::Pending>>,
    pub(crate) channels: std::sync::Mutex<HashMap<Id, Arc<Chan>>>,
    pub(crate) sessions: Mutex<HashMap<String, live::Live>>,
    /// Frames dropped because they failed authentication, on every channel since start.
    pub(crate) rejected_frames: AtomicU64,
    /// Hellos answered, per claimed user and in all (a Hello costs an HSM signature).
    pub(crate) hello_limit: std::sync::Mutex<handshake::HelloLimit>,
    /// The NATS callout issuer, when the coordinator serves channel logins.
    pub(crate) logins: std::sync::OnceLock<Arc<ChannelLogins>>,
}

impl Coordinator {
    /// A coordinator over an open database, HSM and NATS connection.
    pub fn new(
        db: Db,
        hsm: hsm::Hsm,
        nats: async_nats::Client,
        clock: Arc<dyn Clock>,
        timeouts: Timeouts,
    ) -> Self {
        Self {
            inner: Arc::new(Inner {
                db,
                hsm,
                nats,
                clock,
                timeouts,
                pending: std::sync::Mutex::new(HashMap::new()),
                channels: std::sync::Mutex::new(HashMap::new()),
                sessions: Mutex::new(HashMap::new()),
                rejected_frames: AtomicU64::new(0),
                hello_limit: std::sync::Mutex::new(handshake::HelloLimit::default()),
                logins: std::sync::OnceLock::new(),
            }),
        }
    }

    /// Serve channel logins as the NATS server's authorization callout with this issuer
    /// (set before [`Coordinator::serve`]; a second issuer is ignored).
    pub fn with_channel_logins(self, logins: ChannelLogins) -> Self {
        if self.inner.logins.set(Arc::new(logins)).is_err() {
            tracing::warn!("channel logins were already configured; the first issuer stays");
        }
        self
    }

    pub(crate) fn now(&self) -> DateTime<Utc> {
        DateTime::<Utc>::from(self.inner.clock.now())
    }

    pub(crate) fn unix_now(&self) -> u64 {
        u64::try_from(self.now().timestamp()).unwrap_or(0)
    }

    /// Serve handshakes and channel frames until `shutdown` completes.
    pub async fn serve(&self, shutdown: impl Future<Output = ()>) -> Result<(), Error> {
        let nats = &self.inner.nats;
        let mut handshakes = nats
            .subscribe(subjects::CHANNEL_HANDSHAKE)
            .await
            .map_err(|e| Error::Subscribe(e.to_string()))?;
        let mut ups = nats
            .subscribe(coord::CHANNEL_UP_WILDCARD)
            .await
            .map_err(|e| Error::Subscribe(e.to_string()))?;
        let logins = self.inner.logins.get().cloned();
        let mut auths: futures::stream::BoxStream<'static, async_nats::Message> = match &logins {
            Some(_) => nats
                .subscribe(subjects::AUTH_CALLOUT)
                .await
                .map_err(|e| Error::Subscribe(e.to_string()))?
                .boxed(),
            None => futures::stream::pending().boxed(),
        };
        // Make sure the server has the subscriptions before anyone is told we are up.
        nats.flush()
            .await
            .map_err(|e| Error::Subscribe(e.to_string()))?;
        self.fail_orphans().await;
        tracing::info!("coordinator ready");
        tokio::pin!(shutdown);
        let mut tick = tokio::time::interval(Duration::from_millis(500));
        loop {
            tokio::select! {
                () = &mut shutdown => break,
                Some(msg) = handshakes.next() => {
                    let me = self.clone();
                    tokio::spawn(async move { me.on_handshake(msg).await });
                }
                Some(msg) = ups.next() => self.on_up(msg).await,
                Some(msg) = auths.next() => {
                    if let Some(logins) = logins.clone() {
                        let me = self.clone();
                        tokio::spawn(async move { me.on_auth(&logins, msg).await });
                    }
                }
                _ = tick.tick() => self.watchdog().await,
            }
        }
        Ok(())
    }

    /// One upward frame: authenticate it with its channel, then act on the message.
    async fn on_up(&self, msg: async_nats::Message) {
        let Some(chan) = self.channel_of(msg.subject.as_str()) else {
            tracing::debug!(subject = %msg.subject, "frame for an unknown channel dropped");
            return;
        };
        let opened = {
            let frame = channel::Frame::from_bytes(&msg.payload);
            let mut ch = chan.channel.lock().await;
            frame.and_then(|f| ch.open(&f))
        };
        let plain = match opened {
            Ok(p) => p,
            Err(e) => {
                // Junk, a replay, a forgery or a frame out of order: dropped and counted. The
                // channel's receive sequence did not move, so the client's next authentic frame
                // is still accepted; a client that really lost a frame goes silent and the
                // idle timeout ends its channel.
                let n = chan.rejected.fetch_add(1, Ordering::Relaxed) + 1;
                self.inner.rejected_frames.fetch_add(1, Ordering::Relaxed);
                if n.is_power_of_two() {
                    tracing::warn!(
                        channel = %chan.id,
                        error = %e,
                        rejected = n,
                        "unauthenticated frame dropped"
                    );
                }
                return;
            }
        };
        if let Ok(mut seen) = chan.last_seen.lock() {
            *seen = Instant::now();
        }
        let message = match coord::decode::<ClientMessage>(&plain, "client message") {
            Ok(m) => m,
            Err(e) => {
                let reason = format!("an undecodable message on channel {}: {e}", chan.id);
                self.drop_channel(&chan, Some(&reason)).await;
                return;
            }
        };
        self.handle(&chan, message).await;
    }

    /// Frames dropped since start because they failed authentication (all channels).
    pub fn rejected_frames(&self) -> u64 {
        self.inner.rejected_frames.load(Ordering::Relaxed)
    }

    fn channel_of(&self, subject: &str) -> Option<Arc<Chan>> {
        let id = subject
            .strip_prefix("custody.channel.")?
            .strip_suffix(".up")?;
        let id = Id::parse(id).ok()?;
        self.inner.channels.lock().ok()?.get(&id).cloned()
    }

    /// Seal `message` for `chan` and publish it on its down subject.
    pub(crate) async fn send(&self, chan: &Chan, message: &CoordinatorMessage) {
        let bytes = match coord::encode(message) {
            Ok(b) => b,
            Err(e) => {
                tracing::error!(error = %e, "could not encode a coordinator message");
                return;
            }
        };
        let mut ch = chan.channel.lock().await;
        let frame = match ch.seal(&bytes).and_then(|f| f.to_bytes()) {
            Ok(f) => f,
            Err(e) => {
                tracing::error!(channel = %chan.id, error = %e, "could not seal a frame");
                return;
            }
        };
        if let Err(e) = self
            .inner
            .nats
            .publish(coord::channel_down(&chan.id), frame.into())
            .await
        {
            tracing::warn!(channel = %chan.id, error = %e, "could not publish a frame");
        }
    }

    pub(crate) fn chan(&self, id: &Id) -> Option<Arc<Chan>> {
        self.inner.channels.lock().ok()?.get(id).cloned()
    }

    /// Forget a channel (closed by the client, silent, or compromised) and fail the session it
    /// was running in.
    pub(crate) async fn drop_channel(&self, chan: &Chan, failure: Option<&str>) {
        let removed = self
            .inner
            .channels
            .lock()
            .ok()
            .and_then(|mut m| m.remove(&chan.id));
        if removed.is_none() {
            return;
        }
        let rejected = chan.rejected.load(Ordering::Relaxed);
        if rejected > 0 {
            tracing::info!(channel = %chan.id, rejected, "channel closed; unauthenticated frames were dropped on it");
        }
        let now = self.now();
        if let Err(e) = self
            .inner
            .db
            .close_channel(&chan.id.to_string(), failure, now)
            .await
        {
            tracing::warn!(channel = %chan.id, error = %e, "could not record the channel's end");
        }
        let session = chan.session.lock().ok().and_then(|s| s.clone());
        if let Some(session) = session {
            let reason = match failure {
                Some(why) => format!("a participant's channel failed: {why}"),
                None => "a participant logged out during the session".to_owned(),
            };
            self.leave_session(&session, chan, &reason).await;
        }
    }

    /// Liveness and deadlines: silent channels are dropped, overdue runs fail.
    async fn watchdog(&self) {
        let idle = self.inner.timeouts.idle;
        let silent: Vec<Arc<Chan>> = self
            .inner
            .channels
            .lock()
            .map(|m| {
                m.values()
                    .filter(|c| {
                        c.last_seen
                            .lock()
                            .map(|t| t.elapsed() > idle)
                            .unwrap_or(true)
                    })
                    .cloned()
                    .collect()
            })
            .unwrap_or_default();
        for chan in silent {
            let reason = format!("no message from the client for {} s", idle.as_secs());
            tracing::info!(channel = %chan.id, "channel silent; dropping it");
            self.drop_channel(&chan, Some(&reason)).await;
        }
        let cutoff = Instant::now();
        self.inner
            .pending
            .lock()
            .map(|mut p| p.retain(|_, h| h.deadline > cutoff))
            .ok();
        self.overdue_runs().await;
    }

    async fn handle(&self, chan: &Arc<Chan>, message: ClientMessage) {
        match message {
            ClientMessage::Ping => self.send(chan, &CoordinatorMessage::Pong).await,
            ClientMessage::Bye => self.drop_channel(chan, None).await,
            ClientMessage::ListWork => self.list_work(chan).await,
            ClientMessage::JoinKeygen { case_id } => self.join_keygen(chan, case_id).await,
            ClientMessage::JoinSigning {
                session_id,
                approvals,
            } => self.join_signing(chan, session_id, approvals).await,
            ClientMessage::Announce { run, announcement } => {
                self.announce(chan, run, announcement).await
            }
            ClientMessage::Round {
                run,
                from,
                to,
                payload,
            } => self.relay(chan, run, from, to, payload).await,
            ClientMessage::KeygenResult {
                session_id,
                public_key,
                address,
                se_signature,
            } => {
                self.keygen_result(chan, session_id, public_key, address, se_signature)
                    .await
            }
            ClientMessage::SignResult {
                session_id,
                run,
                r,
                s,
                y_parity,
            } => {
                self.sign_result(chan, session_id, run, r, s, y_parity)
                    .await
            }
            ClientMessage::Abort { session_id, reason } => {
                let sid = session_id.to_string();
                let mine = chan.session.lock().ok().and_then(|s| s.clone());
                let user = chan.user_id.clone();
                if mine.as_deref() == Some(sid.as_str()) {
                    self.fail(&sid, &format!("manager {user} aborted: {reason}"))
                        .await;
                } else if self.may_decline(chan, &sid).await {
                    // A manager declining before joining (the review failed, or the request
                    // is not what they approved) ends the session visibly.
                    self.fail(&sid, &format!("manager {user} declined: {reason}"))
                        .await;
                } else {
                    // The session already ended (its failure crossed the abort on the way).
                    tracing::debug!(session = %sid, "abort for a session that already ended");
                }
            }
        }
    }
}
