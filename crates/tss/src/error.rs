//! Errors of the threshold-signature layer.

/// What can go wrong in a protocol run or when handling key material. Messages never include
/// secret values.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A share index outside 0..3.
    #[error("share index {0} is out of range: a case has shares 0, 1 and 2")]
    ShareIndexOutOfRange(u16),
    /// The set of signers is not exactly two distinct shares.
    #[error("signing needs exactly {threshold} distinct shares of the case, got {given:?}")]
    InvalidSignerSet {
        /// Threshold of the scheme.
        threshold: u16,
        /// What was asked for.
        given: Vec<u16>,
    },
    /// This party's share is not one of the signers.
    #[error("share {0} is not one of the signers of this run")]
    NotASigner(u16),
    /// A key share that does not belong to a 2-of-3 secp256k1 key, or is malformed.
    #[error("invalid key share: {0}")]
    InvalidKeyShare(String),
    /// Paillier primes that are malformed or too small.
    #[error("invalid Paillier primes: {0}")]
    InvalidPrimes(String),
    /// Aux info and key share disagree (different party or set of parties).
    #[error("aux info does not match the key share: {0}")]
    AuxMismatch(String),
    /// Keygen failed (a peer misbehaved or the transport broke).
    #[error("key generation failed: {0}")]
    Keygen(String),
    /// Aux-info generation failed.
    #[error("aux-info generation failed: {0}")]
    AuxInfo(String),
    /// Signing failed.
    #[error("signing failed: {0}")]
    Signing(String),
    /// The produced signature did not verify against the shared public key (a peer cheated).
    #[error("the threshold signature does not verify against the shared public key")]
    SignatureInvalid,
    /// Serialising or parsing a protocol message or a share failed.
    #[error("encoding error: {0}")]
    Encoding(String),
    /// The transport failed.
    #[error(transparent)]
    Transport(#[from] crate::transport::TransportError),
    /// A background task panicked or was cancelled.
    #[error("background task failed: {0}")]
    Task(String),
}

/// Result alias for this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Renders an error with its whole `source()` chain, so that "signing failed" also says why
/// (for example which peer's message the transport rejected).
pub(crate) fn chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let text = s.to_string();
        if !out.ends_with(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        source = s.source();
    }
    out
}
