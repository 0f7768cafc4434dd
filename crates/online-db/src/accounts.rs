//! Custody accounts, who may use them, their policies and the configured tokens.

use chrono::{DateTime, Utc};
use contracts::{Amount, EthAddress};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, PaginatorTrait, QueryFilter,
    QueryOrder, Set,
};
use serde_json::json;

use crate::entity::{account_permissions, accounts, destination_allowlist, policies, tokens};
use crate::logs::record_operation;
use crate::users::find_user;
use crate::{check_text, invalid, new_id, to_i64, Asset, Db, Error, Result, Role, UserStatus};

/// An account to import from a verified `AccountManifest` (the API checked the envelope's
/// signature, expiry and body before building this).
#[derive(Clone, Debug)]
pub struct NewAccount {
    /// The address (the manifest's first address is the key's own).
    pub address: EthAddress,
    /// The case public key, SEC1 compressed (33 bytes).
    pub public_key: Vec<u8>,
    /// The offline case id.
    pub case_ref: String,
    /// The chain ids the manifest allows.
    pub manifest_chain_ids: Vec<u64>,
    /// The chain this zone uses; must be one of `manifest_chain_ids`.
    pub chain_id: u64,
    /// A label for people.
    pub label: String,
    /// The manifest envelope id.
    pub manifest_id: String,
    /// SHA-256 of the manifest envelope as imported, hex.
    pub manifest_hash: String,
}

/// The limits of one asset on one account.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PolicyInput {
    /// The asset the limits apply to.
    pub asset: Asset,
    /// The most one transfer may move.
    pub single_limit: Amount,
    /// The most all transfers of a rolling 24 hours may move.
    pub daily_limit: Amount,
    /// Whether a second trader must approve each transfer before export (maker-checker).
    pub require_approval: bool,
}

/// A configured ERC-20 token.
#[derive(Clone, Debug)]
pub struct NewToken {
    /// The chain it lives on.
    pub chain_id: u64,
    /// The contract address.
    pub address: EthAddress,
    /// Its symbol, e.g. `USDT`; unique per chain.
    pub symbol: String,
    /// Its decimals (0 to 77).
    pub decimals: u8,
}

/// What a balance query showed, for the operation log.
#[derive(Clone, Debug)]
pub struct BalanceQuery {
    /// The account.
    pub account_id: String,
    /// The block the balances were read at.
    pub block_number: u64,
    /// The balances read, by asset.
    pub balances: Vec<(Asset, Amount)>,
    /// Whether they came from a cache rather than the node.
    pub cached: bool,
}

impl BalanceQuery {
    /// The balances as a JSON object `{asset: amount}` for a log record.
    fn balances_json(&self) -> serde_json::Value {
        let map: serde_json::Map<String, serde_json::Value> = self
            .balances
            .iter()
            .map(|(asset, amount)| (asset.as_text(), json!(amount.to_string())))
            .collect();
        serde_json::Value::Object(map)
    }
}

pub(crate) async fn find_account<C: ConnectionTrait>(
    txn: &C,
    account_id: &str,
) -> Result<accounts::Model> {
    accounts::Entity::find_by_id(account_id.to_owned())
        .one(txn)
        .await?
        .ok_or_else(|| Error::NotFound {
            what: "account",
            id: account_id.to_owned(),
        })
}

/// Whether `user_id` has been granted `account_id`.
pub(crate) async fn granted<C: ConnectionTrait>(
    txn: &C,
    account_id: &str,
    user_id: &str,
) -> Result<bool> {
    Ok(
        account_permissions::Entity::find_by_id((account_id.to_owned(), user_id.to_owned()))
            .one(txn)
            .await?
            .is_some(),
    )
}

impl Db {
    /// Import an account from a verified manifest. A second import of the same address is
    /// refused with [`Error::AlreadyExists`] and writes nothing. Operation log:
    /// `account.imported`.
    pub async fn import_account(
        &self,
        new: NewAccount,
        actor: &str,
        now: DateTime<Utc>,
    ) -> Result<accounts::Model> {
        check_text("case_ref", &new.case_ref)?;
        check_text("label", &new.label)?;
        check_text("manifest_id", &new.manifest_id)?;
        check_text("manifest_hash", &new.manifest_hash)?;
        if new.public_key.len() != 33 {
            return Err(invalid(
                "public_key",
                "must be a 33-byte compressed secp256k1 key",
            ));
        }
        if new.chain_id == 0 || !new.manifest_chain_ids.contains(&new.chain_id) {
            return Err(invalid(
                "chain_id",
                format!(
                    "the manifest allows chains {:?}, not chain {}",
                    new.manifest_chain_ids, new.chain_id
                ),
            ));
        }
        let chain_id = to_i64("chain_id", new.chain_id)?;
        let address = new.address.to_checksum();
        let txn = self.begin_write().await?;
        find_user(&txn, actor).await?;
        if let Some(existing) = accounts::Entity::find()
            .filter(accounts::Column::Address.eq(address.as_str()))
            .one(&txn)
            .await?
        {
            return Err(Error::AlreadyExists {
                what: "account",
                key: format!("{address} (imported as account {})", existing.id),
            });
        }
        let account = accounts::ActiveModel {
            id: Set(new_id(now)),
            address: Set(address),
            case_ref: Set(new.case_ref),
            public_key: Set(hex::encode(&new.public_key)),
            chain_id: Set(chain_id),
            label: Set(new.label),
            manifest_id: Set(new.manifest_id),
            manifest_hash: Set(new.manifest_hash),
            imported_by: Set(actor.to_owned()),
            created_at: Set(now),
        }
        .insert(&txn)
        .await?;
        record_operation(
            &txn,
            now,
            actor,
            "account.imported",
            &account.id,
            json!({
                "account_id": account.id, "address": account.address,
                "case_ref": account.case_ref, "chain_id": account.chain_id,
                "manifest_id": account.manifest_id, "manifest_hash": account.manifest_hash,
            }),
        )
        .await?;
        txn.commit().await?;
        Ok(account)
    }

    /// Every account, oldest first.
    pub async fn list_accounts(&self) -> Result<Vec<accounts::Model>> {
        Ok(accounts::Entity::find()
            .order_by_asc(accounts::Column::CreatedAt)
            .order_by_asc(accounts::Column::Id)
            .all(self.conn())
            .await?)
    }

    /// The accounts a trader has been granted, oldest first.
    pub async fn accounts_for_user(&self, user_id: &str) -> Result<Vec<accounts::Model>> {
        let ids: Vec<String> = account_permissions::Entity::find()
            .filter(account_permissions::Column::UserId.eq(user_id))
            .all(self.conn())
            .await?
            .into_iter()
            .map(|p| p.account_id)
            .collect();
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        Ok(accounts::Entity::find()
            .filter(accounts::Column::Id.is_in(ids))
            .order_by_asc(accounts::Column::CreatedAt)
            .order_by_asc(accounts::Column::Id)
            .all(self.conn())
            .await?)
    }

    /// An account by id.
    pub async fn account(&self, account_id: &str) -> Result<Option<accounts::Model>> {
        Ok(accounts::Entity::find_by_id(account_id.to_owned())
            .one(self.conn())
            .await?)
    }

    /// An account by address.
    pub async fn account_by_address(
        &self,
        address: &EthAddress,
    ) -> Result<Option<accounts::Model>> {
        Ok(accounts::Entity::find()
            .filter(accounts::Column::Address.eq(address.to_checksum()))
            .one(self.conn())
            .await?)
    }

    /// Whether `user_id` may use `account_id`.
    pub async fn may_use(&self, account_id: &str, user_id: &str) -> Result<bool> {
        granted(self.conn(), account_id, user_id).await
    }

    /// Let an active trader use an account. Operation log: `account.access_granted`.
    pub async fn grant_account(
        &self,
        account_id: &str,
        user_id: &str,
        actor: &str,
        now: DateTime<Utc>,
    ) -> Result<account_permissions::Model> {
        let txn = self.begin_write().await?;
        let row = grant_account_in(&txn, account_id, user_id, actor, now).await?;
        txn.commit().await?;
        Ok(row)
    }

    /// Stop a trader from using an account. Operation log: `account.access_revoked`.
    pub async fn revoke_account(
        &self,
        account_id: &str,
        user_id: &str,
        actor: &str,
        now: DateTime<Utc>,
    ) -> Result<()> {
        let txn = self.begin_write().await?;
        let account = find_account(&txn, account_id).await?;
        let deleted =
            account_permissions::Entity::delete_by_id((account.id.clone(), user_id.to_owned()))
                .exec(&txn)
                .await?;
        if deleted.rows_affected == 0 {
            return Err(Error::NotFound {
                what: "permission",
                id: format!("of user {user_id} on {}", account.address),
            });
        }
        record_operation(
            &txn,
            now,
            actor,
            "account.access_revoked",
            &account.id,
            json!({"account_id": account.id, "address": account.address, "user_id": user_id}),
        )
        .await?;
        txn.commit().await?;
        Ok(())
    }

    /// Set (create or replace) the limits of one asset on one account. Operation log:
    /// `policy.set`.
    pub async fn set_policy(
        &self,
        account_id: &str,
        policy: PolicyInput,
        actor: &str,
        now: DateTime<Utc>,
    ) -> Result<policies::Model> {
        let txn = self.begin_write().await?;
        let row = set_policy_in(&txn, account_id, policy, actor, now).await?;
        txn.commit().await?;
        Ok(row)
    }

    /// The limits of `asset` on an account, if set.
    pub async fn policy(&self, account_id: &str, asset: &Asset) -> Result<Option<policies::Model>> {
        Ok(policies::Entity::find()
            .filter(policies::Column::AccountId.eq(account_id))
            .filter(policies::Column::Asset.eq(asset.as_text()))
            .one(self.conn())
            .await?)
    }

    /// Allow transfers from an account to `address`; once an account has one allowed
    /// destination, it may send only to allowed ones. Operation log: `policy.destination_allowed`.
    pub async fn allow_destination(
        &self,
        account_id: &str,
        address: &EthAddress,
        label: &str,
        actor: &str,
        now: DateTime<Utc>,
    ) -> Result<destination_allowlist::Model> {
        let txn = self.begin_write().await?;
        let row = allow_destination_in(&txn, account_id, address, label, actor, now).await?;
        txn.commit().await?;
        Ok(row)
    }

    /// Remove an allowed destination. Operation log: `policy.destination_removed`.
    pub async fn remove_destination(
        &self,
        account_id: &str,
        address: &EthAddress,
        actor: &str,
        now: DateTime<Utc>,
    ) -> Result<()> {
        let txn = self.begin_write().await?;
        let account = find_account(&txn, account_id).await?;
        let to = address.to_checksum();
        let deleted = destination_allowlist::Entity::delete_many()
            .filter(destination_allowlist::Column::AccountId.eq(account.id.as_str()))
            .filter(destination_allowlist::Column::Address.eq(to.as_str()))
            .exec(&txn)
            .await?;
        if deleted.rows_affected == 0 {
            return Err(Error::NotFound {
                what: "allowed destination",
                id: to,
            });
        }
        record_operation(
            &txn,
            now,
            actor,
            "policy.destination_removed",
            &account.id,
            json!({"account_id": account.id, "address": to}),
        )
        .await?;
        txn.commit().await?;
        Ok(())
    }

    /// The allowed destinations of an account (empty: any destination).
    pub async fn allowed_destinations(
        &self,
        account_id: &str,
    ) -> Result<Vec<destination_allowlist::Model>> {
        Ok(destination_allowlist::Entity::find()
            .filter(destination_allowlist::Column::AccountId.eq(account_id))
            .order_by_asc(destination_allowlist::Column::AddedAt)
            .all(self.conn())
            .await?)
    }

    /// Configure an ERC-20 token. Operation log: `token.added`.
    pub async fn add_token(
        &self,
        new: NewToken,
        actor: &str,
        now: DateTime<Utc>,
    ) -> Result<tokens::Model> {
        check_text("symbol", &new.symbol)?;
        if new.decimals > 77 {
            return Err(invalid("decimals", "must be at most 77"));
        }
        if new.chain_id == 0 {
            return Err(invalid("chain_id", "must be positive"));
        }
        let chain_id = to_i64("chain_id", new.chain_id)?;
        let address = new.address.to_checksum();
        let txn = self.begin_write().await?;
        let clash = tokens::Entity::find()
            .filter(tokens::Column::ChainId.eq(chain_id))
            .filter(
                sea_orm::Condition::any()
                    .add(tokens::Column::Address.eq(address.as_str()))
                    .add(tokens::Column::Symbol.eq(new.symbol.as_str())),
            )
            .count(&txn)
            .await?;
        if clash > 0 {
            return Err(Error::AlreadyExists {
                what: "token",
                key: format!("{} / {address} on chain {chain_id}", new.symbol),
            });
        }
        let row = tokens::ActiveModel {
            id: Set(new_id(now)),
            chain_id: Set(chain_id),
            address: Set(address),
            symbol: Set(new.symbol),
            decimals: Set(i32::from(new.decimals)),
            created_at: Set(now),
        }
        .insert(&txn)
        .await?;
        record_operation(
            &txn,
            now,
            actor,
            "token.added",
            &row.id,
            json!({"chain_id": row.chain_id, "address": row.address, "symbol": row.symbol, "decimals": row.decimals}),
        )
        .await?;
        txn.commit().await?;
        Ok(row)
    }

    /// The tokens configured on a chain, by symbol.
    pub async fn tokens(&self, chain_id: u64) -> Result<Vec<tokens::Model>> {
        Ok(tokens::Entity::find()
            .filter(tokens::Column::ChainId.eq(to_i64("chain_id", chain_id)?))
            .order_by_asc(tokens::Column::Symbol)
            .all(self.conn())
            .await?)
    }

    /// Record that `actor` read an account's balances. Operation log:
    /// `account.balance_queried`.
    pub async fn record_balance_query(
        &self,
        query: BalanceQuery,
        actor: &str,
        now: DateTime<Utc>,
    ) -> Result<audit::Record> {
        let txn = self.begin_write().await?;
        let account = find_account(&txn, &query.account_id).await?;
        let balances = query.balances_json();
        let rec = record_operation(
            &txn,
            now,
            actor,
            "account.balance_queried",
            &account.id,
            json!({
                "account_id": account.id, "address": account.address,
                "block_number": query.block_number, "balances": balances, "cached": query.cached,
            }),
        )
        .await?;
        txn.commit().await?;
        Ok(rec)
    }
}

impl Db {
    /// Record that `actor` exported a signed `BalanceAttestation` of an account (the offline
    /// zone needs one to delete the case). Operation log: `account.attestation_exported`.
    pub async fn record_attestation_export(
        &self,
        account_id: &str,
        attestation_id: &str,
        query: &BalanceQuery,
        actor: &str,
        now: DateTime<Utc>,
    ) -> Result<audit::Record> {
        check_text("attestation_id", attestation_id)?;
        let txn = self.begin_write().await?;
        let account = find_account(&txn, account_id).await?;
        let balances = query.balances_json();
        let rec = record_operation(
            &txn,
            now,
            actor,
            "account.attestation_exported",
            &account.id,
            json!({
                "account_id": account.id, "address": account.address,
                "attestation_id": attestation_id, "block_number": query.block_number,
                "balances": balances,
            }),
        )
        .await?;
        txn.commit().await?;
        Ok(rec)
    }
}

/// The configured token `address` on `chain_id`, or a validation error.
pub(crate) async fn token_on_chain<C: ConnectionTrait>(
    txn: &C,
    chain_id: i64,
    address: &EthAddress,
) -> Result<tokens::Model> {
    tokens::Entity::find()
        .filter(tokens::Column::ChainId.eq(chain_id))
        .filter(tokens::Column::Address.eq(address.to_checksum()))
        .one(txn)
        .await?
        .ok_or_else(|| {
            invalid(
                "asset",
                format!("token {address} is not configured on chain {chain_id}"),
            )
        })
}

/// [`Db::grant_account`] inside the caller's transaction `txn`.
pub(crate) async fn grant_account_in(
    txn: &audit::Tx,
    account_id: &str,
    user_id: &str,
    actor: &str,
    now: DateTime<Utc>,
) -> Result<account_permissions::Model> {
    let account = find_account(txn, account_id).await?;
    let user = find_user(txn, user_id).await?;
    if user.role != Role::Trader || user.status != UserStatus::Active {
        return Err(invalid(
            "user_id",
            format!("user {} is not an active trader", user.username),
        ));
    }
    if granted(txn, &account.id, &user.id).await? {
        return Err(Error::AlreadyExists {
            what: "permission",
            key: format!("of {} on {}", user.username, account.address),
        });
    }
    let row = account_permissions::ActiveModel {
        account_id: Set(account.id.clone()),
        user_id: Set(user.id.clone()),
        granted_by: Set(actor.to_owned()),
        granted_at: Set(now),
    }
    .insert(txn)
    .await?;
    record_operation(
        txn,
        now,
        actor,
        "account.access_granted",
        &account.id,
        json!({"account_id": account.id, "address": account.address, "user_id": user.id, "username": user.username}),
    )
    .await?;
    Ok(row)
}

/// [`Db::set_policy`] inside the caller's transaction `txn`.
pub(crate) async fn set_policy_in(
    txn: &audit::Tx,
    account_id: &str,
    policy: PolicyInput,
    actor: &str,
    now: DateTime<Utc>,
) -> Result<policies::Model> {
    if policy.single_limit > policy.daily_limit {
        return Err(invalid(
            "single_limit",
            "must not be larger than the daily limit",
        ));
    }
    let asset = policy.asset.as_text();
    let account = find_account(txn, account_id).await?;
    if let Asset::Token(token) = policy.asset {
        token_on_chain(txn, account.chain_id, &token).await?;
    }
    let existing = policies::Entity::find()
        .filter(policies::Column::AccountId.eq(account.id.as_str()))
        .filter(policies::Column::Asset.eq(asset.as_str()))
        .one(txn)
        .await?;
    let previous = existing.as_ref().map(|p| {
        json!({"single_limit": p.single_limit, "daily_limit": p.daily_limit, "require_approval": p.require_approval})
    });
    let row = match existing {
        Some(p) => {
            let mut am: policies::ActiveModel = p.into();
            am.single_limit = Set(policy.single_limit.to_string());
            am.daily_limit = Set(policy.daily_limit.to_string());
            am.require_approval = Set(policy.require_approval);
            am.updated_by = Set(actor.to_owned());
            am.updated_at = Set(now);
            am.update(txn).await?
        }
        None => {
            policies::ActiveModel {
                id: Set(new_id(now)),
                account_id: Set(account.id.clone()),
                asset: Set(asset.clone()),
                single_limit: Set(policy.single_limit.to_string()),
                daily_limit: Set(policy.daily_limit.to_string()),
                require_approval: Set(policy.require_approval),
                updated_by: Set(actor.to_owned()),
                updated_at: Set(now),
            }
            .insert(txn)
            .await?
        }
    };
    record_operation(
        txn,
        now,
        actor,
        "policy.set",
        &account.id,
        json!({
            "account_id": account.id, "asset": asset,
            "single_limit": row.single_limit, "daily_limit": row.daily_limit,
            "require_approval": row.require_approval, "previous": previous,
        }),
    )
    .await?;
    Ok(row)
}

/// [`Db::allow_destination`] inside the caller's transaction `txn`.
pub(crate) async fn allow_destination_in(
    txn: &audit::Tx,
    account_id: &str,
    address: &EthAddress,
    label: &str,
    actor: &str,
    now: DateTime<Utc>,
) -> Result<destination_allowlist::Model> {
    check_text("label", label)?;
    let account = find_account(txn, account_id).await?;
    let to = address.to_checksum();
    let exists = destination_allowlist::Entity::find()
        .filter(destination_allowlist::Column::AccountId.eq(account.id.as_str()))
        .filter(destination_allowlist::Column::Address.eq(to.as_str()))
        .count(txn)
        .await?;
    if exists > 0 {
        return Err(Error::AlreadyExists {
            what: "allowed destination",
            key: to,
        });
    }
    let row = destination_allowlist::ActiveModel {
        id: Set(new_id(now)),
        account_id: Set(account.id.clone()),
        address: Set(to),
        label: Set(label.to_owned()),
        added_by: Set(actor.to_owned()),
        added_at: Set(now),
    }
    .insert(txn)
    .await?;
    record_operation(
        txn,
        now,
        actor,
        "policy.destination_allowed",
        &account.id,
        json!({"account_id": account.id, "address": row.address, "label": row.label}),
    )
    .await?;
    Ok(row)
}
