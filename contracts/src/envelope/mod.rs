//! Signed, versioned, expiring documents that cross the air gap (DESIGN.md §10).
//!
//! An [`Envelope`] wraps one typed body (MessagePack, named fields) with its kind, a UUIDv7
//! id, the signer's key id, an issue and an expiry time, and an ECDSA P-256 signature made
//! through [`IdentitySigner`] (the offline HSM's envelope key, or the online zone's export
//! token). The signature covers a domain-separated, length-prefixed digest of every other
//! field, so no field can be moved, swapped or reinterpreted without breaking it.
//!
//! Reading is two steps on purpose: [`Envelope::from_bytes`] only parses (size limit,
//! version, shape), and [`Envelope::verify`] checks the signer against a [`KeyRing`] of
//! pinned keys, the signature, the kinds that key may sign, the validity window, and only
//! then decodes and checks the body. Nothing in an envelope is interpreted before its
//! signature has been verified. Replay protection is the importer's job (the database keeps
//! request ids UNIQUE); [`Verified::id`] and the body's own ids are what it keys on.

mod body;

use std::collections::BTreeMap;
use std::fmt;
use std::io::Cursor;

use channel::IdentitySigner;
use p256::ecdsa::signature::hazmat::PrehashVerifier;
use schemars::JsonSchema;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

pub use body::{
    AccountManifest, Asset, AssetBalance, BalanceAttestation, DecodedTransfer, Person,
    SignatureResponse, SigningRequest, TransferSummary,
};

use crate::checkpoint::{AuditCheckpoint, MAX_WITNESS};
use crate::{Error, Id, Result};

/// The envelope format version this build writes and reads. Version 2 added the witness (the
/// issuing zone's signed audit checkpoints).
pub const ENVELOPE_VERSION: u8 = 2;
/// Largest encoded envelope accepted. Real documents are well under 4 KiB; the limit bounds
/// the work an attacker-supplied file or QR sequence can cause.
pub const MAX_ENVELOPE_BYTES: usize = 64 * 1024;
/// Longest validity [`Envelope::seal`] accepts: a document must not outlive a key rotation.
pub const MAX_TTL_SECS: u64 = 30 * 24 * 3600;
/// Default tolerance for a verifier whose clock is behind the signer's: the two zones share
/// no network, so their clocks are set by hand and drift.
pub const DEFAULT_CLOCK_SKEW_SECS: u64 = 300;
/// Domain separation tag of the signature digest.
const DOMAIN: &[u8] = b"custody/envelope/v2";

/// The kind of document an envelope carries.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// Offline → online: a case's public key and addresses.
    AccountManifest,
    /// Online → offline: a transaction to sign.
    SigningRequest,
    /// Offline → online: the signature and the signed transaction.
    SignatureResponse,
    /// Online → offline: balances of an address at a block.
    BalanceAttestation,
}

impl Kind {
    /// Every kind, in a fixed order.
    pub const ALL: [Kind; 4] = [
        Kind::AccountManifest,
        Kind::SigningRequest,
        Kind::SignatureResponse,
        Kind::BalanceAttestation,
    ];

    /// The wire name (`snake_case`), also used in the signature preimage.
    pub const fn as_str(self) -> &'static str {
        match self {
            Kind::AccountManifest => "account_manifest",
            Kind::SigningRequest => "signing_request",
            Kind::SignatureResponse => "signature_response",
            Kind::BalanceAttestation => "balance_attestation",
        }
    }

    /// Upper-case words for armor lines: `SIGNING REQUEST`.
    pub const fn armor_label(self) -> &'static str {
        match self {
            Kind::AccountManifest => "ACCOUNT MANIFEST",
            Kind::SigningRequest => "SIGNING REQUEST",
            Kind::SignatureResponse => "SIGNATURE RESPONSE",
            Kind::BalanceAttestation => "BALANCE ATTESTATION",
        }
    }

    /// Upper-case tag for QR parts (QR alphanumeric alphabet only): `SIGNING-REQUEST`.
    pub const fn qr_tag(self) -> &'static str {
        match self {
            Kind::AccountManifest => "ACCOUNT-MANIFEST",
            Kind::SigningRequest => "SIGNING-REQUEST",
            Kind::SignatureResponse => "SIGNATURE-RESPONSE",
            Kind::BalanceAttestation => "BALANCE-ATTESTATION",
        }
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.armor_label().to_ascii_lowercase())
    }
}

/// A typed envelope body.
pub trait Body: Serialize + DeserializeOwned + JsonSchema + Sized {
    /// The envelope kind of this body.
    const KIND: Kind;
    /// Schema name and version, `<Type>/v<n>`.
    const SCHEMA: &'static str;
    /// Checks what the signature alone cannot: internal consistency (a transaction matches
    /// its hash and summary, a response's signature matches its signed transaction…). Runs
    /// when sealing, so an inconsistent document is never signed, and again when verifying.
    fn check(&self) -> Result<()>;
}

/// A signed document, as it travels. Fields are read-only; build one with [`Envelope::seal`]
/// or parse one with [`Envelope::from_bytes`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Envelope {
    /// Format version, 1.
    version: u8,
    /// What the payload is.
    kind: Kind,
    /// UUIDv7, unique per envelope.
    id: Id,
    /// SHA-256 of the signer's SEC1 compressed P-256 public key (MessagePack bin, 32 bytes).
    #[serde(with = "serde_bytes")]
    #[schemars(with = "[u8; 32]")]
    signer_key_id: [u8; 32],
    /// Unix seconds.
    issued_at: u64,
    /// Unix seconds; the document is refused from this time on.
    expires_at: u64,
    /// The body, MessagePack with named fields (MessagePack bin).
    #[serde(with = "serde_bytes")]
    #[schemars(with = "Vec<u8>")]
    payload: Vec<u8>,
    /// The issuing zone's audit checkpoints, made at export (at most
    /// [`MAX_WITNESS`](crate::checkpoint::MAX_WITNESS)): the receiving zone keeps them as a
    /// signed witness of the issuer's log (DESIGN.md §14).
    witness: Vec<AuditCheckpoint>,
    /// ECDSA P-256 `r ‖ s` over [`Envelope::signed_digest`] (MessagePack bin, 64 bytes).
    #[serde(with = "serde_bytes")]
    #[schemars(schema_with = "signature_schema")]
    signature: [u8; 64],
}

/// JSON Schema of the 64-byte signature (schemars stops at 32-element arrays).
pub(crate) fn signature_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
    schemars::json_schema!({
        "type": "array",
        "items": { "type": "integer", "format": "uint8", "minimum": 0, "maximum": 255 },
        "minItems": 64,
        "maxItems": 64
    })
}

/// Only the version, read first so a future format is reported as such and not as garbage.
#[derive(Deserialize)]
struct VersionProbe {
    version: u8,
}

impl Envelope {
    /// Signs `body` into a new envelope valid from `issued_at` for `ttl` seconds, with no
    /// witness: [`Envelope::seal_witnessed`] with an empty witness (tests and tools; a zone's
    /// exports carry their checkpoints).
    pub fn seal<T: Body>(
        body: &T,
        signer: &dyn IdentitySigner,
        id: Id,
        issued_at: u64,
        ttl: u64,
    ) -> Result<Self> {
        Self::seal_witnessed(body, signer, id, issued_at, ttl, Vec::new())
    }

    /// Signs `body` into a new envelope valid from `issued_at` for `ttl` seconds, carrying
    /// `witness`, the issuing zone's newest audit checkpoints (each must verify under the key
    /// it names, and there may be at most [`MAX_WITNESS`](crate::checkpoint::MAX_WITNESS)).
    ///
    /// `id` must be a fresh UUIDv7 (see [`Id::new_v7`]); the body is checked with
    /// [`Body::check`] first, so the online zone cannot export a request whose transaction
    /// contradicts its hash or summary.
    pub fn seal_witnessed<T: Body>(
        body: &T,
        signer: &dyn IdentitySigner,
        id: Id,
        issued_at: u64,
        ttl: u64,
        witness: Vec<AuditCheckpoint>,
    ) -> Result<Self> {
        check_witness(&witness)?;
        if !id.is_v7() {
            return Err(Error::Invalid(format!("envelope id {id} is not a UUIDv7")));
        }
        if ttl == 0 || ttl > MAX_TTL_SECS {
            return Err(Error::Invalid(format!(
                "validity of {ttl} s is outside 1..={MAX_TTL_SECS} s"
            )));
        }
        let expires_at = issued_at
            .checked_add(ttl)
            .ok_or_else(|| Error::Invalid("issue time plus validity overflows".into()))?;
        body.check()?;
        let payload = rmp_serde::to_vec_named(body)
            .map_err(|e| Error::Invalid(format!("could not encode {}: {e}", T::SCHEMA)))?;
        let mut envelope = Self {
            version: ENVELOPE_VERSION,
            kind: T::KIND,
            id,
            signer_key_id: channel::cert::key_id(&signer.public_key()),
            issued_at,
            expires_at,
            payload,
            witness,
            signature: [0u8; 64],
        };
        let digest = envelope.signed_digest();
        let signature = signer.sign_digest(&digest)?;
        envelope.signature = signature.to_bytes().into();
        // A token that returned a signature for another key (misconfigured slot) must fail
        // here, at the exporter, rather than at the importer on the other side of the gap.
        let key = p256::ecdsa::VerifyingKey::from(signer.public_key());
        key.verify_prehash(&digest, &signature).map_err(|_| {
            Error::Invalid("the signer's signature does not verify under its own public key".into())
        })?;
        if envelope.to_bytes()?.len() > MAX_ENVELOPE_BYTES {
            return Err(Error::Invalid(format!(
                "the document is larger than {MAX_ENVELOPE_BYTES} bytes"
            )));
        }
        Ok(envelope)
    }

    /// Parses an envelope. Checks the size limit, the version, the shape (no unknown or
    /// missing fields, no trailing bytes, UUIDv7 id, `expires_at > issued_at`); it does not
    /// verify anything cryptographic — call [`Envelope::verify`] before trusting the content.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        if bytes.len() > MAX_ENVELOPE_BYTES {
            return Err(Error::TooLarge {
                size: bytes.len(),
                max: MAX_ENVELOPE_BYTES,
            });
        }
        let probe: VersionProbe = decode_msgpack(bytes, "envelope")?;
        if probe.version != ENVELOPE_VERSION {
            return Err(Error::UnsupportedVersion(probe.version));
        }
        let envelope: Self = decode_msgpack(bytes, "envelope")?;
        if !envelope.id.is_v7() {
            return Err(Error::Malformed(format!(
                "envelope id {} is not a UUIDv7",
                envelope.id
            )));
        }
        if envelope.expires_at <= envelope.issued_at {
            return Err(Error::Malformed(
                "envelope expires before it is issued".into(),
            ));
        }
        if envelope.witness.len() > MAX_WITNESS {
            return Err(Error::Malformed(format!(
                "the envelope carries more than {MAX_WITNESS} audit checkpoints"
            )));
        }
        Ok(envelope)
    }

    /// The wire bytes (MessagePack, named fields).
    pub fn to_bytes(&self) -> Result<Vec<u8>> {
        rmp_serde::to_vec_named(self)
            .map_err(|e| Error::Invalid(format!("could not encode envelope: {e}")))
    }

    /// Verifies the envelope as a `T` document: signer pinned, signature valid, signer allowed
    /// to sign this kind, kind is `T`'s, `now` within the validity window, body decodes and
    /// passes [`Body::check`]. Each failure has its own [`Error`] variant.
    pub fn verify<T: Body>(&self, keyring: &KeyRing, now: u64) -> Result<Verified<T>> {
        let digest = self.authenticate(keyring, now)?;
        if self.kind != T::KIND {
            return Err(Error::WrongKind {
                expected: T::KIND,
                found: self.kind,
            });
        }
        let body: T = decode_msgpack(&self.payload, T::SCHEMA)?;
        body.check()?;
        // Authenticated by the envelope signature; each checkpoint must also carry a valid
        // signature of its own, so the receiver stores only witnesses an auditor can check.
        check_witness(&self.witness)?;
        Ok(Verified {
            id: self.id,
            kind: self.kind,
            signer_key_id: self.signer_key_id,
            issued_at: self.issued_at,
            expires_at: self.expires_at,
            digest,
            witness: self.witness.clone(),
            body,
        })
    }

    /// Verifies an envelope of any kind (for an import screen that accepts every document).
    pub fn verify_any(&self, keyring: &KeyRing, now: u64) -> Result<VerifiedBody> {
        Ok(match self.kind {
            Kind::AccountManifest => VerifiedBody::AccountManifest(self.verify(keyring, now)?),
            Kind::SigningRequest => VerifiedBody::SigningRequest(self.verify(keyring, now)?),
            Kind::SignatureResponse => VerifiedBody::SignatureResponse(self.verify(keyring, now)?),
            Kind::BalanceAttestation => {
                VerifiedBody::BalanceAttestation(self.verify(keyring, now)?)
            }
        })
    }

    /// Signer, signature, permission and time checks; returns the signed digest.
    fn authenticate(&self, keyring: &KeyRing, now: u64) -> Result<[u8; 32]> {
        let pinned = keyring
            .keys
            .get(&self.signer_key_id)
            .ok_or_else(|| Error::UnknownSigner {
                key_id: hex::encode(self.signer_key_id),
            })?;
        let digest = self.signed_digest();
        let signature =
            p256::ecdsa::Signature::from_slice(&self.signature).map_err(|_| Error::BadSignature)?;
        p256::ecdsa::VerifyingKey::from(pinned.public_key)
            .verify_prehash(&digest, &signature)
            .map_err(|_| Error::BadSignature)?;
        if !pinned.kinds.contains(&self.kind) {
            return Err(Error::SignerNotAllowed { kind: self.kind });
        }
        if now.saturating_add(keyring.clock_skew) < self.issued_at {
            return Err(Error::NotYetValid {
                issued_at: self.issued_at,
                now,
            });
        }
        if now >= self.expires_at {
            return Err(Error::Expired {
                expires_at: self.expires_at,
                now,
            });
        }
        Ok(digest)
    }

    /// The digest that is signed:
    /// `SHA-256(lp("custody/envelope/v2") ‖ lp(version) ‖ lp(kind) ‖ lp(id, 16 bytes) ‖
    /// lp(signer_key_id) ‖ lp(issued_at, u64 BE) ‖ lp(expires_at, u64 BE) ‖ lp(payload) ‖
    /// lp(n, u32 BE) ‖ for each witness checkpoint: lp(its digest) ‖ lp(its signature))`,
    /// where `lp(x)` is `len(x)` as u32 BE followed by `x`. Every field is length-prefixed so
    /// no two different envelopes share a preimage, and the domain tag keeps this signature
    /// from being valid for any other use of the same key (certificates, handshakes).
    pub fn signed_digest(&self) -> [u8; 32] {
        // Lengths are bounded by MAX_ENVELOPE_BYTES, far below u32::MAX.
        let mut h = crate::digest::LpHasher::new();
        let mut lp = |bytes: &[u8]| {
            h.field(bytes);
        };
        lp(DOMAIN);
        lp(&[self.version]);
        lp(self.kind.as_str().as_bytes());
        lp(self.id.as_bytes());
        lp(&self.signer_key_id);
        lp(&self.issued_at.to_be_bytes());
        lp(&self.expires_at.to_be_bytes());
        lp(&self.payload);
        lp(&u32::try_from(self.witness.len())
            .unwrap_or(u32::MAX)
            .to_be_bytes());
        for checkpoint in &self.witness {
            lp(&checkpoint.digest());
            lp(&checkpoint.signature);
        }
        h.finish()
    }

    /// Format version.
    pub fn version(&self) -> u8 {
        self.version
    }
    /// The kind the envelope claims (unauthenticated until verified).
    pub fn kind(&self) -> Kind {
        self.kind
    }
    /// The envelope id (unauthenticated until verified).
    pub fn id(&self) -> Id {
        self.id
    }
    /// The signer's key id.
    pub fn signer_key_id(&self) -> [u8; 32] {
        self.signer_key_id
    }
    /// Issue time, unix seconds.
    pub fn issued_at(&self) -> u64 {
        self.issued_at
    }
    /// Expiry, unix seconds.
    pub fn expires_at(&self) -> u64 {
        self.expires_at
    }
    /// The raw payload (unauthenticated until verified).
    pub fn payload(&self) -> &[u8] {
        &self.payload
    }
    /// The witness checkpoints (unauthenticated until verified).
    pub fn witness(&self) -> &[AuditCheckpoint] {
        &self.witness
    }
}

/// At most [`MAX_WITNESS`] checkpoints, each with a valid signature under the key it names.
fn check_witness(witness: &[AuditCheckpoint]) -> Result<()> {
    if witness.len() > MAX_WITNESS {
        return Err(Error::Invalid(format!(
            "an envelope carries at most {MAX_WITNESS} audit checkpoints"
        )));
    }
    for checkpoint in witness {
        checkpoint.verify_self().map_err(|e| {
            Error::Malformed(format!("the envelope's {checkpoint} does not verify: {e}"))
        })?;
    }
    Ok(())
}

/// A pinned public key and what it may sign.
#[derive(Debug, Clone)]
pub struct PinnedKey {
    /// The P-256 public key.
    pub public_key: p256::PublicKey,
    /// The kinds of document this key may sign.
    pub kinds: Vec<Kind>,
}

/// The public keys a zone trusts, by key id, each limited to the kinds it may sign — e.g.
/// the offline zone pins the online export key for `SigningRequest` and
/// `BalanceAttestation` only, so a stolen manifest key could not inject a signing request.
#[derive(Debug, Clone)]
pub struct KeyRing {
    keys: BTreeMap<[u8; 32], PinnedKey>,
    clock_skew: u64,
}

impl Default for KeyRing {
    fn default() -> Self {
        Self::new()
    }
}

impl KeyRing {
    /// An empty key ring with [`DEFAULT_CLOCK_SKEW_SECS`].
    pub fn new() -> Self {
        Self {
            keys: BTreeMap::new(),
            clock_skew: DEFAULT_CLOCK_SKEW_SECS,
        }
    }

    /// Pins `public_key` for `kinds`; returns its key id. Pinning the same key again
    /// replaces its kinds.
    pub fn pin(&mut self, public_key: p256::PublicKey, kinds: &[Kind]) -> [u8; 32] {
        let key_id = channel::cert::key_id(&public_key);
        self.keys.insert(
            key_id,
            PinnedKey {
                public_key,
                kinds: kinds.to_vec(),
            },
        );
        key_id
    }

    /// Builder form of [`KeyRing::pin`].
    pub fn with_key(mut self, public_key: p256::PublicKey, kinds: &[Kind]) -> Self {
        self.pin(public_key, kinds);
        self
    }

    /// How far a document's `issued_at` may be ahead of the verifier's clock.
    pub fn with_clock_skew(mut self, seconds: u64) -> Self {
        self.clock_skew = seconds;
        self
    }

    /// The pinned key with this id, if any.
    pub fn get(&self, key_id: &[u8; 32]) -> Option<&PinnedKey> {
        self.keys.get(key_id)
    }
}

/// A verified document: the body and the authenticated envelope metadata. Only
/// [`Envelope::verify`] constructs it.
#[derive(Debug, Clone)]
pub struct Verified<T> {
    id: Id,
    kind: Kind,
    signer_key_id: [u8; 32],
    issued_at: u64,
    expires_at: u64,
    digest: [u8; 32],
    witness: Vec<AuditCheckpoint>,
    body: T,
}

impl<T> Verified<T> {
    /// The envelope id (for logs and replay tables).
    pub fn id(&self) -> Id {
        self.id
    }
    /// The kind.
    pub fn kind(&self) -> Kind {
        self.kind
    }
    /// Who signed it.
    pub fn signer_key_id(&self) -> [u8; 32] {
        self.signer_key_id
    }
    /// Issue time, unix seconds.
    pub fn issued_at(&self) -> u64 {
        self.issued_at
    }
    /// Expiry, unix seconds.
    pub fn expires_at(&self) -> u64 {
        self.expires_at
    }
    /// The signed digest: a stable fingerprint of the document for the audit log.
    pub fn digest(&self) -> [u8; 32] {
        self.digest
    }
    /// The issuing zone's audit checkpoints the document carries (authenticated by the
    /// envelope signature; each verifies under the key it names).
    pub fn witness(&self) -> &[AuditCheckpoint] {
        &self.witness
    }
    /// The body.
    pub fn body(&self) -> &T {
        &self.body
    }
    /// The body, by value.
    pub fn into_body(self) -> T {
        self.body
    }
}

/// A verified document of any kind.
#[derive(Debug, Clone)]
#[allow(
    clippy::large_enum_variant,
    reason = "made once per import and matched at once; boxing would only add noise"
)]
pub enum VerifiedBody {
    /// An account manifest.
    AccountManifest(Verified<AccountManifest>),
    /// A signing request.
    SigningRequest(Verified<SigningRequest>),
    /// A signature response.
    SignatureResponse(Verified<SignatureResponse>),
    /// A balance attestation.
    BalanceAttestation(Verified<BalanceAttestation>),
}

impl VerifiedBody {
    /// The kind.
    pub fn kind(&self) -> Kind {
        match self {
            VerifiedBody::AccountManifest(_) => Kind::AccountManifest,
            VerifiedBody::SigningRequest(_) => Kind::SigningRequest,
            VerifiedBody::SignatureResponse(_) => Kind::SignatureResponse,
            VerifiedBody::BalanceAttestation(_) => Kind::BalanceAttestation,
        }
    }
}

/// Decodes MessagePack strictly: the whole input must be one value, no trailing bytes.
/// Uses a reader that never pre-allocates from a length header, so a forged length cannot
/// make it allocate more than the input size.
pub(crate) fn decode_msgpack<T: DeserializeOwned>(bytes: &[u8], what: &str) -> Result<T> {
    let mut de = rmp_serde::Deserializer::new(Cursor::new(bytes));
    let value = T::deserialize(&mut de)
        .map_err(|e| Error::Malformed(format!("{what} does not decode: {e}")))?;
    if usize::try_from(de.position()).ok() != Some(bytes.len()) {
        return Err(Error::Malformed(format!("{what} has trailing bytes")));
    }
    Ok(value)
}
