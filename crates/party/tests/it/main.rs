//! A manager's side of a run, against real SoftHSM2 SEs and a real SoftHSM2 HSM CA: signing from
//! the SEs over E2E-encrypted transports, and what a misbehaving relay achieves (nothing).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    reason = "tests and their helpers: a failed step stops the test with its message"
)]

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use channel::{Certificate, RevocationList, TrustAnchor};
use party::{E2eTransport, RunKeys};
use se::{OpenSe, Pin, Se, SeSerial, ShareSlot};
use testkit::softhsm::SoftHsm;
use tss::{
    ExecutionIdBytes, InMemoryNetwork, MessageSender, RunKind, SignerSet, Transport,
    TransportError, WireMessage,
};

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

struct Managers {
    ses: Vec<(OpenSe, Certificate)>,
    trust: TrustAnchor,
    case: String,
}

/// An HSM, three enrolled SEs certified by its CA, and the fixture shares sealed into them.
fn managers(case: &str) -> Arc<Managers> {
    let softhsm = SoftHsm::global();
    let module = softhsm.module();
    let hsm_token = softhsm.new_token("party-hsm");
    let hsm = hsm::Hsm::provision(
        &module,
        &hsm_token.summary.label,
        &hsm_token.so_pin,
        &hsm_token.user_pin,
        "coordinator",
        now(),
    )
    .unwrap();
    let shares = testkit::fixtures::key_shares().unwrap();
    let mut ses = Vec::new();
    for share in &shares {
        let token = softhsm.new_token("party-se");
        let serial = SeSerial::parse(&token.summary.serial).unwrap();
        let pin = Pin::try_from(&token.user_pin).unwrap();
        let so = Pin::try_from(&token.so_pin).unwrap();
        let enrolled = Se::enroll(&module, &serial, &so, &pin).unwrap();
        let cert = hsm
            .issue_se_certificate(
                serial.as_str(),
                "SE",
                &enrolled.identity_public_key,
                3600,
                now(),
            )
            .unwrap();
        let open = Se::open(&module, &serial, &pin).unwrap();
        let slot = ShareSlot::new(case, share.index().get()).unwrap();
        open.seal_share(&slot, &share.to_bytes().unwrap()).unwrap();
        ses.push((open, cert));
    }
    Arc::new(Managers {
        ses,
        trust: hsm.trust_anchor(),
        case: case.to_owned(),
    })
}

/// E2E transports for `roster` over `inner` transports (one per roster position).
fn e2e<T: Transport>(
    m: &Managers,
    eid: &ExecutionIdBytes,
    roster: &[u16],
    inner: Vec<T>,
) -> Vec<E2eTransport<T>> {
    let keys: Vec<_> = roster
        .iter()
        .map(|i| {
            let (se, cert) = &m.ses[usize::from(*i)];
            RunKeys::announce(eid, *i, se, cert.clone()).unwrap()
        })
        .collect();
    let announcements: Vec<_> = keys.iter().map(|k| k.announcement.clone()).collect();
    keys.into_iter()
        .zip(roster)
        .zip(inner)
        .map(|((k, i), t)| {
            let session = k
                .into_session(
                    eid,
                    *i,
                    &announcements,
                    &m.trust,
                    &RevocationList::default(),
                    now(),
                )
                .unwrap();
            E2eTransport::new(t, session, roster.to_vec())
        })
        .collect()
}

async fn sign<T: Transport + 'static>(
    m: &Arc<Managers>,
    pair: [u16; 2],
    hash: [u8; 32],
    inner: Vec<T>,
) -> Vec<Result<tss::EthSignature, party::Error>> {
    let signers = SignerSet::new(&pair).unwrap();
    let eid = ExecutionIdBytes::derive(RunKind::Sign, b"party-test", m.case.as_bytes(), &hash);
    let transports = e2e(m, &eid, &pair, inner);
    let mut tasks = Vec::new();
    for (i, t) in pair.into_iter().zip(transports) {
        let m = m.clone();
        tasks.push(tokio::spawn(async move {
            let slot = ShareSlot::new(&m.case, i).unwrap();
            let run =
                party::sign_with_se(&m.ses[usize::from(i)].0, &slot, &signers, &eid, &hash, t);
            tokio::time::timeout(std::time::Duration::from_secs(8), run)
                .await
                .unwrap_or_else(|_| Err(party::Error::Tss(tss::Error::Signing("timed out".into()))))
        }));
    }
    let mut out = Vec::new();
    for t in tasks {
        out.push(t.await.unwrap());
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_pair_signs_with_shares_unsealed_from_their_ses_over_e2e() {
    let m = managers("party-case-pairs");
    let address = testkit::fixtures::key_shares().unwrap()[0]
        .address()
        .unwrap();
    for pair in [[0, 1], [0, 2], [1, 2]] {
        let hash = [pair[0] as u8 * 16 + pair[1] as u8 + 1; 32];
        let out = sign(&m, pair, hash, InMemoryNetwork::connect(2)).await;
        let sig = *out[0].as_ref().unwrap();
        assert_eq!(&sig, out[1].as_ref().unwrap());
        let recovered = alloy_primitives::Signature::from_bytes_and_parity(
            &sig.to_bytes65()[..64],
            sig.y_parity,
        )
        .recover_address_from_prehash(&hash.into())
        .unwrap();
        assert_eq!(recovered.0 .0, address.0, "pair {pair:?}");
    }
}

/// What a relay (the coordinator or the bus) can do to a message in flight.
#[derive(Clone, Copy, Debug)]
enum Attack {
    None,
    ReplayFirst,
    FlipBit,
}

struct Hostile<T> {
    inner: T,
    attack: Attack,
}

struct HostileSender<S> {
    inner: S,
    attack: Attack,
    sent: usize,
}

impl<T: Transport> Transport for Hostile<T> {
    type Sender = HostileSender<T::Sender>;
    type Receiver = T::Receiver;
    fn me(&self) -> u16 {
        self.inner.me()
    }
    fn parties(&self) -> u16 {
        self.inner.parties()
    }
    fn split(self) -> (Self::Sender, Self::Receiver) {
        let (tx, rx) = self.inner.split();
        (
            HostileSender {
                inner: tx,
                attack: self.attack,
                sent: 0,
            },
            rx,
        )
    }
}

#[async_trait]
impl<S: MessageSender + 'static> MessageSender for HostileSender<S> {
    async fn send(&mut self, mut msg: WireMessage) -> Result<(), TransportError> {
        self.sent += 1;
        match (self.attack, self.sent) {
            (Attack::ReplayFirst, 1) => {
                self.inner.send(msg.clone()).await?;
                self.inner.send(msg).await
            }
            (Attack::FlipBit, 1) => {
                let last = msg.payload.len() - 1;
                msg.payload[last] ^= 0x01;
                self.inner.send(msg).await
            }
            _ => self.inner.send(msg).await,
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_relay_that_replays_or_alters_a_round_message_gets_no_signature_out() {
    let m = managers("party-case-hostile");
    for attack in [Attack::ReplayFirst, Attack::FlipBit] {
        // Only party 0's outgoing messages are tampered with, as a relay would.
        let mut net = InMemoryNetwork::connect(2).into_iter();
        let a = net.next().unwrap();
        let b = net.next().unwrap();
        let inner = vec![
            Hostile { inner: a, attack },
            Hostile {
                inner: b,
                attack: Attack::None,
            },
        ];
        let out = sign(&m, [0, 1], [7; 32], inner).await;
        assert!(
            out.iter().all(|r| r.is_err()),
            "{attack:?}: a tampered run must not produce a signature: {out:?}"
        );
        let rejected = out.iter().any(|r| {
            matches!(r, Err(party::Error::Tss(e)) if e.to_string().contains("rejected round message"))
        });
        assert!(
            rejected,
            "{attack:?}: the E2E layer names the rejection: {out:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_share_filed_under_the_wrong_index_is_refused() {
    let m = managers("party-case-wrong");
    let share0 = testkit::fixtures::key_shares().unwrap().remove(0);
    let (se, _) = &m.ses[1];
    let slot = ShareSlot::new("party-case-wrong-2", 1).unwrap();
    se.seal_share(&slot, &share0.to_bytes().unwrap()).unwrap();
    match party::unseal(se, &slot) {
        Err(party::Error::WrongShare {
            expected: 1,
            found: 0,
        }) => {}
        other => panic!("expected WrongShare, got {other:?}"),
    }
}
