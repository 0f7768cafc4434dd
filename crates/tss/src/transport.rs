//! The transport port: how round messages travel between the parties of one run.

use async_trait::async_trait;
use tokio::sync::mpsc;

/// One round message on the wire. `from` and `to` are party positions *within the run* (0..3 for
/// keygen and aux info, 0..2 for signing). A broadcast is sent as one message per recipient with
/// `broadcast` set, so that every copy can be encrypted for its recipient; cggmp21's reliable
/// broadcast check makes sure all recipients saw the same content.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct WireMessage {
    /// Sender's position in the run.
    pub from: u16,
    /// Recipient's position in the run.
    pub to: u16,
    /// Whether the protocol sent this as a broadcast.
    pub broadcast: bool,
    /// The (possibly encrypted) serialised protocol message.
    #[serde(with = "serde_bytes")]
    pub payload: Vec<u8>,
}

/// Transport failures.
#[derive(Debug, thiserror::Error)]
pub enum TransportError {
    /// The other side went away.
    #[error("transport closed")]
    Closed,
    /// A message was not authentic, was replayed or out of order, or could not be decrypted.
    #[error("rejected round message from party {from}: {reason}")]
    Rejected {
        /// Claimed sender.
        from: u16,
        /// Why (no secret material).
        reason: String,
    },
    /// A message addressed to someone else, or from outside the run.
    #[error("misrouted round message: {0}")]
    Misrouted(String),
    /// Anything else from the underlying bus.
    #[error("transport failure: {0}")]
    Other(String),
}

/// Sending half of a transport.
#[async_trait]
pub trait MessageSender: Send {
    /// Sends one message.
    async fn send(&mut self, msg: WireMessage) -> Result<(), TransportError>;
}

/// Receiving half of a transport. `recv` must be cancel-safe.
#[async_trait]
pub trait MessageReceiver: Send {
    /// Receives the next message addressed to this party.
    async fn recv(&mut self) -> Result<WireMessage, TransportError>;
}

/// A connection of one party to the other parties of one protocol run.
pub trait Transport: Send {
    /// Sending half.
    type Sender: MessageSender + 'static;
    /// Receiving half.
    type Receiver: MessageReceiver + 'static;
    /// This party's position in the run.
    fn me(&self) -> u16;
    /// Number of parties in the run.
    fn parties(&self) -> u16;
    /// Splits into halves that can be driven concurrently.
    fn split(self) -> (Self::Sender, Self::Receiver);
}

/// An in-process network of `n` parties, for tests and benchmarks. Optionally every message is
/// copied to a tap, as a bus observer would see it.
pub struct InMemoryNetwork;

impl InMemoryNetwork {
    /// Creates the transports of `n` connected parties.
    pub fn connect(n: u16) -> Vec<InMemoryTransport> {
        Self::connect_tapped(n, None)
    }

    /// Like [`connect`](Self::connect), and every message sent is also copied to `tap`.
    pub fn connect_tapped(
        n: u16,
        tap: Option<mpsc::UnboundedSender<WireMessage>>,
    ) -> Vec<InMemoryTransport> {
        let (txs, rxs): (Vec<_>, Vec<_>) = (0..n).map(|_| mpsc::unbounded_channel()).unzip();
        rxs.into_iter()
            .enumerate()
            .map(|(i, rx)| InMemoryTransport {
                me: i as u16,
                n,
                peers: txs.clone(),
                rx,
                tap: tap.clone(),
            })
            .collect()
    }
}

/// One party's end of an [`InMemoryNetwork`].
pub struct InMemoryTransport {
    me: u16,
    n: u16,
    peers: Vec<mpsc::UnboundedSender<WireMessage>>,
    rx: mpsc::UnboundedReceiver<WireMessage>,
    tap: Option<mpsc::UnboundedSender<WireMessage>>,
}

/// Sending half of an [`InMemoryTransport`].
pub struct InMemorySender {
    me: u16,
    peers: Vec<mpsc::UnboundedSender<WireMessage>>,
    tap: Option<mpsc::UnboundedSender<WireMessage>>,
}

/// Receiving half of an [`InMemoryTransport`].
pub struct InMemoryReceiver {
    rx: mpsc::UnboundedReceiver<WireMessage>,
}

impl Transport for InMemoryTransport {
    type Sender = InMemorySender;
    type Receiver = InMemoryReceiver;
    fn me(&self) -> u16 {
        self.me
    }
    fn parties(&self) -> u16 {
        self.n
    }
    fn split(self) -> (InMemorySender, InMemoryReceiver) {
        (
            InMemorySender {
                me: self.me,
                peers: self.peers,
                tap: self.tap,
            },
            InMemoryReceiver { rx: self.rx },
        )
    }
}

#[async_trait]
impl MessageSender for InMemorySender {
    async fn send(&mut self, msg: WireMessage) -> Result<(), TransportError> {
        if msg.from != self.me {
            return Err(TransportError::Misrouted(format!(
                "party {} tried to send as {}",
                self.me, msg.from
            )));
        }
        if let Some(tap) = &self.tap {
            // An observer that went away must not break the run.
            let _ = tap.send(msg.clone());
        }
        let peer = self
            .peers
            .get(usize::from(msg.to))
            .ok_or_else(|| TransportError::Misrouted(format!("no party {}", msg.to)))?;
        peer.send(msg).map_err(|_| TransportError::Closed)
    }
}

#[async_trait]
impl MessageReceiver for InMemoryReceiver {
    async fn recv(&mut self) -> Result<WireMessage, TransportError> {
        self.rx.recv().await.ok_or(TransportError::Closed)
    }
}
