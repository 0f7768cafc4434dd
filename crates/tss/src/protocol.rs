//! Protocol runs: aux info, keygen, signing, batches — each over a [`Transport`].

use std::pin::Pin;

use cggmp21::generic_ec::Scalar;
use cggmp21::progress::{Event, Tracer};
use cggmp21::round_based::{Incoming, MessageDestination, MessageType, MpcParty, Outgoing};
use cggmp21::security_level::SecurityLevel128;
use cggmp21::supported_curves::Secp256k1;
use cggmp21::DataToSign;
use rand_core::OsRng;
use serde::{de::DeserializeOwned, Serialize};

use crate::error::chain;
use crate::share::{AuxInfo, IncompleteShare, KeyShare, SignerSet, PARTIES, THRESHOLD};
use crate::transport::{MessageReceiver, MessageSender, Transport, TransportError, WireMessage};
use crate::{Error, EthSignature, ExecutionIdBytes, PaillierPrimes, Result};

/// Progress of a long protocol run, for the progress display of the client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProgressEvent {
    /// A round began (`number` counts from 1).
    Round {
        /// "aux-info", "keygen" or "sign".
        protocol: &'static str,
        /// Round number within the run.
        number: u16,
        /// cggmp21's name of the round, if it has one.
        name: Option<&'static str>,
    },
    /// A named computation stage inside a round (e.g. a zero-knowledge proof).
    Stage {
        /// Protocol name.
        protocol: &'static str,
        /// Stage name.
        name: &'static str,
    },
    /// The run finished on this party.
    Finished {
        /// Protocol name.
        protocol: &'static str,
    },
}

/// Receives [`ProgressEvent`]s.
pub trait Progress: Send + Sync {
    /// Called for every event.
    fn report(&mut self, event: ProgressEvent);
}

impl<F: FnMut(ProgressEvent) + Send + Sync> Progress for F {
    fn report(&mut self, event: ProgressEvent) {
        self(event)
    }
}

struct TracerAdapter<'a> {
    protocol: &'static str,
    round: u16,
    inner: &'a mut dyn Progress,
}

impl Tracer for TracerAdapter<'_> {
    fn trace_event(&mut self, event: Event) {
        let out = match event {
            Event::RoundBegins { name } => {
                self.round = self.round.saturating_add(1);
                ProgressEvent::Round {
                    protocol: self.protocol,
                    number: self.round,
                    name,
                }
            }
            Event::Stage { name } => ProgressEvent::Stage {
                protocol: self.protocol,
                name,
            },
            Event::ProtocolEnds => ProgressEvent::Finished {
                protocol: self.protocol,
            },
            _ => return,
        };
        self.inner.report(out);
    }
}

/// Connects a [`Transport`] to cggmp21's round-based driver: protocol messages are MessagePack on
/// the wire; a broadcast becomes one message per other party.
type IncomingStream<M> =
    Pin<Box<dyn futures::Stream<Item = Result<Incoming<M>, TransportError>> + Send>>;
type OutgoingSink<M> = Pin<Box<dyn futures::Sink<Outgoing<M>, Error = TransportError> + Send>>;

fn connect<M, T>(transport: T) -> MpcParty<M, (IncomingStream<M>, OutgoingSink<M>)>
where
    M: Serialize + DeserializeOwned + Send + 'static,
    T: Transport,
{
    let me = transport.me();
    let n = transport.parties();
    let (sender, receiver) = transport.split();

    let incoming: IncomingStream<M> = Box::pin(futures::stream::unfold(
        (receiver, 0u64),
        move |(mut rx, id)| async move {
            let item = match rx.recv().await {
                Ok(msg) => decode_incoming::<M>(me, n, id, msg),
                Err(TransportError::Closed) => return None,
                Err(e) => Err(e),
            };
            Some((item, (rx, id + 1)))
        },
    ));

    let outgoing: OutgoingSink<M> = Box::pin(futures::sink::unfold(
        sender,
        move |mut tx, out: Outgoing<M>| async move {
            let payload = rmp_serde::to_vec(&out.msg)
                .map_err(|e| TransportError::Other(format!("encode round message: {e}")))?;
            match out.recipient {
                MessageDestination::AllParties => {
                    for to in (0..n).filter(|j| *j != me) {
                        tx.send(WireMessage {
                            from: me,
                            to,
                            broadcast: true,
                            payload: payload.clone(),
                        })
                        .await?;
                    }
                }
                MessageDestination::OneParty(to) => {
                    tx.send(WireMessage {
                        from: me,
                        to,
                        broadcast: false,
                        payload,
                    })
                    .await?;
                }
            }
            Ok::<_, TransportError>(tx)
        },
    ));

    MpcParty::connected((incoming, outgoing))
}

fn decode_incoming<M: DeserializeOwned>(
    me: u16,
    n: u16,
    id: u64,
    msg: WireMessage,
) -> Result<Incoming<M>, TransportError> {
    if msg.to != me || msg.from >= n || msg.from == me {
        return Err(TransportError::Misrouted(format!(
            "message {} -> {} reached party {me} of {n}",
            msg.from, msg.to
        )));
    }
    let decoded = rmp_serde::from_slice(&msg.payload).map_err(|e| TransportError::Rejected {
        from: msg.from,
        reason: format!("undecodable round message: {e}"),
    })?;
    Ok(Incoming {
        id,
        sender: msg.from,
        msg_type: if msg.broadcast {
            MessageType::Broadcast
        } else {
            MessageType::P2P
        },
        msg: decoded,
    })
}

fn check_run_size<T: Transport>(transport: &T, expected: u16) -> Result<()> {
    if transport.parties() != expected || transport.me() >= expected {
        return Err(Error::Transport(TransportError::Misrouted(format!(
            "run needs {expected} parties, transport has {} (me = {})",
            transport.parties(),
            transport.me()
        ))));
    }
    Ok(())
}

/// Runs aux-info generation (Paillier key + ring-Pedersen parameters with their proofs) as party
/// `transport.me()` of three. `primes` are consumed: they become this party's Paillier secret key.
pub async fn aux_info<T: Transport>(
    eid: &ExecutionIdBytes,
    primes: PaillierPrimes,
    transport: T,
    progress: Option<&mut dyn Progress>,
) -> Result<AuxInfo> {
    check_run_size(&transport, PARTIES)?;
    let i = transport.me();
    let party = connect(transport);
    let mut tracer;
    let builder = cggmp21::aux_info_gen(eid.cggmp(), i, PARTIES, primes.into_cggmp21());
    let builder = match progress {
        Some(p) => {
            tracer = TracerAdapter {
                protocol: "aux-info",
                round: 0,
                inner: p,
            };
            builder.set_progress_tracer(&mut tracer)
        }
        None => builder,
    };
    let aux = builder
        .start(&mut OsRng, party)
        .await
        .map_err(|e| Error::AuxInfo(chain(&e)))?;
    Ok(AuxInfo(aux))
}

/// Runs 2-of-3 distributed key generation as party `transport.me()`.
pub async fn keygen<T: Transport>(
    eid: &ExecutionIdBytes,
    transport: T,
    progress: Option<&mut dyn Progress>,
) -> Result<IncompleteShare> {
    check_run_size(&transport, PARTIES)?;
    let i = transport.me();
    let party = connect(transport);
    let mut tracer;
    let builder = cggmp21::keygen::<Secp256k1>(eid.cggmp(), i, PARTIES).set_threshold(THRESHOLD);
    let builder = match progress {
        Some(p) => {
            tracer = TracerAdapter {
                protocol: "keygen",
                round: 0,
                inner: p,
            };
            builder.set_progress_tracer(&mut tracer)
        }
        None => builder,
    };
    let share = builder
        .start(&mut OsRng, party)
        .await
        .map_err(|e| Error::Keygen(chain(&e)))?;
    Ok(IncompleteShare(share))
}

/// One full signing run of `hash` (an Ethereum signing hash, 32 bytes) by the two shares in
/// `signers`; this party holds `share`, which must be one of them. The result is verified with
/// k256 against the shared public key and carries the recovery bit.
pub async fn sign<T: Transport>(
    eid: &ExecutionIdBytes,
    share: &KeyShare,
    signers: &SignerSet,
    hash: &[u8; 32],
    transport: T,
) -> Result<EthSignature> {
    let position = signers.position_of(share.index())?;
    check_run_size(&transport, THRESHOLD)?;
    if transport.me() != position {
        return Err(Error::Transport(TransportError::Misrouted(format!(
            "share {} signs at position {position}, transport says {}",
            share.index(),
            transport.me()
        ))));
    }
    let keygen_indices = signers.indices().map(|s| s.get());
    let party = connect(transport);
    let data = DataToSign::from_scalar(Scalar::<Secp256k1>::from_be_bytes_mod_order(hash));
    let sig = cggmp21::signing::<Secp256k1, SecurityLevel128>(
        eid.cggmp(),
        position,
        &keygen_indices,
        &share.0,
    )
    .sign(&mut OsRng, party, data)
    .await
    .map_err(|e| Error::Signing(chain(&e)))?;
    let mut r = [0u8; 32];
    let mut s = [0u8; 32];
    r.copy_from_slice(&sig.r.to_be_bytes());
    s.copy_from_slice(&sig.s.to_be_bytes());
    EthSignature::from_rs(r, s, hash, &share.public_key()?)
}

/// One message of a batch: its own execution id, hash and transport.
pub struct BatchItem<T> {
    /// Execution id of this item's run.
    pub eid: ExecutionIdBytes,
    /// Signing hash.
    pub hash: [u8; 32],
    /// Transport of this item's run.
    pub transport: T,
}

/// Signs several hashes with the same two shares: one full signing run per item, all in
/// parallel (no presignatures). Returns the signatures in item order, or the first error.
pub async fn sign_batch<T: Transport + 'static>(
    share: &KeyShare,
    signers: &SignerSet,
    items: Vec<BatchItem<T>>,
) -> Result<Vec<EthSignature>> {
    let mut ids = std::collections::HashSet::new();
    if !items.iter().all(|item| ids.insert(item.eid)) {
        return Err(Error::Signing(
            "every item of a batch needs its own execution id".into(),
        ));
    }
    let handles: Vec<_> = items
        .into_iter()
        .map(|item| {
            let share = share.clone();
            let signers = *signers;
            tokio::spawn(async move {
                sign(&item.eid, &share, &signers, &item.hash, item.transport).await
            })
        })
        .collect();
    let mut out = Vec::with_capacity(handles.len());
    for handle in handles {
        out.push(handle.await.map_err(|e| Error::Task(e.to_string()))??);
    }
    Ok(out)
}
