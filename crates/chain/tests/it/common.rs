//! Shared set-up: an anvil, a connected `Chain`, a deployed TestToken, and signing with a dev
//! key the way the offline zone will (EIP-1559 fields from `contracts`, hash signed, encoded).

use alloy_signer::SignerSync;
use alloy_signer_local::PrivateKeySigner;
use std::time::Duration;

use chain::{Chain, TokenAddress, TransferCall, TxHash, TxStatus};
use contracts::eth::Eip1559Fields;
use contracts::{Amount, EthAddress};
use testkit::anvil::Anvil;

/// One million tokens with 6 decimals.
pub const SUPPLY: u128 = 1_000_000 * 1_000_000;

/// A node, a connection to it and a token owned by dev account 0.
pub struct Env {
    pub anvil: Anvil,
    pub chain: Chain,
    pub token: TokenAddress,
}

pub async fn env() -> Env {
    let anvil = Anvil::start().unwrap();
    let chain = Chain::connect(&anvil.url(), anvil.chain_id())
        .await
        .unwrap();
    let token = chain::test_token::deploy(&chain, dev_address(0), "TST", 6, Amount::from(SUPPLY))
        .await
        .unwrap();
    Env {
        anvil,
        chain,
        token,
    }
}

/// TEST ONLY: anvil's dev key `index` as a signer.
pub fn dev_signer(index: usize) -> PrivateKeySigner {
    testkit::anvil::TEST_ONLY_DEV_KEYS[index].parse().unwrap()
}

pub fn dev_address(index: usize) -> EthAddress {
    EthAddress::parse(testkit::anvil::TEST_ONLY_DEV_ADDRESSES[index]).unwrap()
}

/// A fresh address nobody holds funds at.
pub fn fresh_address(seed: u8) -> EthAddress {
    EthAddress([seed; 20])
}

/// Builds (nonce, fees, gas from the node unless `gas_limit` is given) and signs a transfer
/// from dev account `from`; returns the raw signed transaction.
pub async fn signed_transfer(
    chain: &Chain,
    from: usize,
    call: &TransferCall,
    gas_limit: Option<u64>,
    chain_id: u64,
) -> Vec<u8> {
    let signer = dev_signer(from);
    let sender = EthAddress::from(signer.address());
    assert_eq!(sender, dev_address(from));
    let fees = chain.fees().await.unwrap();
    let gas_limit = match gas_limit {
        Some(gas) => gas,
        None => chain.estimate_gas(sender, call).await.unwrap(),
    };
    let (to, value, data) = match call {
        TransferCall::Eth { to, value } => (*to, *value, Vec::new()),
        TransferCall::Erc20 { token, to, amount } => (
            token.0,
            Amount::default(),
            contracts::eth::encode_erc20_transfer(to, amount),
        ),
    };
    let fields = Eip1559Fields {
        chain_id,
        nonce: chain.next_nonce(sender).await.unwrap(),
        max_priority_fee_per_gas: Amount::from(fees.max_priority_fee_per_gas),
        max_fee_per_gas: Amount::from(fees.max_fee_per_gas),
        gas_limit,
        to,
        value,
        data,
    };
    let unsigned = fields.encode_unsigned().unwrap();
    let hash = contracts::eth::signing_hash(&unsigned);
    let signature = signer.sign_hash_sync(&hash.into()).unwrap();
    contracts::eth::encode_signed(&fields.to_alloy().unwrap(), &signature)
}

pub fn eth(to: EthAddress, wei: u128) -> TransferCall {
    TransferCall::Eth {
        to,
        value: Amount::from(wei),
    }
}

pub fn erc20(token: TokenAddress, to: EthAddress, amount: u128) -> TransferCall {
    TransferCall::Erc20 {
        token,
        to,
        amount: Amount::from(amount),
    }
}

/// The block hash anvil reports at `number`, straight from JSON-RPC (not through the adapter).
pub fn block_hash_at(anvil: &Anvil, number: u64) -> String {
    anvil
        .rpc(
            "eth_getBlockByNumber",
            serde_json::json!([format!("{number:#x}"), false]),
        )
        .unwrap()["hash"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// Waits until `hash` is out of the pool. anvil's auto-mining answers the send before the
/// block is mined, like a real network would, so a test asks again for a moment.
pub async fn until_mined(chain: &Chain, hash: TxHash, confirmations: u64) -> TxStatus {
    for _ in 0..400 {
        match chain.status(hash, confirmations, None).await.unwrap() {
            TxStatus::Pending => tokio::time::sleep(Duration::from_millis(25)).await,
            other => return other,
        }
    }
    panic!("{hash} still pending after 10 s");
}
