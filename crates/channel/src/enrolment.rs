//! Proof of possession at SE enrolment (issue 15): the case manager's SE signs, with its identity
//! key, a one-time challenge the offline zone issued to that manager, bound to the SE serial and
//! the key itself. The offline API accepts an SE registration only with such a proof, so an
//! administrator cannot certify a software key pair (or another person's SE) as a manager's
//! secure element, and the SE record names the manager who proved they hold it.
//!
//! The proof travels as one line of text (`custody-se-enrolment:` + base64url of MessagePack),
//! printed by `custody-client enroll` and pasted into the manager's web page.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use p256::PublicKey;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::wire::{parse_compressed_public_key, public_key_bytes, signature_bytes, verify_digest};
use crate::{Error, IdentitySigner, Result};

/// The prefix of a proof's text form.
pub const PROOF_PREFIX: &str = "custody-se-enrolment:";

/// Domain separation of the signed digest.
const DOMAIN: &[u8] = b"custody/se-enrolment/v1";

/// The longest serial or challenge a proof may carry.
const MAX_FIELD: usize = 256;

/// A signed proof that the holder of an SE's identity key answered `challenge`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EnrolmentProof {
    /// The SE's token serial.
    pub serial: String,
    /// The identity public key, compressed SEC1.
    #[serde(with = "serde_bytes")]
    pub identity_public_key: Vec<u8>,
    /// The challenge the offline zone issued to the manager.
    #[serde(with = "serde_bytes")]
    pub challenge: Vec<u8>,
    /// ECDSA P-256 r||s over the enrolment digest, by the identity key.
    #[serde(with = "serde_bytes")]
    pub signature: Vec<u8>,
    /// The SE vendor's attestation of the identity key (e.g. a certificate chain proving the
    /// key was generated inside genuine hardware), for a [`VendorAttestation`] check; empty
    /// when the SE offers none (SoftHSM2). It vouches for the key itself, so it is not part of
    /// the signed digest.
    #[serde(default, with = "serde_bytes")]
    pub vendor_evidence: Vec<u8>,
}

/// The port through which the offline zone checks an SE vendor's attestation at enrolment,
/// after the proof of possession ([`EnrolmentProof::verify`]). A deployment whose SEs carry
/// vendor attestation implements it with that vendor's roots and format (checking that the
/// evidence names `proof.serial` and `proof.identity_public_key`); SoftHSM2 and cards without
/// attestation use [`PossessionOnly`].
pub trait VendorAttestation: Send + Sync {
    /// What the check is called (logs, the operator's configuration).
    fn name(&self) -> &str;

    /// Accept or refuse the SE of `proof` (its possession already verified).
    ///
    /// # Errors
    /// A sentence saying why the SE's attestation is not accepted.
    fn check(&self, proof: &EnrolmentProof) -> std::result::Result<(), String>;
}

/// No vendor attestation: an SE is enrolled on the proof of possession alone. Evidence it
/// cannot verify is refused rather than ignored, so nobody believes it was checked.
#[derive(Clone, Copy, Debug, Default)]
pub struct PossessionOnly;

impl VendorAttestation for PossessionOnly {
    fn name(&self) -> &str {
        "possession-only"
    }

    fn check(&self, proof: &EnrolmentProof) -> std::result::Result<(), String> {
        if proof.vendor_evidence.is_empty() {
            Ok(())
        } else {
            Err(
                "the proof carries vendor attestation, but this deployment has no verifier \
                 for it (it checks possession only); enrol without the evidence or configure \
                 the vendor's verifier"
                    .to_owned(),
            )
        }
    }
}

/// What the identity key signs: SHA-256 over the domain and the length-prefixed serial, key and
/// challenge.
fn digest(serial: &str, key: &[u8], challenge: &[u8]) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(DOMAIN);
    for part in [serial.as_bytes(), key, challenge] {
        h.update((part.len() as u64).to_be_bytes());
        h.update(part);
    }
    h.finalize().into()
}

impl EnrolmentProof {
    /// Answer `challenge` for the SE `serial` with its identity key.
    ///
    /// # Errors
    /// [`Error::Signer`] if the SE cannot sign; [`Error::Malformed`] for an empty or oversized
    /// serial or challenge.
    pub fn sign(signer: &dyn IdentitySigner, serial: &str, challenge: &[u8]) -> Result<Self> {
        check_fields(serial, challenge)?;
        let key = public_key_bytes(&signer.public_key());
        let signature = signer.sign_digest(&digest(serial, &key, challenge))?;
        Ok(EnrolmentProof {
            serial: serial.to_owned(),
            identity_public_key: key,
            challenge: challenge.to_vec(),
            signature: signature_bytes(&signature),
            vendor_evidence: Vec::new(),
        })
    }

    /// Check the signature; returns the proven identity key.
    ///
    /// # Errors
    /// [`Error::Malformed`], [`Error::InvalidPublicKey`] or [`Error::BadEnrolmentProof`] (the
    /// signature is not the key's over this serial and challenge).
    pub fn verify(&self) -> Result<PublicKey> {
        check_fields(&self.serial, &self.challenge)?;
        let key = parse_compressed_public_key(&self.identity_public_key)?;
        let d = digest(&self.serial, &self.identity_public_key, &self.challenge);
        if !verify_digest(&key, &d, &self.signature) {
            return Err(Error::BadEnrolmentProof);
        }
        Ok(key)
    }

    /// The text form (one line).
    ///
    /// # Errors
    /// [`Error::Encode`] (never for a well-formed proof).
    pub fn to_text(&self) -> Result<String> {
        let bytes = rmp_serde::to_vec_named(self).map_err(|_| Error::Encode("enrolment proof"))?;
        Ok(format!("{PROOF_PREFIX}{}", URL_SAFE_NO_PAD.encode(&bytes)))
    }

    /// Parse the text form (surrounding whitespace is ignored).
    ///
    /// # Errors
    /// [`Error::Malformed`] for anything that is not a proof.
    pub fn from_text(text: &str) -> Result<Self> {
        let body = text
            .trim()
            .strip_prefix(PROOF_PREFIX)
            .ok_or(Error::Malformed("enrolment proof"))?;
        if body.len() > 4 * MAX_FIELD {
            return Err(Error::Malformed("enrolment proof"));
        }
        let bytes = URL_SAFE_NO_PAD
            .decode(body.trim())
            .map_err(|_| Error::Malformed("enrolment proof"))?;
        rmp_serde::from_slice(&bytes).map_err(|_| Error::Malformed("enrolment proof"))
    }
}

fn check_fields(serial: &str, challenge: &[u8]) -> Result<()> {
    if serial.trim().is_empty()
        || serial.len() > MAX_FIELD
        || challenge.is_empty()
        || challenge.len() > MAX_FIELD
    {
        return Err(Error::Malformed("enrolment proof"));
    }
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "test code")]
mod tests {
    use super::*;
    use crate::SignerError;
    use p256::ecdsa::signature::hazmat::PrehashSigner;

    struct Soft(p256::ecdsa::SigningKey);
    impl IdentitySigner for Soft {
        fn public_key(&self) -> PublicKey {
            PublicKey::from(self.0.verifying_key())
        }
        fn sign_digest(
            &self,
            d: &[u8; 32],
        ) -> std::result::Result<p256::ecdsa::Signature, SignerError> {
            self.0
                .sign_prehash(d)
                .map_err(|e| SignerError(e.to_string()))
        }
    }

    fn soft(seed: u8) -> Soft {
        Soft(p256::ecdsa::SigningKey::from_bytes(&[seed; 32].into()).unwrap())
    }

    #[test]
    fn a_proof_round_trips_and_verifies_to_the_signing_key() {
        let se = soft(7);
        let proof = EnrolmentProof::sign(&se, "SE-1", b"challenge-bytes").unwrap();
        let back = EnrolmentProof::from_text(&format!("  {}\n", proof.to_text().unwrap())).unwrap();
        assert_eq!(back, proof);
        assert_eq!(back.verify().unwrap(), se.public_key());
    }

    #[test]
    fn any_change_breaks_the_proof() {
        let proof = EnrolmentProof::sign(&soft(7), "SE-1", b"challenge").unwrap();
        let other_key = public_key_bytes(&soft(8).public_key());
        let mut tampered = [proof.clone(), proof.clone(), proof.clone(), proof.clone()];
        tampered[0].serial = "SE-2".into();
        tampered[1].challenge = b"challengf".to_vec();
        tampered[2].identity_public_key = other_key;
        tampered[3].signature[5] ^= 1;
        for t in tampered {
            assert!(t.verify().is_err(), "{t:?}");
        }
        assert!(EnrolmentProof::from_text("custody-se-enrolment:!!").is_err());
        assert!(EnrolmentProof::from_text("hello").is_err());
        assert!(EnrolmentProof::sign(&soft(7), "", b"c").is_err());
    }
}
