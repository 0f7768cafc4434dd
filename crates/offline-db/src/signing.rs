//! Signing requests, signing sessions, signatures, the exports that leave the offline zone and
//! the balance attestations that come into it (DESIGN.md §10, §11 "A transfer").
//!
//! Importing a verified request creates, in the same transaction, the signing session that
//! will sign it: a `protocol_sessions` row (kind SIGN, PENDING, a fresh execution id, an expiry
//! no later than the request's own), one `session_participants` row per current manager of the
//! case (WAITING — the coordinator marks them READY as they join), the `session_requests` link,
//! two audit records and the `custody.signing.requested` and `custody.session.created` events.
//! A request is therefore never stored without a session to sign it, nor a session without its
//! request. A batch import ([`Db::record_signing_batch`]) does the same for several requests of
//! one case with ONE session linking them all; the coordinator then runs one full signing per
//! request, each with its own execution id.

use chrono::{DateTime, Duration, Utc};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, PaginatorTrait, QueryFilter,
    QueryOrder, QuerySelect, Set,
};
use serde_json::json;

use crate::entity::{
    balance_attestations, cases, key_shares, protocol_sessions, session_participants,
    session_requests, signatures, signing_requests,
};
use crate::ops::{check_name, find_case, invalid, record_audit};
use crate::outbox::{enqueue, subjects};
use crate::{
    new_id, CaseStatus, Db, Error, KeyShareStatus, ParticipantStatus, Result, SessionKind,
    SessionStatus, SigningRequestStatus,
};

/// How old the latest balance attestation may be for it to allow deleting a case: older
/// evidence may predate a deposit.
pub const ATTESTATION_MAX_AGE: Duration = Duration::hours(24);

/// How long a signing session stays open at most, even for a request that expires later.
pub const SESSION_MAX_LIFETIME: Duration = Duration::hours(24);

/// The most requests one batch (one signing session) may sign.
pub const MAX_BATCH: usize = 16;

/// A verified signing request to store, with the session that will sign it.
#[derive(Clone, Debug)]
pub struct NewSigningRequest {
    /// The envelope's request id (unique; a second import is a replay).
    pub request_id: String,
    /// The case the from-address belongs to.
    pub case_id: String,
    /// The recomputed signing hash (hex).
    pub tx_hash: String,
    /// The decoded transaction shown to managers.
    pub decoded: serde_json::Value,
    /// When the request envelope expires; the session expires no later.
    pub expires_at: DateTime<Utc>,
    /// The new session's id (UUIDv7; the caller derives the execution id from it).
    pub session_id: String,
    /// Hex of the session's execution id (UNIQUE across all sessions).
    pub execution_id: String,
    /// The envelope's wire bytes (`Envelope::to_bytes`), kept so a manager's client can verify
    /// the online signature itself.
    pub envelope: Vec<u8>,
}

/// What an import stored.
#[derive(Clone, Debug)]
pub struct ImportedRequest {
    /// The request row.
    pub request: signing_requests::Model,
    /// The signing session created for it.
    pub session: protocol_sessions::Model,
    /// Its participants (the case's current managers), by share index.
    pub participants: Vec<session_participants::Model>,
}

/// What a batch import stored (see [`Db::record_signing_batch`]).
#[derive(Clone, Debug)]
pub struct ImportedBatch {
    /// The request rows, in the order they were given.
    pub requests: Vec<signing_requests::Model>,
    /// The one signing session created for them.
    pub session: protocol_sessions::Model,
    /// Its participants (the case's current managers), by share index.
    pub participants: Vec<session_participants::Model>,
}

/// A session with everything the progress view shows.
#[derive(Clone, Debug)]
pub struct SessionDetail {
    /// The session.
    pub session: protocol_sessions::Model,
    /// Its participants, by share index.
    pub participants: Vec<session_participants::Model>,
    /// The requests it signs, with the run's execution id once started.
    pub requests: Vec<(session_requests::Model, signing_requests::Model)>,
    /// Signatures produced in it.
    pub signatures: Vec<signatures::Model>,
}

/// A signature for a request, checked by the caller against the case address before it is
/// stored (the coordinator does that; the export checks it again before anything leaves).
#[derive(Clone, Debug)]
pub struct NewSignature {
    /// The request row id.
    pub signing_request_id: String,
    /// The session whose run produced it.
    pub session_id: String,
    /// Hex of r.
    pub r: String,
    /// Hex of s (low-s).
    pub s: String,
    /// y-parity (0 or 1).
    pub v: i64,
    /// The signed EIP-2718 transaction.
    pub raw_signed_tx: Vec<u8>,
}

/// A verified `BalanceAttestation` to store.
#[derive(Clone, Debug)]
pub struct NewBalanceAttestation {
    /// The envelope id (an attestation is imported once).
    pub envelope_id: String,
    /// The attested address, checksummed.
    pub address: String,
    /// EIP-155 chain id.
    pub chain_id: u64,
    /// The block the balances were read at.
    pub block_number: u64,
    /// That block's hash (hex).
    pub block_hash: String,
    /// Whether every attested balance, ether included, is zero.
    pub empty: bool,
    /// The balances as shown to people.
    pub balances: serde_json::Value,
    /// When the online zone signed it.
    pub issued_at: DateTime<Utc>,
}

fn to_i64(field: &str, value: u64) -> Result<i64> {
    i64::try_from(value).map_err(|_| invalid(field, "is too large"))
}

/// The evidence that lets a case with a key be deleted: the latest imported attestation for
/// its address (highest block; for the same block, the latest issued), which must show the
/// account empty and be recent.
pub(crate) async fn deletion_evidence<C: ConnectionTrait>(
    txn: &C,
    case: &cases::Model,
    now: DateTime<Utc>,
) -> Result<balance_attestations::Model> {
    let address = case.address.clone().unwrap_or_default();
    let latest = balance_attestations::Entity::find()
        .filter(balance_attestations::Column::Address.eq(address.as_str()))
        .order_by_desc(balance_attestations::Column::BlockNumber)
        .order_by_desc(balance_attestations::Column::IssuedAt)
        .order_by_desc(balance_attestations::Column::Id)
        .one(txn)
        .await?;
    let Some(att) = latest else {
        return Err(Error::Conflict(format!(
            "case {} has a key; archive it, or import a zero-balance attestation for {address} from the online zone before deleting it",
            case.name
        )));
    };
    if !att.empty {
        return Err(Error::Conflict(format!(
            "the latest balance attestation for {address} (block {}) shows funds; sweep them and import a new attestation",
            att.block_number
        )));
    }
    if now - att.issued_at > ATTESTATION_MAX_AGE {
        return Err(Error::Conflict(format!(
            "the latest balance attestation for {address} was issued at {}, more than {} hours ago; import a fresh one",
            att.issued_at.to_rfc3339(),
            ATTESTATION_MAX_AGE.num_hours()
        )));
    }
    Ok(att)
}

pub(crate) async fn find_request<C: ConnectionTrait>(
    txn: &C,
    id: &str,
) -> Result<signing_requests::Model> {
    signing_requests::Entity::find_by_id(id.to_owned())
        .one(txn)
        .await?
        .ok_or_else(|| Error::NotFound {
            what: "signing request",
            id: id.to_owned(),
        })
}

pub(crate) async fn find_session<C: ConnectionTrait>(
    txn: &C,
    id: &str,
) -> Result<protocol_sessions::Model> {
    protocol_sessions::Entity::find_by_id(id.to_owned())
        .one(txn)
        .await?
        .ok_or_else(|| Error::NotFound {
            what: "session",
            id: id.to_owned(),
        })
}

pub(crate) fn is_unique_violation(e: &sea_orm::DbErr) -> bool {
    matches!(
        e.sql_err(),
        Some(sea_orm::SqlErr::UniqueConstraintViolation(_))
    )
}

impl Db {
    /// Store a verified signing request and create the session that will sign it (see the
    /// module documentation). A request id seen before is a replay: [`Error::Replay`], nothing
    /// written. The case must be ACTIVE and have three current key-share rows.
    pub async fn record_signing_request(
        &self,
        new: NewSigningRequest,
        actor: &str,
        now: DateTime<Utc>,
    ) -> Result<ImportedRequest> {
        let session_id = new.session_id.clone();
        let execution_id = new.execution_id.clone();
        let stored = self
            .record_requests(vec![new], &session_id, &execution_id, actor, now)
            .await?;
        let Some(request) = stored.requests.into_iter().next() else {
            return Err(Error::Conflict(
                "the import stored no request; nothing was written".to_owned(),
            ));
        };
        Ok(ImportedRequest {
            request,
            session: stored.session,
            participants: stored.participants,
        })
    }

    /// Store a batch of verified signing requests of ONE case and create the one signing
    /// session that signs them all (one full signing run per request, each with its own
    /// execution id given when the coordinator starts the session). Everything the single
    /// import writes is written for each request (the row, a `signing_request.imported` audit
    /// record, a `custody.signing.requested` event), once for the session (one
    /// `session.created` record and one `custody.session.created` event, both listing every
    /// request id), and a `session_requests` link per request.
    ///
    /// The session's id and execution id are `session_id` and `execution_id`; the
    /// `session_id`/`execution_id` fields of the [`NewSigningRequest`]s are not used. The
    /// session expires at the earliest request expiry, and no later than
    /// [`SESSION_MAX_LIFETIME`] from `now`.
    ///
    /// Refused with nothing written: fewer than 2 or more than [`MAX_BATCH`] requests (a
    /// single request goes through [`Db::record_signing_request`]), requests of more than one
    /// case, a request id twice in the batch, an expired request ([`Error::Validation`] naming
    /// `requests[i]…`); a request id imported before ([`Error::Replay`]); a case that is not
    /// ACTIVE or lacks three current key-share rows ([`Error::Conflict`]).
    pub async fn record_signing_batch(
        &self,
        requests: Vec<NewSigningRequest>,
        session_id: &str,
        execution_id: &str,
        actor: &str,
        now: DateTime<Utc>,
    ) -> Result<ImportedBatch> {
        if requests.len() < 2 || requests.len() > MAX_BATCH {
            return Err(invalid(
                "requests",
                format!(
                    "a batch signs 2 to {MAX_BATCH} requests, this one has {}; import a single request on its own",
                    requests.len()
                ),
            ));
        }
        self.record_requests(requests, session_id, execution_id, actor, now)
            .await
    }

    /// The import behind [`Db::record_signing_request`] (one request) and
    /// [`Db::record_signing_batch`] (several): input fields are named `requests[i].…` only for
    /// a batch, so a single import reports the same fields as always.
    async fn record_requests(
        &self,
        requests: Vec<NewSigningRequest>,
        session_id: &str,
        execution_id: &str,
        actor: &str,
        now: DateTime<Utc>,
    ) -> Result<ImportedBatch> {
        let batch = requests.len() > 1;
        let field = |i: usize, name: &str| {
            if batch {
                format!("requests[{i}].{name}")
            } else {
                name.to_owned()
            }
        };
        let Some(first) = requests.first() else {
            return Err(invalid("requests", "must not be empty"));
        };
        let case_id = first.case_id.clone();
        for (i, new) in requests.iter().enumerate() {
            check_name(&field(i, "request_id"), &new.request_id)?;
            if i == 0 {
                check_name("execution_id", execution_id)?;
            }
            if new.envelope.is_empty() {
                return Err(invalid(field(i, "envelope"), "must not be empty"));
            }
            if new.expires_at <= now {
                return Err(invalid(
                    field(i, "expires_at"),
                    "the request has already expired",
                ));
            }
            if new.case_id != case_id {
                return Err(invalid(
                    field(i, "case_id"),
                    "a batch signs requests of one case",
                ));
            }
            if requests
                .iter()
                .take(i)
                .any(|earlier| earlier.request_id == new.request_id)
            {
                return Err(invalid(
                    field(i, "request_id"),
                    format!("request {} appears twice in the batch", new.request_id),
                ));
            }
        }
        let earliest = requests.iter().map(|r| r.expires_at).min().unwrap_or(now);
        let txn = self.begin_write().await?;
        let ids: Vec<&str> = requests.iter().map(|r| r.request_id.as_str()).collect();
        let seen = signing_requests::Entity::find()
            .filter(signing_requests::Column::RequestId.is_in(ids.iter().copied()))
            .all(&txn)
            .await?;
        // The first replayed request in batch order, so the caller can point at it.
        if let Some(replayed) = ids
            .iter()
            .find(|id| seen.iter().any(|s| s.request_id == **id))
        {
            return Err(Error::Replay {
                request_id: (*replayed).to_owned(),
            });
        }
        let case = find_case(&txn, &case_id).await?;
        if case.status != CaseStatus::Active {
            return Err(Error::Conflict(format!(
                "case {} is not active; only an active case can sign",
                case.name
            )));
        }
        let shares = key_shares::Entity::find()
            .filter(key_shares::Column::CaseId.eq(case.id.as_str()))
            .filter(key_shares::Column::Status.eq(KeyShareStatus::Active))
            .order_by_asc(key_shares::Column::ShareIndex)
            .all(&txn)
            .await?;
        if shares.len() != 3 {
            return Err(Error::Conflict(format!(
                "case {} does not have three current key-share rows",
                case.name
            )));
        }
        let mut stored = Vec::with_capacity(requests.len());
        for new in requests {
            let inserted = signing_requests::ActiveModel {
                id: Set(new_id(now)),
                request_id: Set(new.request_id.clone()),
                case_id: Set(case.id.clone()),
                tx_hash: Set(new.tx_hash.clone()),
                decoded: Set(new.decoded),
                status: Set(SigningRequestStatus::Imported),
                imported_by: Set(actor.to_owned()),
                at: Set(now),
                envelope: Set(Some(new.envelope)),
            }
            .insert(&txn)
            .await;
            stored.push(match inserted {
                Ok(row) => row,
                // A concurrent import of the same request won the race on PostgreSQL.
                Err(e) if is_unique_violation(&e) => {
                    return Err(Error::Replay {
                        request_id: new.request_id,
                    })
                }
                Err(e) => return Err(e.into()),
            });
        }
        let expires_at = earliest.min(now + SESSION_MAX_LIFETIME);
        let session = protocol_sessions::ActiveModel {
            id: Set(session_id.to_owned()),
            kind: Set(SessionKind::Sign),
            case_id: Set(case.id.clone()),
            execution_id: Set(execution_id.to_owned()),
            status: Set(SessionStatus::Pending),
            error: Set(None),
            created_at: Set(now),
            finished_at: Set(None),
            expires_at: Set(Some(expires_at)),
            progress: Set(None),
            roster: Set(None),
        }
        .insert(&txn)
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
        })?;
        for request in &stored {
            session_requests::ActiveModel {
                session_id: Set(session.id.clone()),
                signing_request_id: Set(request.id.clone()),
                execution_id: Set(None),
            }
            .insert(&txn)
            .await?;
        }
        let mut participants = Vec::with_capacity(shares.len());
        for share in &shares {
            participants.push(
                session_participants::ActiveModel {
                    session_id: Set(session.id.clone()),
                    share_index: Set(share.share_index),
                    user_id: Set(share.user_id.clone()),
                    se_id: Set(share.se_id.clone()),
                    status: Set(ParticipantStatus::Waiting),
                    channel_id: Set(None),
                    at: Set(now),
                }
                .insert(&txn)
                .await?,
            );
        }
        for request in &stored {
            record_audit(
                &txn,
                now,
                actor,
                "signing_request.imported",
                &request.id,
                json!({
                    "request_id": request.request_id, "case_id": request.case_id,
                    "tx_hash": request.tx_hash,
                }),
            )
            .await?;
        }
        let request_ids: Vec<&str> = stored.iter().map(|r| r.request_id.as_str()).collect();
        record_audit(
            &txn,
            now,
            actor,
            "session.created",
            &session.id,
            json!({
                "kind": session.kind, "case_id": session.case_id,
                "execution_id": session.execution_id, "request_ids": request_ids,
                "expires_at": expires_at.to_rfc3339(),
            }),
        )
        .await?;
        for request in &stored {
            enqueue(
                &txn,
                now,
                subjects::SIGNING_REQUESTED,
                json!({
                    "request_id": request.request_id, "case_id": request.case_id,
                    "tx_hash": request.tx_hash, "imported_by": actor,
                }),
            )
            .await?;
        }
        // `request_id` and `signing_hash` name the first request (what the notify-signing
        // reactor puts in the invitation); `request_ids` lists every request of the session.
        let head = stored.first();
        enqueue(
            &txn,
            now,
            subjects::SESSION_CREATED,
            json!({
                "session_id": session.id, "case_id": case.id,
                "request_id": head.map(|r| &r.request_id),
                "signing_hash": head.map(|r| &r.tx_hash),
                "request_ids": request_ids,
                "slots": participants.iter().map(|p| json!({
                    "share_index": p.share_index, "user_id": p.user_id, "se_id": p.se_id,
                })).collect::<Vec<_>>(),
                "expires_at": expires_at.timestamp(),
            }),
        )
        .await?;
        txn.commit().await?;
        Ok(ImportedBatch {
            requests: stored,
            session,
            participants,
        })
    }

    /// Protocol sessions, newest first, optionally of one case and/or in one status.
    pub async fn sessions(
        &self,
        case_id: Option<&str>,
        status: Option<SessionStatus>,
        limit: u64,
    ) -> Result<Vec<protocol_sessions::Model>> {
        let mut q = protocol_sessions::Entity::find();
        if let Some(case_id) = case_id {
            q = q.filter(protocol_sessions::Column::CaseId.eq(case_id));
        }
        if let Some(status) = status {
            q = q.filter(protocol_sessions::Column::Status.eq(status));
        }
        Ok(q.order_by_desc(protocol_sessions::Column::CreatedAt)
            .order_by_desc(protocol_sessions::Column::Id)
            .limit(limit)
            .all(self.conn())
            .await?)
    }

    /// One session with its participants, requests and signatures.
    pub async fn session_detail(&self, session_id: &str) -> Result<SessionDetail> {
        let c = self.conn();
        let session = find_session(c, session_id).await?;
        let participants = session_participants::Entity::find()
            .filter(session_participants::Column::SessionId.eq(session_id))
            .order_by_asc(session_participants::Column::ShareIndex)
            .all(c)
            .await?;
        let links = session_requests::Entity::find()
            .filter(session_requests::Column::SessionId.eq(session_id))
            .all(c)
            .await?;
        let mut requests = Vec::with_capacity(links.len());
        for link in links {
            let request = find_request(c, &link.signing_request_id).await?;
            requests.push((link, request));
        }
        let signatures = signatures::Entity::find()
            .filter(signatures::Column::SessionId.eq(session_id))
            .order_by_asc(signatures::Column::At)
            .all(c)
            .await?;
        Ok(SessionDetail {
            session,
            participants,
            requests,
            signatures,
        })
    }

    /// A signing request row by id.
    pub async fn signing_request(&self, id: &str) -> Result<signing_requests::Model> {
        find_request(self.conn(), id).await
    }

    /// The signature stored for a request, if any.
    pub async fn signature_for(
        &self,
        signing_request_id: &str,
    ) -> Result<Option<signatures::Model>> {
        Ok(signatures::Entity::find()
            .filter(signatures::Column::RequestId.eq(signing_request_id))
            .one(self.conn())
            .await?)
    }

    /// Store the signature a session produced for one of its requests: the request becomes
    /// SIGNED, and the session COMPLETED (progress `done`, its READY participants in the roster
    /// DONE) once every request in it is signed. The caller has
    /// verified the signature against the case address.
    pub async fn record_signature(
        &self,
        new: NewSignature,
        actor: &str,
        now: DateTime<Utc>,
    ) -> Result<signatures::Model> {
        check_name("r", &new.r)?;
        check_name("s", &new.s)?;
        if !(0..=1).contains(&new.v) {
            return Err(invalid("v", "must be the y-parity, 0 or 1"));
        }
        let txn = self.begin_write().await?;
        let request = find_request(&txn, &new.signing_request_id).await?;
        let session = find_session(&txn, &new.session_id).await?;
        let linked = session_requests::Entity::find_by_id((session.id.clone(), request.id.clone()))
            .one(&txn)
            .await?;
        if linked.is_none() || session.kind != SessionKind::Sign {
            return Err(invalid(
                "session_id",
                format!(
                    "session {} is not a signing session for request {}",
                    session.id, request.request_id
                ),
            ));
        }
        if !matches!(
            request.status,
            SigningRequestStatus::Imported | SigningRequestStatus::Signing
        ) {
            return Err(Error::Conflict(format!(
                "request {} is {:?}; it can get a signature only once",
                request.request_id, request.status
            )));
        }
        if !matches!(
            session.status,
            SessionStatus::Pending | SessionStatus::Running
        ) {
            return Err(Error::Conflict(format!(
                "session {} is {:?}; a finished session records nothing more",
                session.id, session.status
            )));
        }
        let signature = signatures::ActiveModel {
            id: Set(new_id(now)),
            request_id: Set(request.id.clone()),
            r: Set(new.r),
            s: Set(new.s),
            v: Set(new.v),
            raw_signed_tx: Set(new.raw_signed_tx),
            session_id: Set(session.id.clone()),
            at: Set(now),
        }
        .insert(&txn)
        .await?;
        let request_id = request.request_id.clone();
        let mut am: signing_requests::ActiveModel = request.into();
        am.status = Set(SigningRequestStatus::Signed);
        am.update(&txn).await?;
        let unsigned = session_requests::Entity::find()
            .filter(session_requests::Column::SessionId.eq(session.id.as_str()))
            .all(&txn)
            .await?;
        let mut open = 0;
        for link in unsigned {
            let r = find_request(&txn, &link.signing_request_id).await?;
            if matches!(
                r.status,
                SigningRequestStatus::Imported | SigningRequestStatus::Signing
            ) {
                open += 1;
            }
        }
        let session_id = session.id.clone();
        if open == 0 {
            // The shares that ran took part in a finished run.
            let roster = crate::coordination::roster_of(&session);
            let ready = session_participants::Entity::find()
                .filter(session_participants::Column::SessionId.eq(session.id.as_str()))
                .filter(session_participants::Column::Status.eq(ParticipantStatus::Ready))
                .all(&txn)
                .await?;
            for p in ready {
                if roster.as_ref().is_some_and(|r| !r.contains(&p.share_index)) {
                    continue;
                }
                let mut am: session_participants::ActiveModel = p.into();
                am.status = Set(ParticipantStatus::Done);
                am.at = Set(now);
                am.update(&txn).await?;
            }
            let mut am: protocol_sessions::ActiveModel = session.into();
            am.status = Set(SessionStatus::Completed);
            am.finished_at = Set(Some(now));
            am.progress = Set(Some("done".to_owned()));
            am.update(&txn).await?;
        }
        record_audit(
            &txn,
            now,
            actor,
            "signature.recorded",
            &signature.id,
            json!({
                "request_id": request_id, "session_id": session_id,
                "r": signature.r, "s": signature.s, "v": signature.v,
                "session_completed": open == 0,
            }),
        )
        .await?;
        txn.commit().await?;
        Ok(signature)
    }

    /// Record that a `SignatureResponse` for a signed request left the zone (every export is
    /// audited; the request becomes EXPORTED).
    pub async fn record_response_export(
        &self,
        signing_request_id: &str,
        envelope_id: &str,
        actor: &str,
        now: DateTime<Utc>,
    ) -> Result<signing_requests::Model> {
        let txn = self.begin_write().await?;
        let request = find_request(&txn, signing_request_id).await?;
        if !matches!(
            request.status,
            SigningRequestStatus::Signed | SigningRequestStatus::Exported
        ) {
            return Err(Error::Conflict(format!(
                "request {} has no signature yet; a response can be exported once two managers have signed",
                request.request_id
            )));
        }
        let mut am: signing_requests::ActiveModel = request.clone().into();
        am.status = Set(SigningRequestStatus::Exported);
        let request = am.update(&txn).await?;
        record_audit(
            &txn,
            now,
            actor,
            "signature_response.exported",
            &request.id,
            json!({"request_id": request.request_id, "envelope_id": envelope_id}),
        )
        .await?;
        txn.commit().await?;
        Ok(request)
    }

    /// Record that an `AccountManifest` for an ACTIVE case left the zone.
    pub async fn record_manifest_export(
        &self,
        case_id: &str,
        envelope_id: &str,
        actor: &str,
        now: DateTime<Utc>,
    ) -> Result<cases::Model> {
        let txn = self.begin_write().await?;
        let case = find_case(&txn, case_id).await?;
        if case.status != CaseStatus::Active {
            return Err(Error::Conflict(format!(
                "case {} is not active; only an active case with a key has a manifest",
                case.name
            )));
        }
        record_audit(
            &txn,
            now,
            actor,
            "account_manifest.exported",
            &case.id,
            json!({
                "envelope_id": envelope_id, "address": case.address,
                "public_key": case.public_key,
            }),
        )
        .await?;
        txn.commit().await?;
        Ok(case)
    }

    /// Store a verified balance attestation. An envelope id seen before is refused
    /// ([`Error::AlreadyImported`]); nothing is written.
    pub async fn import_balance_attestation(
        &self,
        new: NewBalanceAttestation,
        actor: &str,
        now: DateTime<Utc>,
    ) -> Result<balance_attestations::Model> {
        check_name("envelope_id", &new.envelope_id)?;
        check_name("address", &new.address)?;
        let txn = self.begin_write().await?;
        let seen = balance_attestations::Entity::find()
            .filter(balance_attestations::Column::EnvelopeId.eq(new.envelope_id.as_str()))
            .count(&txn)
            .await?;
        if seen > 0 {
            return Err(Error::AlreadyImported {
                what: "balance attestation",
                id: new.envelope_id,
            });
        }
        let row = balance_attestations::ActiveModel {
            id: Set(new_id(now)),
            envelope_id: Set(new.envelope_id.clone()),
            address: Set(new.address),
            chain_id: Set(to_i64("chain_id", new.chain_id)?),
            block_number: Set(to_i64("block_number", new.block_number)?),
            block_hash: Set(new.block_hash),
            empty: Set(new.empty),
            balances: Set(new.balances),
            issued_at: Set(new.issued_at),
            imported_by: Set(actor.to_owned()),
            at: Set(now),
        }
        .insert(&txn)
        .await
        .map_err(|e| {
            if is_unique_violation(&e) {
                Error::AlreadyImported {
                    what: "balance attestation",
                    id: new.envelope_id.clone(),
                }
            } else {
                e.into()
            }
        })?;
        record_audit(
            &txn,
            now,
            actor,
            "balance_attestation.imported",
            &row.id,
            json!({
                "envelope_id": row.envelope_id, "address": row.address,
                "chain_id": row.chain_id, "block_number": row.block_number,
                "block_hash": row.block_hash, "empty": row.empty,
            }),
        )
        .await?;
        txn.commit().await?;
        Ok(row)
    }

    /// Mark an ACTIVE case for re-key: a new keygen and a sweep of its funds to the new address
    /// (used when an SE is lost or a share is suspect). The case keeps signing — the sweep
    /// needs it — until it is archived.
    pub async fn request_rekey(
        &self,
        case_id: &str,
        reason: &str,
        actor: &str,
        now: DateTime<Utc>,
    ) -> Result<cases::Model> {
        check_name("reason", reason)?;
        let txn = self.begin_write().await?;
        let case = find_case(&txn, case_id).await?;
        if case.status != CaseStatus::Active {
            return Err(Error::Conflict(format!(
                "case {} is not active; only a case with a key can be re-keyed",
                case.name
            )));
        }
        if let Some(at) = case.rekey_requested_at {
            return Err(Error::Conflict(format!(
                "case {} was already marked for re-key at {}",
                case.name,
                at.to_rfc3339()
            )));
        }
        let mut am: cases::ActiveModel = case.into();
        am.rekey_requested_at = Set(Some(now));
        am.rekey_reason = Set(Some(reason.trim().to_owned()));
        am.updated_at = Set(now);
        let case = am.update(&txn).await?;
        record_audit(
            &txn,
            now,
            actor,
            "case.rekey_requested",
            &case.id,
            json!({"name": case.name, "reason": case.rekey_reason, "address": case.address}),
        )
        .await?;
        enqueue(
            &txn,
            now,
            subjects::CASE_REKEY_REQUESTED,
            json!({"case_id": case.id, "reason": case.rekey_reason, "by": actor}),
        )
        .await?;
        txn.commit().await?;
        Ok(case)
    }

    /// Mark every PENDING or RUNNING session (signing or keygen) whose expiry has passed
    /// EXPIRED, with its unsigned requests; a case whose keygen session expired goes back to
    /// DRAFT when no other keygen session of it is live. Returns the sessions it expired. Each
    /// is its own transaction with its own audit record.
    pub async fn expire_sessions(&self, now: DateTime<Utc>) -> Result<Vec<String>> {
        let due = protocol_sessions::Entity::find()
            .filter(
                protocol_sessions::Column::Status
                    .is_in([SessionStatus::Pending, SessionStatus::Running]),
            )
            .filter(protocol_sessions::Column::ExpiresAt.lte(now))
            .all(self.conn())
            .await?;
        let mut expired = Vec::with_capacity(due.len());
        for candidate in due {
            let txn = self.begin_write().await?;
            // Re-read inside the write transaction: the session may have finished meanwhile.
            let session = find_session(&txn, &candidate.id).await?;
            if !matches!(
                session.status,
                SessionStatus::Pending | SessionStatus::Running
            ) {
                continue;
            }
            let id = session.id.clone();
            crate::coordination::expire_in(&txn, session, now).await?;
            txn.commit().await?;
            expired.push(id);
        }
        Ok(expired)
    }
}
