//! Small wire types that parse instead of validate: identifiers, Ethereum addresses and token
//! amounts. Each has exactly one accepted text form, so two encodings of the same value cannot
//! slip past a UNIQUE column or an equality check.

use std::borrow::Cow;
use std::fmt;
use std::str::FromStr;

use alloy_primitives::U256;
use schemars::{json_schema, JsonSchema, Schema, SchemaGenerator};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::{Error, Result};

/// A UUID in its canonical text form (lowercase, hyphenated). Event ids and envelope ids are
/// UUIDv7 (time-ordered); other ids come from the database, which also uses UUIDv7.
///
/// On the wire it is always a string, even in MessagePack, so the bus, the JSON Schemas and
/// the database agree on one spelling.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Id(uuid::Uuid);

impl Id {
    /// Parses the canonical form only: `0190d9e4-8f2a-7c3b-9d1e-2f3a4b5c6d7e`.
    pub fn parse(text: &str) -> Result<Self> {
        let uuid = uuid::Uuid::try_parse(text)
            .map_err(|_| Error::Malformed(format!("{text:?} is not a UUID")))?;
        let id = Self(uuid);
        // uuid accepts upper case, braces and URNs; one spelling per id keeps UNIQUE honest.
        if id.to_string() != text {
            return Err(Error::Malformed(format!(
                "{text:?} is not a canonical lowercase hyphenated UUID"
            )));
        }
        Ok(id)
    }

    /// A fresh UUIDv7 for `now` (unix seconds); the low bits are random.
    pub fn new_v7(now: u64) -> Self {
        Self(uuid::Uuid::new_v7(uuid::Timestamp::from_unix(
            uuid::NoContext,
            now,
            0,
        )))
    }

    /// Wraps an existing UUID.
    pub const fn from_uuid(uuid: uuid::Uuid) -> Self {
        Self(uuid)
    }

    /// The UUID.
    pub const fn as_uuid(&self) -> &uuid::Uuid {
        &self.0
    }

    /// Whether this is a version 7 (time-ordered) UUID, as event and envelope ids must be.
    pub fn is_v7(&self) -> bool {
        self.0.get_version_num() == 7
    }

    /// The 16 raw bytes (used in signature preimages).
    pub fn as_bytes(&self) -> &[u8; 16] {
        self.0.as_bytes()
    }
}

impl fmt::Display for Id {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.hyphenated().fmt(f)
    }
}

impl fmt::Debug for Id {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Id({self})")
    }
}

impl FromStr for Id {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        Self::parse(s)
    }
}

impl Serialize for Id {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Id {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = Cow::<'de, str>::deserialize(deserializer)?;
        Self::parse(&text).map_err(serde::de::Error::custom)
    }
}

impl JsonSchema for Id {
    fn schema_name() -> Cow<'static, str> {
        "Id".into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "type": "string",
            "format": "uuid",
            "pattern": "^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$",
            "description": "A UUID (UUIDv7 for event and envelope ids), lowercase and hyphenated."
        })
    }
}

/// A 20-byte Ethereum address. Text form: `0x` and 40 hex digits; all-lowercase,
/// all-uppercase or EIP-55 checksummed (a mixed-case address with a wrong checksum is
/// rejected, since it is most likely a typo). Written EIP-55 checksummed.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct EthAddress(pub [u8; 20]);

impl EthAddress {
    /// Parses `0x…` as described on the type.
    pub fn parse(text: &str) -> Result<Self> {
        let bad = || {
            Error::Malformed(format!(
                "{text:?} is not an Ethereum address (0x + 40 hex digits)"
            ))
        };
        let digits = text.strip_prefix("0x").ok_or_else(bad)?;
        if digits.len() != 40 {
            return Err(bad());
        }
        let mut out = [0u8; 20];
        hex::decode_to_slice(digits, &mut out).map_err(|_| bad())?;
        let address = Self(out);
        let has_lower = digits.bytes().any(|b| b.is_ascii_lowercase());
        let has_upper = digits.bytes().any(|b| b.is_ascii_uppercase());
        if has_lower && has_upper && address.to_checksum() != text {
            return Err(Error::Malformed(format!(
                "{text:?} has a wrong EIP-55 checksum; check the address for typos"
            )));
        }
        Ok(address)
    }

    /// The EIP-55 checksummed text form.
    pub fn to_checksum(&self) -> String {
        alloy_primitives::Address::from(self.0).to_checksum(None)
    }
}

impl From<alloy_primitives::Address> for EthAddress {
    fn from(value: alloy_primitives::Address) -> Self {
        Self(value.into_array())
    }
}

impl From<EthAddress> for alloy_primitives::Address {
    fn from(value: EthAddress) -> Self {
        alloy_primitives::Address::from(value.0)
    }
}

impl fmt::Display for EthAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_checksum())
    }
}

impl fmt::Debug for EthAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "EthAddress({self})")
    }
}

impl FromStr for EthAddress {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        Self::parse(s)
    }
}

impl Serialize for EthAddress {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.to_checksum())
    }
}

impl<'de> Deserialize<'de> for EthAddress {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = Cow::<'de, str>::deserialize(deserializer)?;
        Self::parse(&text).map_err(serde::de::Error::custom)
    }
}

impl JsonSchema for EthAddress {
    fn schema_name() -> Cow<'static, str> {
        "EthAddress".into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "type": "string",
            "pattern": "^0x[0-9a-fA-F]{40}$",
            "description": "An Ethereum address, EIP-55 checksummed when written."
        })
    }
}

/// A non-negative integer amount in base units (wei, or the token's smallest unit), up to
/// 2^256-1. Text form: decimal digits without sign, separators or leading zeros, because JSON
/// numbers and MessagePack integers cannot hold 256 bits.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Amount(pub U256);

impl Amount {
    /// Parses the decimal text form.
    pub fn parse(text: &str) -> Result<Self> {
        let bad = || {
            Error::Malformed(format!(
                "{text:?} is not an amount (decimal digits, no leading zeros)"
            ))
        };
        if text.is_empty()
            || !text.bytes().all(|b| b.is_ascii_digit())
            || (text.len() > 1 && text.starts_with('0'))
        {
            return Err(bad());
        }
        U256::from_str_radix(text, 10).map(Self).map_err(|_| bad())
    }
}

impl From<U256> for Amount {
    fn from(value: U256) -> Self {
        Self(value)
    }
}

impl From<u128> for Amount {
    fn from(value: u128) -> Self {
        Self(U256::from(value))
    }
}

impl fmt::Display for Amount {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

impl fmt::Debug for Amount {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Amount({self})")
    }
}

impl FromStr for Amount {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        Self::parse(s)
    }
}

impl Serialize for Amount {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Amount {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = Cow::<'de, str>::deserialize(deserializer)?;
        Self::parse(&text).map_err(serde::de::Error::custom)
    }
}

impl JsonSchema for Amount {
    fn schema_name() -> Cow<'static, str> {
        "Amount".into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "type": "string",
            "pattern": "^(0|[1-9][0-9]{0,77})$",
            "description": "An amount in base units (wei or the token's smallest unit), as decimal digits."
        })
    }
}
