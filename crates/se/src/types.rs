//! Parsed domain types: an [`SeSerial`], a [`Pin`] and a [`ShareSlot`] exist only if valid.

use secrecy::{ExposeSecret, SecretString};
use zeroize::Zeroizing;

/// Longest case id and secret label we accept: they become parts of token object labels.
const MAX_LABEL_LEN: usize = 64;

/// Why a value did not parse. Never contains the value of a PIN.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    /// SE serials are 1 to 32 printable ASCII characters without spaces.
    #[error("an SE serial must be 1 to 32 printable ASCII characters without spaces, got {0:?}")]
    Serial(String),
    /// PINs are 4 to 64 characters without control characters.
    #[error("a PIN must be 4 to 64 characters long, without control characters")]
    Pin,
    /// Case ids and labels are 1 to 64 of `A-Z a-z 0-9 . _ -`.
    #[error("{kind} must be 1 to 64 characters of A-Z, a-z, 0-9, '.', '_' or '-', got {value:?}")]
    Label {
        /// What was being parsed.
        kind: &'static str,
        /// The rejected value.
        value: String,
    },
}

/// The serial number of an SE, which is its PKCS#11 token serial.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SeSerial(String);

impl SeSerial {
    /// Parse a serial: 1 to 32 printable ASCII characters without spaces (PKCS#11 serials are
    /// 16 blank-padded bytes; we allow 32 for other tokens and reject the padding).
    pub fn parse(s: &str) -> Result<SeSerial, ParseError> {
        if s.is_empty() || s.len() > 32 || !s.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(ParseError::Serial(s.chars().take(40).collect()));
        }
        Ok(SeSerial(s.to_owned()))
    }

    /// The serial as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for SeSerial {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::str::FromStr for SeSerial {
    type Err = ParseError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        SeSerial::parse(s)
    }
}

impl AsRef<str> for SeSerial {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

/// A user or security-officer PIN. Wiped from memory on drop; its `Debug` shows no digits.
#[derive(Clone)]
pub struct Pin(SecretString);

impl Pin {
    /// Parse a PIN: 4 to 64 characters, none of them a control character. The input is wiped
    /// whether or not it parses.
    pub fn parse(s: impl Into<String>) -> Result<Pin, ParseError> {
        let s = Zeroizing::new(s.into());
        let len = s.chars().count();
        if !(4..=64).contains(&len) || s.chars().any(char::is_control) {
            return Err(ParseError::Pin);
        }
        Ok(Pin(SecretString::from(s.as_str())))
    }

    /// The PIN for the token library.
    pub(crate) fn secret(&self) -> &SecretString {
        &self.0
    }

    /// Whether two PINs are the same (a new PIN typed twice), compared in constant time for
    /// equal lengths.
    pub fn same_as(&self, other: &Pin) -> bool {
        let (a, b) = (
            self.0.expose_secret().as_bytes(),
            other.0.expose_secret().as_bytes(),
        );
        a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
    }
}

impl TryFrom<&SecretString> for Pin {
    type Error = ParseError;
    fn try_from(secret: &SecretString) -> Result<Pin, ParseError> {
        Pin::parse(secret.expose_secret())
    }
}

impl std::fmt::Debug for Pin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Pin(***)")
    }
}

/// Where a key share is sealed: one share index of one case.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ShareSlot {
    case_id: String,
    share_index: u16,
}

impl ShareSlot {
    /// A slot for `case_id` (1 to 64 of `A-Z a-z 0-9 . _ -`) and `share_index`.
    pub fn new(case_id: &str, share_index: u16) -> Result<ShareSlot, ParseError> {
        Ok(ShareSlot {
            case_id: parse_label_as(case_id, "a case id")?,
            share_index,
        })
    }

    /// The case id.
    pub fn case_id(&self) -> &str {
        &self.case_id
    }

    /// The share index within the case.
    pub fn share_index(&self) -> u16 {
        self.share_index
    }
}

fn parse_label_as(value: &str, kind: &'static str) -> Result<String, ParseError> {
    let ok = !value.is_empty()
        && value.len() <= MAX_LABEL_LEN
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
    if !ok {
        return Err(ParseError::Label {
            kind,
            value: value.chars().take(80).collect(),
        });
    }
    Ok(value.to_owned())
}

/// Parse the label of a generic sealed secret.
pub(crate) fn parse_label(value: &str) -> Result<String, ParseError> {
    parse_label_as(value, "a secret label")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serials_parse() {
        assert!(SeSerial::parse("0042a1b2c3d4e5f6").is_ok());
        assert!(SeSerial::parse("").is_err());
        assert!(SeSerial::parse("has space").is_err());
        assert!(SeSerial::parse(&"x".repeat(33)).is_err());
        assert!(SeSerial::parse("é").is_err());
    }

    #[test]
    fn pins_parse_and_do_not_leak() {
        assert!(Pin::parse("123").is_err());
        assert!(Pin::parse("1234").is_ok());
        assert!(Pin::parse("x".repeat(65)).is_err());
        assert!(Pin::parse("12\n34").is_err());
        let pin = Pin::parse("271828").unwrap();
        assert!(!format!("{pin:?}").contains("271828"));
        assert!(!ParseError::Pin.to_string().contains("271828"));
    }

    #[test]
    fn slots_parse() {
        assert!(ShareSlot::new("case-2024.01_a", 2).is_ok());
        assert!(ShareSlot::new("a/b", 1).is_err());
        assert!(ShareSlot::new("", 1).is_err());
    }
}
