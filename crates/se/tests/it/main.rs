//! Integration tests of the secure element against SoftHSM2 tokens and a virtual PC/SC reader.

// Helpers outside #[test] functions are test code too: clippy.toml only covers test functions.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod keys;
mod leak;
mod pin;
mod reader;
mod seal;

use se::{p11, Enrollment, Pin, Se, SeSerial};
use testkit::softhsm::{random_pin, SoftHsm, TestToken};

/// An enrolled SoftHSM token and everything a test needs to use it.
pub struct Enrolled {
    pub module: p11::Module,
    pub token: TestToken,
    pub serial: SeSerial,
    pub so_pin: Pin,
    pub user_pin: Pin,
    pub enrollment: Enrollment,
}

impl Enrolled {
    pub fn new(prefix: &str) -> Enrolled {
        let hsm = SoftHsm::global();
        let module = hsm.module();
        let token = hsm.new_token(prefix);
        let serial = SeSerial::parse(&token.summary.serial).unwrap();
        let so_pin = Pin::try_from(&token.so_pin).unwrap();
        let user_pin = Pin::try_from(&random_pin()).unwrap();
        let enrollment = Se::enroll(&module, &serial, &so_pin, &user_pin).unwrap();
        Enrolled {
            module,
            token,
            serial,
            so_pin,
            user_pin,
            enrollment,
        }
    }

    pub fn open(&self) -> se::OpenSe {
        Se::open(&self.module, &self.serial, &self.user_pin).unwrap()
    }

    /// A separate PKCS#11 session on the same token (logged in if an `OpenSe` is alive: login
    /// state is shared by all sessions of the process).
    pub fn raw_session(&self) -> p11::Session {
        let token = self.module.find_by_serial(self.serial.as_str()).unwrap();
        self.module.open(&token).unwrap()
    }
}

pub fn random_bytes<const N: usize>() -> [u8; N] {
    use rand_core::RngCore;
    let mut out = [0u8; N];
    rand_core::OsRng.fill_bytes(&mut out);
    out
}
