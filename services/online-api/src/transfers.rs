//! Transfers: built from what a trader asks (validated against the address rules, the
//! balance and the account's policy; nonce and EIP-1559 fees from the node), approved by a
//! second trader when the policy wants it, exported as a `SigningRequest` signed by the export
//! key, and completed by importing the offline zone's `SignatureResponse`, which queues the
//! broadcast through the outbox.

use auth::Action;
use contracts::envelope::Person;
use contracts::eth::{self, Eip1559Fields};
use contracts::{Amount, Id, SignatureResponse, SigningRequest, TransferSummary};
use online_db::entity::transfers;
use online_db::{Asset, NewTransfer, Reserved, SignatureImport};
use poem::Request;
use poem_openapi::param::{Path, Query};
use poem_openapi::payload::Json;
use poem_openapi::OpenApi;

use crate::accounts::{
    amount, asset, balances_of, chain_tokens, checksummed, funds, funds_of, visible_account,
};
use crate::api::{state, Tag};
use crate::dto::*;
use crate::error::{ApiError, ApiResult, Rejection};
use crate::export;
use crate::session::Caller;
use crate::state::AppState;

/// Gas of a plain ether transfer to an account.
const ETH_TRANSFER_GAS: u64 = 21_000;
/// Headroom on an estimated token-transfer gas limit, percent.
const GAS_HEADROOM_PERCENT: u64 = 20;
/// The most transfers one listing returns.
const MAX_LIST: u64 = 500;

/// The transfer endpoints.
pub struct TransfersApi {
    /// `None` only when the service is built to print the OpenAPI document.
    pub(crate) state: Option<AppState>,
}

async fn visible_transfer(
    st: &AppState,
    caller: &Caller,
    transfer_id: &str,
) -> ApiResult<transfers::Model> {
    let t = st
        .inner
        .db
        .transfer(transfer_id)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("transfer {transfer_id} does not exist")))?;
    visible_account(st, caller, &t.account_id).await?;
    Ok(t)
}

async fn person(st: &AppState, user_id: &str) -> ApiResult<Person> {
    let user =
        st.inner.db.user(user_id).await?.ok_or_else(|| {
            ApiError::internal(format!("user {user_id} of a transfer is missing"))
        })?;
    Ok(Person {
        user_id: Id::parse(&user.id).map_err(ApiError::internal)?,
        username: user.username,
    })
}

/// The signing request for a DRAFT transfer, exactly as stored.
async fn signing_request(
    st: &AppState,
    t: &transfers::Model,
    request_id: Id,
) -> ApiResult<SigningRequest> {
    let fields = Eip1559Fields::from_alloy(
        &eth::decode_unsigned(&t.unsigned_tx).map_err(ApiError::internal)?,
    )
    .map_err(ApiError::internal)?;
    let signing_hash: [u8; 32] = hex::decode(t.signing_hash.trim_start_matches("0x"))
        .ok()
        .and_then(|b| b.try_into().ok())
        .ok_or_else(|| ApiError::internal("stored signing hash is not 32 bytes of hex"))?;
    let (asset_symbol, token, decimals) = match t.asset().map_err(ApiError::from)? {
        Asset::Eth => ("ETH".to_owned(), None, 18),
        Asset::Token(address) => {
            let configured = chain_tokens(st).await?;
            let meta = configured
                .iter()
                .find(|k| k.address == address.to_checksum())
                .ok_or_else(|| {
                    ApiError::Conflict(format!(
                        "token {address} is no longer configured; the transfer cannot be exported"
                    ))
                })?;
            (
                meta.symbol.clone(),
                Some(address),
                u8::try_from(meta.decimals).map_err(ApiError::internal)?,
            )
        }
    };
    let mut approved_by = Vec::new();
    if let Some(approver) = &t.approved_by {
        approved_by.push(person(st, approver).await?);
    }
    let account = st
        .inner
        .db
        .account(&t.account_id)
        .await?
        .ok_or_else(|| ApiError::internal("the transfer's account is missing"))?;
    Ok(SigningRequest {
        request_id,
        chain_id: fields.chain_id,
        from: account.address().map_err(ApiError::from)?,
        transaction: fields,
        unsigned_tx: t.unsigned_tx.clone(),
        signing_hash,
        summary: TransferSummary {
            asset_symbol,
            token,
            recipient: t.to().map_err(ApiError::from)?,
            amount: t.amount().map_err(ApiError::from)?,
            decimals,
        },
        created_by: person(st, &t.created_by).await?,
        approved_by,
    })
}

#[OpenApi(prefix_path = "/api")]
impl TransfersApi {
    /// Build a transfer (DRAFT): the recipient must be EIP-55 checksummed and not zero; the
    /// amount and the most the fees can cost must be covered by the balance; the account's
    /// policy (single and daily limit, allow-list) must allow it. Nonce and fees come from the
    /// node, the nonce counting this account's transfers still in flight.
    #[oai(path = "/transfers", method = "post", tag = "Tag::Transfers")]
    async fn create(
        &self,
        req: &Request,
        body: Json<CreateTransferRequest>,
    ) -> ApiResult<Json<TransferView>> {
        let st = state(&self.state)?;
        let caller = st.authorize(req, Action::CreateTransfer).await?;
        let body = body.0;
        let to = checksummed("to", &body.to)?;
        let value = amount("amount", &body.amount)?;
        if value == Amount::default() {
            return Err(ApiError::invalid("amount", "must be positive"));
        }
        let asset = asset(&body.asset)?;
        let account = visible_account(st, &caller, body.account_id.trim()).await?;
        let from = account.address().map_err(ApiError::from)?;
        if to == from {
            return Err(ApiError::invalid("to", "is the account itself"));
        }
        if let Asset::Token(token) = asset {
            let configured = chain_tokens(st).await?;
            if !configured.iter().any(|k| k.address == token.to_checksum()) {
                return Err(ApiError::invalid(
                    "asset",
                    format!("token {token} is not configured on this chain"),
                ));
            }
        }
        let chain = &st.inner.chain;
        let (balances, _) = balances_of(st, &account, true).await?;
        // A first look at the balance, so a token transfer the account cannot cover is refused
        // before the node is asked to estimate it; the binding check of the balance, limits
        // and allow-list is `create_transfer`'s, in its transaction.
        let reserved = Reserved::of(&st.inner.db.in_flight(&account.id).await?)?;
        let fees = chain.fees().await?;
        let gas_limit = match asset {
            Asset::Eth => ETH_TRANSFER_GAS,
            Asset::Token(token) => {
                let held = balances
                    .tokens
                    .iter()
                    .find(|b| b.token.0 == token)
                    .map(|b| b.amount)
                    .unwrap_or_default();
                let reserved = reserved.token(token);
                if value.0.saturating_add(reserved.0) > held.0 {
                    return Err(ApiError::Policy(format!(
                        "the amount {value} exceeds the account's token balance {held} less \
                         {reserved} committed to transfers in flight"
                    )));
                }
                let estimate = chain
                    .estimate_gas(
                        from,
                        &chain::TransferCall::Erc20 {
                            token: chain::TokenAddress(token),
                            to,
                            amount: value,
                        },
                    )
                    .await?;
                estimate.saturating_add(estimate.saturating_mul(GAS_HEADROOM_PERCENT) / 100)
            }
        };
        let chain_nonce = chain.next_nonce(from).await?;
        let nonce = match st.inner.db.pending_nonce(&account.id).await? {
            Some(n) => chain_nonce.max(n.saturating_add(1)),
            None => chain_nonce,
        };
        let t = st
            .inner
            .db
            .create_transfer(
                NewTransfer {
                    account_id: account.id.clone(),
                    asset,
                    to,
                    amount: value,
                    nonce,
                    gas_limit,
                    max_fee_per_gas: Amount::from(fees.max_fee_per_gas),
                    max_priority_fee_per_gas: Amount::from(fees.max_priority_fee_per_gas),
                },
                &funds(&balances),
                &caller.user.id,
                st.now(),
            )
            .await?;
        Ok(Json(TransferView::from(&t)))
    }

    /// Transfers the caller may see, newest first (a trader: of granted accounts).
    #[oai(path = "/transfers", method = "get", tag = "Tag::Transfers")]
    async fn list(
        &self,
        req: &Request,
        account_id: Query<Option<String>>,
    ) -> ApiResult<Json<Vec<TransferView>>> {
        let st = state(&self.state)?;
        let caller = st.authorize(req, Action::ViewTransfers).await?;
        let accounts = match &account_id.0 {
            Some(id) => vec![visible_account(st, &caller, id).await?],
            None if caller.user.role == online_db::Role::Trader => {
                st.inner.db.accounts_for_user(&caller.user.id).await?
            }
            None => st.inner.db.list_accounts().await?,
        };
        let mut all = Vec::new();
        for a in &accounts {
            all.extend(st.inner.db.transfers_of(&a.id, MAX_LIST).await?);
        }
        all.sort_by(|a, b| b.created_at.cmp(&a.created_at).then(b.id.cmp(&a.id)));
        all.truncate(usize::try_from(MAX_LIST).unwrap_or(usize::MAX));
        Ok(Json(all.iter().map(TransferView::from).collect()))
    }

    /// One transfer.
    #[oai(path = "/transfers/:id", method = "get", tag = "Tag::Transfers")]
    async fn get(&self, req: &Request, id: Path<String>) -> ApiResult<Json<TransferView>> {
        let st = state(&self.state)?;
        let caller = st.authorize(req, Action::ViewTransfers).await?;
        Ok(Json(TransferView::from(
            &visible_transfer(st, &caller, &id.0).await?,
        )))
    }

    /// Approve a DRAFT transfer as the second trader (maker-checker): not its creator. The
    /// transfer must still pass the account's policy and balance as they are now. Confirmed
    /// with your password (`reauthentication-failed` otherwise).
    #[oai(
        path = "/transfers/:id/approve",
        method = "post",
        tag = "Tag::Transfers"
    )]
    async fn approve(
        &self,
        req: &Request,
        id: Path<String>,
        body: Json<PasswordRequest>,
    ) -> ApiResult<Json<TransferView>> {
        let st = state(&self.state)?;
        let caller = st.authorize(req, Action::ApproveTransfer).await?;
        st.reauthenticate(req, &caller, body.0.password).await?;
        let t = visible_transfer(st, &caller, &id.0).await?;
        let account = visible_account(st, &caller, &t.account_id).await?;
        let funds = funds_of(st, &account).await?;
        let t = st
            .inner
            .db
            .approve_transfer(&id.0, &funds, &caller.user.id, st.now())
            .await?;
        Ok(Json(TransferView::from(&t)))
    }

    /// Export a DRAFT transfer, confirmed with your password, as a `SigningRequest` signed by
    /// the export key, as a file
    /// (armored text) and as QR codes. The transfer becomes EXPORTED. It must still pass the
    /// account's policy as it is now (single limit, 24-hour limit counted by export time,
    /// allow-list, a second trader's approval if required) and the balance read now must cover
    /// it beside the transfers in flight; otherwise `policy-violation` and it stays a draft.
    /// An EXPORTED transfer's request is sealed again under the same request id (a lost file,
    /// an unreadable QR code).
    #[oai(
        path = "/transfers/:id/export",
        method = "post",
        tag = "Tag::Transfers"
    )]
    async fn export(
        &self,
        req: &Request,
        id: Path<String>,
        body: Json<PasswordRequest>,
    ) -> ApiResult<Json<ExportedRequest>> {
        let st = state(&self.state)?;
        let caller = st.authorize(req, Action::ExportSigningRequest).await?;
        st.reauthenticate(req, &caller, body.0.password).await?;
        let t = visible_transfer(st, &caller, &id.0).await?;
        if t.status == online_db::TransferStatus::Exported {
            // The same request again (lost file, unreadable QR): same request id, so the
            // offline zone still accepts it only once; a fresh envelope and expiry.
            let request_id = t
                .request_id
                .as_deref()
                .map(Id::parse)
                .transpose()
                .map_err(ApiError::internal)?
                .ok_or_else(|| ApiError::internal("an exported transfer has no request id"))?;
            let body = signing_request(st, &t, request_id).await?;
            let (envelope, document) = export::seal(st, body, st.inner.request_ttl_secs).await?;
            let t = st
                .inner
                .db
                .record_reexport(&t.id, &envelope.id().to_string(), &caller.user.id, st.now())
                .await?;
            return Ok(Json(ExportedRequest {
                transfer: TransferView::from(&t),
                document,
            }));
        }
        if t.status != online_db::TransferStatus::Draft {
            return Err(ApiError::Conflict(format!(
                "transfer {} is {}; only a draft (or an exported transfer, again) can be exported",
                t.id, t.status
            )));
        }
        let account = visible_account(st, &caller, &t.account_id).await?;
        let funds = funds_of(st, &account).await?;
        let request_id = Id::new_v7(web::unix_secs(st.now()));
        let body = signing_request(st, &t, request_id).await?;
        let (_, document) = export::seal(st, body, st.inner.request_ttl_secs).await?;
        // The policy (limits by export time, allow-list, approval, balance) is checked again
        // in the transaction that marks the transfer EXPORTED; if it refuses, the sealed
        // envelope is dropped unseen and the transfer stays a draft.
        let t = st
            .inner
            .db
            .mark_exported(
                &t.id,
                &request_id.to_string(),
                &funds,
                &caller.user.id,
                st.now(),
            )
            .await?;
        Ok(Json(ExportedRequest {
            transfer: TransferView::from(&t),
            document,
        }))
    }

    /// Import the offline zone's `SignatureResponse` (file or QR text): the envelope must
    /// verify under a pinned offline key; the response must answer an EXPORTED transfer the
    /// caller may use; its signed transaction must be exactly the exported one and recover to
    /// the account's address. The transfer becomes SIGNED and its broadcast is queued. If the
    /// transfer no longer passes the account's policy or balance (checked as at export), the
    /// response is refused with `policy-violation`: the transfer becomes FAILED with the reason
    /// as its `error`, and nothing is broadcast.
    #[oai(path = "/signature-responses", method = "post", tag = "Tag::Transfers")]
    async fn import_response(
        &self,
        req: &Request,
        body: Json<ImportRequest>,
    ) -> ApiResult<Json<TransferView>> {
        let st = state(&self.state)?;
        let caller = st.authorize(req, Action::ImportSignatureResponse).await?;
        let (verified, _) = export::import::<SignatureResponse>(st, &body.0.document).await?;
        let witness = verified.witness().to_vec();
        let response_id = verified.id().to_string();
        let witness_source = response_id.clone();
        let response = verified.into_body();
        let request_id = response.request_id.to_string();
        let t = st
            .inner
            .db
            .transfer_by_request_id(&request_id)
            .await?
            .ok_or_else(|| {
                ApiError::reject(
                    Rejection::UnknownRequest,
                    format!("no transfer was exported as signing request {request_id}"),
                )
            })?;
        let account = visible_account(st, &caller, &t.account_id).await?;
        let from = account.address().map_err(ApiError::from)?;
        response
            .check_for(&t.unsigned_tx, &from)
            .map_err(export::reject)?;
        let funds = funds_of(st, &account).await?;
        let t = st
            .inner
            .db
            .attach_signature(
                SignatureImport {
                    response_id,
                    request_id,
                    signed_tx: response.signed_tx,
                },
                &funds,
                &caller.user.id,
                st.now(),
            )
            .await
            .map_err(|e| match e {
                online_db::Error::Validation { field, reason } if field == "signed_tx" => {
                    ApiError::reject(Rejection::SignatureMismatch, reason)
                }
                other => ApiError::from(other),
            })?;
        export::keep_witness(st, &witness, &witness_source).await;
        st.forget(&t.account_id);
        Ok(Json(TransferView::from(&t)))
    }
}
