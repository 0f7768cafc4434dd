//! Signed audit checkpoints (DESIGN.md §14 "Verifiable audit"): a zone's HSM states "my `chain`
//! had `seq` records and its chain value was `value` at time `at`", so that anybody holding
//! the zone's checkpoint public key — an auditor's machine without any HSM, the other zone —
//! can later tell whether the database still reaches that point.
//!
//! A checkpoint travels three ways: as a row in the zone's own database, as a file in the
//! checkpoint directory an operator points at write-once media ([`AuditCheckpoint::to_json`]),
//! and inside every envelope the zone exports ([`crate::Envelope`]'s witness), so each zone
//! keeps a signed witness of the other's log. The signature covers a domain-separated,
//! length-prefixed digest of every field, so a checkpoint cannot be edited, moved to another
//! chain or zone, or re-attributed to another key without breaking it.

use std::fmt;

use channel::IdentitySigner;
use p256::ecdsa::signature::hazmat::PrehashVerifier;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::{Error, Result};

/// Domain separation tag of the checkpoint digest.
const DOMAIN: &[u8] = b"custody/audit-checkpoint/v1";
/// Longest chain name accepted.
const MAX_CHAIN_NAME: usize = 32;
/// The most checkpoints one envelope carries as its witness.
pub const MAX_WITNESS: usize = 8;

/// Which zone kept the log.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Zone {
    /// The air-gapped zone (chain `audit`).
    Offline,
    /// The internet-facing zone (chains `operation` and `transaction`).
    Online,
}

impl Zone {
    /// The wire name, also part of the signed digest.
    pub const fn as_str(self) -> &'static str {
        match self {
            Zone::Offline => "offline",
            Zone::Online => "online",
        }
    }

    /// The zone with this wire name.
    pub fn parse(name: &str) -> Option<Zone> {
        match name {
            "offline" => Some(Zone::Offline),
            "online" => Some(Zone::Online),
            _ => None,
        }
    }

    /// The other zone: the one whose log this zone keeps a witness of.
    pub const fn peer(self) -> Zone {
        match self {
            Zone::Offline => Zone::Online,
            Zone::Online => Zone::Offline,
        }
    }
}

impl fmt::Display for Zone {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A signed statement of a chain's head: the zone's HSM checkpoint key signed it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AuditCheckpoint {
    /// The zone whose log this is.
    pub zone: Zone,
    /// The chain: `audit` (offline), `operation` or `transaction` (online).
    pub chain: String,
    /// The number of records the chain had (the sequence number of its last record).
    pub seq: u64,
    /// The hash of record `seq` (the chain value), 32 bytes (MessagePack bin).
    #[serde(with = "serde_bytes")]
    #[schemars(with = "[u8; 32]")]
    pub value: [u8; 32],
    /// When the checkpoint was made, unix microseconds.
    pub at: u64,
    /// The signing key, SEC1 compressed P-256 (33 bytes, MessagePack bin). A verifier compares
    /// it with the key it pins for the zone; it never trusts it because it is here.
    #[serde(with = "serde_bytes")]
    #[schemars(with = "Vec<u8>")]
    pub public_key: Vec<u8>,
    /// ECDSA P-256 `r ‖ s` over [`AuditCheckpoint::digest`] (MessagePack bin, 64 bytes).
    #[serde(with = "serde_bytes")]
    #[schemars(schema_with = "crate::envelope::signature_schema")]
    pub signature: [u8; 64],
}

/// What a checkpoint states, before it is signed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckpointStatement<'a> {
    /// The zone.
    pub zone: Zone,
    /// The chain's name.
    pub chain: &'a str,
    /// The chain's last sequence number.
    pub seq: u64,
    /// The hash of that record.
    pub value: [u8; 32],
    /// Unix microseconds.
    pub at: u64,
}

impl AuditCheckpoint {
    /// Sign `statement` with the zone's checkpoint key (the HSM, behind [`IdentitySigner`]).
    /// The signature is verified under the signer's own public key before it is returned, so
    /// a token that signs with another key than it reports fails here.
    pub fn sign(statement: &CheckpointStatement<'_>, signer: &dyn IdentitySigner) -> Result<Self> {
        check_chain_name(statement.chain)?;
        let public_key = encode_key(&signer.public_key());
        let digest = digest(statement, &public_key);
        let signature = signer.sign_digest(&digest)?;
        let checkpoint = AuditCheckpoint {
            zone: statement.zone,
            chain: statement.chain.to_owned(),
            seq: statement.seq,
            value: statement.value,
            at: statement.at,
            public_key,
            signature: signature.to_bytes().into(),
        };
        checkpoint.verify_self()?;
        Ok(checkpoint)
    }

    /// What this checkpoint states.
    pub fn statement(&self) -> CheckpointStatement<'_> {
        CheckpointStatement {
            zone: self.zone,
            chain: &self.chain,
            seq: self.seq,
            value: self.value,
            at: self.at,
        }
    }

    /// The digest that is signed: `SHA-256(lp("custody/audit-checkpoint/v1") ‖ lp(zone) ‖
    /// lp(chain) ‖ lp(seq, u64 BE) ‖ lp(value) ‖ lp(at, u64 BE) ‖ lp(public key))`, where
    /// `lp(x)` is `len(x)` as u32 BE followed by `x`.
    pub fn digest(&self) -> [u8; 32] {
        digest(&self.statement(), &self.public_key)
    }

    /// The key id of the signing key: SHA-256 of its SEC1 compressed encoding (as envelopes
    /// name their signer).
    pub fn key_id(&self) -> [u8; 32] {
        Sha256::digest(&self.public_key).into()
    }

    /// The signing key as a P-256 public key.
    pub fn signer(&self) -> Result<p256::PublicKey> {
        p256::PublicKey::from_sec1_bytes(&self.public_key).map_err(|_| {
            Error::Malformed("the checkpoint's public key is not a P-256 point".into())
        })
    }

    /// Checks the shape and that the signature verifies under the key the checkpoint names.
    /// This proves nothing about who signed it: use [`AuditCheckpoint::verify`] with the
    /// zone's pinned key for that.
    pub fn verify_self(&self) -> Result<()> {
        check_chain_name(&self.chain)?;
        let key = self.signer()?;
        let signature =
            p256::ecdsa::Signature::from_slice(&self.signature).map_err(|_| Error::BadSignature)?;
        p256::ecdsa::VerifyingKey::from(key)
            .verify_prehash(&self.digest(), &signature)
            .map_err(|_| Error::BadSignature)
    }

    /// Checks that the checkpoint was signed by `pinned`, the zone's checkpoint key.
    pub fn verify(&self, pinned: &p256::PublicKey) -> Result<()> {
        if self.public_key != encode_key(pinned) {
            return Err(Error::UnknownSigner {
                key_id: hex::encode(self.key_id()),
            });
        }
        self.verify_self()
    }

    /// The JSON form kept in checkpoint files: byte fields as lower-case hex, one object.
    pub fn to_json(&self) -> Result<String> {
        serde_json::to_string_pretty(&CheckpointFile::from(self))
            .map_err(|e| Error::Invalid(format!("could not encode the checkpoint: {e}")))
    }

    /// Parses the JSON form of [`AuditCheckpoint::to_json`] (shape only: verify it after).
    pub fn from_json(text: &str) -> Result<Self> {
        let file: CheckpointFile = serde_json::from_str(text)
            .map_err(|e| Error::Malformed(format!("checkpoint file does not parse: {e}")))?;
        file.try_into()
    }
}

impl fmt::Display for AuditCheckpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {} checkpoint at record {}",
            self.zone, self.chain, self.seq
        )
    }
}

fn check_chain_name(chain: &str) -> Result<()> {
    if chain.is_empty()
        || chain.len() > MAX_CHAIN_NAME
        || !chain.bytes().all(|b| b.is_ascii_lowercase() || b == b'_')
    {
        return Err(Error::Malformed(format!(
            "checkpoint chain name {chain:?} is not 1..={MAX_CHAIN_NAME} lower-case letters"
        )));
    }
    Ok(())
}

fn encode_key(key: &p256::PublicKey) -> Vec<u8> {
    channel::cert::encode_public_key(key)
}

fn digest(statement: &CheckpointStatement<'_>, public_key: &[u8]) -> [u8; 32] {
    let mut h = crate::digest::LpHasher::new();
    let mut lp = |bytes: &[u8]| {
        h.field(bytes);
    };
    lp(DOMAIN);
    lp(statement.zone.as_str().as_bytes());
    lp(statement.chain.as_bytes());
    lp(&statement.seq.to_be_bytes());
    lp(&statement.value);
    lp(&statement.at.to_be_bytes());
    lp(public_key);
    h.finish()
}

/// The JSON file form: the same fields, byte fields in hex.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CheckpointFile {
    /// Always `custody-audit-checkpoint/v1`.
    pub format: String,
    /// The zone whose log this is.
    pub zone: Zone,
    /// The chain.
    pub chain: String,
    /// The chain's last sequence number.
    pub seq: u64,
    /// The hash of record `seq`, 64 hex digits.
    pub value: String,
    /// Unix microseconds.
    pub at: u64,
    /// The signing key, SEC1 compressed, 66 hex digits.
    pub public_key: String,
    /// `r ‖ s`, 128 hex digits.
    pub signature: String,
}

/// The `format` of checkpoint files.
pub const CHECKPOINT_FILE_FORMAT: &str = "custody-audit-checkpoint/v1";

impl From<&AuditCheckpoint> for CheckpointFile {
    fn from(c: &AuditCheckpoint) -> Self {
        CheckpointFile {
            format: CHECKPOINT_FILE_FORMAT.to_owned(),
            zone: c.zone,
            chain: c.chain.clone(),
            seq: c.seq,
            value: hex::encode(c.value),
            at: c.at,
            public_key: hex::encode(&c.public_key),
            signature: hex::encode(c.signature),
        }
    }
}

impl TryFrom<CheckpointFile> for AuditCheckpoint {
    type Error = Error;

    fn try_from(f: CheckpointFile) -> Result<Self> {
        if f.format != CHECKPOINT_FILE_FORMAT {
            return Err(Error::Malformed(format!(
                "checkpoint file format {:?} is not {CHECKPOINT_FILE_FORMAT}",
                f.format
            )));
        }
        let mut value = [0u8; 32];
        hex::decode_to_slice(&f.value, &mut value)
            .map_err(|_| Error::Malformed("checkpoint value is not 64 hex digits".into()))?;
        let mut signature = [0u8; 64];
        hex::decode_to_slice(&f.signature, &mut signature)
            .map_err(|_| Error::Malformed("checkpoint signature is not 128 hex digits".into()))?;
        let public_key = hex::decode(&f.public_key)
            .map_err(|_| Error::Malformed("checkpoint public key is not hex".into()))?;
        Ok(AuditCheckpoint {
            zone: f.zone,
            chain: f.chain,
            seq: f.seq,
            value,
            at: f.at,
            public_key,
            signature,
        })
    }
}

/// A software P-256 key behind [`IdentitySigner`] for this crate's unit tests (the HSM's stand-in).
#[cfg(test)]
pub(crate) mod soft {
    use channel::{IdentitySigner, SignerError};
    use p256::ecdsa::signature::hazmat::PrehashSigner;

    pub(crate) struct Soft(p256::ecdsa::SigningKey);

    impl IdentitySigner for Soft {
        fn public_key(&self) -> p256::PublicKey {
            p256::PublicKey::from(self.0.verifying_key())
        }
        fn sign_digest(&self, digest: &[u8; 32]) -> Result<p256::ecdsa::Signature, SignerError> {
            self.0
                .sign_prehash(digest)
                .map_err(|e| SignerError(e.to_string()))
        }
    }

    /// The key whose scalar is `n` repeated.
    #[allow(clippy::unwrap_used, reason = "test code")]
    pub(crate) fn key(n: u8) -> Soft {
        Soft(p256::ecdsa::SigningKey::from_slice(&[n; 32]).unwrap())
    }
}

#[cfg(test)]
mod tests {
    use super::soft::key;
    use super::*;

    fn statement() -> CheckpointStatement<'static> {
        CheckpointStatement {
            zone: Zone::Offline,
            chain: "audit",
            seq: 100,
            value: [7; 32],
            at: 1_700_000_000_000_000,
        }
    }

    #[test]
    fn a_signed_checkpoint_verifies_under_its_key_only() {
        let signer = key(1);
        let c = AuditCheckpoint::sign(&statement(), &signer).unwrap();
        c.verify(&signer.public_key()).unwrap();
        assert!(matches!(
            c.verify(&key(2).public_key()),
            Err(Error::UnknownSigner { .. })
        ));
    }

    #[test]
    fn every_field_is_covered_by_the_signature() {
        let signer = key(1);
        let c = AuditCheckpoint::sign(&statement(), &signer).unwrap();
        let pinned = signer.public_key();
        let mut edits: Vec<AuditCheckpoint> = Vec::new();
        let mut e = c.clone();
        e.zone = Zone::Online;
        edits.push(e);
        let mut e = c.clone();
        e.chain = "operation".into();
        edits.push(e);
        let mut e = c.clone();
        e.seq += 1;
        edits.push(e);
        let mut e = c.clone();
        e.value[0] ^= 1;
        edits.push(e);
        let mut e = c.clone();
        e.at += 1;
        edits.push(e);
        for edited in edits {
            assert!(matches!(edited.verify(&pinned), Err(Error::BadSignature)));
        }
        // Re-attributing it to another key is caught before the signature.
        let mut e = c.clone();
        e.public_key = encode_key(&key(2).public_key());
        assert!(e.verify(&pinned).is_err());
        assert!(e.verify_self().is_err());
    }

    #[test]
    fn the_json_file_form_round_trips() {
        let signer = key(3);
        let c = AuditCheckpoint::sign(&statement(), &signer).unwrap();
        let text = c.to_json().unwrap();
        assert!(text.contains("custody-audit-checkpoint/v1"));
        let back = AuditCheckpoint::from_json(&text).unwrap();
        assert_eq!(back, c);
        back.verify(&signer.public_key()).unwrap();
        assert!(AuditCheckpoint::from_json("{}").is_err());
    }

    #[test]
    fn chain_names_are_checked() {
        let signer = key(1);
        let mut s = statement();
        s.chain = "Audit Log";
        assert!(AuditCheckpoint::sign(&s, &signer).is_err());
    }
}
