//! `TestToken`, a plain ERC-20 for development and tests (never for production): its
//! Solidity source, compiled bytecode and ABI live in `crates/chain/solidity/` (rebuilt with
//! `solidity/build.sh`, a pinned solc), and [`deploy`] puts one on a development node such as
//! anvil. The constructor mints the whole supply to the deployer.

use std::time::Duration;

use alloy_primitives::{Address, Bytes, U256};
use alloy_provider::Provider;
use alloy_rpc_types_eth::TransactionRequest;
use alloy_sol_types::{sol, SolConstructor};
use contracts::{Amount, EthAddress};

use crate::{Chain, Error, Result, TokenAddress};

/// The creation bytecode, hex without `0x` (as solc writes it, with a trailing newline).
pub const BYTECODE: &str = include_str!("../solidity/TestToken.bin");
/// The ABI, JSON.
pub const ABI_JSON: &str = include_str!("../solidity/TestToken.abi.json");
/// How long [`deploy`] waits for the deployment to be mined.
const DEPLOY_TIMEOUT: Duration = Duration::from_secs(60);

sol! {
    #[allow(missing_docs)]
    contract TestToken {
        constructor(string symbol_, uint8 decimals_, uint256 supply_);
    }
}

/// The creation bytecode, decoded.
pub fn bytecode() -> Result<Vec<u8>> {
    hex::decode(BYTECODE.trim())
        .map_err(|e| Error::Inconsistent(format!("the committed TestToken.bin is not hex: {e}")))
}

/// The data of a contract-creation transaction that deploys a `TestToken` with this symbol,
/// decimals and supply (base units, minted to the sender).
pub fn creation_code(symbol: &str, decimals: u8, supply: Amount) -> Result<Vec<u8>> {
    let mut code = bytecode()?;
    let args = TestToken::constructorCall {
        symbol_: symbol.to_owned(),
        decimals_: decimals,
        supply_: supply.0,
    };
    code.extend_from_slice(&args.abi_encode());
    Ok(code)
}

/// Deploys a `TestToken` from `from`, an account the node holds unlocked (a development node's
/// pre-funded accounts; the node signs, so this works on development nodes only), waits until
/// it is mined, and returns the token's address.
pub async fn deploy(
    chain: &Chain,
    from: EthAddress,
    symbol: &str,
    decimals: u8,
    supply: Amount,
) -> Result<TokenAddress> {
    let request = TransactionRequest::default()
        .from(Address::from(from))
        .input(Bytes::from(creation_code(symbol, decimals, supply)?).into())
        .value(U256::ZERO);
    let request = TransactionRequest {
        to: Some(alloy_primitives::TxKind::Create),
        ..request
    };
    let pending = chain
        .provider
        .send_transaction(request)
        .await
        .map_err(|e| chain.rpc_error("eth_sendTransaction", e))?;
    let receipt = pending
        .with_timeout(Some(DEPLOY_TIMEOUT))
        .get_receipt()
        .await
        .map_err(|e| chain.text_error("eth_getTransactionReceipt", &e.to_string()))?;
    if !receipt.status() {
        return Err(Error::Inconsistent(
            "the TestToken deployment reverted".into(),
        ));
    }
    let address = receipt.contract_address.ok_or_else(|| {
        Error::Inconsistent("the TestToken deployment receipt names no contract".into())
    })?;
    Ok(TokenAddress(EthAddress::from(address)))
}
