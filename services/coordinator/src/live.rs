//! Sessions in progress: joining, starting runs, relaying rounds, results and failures.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use alloy_primitives::U256;
use contracts::coord::{Approval, CoordinatorMessage, RunId, RunKind, RunSpec, SignItem, WorkItem};
use contracts::{EthAddress, Id, SignatureResponse};
use offline_db::{RetrySession, SessionKind, SessionStatus, Work};
use p256::ecdsa::signature::hazmat::PrehashVerifier;
use serde_json::json;
use tss::ExecutionIdBytes;

use crate::{Chan, Coordinator};

/// The actor the coordinator writes audit records as.
pub const ACTOR: &str = "service:coordinator";

/// How long the coordinator waits for what.
#[derive(Clone, Debug)]
pub struct Timeouts {
    /// A handshake's second flight must arrive within this.
    pub handshake: Duration,
    /// A client that sends nothing (clients ping every few seconds) for this long is gone.
    pub idle: Duration,
    /// Aux info + keygen must finish within this once started.
    pub keygen_run: Duration,
    /// A signing session's runs must finish within this once started.
    pub sign_run: Duration,
    /// How long a keygen session waits for its three managers.
    pub keygen_session: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Self {
            handshake: Duration::from_secs(30),
            idle: Duration::from_secs(30),
            keygen_run: Duration::from_secs(20 * 60),
            sign_run: Duration::from_secs(5 * 60),
            keygen_session: Duration::from_secs(24 * 3600),
        }
    }
}

/// A session the coordinator is working on.
pub(crate) struct Live {
    kind: SessionKind,
    case_id: String,
    /// The case address (signing sessions).
    address: Option<EthAddress>,
    /// Share index → channel, for the shares marked READY through a live channel.
    ready: BTreeMap<u16, Id>,
    started: Option<Started>,
}

struct Started {
    /// Share index of each run position.
    roster: Vec<u16>,
    runs: Vec<Run>,
    deadline: Instant,
    /// What the operators are shown (`session_protocol.progress`).
    phase: &'static str,
    /// Keygen reports by share index: public key and address.
    reports: BTreeMap<u16, (Vec<u8>, EthAddress)>,
}

struct Run {
    spec: RunSpec,
    /// Announcements by run position.
    announcements: BTreeMap<u16, Vec<u8>>,
    /// For signing: the request row, its unsigned transaction and whether it is signed.
    request: Option<RequestRun>,
}

struct RequestRun {
    row_id: String,
    unsigned_tx: Vec<u8>,
    signed: Option<([u8; 32], [u8; 32], bool)>,
}

fn refused(session_id: Option<Id>, reason: impl Into<String>) -> CoordinatorMessage {
    CoordinatorMessage::Refused {
        session_id,
        reason: reason.into(),
    }
}

fn parse_id(text: &str) -> Option<Id> {
    Id::parse(text).ok()
}

/// The execution id of a run, derived exactly as the clients derive it.
pub fn execution_id(kind: RunKind, session_id: &str, case_id: &str, message: &[u8]) -> RunId {
    let kind = match kind {
        RunKind::AuxInfo => tss::RunKind::AuxInfo,
        RunKind::Keygen => tss::RunKind::Keygen,
        RunKind::Sign => tss::RunKind::Sign,
    };
    *ExecutionIdBytes::derive(kind, session_id.as_bytes(), case_id.as_bytes(), message).as_bytes()
}

/// The case's HSM-signed roster as stored. The coordinator only carries it: the clients verify
/// it under the key they pin and refuse work without a valid one.
fn stored_roster(case: &offline_db::entity::cases::Model) -> Option<contracts::CaseRoster> {
    let bytes = case.roster.as_deref()?;
    match contracts::CaseRoster::from_bytes(bytes) {
        Ok(roster) => Some(roster),
        Err(e) => {
            tracing::warn!(case = %case.id, error = %e, "the stored case roster does not decode");
            None
        }
    }
}

fn normalise_hash(text: &str) -> String {
    text.trim_start_matches("0x").to_ascii_lowercase()
}

impl Coordinator {
    fn current_session(chan: &Chan) -> Option<String> {
        chan.session.lock().ok().and_then(|s| s.clone())
    }

    fn set_session(chan: &Chan, session: Option<String>) {
        if let Ok(mut s) = chan.session.lock() {
            *s = session;
        }
    }

    pub(crate) async fn list_work(&self, chan: &Chan) {
        let reply = match self.work_items(chan).await {
            Ok(items) => CoordinatorMessage::Work { items },
            Err(e) => refused(None, e),
        };
        self.send(chan, &reply).await;
    }

    async fn work_items(&self, chan: &Chan) -> Result<Vec<WorkItem>, String> {
        let work = self
            .inner
            .db
            .work_for(&chan.user_id, &chan.se_id, self.now())
            .await
            .map_err(|e| e.to_string())?;
        let mut items = Vec::new();
        for w in work {
            match w {
                Work::Keygen { case, share_index } => {
                    let (Some(case_id), Ok(share_index)) =
                        (parse_id(&case.id), u8::try_from(share_index))
                    else {
                        continue;
                    };
                    let roster = stored_roster(&case);
                    items.push(WorkItem::Keygen {
                        case_id,
                        case_name: case.name,
                        share_index,
                        roster,
                    });
                }
                Work::Sign {
                    session,
                    case,
                    share_index,
                    requests,
                } => {
                    let address = case
                        .address
                        .as_deref()
                        .and_then(|a| EthAddress::parse(a).ok());
                    let (Some(session_id), Some(case_id), Some(address), Ok(share_index)) = (
                        parse_id(&session.id),
                        parse_id(&case.id),
                        address,
                        u8::try_from(share_index),
                    ) else {
                        continue;
                    };
                    let requests = requests
                        .into_iter()
                        .filter_map(|r| {
                            Some(SignItem {
                                request_id: parse_id(&r.request_id)?,
                                envelope: r.envelope?,
                            })
                        })
                        .collect();
                    let roster = stored_roster(&case);
                    items.push(WorkItem::Sign {
                        session_id,
                        case_id,
                        case_name: case.name,
                        address,
                        share_index,
                        expires_at: session
                            .expires_at
                            .map(|t| u64::try_from(t.timestamp()).unwrap_or(0))
                            .unwrap_or(0),
                        requests,
                        roster,
                    });
                }
            }
        }
        Ok(items)
    }

    /// Record where a running session is, for the operators' progress view.
    async fn progress(&self, sid: &str, phase: &str) {
        if let Err(e) = self.inner.db.set_progress(sid, phase, self.now()).await {
            tracing::warn!(session = sid, error = %e, "could not record progress");
        }
    }

    /// Whether `chan`'s manager is offered signing session `sid` (and so may decline it).
    pub(crate) async fn may_decline(&self, chan: &Chan, sid: &str) -> bool {
        self.inner
            .db
            .work_for(&chan.user_id, &chan.se_id, self.now())
            .await
            .map(|work| {
                work.iter()
                    .any(|w| matches!(w, Work::Sign { session, .. } if session.id == sid))
            })
            .unwrap_or(false)
    }

    pub(crate) async fn join_keygen(&self, chan: &Arc<Chan>, case_id: Id) {
        match self.try_join_keygen(chan, &case_id).await {
            Ok(session_id) => self.after_join(chan, &session_id, 3).await,
            Err(reason) => self.send(chan, &refused(None, reason)).await,
        }
    }

    async fn try_join_keygen(&self, chan: &Chan, case_id: &Id) -> Result<String, String> {
        if let Some(s) = Self::current_session(chan) {
            return Err(format!("this client is already in session {s}"));
        }
        let now = self.now();
        let db = &self.inner.db;
        let work = db
            .work_for(&chan.user_id, &chan.se_id, now)
            .await
            .map_err(|e| e.to_string())?;
        let case_text = case_id.to_string();
        let share_index = work
            .iter()
            .find_map(|w| match w {
                Work::Keygen { case, share_index } if case.id == case_text => Some(*share_index),
                _ => None,
            })
            .ok_or_else(|| {
                format!(
                    "case {case_id} is not waiting for a keygen with a share held by this user in this SE"
                )
            })?;
        let session_id = offline_db::new_id(now);
        let eid = execution_id(RunKind::Keygen, &session_id, &case_text, b"");
        let expires = now
            + chrono::Duration::from_std(self.inner.timeouts.keygen_session)
                .unwrap_or(chrono::Duration::hours(24));
        let (session, _created) = db
            .open_keygen_session(
                &case_text,
                &session_id,
                &hex::encode(eid),
                expires,
                &chan.user_id,
                now,
            )
            .await
            .map_err(|e| e.to_string())?;
        db.mark_ready(
            &session.id,
            share_index,
            &chan.user_id,
            &chan.se_id,
            &chan.id.to_string(),
            now,
        )
        .await
        .map_err(|e| e.to_string())?;
        let index = u16::try_from(share_index).map_err(|_| "bad share index".to_owned())?;
        let mut sessions = self.inner.sessions.lock().await;
        let live = sessions.entry(session.id.clone()).or_insert_with(|| Live {
            kind: SessionKind::Keygen,
            case_id: case_text.clone(),
            address: None,
            ready: BTreeMap::new(),
            started: None,
        });
        live.ready.insert(index, chan.id);
        Self::set_session(chan, Some(session.id.clone()));
        Ok(session.id)
    }

    pub(crate) async fn join_signing(
        &self,
        chan: &Arc<Chan>,
        session_id: Id,
        approvals: Vec<Approval>,
    ) {
        match self.try_join_signing(chan, &session_id, &approvals).await {
            Ok(()) => self.after_join(chan, &session_id.to_string(), 2).await,
            Err((reason, fail)) => {
                if fail {
                    self.fail(&session_id.to_string(), &reason).await;
                }
                self.send(chan, &refused(Some(session_id), reason)).await;
            }
        }
    }

    /// Joins a signing session; the error says whether the session must fail (a manager
    /// approving something else than what the session signs is not a mere refusal).
    async fn try_join_signing(
        &self,
        chan: &Chan,
        session_id: &Id,
        approvals: &[Approval],
    ) -> Result<(), (String, bool)> {
        if let Some(s) = Self::current_session(chan) {
            return Err((format!("this client is already in session {s}"), false));
        }
        let now = self.now();
        let db = &self.inner.db;
        let work = db
            .work_for(&chan.user_id, &chan.se_id, now)
            .await
            .map_err(|e| (e.to_string(), false))?;
        let sid = session_id.to_string();
        let (case, share_index, requests) = work
            .into_iter()
            .find_map(|w| match w {
                Work::Sign {
                    session,
                    case,
                    share_index,
                    requests,
                } if session.id == sid => Some((case, share_index, requests)),
                _ => None,
            })
            .ok_or_else(|| {
                (
                    format!(
                        "session {sid} is not waiting for a share held by this user in this SE"
                    ),
                    false,
                )
            })?;
        for request in &requests {
            let approved = approvals
                .iter()
                .find(|a| a.request_id.to_string() == request.request_id);
            match approved {
                Some(a) if hex::encode(a.signing_hash) == normalise_hash(&request.tx_hash) => {}
                Some(a) => {
                    return Err((
                        format!(
                            "manager {} approved hash 0x{} for request {}, but its signing hash is 0x{}",
                            chan.user_id,
                            hex::encode(a.signing_hash),
                            request.request_id,
                            normalise_hash(&request.tx_hash)
                        ),
                        true,
                    ))
                }
                None => {
                    return Err((
                        format!("request {} of the session was not approved", request.request_id),
                        false,
                    ))
                }
            }
        }
        let address = case
            .address
            .as_deref()
            .and_then(|a| EthAddress::parse(a).ok())
            .ok_or_else(|| (format!("case {} has no address", case.name), false))?;
        db.mark_ready(
            &sid,
            share_index,
            &chan.user_id,
            &chan.se_id,
            &chan.id.to_string(),
            now,
        )
        .await
        .map_err(|e| (e.to_string(), false))?;
        let index =
            u16::try_from(share_index).map_err(|_| ("bad share index".to_owned(), false))?;
        let mut sessions = self.inner.sessions.lock().await;
        let live = sessions.entry(sid.clone()).or_insert_with(|| Live {
            kind: SessionKind::Sign,
            case_id: case.id.clone(),
            address: Some(address),
            ready: BTreeMap::new(),
            started: None,
        });
        live.ready.insert(index, chan.id);
        Self::set_session(chan, Some(sid));
        Ok(())
    }

    /// Tell the joiner where the session stands and start it once enough shares are ready.
    async fn after_join(&self, chan: &Chan, session_id: &str, needed: usize) {
        let (ready, start) = {
            let sessions = self.inner.sessions.lock().await;
            match sessions.get(session_id) {
                Some(live) => (
                    live.ready
                        .keys()
                        .filter_map(|k| u8::try_from(*k).ok())
                        .collect::<Vec<_>>(),
                    live.started.is_none() && live.ready.len() >= needed,
                ),
                None => (Vec::new(), false),
            }
        };
        if let Some(sid) = parse_id(session_id) {
            self.send(
                chan,
                &CoordinatorMessage::Joined {
                    session_id: sid,
                    ready,
                    needed: u8::try_from(needed).unwrap_or(u8::MAX),
                },
            )
            .await;
        }
        if start {
            if let Err(reason) = self.start(session_id, needed).await {
                self.fail(session_id, &reason).await;
            }
        }
    }

    async fn start(&self, session_id: &str, needed: usize) -> Result<(), String> {
        let db = &self.inner.db;
        let mut sessions = self.inner.sessions.lock().await;
        let live = sessions
            .get_mut(session_id)
            .ok_or_else(|| "the session is gone".to_owned())?;
        if live.started.is_some() {
            return Ok(());
        }
        let roster: Vec<u16> = live.ready.keys().copied().take(needed).collect();
        let mut runs = Vec::new();
        let mut db_runs = Vec::new();
        match live.kind {
            SessionKind::Keygen => {
                for kind in [RunKind::AuxInfo, RunKind::Keygen] {
                    runs.push(Run {
                        spec: RunSpec {
                            run: execution_id(kind, session_id, &live.case_id, b""),
                            kind,
                            request_id: None,
                        },
                        announcements: BTreeMap::new(),
                        request: None,
                    });
                }
            }
            SessionKind::Sign => {
                let detail = db
                    .session_detail(session_id)
                    .await
                    .map_err(|e| e.to_string())?;
                for (_, request) in detail.requests {
                    let hash = hex::decode(normalise_hash(&request.tx_hash))
                        .map_err(|_| format!("request {} has a bad hash", request.request_id))?;
                    let unsigned_tx = request
                        .decoded
                        .get("unsigned_tx")
                        .and_then(|v| v.as_str())
                        .and_then(|h| hex::decode(h).ok())
                        .ok_or_else(|| {
                            format!("request {} has no unsigned transaction", request.request_id)
                        })?;
                    let eid = execution_id(RunKind::Sign, session_id, &live.case_id, &hash);
                    db_runs.push((request.id.clone(), hex::encode(eid)));
                    runs.push(Run {
                        spec: RunSpec {
                            run: eid,
                            kind: RunKind::Sign,
                            request_id: parse_id(&request.request_id),
                        },
                        announcements: BTreeMap::new(),
                        request: Some(RequestRun {
                            row_id: request.id,
                            unsigned_tx,
                            signed: None,
                        }),
                    });
                }
            }
        }
        let roster_i32: Vec<i32> = roster.iter().map(|i| i32::from(*i)).collect();
        db.start_session(session_id, &roster_i32, &db_runs, self.now())
            .await
            .map_err(|e| e.to_string())?;
        let deadline = Instant::now()
            + match live.kind {
                SessionKind::Keygen => self.inner.timeouts.keygen_run,
                SessionKind::Sign => self.inner.timeouts.sign_run,
            };
        let specs: Vec<RunSpec> = runs.iter().map(|r| r.spec.clone()).collect();
        let members: Vec<Id> = roster
            .iter()
            .filter_map(|i| live.ready.get(i).copied())
            .collect();
        let extra: Vec<Id> = live
            .ready
            .iter()
            .filter(|(i, _)| !roster.contains(i))
            .map(|(_, c)| *c)
            .collect();
        let phase = match live.kind {
            SessionKind::Keygen => "aux_info",
            SessionKind::Sign => "signing",
        };
        live.started = Some(Started {
            roster: roster.clone(),
            runs,
            deadline,
            phase,
            reports: BTreeMap::new(),
        });
        drop(sessions);
        tracing::info!(session = session_id, ?roster, "session started");
        if phase == "aux_info" {
            self.progress(session_id, phase).await;
        }
        let Some(sid) = parse_id(session_id) else {
            return Err("bad session id".to_owned());
        };
        let start = CoordinatorMessage::Start {
            session_id: sid,
            roster: roster.clone(),
            runs: specs,
        };
        for c in members {
            if let Some(chan) = self.chan(&c) {
                self.send(&chan, &start).await;
            }
        }
        for c in extra {
            if let Some(chan) = self.chan(&c) {
                Self::set_session(&chan, None);
                let why = format!("not needed: shares {roster:?} are signing this session");
                self.send(&chan, &refused(Some(sid), why)).await;
            }
        }
        Ok(())
    }

    /// The run position of `chan` in its started session, with the session id.
    async fn position(&self, chan: &Chan) -> Option<(String, u16)> {
        let sid = Self::current_session(chan)?;
        let sessions = self.inner.sessions.lock().await;
        let live = sessions.get(&sid)?;
        let started = live.started.as_ref()?;
        let (index, _) = live.ready.iter().find(|(_, c)| **c == chan.id)?;
        let pos = started.roster.iter().position(|i| i == index)?;
        Some((sid, u16::try_from(pos).ok()?))
    }

    pub(crate) async fn announce(&self, chan: &Chan, run: RunId, announcement: Vec<u8>) {
        let Some((sid, pos)) = self.position(chan).await else {
            self.send(chan, &refused(None, "not in a started session"))
                .await;
            return;
        };
        let outcome = {
            let mut sessions = self.inner.sessions.lock().await;
            let Some(started) = sessions.get_mut(&sid).and_then(|l| {
                let ready = l.ready.clone();
                l.started.as_mut().map(|s| (s, ready))
            }) else {
                return;
            };
            let (started, ready) = started;
            match started.runs.iter_mut().find(|r| r.spec.run == run) {
                None => Err("an announcement for a run of another session".to_owned()),
                Some(r) if r.announcements.contains_key(&pos) => {
                    Err(format!("a second announcement from position {pos}"))
                }
                Some(r) => {
                    r.announcements.insert(pos, announcement);
                    if r.announcements.len() == started.roster.len() {
                        let all: Vec<serde_bytes::ByteBuf> = r
                            .announcements
                            .values()
                            .map(|a| serde_bytes::ByteBuf::from(a.clone()))
                            .collect();
                        let members: Vec<Id> = started
                            .roster
                            .iter()
                            .filter_map(|i| ready.get(i).copied())
                            .collect();
                        Ok(Some((all, members)))
                    } else {
                        Ok(None)
                    }
                }
            }
        };
        match outcome {
            Err(reason) => self.fail(&sid, &reason).await,
            Ok(None) => {}
            Ok(Some((announcements, members))) => {
                let peers = CoordinatorMessage::Peers { run, announcements };
                for c in members {
                    if let Some(chan) = self.chan(&c) {
                        self.send(&chan, &peers).await;
                    }
                }
            }
        }
    }

    pub(crate) async fn relay(
        &self,
        chan: &Chan,
        run: RunId,
        from: u16,
        to: u16,
        payload: Vec<u8>,
    ) {
        let Some((sid, pos)) = self.position(chan).await else {
            return;
        };
        let (target, entered_keygen) = {
            let mut sessions = self.inner.sessions.lock().await;
            let found = sessions.get_mut(&sid).and_then(|l| {
                let started = l.started.as_mut()?;
                let kind = started.runs.iter().find(|r| r.spec.run == run)?.spec.kind;
                // The first keygen round message means aux info is done.
                let entered = kind == RunKind::Keygen && started.phase == "aux_info";
                if entered {
                    started.phase = "keygen";
                }
                let index = started.roster.get(usize::from(to))?;
                Some((l.ready.get(index).copied(), entered))
            });
            match found {
                Some((target, entered)) => (target, entered),
                None => (None, false),
            }
        };
        if entered_keygen {
            self.progress(&sid, "keygen").await;
        }
        if from != pos || to == pos {
            let reason = format!("a round message claiming position {from} from position {pos}");
            self.fail(&sid, &reason).await;
            return;
        }
        let Some(target) = target.and_then(|t| self.chan(&t)) else {
            let reason = format!("a round message for position {to}, which is not connected");
            self.fail(&sid, &reason).await;
            return;
        };
        self.send(
            &target,
            &CoordinatorMessage::Round {
                run,
                from,
                to,
                payload,
            },
        )
        .await;
    }

    pub(crate) async fn keygen_result(
        &self,
        chan: &Chan,
        session_id: Id,
        public_key: Vec<u8>,
        address: EthAddress,
        se_signature: Vec<u8>,
    ) {
        let sid = session_id.to_string();
        let Some((current, _)) = self.position(chan).await else {
            return;
        };
        if current != sid {
            self.send(chan, &refused(Some(session_id), "not your session"))
                .await;
            return;
        }
        let outcome = {
            let mut sessions = self.inner.sessions.lock().await;
            let Some(live) = sessions.get_mut(&sid) else {
                return;
            };
            let index = live
                .ready
                .iter()
                .find(|(_, c)| **c == chan.id)
                .map(|(i, _)| *i);
            let case_id = live.case_id.clone();
            match (index, live.started.as_mut(), live.kind) {
                (Some(index), Some(started), SessionKind::Keygen) => {
                    let verified = verify_report(
                        chan,
                        &session_id,
                        &case_id,
                        index,
                        &public_key,
                        &address,
                        &se_signature,
                    );
                    match verified {
                        Err(e) => Err(e),
                        Ok(()) => {
                            started.reports.insert(index, (public_key.clone(), address));
                            if started.reports.len() == started.roster.len() {
                                Ok(Some(started.reports.clone()))
                            } else {
                                Ok(None)
                            }
                        }
                    }
                }
                _ => Err("a keygen result outside a running keygen".to_owned()),
            }
        };
        match outcome {
            Err(reason) => self.fail(&sid, &reason).await,
            Ok(None) => {}
            Ok(Some(reports)) => self.complete_keygen(&sid, reports).await,
        }
    }

    async fn complete_keygen(&self, sid: &str, reports: BTreeMap<u16, (Vec<u8>, EthAddress)>) {
        let mut values = reports.values();
        let Some((key, address)) = values.next().cloned() else {
            return;
        };
        if values.any(|(k, a)| *k != key || *a != address) {
            self.fail(sid, "the three clients reported different public keys")
                .await;
            return;
        }
        match contracts::eth::address_of_secp256k1(&key) {
            Ok(derived) if derived == address => {}
            _ => {
                self.fail(sid, "the reported address is not the public key's address")
                    .await;
                return;
            }
        }
        let details = json!(reports
            .iter()
            .map(|(i, (k, a))| json!({"share_index": i, "public_key": hex::encode(k), "address": a.to_checksum()}))
            .collect::<Vec<_>>());
        let stored = self
            .inner
            .db
            .finish_keygen(
                sid,
                &hex::encode(&key),
                &address.to_checksum(),
                details,
                self.now(),
            )
            .await;
        match stored {
            Ok(_) => {
                tracing::info!(session = sid, address = %address.to_checksum(), "keygen recorded");
                self.finish(sid, None).await;
            }
            Err(e) => {
                self.fail(sid, &format!("the key could not be recorded: {e}"))
                    .await
            }
        }
    }

    pub(crate) async fn sign_result(
        &self,
        chan: &Chan,
        session_id: Id,
        run: RunId,
        r: [u8; 32],
        s: [u8; 32],
        y_parity: bool,
    ) {
        let sid = session_id.to_string();
        match self.position(chan).await {
            Some((current, _)) if current == sid => {}
            _ => {
                self.send(chan, &refused(Some(session_id), "not your session"))
                    .await;
                return;
            }
        }
        // Take what is needed under the lock; the database write happens outside it.
        let job = {
            let sessions = self.inner.sessions.lock().await;
            sessions.get(&sid).and_then(|live| {
                let started = live.started.as_ref()?;
                let run = started.runs.iter().find(|x| x.spec.run == run)?;
                let request = run.request.as_ref()?;
                Some((
                    live.address?,
                    request.row_id.clone(),
                    request.unsigned_tx.clone(),
                    request.signed,
                    run.spec.request_id,
                ))
            })
        };
        let Some((address, row_id, unsigned_tx, already, request_id)) = job else {
            self.fail(&sid, "a signature for a run this session does not have")
                .await;
            return;
        };
        if let Some(prev) = already {
            if prev != (r, s, y_parity) {
                tracing::warn!(session = %sid, "the two signers reported different signatures");
            }
            return;
        }
        let checked = build_signed(&unsigned_tx, &address, request_id, r, s, y_parity);
        let raw = match checked {
            Ok(raw) => raw,
            Err(e) => {
                self.fail(&sid, &format!("the signature does not check: {e}"))
                    .await;
                return;
            }
        };
        let stored = self
            .inner
            .db
            .record_signature(
                offline_db::NewSignature {
                    signing_request_id: row_id.clone(),
                    session_id: sid.clone(),
                    r: hex::encode(r),
                    s: hex::encode(s),
                    v: i64::from(y_parity),
                    raw_signed_tx: raw,
                },
                ACTOR,
                self.now(),
            )
            .await;
        if let Err(e) = stored {
            self.fail(&sid, &format!("the signature could not be recorded: {e}"))
                .await;
            return;
        }
        let done = {
            let mut sessions = self.inner.sessions.lock().await;
            sessions
                .get_mut(&sid)
                .and_then(|l| l.started.as_mut())
                .map(|started| {
                    for x in started.runs.iter_mut() {
                        if let Some(req) = x.request.as_mut() {
                            if req.row_id == row_id {
                                req.signed = Some((r, s, y_parity));
                            }
                        }
                    }
                    started
                        .runs
                        .iter()
                        .all(|x| x.request.as_ref().is_some_and(|q| q.signed.is_some()))
                })
                .unwrap_or(false)
        };
        if done {
            tracing::info!(session = %sid, "signing session completed");
            self.finish(&sid, None).await;
        }
    }

    /// Tell every participant the session ended (completed, or failed with `failure`) and
    /// forget it.
    async fn finish(&self, sid: &str, failure: Option<&str>) {
        let live = self.inner.sessions.lock().await.remove(sid);
        let Some(live) = live else {
            return;
        };
        let Some(session_id) = parse_id(sid) else {
            return;
        };
        let message = match failure {
            None => CoordinatorMessage::Completed { session_id },
            Some(reason) => CoordinatorMessage::Failed {
                session_id,
                reason: reason.to_owned(),
            },
        };
        for c in live.ready.values() {
            if let Some(chan) = self.chan(c) {
                Self::set_session(&chan, None);
                self.send(&chan, &message).await;
            }
        }
    }

    /// Fail a session: recorded with its reason (a signing session gets a fresh successor for
    /// the same requests), every live participant told.
    pub(crate) async fn fail(&self, sid: &str, reason: &str) {
        tracing::info!(session = sid, %reason, "session failed");
        let now = self.now();
        let db = &self.inner.db;
        let retry = match db.session_detail(sid).await {
            Ok(detail) if detail.session.kind == SessionKind::Sign => {
                let next = offline_db::new_id(now);
                let hash = detail
                    .requests
                    .first()
                    .and_then(|(_, r)| hex::decode(normalise_hash(&r.tx_hash)).ok())
                    .unwrap_or_default();
                let eid = execution_id(RunKind::Sign, &next, &detail.session.case_id, &hash);
                Some(RetrySession {
                    session_id: next,
                    execution_id: hex::encode(eid),
                })
            }
            _ => None,
        };
        match db.fail_session(sid, reason, retry, now).await {
            Ok(Some(next)) => {
                tracing::info!(session = sid, retry = %next.id, "signing session reopened")
            }
            Ok(None) => {}
            Err(e) => tracing::warn!(session = sid, error = %e, "could not record the failure"),
        }
        self.finish(sid, Some(reason)).await;
    }

    /// A participant's channel ended: before the start it just is no longer ready; during a
    /// run the session fails.
    pub(crate) async fn leave_session(&self, sid: &str, chan: &Chan, reason: &str) {
        let started = {
            let mut sessions = self.inner.sessions.lock().await;
            match sessions.get_mut(sid) {
                Some(live) if live.started.is_some() => true,
                Some(live) => {
                    live.ready.retain(|_, c| *c != chan.id);
                    false
                }
                None => false,
            }
        };
        if started {
            self.fail(sid, reason).await;
        }
    }

    pub(crate) async fn overdue_runs(&self) {
        let now = Instant::now();
        let overdue: Vec<(String, SessionKind)> = {
            let sessions = self.inner.sessions.lock().await;
            sessions
                .iter()
                .filter(|(_, l)| l.started.as_ref().is_some_and(|s| s.deadline < now))
                .map(|(id, l)| (id.clone(), l.kind))
                .collect()
        };
        for (sid, kind) in overdue {
            let limit = match kind {
                SessionKind::Keygen => self.inner.timeouts.keygen_run,
                SessionKind::Sign => self.inner.timeouts.sign_run,
            };
            self.fail(
                &sid,
                &format!("the run did not finish within {} s", limit.as_secs()),
            )
            .await;
        }
    }

    /// Sessions a previous coordinator left RUNNING cannot continue (their channels are gone):
    /// fail them so they are retried.
    pub(crate) async fn fail_orphans(&self) {
        match self
            .inner
            .db
            .sessions(None, Some(SessionStatus::Running), 1000)
            .await
        {
            Ok(rows) => {
                for row in rows {
                    self.fail(&row.id, "the coordinator restarted during the run")
                        .await;
                }
            }
            Err(e) => tracing::warn!(error = %e, "could not look for orphaned sessions"),
        }
    }
}

fn verify_report(
    chan: &Chan,
    session_id: &Id,
    case_id: &str,
    index: u16,
    public_key: &[u8],
    address: &EthAddress,
    se_signature: &[u8],
) -> Result<(), String> {
    let case = Id::parse(case_id).map_err(|e| e.to_string())?;
    let index = u8::try_from(index).map_err(|_| "bad share index".to_owned())?;
    let digest =
        contracts::coord::keygen_report_digest(session_id, &case, index, public_key, address);
    let signature = p256::ecdsa::Signature::from_slice(se_signature)
        .map_err(|_| "the keygen report's SE signature is malformed".to_owned())?;
    p256::ecdsa::VerifyingKey::from(&chan.se_key)
        .verify_prehash(&digest, &signature)
        .map_err(|_| format!("share {index}'s keygen report is not signed by its SE"))
}

/// Rebuilds the signed transaction and checks, through the same code the exports use, that it
/// is the unsigned one with this signature and recovers to the case address.
fn build_signed(
    unsigned_tx: &[u8],
    address: &EthAddress,
    request_id: Option<Id>,
    r: [u8; 32],
    s: [u8; 32],
    y_parity: bool,
) -> Result<Vec<u8>, contracts::Error> {
    let tx = contracts::eth::decode_unsigned(unsigned_tx)?;
    let signature =
        alloy_primitives::Signature::new(U256::from_be_bytes(r), U256::from_be_bytes(s), y_parity);
    let signed_tx = contracts::eth::encode_signed(&tx, &signature);
    let decoded = contracts::eth::decode_signed(&signed_tx)?;
    let response = SignatureResponse {
        request_id: request_id.unwrap_or_else(|| Id::new_v7(0)),
        r,
        s,
        y_parity,
        signed_tx: signed_tx.clone(),
        tx_hash: decoded.tx_hash,
    };
    response.check_for(unsigned_tx, address)?;
    Ok(signed_tx)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]
    use super::*;
    use contracts::eth::Eip1559Fields;
    use contracts::Amount;

    /// A real 2-of-3 signature (test-only fixture shares) is accepted for its transaction and
    /// address; the same signature with s changed, for another address or another transaction
    /// is refused — what keeps a bad client's report out of the database.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn only_a_signature_that_recovers_to_the_case_address_is_accepted() {
        let shares = testkit::fixtures::key_shares().unwrap();
        let address = EthAddress(shares[0].address().unwrap().0);
        let fields = Eip1559Fields {
            chain_id: 31337,
            nonce: 3,
            max_priority_fee_per_gas: Amount::from(1_000_000_000u128),
            max_fee_per_gas: Amount::from(20_000_000_000u128),
            gas_limit: 21_000,
            to: EthAddress([0xa1; 20]),
            value: Amount::from(5u128),
            data: Vec::new(),
        };
        let unsigned = fields.encode_unsigned().unwrap();
        let hash = contracts::eth::signing_hash(&unsigned);
        let signers = tss::SignerSet::new(&[0, 1]).unwrap();
        let eid = ExecutionIdBytes::derive(tss::RunKind::Sign, b"s", b"c", &hash);
        let mut runs = Vec::new();
        for (share, transport) in shares[..2].iter().zip(tss::InMemoryNetwork::connect(2)) {
            let share = share.clone();
            runs.push(tokio::spawn(async move {
                tss::sign(&eid, &share, &signers, &hash, transport).await
            }));
        }
        let sig = runs.pop().unwrap().await.unwrap().unwrap();
        let (r, s, v) = (sig.r, sig.s, sig.y_parity);
        let raw = build_signed(&unsigned, &address, None, r, s, v).unwrap();
        let decoded = contracts::eth::decode_signed(&raw).unwrap();
        assert_eq!(contracts::eth::encode_unsigned(&decoded.tx), unsigned);

        let mut bad_s = s;
        bad_s[31] ^= 1;
        assert!(build_signed(&unsigned, &address, None, r, bad_s, v).is_err());
        assert!(build_signed(&unsigned, &EthAddress([7; 20]), None, r, s, v).is_err());
        let other = Eip1559Fields { nonce: 4, ..fields }
            .encode_unsigned()
            .unwrap();
        assert!(build_signed(&other, &address, None, r, s, v).is_err());
        assert!(build_signed(&[0x02, 0xc0], &address, None, r, s, v).is_err());
    }
}
