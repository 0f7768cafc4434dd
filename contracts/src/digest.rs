//! The one signed-digest construction of this crate's documents (envelopes, audit checkpoints,
//! case rosters): SHA-256 over fields each written as `len(x)` (u32 BE) followed by `x`, so no
//! two different documents share a preimage.

use sha2::{Digest, Sha256};

/// A SHA-256 over length-prefixed fields.
pub(crate) struct LpHasher(Sha256);

impl LpHasher {
    /// An empty hasher; the first field is the document's domain tag.
    pub(crate) fn new() -> Self {
        Self(Sha256::new())
    }

    /// Absorb one field. Fields are bounded far below `u32::MAX` by each document's own limits.
    pub(crate) fn field(&mut self, bytes: &[u8]) -> &mut Self {
        self.0
            .update(u32::try_from(bytes.len()).unwrap_or(u32::MAX).to_be_bytes());
        self.0.update(bytes);
        self
    }

    /// Absorb a count as a u32 BE field.
    pub(crate) fn count(&mut self, n: usize) -> &mut Self {
        self.field(&u32::try_from(n).unwrap_or(u32::MAX).to_be_bytes())
    }

    /// The digest.
    pub(crate) fn finish(self) -> [u8; 32] {
        self.0.finalize().into()
    }
}
