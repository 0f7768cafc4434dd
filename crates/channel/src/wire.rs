//! Shared low-level helpers: MessagePack encoding with a size limit, unambiguous (length-
//! prefixed) hashing, key and signature encodings, and HKDF wrappers that keep outputs in
//! zeroizing buffers.

use hkdf::Hkdf;
use p256::ecdsa::signature::hazmat::PrehashVerifier;
use p256::ecdsa::{Signature, VerifyingKey};
use p256::elliptic_curve::sec1::ToEncodedPoint;
use p256::PublicKey;
use serde::de::DeserializeOwned;
use serde::Serialize;
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use crate::{Error, Result};

/// Upper bound for any message this crate decodes. Every legitimate message is far smaller;
/// the bound stops a hostile peer from making us parse (and allocate for) arbitrary input.
pub(crate) const MAX_MESSAGE_LEN: usize = 1 << 20;

pub(crate) fn encode<T: Serialize>(value: &T, what: &'static str) -> Result<Vec<u8>> {
    rmp_serde::to_vec_named(value).map_err(|_| Error::Encode(what))
}

pub(crate) fn decode<T: DeserializeOwned>(bytes: &[u8], what: &'static str) -> Result<T> {
    if bytes.len() > MAX_MESSAGE_LEN {
        return Err(Error::Malformed(what));
    }
    rmp_serde::from_slice(bytes).map_err(|_| Error::Malformed(what))
}

/// Feed `data` into `hasher` with a 64-bit length prefix, so that no two different sequences
/// of fields can produce the same hash input.
fn absorb(hasher: &mut Sha256, data: &[u8]) {
    hasher.update((data.len() as u64).to_be_bytes());
    hasher.update(data);
}

/// SHA-256 over a domain tag and a list of fields, each length-prefixed. Every signature and
/// key in this crate uses its own tag, so a value produced for one purpose is never valid for
/// another.
pub(crate) fn tagged_digest(tag: &[u8], fields: &[&[u8]]) -> [u8; 32] {
    let mut hasher = Sha256::new();
    absorb(&mut hasher, tag);
    for field in fields {
        absorb(&mut hasher, field);
    }
    hasher.finalize().into()
}

/// A running handshake transcript: labelled, length-prefixed fields hashed in order.
#[derive(Clone)]
pub(crate) struct Transcript(Sha256);

impl Transcript {
    pub(crate) fn new(tag: &[u8]) -> Self {
        let mut hasher = Sha256::new();
        absorb(&mut hasher, tag);
        Self(hasher)
    }

    pub(crate) fn absorb(&mut self, label: &[u8], data: &[u8]) {
        absorb(&mut self.0, label);
        absorb(&mut self.0, data);
    }

    pub(crate) fn hash(&self) -> [u8; 32] {
        self.0.clone().finalize().into()
    }
}

/// SEC1 compressed encoding (33 bytes), the only form certificates carry.
pub(crate) fn public_key_bytes(key: &PublicKey) -> Vec<u8> {
    key.to_encoded_point(true).as_bytes().to_vec()
}

/// Parse a SEC1 point; the library rejects the identity and points off the curve.
pub(crate) fn parse_public_key(bytes: &[u8]) -> Result<PublicKey> {
    PublicKey::from_sec1_bytes(bytes).map_err(|_| Error::InvalidPublicKey)
}

/// Parse a point that must be in compressed form, so each key has exactly one encoding.
pub(crate) fn parse_compressed_public_key(bytes: &[u8]) -> Result<PublicKey> {
    if bytes.len() != 33 {
        return Err(Error::InvalidPublicKey);
    }
    parse_public_key(bytes)
}

/// SHA-256 of the compressed SEC1 encoding: how certificates name their issuer.
pub(crate) fn key_id(key: &PublicKey) -> [u8; 32] {
    Sha256::digest(public_key_bytes(key)).into()
}

pub(crate) fn signature_bytes(signature: &Signature) -> Vec<u8> {
    signature.to_bytes().to_vec()
}

/// Verify a 64-byte r||s signature over a digest. Returns `false` for any failure so callers
/// can map it to the error that names their check.
pub(crate) fn verify_digest(key: &PublicKey, digest: &[u8; 32], signature: &[u8]) -> bool {
    let Ok(signature) = Signature::from_slice(signature) else {
        return false;
    };
    VerifyingKey::from(key)
        .verify_prehash(digest, &signature)
        .is_ok()
}

/// HKDF-Extract into a zeroizing buffer.
pub(crate) fn hkdf_extract(salt: &[u8], ikm: &[u8]) -> Zeroizing<[u8; 32]> {
    let (mut prk, _) = Hkdf::<Sha256>::extract(Some(salt), ikm);
    let out = Zeroizing::new(<[u8; 32]>::from(prk));
    let prk_bytes: &mut [u8] = &mut prk;
    zeroize::Zeroize::zeroize(prk_bytes);
    out
}

/// HKDF-Expand of 32 bytes with the info given as concatenated, length-prefixed parts.
pub(crate) fn hkdf_expand(prk: &[u8; 32], info: &[&[u8]]) -> Result<Zeroizing<[u8; 32]>> {
    let hkdf = Hkdf::<Sha256>::from_prk(prk).map_err(|_| Error::Internal("hkdf prk"))?;
    let mut prefixed = Vec::with_capacity(info.len() * 2);
    let lengths: Vec<[u8; 8]> = info
        .iter()
        .map(|p| (p.len() as u64).to_be_bytes())
        .collect();
    for (part, len) in info.iter().zip(lengths.iter()) {
        prefixed.push(len.as_slice());
        prefixed.push(*part);
    }
    let mut okm = Zeroizing::new([0u8; 32]);
    hkdf.expand_multi_info(&prefixed, okm.as_mut())
        .map_err(|_| Error::Internal("hkdf expand"))?;
    Ok(okm)
}

/// A 96-bit AEAD nonce from a 64-bit sequence number. Each key encrypts under one direction
/// (or one ordered pair of parties) only, so the sequence number alone makes it unique.
pub(crate) fn nonce_from_sequence(seq: u64) -> [u8; 12] {
    let mut nonce = [0u8; 12];
    for (dst, src) in nonce.iter_mut().skip(4).zip(seq.to_be_bytes()) {
        *dst = src;
    }
    nonce
}

/// The raw x-coordinate of an ECDH result, used only as HKDF input keying material.
pub(crate) fn secret_bytes(shared: &p256::ecdh::SharedSecret) -> &[u8] {
    shared.raw_secret_bytes()
}
