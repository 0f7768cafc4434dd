//! Sessions and the documents that cross the air gap besides signing requests: signature
//! responses and account manifests (signed by the HSM's envelope key) going out, balance
//! attestations coming in, and the re-key mark on a case.
//!
//! A document is checked before it is signed: a response is rebuilt from the stored signature
//! and must recover to the case address over the stored unsigned transaction
//! ([`contracts::SignatureResponse::check_for`]); a manifest's key must give the case address.
//! Every export is audited in the database before the document is returned.

use auth::Action;
use contracts::transfer_format::{to_armor, to_qr_parts};
use contracts::{AccountManifest, Body, Envelope, EthAddress, Id, SignatureResponse};
use poem::Request;
use poem_openapi::param::{Path, Query};
use poem_openapi::payload::Json;
use poem_openapi::OpenApi;

use crate::api::Tag;
use crate::clock::unix_secs;
use crate::dto::*;
use crate::error::{ApiError, ApiResult};
use crate::import;
use crate::state::AppState;

/// How long an exported signature response or manifest stays valid.
pub const EXPORT_TTL_SECS: u64 = 7 * 24 * 3600;

/// The most sessions one listing returns.
const MAX_SESSIONS: u64 = 500;

/// The sessions and exchange endpoints.
pub struct ExchangeApi {
    /// `None` only when the service is built to print the OpenAPI document.
    pub(crate) state: Option<AppState>,
}

fn session_view(s: offline_db::entity::protocol_sessions::Model) -> SessionView {
    let roster = offline_db::roster_of(&s);
    SessionView {
        id: s.id,
        kind: db_str(s.kind),
        case_id: s.case_id,
        status: db_str(s.status),
        execution_id: s.execution_id,
        error: s.error,
        progress: s.progress,
        roster,
        created_at: s.created_at.to_rfc3339(),
        finished_at: s.finished_at.map(|t| t.to_rfc3339()),
        expires_at: s.expires_at.map(|t| t.to_rfc3339()),
    }
}

fn hex32(field: &str, value: &str) -> ApiResult<[u8; 32]> {
    let bytes = hex::decode(value.trim_start_matches("0x"))
        .map_err(|_| ApiError::internal(format!("stored {field} is not hex")))?;
    bytes
        .try_into()
        .map_err(|_| ApiError::internal(format!("stored {field} is not 32 bytes")))
}

/// Parse a stored id as an envelope id (UUIDv7).
fn envelope_id(field: &str, value: &str) -> ApiResult<Id> {
    Id::parse(value).map_err(|e| ApiError::internal(format!("stored {field} {value}: {e}")))
}

impl ExchangeApi {
    fn s(&self) -> ApiResult<&AppState> {
        self.state.as_ref().ok_or_else(|| {
            ApiError::internal("the API was built without state (document generation only)")
        })
    }

    /// Seal `body` with the HSM envelope key (a blocking PKCS#11 call) and render it. The
    /// envelope carries a fresh HSM-signed checkpoint of the audit log as its witness.
    async fn seal<T: Body + Send + 'static>(
        &self,
        body: T,
    ) -> ApiResult<(Envelope, ExportedEnvelope)> {
        let st = self.s()?;
        let witness = st.inner.db.export_witness(st.now()).await?;
        let now = unix_secs(st.now());
        let id = Id::new_v7(now);
        let signer = st.inner.hsm.envelope_signer();
        let envelope = tokio::task::spawn_blocking(move || {
            Envelope::seal_witnessed(&body, &signer, id, now, EXPORT_TTL_SECS, witness)
        })
        .await?
        .map_err(|e| ApiError::Conflict(format!("the document could not be signed: {e}")))?;
        let armored = to_armor(&envelope).map_err(ApiError::internal)?;
        let qr_parts = to_qr_parts(&envelope).map_err(ApiError::internal)?;
        let expires_at = i64::try_from(envelope.expires_at())
            .ok()
            .and_then(|t| chrono::DateTime::from_timestamp(t, 0))
            .map(|t| t.to_rfc3339())
            .unwrap_or_default();
        let view = ExportedEnvelope {
            envelope_id: envelope.id().to_string(),
            // The wire name of the kind (`signature_response`, `account_manifest`).
            kind: serde_json::to_value(envelope.kind())
                .ok()
                .and_then(|v| v.as_str().map(str::to_owned))
                .unwrap_or_default(),
            armored,
            qr_parts,
            expires_at,
        };
        Ok((envelope, view))
    }
}

#[OpenApi(prefix_path = "/api")]
impl ExchangeApi {
    /// Keygen and signing sessions, newest first (optionally of one case, in one status).
    #[oai(path = "/sessions", method = "get", tag = "Tag::Sessions")]
    async fn list_sessions(
        &self,
        req: &Request,
        /// Only this case's sessions.
        case_id: Query<Option<String>>,
        /// Only sessions in this status (`PENDING`, `RUNNING`, `COMPLETED`, `FAILED`, `EXPIRED`).
        status: Query<Option<String>>,
    ) -> ApiResult<Json<Vec<SessionView>>> {
        let st = self.s()?;
        st.authorize(req, Action::ViewSigningSessions).await?;
        let status = match status.0.as_deref() {
            None => None,
            Some(s) => Some(
                <offline_db::SessionStatus as sea_orm::ActiveEnum>::try_from_value(
                    &s.to_ascii_uppercase(),
                )
                .map_err(|_| {
                    ApiError::invalid(
                        "status",
                        "must be PENDING, RUNNING, COMPLETED, FAILED or EXPIRED",
                    )
                })?,
            ),
        };
        let rows = st
            .inner
            .db
            .sessions(case_id.0.as_deref(), status, MAX_SESSIONS)
            .await?;
        Ok(Json(rows.into_iter().map(session_view).collect()))
    }

    /// One session with its progress: who is ready, what it signs, the signatures.
    #[oai(path = "/sessions/:id", method = "get", tag = "Tag::Sessions")]
    async fn get_session(
        &self,
        req: &Request,
        id: Path<String>,
    ) -> ApiResult<Json<SessionDetailView>> {
        let st = self.s()?;
        st.authorize(req, Action::ViewSigningSessions).await?;
        let d = st.inner.db.session_detail(&id.0).await?;
        let mut participants = Vec::with_capacity(d.participants.len());
        for p in d.participants {
            let user = st.inner.db.user(&p.user_id).await?;
            let se = st.inner.db.secure_element(&p.se_id).await?;
            let connected = match p.channel_id.as_deref() {
                Some(channel) => st
                    .inner
                    .db
                    .channel(channel)
                    .await?
                    .is_some_and(|c| c.status == offline_db::coordination::CHANNEL_ESTABLISHED),
                None => false,
            };
            participants.push(ParticipantView {
                share_index: p.share_index,
                status: db_str(p.status),
                display_name: user.as_ref().map(|u| u.display_name.clone()),
                phone: user.and_then(|u| u.phone),
                user_id: p.user_id,
                se_serial: se.map(|s| s.serial),
                se_id: p.se_id,
                connected,
                at: p.at.to_rfc3339(),
            });
        }
        Ok(Json(SessionDetailView {
            session: session_view(d.session),
            participants,
            requests: d
                .requests
                .into_iter()
                .map(|(link, r)| SessionRequestView {
                    id: r.id,
                    request_id: r.request_id,
                    tx_hash: r.tx_hash,
                    status: db_str(r.status),
                    execution_id: link.execution_id,
                })
                .collect(),
            signatures: d
                .signatures
                .into_iter()
                .map(|s| SignatureView {
                    signing_request_id: s.request_id,
                    r: s.r,
                    s: s.s,
                    v: s.v,
                    signed_tx: hex::encode(&s.raw_signed_tx),
                    at: s.at.to_rfc3339(),
                })
                .collect(),
        }))
    }

    /// Export the `SignatureResponse` of a signed request, signed by the HSM: armored text
    /// (save as a file) and QR parts. The signature is checked against the case address
    /// before anything is signed; every export is audited.
    #[oai(
        path = "/signing-requests/:id/response",
        method = "post",
        tag = "Tag::Exchange"
    )]
    async fn export_response(
        &self,
        req: &Request,
        id: Path<String>,
    ) -> ApiResult<Json<ExportedEnvelope>> {
        let st = self.s()?;
        let caller = st.authorize(req, Action::ExportSignatureResponse).await?;
        let db = &st.inner.db;
        let request = db.signing_request(&id.0).await?;
        let Some(sig) = db.signature_for(&request.id).await? else {
            return Err(ApiError::Conflict(format!(
                "request {} has no signature yet; a response can be exported once two managers have signed",
                request.request_id
            )));
        };
        let case = db
            .case(&request.case_id)
            .await?
            .ok_or_else(|| ApiError::internal("a signing request without its case"))?;
        let from = EthAddress::parse(case.address.as_deref().unwrap_or_default())
            .map_err(|e| ApiError::internal(format!("stored case address: {e}")))?;
        let unsigned_tx = request
            .decoded
            .get("unsigned_tx")
            .and_then(|v| v.as_str())
            .and_then(|h| hex::decode(h).ok())
            .ok_or_else(|| ApiError::internal("stored request has no unsigned transaction"))?;
        let signed = contracts::eth::decode_signed(&sig.raw_signed_tx).map_err(|e| {
            ApiError::Conflict(format!(
                "the stored signed transaction does not decode: {e}"
            ))
        })?;
        let response = SignatureResponse {
            request_id: envelope_id("request_id", &request.request_id)?,
            r: hex32("r", &sig.r)?,
            s: hex32("s", &sig.s)?,
            y_parity: sig.v == 1,
            signed_tx: sig.raw_signed_tx.clone(),
            tx_hash: signed.tx_hash,
        };
        response.check_for(&unsigned_tx, &from).map_err(|e| {
            ApiError::Conflict(format!(
                "the stored signature does not check out, nothing was exported: {e}"
            ))
        })?;
        let (envelope, view) = self.seal(response).await?;
        db.record_response_export(
            &request.id,
            &envelope.id().to_string(),
            &caller.user.id,
            st.now(),
        )
        .await?;
        Ok(Json(view))
    }

    /// Export the `AccountManifest` of an ACTIVE case (its public key, address and chains),
    /// signed by the HSM, for import into the online zone.
    #[oai(path = "/cases/:id/manifest", method = "post", tag = "Tag::Exchange")]
    async fn export_manifest(
        &self,
        req: &Request,
        id: Path<String>,
    ) -> ApiResult<Json<ExportedEnvelope>> {
        let st = self.s()?;
        let caller = st.authorize(req, Action::ExportAccountManifest).await?;
        let db = &st.inner.db;
        let case = db
            .case(&id.0)
            .await?
            .ok_or_else(|| ApiError::NotFound(format!("case {} does not exist", id.0)))?;
        let (Some(public_key), Some(address), offline_db::CaseStatus::Active) = (
            case.public_key.as_deref(),
            case.address.as_deref(),
            case.status,
        ) else {
            return Err(ApiError::Conflict(format!(
                "case {} is not active; only an active case with a key has a manifest",
                case.name
            )));
        };
        let public_key = hex::decode(public_key.trim_start_matches("0x"))
            .map_err(|_| ApiError::internal("stored case public key is not hex"))?;
        let address = EthAddress::parse(address)
            .map_err(|e| ApiError::internal(format!("stored case address: {e}")))?;
        let chain_ids: Vec<u64> = serde_json::from_value(case.chain_ids.clone())
            .map_err(|e| ApiError::internal(format!("stored chain ids: {e}")))?;
        let manifest = AccountManifest {
            case_id: envelope_id("case id", &case.id)?,
            public_key,
            addresses: vec![address],
            chain_ids,
        };
        let (envelope, view) = self.seal(manifest).await?;
        db.record_manifest_export(
            &case.id,
            &envelope.id().to_string(),
            &caller.user.id,
            st.now(),
        )
        .await?;
        Ok(Json(view))
    }

    /// Import a `BalanceAttestation` from the online zone (verified against the pinned online
    /// key). The latest one for a case's address decides whether the case may be deleted.
    #[oai(path = "/balance-attestations", method = "post", tag = "Tag::Exchange")]
    async fn import_attestation(
        &self,
        req: &Request,
        body: Json<ImportEnvelope>,
    ) -> ApiResult<Json<AttestationView>> {
        let st = self.s()?;
        let caller = st.authorize(req, Action::ImportBalanceAttestation).await?;
        let now = st.now();
        let verified =
            import::check_attestation(&st.inner.keyring, &body.0.envelope, unix_secs(now))?;
        st.inner.db.check_peer_witness(verified.witness()).await?;
        let witness = verified.witness().to_vec();
        let envelope_id = verified.id().to_string();
        let issued_at = i64::try_from(verified.issued_at())
            .ok()
            .and_then(|t| chrono::DateTime::from_timestamp(t, 0))
            .ok_or_else(|| ApiError::invalid("envelope", "the issue time is out of range"))?;
        let att = verified.into_body();
        let balances: Vec<serde_json::Value> = att
            .balances
            .iter()
            .map(|b| {
                serde_json::json!({
                    "asset": b.asset,
                    "token": b.token.map(|t| t.to_checksum()),
                    "amount": b.amount.to_string(),
                })
            })
            .collect();
        let row = st
            .inner
            .db
            .import_balance_attestation(
                offline_db::NewBalanceAttestation {
                    envelope_id,
                    address: att.address.to_checksum(),
                    chain_id: att.chain_id,
                    block_number: att.block_number,
                    block_hash: hex::encode(att.block_hash),
                    empty: att.is_empty_account(),
                    balances: serde_json::Value::Array(balances),
                    issued_at,
                },
                &caller.user.id,
                now,
            )
            .await?;
        if let Err(error) = st
            .inner
            .db
            .store_peer_witness(&witness, &row.envelope_id, now)
            .await
        {
            tracing::error!(%error, envelope = %row.envelope_id, "could not keep the online zone's audit checkpoints");
        }
        Ok(Json(AttestationView {
            id: row.id,
            envelope_id: row.envelope_id,
            address: row.address,
            chain_id: row.chain_id,
            block_number: row.block_number,
            block_hash: row.block_hash,
            empty: row.empty,
            balances: row.balances,
            issued_at: row.issued_at.to_rfc3339(),
        }))
    }

    /// Mark an ACTIVE case for re-key (a new keygen and a sweep of its funds), e.g. after an
    /// SE was lost. The case keeps signing until it is archived: the sweep needs it.
    #[oai(path = "/cases/:id/rekey", method = "post", tag = "Tag::Cases")]
    async fn rekey(
        &self,
        req: &Request,
        id: Path<String>,
        body: Json<RekeyRequest>,
    ) -> ApiResult<Json<CaseView>> {
        let st = self.s()?;
        let caller = st.authorize(req, Action::ManageCases).await?;
        let case = st
            .inner
            .db
            .request_rekey(&id.0, &body.0.reason, &caller.user.id, st.now())
            .await?;
        Ok(Json(CaseView::from(&case)))
    }
}
