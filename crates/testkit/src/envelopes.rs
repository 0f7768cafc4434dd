//! Test stand-ins for the keys at either end of the air gap: a software P-256 envelope signer
//! (for the zone a test does not run) and the case key's signature of a signing request, as
//! the threshold protocol would make it (low-s, recoverable). Test-only: the production paths
//! use PKCS#11 tokens and the 2-of-3 protocol.

use alloy_primitives::{keccak256, U256};
use channel::{IdentitySigner, SignerError};
use contracts::{eth, SignatureResponse, SigningRequest};
use p256::ecdsa::signature::hazmat::PrehashSigner;

/// A software P-256 signer behind the [`IdentitySigner`] port.
pub struct SoftSigner(pub p256::ecdsa::SigningKey);

impl SoftSigner {
    /// A signer from a fixed seed (tests want stable keys).
    ///
    /// # Panics
    /// If the seed is not a valid scalar (never for seeds like `[0x11; 32]`).
    #[allow(clippy::expect_used, reason = "test helper with fixed inputs")]
    pub fn from_seed(seed: [u8; 32]) -> Self {
        Self(p256::ecdsa::SigningKey::from_bytes(&seed.into()).expect("a valid P-256 scalar"))
    }
}

impl IdentitySigner for SoftSigner {
    fn public_key(&self) -> p256::PublicKey {
        p256::PublicKey::from(self.0.verifying_key())
    }

    fn sign_digest(&self, digest: &[u8; 32]) -> Result<p256::ecdsa::Signature, SignerError> {
        self.0
            .sign_prehash(digest)
            .map_err(|e| SignerError(e.to_string()))
    }
}

/// The response a case key `key` gives to `request`: its signature over the signing hash and
/// the signed transaction.
///
/// # Errors
/// If the key cannot sign or the request's transaction does not convert.
pub fn respond(
    request: &SigningRequest,
    key: &k256::ecdsa::SigningKey,
) -> Result<SignatureResponse, String> {
    let (sig, recid) = key
        .sign_prehash_recoverable(&request.signing_hash)
        .map_err(|e| e.to_string())?;
    let r: [u8; 32] = sig.r().to_bytes().into();
    let s: [u8; 32] = sig.s().to_bytes().into();
    let alloy_sig = alloy_primitives::Signature::new(
        U256::from_be_bytes(r),
        U256::from_be_bytes(s),
        recid.is_y_odd(),
    );
    let tx = request.transaction.to_alloy().map_err(|e| e.to_string())?;
    let signed_tx = eth::encode_signed(&tx, &alloy_sig);
    Ok(SignatureResponse {
        request_id: request.request_id,
        r,
        s,
        y_parity: recid.is_y_odd(),
        tx_hash: keccak256(&signed_tx).0,
        signed_tx,
    })
}
