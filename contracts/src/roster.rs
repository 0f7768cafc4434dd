//! The signed roster of a case (issue 15, "clients pin the case roster"): which secure element
//! holds which share of a case, stated by the offline zone's HSM envelope key when the case is
//! approved, and carried to the managers' clients in every keygen and signing work item.
//!
//! The coordinator relays the roster but cannot make one: a client verifies it under the
//! offline zone's envelope key it pins (`custody-client login --offline-key`), checks that its
//! own SE is on it at its share index, and accepts as peers only SEs whose certified identity
//! key the roster names at their share index. So a compromised coordinator host (or a database
//! administrator) cannot give a manager different peers than the case the two administrators
//! approved, nor make a client wipe a share for a "keygen retry" of a case it was never part of.
//!
//! Managers are deliberately not on the roster: replacing a manager hands the same SE (and
//! share) to another person, which changes nothing a client checks.

use channel::IdentitySigner;
use p256::ecdsa::signature::hazmat::PrehashVerifier;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::{Error, Id, Result};

/// Domain separation tag of the roster digest.
const DOMAIN: &[u8] = b"custody/case-roster/v1";
/// Longest SE serial accepted (PKCS#11 token serials are 16 characters).
const MAX_SERIAL: usize = 64;
/// How many shares a case has.
pub const ROSTER_PARTIES: usize = 3;

/// One share of the case: its index and the SE that holds it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RosterSlot {
    /// The share index (0, 1, 2).
    pub share_index: u8,
    /// The SE's token serial.
    pub se_serial: String,
    /// The SE's identity key, SEC1 compressed P-256 (33 bytes, MessagePack bin).
    #[serde(with = "serde_bytes")]
    #[schemars(with = "Vec<u8>")]
    pub se_public_key: Vec<u8>,
}

/// A case's roster, signed by the offline HSM's envelope key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CaseRoster {
    /// The case.
    pub case_id: Id,
    /// One slot per share, in share index order.
    pub slots: Vec<RosterSlot>,
    /// When the HSM signed it, unix seconds.
    pub issued_at: u64,
    /// The signing key, SEC1 compressed P-256. A client compares it with the key it pins; it
    /// never trusts it because it is here.
    #[serde(with = "serde_bytes")]
    #[schemars(with = "Vec<u8>")]
    pub public_key: Vec<u8>,
    /// ECDSA P-256 `r ‖ s` over [`CaseRoster::digest`] (MessagePack bin, 64 bytes).
    #[serde(with = "serde_bytes")]
    #[schemars(schema_with = "crate::envelope::signature_schema")]
    pub signature: [u8; 64],
}

impl RosterSlot {
    /// The slot of share `share_index`, held by the SE `se_serial` with identity key `key`.
    pub fn new(share_index: u8, se_serial: &str, key: &p256::PublicKey) -> RosterSlot {
        RosterSlot {
            share_index,
            se_serial: se_serial.to_owned(),
            se_public_key: channel::cert::encode_public_key(key),
        }
    }
}

impl CaseRoster {
    /// Sign the roster of `case_id` with the zone's envelope key (the HSM, behind
    /// [`IdentitySigner`]). The slots must be one per share, in index order, with distinct SEs;
    /// the signature is checked under the signer's own key before the roster is returned.
    pub fn sign(
        case_id: Id,
        slots: Vec<RosterSlot>,
        issued_at: u64,
        signer: &dyn IdentitySigner,
    ) -> Result<CaseRoster> {
        let public_key = channel::cert::encode_public_key(&signer.public_key());
        let mut roster = CaseRoster {
            case_id,
            slots,
            issued_at,
            public_key,
            signature: [0; 64],
        };
        roster.check_shape()?;
        roster.signature = signer.sign_digest(&roster.digest())?.to_bytes().into();
        roster.verify_self()?;
        Ok(roster)
    }

    /// `SHA-256(lp(tag) ‖ lp(case id) ‖ lp(issued_at, u64 BE) ‖ lp(slot count, u32 BE) ‖ for
    /// each slot lp(index) ‖ lp(serial) ‖ lp(SE key) ‖ lp(signing key))`, where `lp(x)` is
    /// `len(x)` as u32 BE followed by `x`.
    pub fn digest(&self) -> [u8; 32] {
        // Every field is bounded by `check_shape` (a few dozen bytes).
        let mut h = crate::digest::LpHasher::new();
        h.field(DOMAIN)
            .field(self.case_id.to_string().as_bytes())
            .field(&self.issued_at.to_be_bytes())
            .count(self.slots.len());
        for slot in &self.slots {
            h.field(&[slot.share_index])
                .field(slot.se_serial.as_bytes())
                .field(&slot.se_public_key);
        }
        h.field(&self.public_key);
        h.finish()
    }

    /// Checks that the roster was signed by `pinned` (the offline zone's envelope key) and is
    /// well formed: three slots in index order, three distinct SEs, every key a P-256 point.
    pub fn verify(&self, pinned: &p256::PublicKey) -> Result<()> {
        if self.public_key != channel::cert::encode_public_key(pinned) {
            return Err(Error::UnknownSigner {
                key_id: hex::encode(Sha256::digest(&self.public_key)),
            });
        }
        self.verify_self()
    }

    /// The roster verified for case `case_id` under `pinned`: what a client checks before it
    /// takes part in any run of that case.
    pub fn verify_for(&self, case_id: &Id, pinned: &p256::PublicKey) -> Result<()> {
        self.verify(pinned)?;
        if self.case_id != *case_id {
            return Err(Error::Invalid(format!(
                "the signed roster is for case {}, not for case {case_id}",
                self.case_id
            )));
        }
        Ok(())
    }

    fn verify_self(&self) -> Result<()> {
        self.check_shape()?;
        let key = p256::PublicKey::from_sec1_bytes(&self.public_key).map_err(|_| {
            Error::Malformed("the roster's signing key is not a P-256 point".into())
        })?;
        let signature =
            p256::ecdsa::Signature::from_slice(&self.signature).map_err(|_| Error::BadSignature)?;
        p256::ecdsa::VerifyingKey::from(key)
            .verify_prehash(&self.digest(), &signature)
            .map_err(|_| Error::BadSignature)
    }

    fn check_shape(&self) -> Result<()> {
        if self.slots.len() != ROSTER_PARTIES {
            return Err(Error::Malformed(format!(
                "a case roster has {ROSTER_PARTIES} slots, not {}",
                self.slots.len()
            )));
        }
        for (position, slot) in self.slots.iter().enumerate() {
            if usize::from(slot.share_index) != position {
                return Err(Error::Malformed(
                    "the roster's slots are not in share index order".into(),
                ));
            }
            if slot.se_serial.is_empty() || slot.se_serial.len() > MAX_SERIAL {
                return Err(Error::Malformed(format!(
                    "roster slot {position}: the SE serial is not 1..={MAX_SERIAL} bytes"
                )));
            }
            let key = p256::PublicKey::from_sec1_bytes(&slot.se_public_key).map_err(|_| {
                Error::Malformed(format!(
                    "roster slot {position}: the SE key is not a P-256 point"
                ))
            })?;
            if slot.se_public_key != channel::cert::encode_public_key(&key) {
                return Err(Error::Malformed(format!(
                    "roster slot {position}: the SE key is not SEC1 compressed"
                )));
            }
            for other in self.slots.iter().skip(position + 1) {
                if other.se_serial == slot.se_serial || other.se_public_key == slot.se_public_key {
                    return Err(Error::Malformed(
                        "the roster names one SE for two shares".into(),
                    ));
                }
            }
        }
        Ok(())
    }

    /// The slot of share `share_index`, if the roster has it.
    pub fn slot(&self, share_index: u16) -> Option<&RosterSlot> {
        self.slots
            .iter()
            .find(|s| u16::from(s.share_index) == share_index)
    }

    /// Whether the SE `se_serial` with identity key `key` holds share `share_index` on this
    /// roster.
    pub fn holds(&self, share_index: u16, se_serial: &str, key: &p256::PublicKey) -> bool {
        self.slot(share_index).is_some_and(|s| {
            s.se_serial == se_serial && s.se_public_key == channel::cert::encode_public_key(key)
        })
    }

    /// MessagePack encoding (named fields), as the database keeps it.
    pub fn to_bytes(&self) -> Result<Vec<u8>> {
        crate::coord::encode(self)
    }

    /// Decodes a roster (shape only: verify it after).
    pub fn from_bytes(bytes: &[u8]) -> Result<CaseRoster> {
        crate::coord::decode(bytes, "case roster")
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]
    use super::*;
    use crate::checkpoint::soft::key;

    fn case() -> Id {
        Id::parse("01930000-0000-7000-8000-000000000001").unwrap()
    }

    fn slots() -> Vec<RosterSlot> {
        (0u8..3)
            .map(|i| RosterSlot::new(i, &format!("se-{i}"), &key(10 + i).public_key()))
            .collect()
    }

    #[test]
    fn a_roster_verifies_only_under_its_key_for_its_case_and_unaltered() {
        let hsm = key(1);
        let roster = CaseRoster::sign(case(), slots(), 1_750_000_000, &hsm).unwrap();
        let bytes = roster.to_bytes().unwrap();
        let back = CaseRoster::from_bytes(&bytes).unwrap();
        back.verify_for(&case(), &hsm.public_key()).unwrap();
        assert!(back.holds(1, "se-1", &key(11).public_key()));
        assert!(!back.holds(1, "se-1", &key(12).public_key()));
        assert!(!back.holds(2, "se-1", &key(11).public_key()));
        assert!(!back.holds(3, "se-1", &key(11).public_key()));

        // Another key, another case.
        assert!(matches!(
            back.verify(&key(2).public_key()),
            Err(Error::UnknownSigner { .. })
        ));
        let other = Id::parse("01930000-0000-7000-8000-000000000002").unwrap();
        assert!(back.verify_for(&other, &hsm.public_key()).is_err());

        // Every field is covered by the signature.
        let mut moved = back.clone();
        moved.case_id = other;
        assert!(moved.verify(&hsm.public_key()).is_err());
        let mut swapped = back.clone();
        swapped.slots[2].se_public_key = channel::cert::encode_public_key(&key(99).public_key());
        assert!(matches!(
            swapped.verify(&hsm.public_key()),
            Err(Error::BadSignature)
        ));
        let mut renamed = back.clone();
        renamed.slots[0].se_serial = "se-x".into();
        assert!(renamed.verify(&hsm.public_key()).is_err());
        let mut later = back;
        later.issued_at += 1;
        assert!(later.verify(&hsm.public_key()).is_err());
    }

    #[test]
    fn a_malformed_roster_is_not_signed() {
        let hsm = key(1);
        let mut two = slots();
        two.pop();
        assert!(CaseRoster::sign(case(), two, 0, &hsm).is_err());
        let mut out_of_order = slots();
        out_of_order.swap(0, 1);
        assert!(CaseRoster::sign(case(), out_of_order, 0, &hsm).is_err());
        let mut twice = slots();
        twice[2].se_public_key = twice[0].se_public_key.clone();
        assert!(CaseRoster::sign(case(), twice, 0, &hsm).is_err());
        let mut not_a_key = slots();
        not_a_key[1].se_public_key = vec![5; 33];
        assert!(CaseRoster::sign(case(), not_a_key, 0, &hsm).is_err());
    }
}
