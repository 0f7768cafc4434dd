//! The Ethereum side of the contract: the EIP-1559 (type-2) transaction a signing request
//! carries, ERC-20 `transfer` calldata, and the checks that make "sign what you see" hold
//! (DESIGN.md §2.1): the bytes that will be hashed and signed are decoded here, independently
//! of whatever the online zone claims about them, and every human-visible field is compared
//! with what was decoded. Encoding and hashing are alloy's, so the hash equals the one the
//! network computes.

use alloy_consensus::transaction::{RlpEcdsaDecodableTx, RlpEcdsaEncodableTx};
use alloy_consensus::{SignableTransaction, TxEip1559};
use alloy_primitives::{keccak256, Address, Bytes, Signature, TxKind, U256};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::{Amount, Error, EthAddress, Result};

/// EIP-2718 type byte of an EIP-1559 transaction.
pub const EIP1559_TX_TYPE: u8 = 0x02;

/// Selector of ERC-20 `transfer(address,uint256)`: the first 4 bytes of its keccak256.
pub const ERC20_TRANSFER_SELECTOR: [u8; 4] = [0xa9, 0x05, 0x9c, 0xbb];

/// Length of ERC-20 `transfer` calldata: selector + two 32-byte words.
const ERC20_TRANSFER_LEN: usize = 4 + 32 + 32;

/// The fields of an unsigned EIP-1559 transaction as they travel for display. The signed
/// bytes are `unsigned_tx`; these fields must decode from them exactly (checked on import).
/// Only plain calls are represented: contract creation and access lists are refused, because
/// the summary shown to a manager could not describe them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Eip1559Fields {
    /// EIP-155 chain id.
    pub chain_id: u64,
    /// Account nonce.
    pub nonce: u64,
    /// Priority fee per gas, wei.
    pub max_priority_fee_per_gas: Amount,
    /// Maximum fee per gas, wei.
    pub max_fee_per_gas: Amount,
    /// Gas limit.
    pub gas_limit: u64,
    /// Recipient of the call: the payee for ETH, the token contract for ERC-20.
    pub to: EthAddress,
    /// Wei sent with the call (zero for ERC-20 transfers).
    pub value: Amount,
    /// Calldata (MessagePack bin): empty for ETH, `transfer(address,uint256)` for ERC-20.
    #[serde(with = "serde_bytes")]
    #[schemars(with = "Vec<u8>")]
    pub data: Vec<u8>,
}

impl Eip1559Fields {
    /// The alloy transaction for these fields (no access list). Fails if a fee does not fit
    /// the 128 bits the protocol allows.
    pub fn to_alloy(&self) -> Result<TxEip1559> {
        let fee = |amount: &Amount, what: &str| {
            u128::try_from(amount.0)
                .map_err(|_| Error::Invalid(format!("{what} does not fit in 128 bits")))
        };
        Ok(TxEip1559 {
            chain_id: self.chain_id,
            nonce: self.nonce,
            gas_limit: self.gas_limit,
            max_fee_per_gas: fee(&self.max_fee_per_gas, "max_fee_per_gas")?,
            max_priority_fee_per_gas: fee(
                &self.max_priority_fee_per_gas,
                "max_priority_fee_per_gas",
            )?,
            to: TxKind::Call(self.to.into()),
            value: self.value.0,
            access_list: Default::default(),
            input: Bytes::copy_from_slice(&self.data),
        })
    }

    /// The fields of an alloy transaction; refuses shapes the summary cannot describe.
    pub fn from_alloy(tx: &TxEip1559) -> Result<Self> {
        let to = match tx.to {
            TxKind::Call(to) => EthAddress::from(to),
            TxKind::Create => {
                return Err(Error::UnsupportedTransaction(
                    "contract creation is not a transfer and is never signed".into(),
                ))
            }
        };
        if !tx.access_list.0.is_empty() {
            return Err(Error::UnsupportedTransaction(
                "access lists are not supported; the transaction must have an empty access list"
                    .into(),
            ));
        }
        Ok(Self {
            chain_id: tx.chain_id,
            nonce: tx.nonce,
            max_priority_fee_per_gas: Amount::from(tx.max_priority_fee_per_gas),
            max_fee_per_gas: Amount::from(tx.max_fee_per_gas),
            gas_limit: tx.gas_limit,
            to,
            value: Amount(tx.value),
            data: tx.input.to_vec(),
        })
    }

    /// The bytes that are hashed and signed: `0x02 ‖ rlp([chain_id, nonce, …])`.
    pub fn encode_unsigned(&self) -> Result<Vec<u8>> {
        Ok(encode_unsigned(&self.to_alloy()?))
    }

    /// The most this transaction can cost in fees: `gas_limit × max_fee_per_gas`, wei.
    pub fn max_fee_wei(&self) -> U256 {
        U256::from(self.gas_limit).saturating_mul(self.max_fee_per_gas.0)
    }
}

/// Encodes an unsigned EIP-1559 transaction for signing: `0x02 ‖ rlp(fields)`.
pub fn encode_unsigned(tx: &TxEip1559) -> Vec<u8> {
    let mut out = Vec::with_capacity(tx.payload_len_for_signature());
    tx.encode_for_signing(&mut out);
    out
}

/// The EIP-1559 signing hash: keccak256 of [`encode_unsigned`]. Equal to alloy's
/// `signature_hash()` by construction.
pub fn signing_hash(unsigned_tx: &[u8]) -> [u8; 32] {
    keccak256(unsigned_tx).0
}

/// Decodes `0x02 ‖ rlp(fields)` strictly: the type byte must be 2, the whole input must be
/// consumed, and re-encoding must give the same bytes (so there is one encoding per
/// transaction and the hash shown is the hash of what was decoded).
pub fn decode_unsigned(unsigned_tx: &[u8]) -> Result<TxEip1559> {
    let (ty, mut rest) = unsigned_tx
        .split_first()
        .ok_or_else(|| Error::Malformed("the unsigned transaction is empty".into()))?;
    if *ty != EIP1559_TX_TYPE {
        return Err(Error::UnsupportedTransaction(format!(
            "transaction type {ty:#04x}; only EIP-1559 (type 2) transactions are signed"
        )));
    }
    let tx = TxEip1559::rlp_decode(&mut rest).map_err(|e| {
        Error::Malformed(format!(
            "the unsigned transaction is not valid EIP-1559 RLP: {e}"
        ))
    })?;
    if !rest.is_empty() {
        return Err(Error::Malformed(
            "the unsigned transaction has trailing bytes".into(),
        ));
    }
    if encode_unsigned(&tx) != unsigned_tx {
        return Err(Error::Malformed(
            "the unsigned transaction is not canonically encoded".into(),
        ));
    }
    Ok(tx)
}

/// A signed EIP-1559 transaction, decoded.
#[derive(Debug, Clone)]
pub struct DecodedSigned {
    /// The transaction without its signature.
    pub tx: TxEip1559,
    /// The signature it carries.
    pub signature: Signature,
    /// keccak256 of the raw signed bytes: the transaction hash on chain.
    pub tx_hash: [u8; 32],
}

/// Decodes a raw signed EIP-1559 transaction (`0x02 ‖ rlp(fields ‖ y_parity, r, s)`),
/// strictly, like [`decode_unsigned`].
pub fn decode_signed(raw: &[u8]) -> Result<DecodedSigned> {
    let mut rest = raw;
    let signed = TxEip1559::eip2718_decode(&mut rest).map_err(|e| {
        Error::Malformed(format!(
            "the signed transaction is not a valid EIP-1559 transaction: {e}"
        ))
    })?;
    if !rest.is_empty() {
        return Err(Error::Malformed(
            "the signed transaction has trailing bytes".into(),
        ));
    }
    let (tx, signature, _) = signed.into_parts();
    let mut again = Vec::with_capacity(raw.len());
    tx.eip2718_encode(&signature, &mut again);
    if again != raw {
        return Err(Error::Malformed(
            "the signed transaction is not canonically encoded".into(),
        ));
    }
    Ok(DecodedSigned {
        tx,
        signature,
        tx_hash: keccak256(raw).0,
    })
}

/// Encodes a signed EIP-1559 transaction for broadcast (`eth_sendRawTransaction`).
pub fn encode_signed(tx: &TxEip1559, signature: &Signature) -> Vec<u8> {
    let mut out = Vec::with_capacity(tx.eip2718_encoded_length(signature));
    tx.eip2718_encode(signature, &mut out);
    out
}

/// ERC-20 `transfer(recipient, amount)` calldata.
pub fn encode_erc20_transfer(recipient: &EthAddress, amount: &Amount) -> Vec<u8> {
    let mut out = Vec::with_capacity(ERC20_TRANSFER_LEN);
    out.extend_from_slice(&ERC20_TRANSFER_SELECTOR);
    out.extend_from_slice(&[0u8; 12]);
    out.extend_from_slice(&recipient.0);
    out.extend_from_slice(&amount.0.to_be_bytes::<32>());
    out
}

/// Decodes ERC-20 `transfer(address,uint256)` calldata strictly: exactly 68 bytes, the
/// `transfer` selector, and a correctly zero-padded address word (dirty high bytes are
/// refused, since tokens disagree on whether they ignore them).
pub fn decode_erc20_transfer(data: &[u8]) -> Result<(EthAddress, Amount)> {
    let refuse = |why: &str| Error::UnsupportedTransaction(format!("calldata {why}"));
    if data.len() != ERC20_TRANSFER_LEN {
        return Err(refuse(
            "is not an ERC-20 transfer(address,uint256) call (wrong length)",
        ));
    }
    let (selector, rest) = data.split_at(4);
    if selector != ERC20_TRANSFER_SELECTOR {
        return Err(refuse(
            "calls a function other than ERC-20 transfer(address,uint256)",
        ));
    }
    let (address_word, amount_word) = rest.split_at(32);
    let (padding, address) = address_word.split_at(12);
    if padding.iter().any(|b| *b != 0) {
        return Err(refuse("has a non-zero-padded recipient address"));
    }
    let recipient =
        Address::try_from(address).map_err(|_| refuse("has an unreadable recipient address"))?;
    let amount =
        U256::try_from_be_slice(amount_word).ok_or_else(|| refuse("has an unreadable amount"))?;
    Ok((EthAddress::from(recipient), Amount(amount)))
}

/// The Ethereum address of a secp256k1 public key (SEC1, compressed or not).
pub fn address_of_secp256k1(public_key_sec1: &[u8]) -> Result<EthAddress> {
    let key = k256::ecdsa::VerifyingKey::from_sec1_bytes(public_key_sec1)
        .map_err(|_| Error::Malformed("the public key is not a valid secp256k1 point".into()))?;
    Ok(EthAddress::from(Address::from_public_key(&key)))
}
