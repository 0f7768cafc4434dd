//! Documents crossing the air gap: sealing outgoing ones with the export key (a blocking
//! PKCS#11 call, off the async threads) and rendering them as a file and QR codes; reading
//! incoming ones in any form and verifying them against the pinned offline keys. Each import
//! failure maps to its own [`Rejection`]; nothing here touches the database.

use base64::Engine as _;
use contracts::transfer_format::{decode_import_text, qr_png, qr_svg, to_armor, to_qr_parts};
use contracts::{Body, Envelope, Id, Verified};

use crate::dto::ExportedDocument;
use crate::error::{ApiError, ApiResult, Rejection};
use crate::state::AppState;

/// Pixels per QR module in the PNG rendering.
const PNG_SCALE: u32 = 6;

/// Seal `body` under a fresh envelope id, valid for `ttl` seconds from now, and render it. The
/// envelope carries fresh token-signed checkpoints of both logs as its witness.
pub(crate) async fn seal<T: Body + Send + 'static>(
    st: &AppState,
    body: T,
    ttl: u64,
) -> ApiResult<(Envelope, ExportedDocument)> {
    let witness = st.inner.db.export_witness(st.now()).await?;
    let now = web::unix_secs(st.now());
    let id = Id::new_v7(now);
    let signer = st.inner.signer.clone();
    let envelope = tokio::task::spawn_blocking(move || {
        Envelope::seal_witnessed(&body, signer.as_ref(), id, now, ttl, witness)
    })
    .await?
    .map_err(|e| ApiError::internal(format!("sealing the document failed: {e}")))?;
    let document = render(&envelope)?;
    Ok((envelope, document))
}

/// The file and QR forms of an envelope.
pub(crate) fn render(envelope: &Envelope) -> ApiResult<ExportedDocument> {
    let armored = to_armor(envelope).map_err(ApiError::internal)?;
    let qr_parts = to_qr_parts(envelope).map_err(ApiError::internal)?;
    let mut svgs = Vec::with_capacity(qr_parts.len());
    let mut pngs = Vec::with_capacity(qr_parts.len());
    for part in &qr_parts {
        svgs.push(qr_svg(part).map_err(ApiError::internal)?);
        let png = qr_png(part, PNG_SCALE).map_err(ApiError::internal)?;
        pngs.push(base64::engine::general_purpose::STANDARD.encode(png));
    }
    let expires_at = i64::try_from(envelope.expires_at())
        .ok()
        .and_then(|s| chrono::DateTime::<chrono::Utc>::from_timestamp(s, 0))
        .map(|t| t.to_rfc3339())
        .unwrap_or_default();
    Ok(ExportedDocument {
        id: envelope.id().to_string(),
        kind: format!("{:?}", envelope.kind()),
        expires_at,
        armored,
        qr_parts,
        qr_svg: svgs,
        qr_png_base64: pngs,
    })
}

fn rejection(e: &contracts::Error) -> Rejection {
    use contracts::Error as E;
    match e {
        E::TooLarge { .. } => Rejection::Oversized,
        E::UnknownSigner { .. } | E::SignerNotAllowed { .. } => Rejection::UnknownSigner,
        E::BadSignature => Rejection::BadSignature,
        E::Expired { .. } | E::NotYetValid { .. } => Rejection::Expired,
        E::WrongKind { .. } => Rejection::WrongKind,
        E::SignatureMismatch(_) | E::HashMismatch => Rejection::SignatureMismatch,
        _ => Rejection::Malformed,
    }
}

/// A contracts error as the import rejection it is.
pub(crate) fn reject(e: contracts::Error) -> ApiError {
    ApiError::reject(rejection(&e), e.to_string())
}

/// Read an imported document in any form and verify it as a `T` against the pinned keys, and
/// its witness (the offline zone's audit checkpoints) against what this zone witnessed before:
/// a document showing that the offline log was rewritten or truncated is refused. Returns the
/// verified body and SHA-256 of the envelope bytes; after the import succeeded, keep the
/// witness with [`keep_witness`].
pub(crate) async fn import<T: Body>(
    st: &AppState,
    input: &str,
) -> ApiResult<(Verified<T>, String)> {
    use sha2::{Digest, Sha256};
    let envelope = decode_import_text(input).map_err(reject)?;
    let bytes = envelope.to_bytes().map_err(reject)?;
    let verified = envelope
        .verify::<T>(&st.inner.keyring, web::unix_secs(st.now()))
        .map_err(reject)?;
    st.inner.db.check_peer_witness(verified.witness()).await?;
    Ok((verified, hex::encode(Sha256::digest(&bytes))))
}

/// Keep the offline zone's checkpoints of an imported envelope as a witness of its audit log.
/// The import is committed already; a failure here is logged (the next envelope carries newer
/// checkpoints) rather than undoing it.
pub(crate) async fn keep_witness(
    st: &AppState,
    witness: &[contracts::AuditCheckpoint],
    envelope_id: &str,
) {
    if let Err(error) = st
        .inner
        .db
        .store_peer_witness(witness, envelope_id, st.now())
        .await
    {
        tracing::error!(%error, envelope = %envelope_id, "could not keep the offline zone's audit checkpoints");
    }
}
