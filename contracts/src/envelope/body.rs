//! The four envelope bodies and their consistency checks.

use std::collections::BTreeSet;

use alloy_primitives::{Signature, B256, U256};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{Body, Kind};
use crate::eth::{self, Eip1559Fields};
use crate::{Amount, Error, EthAddress, Id, Result};

/// Decimals of ether: a native-asset summary must use them, or the amount a manager reads
/// would be off by orders of magnitude.
const NATIVE_DECIMALS: u8 = 18;
/// Longest asset symbol accepted.
const MAX_SYMBOL_LEN: usize = 16;

/// Offline → online: a case's public key and the addresses and chains it serves.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AccountManifest {
    /// The case in the offline zone.
    pub case_id: Id,
    /// The case's secp256k1 public key, SEC1 compressed (33 bytes, MessagePack bin).
    #[serde(with = "serde_bytes")]
    #[schemars(with = "Vec<u8>")]
    pub public_key: Vec<u8>,
    /// The addresses; the first is the public key's own address.
    pub addresses: Vec<EthAddress>,
    /// EIP-155 chain ids the addresses may be used on.
    pub chain_ids: Vec<u64>,
}

impl Body for AccountManifest {
    const KIND: Kind = Kind::AccountManifest;
    const SCHEMA: &'static str = "AccountManifest/v1";

    fn check(&self) -> Result<()> {
        if self.public_key.len() != 33 {
            return Err(Error::Malformed(
                "the manifest public key must be a 33-byte compressed secp256k1 key".into(),
            ));
        }
        let own = eth::address_of_secp256k1(&self.public_key)?;
        if self.addresses.first() != Some(&own) {
            return Err(Error::Malformed(
                "the first manifest address is not the address of the manifest public key".into(),
            ));
        }
        unique(&self.addresses, "manifest addresses")?;
        if self.chain_ids.is_empty() {
            return Err(Error::Malformed("the manifest names no chain id".into()));
        }
        unique(&self.chain_ids, "manifest chain ids")
    }
}

/// A person in the online zone, as shown to the managers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Person {
    /// Online-zone user id.
    pub user_id: Id,
    /// Login name.
    pub username: String,
}

/// What a transfer does, in the words a manager reads before approving. Every field is
/// compared with the decoded transaction on import; a mismatch rejects the request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TransferSummary {
    /// Ticker, ASCII letters and digits (`ETH`, `USDC`); no look-alike characters.
    pub asset_symbol: String,
    /// The ERC-20 contract, or none for ether.
    pub token: Option<EthAddress>,
    /// Who receives the funds (not the token contract).
    pub recipient: EthAddress,
    /// Amount in base units.
    pub amount: Amount,
    /// Decimals for display (18 for ether). For tokens the importer should compare them with
    /// its own token list; the transaction does not carry them.
    pub decimals: u8,
}

/// Online → offline: an unsigned EIP-1559 transaction to sign, with its hash and summary.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SigningRequest {
    /// Unique per transfer; the offline database keeps it UNIQUE (replay protection).
    pub request_id: Id,
    /// EIP-155 chain id; must equal the transaction's.
    pub chain_id: u64,
    /// The account that signs (finds the case).
    pub from: EthAddress,
    /// The transaction fields, for display; must decode from `unsigned_tx` exactly.
    pub transaction: Eip1559Fields,
    /// `0x02 ‖ rlp(fields)`: the bytes whose keccak256 is signed (MessagePack bin).
    #[serde(with = "serde_bytes")]
    #[schemars(with = "Vec<u8>")]
    pub unsigned_tx: Vec<u8>,
    /// keccak256(`unsigned_tx`), shown for comparison by eye (MessagePack bin, 32 bytes).
    #[serde(with = "serde_bytes")]
    #[schemars(with = "[u8; 32]")]
    pub signing_hash: [u8; 32],
    /// The human summary.
    pub summary: TransferSummary,
    /// Who built the transfer.
    pub created_by: Person,
    /// Who approved it in the online zone.
    pub approved_by: Vec<Person>,
}

/// What is being moved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Asset {
    /// Ether.
    Native,
    /// An ERC-20 token at this contract.
    Erc20(EthAddress),
}

/// A signing request's transaction after decoding and every consistency check: what the
/// offline server and the clients show.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecodedTransfer {
    /// The decoded transaction fields.
    pub fields: Eip1559Fields,
    /// keccak256 of the unsigned transaction.
    pub signing_hash: [u8; 32],
    /// What is moved.
    pub asset: Asset,
    /// Who receives it.
    pub recipient: EthAddress,
    /// How much, in base units.
    pub amount: Amount,
    /// The most the fees can cost, wei.
    pub max_fee_wei: U256,
}

impl SigningRequest {
    /// Decodes `unsigned_tx` and checks, in order: it is a plain EIP-1559 call
    /// (`Malformed`/`UnsupportedTransaction`), its keccak256 is `signing_hash`
    /// (`HashMismatch`), its chain id is `chain_id` (`ChainMismatch`), it equals the
    /// `transaction` fields and the `summary` (`SummaryMismatch`).
    pub fn decode(&self) -> Result<DecodedTransfer> {
        let tx = eth::decode_unsigned(&self.unsigned_tx)?;
        let hash = eth::signing_hash(&self.unsigned_tx);
        if hash != self.signing_hash {
            return Err(Error::HashMismatch);
        }
        if tx.chain_id != self.chain_id {
            return Err(Error::ChainMismatch {
                expected: self.chain_id,
                found: tx.chain_id,
            });
        }
        let fields = Eip1559Fields::from_alloy(&tx)?;
        if fields != self.transaction {
            return Err(Error::SummaryMismatch(format!(
                "the transaction fields differ from the signed bytes ({})",
                first_difference(&fields, &self.transaction)
            )));
        }
        let s = &self.summary;
        if s.asset_symbol.is_empty()
            || s.asset_symbol.len() > MAX_SYMBOL_LEN
            || !s.asset_symbol.bytes().all(|b| b.is_ascii_alphanumeric())
        {
            return Err(Error::SummaryMismatch(
                "the asset symbol must be 1 to 16 ASCII letters or digits".into(),
            ));
        }
        let (asset, recipient, amount) = match s.token {
            None => {
                if !fields.data.is_empty() {
                    return Err(Error::SummaryMismatch(
                        "an ether transfer must not carry calldata".into(),
                    ));
                }
                if s.decimals != NATIVE_DECIMALS {
                    return Err(Error::SummaryMismatch(format!(
                        "ether has {NATIVE_DECIMALS} decimals, the summary says {}",
                        s.decimals
                    )));
                }
                (Asset::Native, fields.to, fields.value)
            }
            Some(token) => {
                if fields.to != token {
                    return Err(Error::SummaryMismatch(format!(
                        "the transaction calls {}, not the token contract {token}",
                        fields.to
                    )));
                }
                if fields.value != Amount::default() {
                    return Err(Error::SummaryMismatch(
                        "a token transfer must not send ether".into(),
                    ));
                }
                let (recipient, amount) = eth::decode_erc20_transfer(&fields.data)?;
                (Asset::Erc20(token), recipient, amount)
            }
        };
        if recipient != s.recipient {
            return Err(Error::SummaryMismatch(format!(
                "the transaction pays {recipient}, the summary says {}",
                s.recipient
            )));
        }
        if amount != s.amount {
            return Err(Error::SummaryMismatch(format!(
                "the transaction moves {amount} base units, the summary says {}",
                s.amount
            )));
        }
        Ok(DecodedTransfer {
            max_fee_wei: fields.max_fee_wei(),
            fields,
            signing_hash: hash,
            asset,
            recipient,
            amount,
        })
    }
}

fn first_difference(a: &Eip1559Fields, b: &Eip1559Fields) -> &'static str {
    if a.chain_id != b.chain_id {
        "chain_id"
    } else if a.nonce != b.nonce {
        "nonce"
    } else if a.max_priority_fee_per_gas != b.max_priority_fee_per_gas {
        "max_priority_fee_per_gas"
    } else if a.max_fee_per_gas != b.max_fee_per_gas {
        "max_fee_per_gas"
    } else if a.gas_limit != b.gas_limit {
        "gas_limit"
    } else if a.to != b.to {
        "to"
    } else if a.value != b.value {
        "value"
    } else {
        "data"
    }
}

impl Body for SigningRequest {
    const KIND: Kind = Kind::SigningRequest;
    const SCHEMA: &'static str = "SigningRequest/v1";

    fn check(&self) -> Result<()> {
        self.decode().map(|_| ())
    }
}

/// Offline → online: the threshold signature and the signed transaction, ready to broadcast.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SignatureResponse {
    /// The request this answers.
    pub request_id: Id,
    /// Signature r, big-endian (MessagePack bin, 32 bytes).
    #[serde(with = "serde_bytes")]
    #[schemars(with = "[u8; 32]")]
    pub r: [u8; 32],
    /// Signature s, big-endian, low-s (MessagePack bin, 32 bytes).
    #[serde(with = "serde_bytes")]
    #[schemars(with = "[u8; 32]")]
    pub s: [u8; 32],
    /// Parity of the nonce point's y (EIP-1559 `v`).
    pub y_parity: bool,
    /// The signed transaction, EIP-2718 encoded, for `eth_sendRawTransaction` (MessagePack bin).
    #[serde(with = "serde_bytes")]
    #[schemars(with = "Vec<u8>")]
    pub signed_tx: Vec<u8>,
    /// keccak256(`signed_tx`): the transaction hash on chain (MessagePack bin, 32 bytes).
    #[serde(with = "serde_bytes")]
    #[schemars(with = "[u8; 32]")]
    pub tx_hash: [u8; 32],
}

impl SignatureResponse {
    /// The signature as alloy's type.
    pub fn signature(&self) -> Signature {
        Signature::new(
            U256::from_be_bytes(self.r),
            U256::from_be_bytes(self.s),
            self.y_parity,
        )
    }

    /// Checks that this response answers `request`: same request id, the signed transaction
    /// is exactly the request's unsigned one, and the signature recovers to the request's
    /// `from` address over its signing hash. Any failure is `SignatureMismatch`.
    pub fn check_against(&self, request: &SigningRequest) -> Result<()> {
        if self.request_id != request.request_id {
            return Err(Error::SignatureMismatch(
                "the response answers another request id".into(),
            ));
        }
        self.check_for(&request.unsigned_tx, &request.from)
    }

    /// Checks that the signed transaction decodes to `unsigned_tx` and the signature recovers
    /// to `from` over its EIP-1559 signing hash (alloy's recovery).
    pub fn check_for(&self, unsigned_tx: &[u8], from: &EthAddress) -> Result<()> {
        self.check()?;
        let expected = eth::decode_unsigned(unsigned_tx)?;
        let signed = eth::decode_signed(&self.signed_tx)?;
        if signed.tx != expected {
            return Err(Error::SignatureMismatch(
                "the signed transaction differs from the requested one".into(),
            ));
        }
        let hash = B256::from(eth::signing_hash(unsigned_tx));
        let recovered = self
            .signature()
            .recover_address_from_prehash(&hash)
            .map_err(|_| {
                Error::SignatureMismatch("the signature does not recover to any key".into())
            })?;
        if EthAddress::from(recovered) != *from {
            return Err(Error::SignatureMismatch(format!(
                "the signature recovers to {}, not to the account {from}",
                EthAddress::from(recovered)
            )));
        }
        Ok(())
    }
}

impl Body for SignatureResponse {
    const KIND: Kind = Kind::SignatureResponse;
    const SCHEMA: &'static str = "SignatureResponse/v1";

    /// The fields agree with the signed transaction they come with, and s is low (EIP-2).
    fn check(&self) -> Result<()> {
        let signed = eth::decode_signed(&self.signed_tx)?;
        let sig = self.signature();
        if signed.signature.r() != sig.r()
            || signed.signature.s() != sig.s()
            || signed.signature.v() != sig.v()
        {
            return Err(Error::SignatureMismatch(
                "r, s or y_parity differ from the signature inside the signed transaction".into(),
            ));
        }
        if sig.normalize_s().is_some() {
            return Err(Error::SignatureMismatch(
                "s is not in the lower half of the curve order (EIP-2)".into(),
            ));
        }
        if signed.tx_hash != self.tx_hash {
            return Err(Error::SignatureMismatch(
                "tx_hash is not the hash of the signed transaction".into(),
            ));
        }
        Ok(())
    }
}

/// One balance in an attestation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AssetBalance {
    /// Ticker for display.
    pub asset: String,
    /// The ERC-20 contract, or none for ether.
    pub token: Option<EthAddress>,
    /// Balance in base units.
    pub amount: Amount,
}

/// Online → offline: the balances of an address at a block (used to allow deleting a case).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct BalanceAttestation {
    /// The account.
    pub address: EthAddress,
    /// EIP-155 chain id.
    pub chain_id: u64,
    /// Balances; at most one per asset, ether included.
    pub balances: Vec<AssetBalance>,
    /// The block the balances were read at.
    pub block_number: u64,
    /// That block's hash (MessagePack bin, 32 bytes).
    #[serde(with = "serde_bytes")]
    #[schemars(with = "[u8; 32]")]
    pub block_hash: [u8; 32],
}

impl BalanceAttestation {
    /// Whether the attestation shows an empty account: ether is listed and every listed
    /// balance is zero. Tokens the online zone does not track are not covered; the caller
    /// decides whether that is enough to delete a case.
    pub fn is_empty_account(&self) -> bool {
        self.balances.iter().any(|b| b.token.is_none())
            && self.balances.iter().all(|b| b.amount == Amount::default())
    }
}

impl Body for BalanceAttestation {
    const KIND: Kind = Kind::BalanceAttestation;
    const SCHEMA: &'static str = "BalanceAttestation/v1";

    fn check(&self) -> Result<()> {
        let tokens: Vec<Option<EthAddress>> = self.balances.iter().map(|b| b.token).collect();
        unique(&tokens, "attested assets")
    }
}

fn unique<T: Ord>(items: &[T], what: &str) -> Result<()> {
    let set: BTreeSet<&T> = items.iter().collect();
    if set.len() != items.len() {
        return Err(Error::Malformed(format!("{what} contain duplicates")));
    }
    Ok(())
}
