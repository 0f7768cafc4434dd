//! Execution ids: every protocol run gets a fresh id bound to what it is about.

use sha2::{Digest, Sha256};

/// Which protocol a run executes; part of the execution id so ids of different protocols never
/// collide even for the same session.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RunKind {
    /// Aux-info (Paillier keys and ring-Pedersen parameters) generation.
    AuxInfo,
    /// Distributed key generation.
    Keygen,
    /// One full signing run.
    Sign,
}

impl RunKind {
    fn tag(self) -> &'static [u8] {
        match self {
            RunKind::AuxInfo => b"aux-info",
            RunKind::Keygen => b"keygen",
            RunKind::Sign => b"sign",
        }
    }
}

/// A 32-byte execution id: SHA-256 over a domain tag, the run kind, the session id, the case id
/// and the message (for signing: the signer set and the 32-byte hash), each length-prefixed so
/// that no two different inputs give the same byte string. The offline database keeps it UNIQUE,
/// which is what guarantees cggmp21's "never reuse an execution id" requirement.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct ExecutionIdBytes([u8; 32]);

impl ExecutionIdBytes {
    /// Derives the id of a run.
    pub fn derive(kind: RunKind, session_id: &[u8], case_id: &[u8], message: &[u8]) -> Self {
        let mut h = Sha256::new();
        h.update(b"custody/tss/execution-id/v1");
        for part in [kind.tag(), session_id, case_id, message] {
            h.update((part.len() as u64).to_be_bytes());
            h.update(part);
        }
        Self(h.finalize().into())
    }

    /// The raw bytes.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// Rebuilds an id from its bytes (as stored in the database).
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }

    pub(crate) fn cggmp(&self) -> cggmp21::ExecutionId<'_> {
        cggmp21::ExecutionId::new(&self.0)
    }
}

impl std::fmt::Debug for ExecutionIdBytes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ExecutionId({})", hex::encode(self.0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_differ_by_every_input() {
        let base = ExecutionIdBytes::derive(RunKind::Sign, b"s", b"c", b"m");
        assert_ne!(
            base,
            ExecutionIdBytes::derive(RunKind::Keygen, b"s", b"c", b"m")
        );
        assert_ne!(
            base,
            ExecutionIdBytes::derive(RunKind::Sign, b"s2", b"c", b"m")
        );
        assert_ne!(
            base,
            ExecutionIdBytes::derive(RunKind::Sign, b"s", b"c2", b"m")
        );
        assert_ne!(
            base,
            ExecutionIdBytes::derive(RunKind::Sign, b"s", b"c", b"m2")
        );
        // Length prefixes: moving a byte from one field to the next changes the id.
        assert_ne!(
            ExecutionIdBytes::derive(RunKind::Sign, b"ab", b"c", b"m"),
            ExecutionIdBytes::derive(RunKind::Sign, b"a", b"bc", b"m")
        );
        assert_eq!(
            base,
            ExecutionIdBytes::derive(RunKind::Sign, b"s", b"c", b"m")
        );
    }
}
