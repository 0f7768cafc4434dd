//! Connecting, token metadata, balances at one block, nonces, fees and gas estimates.

use chain::{Chain, Error, TokenAddress};
use contracts::Amount;

use crate::common::{
    block_hash_at, dev_address, env, erc20, eth, fresh_address, signed_transfer, until_mined,
    SUPPLY,
};

#[tokio::test]
async fn connect_checks_the_chain_id_and_the_url() {
    let env = env().await;
    assert_eq!(env.chain.chain_id(), 31337);
    let wrong = Chain::connect(&env.anvil.url(), 1).await.unwrap_err();
    assert!(
        matches!(
            wrong,
            Error::WrongChain {
                expected: 1,
                found: 31337
            }
        ),
        "{wrong}"
    );
    for bad in ["ftp://127.0.0.1:1", "not a url", ""] {
        assert!(
            matches!(Chain::connect(bad, 1).await, Err(Error::BadUrl)),
            "{bad}"
        );
    }
    // Nobody listens on port 1: a transport error, and the URL is not in it.
    let down = Chain::connect("http://127.0.0.1:1/secret-key", 1)
        .await
        .unwrap_err();
    assert!(matches!(down, Error::Transport { .. }), "{down}");
    assert!(!down.to_string().contains("secret-key"), "{down}");
}

#[tokio::test]
async fn token_info_reads_symbol_and_decimals() {
    let env = env().await;
    let info = env.chain.token_info(env.token).await.unwrap();
    assert_eq!(info.symbol, "TST");
    assert_eq!(info.decimals, 6);
    // An account without code is not a token.
    let not_a_token = env
        .chain
        .token_info(TokenAddress(fresh_address(7)))
        .await
        .unwrap_err();
    assert!(
        matches!(not_a_token, Error::NotAToken { .. }),
        "{not_a_token}"
    );
}

#[tokio::test]
async fn balances_are_read_at_one_named_block() {
    let env = env().await;
    let owner = dev_address(0);
    let before = env.chain.balances(owner, &[env.token]).await.unwrap();
    assert_eq!(before.block, env.chain.head().await.unwrap());
    assert_eq!(
        format!("{:#x}", before.block.hash),
        block_hash_at(&env.anvil, before.block.number)
    );
    assert_eq!(before.tokens.len(), 1);
    assert_eq!(before.tokens[0].token, env.token);
    assert_eq!(before.tokens[0].amount, Amount::from(SUPPLY));
    assert!(before.eth > Amount::default());

    // Move ether and tokens; a new read is at a later block and shows both changes.
    let payee = fresh_address(9);
    let raw = signed_transfer(
        &env.chain,
        0,
        &erc20(env.token, payee, 1_500_000),
        None,
        31337,
    )
    .await;
    let hash = env.chain.send_raw(&raw).await.unwrap();
    until_mined(&env.chain, hash, 1).await;
    let raw = signed_transfer(&env.chain, 0, &eth(payee, 42), None, 31337).await;
    let hash = env.chain.send_raw(&raw).await.unwrap();
    until_mined(&env.chain, hash, 1).await;
    let after = env
        .chain
        .balances(payee, &[env.token, env.token])
        .await
        .unwrap();
    assert_eq!(after.block.number, before.block.number + 2);
    assert_eq!(after.eth, Amount::from(42u128));
    assert_eq!(after.tokens[0].amount, Amount::from(1_500_000u128));
    assert_eq!(
        after.tokens[1], after.tokens[0],
        "tokens come back in the order asked"
    );
    let owner_after = env.chain.balances(owner, &[env.token]).await.unwrap();
    assert_eq!(
        owner_after.tokens[0].amount,
        Amount::from(SUPPLY - 1_500_000)
    );

    // A balance query naming a non-token fails rather than reporting zero.
    let bad = env
        .chain
        .balances(owner, &[TokenAddress(fresh_address(3))])
        .await
        .unwrap_err();
    assert!(matches!(bad, Error::NotAToken { .. }), "{bad}");
}

#[tokio::test]
async fn nonce_fees_and_gas_estimates() {
    let env = env().await;
    let sender = dev_address(0);
    // The deployment used nonce 0.
    assert_eq!(env.chain.next_nonce(sender).await.unwrap(), 1);
    assert_eq!(env.chain.next_nonce(fresh_address(5)).await.unwrap(), 0);

    // With mining paused, a sent transaction counts in the pending nonce.
    env.anvil.set_automine(false).unwrap();
    let raw = signed_transfer(&env.chain, 0, &eth(fresh_address(5), 1), None, 31337).await;
    env.chain.send_raw(&raw).await.unwrap();
    assert_eq!(env.chain.next_nonce(sender).await.unwrap(), 2);

    let fees = env.chain.fees().await.unwrap();
    assert!(fees.max_priority_fee_per_gas > 0);
    assert!(fees.max_fee_per_gas >= fees.max_priority_fee_per_gas);

    let eth_gas = env
        .chain
        .estimate_gas(sender, &eth(fresh_address(5), 1))
        .await
        .unwrap();
    assert_eq!(eth_gas, 21_000);
    let token_gas = env
        .chain
        .estimate_gas(sender, &erc20(env.token, fresh_address(5), 1))
        .await
        .unwrap();
    assert!(token_gas > 21_000 && token_gas < 100_000, "{token_gas}");
    // A token transfer above the balance would revert: the estimate says so.
    let revert = env
        .chain
        .estimate_gas(fresh_address(5), &erc20(env.token, sender, 1))
        .await
        .unwrap_err();
    assert!(matches!(revert, Error::Node { .. }), "{revert}");
}
