//! An insider on the offline bus against the coordinator's secure channels: anyone who may
//! publish on `custody.channel.*.up` / `.down` (every manager's client, in the shared NATS user
//! of `ops/nats`). For as long as it runs it replays every frame it sees, forges the frame each
//! receiver expects next (right sequence number, random ciphertext), and keeps publishing junk
//! (random frames, bytes that are no frame) on every channel subject it has seen.
//!
//! A channel must drop all of it and carry on: only authentic frames advance its sequence.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use rand_core::{OsRng, RngCore};

use crate::{Error, Result};

/// A running jammer; stops when dropped.
pub struct Jammer {
    sent: Arc<AtomicU64>,
    task: tokio::task::JoinHandle<()>,
}

fn junk_frame(seq: u64, len: usize) -> Option<Vec<u8>> {
    let mut ciphertext = vec![0u8; len];
    OsRng.fill_bytes(&mut ciphertext);
    channel::Frame { seq, ciphertext }.to_bytes().ok()
}

impl Jammer {
    /// Connects to `url` and jams every channel subject it sees, publishing junk on each of them
    /// every `every`.
    pub async fn start(url: &str, every: Duration) -> Result<Jammer> {
        let failed = |e: &dyn std::fmt::Display| Error::Io {
            context: "jammer".to_owned(),
            source: std::io::Error::other(e.to_string()),
        };
        // No echo: the jammer does not hear its own junk.
        let client = async_nats::ConnectOptions::new()
            .no_echo()
            .connect(url)
            .await
            .map_err(|e| failed(&e))?;
        let mut frames = client
            .subscribe("custody.channel.*.*")
            .await
            .map_err(|e| failed(&e))?;
        client.flush().await.map_err(|e| failed(&e))?;
        let sent = Arc::new(AtomicU64::new(0));
        let count = sent.clone();
        let task = tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            // Every channel subject seen, with the sequence number its receiver expects next as
            // far as the jammer saw.
            let mut next: BTreeMap<String, u64> = BTreeMap::new();
            loop {
                let mut out: Vec<(String, Vec<u8>)> = Vec::new();
                tokio::select! {
                    seen = frames.next() => {
                        let Some(seen) = seen else { return };
                        let subject = seen.subject.to_string();
                        if !(subject.ends_with(".up") || subject.ends_with(".down")) {
                            continue;
                        }
                        let known = next.entry(subject.clone()).or_insert(0);
                        if let Ok(frame) = channel::Frame::from_bytes(&seen.payload) {
                            let expected = frame.seq.saturating_add(1);
                            if expected > *known {
                                *known = expected;
                                // The frame again (a replay), and a forgery of the next one.
                                out.push((subject.clone(), seen.payload.to_vec()));
                                if let Some(f) = junk_frame(expected, frame.ciphertext.len()) {
                                    out.push((subject.clone(), f));
                                }
                            }
                        }
                    }
                    _ = tick.tick() => {
                        for (subject, &seq) in &next {
                            if let Some(f) = junk_frame(seq, 256) {
                                out.push((subject.clone(), f));
                            }
                            let mut bytes = vec![0u8; 64];
                            OsRng.fill_bytes(&mut bytes);
                            out.push((subject.clone(), bytes));
                        }
                    }
                }
                for (subject, payload) in out {
                    if client.publish(subject, payload.into()).await.is_ok() {
                        count.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
        });
        Ok(Jammer { sent, task })
    }

    /// Messages published so far.
    pub fn sent(&self) -> u64 {
        self.sent.load(Ordering::Relaxed)
    }
}

impl Drop for Jammer {
    fn drop(&mut self) {
        self.task.abort();
    }
}
