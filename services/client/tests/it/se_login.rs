//! Finding and opening the SE against SoftHSM2 tokens: the PIN read from a descriptor opens
//! it, a wrong PIN says how many tries are left, an SE without a certificate is "not
//! enrolled", and a missing SE is asked for once and then reported after the wait.

use std::cell::RefCell;
use std::io::Write;
use std::os::fd::AsRawFd;
use std::time::{Duration, Instant};

use custody_client::pin::read_pin;
use custody_client::se_login::{is_present, open_se, LoginError};
use se::{Pin, SeSerial};
use testkit::softhsm::SoftHsm;

use crate::{certificate_for, TestSe};

fn quiet(_: &str) {}

#[test]
fn the_pin_from_a_descriptor_opens_the_se_and_its_certificate_is_read() {
    let se = TestSe::certified("cl-login-ok");
    let mut file = tempfile::NamedTempFile::new().unwrap();
    writeln!(file, "{}", se.pin_text()).unwrap();
    let opened = std::fs::File::open(file.path()).unwrap();
    let fd = u32::try_from(opened.as_raw_fd()).unwrap();
    let pin = read_pin(Some(fd), "unused").unwrap();

    let said = RefCell::new(Vec::new());
    let say = |m: &str| said.borrow_mut().push(m.to_owned());
    let (open, cert) = open_se(&se.module, &se.serial, &pin, Duration::from_secs(1), &say).unwrap();
    assert!(said.borrow().is_empty(), "a present SE is not asked for");
    let body = cert.unverified_body().unwrap();
    assert_eq!(
        body.public_key,
        channel::cert::encode_public_key(&open.identity_public_key())
    );
    cert.verify(
        &channel::TrustAnchor::new(crate::ca().0.verifying_key().into()),
        crate::NOW,
    )
    .unwrap();
}

#[test]
fn a_wrong_pin_says_how_many_tries_are_left() {
    let se = TestSe::certified("cl-login-wrong");
    let wrong = Pin::parse("0000-wrong").unwrap();
    let err = open_se(
        &se.module,
        &se.serial,
        &wrong,
        Duration::from_secs(1),
        &quiet,
    )
    .err()
    .unwrap();
    assert!(matches!(
        err,
        LoginError::WrongPin(se::Error::WrongPin { tries_left: 2 })
    ));
    assert!(err.to_string().contains("2 attempt(s) left"), "{err}");
    assert!(!err.to_string().contains(se.pin_text()));
    // The right PIN still works and clears the count.
    open_se(
        &se.module,
        &se.serial,
        &se.user_pin,
        Duration::from_secs(1),
        &quiet,
    )
    .unwrap();
}

#[test]
fn an_se_without_a_certificate_is_not_enrolled() {
    let se = TestSe::enrolled("cl-login-nocert");
    let err = open_se(
        &se.module,
        &se.serial,
        &se.user_pin,
        Duration::from_secs(1),
        &quiet,
    )
    .err()
    .unwrap();
    assert!(matches!(err, LoginError::NotEnrolled { .. }), "{err:?}");
    assert!(err.to_string().contains("has not been enrolled"), "{err}");
}

#[test]
fn a_blank_token_is_not_enrolled() {
    let hsm = SoftHsm::global();
    let token = hsm.new_token("cl-login-blank");
    let serial = SeSerial::parse(&token.summary.serial).unwrap();
    let pin = Pin::try_from(&token.user_pin).unwrap();
    let err = open_se(&hsm.module(), &serial, &pin, Duration::from_secs(1), &quiet)
        .err()
        .unwrap();
    assert!(matches!(err, LoginError::NotEnrolled { .. }), "{err:?}");
}

#[test]
fn a_certificate_for_another_key_is_refused() {
    let se = TestSe::enrolled("cl-login-otherkey");
    let other = p256::SecretKey::from_slice(&[0x66; 32])
        .unwrap()
        .public_key();
    let open = se.open();
    open.store_certificate(&certificate_for(&se.serial, &other).to_bytes().unwrap())
        .unwrap();
    drop(open);
    let err = open_se(
        &se.module,
        &se.serial,
        &se.user_pin,
        Duration::from_secs(1),
        &quiet,
    )
    .err()
    .unwrap();
    assert!(
        matches!(err, LoginError::CertificateKeyMismatch { .. }),
        "{err:?}"
    );
}

#[test]
fn a_missing_se_is_asked_for_once_then_reported() {
    let hsm = SoftHsm::global();
    let serial = SeSerial::parse("no-such-se-0042").unwrap();
    assert!(!is_present(&hsm.module(), &serial).unwrap());
    let said = RefCell::new(Vec::new());
    let say = |m: &str| said.borrow_mut().push(m.to_owned());
    let pin = Pin::parse("1234").unwrap();
    let started = Instant::now();
    let err = open_se(
        &hsm.module(),
        &serial,
        &pin,
        Duration::from_millis(1200),
        &say,
    )
    .err()
    .unwrap();
    let elapsed = started.elapsed();
    assert!(elapsed >= Duration::from_millis(1200), "{elapsed:?}");
    assert!(elapsed < Duration::from_secs(5), "{elapsed:?}");
    assert!(matches!(err, LoginError::NotPresent { .. }), "{err:?}");
    assert!(err.to_string().contains("no-such-se-0042"));
    let said = said.borrow();
    let asks = said
        .iter()
        .filter(|m| m.starts_with("insert SE no-such-se-0042"))
        .count();
    assert_eq!(asks, 1, "{said:?}");
}
