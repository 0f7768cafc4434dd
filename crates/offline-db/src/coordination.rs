//! What the offline coordinator records (issue 4, DESIGN.md §8, §9, §11): the SE↔HSM channels
//! clients open, the work waiting for a manager, keygen sessions, shares made available for a
//! session, the start of a run with its roster and execution ids, progress, failure (with a
//! retry session in the same transaction) and the keygen result.
//!
//! Who may take part is decided by the CURRENT key-share table (the ACTIVE row of each share
//! index), never by the participant rows written when a session was created: after a manager
//! replacement those still name the former manager, and [`Db::mark_ready`] rewrites the row to
//! the current holder when the share becomes available. Every change follows the repository's
//! pattern: one write transaction with the change, its audit record and its outbox event;
//! a refusal writes nothing.

use chrono::{DateTime, Utc};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DbBackend, EntityTrait, QueryFilter,
    QueryOrder, QuerySelect, Set,
};
use serde_json::json;

use crate::entity::{
    cases, key_shares, protocol_sessions, secure_channels, secure_elements, session_participants,
    session_requests, signing_requests, users,
};
use crate::ops::{bind_key, check_name, find_case, invalid, record_audit};
use crate::outbox::{enqueue, subjects};
use crate::signing::{find_request, find_session, is_unique_violation};
use crate::{
    CaseStatus, Db, Error, KeyShareStatus, ParticipantStatus, Result, SeStatus, SessionKind,
    SessionStatus, SigningRequestStatus, UserStatus,
};

/// The audit actor of what the coordinator decides by itself (closing channels, starting,
/// failing and finishing runs).
pub const COORDINATOR: &str = "service:coordinator";

/// `secure_channels.status` of an open channel.
pub const CHANNEL_ESTABLISHED: &str = "ESTABLISHED";
/// `secure_channels.status` of a channel closed normally.
pub const CHANNEL_CLOSED: &str = "CLOSED";
/// `secure_channels.status` of a channel closed on an error.
pub const CHANNEL_FAILED: &str = "FAILED";

/// Work waiting for one manager with one SE.
#[derive(Clone, Debug, PartialEq)]
#[allow(
    clippy::large_enum_variant,
    reason = "a short list read once per login; plain fields keep matching simple"
)]
pub enum Work {
    /// A case waiting for its key (DRAFT or KEYGEN) in which the manager holds a share.
    Keygen {
        /// The case.
        case: cases::Model,
        /// The share index the manager's SE holds.
        share_index: i32,
    },
    /// A signing session waiting for its participants.
    Sign {
        /// The session (PENDING, not expired).
        session: protocol_sessions::Model,
        /// Its case.
        case: cases::Model,
        /// The share index the manager's SE holds.
        share_index: i32,
        /// The requests it signs, by row id.
        requests: Vec<signing_requests::Model>,
    },
}

/// The session that replaces a failed one (see [`Db::fail_session`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RetrySession {
    /// The new session's id (UUIDv7).
    pub session_id: String,
    /// Hex of its execution id (never used before).
    pub execution_id: String,
}

fn live(session: &protocol_sessions::Model, now: DateTime<Utc>) -> bool {
    matches!(
        session.status,
        SessionStatus::Pending | SessionStatus::Running
    ) && session.expires_at.is_none_or(|t| t > now)
}

/// Read a session for update: on PostgreSQL the row is locked (`FOR UPDATE`) so two
/// coordinators' decisions about one session are serialised; SQLite writers already are
/// (`BEGIN IMMEDIATE`).
async fn lock_session<C: ConnectionTrait>(txn: &C, id: &str) -> Result<protocol_sessions::Model> {
    let mut q = protocol_sessions::Entity::find_by_id(id.to_owned());
    if txn.get_database_backend() == DbBackend::Postgres {
        q = q.lock_exclusive();
    }
    q.one(txn).await?.ok_or_else(|| Error::NotFound {
        what: "session",
        id: id.to_owned(),
    })
}

/// A case read for update (see [`lock_session`]).
async fn lock_case<C: ConnectionTrait>(txn: &C, id: &str) -> Result<cases::Model> {
    if txn.get_database_backend() == DbBackend::Postgres {
        cases::Entity::find_by_id(id.to_owned())
            .lock_exclusive()
            .one(txn)
            .await?
            .ok_or_else(|| Error::NotFound {
                what: "case",
                id: id.to_owned(),
            })
    } else {
        find_case(txn, id).await
    }
}

async fn active_shares<C: ConnectionTrait>(
    txn: &C,
    case_id: &str,
) -> Result<Vec<key_shares::Model>> {
    Ok(key_shares::Entity::find()
        .filter(key_shares::Column::CaseId.eq(case_id))
        .filter(key_shares::Column::Status.eq(KeyShareStatus::Active))
        .order_by_asc(key_shares::Column::ShareIndex)
        .all(txn)
        .await?)
}

async fn participants_of<C: ConnectionTrait>(
    txn: &C,
    session_id: &str,
) -> Result<Vec<session_participants::Model>> {
    Ok(session_participants::Entity::find()
        .filter(session_participants::Column::SessionId.eq(session_id))
        .order_by_asc(session_participants::Column::ShareIndex)
        .all(txn)
        .await?)
}

async fn links_of<C: ConnectionTrait>(
    txn: &C,
    session_id: &str,
) -> Result<Vec<session_requests::Model>> {
    Ok(session_requests::Entity::find()
        .filter(session_requests::Column::SessionId.eq(session_id))
        .order_by_asc(session_requests::Column::SigningRequestId)
        .all(txn)
        .await?)
}

async fn insert_participants<C: ConnectionTrait>(
    txn: &C,
    session_id: &str,
    shares: &[key_shares::Model],
    now: DateTime<Utc>,
) -> Result<Vec<session_participants::Model>> {
    let mut participants = Vec::with_capacity(shares.len());
    for share in shares {
        participants.push(
            session_participants::ActiveModel {
                session_id: Set(session_id.to_owned()),
                share_index: Set(share.share_index),
                user_id: Set(share.user_id.clone()),
                se_id: Set(share.se_id.clone()),
                status: Set(ParticipantStatus::Waiting),
                channel_id: Set(None),
                at: Set(now),
            }
            .insert(txn)
            .await?,
        );
    }
    Ok(participants)
}

/// Insert a PENDING session; a session or execution id used before is refused.
async fn insert_session<C: ConnectionTrait>(
    txn: &C,
    kind: SessionKind,
    case_id: &str,
    session_id: &str,
    execution_id: &str,
    expires_at: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> Result<protocol_sessions::Model> {
    protocol_sessions::ActiveModel {
        id: Set(session_id.to_owned()),
        kind: Set(kind),
        case_id: Set(case_id.to_owned()),
        execution_id: Set(execution_id.to_owned()),
        status: Set(SessionStatus::Pending),
        error: Set(None),
        created_at: Set(now),
        finished_at: Set(None),
        expires_at: Set(expires_at),
        progress: Set(None),
        roster: Set(None),
    }
    .insert(txn)
    .await
    .map_err(|e| {
        if is_unique_violation(&e) {
            invalid(
                "execution_id",
                "this session or execution id was used before; execution ids are never reused",
            )
        } else {
            e.into()
        }
    })
}

fn slots_json(shares: &[impl Slot]) -> Vec<serde_json::Value> {
    shares
        .iter()
        .map(|s| json!({"share_index": s.index(), "user_id": s.user(), "se_id": s.se()}))
        .collect()
}

/// A row that names who holds a share index in which SE.
trait Slot {
    fn index(&self) -> i32;
    fn user(&self) -> &str;
    fn se(&self) -> &str;
}

impl Slot for key_shares::Model {
    fn index(&self) -> i32 {
        self.share_index
    }
    fn user(&self) -> &str {
        &self.user_id
    }
    fn se(&self) -> &str {
        &self.se_id
    }
}

impl Slot for session_participants::Model {
    fn index(&self) -> i32 {
        self.share_index
    }
    fn user(&self) -> &str {
        &self.user_id
    }
    fn se(&self) -> &str {
        &self.se_id
    }
}

/// The roster stored in `protocol_sessions.roster`, if any (an unreadable value counts as
/// none: it was written by this module, as a JSON array of share indices).
pub fn roster_of(session: &protocol_sessions::Model) -> Option<Vec<i32>> {
    session
        .roster
        .as_deref()
        .and_then(|r| serde_json::from_str(r).ok())
}

/// After a keygen session of `case` ended without a key: the case goes back to DRAFT (so its
/// managers can be changed again) unless another keygen session of it is still live. True if
/// it went back.
async fn release_keygen_case<C: ConnectionTrait>(
    txn: &C,
    case_id: &str,
    now: DateTime<Utc>,
) -> Result<bool> {
    let case = find_case(txn, case_id).await?;
    if case.status != CaseStatus::Keygen {
        return Ok(false);
    }
    let others = protocol_sessions::Entity::find()
        .filter(protocol_sessions::Column::CaseId.eq(case_id))
        .filter(protocol_sessions::Column::Kind.eq(SessionKind::Keygen))
        .filter(
            protocol_sessions::Column::Status
                .is_in([SessionStatus::Pending, SessionStatus::Running]),
        )
        .all(txn)
        .await?;
    if others.iter().any(|s| live(s, now)) {
        return Ok(false);
    }
    let mut am: cases::ActiveModel = case.into();
    am.status = Set(CaseStatus::Draft);
    am.updated_at = Set(now);
    am.update(txn).await?;
    Ok(true)
}

/// Mark a PENDING or RUNNING session EXPIRED with its unsigned requests, inside `txn`, with its
/// audit record (used by [`Db::expire_sessions`] and when a stale keygen session is replaced).
pub(crate) async fn expire_in(
    txn: &audit::Tx,
    session: protocol_sessions::Model,
    now: DateTime<Utc>,
) -> Result<()> {
    let mut requests = Vec::new();
    for link in links_of(txn, &session.id).await? {
        let r = find_request(txn, &link.signing_request_id).await?;
        if matches!(
            r.status,
            SigningRequestStatus::Imported | SigningRequestStatus::Signing
        ) {
            requests.push(r.request_id.clone());
            let mut am: signing_requests::ActiveModel = r.into();
            am.status = Set(SigningRequestStatus::Expired);
            am.update(txn).await?;
        }
    }
    let id = session.id.clone();
    let kind = session.kind;
    let case_id = session.case_id.clone();
    let mut am: protocol_sessions::ActiveModel = session.into();
    am.status = Set(SessionStatus::Expired);
    am.error = Set(Some(match kind {
        SessionKind::Sign => "the session expired before enough managers signed".into(),
        SessionKind::Keygen => "the keygen session expired before it completed".into(),
    }));
    am.finished_at = Set(Some(now));
    am.update(txn).await?;
    let case_released = if kind == SessionKind::Keygen {
        release_keygen_case(txn, &case_id, now).await?
    } else {
        false
    };
    record_audit(
        txn,
        now,
        "service:sessions",
        "session.expired",
        &id,
        json!({
            "kind": kind, "case_id": case_id, "request_ids": requests,
            "case_back_to_draft": case_released,
        }),
    )
    .await?;
    Ok(())
}

impl Db {
    /// A secure element by its token serial.
    pub async fn se_by_serial(&self, serial: &str) -> Result<Option<secure_elements::Model>> {
        Ok(secure_elements::Entity::find()
            .filter(secure_elements::Column::Serial.eq(serial))
            .one(self.conn())
            .await?)
    }

    /// A protocol session by id.
    pub async fn session(&self, session_id: &str) -> Result<Option<protocol_sessions::Model>> {
        Ok(protocol_sessions::Entity::find_by_id(session_id.to_owned())
            .one(self.conn())
            .await?)
    }

    /// A secure channel by id.
    pub async fn channel(&self, channel_id: &str) -> Result<Option<secure_channels::Model>> {
        Ok(secure_channels::Entity::find_by_id(channel_id.to_owned())
            .one(self.conn())
            .await?)
    }

    /// Record an SE↔HSM channel that the handshake established for `user_id` with `se_id`
    /// (status ESTABLISHED; the SE's `last_used_at` becomes `now`). The user and the SE must
    /// exist and be ACTIVE ([`Error::NotPermitted`] otherwise); a channel id used before is
    /// refused. Audit `channel.established`, actor the user.
    pub async fn open_channel(
        &self,
        channel_id: &str,
        se_id: &str,
        user_id: &str,
        now: DateTime<Utc>,
    ) -> Result<secure_channels::Model> {
        check_name("channel_id", channel_id)?;
        let txn = self.begin_write().await?;
        let user = users::Entity::find_by_id(user_id.to_owned())
            .one(&txn)
            .await?
            .ok_or_else(|| Error::NotPermitted(format!("user {user_id} does not exist")))?;
        if user.status != UserStatus::Active {
            return Err(Error::NotPermitted(format!(
                "user {} is disabled",
                user.username
            )));
        }
        let se = secure_elements::Entity::find_by_id(se_id.to_owned())
            .one(&txn)
            .await?
            .ok_or_else(|| Error::NotPermitted(format!("SE {se_id} is not registered")))?;
        if se.status != SeStatus::Active {
            return Err(Error::NotPermitted(format!(
                "SE {} is {:?}, not active",
                se.serial, se.status
            )));
        }
        let channel = secure_channels::ActiveModel {
            id: Set(channel_id.to_owned()),
            se_id: Set(se.id.clone()),
            user_id: Set(user.id.clone()),
            status: Set(CHANNEL_ESTABLISHED.to_owned()),
            error: Set(None),
            opened_at: Set(now),
            closed_at: Set(None),
        }
        .insert(&txn)
        .await
        .map_err(|e| {
            if is_unique_violation(&e) {
                invalid("channel_id", "this channel id was used before")
            } else {
                e.into()
            }
        })?;
        let serial = se.serial.clone();
        let mut se_am: secure_elements::ActiveModel = se.into();
        se_am.last_used_at = Set(Some(now));
        se_am.update(&txn).await?;
        record_audit(
            &txn,
            now,
            &user.id,
            "channel.established",
            &channel.id,
            json!({
                "se_id": channel.se_id, "se_serial": serial, "user_id": user.id,
                "username": user.username,
            }),
        )
        .await?;
        txn.commit().await?;
        Ok(channel)
    }

    /// Close a channel: CLOSED, or FAILED with `failed` as its error, and `closed_at`. A share
    /// made available through it for a session that has not started becomes WAITING again (its
    /// client is gone). Closing a channel that is no longer ESTABLISHED changes nothing.
    /// Audit `channel.closed`.
    pub async fn close_channel(
        &self,
        channel_id: &str,
        failed: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<secure_channels::Model> {
        let txn = self.begin_write().await?;
        let channel = secure_channels::Entity::find_by_id(channel_id.to_owned())
            .one(&txn)
            .await?
            .ok_or_else(|| Error::NotFound {
                what: "channel",
                id: channel_id.to_owned(),
            })?;
        if channel.status != CHANNEL_ESTABLISHED {
            return Ok(channel);
        }
        let status = if failed.is_some() {
            CHANNEL_FAILED
        } else {
            CHANNEL_CLOSED
        };
        let mut am: secure_channels::ActiveModel = channel.into();
        am.status = Set(status.to_owned());
        am.error = Set(failed.map(str::to_owned));
        am.closed_at = Set(Some(now));
        let channel = am.update(&txn).await?;
        let ready = session_participants::Entity::find()
            .filter(session_participants::Column::ChannelId.eq(channel.id.as_str()))
            .filter(session_participants::Column::Status.eq(ParticipantStatus::Ready))
            .all(&txn)
            .await?;
        let mut withdrawn = Vec::new();
        for p in ready {
            let session = find_session(&txn, &p.session_id).await?;
            if session.status != SessionStatus::Pending {
                continue;
            }
            withdrawn.push(json!({"session_id": p.session_id, "share_index": p.share_index}));
            let mut am: session_participants::ActiveModel = p.into();
            am.status = Set(ParticipantStatus::Waiting);
            am.channel_id = Set(None);
            am.at = Set(now);
            am.update(&txn).await?;
        }
        record_audit(
            &txn,
            now,
            COORDINATOR,
            "channel.closed",
            &channel.id,
            json!({
                "status": status, "error": failed, "se_id": channel.se_id,
                "user_id": channel.user_id, "withdrawn": withdrawn,
            }),
        )
        .await?;
        txn.commit().await?;
        Ok(channel)
    }

    /// The work waiting for `user_id` with `se_id`, by the current key-share table: keygen for
    /// every DRAFT or KEYGEN case in which they hold a share (oldest case first), then every
    /// PENDING, unexpired signing session of an ACTIVE case in which they hold a share (oldest
    /// first), with its requests by row id.
    pub async fn work_for(
        &self,
        user_id: &str,
        se_id: &str,
        now: DateTime<Utc>,
    ) -> Result<Vec<Work>> {
        let c = self.conn();
        let held = key_shares::Entity::find()
            .filter(key_shares::Column::UserId.eq(user_id))
            .filter(key_shares::Column::SeId.eq(se_id))
            .filter(key_shares::Column::Status.eq(KeyShareStatus::Active))
            .all(c)
            .await?;
        if held.is_empty() {
            return Ok(Vec::new());
        }
        let index_of = |case_id: &str| {
            held.iter()
                .find(|k| k.case_id == case_id)
                .map(|k| k.share_index)
        };
        let cases = cases::Entity::find()
            .filter(cases::Column::Id.is_in(held.iter().map(|k| k.case_id.clone())))
            .order_by_asc(cases::Column::CreatedAt)
            .order_by_asc(cases::Column::Id)
            .all(c)
            .await?;
        let mut work = Vec::new();
        for case in &cases {
            if matches!(case.status, CaseStatus::Draft | CaseStatus::Keygen) {
                if let Some(share_index) = index_of(&case.id) {
                    work.push(Work::Keygen {
                        case: case.clone(),
                        share_index,
                    });
                }
            }
        }
        let signing: Vec<&cases::Model> = cases
            .iter()
            .filter(|c| c.status == CaseStatus::Active)
            .collect();
        if signing.is_empty() {
            return Ok(work);
        }
        let sessions = protocol_sessions::Entity::find()
            .filter(protocol_sessions::Column::CaseId.is_in(signing.iter().map(|c| c.id.clone())))
            .filter(protocol_sessions::Column::Kind.eq(SessionKind::Sign))
            .filter(protocol_sessions::Column::Status.eq(SessionStatus::Pending))
            .order_by_asc(protocol_sessions::Column::CreatedAt)
            .order_by_asc(protocol_sessions::Column::Id)
            .all(c)
            .await?;
        for session in sessions {
            if !live(&session, now) {
                continue;
            }
            let (Some(case), Some(share_index)) = (
                signing.iter().find(|c| c.id == session.case_id),
                index_of(&session.case_id),
            ) else {
                continue;
            };
            let ids: Vec<String> = links_of(c, &session.id)
                .await?
                .into_iter()
                .map(|l| l.signing_request_id)
                .collect();
            let requests = signing_requests::Entity::find()
                .filter(signing_requests::Column::Id.is_in(ids))
                .order_by_asc(signing_requests::Column::Id)
                .all(c)
                .await?;
            work.push(Work::Sign {
                session,
                case: (*case).clone(),
                share_index,
                requests,
            });
        }
        Ok(work)
    }

    /// The keygen session of a case: a live (PENDING or RUNNING, unexpired) one is returned as
    /// it is (`false`); otherwise the case must be DRAFT or KEYGEN with three current key-share
    /// rows, and a new PENDING session with `session_id`/`execution_id` is created (`true`)
    /// with three WAITING participants from those rows; the case becomes KEYGEN. Keygen
    /// sessions of the case that are past their expiry are marked EXPIRED first. Audit
    /// `session.created`.
    pub async fn open_keygen_session(
        &self,
        case_id: &str,
        session_id: &str,
        execution_id: &str,
        expires_at: DateTime<Utc>,
        actor: &str,
        now: DateTime<Utc>,
    ) -> Result<(protocol_sessions::Model, bool)> {
        check_name("session_id", session_id)?;
        check_name("execution_id", execution_id)?;
        if expires_at <= now {
            return Err(invalid("expires_at", "must be in the future"));
        }
        let txn = self.begin_write().await?;
        let case = lock_case(&txn, case_id).await?;
        let open = protocol_sessions::Entity::find()
            .filter(protocol_sessions::Column::CaseId.eq(case.id.as_str()))
            .filter(protocol_sessions::Column::Kind.eq(SessionKind::Keygen))
            .filter(
                protocol_sessions::Column::Status
                    .is_in([SessionStatus::Pending, SessionStatus::Running]),
            )
            .order_by_asc(protocol_sessions::Column::CreatedAt)
            .all(&txn)
            .await?;
        if let Some(current) = open.iter().find(|s| live(s, now)) {
            return Ok((current.clone(), false));
        }
        if !matches!(case.status, CaseStatus::Draft | CaseStatus::Keygen) {
            return Err(Error::Conflict(format!(
                "case {} is {:?}; keygen runs only for a case without a key",
                case.name, case.status
            )));
        }
        let shares = active_shares(&txn, &case.id).await?;
        if shares.len() != 3 {
            return Err(Error::Conflict(format!(
                "case {} does not have three current key-share rows",
                case.name
            )));
        }
        for stale in open {
            expire_in(&txn, stale, now).await?;
        }
        let session = insert_session(
            &txn,
            SessionKind::Keygen,
            &case.id,
            session_id,
            execution_id,
            Some(expires_at),
            now,
        )
        .await?;
        let participants = insert_participants(&txn, &session.id, &shares, now).await?;
        let from = case.status;
        let mut am: cases::ActiveModel = case.into();
        am.status = Set(CaseStatus::Keygen);
        am.updated_at = Set(now);
        let case = am.update(&txn).await?;
        record_audit(
            &txn,
            now,
            actor,
            "session.created",
            &session.id,
            json!({
                "kind": session.kind, "case_id": case.id, "case_from": from,
                "execution_id": session.execution_id, "expires_at": expires_at.to_rfc3339(),
                "slots": slots_json(&participants),
            }),
        )
        .await?;
        txn.commit().await?;
        Ok((session, true))
    }

    /// Make a share available for a session: the session must be PENDING and unexpired; the
    /// case's current key-share row at `share_index` must name `user_id` and `se_id`, both
    /// ACTIVE ([`Error::NotPermitted`] otherwise); the channel must be the ESTABLISHED one of
    /// that user and SE. The participant row becomes READY on the channel, naming the current
    /// holder. Already READY on the same channel: nothing is written. Audit `share.available`
    /// (actor the user) and a `custody.share.available` event. Returns every participant.
    pub async fn mark_ready(
        &self,
        session_id: &str,
        share_index: i32,
        user_id: &str,
        se_id: &str,
        channel_id: &str,
        now: DateTime<Utc>,
    ) -> Result<Vec<session_participants::Model>> {
        if !(0..=2).contains(&share_index) {
            return Err(invalid("share_index", "must be 0, 1 or 2"));
        }
        let txn = self.begin_write().await?;
        let session = lock_session(&txn, session_id).await?;
        if session.status != SessionStatus::Pending {
            return Err(Error::Conflict(format!(
                "session {} is {:?}; shares can be made available only while it waits for its participants",
                session.id, session.status
            )));
        }
        if let Some(at) = session.expires_at.filter(|t| *t <= now) {
            return Err(Error::Conflict(format!(
                "session {} expired at {}; it takes no more participants",
                session.id,
                at.to_rfc3339()
            )));
        }
        let case = find_case(&txn, &session.case_id).await?;
        let case_fits = match session.kind {
            SessionKind::Keygen => matches!(case.status, CaseStatus::Draft | CaseStatus::Keygen),
            SessionKind::Sign => case.status == CaseStatus::Active,
        };
        if !case_fits {
            return Err(Error::Conflict(format!(
                "case {} is {:?}; session {} cannot run",
                case.name, case.status, session.id
            )));
        }
        let user = users::Entity::find_by_id(user_id.to_owned())
            .one(&txn)
            .await?;
        let se = secure_elements::Entity::find_by_id(se_id.to_owned())
            .one(&txn)
            .await?;
        let user_label = user.as_ref().map_or(user_id, |u| u.username.as_str());
        let se_label = se.as_ref().map_or(se_id, |s| s.serial.as_str());
        let holder = key_shares::Entity::find()
            .filter(key_shares::Column::CaseId.eq(case.id.as_str()))
            .filter(key_shares::Column::ShareIndex.eq(share_index))
            .filter(key_shares::Column::Status.eq(KeyShareStatus::Active))
            .one(&txn)
            .await?;
        let (Some(user), Some(se), Some(_)) = (
            user.as_ref(),
            se.as_ref(),
            holder.filter(|k| k.user_id == user_id && k.se_id == se_id),
        ) else {
            return Err(Error::NotPermitted(format!(
                "user {user_label} does not hold share {share_index} of case {} in SE {se_label}",
                case.name
            )));
        };
        if user.status != UserStatus::Active {
            return Err(Error::NotPermitted(format!(
                "user {} is disabled",
                user.username
            )));
        }
        if se.status != SeStatus::Active {
            return Err(Error::NotPermitted(format!(
                "SE {} is {:?}, not active",
                se.serial, se.status
            )));
        }
        let channel = secure_channels::Entity::find_by_id(channel_id.to_owned())
            .one(&txn)
            .await?
            .ok_or_else(|| Error::NotFound {
                what: "channel",
                id: channel_id.to_owned(),
            })?;
        if channel.user_id != user.id || channel.se_id != se.id {
            return Err(Error::NotPermitted(format!(
                "channel {} was not opened by user {} with SE {}",
                channel.id, user.username, se.serial
            )));
        }
        if channel.status != CHANNEL_ESTABLISHED {
            return Err(Error::Conflict(format!(
                "channel {} is {}; open a new one",
                channel.id, channel.status
            )));
        }
        let participant =
            session_participants::Entity::find_by_id((session.id.clone(), share_index))
                .one(&txn)
                .await?
                .ok_or_else(|| {
                    Error::Conflict(format!(
                        "share {share_index} is not part of session {}",
                        session.id
                    ))
                })?;
        match participant.status {
            ParticipantStatus::Ready
                if participant.channel_id.as_deref() == Some(channel_id)
                    && participant.user_id == user.id
                    && participant.se_id == se.id =>
            {
                return participants_of(&txn, &session.id).await;
            }
            ParticipantStatus::Waiting | ParticipantStatus::Ready => {}
            ParticipantStatus::Done | ParticipantStatus::Failed => {
                return Err(Error::Conflict(format!(
                    "share {share_index} of session {} is {:?}",
                    session.id, participant.status
                )))
            }
        }
        let previous_user = participant.user_id.clone();
        let mut am: session_participants::ActiveModel = participant.into();
        am.status = Set(ParticipantStatus::Ready);
        am.channel_id = Set(Some(channel.id.clone()));
        am.user_id = Set(user.id.clone());
        am.se_id = Set(se.id.clone());
        am.at = Set(now);
        am.update(&txn).await.map_err(|e| {
            if is_unique_violation(&e) {
                Error::Conflict(format!(
                    "user {} already takes part in session {} with another share",
                    user.username, session.id
                ))
            } else {
                e.into()
            }
        })?;
        record_audit(
            &txn,
            now,
            &user.id,
            "share.available",
            &session.id,
            json!({
                "kind": session.kind, "case_id": case.id, "share_index": share_index,
                "user_id": user.id, "username": user.username, "se_id": se.id,
                "se_serial": se.serial, "channel_id": channel.id,
                "replaces_user_id": (previous_user != user.id).then_some(previous_user),
            }),
        )
        .await?;
        enqueue(
            &txn,
            now,
            subjects::SHARE_AVAILABLE,
            json!({
                "session_id": session.id, "case_id": case.id, "share_index": share_index,
                "user_id": user.id, "se_id": se.id, "channel_id": channel.id,
            }),
        )
        .await?;
        let all = participants_of(&txn, &session.id).await?;
        txn.commit().await?;
        Ok(all)
    }

    /// Start a PENDING, unexpired session's run: `roster` names the share indices taking part
    /// (all three for keygen, two for signing), each READY. For a signing session `runs` gives
    /// every request of the session exactly once (by `signing_requests.id`) with the execution
    /// id of its own run (never used before); the requests become SIGNING. For keygen `runs`
    /// is empty. The session becomes RUNNING with the roster and progress `keygen`/`signing`.
    /// Audit `session.started`.
    pub async fn start_session(
        &self,
        session_id: &str,
        roster: &[i32],
        runs: &[(String, String)],
        now: DateTime<Utc>,
    ) -> Result<protocol_sessions::Model> {
        let mut sorted = roster.to_vec();
        sorted.sort_unstable();
        sorted.dedup();
        if sorted.len() != roster.len() || sorted.iter().any(|i| !(0..=2).contains(i)) {
            return Err(invalid(
                "roster",
                "must name distinct share indices among 0, 1 and 2",
            ));
        }
        for (i, (request, execution_id)) in runs.iter().enumerate() {
            check_name(&format!("runs[{i}].execution_id"), execution_id)?;
            if runs
                .iter()
                .skip(i + 1)
                .any(|(r, e)| r == request || e == execution_id)
            {
                return Err(invalid(
                    "runs",
                    "each request and each execution id may appear only once",
                ));
            }
        }
        let txn = self.begin_write().await?;
        let session = lock_session(&txn, session_id).await?;
        if session.status != SessionStatus::Pending {
            return Err(Error::Conflict(format!(
                "session {} is {:?}; only a pending session can start",
                session.id, session.status
            )));
        }
        if session.expires_at.is_some_and(|t| t <= now) {
            return Err(Error::Conflict(format!(
                "session {} has expired; it cannot start",
                session.id
            )));
        }
        let (needed, progress) = match session.kind {
            SessionKind::Keygen => (3, "keygen"),
            SessionKind::Sign => (2, "signing"),
        };
        if sorted.len() != needed {
            return Err(invalid(
                "roster",
                format!(
                    "a {:?} session runs with {needed} shares, not {}",
                    session.kind,
                    sorted.len()
                ),
            ));
        }
        let participants = participants_of(&txn, &session.id).await?;
        for index in &sorted {
            let ready = participants
                .iter()
                .any(|p| p.share_index == *index && p.status == ParticipantStatus::Ready);
            if !ready {
                return Err(Error::Conflict(format!(
                    "share {index} is not ready in session {}",
                    session.id
                )));
            }
        }
        let links = links_of(&txn, &session.id).await?;
        if session.kind == SessionKind::Keygen && !runs.is_empty() {
            return Err(invalid("runs", "a keygen session signs no requests"));
        }
        if session.kind == SessionKind::Sign
            && (runs.len() != links.len()
                || links
                    .iter()
                    .any(|l| !runs.iter().any(|(r, _)| *r == l.signing_request_id)))
        {
            return Err(invalid(
                "runs",
                format!(
                    "must give each of the session's {} requests exactly once",
                    links.len()
                ),
            ));
        }
        let mut started = Vec::with_capacity(runs.len());
        for (request_id, execution_id) in runs {
            let request = find_request(&txn, request_id).await?;
            if request.status != SigningRequestStatus::Imported {
                return Err(Error::Conflict(format!(
                    "request {} is {:?}; only an imported request can be signed",
                    request.request_id, request.status
                )));
            }
            session_requests::Entity::update_many()
                .col_expr(
                    session_requests::Column::ExecutionId,
                    sea_orm::sea_query::Expr::value(execution_id.clone()),
                )
                .filter(session_requests::Column::SessionId.eq(session.id.as_str()))
                .filter(session_requests::Column::SigningRequestId.eq(request.id.as_str()))
                .exec(&txn)
                .await
                .map_err(|e| {
                    if is_unique_violation(&e) {
                        invalid(
                            "execution_id",
                            "this execution id was used before; execution ids are never reused",
                        )
                    } else {
                        Error::from(e)
                    }
                })?;
            started.push(json!({
                "signing_request_id": request.id, "request_id": request.request_id,
                "execution_id": execution_id,
            }));
            let mut am: signing_requests::ActiveModel = request.into();
            am.status = Set(SigningRequestStatus::Signing);
            am.update(&txn).await?;
        }
        let roster_json = serde_json::to_string(&sorted)?;
        let kind = session.kind;
        let mut am: protocol_sessions::ActiveModel = session.into();
        am.status = Set(SessionStatus::Running);
        am.roster = Set(Some(roster_json));
        am.progress = Set(Some(progress.to_owned()));
        let session = am.update(&txn).await?;
        record_audit(
            &txn,
            now,
            COORDINATOR,
            "session.started",
            &session.id,
            json!({
                "kind": kind, "case_id": session.case_id, "roster": sorted,
                "execution_id": session.execution_id, "runs": started,
            }),
        )
        .await?;
        txn.commit().await?;
        Ok(session)
    }

    /// Record where a RUNNING session is (shown to operators). Audit `session.progress`.
    pub async fn set_progress(
        &self,
        session_id: &str,
        progress: &str,
        now: DateTime<Utc>,
    ) -> Result<protocol_sessions::Model> {
        check_name("progress", progress)?;
        let txn = self.begin_write().await?;
        let session = lock_session(&txn, session_id).await?;
        if session.status != SessionStatus::Running {
            return Err(Error::Conflict(format!(
                "session {} is {:?}; only a running session makes progress",
                session.id, session.status
            )));
        }
        let from = session.progress.clone();
        let mut am: protocol_sessions::ActiveModel = session.into();
        am.progress = Set(Some(progress.to_owned()));
        let session = am.update(&txn).await?;
        record_audit(
            &txn,
            now,
            COORDINATOR,
            "session.progress",
            &session.id,
            json!({"from": from, "to": progress}),
        )
        .await?;
        txn.commit().await?;
        Ok(session)
    }

    /// Fail a PENDING or RUNNING session: FAILED with `reason`; its participants that are not
    /// DONE become FAILED; its SIGNING requests go back to IMPORTED. With `retry`, and while
    /// the session has not expired, a new PENDING session of the same kind replaces it in the
    /// same transaction (same expiry; for signing, the same still-unsigned requests, each
    /// without an execution id yet; participants WAITING from the current key-share rows), and
    /// is returned. No retry is made when the case can no longer run it (not ACTIVE for
    /// signing, not DRAFT/KEYGEN for keygen, not three key-share rows, nothing left to sign).
    /// A keygen failure without a replacement puts the case back to DRAFT. A finished session
    /// is a [`Error::Conflict`]. Audit `session.failed` (and `session.created` for the retry,
    /// with a `custody.session.created` event for signing).
    pub async fn fail_session(
        &self,
        session_id: &str,
        reason: &str,
        retry: Option<RetrySession>,
        now: DateTime<Utc>,
    ) -> Result<Option<protocol_sessions::Model>> {
        if reason.trim().is_empty() {
            return Err(invalid("reason", "must not be empty"));
        }
        if let Some(r) = &retry {
            check_name("retry.session_id", &r.session_id)?;
            check_name("retry.execution_id", &r.execution_id)?;
        }
        let txn = self.begin_write().await?;
        let session = lock_session(&txn, session_id).await?;
        if !matches!(
            session.status,
            SessionStatus::Pending | SessionStatus::Running
        ) {
            return Err(Error::Conflict(format!(
                "session {} is {:?}; a finished session cannot fail",
                session.id, session.status
            )));
        }
        let participants = participants_of(&txn, &session.id).await?;
        let mut failed_shares = Vec::new();
        for p in participants {
            if p.status == ParticipantStatus::Done || p.status == ParticipantStatus::Failed {
                continue;
            }
            failed_shares.push(p.share_index);
            let mut am: session_participants::ActiveModel = p.into();
            am.status = Set(ParticipantStatus::Failed);
            am.at = Set(now);
            am.update(&txn).await?;
        }
        let mut open_requests = Vec::new();
        for link in links_of(&txn, &session.id).await? {
            let request = find_request(&txn, &link.signing_request_id).await?;
            match request.status {
                SigningRequestStatus::Signing => {
                    let mut am: signing_requests::ActiveModel = request.into();
                    am.status = Set(SigningRequestStatus::Imported);
                    open_requests.push(am.update(&txn).await?);
                }
                SigningRequestStatus::Imported => open_requests.push(request),
                _ => {}
            }
        }
        let kind = session.kind;
        let case_id = session.case_id.clone();
        let expires_at = session.expires_at;
        let mut am: protocol_sessions::ActiveModel = session.into();
        am.status = Set(SessionStatus::Failed);
        am.error = Set(Some(reason.to_owned()));
        am.finished_at = Set(Some(now));
        let session = am.update(&txn).await?;

        let mut replacement = None;
        let mut no_retry = None;
        if let Some(retry) = retry {
            let case = find_case(&txn, &case_id).await?;
            let shares = active_shares(&txn, &case_id).await?;
            let case_fits = match kind {
                SessionKind::Keygen => {
                    matches!(case.status, CaseStatus::Draft | CaseStatus::Keygen)
                }
                SessionKind::Sign => case.status == CaseStatus::Active,
            };
            no_retry = if expires_at.is_some_and(|t| t <= now) {
                Some("the session has expired".to_owned())
            } else if !case_fits {
                Some(format!("case {} is {:?}", case.name, case.status))
            } else if shares.len() != 3 {
                Some(format!(
                    "case {} does not have three current key-share rows",
                    case.name
                ))
            } else if kind == SessionKind::Sign && open_requests.is_empty() {
                Some("every request of the session is signed".to_owned())
            } else {
                None
            };
            if no_retry.is_none() {
                let new = insert_session(
                    &txn,
                    kind,
                    &case_id,
                    &retry.session_id,
                    &retry.execution_id,
                    expires_at,
                    now,
                )
                .await?;
                for r in &open_requests {
                    session_requests::ActiveModel {
                        session_id: Set(new.id.clone()),
                        signing_request_id: Set(r.id.clone()),
                        execution_id: Set(None),
                    }
                    .insert(&txn)
                    .await?;
                }
                let participants = insert_participants(&txn, &new.id, &shares, now).await?;
                replacement = Some((new, participants));
            }
        }
        let case_released = if kind == SessionKind::Keygen && replacement.is_none() {
            release_keygen_case(&txn, &case_id, now).await?
        } else {
            false
        };
        record_audit(
            &txn,
            now,
            COORDINATOR,
            "session.failed",
            &session.id,
            json!({
                "kind": kind, "case_id": case_id, "reason": reason,
                "progress": session.progress, "roster": roster_of(&session),
                "failed_shares": failed_shares,
                "requests_reopened": open_requests.iter().map(|r| &r.request_id).collect::<Vec<_>>(),
                "retry_session_id": replacement.as_ref().map(|(s, _)| &s.id),
                "no_retry": no_retry, "case_back_to_draft": case_released,
            }),
        )
        .await?;
        if let Some((new, participants)) = &replacement {
            record_audit(
                &txn,
                now,
                COORDINATOR,
                "session.created",
                &new.id,
                json!({
                    "kind": new.kind, "case_id": new.case_id,
                    "execution_id": new.execution_id,
                    "request_ids": open_requests.iter().map(|r| &r.request_id).collect::<Vec<_>>(),
                    "expires_at": new.expires_at.map(|t| t.to_rfc3339()),
                    "cause": format!("retry of session {}", session.id),
                    "retry_of": session.id,
                }),
            )
            .await?;
            if let (SessionKind::Sign, Some(first)) = (kind, open_requests.first()) {
                enqueue(
                    &txn,
                    now,
                    subjects::SESSION_CREATED,
                    json!({
                        "session_id": new.id, "case_id": new.case_id,
                        "request_id": first.request_id, "signing_hash": first.tx_hash,
                        "request_ids": open_requests.iter().map(|r| &r.request_id).collect::<Vec<_>>(),
                        "slots": slots_json(participants),
                        "expires_at": new.expires_at.map(|t| t.timestamp()),
                    }),
                )
                .await?;
            }
        }
        txn.commit().await?;
        Ok(replacement.map(|(s, _)| s))
    }

    /// Record a finished keygen: the session (KEYGEN, RUNNING) becomes COMPLETED with progress
    /// `done` and its participants DONE, and — exactly as [`Db::complete_keygen`] — the case
    /// becomes ACTIVE with `public_key_hex` and `address`, its three current key-share rows get
    /// the key, and a key or address bound elsewhere is refused. `reports` (every client's
    /// SE-signed report) goes into the `session.completed` audit record; a
    /// `custody.keygen.completed` event follows. All or nothing.
    pub async fn finish_keygen(
        &self,
        session_id: &str,
        public_key_hex: &str,
        address: &str,
        reports: serde_json::Value,
        now: DateTime<Utc>,
    ) -> Result<cases::Model> {
        check_name("public_key", public_key_hex)?;
        check_name("address", address)?;
        let txn = self.begin_write().await?;
        let session = lock_session(&txn, session_id).await?;
        if session.kind != SessionKind::Keygen || session.status != SessionStatus::Running {
            return Err(Error::Conflict(format!(
                "session {} is a {:?} session in state {:?}; only a running keygen session can complete a key",
                session.id, session.kind, session.status
            )));
        }
        let case = bind_key(
            &txn,
            &session.case_id,
            public_key_hex,
            address,
            COORDINATOR,
            now,
        )
        .await?;
        for p in participants_of(&txn, &session.id).await? {
            let mut am: session_participants::ActiveModel = p.into();
            am.status = Set(ParticipantStatus::Done);
            am.at = Set(now);
            am.update(&txn).await?;
        }
        let mut am: protocol_sessions::ActiveModel = session.into();
        am.status = Set(SessionStatus::Completed);
        am.finished_at = Set(Some(now));
        am.progress = Set(Some("done".to_owned()));
        let session = am.update(&txn).await?;
        let shares = active_shares(&txn, &case.id).await?;
        record_audit(
            &txn,
            now,
            COORDINATOR,
            "session.completed",
            &session.id,
            json!({
                "kind": session.kind, "case_id": case.id, "public_key": public_key_hex,
                "address": address, "slots": slots_json(&shares), "reports": reports,
            }),
        )
        .await?;
        enqueue(
            &txn,
            now,
            subjects::KEYGEN_COMPLETED,
            json!({
                "session_id": session.id, "case_id": case.id, "public_key": public_key_hex,
                "address": address, "slots": slots_json(&shares),
            }),
        )
        .await?;
        txn.commit().await?;
        Ok(case)
    }
}
