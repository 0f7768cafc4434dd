//! The case roster check (issue 15, "clients pin the case roster").
//!
//! Every keygen and signing work item carries the case's roster, signed by the offline HSM's
//! envelope key when the two administrators approved the case (`contracts::CaseRoster`). The
//! client verifies it under the key *it* pins (`--offline-key`), for the case it is asked to
//! work on, and checks that its own SE holds the share it is asked to use; it then accepts as
//! peers of a run only SEs the roster names at their share index. The coordinator relays the
//! roster but cannot make one, so a compromised coordinator host or a database administrator
//! cannot choose a manager's peers — nor make a client wipe a share for a "keygen retry"
//! without the roster: the client checks it before anything touches its SE.

use channel::{Certificate, PeerAnnouncement, Subject};
use contracts::coord::WorkItem;
use contracts::{CaseRoster, Id};

/// Why the client refuses to work with a roster. Each message says what happened and that
/// nothing was done; none carries a secret.
#[derive(Debug, thiserror::Error)]
pub enum RosterError {
    /// The work item came without a roster.
    #[error(
        "the coordinator sent no signed roster for case {0}: this client takes part only in \
         cases whose roster the offline HSM signed, so it did nothing"
    )]
    Missing(Id),
    /// The roster does not verify under the pinned key, or is for another case.
    #[error(
        "the roster of case {case} is not the one the offline HSM signed for it ({reason}); \
         this client did nothing"
    )]
    Invalid {
        /// The case the work is for.
        case: Id,
        /// What failed.
        reason: String,
    },
    /// This client's own SE does not hold that share on the roster.
    #[error(
        "this SE ({serial}) is not share {share_index} of case {case} on its signed roster; \
         this client did nothing"
    )]
    NotOnRoster {
        /// The case.
        case: Id,
        /// The share the coordinator asked for.
        share_index: u16,
        /// This SE's serial.
        serial: String,
    },
    /// A peer of a run is not on the roster.
    #[error(
        "the peer announced as share {share_index} (SE {serial}) is not on the case's signed \
         roster; this client does not run with it"
    )]
    PeerNotOnRoster {
        /// The share index the peer announced.
        share_index: u16,
        /// The peer's SE serial, as its certificate names it.
        serial: String,
    },
    /// A certificate could not be read.
    #[error("a certificate could not be read: {0}")]
    Certificate(String),
}

/// The SE serial and identity key a certificate names (its signature is checked elsewhere:
/// the handshake for this client's own, `E2eSession::new` for the peers').
fn named_se(certificate: &Certificate) -> Result<(String, p256::PublicKey), RosterError> {
    let body = certificate
        .unverified_body()
        .map_err(|e| RosterError::Certificate(e.to_string()))?;
    let Subject::SecureElement { se_serial, .. } = body.subject else {
        return Err(RosterError::Certificate(
            "it does not name a secure element".to_owned(),
        ));
    };
    let key = p256::PublicKey::from_sec1_bytes(&body.public_key)
        .map_err(|_| RosterError::Certificate("its key is not a P-256 point".to_owned()))?;
    Ok((se_serial, key))
}

/// The roster of a work item, checked: signed by `pinned`, for `case`, and naming this client's
/// SE (`own`) as share `share_index`.
pub fn checked(
    roster: Option<&CaseRoster>,
    case: &Id,
    share_index: u16,
    own: &Certificate,
    pinned: &p256::PublicKey,
) -> Result<CaseRoster, RosterError> {
    let roster = roster.ok_or(RosterError::Missing(*case))?;
    roster
        .verify_for(case, pinned)
        .map_err(|e| RosterError::Invalid {
            case: *case,
            reason: e.to_string(),
        })?;
    let (serial, key) = named_se(own)?;
    if !roster.holds(share_index, &serial, &key) {
        return Err(RosterError::NotOnRoster {
            case: *case,
            share_index,
            serial,
        });
    }
    Ok(roster.clone())
}

/// The roster of a work item, checked ([`checked`]) for the item's case and share.
pub fn checked_for(
    item: &WorkItem,
    own: &Certificate,
    pinned: &p256::PublicKey,
) -> Result<CaseRoster, RosterError> {
    let (roster, case, share_index) = match item {
        WorkItem::Keygen {
            roster,
            case_id,
            share_index,
            ..
        }
        | WorkItem::Sign {
            roster,
            case_id,
            share_index,
            ..
        } => (roster, case_id, share_index),
    };
    checked(roster.as_ref(), case, u16::from(*share_index), own, pinned)
}

/// Checks that every announced peer of a run is the SE the (checked) roster names at the
/// share index it announces.
pub fn check_peers(
    roster: &CaseRoster,
    announcements: &[PeerAnnouncement],
) -> Result<(), RosterError> {
    for a in announcements {
        let (serial, key) = named_se(&a.cert)?;
        if !roster.holds(a.party_index, &serial, &key) {
            return Err(RosterError::PeerNotOnRoster {
                share_index: a.party_index,
                serial,
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]
    use super::*;
    use channel::{CertificateBody, E2eKeyPair, IdentitySigner};
    use contracts::RosterSlot;
    use testkit::envelopes::SoftSigner;

    fn key(seed: u8) -> SoftSigner {
        SoftSigner::from_seed([seed; 32])
    }

    const CA: u8 = 1;
    const HSM: u8 = 2;

    /// SE `n`: serial `se-n`, identity key seeded `10 + n`, certified by the test CA.
    fn se_cert(n: u8) -> Certificate {
        let body = CertificateBody {
            version: channel::cert::CERTIFICATE_VERSION,
            serial: format!("cert-{n}"),
            subject: Subject::SecureElement {
                se_serial: format!("se-{n}"),
                label: format!("SE {n}"),
            },
            public_key: channel::cert::encode_public_key(&key(10 + n).public_key()),
            not_before: 0,
            not_after: u64::MAX / 2,
            issuer_key_id: channel::cert::key_id(&key(CA).public_key()),
        };
        Certificate::issue(&body, &key(CA)).unwrap()
    }

    fn case() -> Id {
        Id::parse("01930000-0000-7000-8000-000000000001").unwrap()
    }

    /// The roster of `case()` with SEs 0, 1, 2, signed by `signer`.
    fn roster(signer: u8) -> CaseRoster {
        let slots = (0u8..3)
            .map(|i| RosterSlot::new(i, &format!("se-{i}"), &key(10 + i).public_key()))
            .collect();
        CaseRoster::sign(case(), slots, 1_750_000_000, &key(signer)).unwrap()
    }

    fn announce(se: u8, share_index: u16) -> PeerAnnouncement {
        let pair = E2eKeyPair::generate(&mut rand_core::OsRng);
        PeerAnnouncement::create(&[7; 32], share_index, &pair, se_cert(se), &key(10 + se)).unwrap()
    }

    #[test]
    fn a_client_works_only_from_the_roster_its_pinned_key_signed_for_its_case_and_share() {
        let pinned = key(HSM).public_key();
        let good = roster(HSM);
        checked(Some(&good), &case(), 1, &se_cert(1), &pinned).unwrap();

        assert!(matches!(
            checked(None, &case(), 1, &se_cert(1), &pinned),
            Err(RosterError::Missing(_))
        ));
        // Signed by anyone else (the coordinator host's own key, say).
        assert!(matches!(
            checked(Some(&roster(66)), &case(), 1, &se_cert(1), &pinned),
            Err(RosterError::Invalid { .. })
        ));
        // Another case's roster.
        let other = Id::parse("01930000-0000-7000-8000-000000000002").unwrap();
        assert!(matches!(
            checked(Some(&good), &other, 1, &se_cert(1), &pinned),
            Err(RosterError::Invalid { .. })
        ));
        // An SE that is not on it, or on it at another share.
        assert!(matches!(
            checked(Some(&good), &case(), 1, &se_cert(3), &pinned),
            Err(RosterError::NotOnRoster { .. })
        ));
        assert!(matches!(
            checked(Some(&good), &case(), 2, &se_cert(1), &pinned),
            Err(RosterError::NotOnRoster { .. })
        ));
    }

    #[test]
    fn a_peer_that_is_not_on_the_roster_at_its_share_is_refused() {
        let r = roster(HSM);
        check_peers(&r, &[announce(0, 0), announce(1, 1), announce(2, 2)]).unwrap();
        check_peers(&r, &[announce(0, 0), announce(2, 2)]).unwrap();
        // A certified SE the coordinator put in share 2's place.
        let err = check_peers(&r, &[announce(0, 0), announce(1, 1), announce(3, 2)]).unwrap_err();
        assert!(
            matches!(&err, RosterError::PeerNotOnRoster { share_index: 2, serial } if serial == "se-3"),
            "{err}"
        );
        // A roster SE announcing another share than its own.
        assert!(check_peers(&r, &[announce(0, 0), announce(2, 1)]).is_err());
    }
}
