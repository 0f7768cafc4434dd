//! `send_raw`: idempotent broadcast, chain check, refusals.

use alloy_primitives::U256;
use chain::{Error, Rejection, TxStatus};
use contracts::Amount;

use crate::common::{dev_address, env, erc20, eth, fresh_address, signed_transfer, until_mined};

#[tokio::test]
async fn sending_twice_is_one_transaction() {
    let env = env().await;
    let sender = dev_address(1);
    let payee = fresh_address(11);
    // Mining paused, so the second send meets the transaction in the pool.
    env.anvil.set_automine(false).unwrap();
    let nonce = env.chain.next_nonce(sender).await.unwrap();
    let raw = signed_transfer(&env.chain, 1, &eth(payee, 1_000), None, 31337).await;
    let first = env.chain.send_raw(&raw).await.unwrap();
    let second = env.chain.send_raw(&raw).await.unwrap();
    assert_eq!(first, second);
    assert_eq!(
        format!("{first:#x}"),
        format!(
            "0x{}",
            hex::encode(contracts::eth::decode_signed(&raw).unwrap().tx_hash)
        )
    );
    let pool = env
        .anvil
        .rpc("txpool_content", serde_json::json!([]))
        .unwrap();
    let pending = pool["pending"].as_object().unwrap();
    let from_sender: usize = pending
        .iter()
        .filter(|(k, _)| k.eq_ignore_ascii_case(&sender.to_checksum()))
        .map(|(_, txs)| txs.as_object().unwrap().len())
        .sum();
    assert_eq!(from_sender, 1, "{pool}");

    // Mined, then sent a third time: still the same single transaction.
    env.anvil.mine(1).unwrap();
    assert_eq!(env.chain.send_raw(&raw).await.unwrap(), first);
    env.anvil.mine(1).unwrap();
    assert_eq!(env.chain.next_nonce(sender).await.unwrap(), nonce + 1);
    let balances = env.chain.balances(payee, &[]).await.unwrap();
    assert_eq!(balances.eth, Amount::from(1_000u128));
    assert!(matches!(
        env.chain.status(first, 2, None).await.unwrap(),
        TxStatus::Confirmed(_)
    ));
}

#[tokio::test]
async fn balances_change_by_the_amount_and_the_fee() {
    let env = env().await;
    let sender = dev_address(0);
    let payee = fresh_address(12);
    let before = env.chain.balances(sender, &[env.token]).await.unwrap();

    let raw = signed_transfer(&env.chain, 0, &eth(payee, 5_000), None, 31337).await;
    let eth_tx = env.chain.send_raw(&raw).await.unwrap();
    let raw = signed_transfer(&env.chain, 0, &erc20(env.token, payee, 777), None, 31337).await;
    let token_tx = env.chain.send_raw(&raw).await.unwrap();

    let mut fees = U256::ZERO;
    for tx in [eth_tx, token_tx] {
        match until_mined(&env.chain, tx, 1).await {
            TxStatus::Confirmed(inclusion) => fees += inclusion.fee_wei(),
            other => panic!("{tx}: {other:?}"),
        }
    }
    let after = env.chain.balances(sender, &[env.token]).await.unwrap();
    assert_eq!(after.eth.0, before.eth.0 - U256::from(5_000) - fees);
    assert_eq!(
        after.tokens[0].amount.0,
        before.tokens[0].amount.0 - U256::from(777)
    );
    let payee_now = env.chain.balances(payee, &[env.token]).await.unwrap();
    assert_eq!(payee_now.eth, Amount::from(5_000u128));
    assert_eq!(payee_now.tokens[0].amount, Amount::from(777u128));
}

#[tokio::test]
async fn a_transaction_for_another_chain_is_not_sent() {
    let env = env().await;
    let sender = dev_address(2);
    let nonce = env.chain.next_nonce(sender).await.unwrap();
    let raw = signed_transfer(&env.chain, 2, &eth(fresh_address(13), 1), Some(21_000), 1).await;
    let refused = env.chain.send_raw(&raw).await.unwrap_err();
    assert!(
        matches!(
            refused,
            Error::TxWrongChain {
                expected: 31337,
                found: 1
            }
        ),
        "{refused}"
    );
    assert_eq!(env.chain.next_nonce(sender).await.unwrap(), nonce);

    // Bytes that are not a signed EIP-1559 transaction are refused before anything is sent.
    let garbage = env.chain.send_raw(&[0x02, 0xc0]).await.unwrap_err();
    assert!(matches!(garbage, Error::Transaction(_)), "{garbage}");
}

#[tokio::test]
async fn a_different_transaction_with_a_used_nonce_is_refused() {
    let env = env().await;
    let first = signed_transfer(&env.chain, 3, &eth(fresh_address(14), 1), None, 31337).await;
    let hash = env.chain.send_raw(&first).await.unwrap();
    until_mined(&env.chain, hash, 1).await;
    // Same sender and nonce as `first` (signed before it was mined), another payee.
    env.anvil.set_automine(false).unwrap();
    let nonce = env.chain.next_nonce(dev_address(3)).await.unwrap();
    let second = signed_transfer(&env.chain, 3, &eth(fresh_address(15), 2), None, 31337).await;
    let third = signed_transfer(&env.chain, 3, &eth(fresh_address(16), 3), None, 31337).await;
    env.chain.send_raw(&second).await.unwrap();
    env.anvil.mine(1).unwrap();
    assert_eq!(
        env.chain.next_nonce(dev_address(3)).await.unwrap(),
        nonce + 1
    );
    let refused = env.chain.send_raw(&third).await.unwrap_err();
    assert!(
        matches!(
            refused,
            Error::Rejected {
                reason: Rejection::NonceTooLow,
                ..
            }
        ),
        "{refused}"
    );
}
