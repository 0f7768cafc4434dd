//! A bus observer: subscribes to `>` and keeps every message, then checks that nothing on the
//! bus is a share, a PIN, Paillier primes or a plaintext protocol message.

use std::sync::{Arc, Mutex};

use contracts::coord::{ClientMessage, CoordinatorMessage, HandshakeReply, HandshakeRequest};
use futures::StreamExt;

/// Every message seen: subject and payload.
type Seen = Arc<Mutex<Vec<(String, Vec<u8>)>>>;

pub struct Sniffer {
    pub seen: Seen,
    task: tokio::task::JoinHandle<()>,
}

impl Sniffer {
    pub async fn start(url: &str) -> Sniffer {
        let client = async_nats::connect(url).await.unwrap();
        let mut all = client.subscribe(">").await.unwrap();
        client.flush().await.unwrap();
        let seen: Seen = Arc::new(Mutex::new(Vec::new()));
        let keep = seen.clone();
        let task = tokio::spawn(async move {
            let _client = client;
            while let Some(m) = all.next().await {
                keep.lock()
                    .unwrap()
                    .push((m.subject.to_string(), m.payload.to_vec()));
            }
        });
        Sniffer { seen, task }
    }

    /// Decodes every captured message by its subject and checks it: handshake messages are
    /// handshake messages (public material only), channel messages are AEAD frames whose
    /// ciphertext does not decode as a protocol message, nothing else travelled, and no
    /// captured byte string contains any of `secrets` (or a 16-byte window of one).
    pub fn check(&self, secrets: &[(&str, Vec<u8>)]) -> (usize, usize) {
        let seen = self.seen.lock().unwrap().clone();
        let (mut handshakes, mut frames) = (0, 0);
        for (subject, payload) in &seen {
            if subject == contracts::subjects::CHANNEL_HANDSHAKE {
                contracts::coord::decode::<HandshakeRequest>(payload, "handshake request")
                    .unwrap_or_else(|e| panic!("a handshake request that does not decode: {e}"));
                handshakes += 1;
            } else if subject.starts_with("_INBOX.") {
                contracts::coord::decode::<HandshakeReply>(payload, "handshake reply")
                    .unwrap_or_else(|e| panic!("a reply that is not a handshake reply: {e}"));
                handshakes += 1;
            } else if subject.starts_with("custody.channel.")
                && (subject.ends_with(".up") || subject.ends_with(".down"))
            {
                let frame = channel::Frame::from_bytes(payload)
                    .unwrap_or_else(|e| panic!("a channel message that is not a frame: {e}"));
                let bytes = &frame.ciphertext;
                assert!(
                    contracts::coord::decode::<ClientMessage>(bytes, "x").is_err()
                        && contracts::coord::decode::<CoordinatorMessage>(bytes, "x").is_err(),
                    "a frame on {subject} is a plaintext protocol message"
                );
                frames += 1;
            } else {
                panic!("an unexpected subject on the bus: {subject}");
            }
            for (what, secret) in secrets {
                for window in windows(secret) {
                    assert!(
                        !contains(payload, window),
                        "{what} appears on the bus in a message on {subject}"
                    );
                }
            }
        }
        (handshakes, frames)
    }
}

impl Drop for Sniffer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// The whole secret if short, else 16-byte windows every 61 bytes (a leak of any serialised
/// form would contain several of them).
fn windows(secret: &[u8]) -> Vec<&[u8]> {
    if secret.len() <= 32 {
        return vec![secret];
    }
    (0..secret.len() - 16)
        .step_by(61)
        .map(|i| &secret[i..i + 16])
        .collect()
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    !needle.is_empty() && haystack.windows(needle.len()).any(|w| w == needle)
}
