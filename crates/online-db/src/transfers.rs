//! Transfers, from draft to confirmation, and the nonce and daily-total helpers.
//!
//! The repository builds the unsigned EIP-1559 transaction itself from the typed fields (chain
//! id from the account; recipient, value and calldata from the asset), so the stored bytes, the
//! stored signing hash and the stored fields cannot disagree. A signature response is accepted
//! only if its signed transaction is exactly the exported one and recovers to the account's
//! address; its transaction hash is computed here, never taken from the caller.

use alloy_primitives::{B256, U256};
use chrono::{DateTime, Duration, Utc};
use contracts::eth::{self, Eip1559Fields};
use contracts::{Amount, EthAddress};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DbBackend, EntityTrait, PaginatorTrait,
    QueryFilter, QueryOrder, QuerySelect, Set,
};
use serde_json::json;

use crate::accounts::{find_account, granted, token_on_chain};
use crate::entity::{accounts, destination_allowlist, imported_responses, policies, transfers};
use crate::logs::{record_operation, record_transaction};
use crate::model::stored_amount;
use crate::outbox::{enqueue, routing_keys};
use crate::users::active_trader;
use crate::{check_text, invalid, new_id, to_i64, Asset, Db, Error, Result, TransferStatus};

/// The window of the daily limit: a rolling 24 hours, so there is no midnight at which a
/// second full allowance opens.
pub const DAILY_WINDOW: Duration = Duration::hours(24);

/// A transfer to build. The API fetched the nonce (see [`Db::pending_nonce`]) and the fees.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewTransfer {
    /// The account to send from.
    pub account_id: String,
    /// What to send.
    pub asset: Asset,
    /// The recipient (for a token: who receives the tokens).
    pub to: EthAddress,
    /// How much, in base units; positive.
    pub amount: Amount,
    /// The account nonce the transaction uses.
    pub nonce: u64,
    /// The gas limit.
    pub gas_limit: u64,
    /// EIP-1559 fee cap, wei per gas.
    pub max_fee_per_gas: Amount,
    /// EIP-1559 priority fee, wei per gas; at most the cap.
    pub max_priority_fee_per_gas: Amount,
}

/// An imported, envelope-verified `SignatureResponse`.
#[derive(Clone, Debug)]
pub struct SignatureImport {
    /// The response envelope id: a second import of it is a replay.
    pub response_id: String,
    /// The request id the response answers.
    pub request_id: String,
    /// The raw signed transaction.
    pub signed_tx: Vec<u8>,
}

/// Where a broadcast transaction was seen on chain.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Confirmation {
    /// The block that includes it.
    pub block_number: u64,
    /// That block's hash, 0x-hex (a changed hash for the same transaction reveals a reorg).
    pub block_hash: String,
    /// Confirmations so far (1 = in the latest block).
    pub confirmations: u64,
}

fn zero() -> Amount {
    Amount::default()
}

fn hex0x(bytes: &[u8]) -> String {
    format!("0x{}", hex::encode(bytes))
}

/// The EIP-1559 fields of a transfer of `asset` from an account on `chain_id`.
fn build_fields(new: &NewTransfer, chain_id: u64) -> Eip1559Fields {
    let (to, value, data) = match new.asset {
        Asset::Eth => (new.to, new.amount, Vec::new()),
        Asset::Token(token) => (
            token,
            zero(),
            eth::encode_erc20_transfer(&new.to, &new.amount),
        ),
    };
    Eip1559Fields {
        chain_id,
        nonce: new.nonce,
        max_priority_fee_per_gas: new.max_priority_fee_per_gas,
        max_fee_per_gas: new.max_fee_per_gas,
        gas_limit: new.gas_limit,
        to,
        value,
        data,
    }
}

async fn find_transfer<C: ConnectionTrait>(txn: &C, transfer_id: &str) -> Result<transfers::Model> {
    let mut find = transfers::Entity::find_by_id(transfer_id.to_owned());
    if txn.get_database_backend() == DbBackend::Postgres {
        // Two workers moving the same transfer at once: the second waits and then sees the
        // first one's status. (SQLite writers are serialised by BEGIN IMMEDIATE.)
        find = find.lock_exclusive();
    }
    find.one(txn).await?.ok_or_else(|| Error::NotFound {
        what: "transfer",
        id: transfer_id.to_owned(),
    })
}

fn check_transition(t: &transfers::Model, to: TransferStatus) -> Result<()> {
    if t.status.can_become(to) {
        Ok(())
    } else {
        Err(Error::IllegalTransition {
            transfer_id: t.id.clone(),
            from: t.status,
            to,
        })
    }
}

/// Ether and token amounts of one account: what it holds ([`Funds`], read from the node for the
/// check) or what its transfers in flight may still take ([`Reserved`]). A token not listed
/// counts as zero.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Holdings {
    /// Ether, in wei.
    pub eth: Amount,
    /// Each token's amount, in its base units.
    pub tokens: Vec<(EthAddress, Amount)>,
}

/// What an account holds, read from the node for the policy check.
pub type Funds = Holdings;

/// What an account's transfers in flight (EXPORTED, SIGNED, BROADCAST) may still take: ether
/// (their amounts and the most their fees can cost) and each token's amounts. A new transfer
/// must fit in the balance beside them.
pub type Reserved = Holdings;

impl Holdings {
    /// What `in_flight` may take.
    pub fn of<'a>(in_flight: impl IntoIterator<Item = &'a transfers::Model>) -> Result<Reserved> {
        let mut r = Reserved::default();
        for t in in_flight {
            let gas = u64::try_from(t.gas_limit).map_err(|_| Error::Corrupt {
                what: "transfers.gas_limit".into(),
                reason: "negative".into(),
            })?;
            let fee = t.max_fee_per_gas()?.0.saturating_mul(U256::from(gas));
            r.eth = Amount(r.eth.0.saturating_add(fee));
            let amount = t.amount()?;
            match t.asset()? {
                Asset::Eth => r.eth = Amount(r.eth.0.saturating_add(amount.0)),
                Asset::Token(token) => match r.tokens.iter_mut().find(|(k, _)| *k == token) {
                    Some((_, total)) => *total = Amount(total.0.saturating_add(amount.0)),
                    None => r.tokens.push((token, amount)),
                },
            }
        }
        Ok(r)
    }

    /// The amount of `token`.
    pub fn token(&self, token: EthAddress) -> Amount {
        self.tokens
            .iter()
            .find(|(k, _)| *k == token)
            .map(|(_, v)| *v)
            .unwrap_or_default()
    }
}

/// Where in its life a transfer's policy is checked; named in the refusal.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Step {
    Creation,
    Approval,
    Export,
    Import,
}

impl Step {
    /// The refusal's opening words.
    fn prefix(self) -> &'static str {
        match self {
            Step::Creation => "",
            Step::Approval => "no longer allowed at approval: ",
            Step::Export => "no longer allowed at export: ",
            Step::Import => "no longer allowed at signature import: ",
        }
    }
}

/// A transfer as the policy sees it: a new one, or a stored one (then `id` is set, and the
/// transfer itself is left out of the window total and the funds in flight it is checked
/// against, and counted once as the candidate).
struct Candidate<'a> {
    id: Option<&'a str>,
    asset: Asset,
    to: &'a str,
    amount: Amount,
    gas_limit: u64,
    max_fee_per_gas: Amount,
    approved: bool,
}

impl<'a> Candidate<'a> {
    fn of(t: &'a transfers::Model) -> Result<Candidate<'a>> {
        Ok(Candidate {
            id: Some(t.id.as_str()),
            asset: t.asset()?,
            to: t.to_address.as_str(),
            amount: t.amount()?,
            gas_limit: u64::try_from(t.gas_limit).map_err(|_| Error::Corrupt {
                what: "transfers.gas_limit".into(),
                reason: "negative".into(),
            })?,
            max_fee_per_gas: t.max_fee_per_gas()?,
            approved: t.approved_by.is_some(),
        })
    }
}

/// The account row, locked on PostgreSQL so that policy checks of one account's transfers run
/// one at a time (two cannot both fit under a daily limit only one of them fits under).
/// SQLite writers are serialised by BEGIN IMMEDIATE.
async fn lock_account<C: ConnectionTrait>(txn: &C, account_id: &str) -> Result<accounts::Model> {
    let mut find = accounts::Entity::find_by_id(account_id.to_owned());
    if txn.get_database_backend() == DbBackend::Postgres {
        find = find.lock_exclusive();
    }
    find.one(txn).await?.ok_or_else(|| Error::NotFound {
        what: "account",
        id: account_id.to_owned(),
    })
}

/// Check `c` against the account's policy as it is now, inside the caller's transaction: the
/// policy for the asset exists; the amount is within the single limit and, with what was
/// exported in the 24 hours up to `now`, within the daily limit; the recipient is on the
/// allow-list if the account has one; from export on, an approval the policy wants is there;
/// and `funds` cover the amount and the most the fees can cost beside what the account's other
/// transfers in flight may take. Returns the policy.
async fn check_policy<C: ConnectionTrait>(
    txn: &C,
    account: &accounts::Model,
    c: &Candidate<'_>,
    funds: &Funds,
    step: Step,
    now: DateTime<Utc>,
) -> Result<policies::Model> {
    let refuse = |reason: String| Error::Policy(format!("{}{reason}", step.prefix()));
    let asset = c.asset.as_text();
    let policy = policies::Entity::find()
        .filter(policies::Column::AccountId.eq(account.id.as_str()))
        .filter(policies::Column::Asset.eq(asset.as_str()))
        .one(txn)
        .await?
        .ok_or_else(|| {
            refuse(format!(
                "account {} has no limits for {asset}; an administrator must set them first",
                account.address
            ))
        })?;
    let single = policy.single_limit()?;
    if c.amount > single {
        return Err(refuse(format!(
            "{} is above the single-transfer limit of {single} for {asset}",
            c.amount
        )));
    }
    let daily = policy.daily_limit()?;
    let before = window_total(txn, &account.id, &c.asset, now, c.id).await?;
    let after = before.0.checked_add(c.amount.0);
    if after.is_none_or(|a| a > daily.0) {
        return Err(refuse(format!(
            "{} more would exceed the daily limit of {daily} for {asset} ({before} already exported in the last 24 hours)",
            c.amount
        )));
    }
    let allowed = destination_allowlist::Entity::find()
        .filter(destination_allowlist::Column::AccountId.eq(account.id.as_str()))
        .all(txn)
        .await?;
    if !allowed.is_empty() && !allowed.iter().any(|a| a.address == c.to) {
        return Err(refuse(format!(
            "{} is not on the allow-list of account {}",
            c.to, account.address
        )));
    }
    if matches!(step, Step::Export | Step::Import) && policy.require_approval && !c.approved {
        return Err(match step {
            Step::Import => refuse(
                "the policy now wants a second trader's approval, which this transfer does not have"
                    .into(),
            ),
            _ => Error::Policy(
                "the transfer needs a second trader's approval before export".into(),
            ),
        });
    }
    let mut others = transfers::Entity::find()
        .filter(transfers::Column::AccountId.eq(account.id.as_str()))
        .filter(transfers::Column::Status.is_in(TransferStatus::IN_FLIGHT));
    if let Some(id) = c.id {
        others = others.filter(transfers::Column::Id.ne(id));
    }
    let reserved = Reserved::of(&others.all(txn).await?)?;
    let fee = c.max_fee_per_gas.0.saturating_mul(U256::from(c.gas_limit));
    let needed = match c.asset {
        Asset::Eth => c.amount.0.saturating_add(fee),
        Asset::Token(token) => {
            let held = funds.token(token);
            let committed = reserved.token(token);
            if c.amount.0.saturating_add(committed.0) > held.0 {
                return Err(refuse(format!(
                    "the amount {} exceeds the account's token balance {held} less {committed} committed to transfers in flight",
                    c.amount
                )));
            }
            fee
        }
    };
    if needed.saturating_add(reserved.eth.0) > funds.eth.0 {
        return Err(refuse(format!(
            "the account holds {} wei, of which up to {} are committed to transfers in flight; this transfer needs up to {needed} wei (amount and fees)",
            funds.eth, reserved.eth
        )));
    }
    Ok(policy)
}

/// The sum of the amounts of `asset` exported from an account in the window ending at `now`
/// (by export time), counting every exported transfer that is not FAILED; `except` is left out.
async fn window_total<C: ConnectionTrait>(
    txn: &C,
    account_id: &str,
    asset: &Asset,
    now: DateTime<Utc>,
    except: Option<&str>,
) -> Result<Amount> {
    let since = now
        .checked_sub_signed(DAILY_WINDOW)
        .unwrap_or(DateTime::<Utc>::MIN_UTC);
    let mut find = transfers::Entity::find()
        .select_only()
        .column(transfers::Column::Amount)
        .filter(transfers::Column::AccountId.eq(account_id))
        .filter(transfers::Column::Asset.eq(asset.as_text()))
        .filter(transfers::Column::Status.ne(TransferStatus::Failed))
        .filter(transfers::Column::ExportedAt.gt(since))
        .filter(transfers::Column::ExportedAt.lte(now));
    if let Some(id) = except {
        find = find.filter(transfers::Column::Id.ne(id));
    }
    let amounts: Vec<String> = find.into_tuple().all(txn).await?;
    let mut total = zero();
    for text in amounts {
        let amount = stored_amount("transfers.amount", &text)?;
        // Saturating: a total beyond 2^256-1 is above every limit anyway.
        total = Amount(total.0.saturating_add(amount.0));
    }
    Ok(total)
}

/// The transfer's common log details.
fn details(t: &transfers::Model) -> serde_json::Value {
    json!({
        "transfer_id": t.id, "account_id": t.account_id, "asset": t.asset,
        "to": t.to_address, "amount": t.amount, "nonce": t.nonce, "status": t.status,
        "signing_hash": t.signing_hash, "request_id": t.request_id, "tx_hash": t.tx_hash,
    })
}

/// [`details`] with the previous status and extra fields.
fn change_details(
    t: &transfers::Model,
    from: TransferStatus,
    extra: serde_json::Value,
) -> serde_json::Value {
    let mut d = details(t);
    if let (Some(obj), serde_json::Value::Object(more)) = (d.as_object_mut(), extra) {
        obj.insert("from".into(), json!(from));
        obj.extend(more);
    }
    d
}

impl Db {
    /// Build and store a DRAFT transfer, checking in the same transaction: the account exists;
    /// `actor` is an active trader granted on it; the recipient is not the zero address or the
    /// account itself; a token is configured on the account's chain; the account's policy for
    /// the asset exists, the amount is within its single limit and, with what was exported in
    /// the last 24 hours, within its daily limit; the recipient is on the allow-list if the
    /// account has one; `funds` (the balances the caller just read from the chain) cover the
    /// amount and the most the fees can cost beside the transfers in flight. The same checks run
    /// again at approval, export and signature import. Transaction log: `transfer.created`.
    pub async fn create_transfer(
        &self,
        new: NewTransfer,
        funds: &Funds,
        actor: &str,
        now: DateTime<Utc>,
    ) -> Result<transfers::Model> {
        if new.amount == zero() {
            return Err(invalid("amount", "must be positive"));
        }
        if new.to == EthAddress([0; 20]) {
            return Err(invalid(
                "to",
                "is the zero address; tokens or Ether sent there are lost",
            ));
        }
        if new.gas_limit == 0 {
            return Err(invalid("gas_limit", "must be positive"));
        }
        if new.max_priority_fee_per_gas > new.max_fee_per_gas {
            return Err(invalid(
                "max_priority_fee_per_gas",
                "must not exceed max_fee_per_gas",
            ));
        }
        let nonce = to_i64("nonce", new.nonce)?;
        let gas_limit = to_i64("gas_limit", new.gas_limit)?;
        let txn = self.begin_write().await?;
        let account = lock_account(&txn, &new.account_id).await?;
        let trader = active_trader(&txn, actor).await?;
        if !granted(&txn, &account.id, &trader.id).await? {
            return Err(Error::Forbidden(format!(
                "user {} may not use account {}",
                trader.username, account.address
            )));
        }
        if new.to.to_checksum() == account.address {
            return Err(invalid("to", "is the sending account itself"));
        }
        if let Asset::Token(token) = new.asset {
            token_on_chain(&txn, account.chain_id, &token).await?;
        }
        let to = new.to.to_checksum();
        let policy = check_policy(
            &txn,
            &account,
            &Candidate {
                id: None,
                asset: new.asset,
                to: &to,
                amount: new.amount,
                gas_limit: new.gas_limit,
                max_fee_per_gas: new.max_fee_per_gas,
                approved: false,
            },
            funds,
            Step::Creation,
            now,
        )
        .await?;
        let asset = new.asset.as_text();
        let chain_id = u64::try_from(account.chain_id).map_err(|_| Error::Corrupt {
            what: "accounts.chain_id".into(),
            reason: "negative".into(),
        })?;
        let fields = build_fields(&new, chain_id);
        let unsigned_tx = fields
            .encode_unsigned()
            .map_err(|e| invalid("max_fee_per_gas", e.to_string()))?;
        let signing_hash = hex0x(&eth::signing_hash(&unsigned_tx));
        let transfer = transfers::ActiveModel {
            id: Set(new_id(now)),
            account_id: Set(account.id.clone()),
            chain_id: Set(account.chain_id),
            asset: Set(asset),
            to_address: Set(to),
            amount: Set(new.amount.to_string()),
            nonce: Set(nonce),
            gas_limit: Set(gas_limit),
            max_fee_per_gas: Set(new.max_fee_per_gas.to_string()),
            max_priority_fee_per_gas: Set(new.max_priority_fee_per_gas.to_string()),
            unsigned_tx: Set(unsigned_tx),
            signing_hash: Set(signing_hash),
            request_id: Set(None),
            status: Set(TransferStatus::Draft),
            created_by: Set(trader.id.clone()),
            approved_by: Set(None),
            approved_at: Set(None),
            exported_at: Set(None),
            signed_tx: Set(None),
            tx_hash: Set(None),
            block_number: Set(None),
            block_hash: Set(None),
            confirmations: Set(0),
            error: Set(None),
            created_at: Set(now),
            updated_at: Set(now),
        }
        .insert(&txn)
        .await?;
        let mut d = details(&transfer);
        if let Some(obj) = d.as_object_mut() {
            obj.insert("gas_limit".into(), json!(transfer.gas_limit));
            obj.insert("max_fee_per_gas".into(), json!(transfer.max_fee_per_gas));
            obj.insert(
                "max_priority_fee_per_gas".into(),
                json!(transfer.max_priority_fee_per_gas),
            );
            obj.insert("require_approval".into(), json!(policy.require_approval));
        }
        record_transaction(&txn, now, actor, "transfer.created", &transfer.id, d).await?;
        txn.commit().await?;
        Ok(transfer)
    }

    /// Approve a DRAFT transfer (maker-checker): the approver is an active trader granted on
    /// the account and not the creator, and the transfer still passes the account's policy as
    /// it is now (limits, allow-list, `funds`; see [`Db::create_transfer`]). Transaction log:
    /// `transfer.approved`.
    pub async fn approve_transfer(
        &self,
        transfer_id: &str,
        funds: &Funds,
        actor: &str,
        now: DateTime<Utc>,
    ) -> Result<transfers::Model> {
        let txn = self.begin_write().await?;
        let t = find_transfer(&txn, transfer_id).await?;
        if t.status != TransferStatus::Draft {
            return Err(Error::Conflict(format!(
                "transfer {} is {}; only a draft can be approved",
                t.id, t.status
            )));
        }
        if t.approved_by.is_some() {
            return Err(Error::Conflict(format!(
                "transfer {} is already approved",
                t.id
            )));
        }
        if t.created_by == actor {
            return Err(Error::Forbidden(
                "the creator of a transfer cannot approve it; another trader must".into(),
            ));
        }
        let approver = active_trader(&txn, actor).await?;
        if !granted(&txn, &t.account_id, &approver.id).await? {
            return Err(Error::Forbidden(format!(
                "user {} may not use the transfer's account",
                approver.username
            )));
        }
        let account = lock_account(&txn, &t.account_id).await?;
        check_policy(
            &txn,
            &account,
            &Candidate::of(&t)?,
            funds,
            Step::Approval,
            now,
        )
        .await?;
        let from = t.status;
        let mut am: transfers::ActiveModel = t.into();
        am.approved_by = Set(Some(approver.id.clone()));
        am.approved_at = Set(Some(now));
        am.updated_at = Set(now);
        let t = am.update(&txn).await?;
        record_transaction(
            &txn,
            now,
            actor,
            "transfer.approved",
            &t.id,
            change_details(&t, from, json!({"approved_by": approver.id})),
        )
        .await?;
        txn.commit().await?;
        Ok(t)
    }

    /// Mark a DRAFT transfer EXPORTED under the signing request `request_id` (the envelope the
    /// API signed and handed out), at `now`. The transfer must still pass the account's policy
    /// as it is now: limits (the 24-hour total by export time), allow-list, the approval the
    /// policy wants, and `funds` (balances the caller just read from the chain) beside the
    /// transfers in flight. Refused too when the request id was used before, or when another
    /// exported transfer of the account holds the same nonce. A refusal writes nothing.
    /// Transaction log `transfer.exported` and operation log `transfer.request_exported`.
    pub async fn mark_exported(
        &self,
        transfer_id: &str,
        request_id: &str,
        funds: &Funds,
        actor: &str,
        now: DateTime<Utc>,
    ) -> Result<transfers::Model> {
        check_text("request_id", request_id)?;
        let txn = self.begin_write().await?;
        let t = find_transfer(&txn, transfer_id).await?;
        check_transition(&t, TransferStatus::Exported)?;
        let account = lock_account(&txn, &t.account_id).await?;
        check_policy(
            &txn,
            &account,
            &Candidate::of(&t)?,
            funds,
            Step::Export,
            now,
        )
        .await?;
        let used = transfers::Entity::find()
            .filter(transfers::Column::RequestId.eq(request_id))
            .count(&txn)
            .await?;
        if used > 0 {
            return Err(Error::AlreadyExists {
                what: "signing request",
                key: request_id.to_owned(),
            });
        }
        let clash = transfers::Entity::find()
            .filter(transfers::Column::AccountId.eq(t.account_id.as_str()))
            .filter(transfers::Column::Nonce.eq(t.nonce))
            .filter(transfers::Column::Id.ne(t.id.as_str()))
            .filter(transfers::Column::Status.is_in([
                TransferStatus::Exported,
                TransferStatus::Signed,
                TransferStatus::Broadcast,
                TransferStatus::Confirmed,
            ]))
            .count(&txn)
            .await?;
        if clash > 0 {
            return Err(Error::Conflict(format!(
                "nonce {} of this account is already used by another exported transfer; build the transfer again",
                t.nonce
            )));
        }
        let from = t.status;
        let mut am: transfers::ActiveModel = t.into();
        am.status = Set(TransferStatus::Exported);
        am.request_id = Set(Some(request_id.to_owned()));
        am.exported_at = Set(Some(now));
        am.updated_at = Set(now);
        let t = am.update(&txn).await?;
        record_transaction(
            &txn,
            now,
            actor,
            "transfer.exported",
            &t.id,
            change_details(&t, from, json!({})),
        )
        .await?;
        record_operation(
            &txn,
            now,
            actor,
            "transfer.request_exported",
            &t.id,
            json!({"transfer_id": t.id, "account_id": t.account_id, "request_id": request_id, "signing_hash": t.signing_hash}),
        )
        .await?;
        txn.commit().await?;
        Ok(t)
    }

    /// Record that an EXPORTED transfer's signing request was sealed again under its same
    /// request id (the file was lost or a QR code did not scan); the transfer does not change.
    /// Operation log: `transfer.request_reexported`.
    pub async fn record_reexport(
        &self,
        transfer_id: &str,
        envelope_id: &str,
        actor: &str,
        now: DateTime<Utc>,
    ) -> Result<transfers::Model> {
        check_text("envelope_id", envelope_id)?;
        let txn = self.begin_write().await?;
        let t = find_transfer(&txn, transfer_id).await?;
        if t.status != TransferStatus::Exported {
            return Err(Error::Conflict(format!(
                "transfer {} is {}; only an exported transfer's request can be exported again",
                t.id, t.status
            )));
        }
        if !granted(&txn, &t.account_id, actor).await? {
            return Err(Error::Forbidden(format!(
                "user {actor} may not use the transfer's account"
            )));
        }
        record_operation(
            &txn,
            now,
            actor,
            "transfer.request_reexported",
            &t.id,
            json!({
                "transfer_id": t.id, "account_id": t.account_id, "request_id": t.request_id,
                "envelope_id": envelope_id, "signing_hash": t.signing_hash,
            }),
        )
        .await?;
        txn.commit().await?;
        Ok(t)
    }

    /// Attach an imported signature response: the response id must be new (a replay is
    /// [`Error::Replay`], nothing written), the request must be an EXPORTED transfer, the
    /// signed transaction must be exactly the exported one and recover to the account's
    /// address. The transfer becomes SIGNED with its transaction hash, and a `broadcast` event
    /// is queued. Transaction log `transfer.signed` and operation log
    /// `signature_response.imported`.
    ///
    /// An authentic response for a transfer that no longer passes the account's policy as it
    /// is now (limits with the 24-hour total by export time, allow-list, the approval the
    /// policy wants, `funds` beside the other transfers in flight) is refused for good: the
    /// transfer becomes FAILED with the reason as its error, the signed transaction is not
    /// kept and nothing is queued; transaction log `transfer.failed` and operation log
    /// `signature_response.refused` are written and [`Error::Refused`] is returned.
    pub async fn attach_signature(
        &self,
        import: SignatureImport,
        funds: &Funds,
        actor: &str,
        now: DateTime<Utc>,
    ) -> Result<transfers::Model> {
        check_text("response_id", &import.response_id)?;
        check_text("request_id", &import.request_id)?;
        let decoded = eth::decode_signed(&import.signed_tx)
            .map_err(|e| invalid("signed_tx", e.to_string()))?;
        let txn = self.begin_write().await?;
        let seen = imported_responses::Entity::find()
            .filter(imported_responses::Column::ResponseId.eq(import.response_id.as_str()))
            .count(&txn)
            .await?;
        if seen > 0 {
            return Err(Error::Replay {
                response_id: import.response_id,
            });
        }
        let t = transfers::Entity::find()
            .filter(transfers::Column::RequestId.eq(import.request_id.as_str()))
            .one(&txn)
            .await?
            .ok_or_else(|| Error::NotFound {
                what: "signing request",
                id: import.request_id.clone(),
            })?;
        let t = find_transfer(&txn, &t.id).await?;
        check_transition(&t, TransferStatus::Signed)?;
        if eth::encode_unsigned(&decoded.tx) != t.unsigned_tx {
            return Err(invalid(
                "signed_tx",
                "the signed transaction is not the transaction that was exported for this request",
            ));
        }
        let account = find_account(&txn, &t.account_id).await?;
        let signing_hash = B256::from(eth::signing_hash(&t.unsigned_tx));
        let signer = decoded
            .signature
            .recover_address_from_prehash(&signing_hash)
            .map_err(|_| invalid("signed_tx", "the signature does not recover to any address"))?;
        let signer = EthAddress::from(signer);
        if signer != account.address()? {
            return Err(invalid(
                "signed_tx",
                format!(
                    "the signature recovers to {signer}, not to the account address {}",
                    account.address
                ),
            ));
        }
        let tx_hash = hex0x(&decoded.tx_hash);
        let taken = transfers::Entity::find()
            .filter(transfers::Column::TxHash.eq(tx_hash.as_str()))
            .count(&txn)
            .await?;
        if taken > 0 {
            return Err(Error::AlreadyExists {
                what: "transaction",
                key: tx_hash,
            });
        }
        let account = lock_account(&txn, &t.account_id).await?;
        let checked = check_policy(
            &txn,
            &account,
            &Candidate::of(&t)?,
            funds,
            Step::Import,
            now,
        )
        .await;
        match checked {
            Ok(_) => {}
            Err(Error::Policy(reason)) => {
                let transfer_id = t.id.clone();
                let from = t.status;
                let mut am: transfers::ActiveModel = t.into();
                am.status = Set(TransferStatus::Failed);
                am.error = Set(Some(format!("policy: {reason}")));
                am.updated_at = Set(now);
                let t = am.update(&txn).await?;
                record_transaction(
                    &txn,
                    now,
                    actor,
                    "transfer.failed",
                    &t.id,
                    change_details(
                        &t,
                        from,
                        json!({
                            "error": t.error, "refused_at": "signature_response.import",
                            "response_id": import.response_id,
                        }),
                    ),
                )
                .await?;
                record_operation(
                    &txn,
                    now,
                    actor,
                    "signature_response.refused",
                    &t.id,
                    json!({
                        "transfer_id": t.id, "account_id": t.account_id,
                        "response_id": import.response_id, "request_id": import.request_id,
                        "tx_hash": tx_hash, "reason": reason,
                    }),
                )
                .await?;
                txn.commit().await?;
                return Err(Error::Refused {
                    transfer_id,
                    reason,
                });
            }
            Err(other) => return Err(other),
        }
        imported_responses::ActiveModel {
            id: Set(new_id(now)),
            response_id: Set(import.response_id.clone()),
            request_id: Set(import.request_id.clone()),
            transfer_id: Set(t.id.clone()),
            imported_by: Set(actor.to_owned()),
            at: Set(now),
        }
        .insert(&txn)
        .await?;
        let from = t.status;
        let mut am: transfers::ActiveModel = t.into();
        am.status = Set(TransferStatus::Signed);
        am.signed_tx = Set(Some(import.signed_tx));
        am.tx_hash = Set(Some(tx_hash.clone()));
        am.updated_at = Set(now);
        let t = am.update(&txn).await?;
        record_transaction(
            &txn,
            now,
            actor,
            "transfer.signed",
            &t.id,
            change_details(&t, from, json!({"response_id": import.response_id})),
        )
        .await?;
        record_operation(
            &txn,
            now,
            actor,
            "signature_response.imported",
            &t.id,
            json!({
                "transfer_id": t.id, "account_id": t.account_id,
                "response_id": import.response_id, "request_id": import.request_id,
                "tx_hash": tx_hash,
            }),
        )
        .await?;
        enqueue(
            &txn,
            now,
            routing_keys::BROADCAST,
            json!({"transfer_id": t.id, "tx_hash": tx_hash, "chain_id": t.chain_id}),
        )
        .await?;
        txn.commit().await?;
        Ok(t)
    }

    /// A SIGNED transfer was sent to the network; queues a `track` event. Transaction log:
    /// `transfer.broadcast`.
    pub async fn mark_broadcast(
        &self,
        transfer_id: &str,
        actor: &str,
        now: DateTime<Utc>,
    ) -> Result<transfers::Model> {
        let txn = self.begin_write().await?;
        let t = find_transfer(&txn, transfer_id).await?;
        check_transition(&t, TransferStatus::Broadcast)?;
        let from = t.status;
        let mut am: transfers::ActiveModel = t.into();
        am.status = Set(TransferStatus::Broadcast);
        am.updated_at = Set(now);
        let t = am.update(&txn).await?;
        record_transaction(
            &txn,
            now,
            actor,
            "transfer.broadcast",
            &t.id,
            change_details(&t, from, json!({})),
        )
        .await?;
        enqueue(
            &txn,
            now,
            routing_keys::TRACK,
            json!({"transfer_id": t.id, "tx_hash": t.tx_hash, "chain_id": t.chain_id}),
        )
        .await?;
        txn.commit().await?;
        Ok(t)
    }

    /// Record where a BROADCAST transfer was seen (block, hash, confirmations so far); a
    /// different block hash than before is logged as a reorg. Transaction log:
    /// `transfer.confirmation_recorded`.
    pub async fn record_confirmation(
        &self,
        transfer_id: &str,
        seen: Confirmation,
        actor: &str,
        now: DateTime<Utc>,
    ) -> Result<transfers::Model> {
        self.confirm(transfer_id, seen, false, actor, now).await
    }

    /// A BROADCAST transfer reached the confirmations the zone requires: CONFIRMED, final.
    /// Transaction log: `transfer.confirmed`.
    pub async fn mark_confirmed(
        &self,
        transfer_id: &str,
        seen: Confirmation,
        actor: &str,
        now: DateTime<Utc>,
    ) -> Result<transfers::Model> {
        self.confirm(transfer_id, seen, true, actor, now).await
    }

    async fn confirm(
        &self,
        transfer_id: &str,
        seen: Confirmation,
        finalise: bool,
        actor: &str,
        now: DateTime<Utc>,
    ) -> Result<transfers::Model> {
        check_text("block_hash", &seen.block_hash)?;
        let block_number = to_i64("block_number", seen.block_number)?;
        let confirmations = to_i64("confirmations", seen.confirmations)?;
        let txn = self.begin_write().await?;
        let t = find_transfer(&txn, transfer_id).await?;
        if finalise {
            check_transition(&t, TransferStatus::Confirmed)?;
        } else if t.status != TransferStatus::Broadcast {
            return Err(Error::Conflict(format!(
                "transfer {} is {}; confirmations are recorded only while it is BROADCAST",
                t.id, t.status
            )));
        }
        let from = t.status;
        let reorg = t
            .block_hash
            .as_ref()
            .is_some_and(|previous| *previous != seen.block_hash);
        let previous_block = t.block_hash.clone();
        let mut am: transfers::ActiveModel = t.into();
        if finalise {
            am.status = Set(TransferStatus::Confirmed);
        }
        am.block_number = Set(Some(block_number));
        am.block_hash = Set(Some(seen.block_hash.clone()));
        am.confirmations = Set(confirmations);
        am.updated_at = Set(now);
        let t = am.update(&txn).await?;
        let action = if finalise {
            "transfer.confirmed"
        } else {
            "transfer.confirmation_recorded"
        };
        record_transaction(
            &txn,
            now,
            actor,
            action,
            &t.id,
            change_details(
                &t,
                from,
                json!({
                    "block_number": block_number, "block_hash": seen.block_hash,
                    "confirmations": confirmations, "reorg": reorg,
                    "previous_block_hash": previous_block,
                }),
            ),
        )
        .await?;
        txn.commit().await?;
        Ok(t)
    }

    /// A transfer failed for good (abandoned draft, expired request, rejected or dropped
    /// transaction, revert): FAILED, final. Transaction log: `transfer.failed`.
    pub async fn mark_failed(
        &self,
        transfer_id: &str,
        reason: &str,
        actor: &str,
        now: DateTime<Utc>,
    ) -> Result<transfers::Model> {
        check_text("reason", reason)?;
        let txn = self.begin_write().await?;
        let t = find_transfer(&txn, transfer_id).await?;
        check_transition(&t, TransferStatus::Failed)?;
        let from = t.status;
        let mut am: transfers::ActiveModel = t.into();
        am.status = Set(TransferStatus::Failed);
        am.error = Set(Some(reason.to_owned()));
        am.updated_at = Set(now);
        let t = am.update(&txn).await?;
        record_transaction(
            &txn,
            now,
            actor,
            "transfer.failed",
            &t.id,
            change_details(&t, from, json!({"error": reason})),
        )
        .await?;
        txn.commit().await?;
        Ok(t)
    }

    /// The highest nonce among the account's EXPORTED, SIGNED and BROADCAST transfers (those
    /// the chain may not count yet); the next transfer uses the larger of this + 1 and the
    /// chain's pending nonce.
    pub async fn pending_nonce(&self, account_id: &str) -> Result<Option<u64>> {
        let highest: Option<i64> = transfers::Entity::find()
            .select_only()
            .column(transfers::Column::Nonce)
            .filter(transfers::Column::AccountId.eq(account_id))
            .filter(transfers::Column::Status.is_in(TransferStatus::IN_FLIGHT))
            .order_by_desc(transfers::Column::Nonce)
            .limit(1)
            .into_tuple()
            .one(self.conn())
            .await?;
        highest
            .map(|n| {
                u64::try_from(n).map_err(|_| Error::Corrupt {
                    what: "transfers.nonce".into(),
                    reason: "negative".into(),
                })
            })
            .transpose()
    }

    /// The total of `asset` exported from an account in the 24 hours up to `now` (by export
    /// time; every exported transfer not FAILED), the figure the daily limit is checked
    /// against.
    pub async fn daily_total(
        &self,
        account_id: &str,
        asset: &Asset,
        now: DateTime<Utc>,
    ) -> Result<Amount> {
        window_total(self.conn(), account_id, asset, now, None).await
    }

    /// A transfer by id.
    pub async fn transfer(&self, transfer_id: &str) -> Result<Option<transfers::Model>> {
        Ok(transfers::Entity::find_by_id(transfer_id.to_owned())
            .one(self.conn())
            .await?)
    }

    /// The account's transfers that may still take funds: EXPORTED, SIGNED and BROADCAST
    /// (a broadcast one may not be mined yet). What a new transfer must leave room for.
    pub async fn in_flight(&self, account_id: &str) -> Result<Vec<transfers::Model>> {
        Ok(transfers::Entity::find()
            .filter(transfers::Column::AccountId.eq(account_id))
            .filter(transfers::Column::Status.is_in(TransferStatus::IN_FLIGHT))
            .order_by_asc(transfers::Column::Nonce)
            .all(self.conn())
            .await?)
    }

    /// The transfer exported under the signing request `request_id`.
    pub async fn transfer_by_request_id(
        &self,
        request_id: &str,
    ) -> Result<Option<transfers::Model>> {
        Ok(transfers::Entity::find()
            .filter(transfers::Column::RequestId.eq(request_id))
            .one(self.conn())
            .await?)
    }

    /// A transfer by its transaction hash (0x-hex).
    pub async fn transfer_by_tx_hash(&self, tx_hash: &str) -> Result<Option<transfers::Model>> {
        Ok(transfers::Entity::find()
            .filter(transfers::Column::TxHash.eq(tx_hash))
            .one(self.conn())
            .await?)
    }

    /// Transfers in `status`, least recently updated first (for the chain worker).
    pub async fn transfers_in(
        &self,
        status: TransferStatus,
        limit: u64,
    ) -> Result<Vec<transfers::Model>> {
        Ok(transfers::Entity::find()
            .filter(transfers::Column::Status.eq(status))
            .order_by_asc(transfers::Column::UpdatedAt)
            .order_by_asc(transfers::Column::Id)
            .limit(limit)
            .all(self.conn())
            .await?)
    }

    /// An account's transfers, newest first.
    pub async fn transfers_of(
        &self,
        account_id: &str,
        limit: u64,
    ) -> Result<Vec<transfers::Model>> {
        Ok(transfers::Entity::find()
            .filter(transfers::Column::AccountId.eq(account_id))
            .order_by_desc(transfers::Column::CreatedAt)
            .order_by_desc(transfers::Column::Id)
            .limit(limit)
            .all(self.conn())
            .await?)
    }
}
