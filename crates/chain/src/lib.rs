//! The online zone's window on Ethereum: a small [`Chain`] adapter over alloy's JSON-RPC
//! provider. It reads what a transfer needs (balances of ether and ERC-20 tokens, all at one
//! block which it names; token symbols and decimals; the pending nonce; EIP-1559 fees and gas
//! estimates), broadcasts signed transactions idempotently (the same bytes sent twice are one
//! transaction, and nothing but the given bytes is ever sent), and follows a transaction to N
//! confirmations, noticing when it failed, was dropped, or when the block it was seen in left
//! the canonical chain (a reorg).
//!
//! It holds no key and signs nothing: signed transactions arrive from the offline zone. Types
//! that cross into the rest of the system are the wire crate's ([`contracts::EthAddress`],
//! [`contracts::Amount`]); the signed bytes are decoded with [`contracts::eth`] so the hash this
//! crate tracks is the one the offline zone signed.

mod erc20;
mod error;
pub mod test_token;

use std::sync::Arc;
use std::time::Duration;

use alloy_primitives::{Address, Bytes, TxKind, U256};
use alloy_provider::{Provider, ProviderBuilder, RootProvider};
use alloy_rpc_types_eth::{BlockId, BlockNumberOrTag, TransactionRequest};
use alloy_sol_types::SolCall;
use contracts::{Amount, EthAddress};

pub use alloy_primitives::{BlockHash, TxHash};
pub use error::{Error, Rejection, Result};

/// How long one JSON-RPC request may take before it fails (the caller retries).
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// How long connecting to the node may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// An ERC-20 token contract. A separate type from an account address so a token cannot be
/// passed where a payee is meant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TokenAddress(pub EthAddress);

impl From<EthAddress> for TokenAddress {
    fn from(value: EthAddress) -> Self {
        Self(value)
    }
}

impl std::fmt::Display for TokenAddress {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

/// A block on the chain: its height and its hash. The hash is what makes a read or an inclusion
/// checkable later, because after a reorg another block has the same height.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct BlockRef {
    /// Block height.
    pub number: u64,
    /// Block hash.
    pub hash: BlockHash,
}

/// One token's balance.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TokenBalance {
    /// The token contract.
    pub token: TokenAddress,
    /// The balance in the token's base units.
    pub amount: Amount,
}

/// An account's balances, all read at the same block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Balances {
    /// The block every balance was read at.
    pub block: BlockRef,
    /// Ether, in wei.
    pub eth: Amount,
    /// The requested tokens, in the order they were asked for.
    pub tokens: Vec<TokenBalance>,
}

/// What a token contract says about itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenInfo {
    /// `symbol()`, as the contract returns it (untrusted text: check it before showing it).
    pub symbol: String,
    /// `decimals()`.
    pub decimals: u8,
}

/// An EIP-1559 fee suggestion, wei per gas.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fees {
    /// `max_fee_per_gas`: enough for the base fee to rise for a few blocks, plus the tip.
    pub max_fee_per_gas: u128,
    /// `max_priority_fee_per_gas`: the tip.
    pub max_priority_fee_per_gas: u128,
}

/// A transfer to estimate gas for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TransferCall {
    /// Ether to `to`.
    Eth {
        /// The payee.
        to: EthAddress,
        /// Wei.
        value: Amount,
    },
    /// ERC-20 `transfer(to, amount)` on `token`.
    Erc20 {
        /// The token contract.
        token: TokenAddress,
        /// The payee.
        to: EthAddress,
        /// Base units of the token.
        amount: Amount,
    },
}

/// Where and how a transaction was included.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Inclusion {
    /// The block it is in.
    pub block: BlockRef,
    /// Blocks on top of it, counting its own: 1 right after inclusion.
    pub confirmations: u64,
    /// Gas it used.
    pub gas_used: u64,
    /// Wei per gas it paid (base fee + tip).
    pub effective_gas_price: u128,
}

impl Inclusion {
    /// The fee paid, wei: `gas_used × effective_gas_price`.
    pub fn fee_wei(&self) -> U256 {
        U256::from(self.gas_used).saturating_mul(U256::from(self.effective_gas_price))
    }
}

/// Where a transaction stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TxStatus {
    /// The node has it in its pool; not mined yet.
    Pending,
    /// Mined and successful, with fewer confirmations than asked for.
    Included(Inclusion),
    /// Mined and successful, with at least the confirmations asked for.
    Confirmed(Inclusion),
    /// Mined but reverted (receipt status 0): the fee is spent, the transfer did not happen.
    /// Carries the confirmations so the caller can wait for the failure to be final too.
    Failed(Inclusion),
    /// Neither mined nor known to the node: it was dropped from the pool (or never arrived).
    Dropped,
    /// The block the transaction was seen in is no longer canonical: another block has that
    /// height now. Ask again without the old inclusion to learn where the transaction stands.
    Reorged {
        /// The inclusion the caller had recorded.
        previous: BlockRef,
    },
}

/// A connection to one Ethereum JSON-RPC node, checked to serve the expected chain.
#[derive(Clone)]
pub struct Chain {
    provider: RootProvider,
    chain_id: u64,
    /// The URL as written, for removing it from error messages (it may carry an API key).
    url: Arc<str>,
}

impl std::fmt::Debug for Chain {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The URL may carry an API key, so it is not printed.
        f.debug_struct("Chain")
            .field("chain_id", &self.chain_id)
            .finish_non_exhaustive()
    }
}

impl Chain {
    /// Connects to the node at `rpc_url` (http or https) and checks that it serves
    /// `expected_chain_id`, so transactions for one chain are never sent to another.
    pub async fn connect(rpc_url: &str, expected_chain_id: u64) -> Result<Chain> {
        let url = reqwest::Url::parse(rpc_url).map_err(|_| Error::BadUrl)?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(Error::BadUrl);
        }
        let http = http_client()?;
        let provider: RootProvider = ProviderBuilder::default().connect_reqwest(http, url.clone());
        let chain = Chain {
            provider,
            chain_id: expected_chain_id,
            url: Arc::from(url.as_str()),
        };
        let found = chain
            .provider
            .get_chain_id()
            .await
            .map_err(|e| chain.rpc_error("eth_chainId", e))?;
        if found != expected_chain_id {
            return Err(Error::WrongChain {
                expected: expected_chain_id,
                found,
            });
        }
        Ok(chain)
    }

    /// The chain id the node was checked to serve.
    pub fn chain_id(&self) -> u64 {
        self.chain_id
    }

    /// The latest block.
    pub async fn head(&self) -> Result<BlockRef> {
        self.block_at(BlockNumberOrTag::Latest)
            .await?
            .ok_or_else(|| Error::Inconsistent("the node has no latest block".into()))
    }

    /// Ether and the given tokens' balances of `address`, all read at the latest block, which
    /// is returned with them. Every read names that block by hash, so the numbers belong
    /// together even if new blocks arrive meanwhile; if the block leaves the canonical chain
    /// during the reads, the node refuses and this fails (ask again).
    pub async fn balances(&self, address: EthAddress, tokens: &[TokenAddress]) -> Result<Balances> {
        let block = self.head().await?;
        let at = BlockId::hash_canonical(block.hash);
        let owner = Address::from(address);
        let eth = self
            .provider
            .get_balance(owner)
            .block_id(at)
            .await
            .map_err(|e| self.rpc_error("eth_getBalance", e))?;
        let mut balances = Vec::with_capacity(tokens.len());
        for token in tokens {
            let call = erc20::Erc20::balanceOfCall { owner };
            let data = self.call(*token, call.abi_encode(), at).await?;
            let amount = erc20::Erc20::balanceOfCall::abi_decode_returns_validate(&data)
                .map_err(|e| not_a_token(*token, &format!("balanceOf answered badly: {e}")))?;
            balances.push(TokenBalance {
                token: *token,
                amount: Amount(amount),
            });
        }
        Ok(Balances {
            block,
            eth: Amount(eth),
            tokens: balances,
        })
    }

    /// A token's `symbol()` and `decimals()`, read at the latest block.
    pub async fn token_info(&self, token: TokenAddress) -> Result<TokenInfo> {
        let at = BlockId::latest();
        let data = self
            .call(token, erc20::Erc20::symbolCall {}.abi_encode(), at)
            .await?;
        let symbol = erc20::decode_symbol(&data)
            .ok_or_else(|| not_a_token(token, "symbol() did not return a string"))?;
        let data = self
            .call(token, erc20::Erc20::decimalsCall {}.abi_encode(), at)
            .await?;
        let decimals = erc20::Erc20::decimalsCall::abi_decode_returns_validate(&data)
            .map_err(|_| not_a_token(token, "decimals() did not return a uint8"))?;
        Ok(TokenInfo { symbol, decimals })
    }

    /// The nonce the next transaction from `address` must carry, counting transactions still
    /// in the node's pool (`eth_getTransactionCount(address, "pending")`).
    pub async fn next_nonce(&self, address: EthAddress) -> Result<u64> {
        self.provider
            .get_transaction_count(Address::from(address))
            .pending()
            .await
            .map_err(|e| self.rpc_error("eth_getTransactionCount", e))
    }

    /// An EIP-1559 fee suggestion from the recent fee history (alloy's default estimator).
    pub async fn fees(&self) -> Result<Fees> {
        let estimate = self
            .provider
            .estimate_eip1559_fees()
            .await
            .map_err(|e| self.rpc_error("eth_feeHistory", e))?;
        Ok(Fees {
            max_fee_per_gas: estimate.max_fee_per_gas,
            max_priority_fee_per_gas: estimate.max_priority_fee_per_gas,
        })
    }

    /// The gas `from` would use for `call` now (`eth_estimateGas` on the pending state). Fails
    /// with [`Error::Node`] when the call would revert, e.g. a token transfer above the
    /// balance. The ERC-20 calldata is the exact calldata [`contracts::eth`] puts in the
    /// transaction.
    pub async fn estimate_gas(&self, from: EthAddress, call: &TransferCall) -> Result<u64> {
        let (to, value, data) = match call {
            TransferCall::Eth { to, value } => (*to, value.0, Vec::new()),
            TransferCall::Erc20 { token, to, amount } => (
                token.0,
                U256::ZERO,
                contracts::eth::encode_erc20_transfer(to, amount),
            ),
        };
        let request = TransactionRequest::default()
            .from(Address::from(from))
            .to(Address::from(to))
            .value(value)
            .input(Bytes::from(data).into());
        self.provider
            .estimate_gas(request)
            .pending()
            .await
            .map_err(|e| self.rpc_error("eth_estimateGas", e))
    }

    /// Broadcasts a signed EIP-1559 transaction and returns its hash. Idempotent: if the node
    /// already knows the transaction (pending or mined), nothing is sent and the hash is
    /// returned; if the node refuses the bytes but then turns out to know the transaction
    /// ("already known", or it was mined meanwhile), that is success too. Only these exact
    /// bytes are ever sent. Fails with [`Error::TxWrongChain`] before sending anything if the
    /// transaction is for another chain.
    pub async fn send_raw(&self, signed_tx: &[u8]) -> Result<TxHash> {
        let decoded = contracts::eth::decode_signed(signed_tx)?;
        if decoded.tx.chain_id != self.chain_id {
            return Err(Error::TxWrongChain {
                expected: self.chain_id,
                found: decoded.tx.chain_id,
            });
        }
        let hash = TxHash::from(decoded.tx_hash);
        if self.is_known(hash).await? {
            tracing::debug!(%hash, "the node already knows the transaction; not sending it again");
            return Ok(hash);
        }
        match self.provider.send_raw_transaction(signed_tx).await {
            Ok(pending) => {
                let answered = *pending.tx_hash();
                if answered != hash {
                    return Err(Error::Inconsistent(format!(
                        "the node named the transaction {answered}, its hash is {hash}"
                    )));
                }
                Ok(hash)
            }
            Err(e) => {
                let error = self.rpc_error("eth_sendRawTransaction", e);
                // "already known", or mined between the check above and the send: the
                // transaction is on its way, which is all the caller asked for.
                if self.is_known(hash).await? {
                    tracing::debug!(%hash, "the node refused a transaction it already knows");
                    return Ok(hash);
                }
                Err(error.into_send_rejection())
            }
        }
    }

    /// Where transaction `tx_hash` stands, counting it final at `confirmations` blocks
    /// (1 = mined). `seen` is the inclusion recorded earlier, if any: when the canonical block
    /// at that height now has another hash, the answer is [`TxStatus::Reorged`], whatever
    /// happened to the transaction since.
    pub async fn status(
        &self,
        tx_hash: TxHash,
        confirmations: u64,
        seen: Option<BlockRef>,
    ) -> Result<TxStatus> {
        if let Some(previous) = seen {
            let canonical = self
                .block_at(BlockNumberOrTag::Number(previous.number))
                .await?;
            if canonical.map(|b| b.hash) != Some(previous.hash) {
                return Ok(TxStatus::Reorged { previous });
            }
        }
        let receipt = self
            .provider
            .get_transaction_receipt(tx_hash)
            .await
            .map_err(|e| self.rpc_error("eth_getTransactionReceipt", e))?;
        let Some(receipt) = receipt else {
            return Ok(if self.is_known(tx_hash).await? {
                TxStatus::Pending
            } else {
                TxStatus::Dropped
            });
        };
        let (Some(number), Some(hash)) = (receipt.block_number, receipt.block_hash) else {
            // A receipt without a block is a pending receipt some nodes return.
            return Ok(TxStatus::Pending);
        };
        let block = BlockRef { number, hash };
        // A receipt from a block that is no longer canonical is a node caught mid-reorg; the
        // caller asks again rather than record an inclusion that is already gone.
        let canonical = self.block_at(BlockNumberOrTag::Number(number)).await?;
        if canonical.map(|b| b.hash) != Some(hash) {
            return Err(Error::Inconsistent(format!(
                "the receipt of {tx_hash} names block {number} {hash}, which is not canonical"
            )));
        }
        let head = self
            .provider
            .get_block_number()
            .await
            .map_err(|e| self.rpc_error("eth_blockNumber", e))?;
        let inclusion = Inclusion {
            block,
            confirmations: head.saturating_sub(number).saturating_add(1),
            gas_used: receipt.gas_used,
            effective_gas_price: receipt.effective_gas_price,
        };
        Ok(if !receipt.status() {
            TxStatus::Failed(inclusion)
        } else if inclusion.confirmations >= confirmations {
            TxStatus::Confirmed(inclusion)
        } else {
            TxStatus::Included(inclusion)
        })
    }

    /// Whether the node knows the transaction (pending or mined).
    async fn is_known(&self, hash: TxHash) -> Result<bool> {
        let tx = self
            .provider
            .get_transaction_by_hash(hash)
            .await
            .map_err(|e| self.rpc_error("eth_getTransactionByHash", e))?;
        Ok(tx.is_some())
    }

    /// The block at `at`, if there is one.
    async fn block_at(&self, at: BlockNumberOrTag) -> Result<Option<BlockRef>> {
        let block = self
            .provider
            .get_block_by_number(at)
            .await
            .map_err(|e| self.rpc_error("eth_getBlockByNumber", e))?;
        Ok(block.map(|b| BlockRef {
            number: b.header.number,
            hash: b.header.hash,
        }))
    }

    /// `eth_call` of `data` on `token` at block `at`. A contract that answers nothing has no
    /// code there (or no such function).
    async fn call(&self, token: TokenAddress, data: Vec<u8>, at: BlockId) -> Result<Bytes> {
        let request = TransactionRequest {
            to: Some(TxKind::Call(Address::from(token.0))),
            input: Bytes::from(data).into(),
            ..Default::default()
        };
        let out = self
            .provider
            .call(request)
            .block(at)
            .await
            .map_err(|e| self.rpc_error("eth_call", e))?;
        if out.is_empty() {
            return Err(not_a_token(
                token,
                "the call returned nothing (no contract there?)",
            ));
        }
        Ok(out)
    }

    /// Maps a transport error, without the URL (it may carry an API key).
    fn rpc_error(
        &self,
        method: &'static str,
        error: alloy_provider::transport::TransportError,
    ) -> Error {
        error::from_rpc(method, error, &self.url)
    }

    /// A transport failure described by text, without the URL.
    fn text_error(&self, method: &'static str, text: &str) -> Error {
        Error::Transport {
            method,
            message: error::clean(text, &self.url),
        }
    }
}

fn not_a_token(token: TokenAddress, reason: &str) -> Error {
    Error::NotAToken {
        token: token.0,
        reason: reason.to_owned(),
    }
}

/// The HTTP client: rustls with ring and the Mozilla root store (webpki-roots), configured
/// here rather than through a process-wide default, with timeouts so a hung node fails a call
/// instead of stalling it.
fn http_client() -> Result<reqwest::Client> {
    let mut roots = rustls::RootCertStore::empty();
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    let tls = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(|e| Error::Client(e.to_string()))?
    .with_root_certificates(roots)
    .with_no_client_auth();
    reqwest::Client::builder()
        .tls_backend_preconfigured(tls)
        .timeout(REQUEST_TIMEOUT)
        .connect_timeout(CONNECT_TIMEOUT)
        .build()
        .map_err(|e| Error::Client(e.without_url().to_string()))
}
