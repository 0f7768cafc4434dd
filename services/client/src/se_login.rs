//! Finding and opening the manager's secure element.
//!
//! The SE is a PKCS#11 token found by its serial. If it is not connected, the client asks for
//! it once ("insert SE 0042…") and waits, polling the PKCS#11 module every 500 ms; where a
//! PC/SC service runs, reader events (a card inserted or removed) are shown while waiting, so
//! the manager sees that the PC noticed the card. PC/SC only reports presence: which token is
//! in the reader is always decided by PKCS#11 and the serial.
//!
//! These functions block (PKCS#11 calls, waiting); call them before the async runtime starts
//! or from a blocking thread.

use std::time::{Duration, Instant};

use se::reader::{ReaderEvent, ReaderMonitor};

/// How often the PKCS#11 module is asked whether the SE has arrived.
const POLL_INTERVAL: Duration = Duration::from_millis(500);

/// Why the SE could not be opened. Messages are for the manager; none carries the PIN.
#[derive(Debug, thiserror::Error)]
pub enum LoginError {
    /// The SE did not appear within the wait.
    #[error("secure element {serial} was not found within {waited_secs} s: insert it, or check the serial (--se-serial)")]
    NotPresent {
        /// The serial asked for.
        serial: String,
        /// How long the client waited.
        waited_secs: u64,
    },
    /// The PIN was wrong; the SE's own error says how many attempts are left.
    #[error("{0}")]
    WrongPin(#[source] se::Error),
    /// Too many wrong PINs.
    #[error("{0}")]
    PinLocked(#[source] se::Error),
    /// The SE has no identity key or no certificate: it was never enrolled by the CA.
    #[error(
        "secure element {serial} has not been enrolled: ask the security officer to enroll it"
    )]
    NotEnrolled {
        /// The SE serial.
        serial: String,
    },
    /// The stored certificate does not decode.
    #[error("the certificate stored on secure element {serial} is unreadable: {source}")]
    BadCertificate {
        /// The SE serial.
        serial: String,
        /// The decoding error.
        source: channel::Error,
    },
    /// The stored certificate names another key than the SE's identity key.
    #[error("the certificate stored on secure element {serial} is not for its identity key: ask the security officer to re-enroll it")]
    CertificateKeyMismatch {
        /// The SE serial.
        serial: String,
    },
    /// Any other SE or token failure.
    #[error("secure element: {0}")]
    Se(#[source] se::Error),
}

impl From<se::Error> for LoginError {
    fn from(e: se::Error) -> Self {
        match e {
            se::Error::WrongPin { .. } => LoginError::WrongPin(e),
            se::Error::PinLocked => LoginError::PinLocked(e),
            se::Error::NotEnrolled { serial } => LoginError::NotEnrolled { serial },
            other => LoginError::Se(other),
        }
    }
}

/// Whether a token with this serial is connected now.
pub fn is_present(module: &p11::Module, serial: &se::SeSerial) -> Result<bool, LoginError> {
    match module.find_by_serial(serial.as_str()) {
        Ok(_) => Ok(true),
        Err(p11::Error::TokenNotFound { .. }) => Ok(false),
        Err(e) => Err(LoginError::Se(se::Error::Token(e))),
    }
}

/// Waits until the SE with `serial` is connected, for at most `wait`. If it is not there at
/// once, says "insert SE <serial>…" once and then reports reader events as they happen.
pub fn wait_for_se(
    module: &p11::Module,
    serial: &se::SeSerial,
    wait: Duration,
    say: &dyn Fn(&str),
) -> Result<(), LoginError> {
    if is_present(module, serial)? {
        return Ok(());
    }
    let started = Instant::now();
    let deadline = started + wait;
    // No PC/SC service (common on servers and in CI) only means no reader events.
    let mut monitor = ReaderMonitor::new().ok();
    match monitor.as_ref().and_then(|m| m.readers().ok()) {
        Some(readers) if !readers.is_empty() => say(&format!(
            "insert SE {serial} into one of: {}…",
            se::reader::reader_names(&readers).join(", ")
        )),
        _ => say(&format!("insert SE {serial}…")),
    }
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(LoginError::NotPresent {
                serial: serial.to_string(),
                waited_secs: started.elapsed().as_secs(),
            });
        }
        let step = left.min(POLL_INTERVAL);
        match monitor.as_mut().map(|m| m.wait_for_change(step)) {
            Some(Ok(events)) => {
                for event in events {
                    say(&describe(&event));
                }
                // A change may come sooner than the poll interval; the module is asked at
                // once, and the rest of the interval is not slept.
            }
            Some(Err(e)) => {
                tracing::debug!(error = %e, "reader monitor stopped");
                monitor = None;
                pause(step);
            }
            None => pause(step),
        }
        if is_present(module, serial)? {
            say(&format!("SE {serial} found"));
            return Ok(());
        }
    }
}

#[allow(
    clippy::disallowed_methods,
    reason = "a blocking wait in a function documented as blocking, run before the async runtime"
)]
fn pause(d: Duration) {
    std::thread::sleep(d);
}

fn describe(event: &ReaderEvent) -> String {
    match event {
        ReaderEvent::CardInserted { reader, .. } => format!("card inserted in reader {reader}"),
        ReaderEvent::CardRemoved { reader } => format!("card removed from reader {reader}"),
        ReaderEvent::ReaderAdded { reader } => format!("reader {reader} connected"),
        ReaderEvent::ReaderRemoved { reader } => format!("reader {reader} disconnected"),
    }
}

/// Waits for the SE (see [`wait_for_se`]), opens it with `pin` and reads its certificate.
///
/// A wrong PIN gives [`LoginError::WrongPin`] saying how many attempts are left; an SE
/// without an identity key or without a certificate gives [`LoginError::NotEnrolled`].
pub fn open_se(
    module: &p11::Module,
    serial: &se::SeSerial,
    pin: &se::Pin,
    wait: Duration,
    say: &dyn Fn(&str),
) -> Result<(se::OpenSe, channel::Certificate), LoginError> {
    wait_for_se(module, serial, wait, say)?;
    let open = se::Se::open(module, serial, pin)?;
    let bytes = open.certificate()?.ok_or_else(|| LoginError::NotEnrolled {
        serial: serial.to_string(),
    })?;
    let certificate =
        channel::Certificate::from_bytes(&bytes).map_err(|source| LoginError::BadCertificate {
            serial: serial.to_string(),
            source,
        })?;
    // Not a trust decision (the coordinator verifies the certificate): a clear message here
    // beats a handshake failure later.
    let body = certificate
        .unverified_body()
        .map_err(|source| LoginError::BadCertificate {
            serial: serial.to_string(),
            source,
        })?;
    if body.public_key != channel::cert::encode_public_key(&open.identity_public_key()) {
        return Err(LoginError::CertificateKeyMismatch {
            serial: serial.to_string(),
        });
    }
    Ok((open, certificate))
}
