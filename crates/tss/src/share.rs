//! Key material and the indices that name it.

use cggmp21::generic_ec::{NonZero, Point};
use cggmp21::key_share::{DirtyAuxInfo, DirtyKeyShare};
use cggmp21::security_level::SecurityLevel128;
use cggmp21::supported_curves::Secp256k1;
use k256::ecdsa::VerifyingKey;
use zeroize::Zeroizing;

use crate::{Error, EthAddress, Result};

/// Number of shares of a case key.
pub const PARTIES: u16 = 3;
/// Number of shares needed to sign.
pub const THRESHOLD: u16 = 2;

/// The position of a manager's share in the key-share table: 0, 1 or 2.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ShareIndex(u16);

impl ShareIndex {
    /// Parses an index; only 0..3 exist.
    pub fn new(i: u16) -> Result<Self> {
        if i < PARTIES {
            Ok(Self(i))
        } else {
            Err(Error::ShareIndexOutOfRange(i))
        }
    }

    /// The index as cggmp21 expects it.
    pub fn get(self) -> u16 {
        self.0
    }

    /// All three indices.
    pub fn all() -> [ShareIndex; 3] {
        [Self(0), Self(1), Self(2)]
    }
}

impl std::fmt::Display for ShareIndex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// The two shares that sign together, sorted. Constructing one is the only way to reach
/// [`crate::sign`], and it refuses anything but two distinct valid indices, so a signature from
/// one share alone cannot even be asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SignerSet([ShareIndex; 2]);

impl SignerSet {
    /// Parses a signer set from share indices.
    pub fn new(indices: &[u16]) -> Result<Self> {
        let invalid = || Error::InvalidSignerSet {
            threshold: THRESHOLD,
            given: indices.to_vec(),
        };
        let [a, b] = indices else {
            return Err(invalid());
        };
        let (a, b) = (ShareIndex::new(*a)?, ShareIndex::new(*b)?);
        if a == b {
            return Err(invalid());
        }
        Ok(Self(if a < b { [a, b] } else { [b, a] }))
    }

    /// The share indices in signing order.
    pub fn indices(&self) -> [ShareIndex; 2] {
        self.0
    }

    /// This share's position within the signing run (cggmp21's signer index).
    pub fn position_of(&self, share: ShareIndex) -> Result<u16> {
        self.0
            .iter()
            .position(|s| *s == share)
            .map(|p| p as u16)
            .ok_or(Error::NotASigner(share.get()))
    }

    /// Bytes that bind the signer set into an execution id.
    pub fn to_bytes(&self) -> [u8; 2] {
        [self.0[0].get() as u8, self.0[1].get() as u8]
    }
}

/// The output of keygen before aux info is attached. Secret.
pub struct IncompleteShare(pub(crate) cggmp21::IncompleteKeyShare<Secp256k1>);

/// A party's aux info (its Paillier secret key and everybody's public parameters). Secret.
pub struct AuxInfo(pub(crate) cggmp21::key_share::AuxInfo<SecurityLevel128>);

impl AuxInfo {
    /// Serialises for sealing into the SE.
    pub fn to_bytes(&self) -> Result<Zeroizing<Vec<u8>>> {
        encode(&*self.0)
    }

    /// Parses sealed bytes.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        let dirty: DirtyAuxInfo<SecurityLevel128> = decode(bytes)?;
        let valid = cggmp21::key_share::Valid::validate(dirty)
            .map_err(|e| Error::InvalidKeyShare(format!("aux info: {}", e.error())))?;
        Ok(Self(valid))
    }
}

/// A complete key share of a 2-of-3 secp256k1 key: what is sealed into one SE.
///
/// It is validated on construction (threshold 2, three parties, secp256k1) and its serialised form
/// only ever exists in [`Zeroizing`] buffers.
#[derive(Clone)]
pub struct KeyShare(pub(crate) cggmp21::KeyShare<Secp256k1, SecurityLevel128>);

impl KeyShare {
    /// Attaches aux info to a fresh keygen share.
    pub fn assemble(core: IncompleteShare, aux: AuxInfo) -> Result<Self> {
        let share = cggmp21::KeyShare::from_parts((core.0, aux.0))
            .map_err(|e| Error::AuxMismatch(e.error().to_string()))?;
        Self::from_cggmp21(share)
    }

    /// Wraps a cggmp21 key share after checking it is a 2-of-3 share.
    pub fn from_cggmp21(share: cggmp21::KeyShare<Secp256k1, SecurityLevel128>) -> Result<Self> {
        if share.core.key_info.public_shares.len() != usize::from(PARTIES) {
            return Err(Error::InvalidKeyShare(
                "a case key has exactly 3 shares".into(),
            ));
        }
        if share
            .core
            .key_info
            .vss_setup
            .as_ref()
            .map(|v| v.min_signers)
            != Some(THRESHOLD)
        {
            return Err(Error::InvalidKeyShare("a case key has threshold 2".into()));
        }
        if share.core.i >= PARTIES {
            return Err(Error::ShareIndexOutOfRange(share.core.i));
        }
        Ok(Self(share))
    }

    /// Serialises for sealing into the SE. The buffer is wiped when dropped.
    pub fn to_bytes(&self) -> Result<Zeroizing<Vec<u8>>> {
        encode(&*self.0)
    }

    /// Parses and validates a share unsealed from the SE.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        let dirty: DirtyKeyShare<Secp256k1, SecurityLevel128> = decode(bytes)?;
        let valid = cggmp21::key_share::Valid::validate(dirty)
            .map_err(|e| Error::InvalidKeyShare(e.error().to_string()))?;
        Self::from_cggmp21(valid)
    }

    /// Which share this is.
    pub fn index(&self) -> ShareIndex {
        ShareIndex(self.0.core.i)
    }

    /// The shared public key (the case key).
    pub fn public_key(&self) -> Result<VerifyingKey> {
        point_to_key(&self.0.core.key_info.shared_public_key)
    }

    /// The shared public key, SEC1 compressed (33 bytes).
    pub fn public_key_sec1(&self) -> Vec<u8> {
        self.0
            .core
            .key_info
            .shared_public_key
            .to_bytes(true)
            .to_vec()
    }

    /// The Ethereum address of the case key.
    pub fn address(&self) -> Result<EthAddress> {
        Ok(EthAddress::from_public_key(&self.public_key()?))
    }

    /// The underlying cggmp21 share, for benchmarks that drive cggmp21 directly.
    pub fn as_cggmp21(&self) -> &cggmp21::KeyShare<Secp256k1, SecurityLevel128> {
        &self.0
    }
}

pub(crate) fn point_to_key(point: &NonZero<Point<Secp256k1>>) -> Result<VerifyingKey> {
    VerifyingKey::from_sec1_bytes(&point.to_bytes(true))
        .map_err(|_| Error::InvalidKeyShare("shared public key is not a valid point".into()))
}

fn encode<T: serde::Serialize>(value: &T) -> Result<Zeroizing<Vec<u8>>> {
    // JSON keeps the sealed format self-describing across cggmp21 versions; it is encrypted in the
    // SE and never leaves process memory in clear.
    serde_json::to_vec(value)
        .map(Zeroizing::new)
        .map_err(|e| Error::Encoding(e.to_string()))
}

fn decode<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> Result<T> {
    serde_json::from_slice(bytes).map_err(|e| Error::Encoding(format!("key material: {e}")))
}

/// Shows which share and which key, never the secret.
impl std::fmt::Debug for KeyShare {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyShare")
            .field("index", &self.0.core.i)
            .field("public_key", &hex::encode(self.public_key_sec1()))
            .finish_non_exhaustive()
    }
}
