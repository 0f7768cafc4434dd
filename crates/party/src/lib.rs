//! A case manager's side of one protocol run: what the custody client does between "the SE is
//! open" and "the share is sealed" or "the signature is out".
//!
//! It ties three crates together without adding cryptography of its own:
//! - `channel` end-to-end encryption of every round message between the clients
//!   ([`E2eTransport`]), so the coordinator and the bus only ever carry ciphertext;
//! - `tss` for the cggmp21 runs;
//! - `se` to unseal the key share just before signing and to seal it right after keygen.
//!
//! Each run has its own E2E session whose id is the run's execution id, so messages of one run can
//! never be replayed into another.

use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use channel::{
    Certificate, E2eKeyPair, E2eSession, IdentitySigner, PeerAnnouncement, RevocationCheck,
    TrustAnchor,
};
use se::{OpenSe, ShareSlot};
use tss::{
    EthAddress, EthSignature, ExecutionIdBytes, KeyShare, MessageReceiver, MessageSender,
    PaillierPrimes, Progress, SignerSet, Transport, TransportError, WireMessage,
};

/// Errors of a manager's protocol run.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The secure element refused (wrong PIN, no such share, unsealing failed…).
    #[error(transparent)]
    Se(#[from] se::Error),
    /// Channel or E2E failure (bad peer certificate or announcement…).
    #[error(transparent)]
    Channel(#[from] channel::Error),
    /// The threshold protocol failed.
    #[error(transparent)]
    Tss(#[from] tss::Error),
    /// The sealed share is not the one the key-share table says this SE holds.
    #[error("the SE holds share {found} of this case, but share {expected} was asked for")]
    WrongShare {
        /// What the slot names.
        expected: u16,
        /// What the share says.
        found: u16,
    },
}

/// Result alias.
pub type Result<T> = std::result::Result<T, Error>;

/// This client's E2E key for one run and its signed announcement (to be relayed to the peers).
pub struct RunKeys {
    keypair: E2eKeyPair,
    /// The announcement to publish.
    pub announcement: PeerAnnouncement,
}

impl RunKeys {
    /// Generates a fresh E2E key for the run `eid` and announces it, signed by the SE.
    pub fn announce(
        eid: &ExecutionIdBytes,
        share_index: u16,
        se: &dyn IdentitySigner,
        certificate: Certificate,
    ) -> Result<Self> {
        let keypair = E2eKeyPair::generate(&mut rand_core::OsRng);
        let announcement =
            PeerAnnouncement::create(eid.as_bytes(), share_index, &keypair, certificate, se)?;
        Ok(Self {
            keypair,
            announcement,
        })
    }

    /// Verifies the peers' announcements (certificates against the CA, not revoked, SE
    /// signatures) and derives the pairwise keys.
    pub fn into_session(
        self,
        eid: &ExecutionIdBytes,
        share_index: u16,
        announcements: &[PeerAnnouncement],
        trust: &TrustAnchor,
        revocation: &dyn RevocationCheck,
        now: u64,
    ) -> Result<E2eSession> {
        Ok(E2eSession::new(
            eid.as_bytes(),
            share_index,
            self.keypair,
            announcements,
            trust,
            revocation,
            now,
        )?)
    }
}

/// A [`Transport`] that encrypts every round message for its recipient with the run's
/// [`E2eSession`] and rejects anything that does not decrypt (forged, replayed, reordered, or
/// sealed for someone else). The broadcast flag travels inside the ciphertext so a relay cannot
/// flip it.
pub struct E2eTransport<T> {
    inner: T,
    session: Arc<Mutex<E2eSession>>,
    roster: Arc<Vec<u16>>,
}

impl<T: Transport> E2eTransport<T> {
    /// Wraps `inner`. `roster[p]` is the share index (the E2E party index) of run position `p`:
    /// `[0, 1, 2]` for keygen, the signer set's indices for signing.
    pub fn new(inner: T, session: E2eSession, roster: Vec<u16>) -> Self {
        Self {
            inner,
            session: Arc::new(Mutex::new(session)),
            roster: Arc::new(roster),
        }
    }
}

/// Sending half of an [`E2eTransport`].
pub struct E2eSender<S> {
    inner: S,
    session: Arc<Mutex<E2eSession>>,
    roster: Arc<Vec<u16>>,
}

/// Receiving half of an [`E2eTransport`].
pub struct E2eReceiver<R> {
    inner: R,
    session: Arc<Mutex<E2eSession>>,
    roster: Arc<Vec<u16>>,
}

fn party_of(roster: &[u16], position: u16) -> std::result::Result<u16, TransportError> {
    roster
        .get(usize::from(position))
        .copied()
        .ok_or_else(|| TransportError::Misrouted(format!("no party at position {position}")))
}

fn poisoned() -> TransportError {
    TransportError::Other("E2E session lock poisoned".into())
}

impl<T: Transport> Transport for E2eTransport<T> {
    type Sender = E2eSender<T::Sender>;
    type Receiver = E2eReceiver<T::Receiver>;
    fn me(&self) -> u16 {
        self.inner.me()
    }
    fn parties(&self) -> u16 {
        self.inner.parties()
    }
    fn split(self) -> (Self::Sender, Self::Receiver) {
        let (tx, rx) = self.inner.split();
        (
            E2eSender {
                inner: tx,
                session: self.session.clone(),
                roster: self.roster.clone(),
            },
            E2eReceiver {
                inner: rx,
                session: self.session,
                roster: self.roster,
            },
        )
    }
}

#[async_trait]
impl<S: MessageSender + 'static> MessageSender for E2eSender<S> {
    async fn send(&mut self, msg: WireMessage) -> std::result::Result<(), TransportError> {
        let to = party_of(&self.roster, msg.to)?;
        let mut plain = zeroize::Zeroizing::new(Vec::with_capacity(msg.payload.len() + 1));
        plain.push(u8::from(msg.broadcast));
        plain.extend_from_slice(&msg.payload);
        let sealed = self
            .session
            .lock()
            .map_err(|_| poisoned())?
            .seal(to, &plain)
            .map_err(|e| TransportError::Other(format!("E2E seal: {e}")))?;
        self.inner
            .send(WireMessage {
                from: msg.from,
                to: msg.to,
                // The relay sees a p2p ciphertext either way; the real flag is inside.
                broadcast: false,
                payload: sealed,
            })
            .await
    }
}

#[async_trait]
impl<R: MessageReceiver + 'static> MessageReceiver for E2eReceiver<R> {
    async fn recv(&mut self) -> std::result::Result<WireMessage, TransportError> {
        let msg = self.inner.recv().await?;
        let from = party_of(&self.roster, msg.from)?;
        let opened = self
            .session
            .lock()
            .map_err(|_| poisoned())?
            .open(from, &msg.payload)
            .map_err(|e| TransportError::Rejected {
                from: msg.from,
                reason: e.to_string(),
            })?;
        let (flag, payload) = opened
            .split_first()
            .ok_or_else(|| TransportError::Rejected {
                from: msg.from,
                reason: "empty message".into(),
            })?;
        Ok(WireMessage {
            from: msg.from,
            to: msg.to,
            broadcast: *flag == 1,
            payload: payload.to_vec(),
        })
    }
}

/// The outcome of a keygen on this client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeygenOutcome {
    /// The case's public key, SEC1 compressed.
    pub public_key: Vec<u8>,
    /// The case's Ethereum address.
    pub address: EthAddress,
}

/// Runs aux info then keygen for this manager's share, and seals the complete share into the SE.
/// The share exists in clear only in this process's memory, in zeroizing buffers.
pub async fn keygen_into_se<A: Transport, K: Transport>(
    se: &OpenSe,
    slot: &ShareSlot,
    primes: PaillierPrimes,
    aux: (&ExecutionIdBytes, A),
    keygen: (&ExecutionIdBytes, K),
    mut progress: Option<&mut dyn Progress>,
) -> Result<KeygenOutcome> {
    let reborrowed = progress.as_mut().map(|p| &mut **p as &mut dyn Progress);
    let aux_info = tss::aux_info(aux.0, primes, aux.1, reborrowed).await?;
    let core = tss::keygen(keygen.0, keygen.1, progress).await?;
    let share = KeyShare::assemble(core, aux_info)?;
    if share.index().get() != slot.share_index() {
        return Err(Error::WrongShare {
            expected: slot.share_index(),
            found: share.index().get(),
        });
    }
    se.seal_share(slot, &share.to_bytes()?)?;
    Ok(KeygenOutcome {
        public_key: share.public_key_sec1(),
        address: share.address()?,
    })
}

/// Unseals this manager's share from the SE and takes part in one signing run of `hash`.
pub async fn sign_with_se<T: Transport>(
    se: &OpenSe,
    slot: &ShareSlot,
    signers: &SignerSet,
    eid: &ExecutionIdBytes,
    hash: &[u8; 32],
    transport: T,
) -> Result<EthSignature> {
    let share = unseal(se, slot)?;
    Ok(tss::sign(eid, &share, signers, hash, transport).await?)
}

/// Unseals and parses the share in `slot`, checking it is the share the slot names.
pub fn unseal(se: &OpenSe, slot: &ShareSlot) -> Result<KeyShare> {
    let bytes = se.unseal_share(slot)?;
    let share = KeyShare::from_bytes(&bytes)?;
    if share.index().get() != slot.share_index() {
        return Err(Error::WrongShare {
            expected: slot.share_index(),
            found: share.index().get(),
        });
    }
    Ok(share)
}
