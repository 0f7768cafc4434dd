//! Ethereum views of the shared key and of a threshold signature.

use k256::ecdsa::signature::hazmat::PrehashVerifier;
use k256::ecdsa::{RecoveryId, Signature as K256Signature, VerifyingKey};
use sha3::{Digest, Keccak256};

use crate::{Error, Result};

/// A 20-byte Ethereum address. Displayed with the EIP-55 checksum.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct EthAddress(pub [u8; 20]);

impl EthAddress {
    /// The address of a secp256k1 public key: the last 20 bytes of keccak256 of the
    /// uncompressed point without its 0x04 prefix.
    pub fn from_public_key(key: &VerifyingKey) -> Self {
        let point = key.to_encoded_point(false);
        let bytes = point.as_bytes();
        let hash = Keccak256::digest(bytes.get(1..).unwrap_or_default());
        let mut out = [0u8; 20];
        out.copy_from_slice(hash.get(12..).unwrap_or(&[0u8; 20]));
        Self(out)
    }

    /// EIP-55 mixed-case checksum encoding, with 0x.
    pub fn to_checksum(&self) -> String {
        let lower = hex::encode(self.0);
        let hash = Keccak256::digest(lower.as_bytes());
        let mut out = String::with_capacity(42);
        out.push_str("0x");
        for (i, c) in lower.chars().enumerate() {
            let nibble = hash
                .get(i / 2)
                .map_or(0, |b| if i % 2 == 0 { b >> 4 } else { b & 0x0f });
            if c.is_ascii_alphabetic() && nibble >= 8 {
                out.push(c.to_ascii_uppercase());
            } else {
                out.push(c);
            }
        }
        out
    }
}

impl std::fmt::Display for EthAddress {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.to_checksum())
    }
}

impl std::fmt::Debug for EthAddress {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "EthAddress({})", self.to_checksum())
    }
}

/// An Ethereum-ready ECDSA signature over a 32-byte signing hash: `s` is in the lower half of the
/// curve order (EIP-2) and `y_parity` is the recovery bit.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct EthSignature {
    /// Big-endian r.
    pub r: [u8; 32],
    /// Big-endian s, low-s normalised.
    pub s: [u8; 32],
    /// Recovery bit: the parity of the y coordinate of the nonce point.
    pub y_parity: bool,
}

impl EthSignature {
    /// Builds a recoverable signature from (r, s) for `hash` by finding the recovery bit that
    /// yields `public_key`; rejects a signature that does not verify. Uses k256, independently
    /// of cggmp21's own verification.
    pub fn from_rs(
        r: [u8; 32],
        s: [u8; 32],
        hash: &[u8; 32],
        public_key: &VerifyingKey,
    ) -> Result<Self> {
        let sig = K256Signature::from_scalars(r, s).map_err(|_| Error::SignatureInvalid)?;
        let sig = sig.normalize_s().unwrap_or(sig);
        public_key
            .verify_prehash(hash, &sig)
            .map_err(|_| Error::SignatureInvalid)?;
        for parity in [false, true] {
            let id = RecoveryId::new(parity, false);
            if let Ok(recovered) = VerifyingKey::recover_from_prehash(hash, &sig, id) {
                if &recovered == public_key {
                    let bytes = sig.to_bytes();
                    let mut r = [0u8; 32];
                    let mut s = [0u8; 32];
                    r.copy_from_slice(bytes.get(..32).unwrap_or(&[0u8; 32]));
                    s.copy_from_slice(bytes.get(32..).unwrap_or(&[0u8; 32]));
                    return Ok(Self {
                        r,
                        s,
                        y_parity: parity,
                    });
                }
            }
        }
        Err(Error::SignatureInvalid)
    }

    /// v for a legacy (pre-EIP-155) signature: 27 or 28.
    pub fn v_legacy(&self) -> u64 {
        27 + u64::from(self.y_parity)
    }

    /// v for an EIP-155 legacy transaction on `chain_id`: chain_id * 2 + 35 + parity.
    pub fn v_eip155(&self, chain_id: u64) -> u64 {
        chain_id * 2 + 35 + u64::from(self.y_parity)
    }

    /// r || s || y_parity (65 bytes), the form most libraries accept.
    pub fn to_bytes65(&self) -> [u8; 65] {
        let mut out = [0u8; 65];
        out[..32].copy_from_slice(&self.r);
        out[32..64].copy_from_slice(&self.s);
        out[64] = u8::from(self.y_parity);
        out
    }
}
