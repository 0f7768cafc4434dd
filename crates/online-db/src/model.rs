//! Typed views of stored values: the asset of a transfer or policy, and accessors that parse
//! the text columns (addresses, amounts) back into `contracts` types.

use std::fmt;
use std::str::FromStr;

use contracts::{Amount, EthAddress};
use serde::{Deserialize, Serialize};

use crate::entity::{accounts, policies, transfers};
use crate::{Error, Result};

/// What a transfer moves: Ether, or an ERC-20 token named by its contract address. Stored as
/// `ETH` or the checksummed address.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Asset {
    /// Ether.
    Eth,
    /// An ERC-20 token.
    Token(EthAddress),
}

impl Asset {
    /// Parses `ETH` or a token address (see [`EthAddress::parse`]).
    pub fn parse(text: &str) -> Result<Asset> {
        if text == migrations_online::ETH_ASSET {
            return Ok(Asset::Eth);
        }
        EthAddress::parse(text)
            .map(Asset::Token)
            .map_err(|e| crate::invalid("asset", format!("must be ETH or a token address: {e}")))
    }

    /// The stored text form.
    pub fn as_text(&self) -> String {
        match self {
            Asset::Eth => migrations_online::ETH_ASSET.to_owned(),
            Asset::Token(address) => address.to_checksum(),
        }
    }
}

impl fmt::Display for Asset {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.as_text())
    }
}

impl FromStr for Asset {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        Self::parse(s)
    }
}

/// Parse a stored amount.
pub(crate) fn stored_amount(what: &str, text: &str) -> Result<Amount> {
    Amount::parse(text).map_err(|e| Error::Corrupt {
        what: what.to_owned(),
        reason: e.to_string(),
    })
}

/// Parse a stored address.
pub(crate) fn stored_address(what: &str, text: &str) -> Result<EthAddress> {
    EthAddress::parse(text).map_err(|e| Error::Corrupt {
        what: what.to_owned(),
        reason: e.to_string(),
    })
}

/// Parse a stored asset.
pub(crate) fn stored_asset(what: &str, text: &str) -> Result<Asset> {
    Asset::parse(text).map_err(|e| Error::Corrupt {
        what: what.to_owned(),
        reason: e.to_string(),
    })
}

impl accounts::Model {
    /// The account's address.
    pub fn address(&self) -> Result<EthAddress> {
        stored_address("accounts.address", &self.address)
    }
}

impl policies::Model {
    /// The asset the limits apply to.
    pub fn asset(&self) -> Result<Asset> {
        stored_asset("policies.asset", &self.asset)
    }

    /// The most one transfer may move.
    pub fn single_limit(&self) -> Result<Amount> {
        stored_amount("policies.single_limit", &self.single_limit)
    }

    /// The most all transfers of a rolling 24 hours may move.
    pub fn daily_limit(&self) -> Result<Amount> {
        stored_amount("policies.daily_limit", &self.daily_limit)
    }
}

impl transfers::Model {
    /// What the transfer moves.
    pub fn asset(&self) -> Result<Asset> {
        stored_asset("transfers.asset", &self.asset)
    }

    /// The recipient.
    pub fn to(&self) -> Result<EthAddress> {
        stored_address("transfers.to_address", &self.to_address)
    }

    /// How much, in base units.
    pub fn amount(&self) -> Result<Amount> {
        stored_amount("transfers.amount", &self.amount)
    }

    /// The EIP-1559 fee cap, in wei per gas.
    pub fn max_fee_per_gas(&self) -> Result<Amount> {
        stored_amount("transfers.max_fee_per_gas", &self.max_fee_per_gas)
    }

    /// The EIP-1559 priority fee, in wei per gas.
    pub fn max_priority_fee_per_gas(&self) -> Result<Amount> {
        stored_amount(
            "transfers.max_priority_fee_per_gas",
            &self.max_priority_fee_per_gas,
        )
    }
}
