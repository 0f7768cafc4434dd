//! Envelope import (signing requests, balance attestations), short of the database: read the envelope in any of its forms
//! (armored text, QR part texts, base64 of the bytes), verify it against the pinned online
//! keys at `now`, decode the unsigned transaction and check its hash, chain and summary. Each
//! failure maps to its own [`Rejection`]; nothing here touches the database, so a rejection
//! writes nothing.

use contracts::envelope::DecodedTransfer;
use contracts::envelope::Verified;
use contracts::{BalanceAttestation, Envelope, KeyRing, SigningRequest};

use crate::dto::DecodedTransaction;
use crate::error::{ApiError, ApiResult, Rejection};

/// The most characters an import may have: an armored envelope of the largest allowed size.
pub const MAX_IMPORT_CHARS: usize = contracts::envelope::MAX_ENVELOPE_BYTES * 2;

/// A verified, decoded signing request.
pub(crate) struct Checked {
    pub request: SigningRequest,
    pub decoded: DecodedTransfer,
    /// When the envelope expires (unix seconds).
    pub expires_at: u64,
    /// The envelope's wire bytes, stored so a manager's client can verify the online
    /// signature itself.
    pub envelope: Vec<u8>,
    /// The envelope id.
    pub envelope_id: String,
    /// The online zone's audit checkpoints the envelope carries (kept as a witness).
    pub witness: Vec<contracts::AuditCheckpoint>,
}

fn rejection(e: &contracts::Error) -> Rejection {
    use contracts::Error as E;
    match e {
        E::TooLarge { .. } => Rejection::Oversized,
        E::UnknownSigner { .. } | E::SignerNotAllowed { .. } => Rejection::UnknownSigner,
        E::BadSignature => Rejection::BadSignature,
        E::Expired { .. } | E::NotYetValid { .. } => Rejection::Expired,
        E::HashMismatch => Rejection::HashMismatch,
        E::ChainMismatch { .. } => Rejection::WrongChain,
        E::WrongKind { .. } => Rejection::WrongKind,
        E::SummaryMismatch(_) | E::UnsupportedTransaction(_) => Rejection::InconsistentTransaction,
        _ => Rejection::Malformed,
    }
}

/// Read an envelope in any of its import forms; size-checked first.
pub(crate) fn read(input: &str) -> ApiResult<Envelope> {
    if input.len() > MAX_IMPORT_CHARS {
        return Err(ApiError::reject(
            Rejection::Oversized,
            format!(
                "the input has {} characters, at most {MAX_IMPORT_CHARS} are accepted",
                input.len()
            ),
        ));
    }
    contracts::transfer_format::decode_import_text(input).map_err(fail)
}

fn fail(e: contracts::Error) -> ApiError {
    ApiError::reject(rejection(&e), e.to_string())
}

/// Read and verify a signing request.
pub(crate) fn check(keyring: &KeyRing, input: &str, now: u64) -> ApiResult<Checked> {
    let envelope = read(input)?;
    let verified = envelope
        .verify::<SigningRequest>(keyring, now)
        .map_err(fail)?;
    let expires_at = verified.expires_at();
    let witness = verified.witness().to_vec();
    let envelope_id = verified.id().to_string();
    let request = verified.into_body();
    let decoded = request.decode().map_err(fail)?;
    Ok(Checked {
        request,
        decoded,
        expires_at,
        envelope: envelope.to_bytes().map_err(fail)?,
        envelope_id,
        witness,
    })
}

/// Read and verify a balance attestation.
pub(crate) fn check_attestation(
    keyring: &KeyRing,
    input: &str,
    now: u64,
) -> ApiResult<Verified<BalanceAttestation>> {
    read(input)?
        .verify::<BalanceAttestation>(keyring, now)
        .map_err(fail)
}

/// The decoded transaction for the response.
pub(crate) fn decoded_view(c: &Checked) -> DecodedTransaction {
    let f = &c.decoded.fields;
    let s = &c.request.summary;
    DecodedTransaction {
        chain_id: c.request.chain_id,
        from: c.request.from.to_checksum(),
        to: f.to.to_checksum(),
        recipient: c.decoded.recipient.to_checksum(),
        asset_symbol: s.asset_symbol.clone(),
        token: s.token.map(|t| t.to_checksum()),
        amount: c.decoded.amount.to_string(),
        decimals: s.decimals,
        nonce: f.nonce,
        gas_limit: f.gas_limit,
        max_fee_per_gas: f.max_fee_per_gas.to_string(),
        max_priority_fee_per_gas: f.max_priority_fee_per_gas.to_string(),
        max_fee_wei: c.decoded.max_fee_wei.to_string(),
        signing_hash: hex::encode(c.decoded.signing_hash),
    }
}

/// What is stored in `signing_requests.decoded`.
pub(crate) fn decoded_json(c: &Checked) -> serde_json::Value {
    let v = decoded_view(c);
    serde_json::json!({
        "chain_id": v.chain_id, "from": v.from, "to": v.to, "recipient": v.recipient,
        "asset_symbol": v.asset_symbol, "token": v.token, "amount": v.amount,
        "decimals": v.decimals, "nonce": v.nonce, "gas_limit": v.gas_limit,
        "max_fee_per_gas": v.max_fee_per_gas, "max_priority_fee_per_gas": v.max_priority_fee_per_gas,
        "max_fee_wei": v.max_fee_wei, "signing_hash": v.signing_hash,
        "unsigned_tx": hex::encode(&c.request.unsigned_tx),
        "created_by": c.request.created_by.username,
        "approved_by": c.request.approved_by.iter().map(|p| p.username.clone()).collect::<Vec<_>>(),
    })
}
