//! The two kinds of work: broadcasting a SIGNED transfer and tracking a BROADCAST one.
//!
//! Every state change goes through an `online_db` operation, which writes the transfer, its
//! transaction-log record and any outbox event in one database transaction. The handlers decide
//! what to do from the transfer's stored status, so doing a piece of work twice (a redelivery,
//! a second worker, a restart after a crash) changes nothing the first time did not.

use std::sync::Arc;
use std::time::Duration;

use chain::{Chain, Inclusion, Rejection, TxHash, TxStatus};
use chrono::{DateTime, Utc};
use events::{Clock, Delivery, HandlerError};
use online_db::entity::transfers;
use online_db::{Confirmation, Db, TransferStatus};

use serde::Deserialize;

use crate::adapters::DbProcessed;
use crate::{Config, BROADCAST_CONSUMER, TRACK_CONSUMER};

/// The actor the worker's transaction-log records name.
pub const ACTOR: &str = "chain-worker";

/// A `broadcast` or `track` message, as `online_db` writes it to the outbox (other fields,
/// such as `event_id` and `at`, are ignored).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Work {
    /// The transfer to work on.
    pub transfer_id: String,
    /// Its transaction hash (0x-hex), checked against the stored one.
    #[serde(default)]
    pub tx_hash: Option<String>,
    /// The chain it is for.
    pub chain_id: i64,
}

impl Work {
    /// Decode a message body; a body that is not such a message can never be handled.
    pub fn parse(body: &[u8]) -> Result<Work, HandlerError> {
        serde_json::from_slice(body)
            .map_err(|e| HandlerError::permanent(format!("not a chain-worker message: {e}")))
    }
}

/// How a tracked transfer ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// It reached the confirmations asked for.
    Confirmed,
    /// It reverted, was refused, replaced or dropped too often.
    Failed,
}

/// The handlers and what they share.
pub struct Worker {
    db: Db,
    chain: Chain,
    processed: DbProcessed,
    clock: Arc<dyn Clock>,
    chain_id: u64,
    confirmations: u64,
    poll_interval: Duration,
    max_resends: u32,
}

impl std::fmt::Debug for Worker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Worker")
            .field("chain", &self.chain)
            .field("confirmations", &self.confirmations)
            .finish_non_exhaustive()
    }
}

fn retry(error: impl std::fmt::Display) -> HandlerError {
    HandlerError::retry(error)
}

fn block_hash_text(inclusion: &Inclusion) -> String {
    format!("{:#x}", inclusion.block.hash)
}

fn confirmation(inclusion: &Inclusion) -> Confirmation {
    Confirmation {
        block_number: inclusion.block.number,
        block_hash: block_hash_text(inclusion),
        confirmations: inclusion.confirmations,
    }
}

impl Worker {
    /// A worker over `db` and `chain`, tracking as `config` says.
    pub fn new(db: Db, chain: Chain, clock: Arc<dyn Clock>, config: &Config) -> Worker {
        Worker {
            processed: DbProcessed::new(db.clone(), clock.clone()),
            db,
            chain,
            clock,
            chain_id: config.chain_id,
            confirmations: config.confirmations.max(1),
            poll_interval: config.poll_interval,
            max_resends: config.max_resends,
        }
    }

    fn now(&self) -> DateTime<Utc> {
        DateTime::<Utc>::from(self.clock.now())
    }

    /// Handle one `broadcast` delivery.
    pub async fn on_broadcast(&self, delivery: Delivery) -> Result<(), HandlerError> {
        if self
            .processed
            .is_claimed(BROADCAST_CONSUMER, &delivery.message_id)
            .await?
        {
            return Ok(());
        }
        let work = Work::parse(&delivery.payload)?;
        self.broadcast(&work).await?;
        self.claim(BROADCAST_CONSUMER, &delivery).await
    }

    /// Handle one `track` delivery: returns when the transfer is final (or at shutdown, when
    /// the consumer drops this future and the broker redelivers the message later).
    pub async fn on_track(&self, delivery: Delivery) -> Result<(), HandlerError> {
        if self
            .processed
            .is_claimed(TRACK_CONSUMER, &delivery.message_id)
            .await?
        {
            return Ok(());
        }
        let work = Work::parse(&delivery.payload)?;
        self.track(&work).await?;
        self.claim(TRACK_CONSUMER, &delivery).await
    }

    /// Commit the claim of a handled message (its effect committed already).
    async fn claim(&self, consumer: &str, delivery: &Delivery) -> Result<(), HandlerError> {
        events::handle_once(
            &self.processed,
            consumer,
            delivery,
            async |_: &mut audit::Tx| Ok(()),
        )
        .await
        .map(drop)
    }

    /// The transfer a message names, checked against the message.
    async fn load(&self, work: &Work) -> Result<transfers::Model, HandlerError> {
        if u64::try_from(work.chain_id).ok() != Some(self.chain_id) {
            return Err(HandlerError::permanent(format!(
                "transfer {} is for chain {}, this worker serves chain {}",
                work.transfer_id, work.chain_id, self.chain_id
            )));
        }
        let transfer = self
            .db
            .transfer(&work.transfer_id)
            .await
            .map_err(retry)?
            .ok_or_else(|| {
                HandlerError::permanent(format!("transfer {} does not exist", work.transfer_id))
            })?;
        if let Some(hash) = &work.tx_hash {
            if transfer.tx_hash.as_deref() != Some(hash.as_str()) {
                return Err(HandlerError::permanent(format!(
                    "the message names transaction {hash}, transfer {} has {:?}",
                    transfer.id, transfer.tx_hash
                )));
            }
        }
        Ok(transfer)
    }

    /// Send a SIGNED transfer's transaction (unless the node has it already) and record it
    /// BROADCAST with its `track` event.
    pub async fn broadcast(&self, work: &Work) -> Result<(), HandlerError> {
        let transfer = self.load(work).await?;
        match transfer.status {
            TransferStatus::Signed => {}
            TransferStatus::Broadcast | TransferStatus::Confirmed | TransferStatus::Failed => {
                tracing::debug!(transfer = %transfer.id, status = %transfer.status, "broadcast before; nothing to do");
                return Ok(());
            }
            other => {
                return Err(HandlerError::permanent(format!(
                    "transfer {} is {other}; only SIGNED transfers are broadcast",
                    transfer.id
                )))
            }
        }
        let expected = stored_hash(&transfer)?;
        let signed = transfer.signed_tx.as_deref().ok_or_else(|| {
            HandlerError::permanent(format!(
                "SIGNED transfer {} has no signed transaction",
                transfer.id
            ))
        })?;
        match self.chain.send_raw(signed).await {
            Ok(hash) if hash == expected => {}
            Ok(hash) => {
                return Err(HandlerError::permanent(format!(
                    "the node names the transaction of transfer {} {hash}, stored is {expected}",
                    transfer.id
                )))
            }
            Err(chain::Error::Rejected { reason, message }) if is_final(reason) => {
                self.fail(
                    &transfer.id,
                    &format!("the node refused the transaction ({reason:?}): {message}"),
                )
                .await?;
                return Ok(());
            }
            Err(error) => return Err(retry(error)),
        }
        tracing::info!(transfer = %transfer.id, tx = %expected, "broadcast");
        match self
            .db
            .mark_broadcast(&transfer.id, ACTOR, self.now())
            .await
        {
            Ok(_) => Ok(()),
            // Another worker recorded it between our read and our write.
            Err(online_db::Error::IllegalTransition { .. }) => Ok(()),
            Err(error) => Err(retry(error)),
        }
    }

    /// Follow a BROADCAST transfer until it is final.
    pub async fn track(&self, work: &Work) -> Result<Outcome, HandlerError> {
        let mut resends: u32 = 0;
        // The block hash that left the canonical chain while the database still names it.
        let mut gone: Option<String> = None;
        loop {
            let transfer = self.load(work).await?;
            match transfer.status {
                TransferStatus::Broadcast => {}
                TransferStatus::Confirmed => return Ok(Outcome::Confirmed),
                TransferStatus::Failed => return Ok(Outcome::Failed),
                other => {
                    return Err(HandlerError::permanent(format!(
                        "transfer {} is {other}; only BROADCAST transfers are tracked",
                        transfer.id
                    )))
                }
            }
            let hash = stored_hash(&transfer)?;
            let seen = recorded_block(&transfer)?.filter(|_| gone != transfer.block_hash);
            match self.chain.status(hash, self.confirmations, seen).await {
                Err(error) => {
                    tracing::warn!(%error, transfer = %transfer.id, "cannot read the transaction's status; asking again");
                }
                Ok(TxStatus::Pending) => {}
                Ok(TxStatus::Included(inclusion)) => {
                    self.record_if_new(&transfer, &inclusion).await?;
                }
                Ok(TxStatus::Confirmed(inclusion)) => {
                    return match self
                        .db
                        .mark_confirmed(&transfer.id, confirmation(&inclusion), ACTOR, self.now())
                        .await
                    {
                        Ok(_) => {
                            tracing::info!(transfer = %transfer.id, tx = %hash, block = inclusion.block.number, "confirmed");
                            Ok(Outcome::Confirmed)
                        }
                        // Recorded final by another worker meanwhile; the next look says how.
                        Err(online_db::Error::IllegalTransition { .. }) => continue,
                        Err(error) => Err(retry(error)),
                    };
                }
                Ok(TxStatus::Failed(inclusion)) => {
                    if inclusion.confirmations >= self.confirmations {
                        self.fail(
                            &transfer.id,
                            &format!(
                                "the transaction reverted in block {} {}",
                                inclusion.block.number,
                                block_hash_text(&inclusion)
                            ),
                        )
                        .await?;
                        return Ok(Outcome::Failed);
                    }
                    // A revert that a reorg could still undo: wait until it is final too.
                    self.record_if_new(&transfer, &inclusion).await?;
                }
                Ok(TxStatus::Dropped) => {
                    if resends >= self.max_resends {
                        self.fail(
                            &transfer.id,
                            &format!("the transaction was dropped from the pool and re-sent {resends} times"),
                        )
                        .await?;
                        return Ok(Outcome::Failed);
                    }
                    resends = resends.saturating_add(1);
                    if let Some(outcome) = self.resend(&transfer, hash, resends).await? {
                        return Ok(outcome);
                    }
                }
                Ok(TxStatus::Reorged { previous }) => {
                    tracing::warn!(transfer = %transfer.id, tx = %hash, block = previous.number, "the block of the transaction left the canonical chain; tracking on");
                    gone = transfer.block_hash.clone();
                    // Look again at once, without the block that is gone.
                    continue;
                }
            }
            tokio::time::sleep(self.poll_interval).await;
        }
    }

    /// Send a dropped transaction's same signed bytes again. `Some` when the transfer ended.
    async fn resend(
        &self,
        transfer: &transfers::Model,
        hash: TxHash,
        attempt: u32,
    ) -> Result<Option<Outcome>, HandlerError> {
        let Some(signed) = transfer.signed_tx.as_deref() else {
            return Err(HandlerError::permanent(format!(
                "BROADCAST transfer {} has no signed transaction",
                transfer.id
            )));
        };
        tracing::warn!(transfer = %transfer.id, tx = %hash, attempt, "the transaction was dropped; sending the same bytes again");
        match self.chain.send_raw(signed).await {
            Ok(_) => Ok(None),
            Err(chain::Error::Rejected { reason, message }) if is_final(reason) => {
                // Typically the nonce was used by another transaction: this one was replaced.
                self.fail(
                    &transfer.id,
                    &format!(
                        "the dropped transaction cannot be sent again ({reason:?}): {message}"
                    ),
                )
                .await?;
                Ok(Some(Outcome::Failed))
            }
            Err(error) => {
                tracing::warn!(%error, transfer = %transfer.id, "re-sending failed; asking again");
                Ok(None)
            }
        }
    }

    /// Record where the transaction is, when that differs from what the database holds.
    async fn record_if_new(
        &self,
        transfer: &transfers::Model,
        inclusion: &Inclusion,
    ) -> Result<(), HandlerError> {
        if transfer.block_hash.as_deref() == Some(block_hash_text(inclusion).as_str()) {
            return Ok(());
        }
        match self
            .db
            .record_confirmation(&transfer.id, confirmation(inclusion), ACTOR, self.now())
            .await
        {
            Ok(_) => Ok(()),
            // No longer BROADCAST: someone else moved it on; the next look sees where.
            Err(online_db::Error::Conflict(_)) => Ok(()),
            Err(error) => Err(retry(error)),
        }
    }

    /// FAILED with `reason`, unless it is final already.
    async fn fail(&self, transfer_id: &str, reason: &str) -> Result<(), HandlerError> {
        tracing::warn!(transfer = %transfer_id, %reason, "transfer failed");
        match self
            .db
            .mark_failed(transfer_id, reason, ACTOR, self.now())
            .await
        {
            Ok(_) | Err(online_db::Error::IllegalTransition { .. }) => Ok(()),
            Err(error) => Err(retry(error)),
        }
    }
}

/// Refusals that sending again cannot cure: the nonce is taken or the account cannot pay.
fn is_final(reason: Rejection) -> bool {
    matches!(
        reason,
        Rejection::NonceTooLow | Rejection::InsufficientFunds
    )
}

fn stored_hash(transfer: &transfers::Model) -> Result<TxHash, HandlerError> {
    let text = transfer.tx_hash.as_deref().ok_or_else(|| {
        HandlerError::permanent(format!("transfer {} has no transaction hash", transfer.id))
    })?;
    text.parse().map_err(|_| {
        HandlerError::permanent(format!(
            "transfer {} has a malformed transaction hash",
            transfer.id
        ))
    })
}

/// The block the database recorded the transaction in, if any.
fn recorded_block(transfer: &transfers::Model) -> Result<Option<chain::BlockRef>, HandlerError> {
    let (Some(number), Some(hash)) = (transfer.block_number, transfer.block_hash.as_deref()) else {
        return Ok(None);
    };
    let malformed = || {
        HandlerError::permanent(format!(
            "transfer {} has a malformed recorded block",
            transfer.id
        ))
    };
    Ok(Some(chain::BlockRef {
        number: u64::try_from(number).map_err(|_| malformed())?,
        hash: hash.parse().map_err(|_| malformed())?,
    }))
}
