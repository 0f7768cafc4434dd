//! Integration tests of the manager's client: the clear-signing review against real sealed
//! envelopes, SE login against SoftHSM2 tokens, primes sealed in the SE, and the built binary.

// Helpers outside #[test] functions are test code too: clippy.toml only covers test functions.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod channel_logins;
mod cli;
mod faults;
mod flow;
mod prime_generation;
mod primes;
mod review;
mod roster;
mod se_login;
mod sniff;
mod world;

use channel::{Certificate, CertificateBody, IdentitySigner, Subject};
use se::{p11, Pin, Se, SeSerial};
use secrecy::{ExposeSecret, SecretString};
use testkit::envelopes::SoftSigner;
use testkit::softhsm::{random_pin, SoftHsm, TestToken};

/// "Now" of the tests: 2025-06-15T15:06:40Z.
pub const NOW: u64 = 1_750_000_000;

/// The test CA (stands in for the offline HSM's CA key).
pub fn ca() -> SoftSigner {
    SoftSigner::from_seed([0x44; 32])
}

/// An enrolled SoftHSM token, optionally with a CA certificate stored on it.
pub struct TestSe {
    pub module: p11::Module,
    pub token: TestToken,
    pub serial: SeSerial,
    pub user_pin_text: SecretString,
    pub user_pin: Pin,
}

impl TestSe {
    /// A fresh token, enrolled (identity key and wrap key), without a certificate.
    pub fn enrolled(prefix: &str) -> TestSe {
        let hsm = SoftHsm::global();
        let module = hsm.module();
        let token = hsm.new_token(prefix);
        let serial = SeSerial::parse(&token.summary.serial).unwrap();
        let so_pin = Pin::try_from(&token.so_pin).unwrap();
        let user_pin_text = random_pin();
        let user_pin = Pin::try_from(&user_pin_text).unwrap();
        Se::enroll(&module, &serial, &so_pin, &user_pin).unwrap();
        TestSe {
            module,
            token,
            serial,
            user_pin_text,
            user_pin,
        }
    }

    /// A fresh token, enrolled and holding a certificate from [`ca`] for its identity key.
    pub fn certified(prefix: &str) -> TestSe {
        let se = TestSe::enrolled(prefix);
        let open = se.open();
        let cert = certificate_for(&se.serial, &open.identity_public_key());
        open.store_certificate(&cert.to_bytes().unwrap()).unwrap();
        drop(open);
        se
    }

    pub fn open(&self) -> se::OpenSe {
        Se::open(&self.module, &self.serial, &self.user_pin).unwrap()
    }

    /// The user PIN as text (to feed the binary or a descriptor).
    pub fn pin_text(&self) -> &str {
        self.user_pin_text.expose_secret()
    }
}

/// A CA certificate for `key` naming the SE `serial`.
pub fn certificate_for(serial: &SeSerial, key: &p256::PublicKey) -> Certificate {
    let ca = ca();
    let body = CertificateBody {
        version: channel::cert::CERTIFICATE_VERSION,
        serial: format!("cert-{serial}"),
        subject: Subject::SecureElement {
            se_serial: serial.to_string(),
            label: "test SE".into(),
        },
        public_key: channel::cert::encode_public_key(key),
        not_before: NOW - 3600,
        not_after: NOW + 365 * 24 * 3600,
        issuer_key_id: channel::cert::key_id(&ca.public_key()),
    };
    Certificate::issue(&body, &ca).unwrap()
}
