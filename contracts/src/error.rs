//! One error type for the crate. Every message is a sentence an operator can act on; none
//! carries key material or signature bytes, so all of them are safe to log and to show.

use crate::envelope::Kind;

/// Everything that can go wrong while encoding, decoding or checking wire data.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The input is bigger than the format allows; nothing was decoded.
    #[error("input is too large: {size} bytes, at most {max} bytes are accepted")]
    TooLarge {
        /// Size of the rejected input.
        size: usize,
        /// The limit.
        max: usize,
    },
    /// The bytes do not decode as the expected message or document.
    #[error("malformed input: {0}")]
    Malformed(String),
    /// The envelope was written by a version of the format this build does not read.
    #[error("unsupported envelope version {0}; this build reads version 2 only (export the document again with a current release)")]
    UnsupportedVersion(u8),
    /// The envelope names a signer key that is not pinned in the key ring.
    #[error(
        "the envelope is signed by an unknown key (key id {key_id}); only pinned keys are accepted"
    )]
    UnknownSigner {
        /// Hex SHA-256 of the signer's SEC1 compressed public key, as the envelope names it.
        key_id: String,
    },
    /// The signer key is pinned, but not for this kind of document.
    #[error("the signing key is pinned but not allowed to sign a {kind} document")]
    SignerNotAllowed {
        /// The kind the envelope claims to be.
        kind: Kind,
    },
    /// The envelope is valid but of another kind than the caller asked for.
    #[error("expected a {expected} document but got a {found} document")]
    WrongKind {
        /// The kind the caller asked for.
        expected: Kind,
        /// The kind in the envelope.
        found: Kind,
    },
    /// The signature does not verify under the pinned key: the document was altered or forged.
    #[error("the envelope signature is invalid; the document was altered or not signed by the pinned key")]
    BadSignature,
    /// `now` is at or after the envelope's expiry.
    #[error("the document expired at {expires_at} (now {now}); ask for a new one")]
    Expired {
        /// Expiry, unix seconds.
        expires_at: u64,
        /// The time of the check, unix seconds.
        now: u64,
    },
    /// `now` is before the envelope's issue time (beyond the allowed clock skew).
    #[error("the document is issued at {issued_at}, after now ({now}); check both zones' clocks")]
    NotYetValid {
        /// Issue time, unix seconds.
        issued_at: u64,
        /// The time of the check, unix seconds.
        now: u64,
    },
    /// The signing hash in the request is not the hash of its unsigned transaction.
    #[error(
        "the signing hash does not match the unsigned transaction; the request is inconsistent"
    )]
    HashMismatch,
    /// The transaction's chain id differs from the request's (or from what the caller expects).
    #[error("chain id mismatch: the request says {expected}, the transaction says {found}")]
    ChainMismatch {
        /// The chain id the request (or caller) declares.
        expected: u64,
        /// The chain id found in the transaction.
        found: u64,
    },
    /// The human summary does not describe the transaction that would be signed.
    #[error("the summary does not match the transaction: {0}")]
    SummaryMismatch(String),
    /// The transaction is well formed but of a shape this system refuses to sign.
    #[error("unsupported transaction: {0}")]
    UnsupportedTransaction(String),
    /// A signature response does not fit its request or its account.
    #[error("the signature response does not check out: {0}")]
    SignatureMismatch(String),
    /// A bus message carries another schema than the receiver expects.
    #[error("schema mismatch: expected {expected}, got {found}")]
    SchemaMismatch {
        /// The schema the receiver understands.
        expected: &'static str,
        /// The schema named by the message header.
        found: String,
    },
    /// One QR part (or armored block) could not be parsed.
    #[error("unreadable QR part: {0}")]
    QrPart(String),
    /// The scanned parts belong to different documents.
    #[error("the QR parts belong to different documents; scan the parts of one document only")]
    QrMixedDocuments,
    /// The same part number was scanned twice with different content.
    #[error("QR part {part} was scanned twice with different content; rescan that part")]
    QrConflictingDuplicate {
        /// The part number (1-based).
        part: u32,
    },
    /// Some parts are still missing.
    #[error("QR parts missing: {missing:?} of {total}; scan the remaining parts")]
    QrMissingParts {
        /// The missing part numbers (1-based).
        missing: Vec<u32>,
        /// The announced number of parts.
        total: u32,
    },
    /// All parts were present but their content does not hash to the announced digest.
    #[error("the reassembled QR content is corrupt (digest mismatch); rescan all parts")]
    QrDigestMismatch,
    /// The armored text block is not well formed.
    #[error("malformed armored text: {0}")]
    Armor(String),
    /// A value could not be encoded, or a document could not be built from the given values.
    #[error("invalid value: {0}")]
    Invalid(String),
    /// The QR code could not be rendered (for example: too much data for one code).
    #[error("could not render QR code: {0}")]
    Render(String),
    /// The identity signer (HSM, export token) failed to sign.
    #[error(transparent)]
    Signer(#[from] channel::SignerError),
}

/// Result with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
