//! `status`: confirmations, reverts, dropped transactions and reorgs.

use chain::{BlockRef, TxStatus};

use crate::common::{dev_address, env, erc20, eth, fresh_address, signed_transfer, until_mined};

#[tokio::test]
async fn a_transfer_goes_from_pending_to_confirmed() {
    let env = env().await;
    env.anvil.set_automine(false).unwrap();
    let raw = signed_transfer(&env.chain, 4, &eth(fresh_address(21), 10), None, 31337).await;
    let hash = env.chain.send_raw(&raw).await.unwrap();
    assert_eq!(
        env.chain.status(hash, 3, None).await.unwrap(),
        TxStatus::Pending
    );

    env.anvil.mine(1).unwrap();
    let TxStatus::Included(first) = env.chain.status(hash, 3, None).await.unwrap() else {
        panic!("not included after one block");
    };
    assert_eq!(first.confirmations, 1);
    assert_eq!(first.gas_used, 21_000);
    assert_eq!(first.block, env.chain.head().await.unwrap());

    env.anvil.mine(1).unwrap();
    let TxStatus::Included(second) = env.chain.status(hash, 3, Some(first.block)).await.unwrap()
    else {
        panic!("not included after two blocks");
    };
    assert_eq!(second.confirmations, 2);
    assert_eq!(second.block, first.block);

    env.anvil.mine(1).unwrap();
    let TxStatus::Confirmed(third) = env.chain.status(hash, 3, Some(first.block)).await.unwrap()
    else {
        panic!("not confirmed after three blocks");
    };
    assert_eq!(third.confirmations, 3);
    assert_eq!(third.block, first.block);
}

#[tokio::test]
async fn a_reverted_transfer_is_failed() {
    let env = env().await;
    // Dev account 5 holds no tokens: the transfer reverts. The gas limit is given because the
    // node would refuse to estimate a reverting call.
    let raw = signed_transfer(
        &env.chain,
        5,
        &erc20(env.token, dev_address(0), 1),
        Some(100_000),
        31337,
    )
    .await;
    let hash = env.chain.send_raw(&raw).await.unwrap();
    let status = until_mined(&env.chain, hash, 1).await;
    let TxStatus::Failed(inclusion) = status else {
        panic!("a reverted transfer is reported as {status:?}");
    };
    assert_eq!(inclusion.confirmations, 1);
    assert!(
        inclusion.gas_used > 21_000 && inclusion.gas_used < 100_000,
        "{inclusion:?}"
    );
    env.anvil.mine(5).unwrap();
    let TxStatus::Failed(later) = env.chain.status(hash, 1, None).await.unwrap() else {
        panic!("a failure does not stay failed");
    };
    assert_eq!(later.confirmations, 6);
}

#[tokio::test]
async fn a_dropped_transaction_is_dropped() {
    let env = env().await;
    env.anvil.set_automine(false).unwrap();
    let raw = signed_transfer(&env.chain, 6, &eth(fresh_address(22), 1), None, 31337).await;
    let hash = env.chain.send_raw(&raw).await.unwrap();
    assert_eq!(
        env.chain.status(hash, 1, None).await.unwrap(),
        TxStatus::Pending
    );
    env.anvil.drop_transaction(&format!("{hash:#x}")).unwrap();
    env.anvil.mine(1).unwrap();
    assert_eq!(
        env.chain.status(hash, 1, None).await.unwrap(),
        TxStatus::Dropped
    );
    // A hash nobody ever sent is dropped too.
    assert_eq!(
        env.chain
            .status(chain::TxHash::repeat_byte(0xab), 1, None)
            .await
            .unwrap(),
        TxStatus::Dropped
    );
}

#[tokio::test]
async fn a_reorg_is_detected() {
    let env = env().await;
    let raw = signed_transfer(&env.chain, 7, &eth(fresh_address(23), 1), None, 31337).await;
    let hash = env.chain.send_raw(&raw).await.unwrap();
    until_mined(&env.chain, hash, 1).await;
    env.anvil.mine(1).unwrap();
    let TxStatus::Included(seen) = env.chain.status(hash, 12, None).await.unwrap() else {
        panic!("not included");
    };
    assert_eq!(seen.confirmations, 2);

    // Replace the block the transfer is in and the one on top of it.
    env.anvil.reorg(2).unwrap();
    let head = env.chain.head().await.unwrap();
    assert_eq!(
        head.number,
        seen.block.number + 1,
        "a reorg keeps the height"
    );
    let status = env.chain.status(hash, 12, Some(seen.block)).await.unwrap();
    assert_eq!(
        status,
        TxStatus::Reorged {
            previous: seen.block
        }
    );
    // anvil's reorg leaves the replaced transactions out of the new blocks and out of the
    // pool, so without the old inclusion the transaction is dropped. Sending the same signed
    // bytes again (what the chain worker does) puts it into a new block.
    assert_eq!(
        env.chain.status(hash, 12, None).await.unwrap(),
        TxStatus::Dropped
    );
    assert_eq!(env.chain.send_raw(&raw).await.unwrap(), hash);
    let TxStatus::Included(again) = until_mined(&env.chain, hash, 12).await else {
        panic!("the re-sent transaction is not included");
    };
    assert_ne!(again.block, seen.block);
    assert_eq!(again.block.number, head.number + 1);

    // A block that was never canonical at its height is reported the same way.
    let made_up = BlockRef {
        number: seen.block.number,
        hash: chain::BlockHash::repeat_byte(1),
    };
    assert_eq!(
        env.chain.status(hash, 12, Some(made_up)).await.unwrap(),
        TxStatus::Reorged { previous: made_up }
    );
}
