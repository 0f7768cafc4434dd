//! Tokens, custody accounts (imported from the offline zone's manifests), balances read from
//! the node, who may use an account, its limits and allow-list, and the balance attestation
//! the offline zone needs to delete a case.

use auth::Action;
use contracts::envelope::AssetBalance;
use contracts::{AccountManifest, BalanceAttestation, EthAddress};
use online_db::entity::accounts;
use online_db::{Asset, BalanceQuery, Funds, NewAccount, NewToken, PolicyInput};
use poem::Request;
use poem_openapi::param::{Path, Query};
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, OpenApi};

use crate::api::{state, text, Tag};
use crate::dto::*;
use crate::error::{ApiError, ApiResult};
use crate::export;
use crate::proposals::{propose, Proposed};
use crate::session::Caller;
use crate::state::AppState;

/// How long an exported balance attestation stays valid (the offline zone accepts attestations
/// up to 24 hours old).
pub const ATTESTATION_TTL_SECS: u64 = 24 * 3600;

/// Symbols longer than this, or with other than ASCII letters and digits, are refused: a
/// token contract's `symbol()` is untrusted text.
const MAX_SYMBOL: usize = 16;

/// Done; nothing to return.
#[derive(ApiResponse)]
pub enum NoContent {
    /// Done.
    #[oai(status = 204)]
    Done,
}

/// A policy change: applied at once (it only tightens) or proposed (it loosens).
#[derive(ApiResponse)]
pub enum PolicyReply {
    /// The policy was set (it lowers limits or keeps maker-checker on).
    #[oai(status = 200)]
    Set(Json<PolicyView>),
    /// Proposal submitted; it takes effect when a second administrator approves it.
    #[oai(status = 202)]
    Proposed(Json<web::proposal_view::ProposalView>),
}

/// The account endpoints.
pub struct AccountsApi {
    /// `None` only when the service is built to print the OpenAPI document.
    pub(crate) state: Option<AppState>,
}

/// An EIP-55 address from user input: exactly the checksummed form (all-lowercase or
/// all-uppercase text is refused too, so a typo cannot slip through unchecked), not zero.
pub(crate) fn checksummed(field: &str, value: &str) -> ApiResult<EthAddress> {
    let value = value.trim();
    let address = EthAddress::parse(value).map_err(|e| ApiError::invalid(field, e.to_string()))?;
    if address.to_checksum() != value {
        return Err(ApiError::invalid(
            field,
            format!(
                "must be written with its EIP-55 checksum ({}); copy it from a trusted source",
                address.to_checksum()
            ),
        ));
    }
    if address == EthAddress([0; 20]) {
        return Err(ApiError::invalid(
            field,
            "is the zero address; funds sent there are lost",
        ));
    }
    Ok(address)
}

/// An amount in base units from user input.
pub(crate) fn amount(field: &str, value: &str) -> ApiResult<contracts::Amount> {
    contracts::Amount::parse(value.trim()).map_err(|e| ApiError::invalid(field, e.to_string()))
}

/// `ETH` or a configured token's address.
pub(crate) fn asset(value: &str) -> ApiResult<Asset> {
    let value = value.trim();
    if value == "ETH" {
        return Ok(Asset::Eth);
    }
    Ok(Asset::Token(checksummed("asset", value)?))
}

/// The account, if the caller may see it: traders only the accounts granted to them.
pub(crate) async fn visible_account(
    st: &AppState,
    caller: &Caller,
    account_id: &str,
) -> ApiResult<accounts::Model> {
    let account = st
        .inner
        .db
        .account(account_id)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("account {account_id} does not exist")))?;
    if caller.user.role == online_db::Role::Trader
        && !st.inner.db.may_use(&account.id, &caller.user.id).await?
    {
        return Err(ApiError::NotPermitted(format!(
            "account {} is not granted to you; ask an administrator",
            account.id
        )));
    }
    Ok(account)
}

fn stored<T>(r: online_db::Result<T>) -> ApiResult<T> {
    r.map_err(ApiError::from)
}

/// The configured tokens of the chain, with their display data.
pub(crate) async fn chain_tokens(
    st: &AppState,
) -> ApiResult<Vec<online_db::entity::tokens::Model>> {
    Ok(st.inner.db.tokens(st.inner.chain.chain_id()).await?)
}

/// The balances of an account: from the cache when fresh (and `fresh` is not asked for),
/// else from the node, which refreshes the cache. Returns whether they were cached.
pub(crate) async fn balances_of(
    st: &AppState,
    account: &accounts::Model,
    fresh: bool,
) -> ApiResult<(chain::Balances, bool)> {
    if !fresh {
        if let Some(hit) = st.cached(&account.id) {
            return Ok((hit.balances, true));
        }
    }
    let tokens: Vec<chain::TokenAddress> = chain_tokens(st)
        .await?
        .iter()
        .map(|t| EthAddress::parse(&t.address).map(chain::TokenAddress))
        .collect::<Result<_, _>>()
        .map_err(ApiError::internal)?;
    let balances = st
        .inner
        .chain
        .balances(stored(account.address())?, &tokens)
        .await?;
    st.remember(&account.id, balances.clone());
    Ok((balances, false))
}

/// The account's balances for a policy check ([`online_db::Funds`]): read fresh from the
/// node at one block, never from the cache, because creation, approval, export and signature
/// import each check that the balance still covers the transfer.
pub(crate) async fn funds_of(st: &AppState, account: &accounts::Model) -> ApiResult<Funds> {
    let (balances, _) = balances_of(st, account, true).await?;
    Ok(funds(&balances))
}

/// [`online_db::Funds`] of balances read from the node.
pub(crate) fn funds(balances: &chain::Balances) -> Funds {
    Funds {
        eth: balances.eth,
        tokens: balances
            .tokens
            .iter()
            .map(|t| (t.token.0, t.amount))
            .collect(),
    }
}

fn balance_query(account_id: &str, balances: &chain::Balances, cached: bool) -> BalanceQuery {
    let mut list = vec![(Asset::Eth, balances.eth)];
    list.extend(
        balances
            .tokens
            .iter()
            .map(|t| (Asset::Token(t.token.0), t.amount)),
    );
    BalanceQuery {
        account_id: account_id.to_owned(),
        block_number: balances.block.number,
        balances: list,
        cached,
    }
}

#[OpenApi(prefix_path = "/api")]
impl AccountsApi {
    /// The ERC-20 tokens configured on this chain.
    #[oai(path = "/tokens", method = "get", tag = "Tag::Accounts")]
    async fn tokens(&self, req: &Request) -> ApiResult<Json<Vec<TokenView>>> {
        let st = state(&self.state)?;
        st.authorize(req, Action::ViewAccounts).await?;
        Ok(Json(
            chain_tokens(st)
                .await?
                .iter()
                .map(TokenView::from)
                .collect(),
        ))
    }

    /// Configure an ERC-20 token; its symbol and decimals are read from the contract.
    /// Administrators only.
    #[oai(path = "/tokens", method = "post", tag = "Tag::Accounts")]
    async fn add_token(
        &self,
        req: &Request,
        body: Json<AddTokenRequest>,
    ) -> ApiResult<Json<TokenView>> {
        let st = state(&self.state)?;
        let caller = st.authorize(req, Action::ManageAccountPolicies).await?;
        let address = checksummed("address", &body.0.address)?;
        let info = st
            .inner
            .chain
            .token_info(chain::TokenAddress(address))
            .await
            .map_err(|e| {
                ApiError::invalid(
                    "address",
                    format!("is not an ERC-20 token on this chain ({e})"),
                )
            })?;
        if info.symbol.is_empty()
            || info.symbol.len() > MAX_SYMBOL
            || !info.symbol.bytes().all(|b| b.is_ascii_alphanumeric())
        {
            return Err(ApiError::invalid(
                "address",
                "the token's symbol is not 1 to 16 ASCII letters and digits; it is refused",
            ));
        }
        let token = st
            .inner
            .db
            .add_token(
                NewToken {
                    chain_id: st.inner.chain.chain_id(),
                    address,
                    symbol: info.symbol,
                    decimals: info.decimals,
                },
                &caller.user.id,
                st.now(),
            )
            .await?;
        Ok(Json(TokenView::from(&token)))
    }

    /// Import an `AccountManifest` from the offline zone: its HSM signature is verified
    /// against the pinned keys, and the account is bound to its case.
    #[oai(path = "/accounts/import", method = "post", tag = "Tag::Accounts")]
    async fn import_manifest(
        &self,
        req: &Request,
        body: Json<ImportRequest>,
    ) -> ApiResult<Json<AccountView>> {
        let st = state(&self.state)?;
        let caller = st.authorize(req, Action::ImportAccountManifest).await?;
        let (verified, hash) = export::import::<AccountManifest>(st, &body.0.document).await?;
        let witness = verified.witness().to_vec();
        let manifest_id = verified.id().to_string();
        let manifest = verified.into_body();
        let address = *manifest
            .addresses
            .first()
            .ok_or_else(|| ApiError::invalid("document", "the manifest names no address"))?;
        let label = match &body.0.label {
            Some(l) => text("label", l)?,
            None => format!("case {}", manifest.case_id),
        };
        let account = st
            .inner
            .db
            .import_account(
                NewAccount {
                    address,
                    public_key: manifest.public_key.clone(),
                    case_ref: manifest.case_id.to_string(),
                    manifest_chain_ids: manifest.chain_ids.clone(),
                    chain_id: st.inner.chain.chain_id(),
                    label,
                    manifest_id,
                    manifest_hash: hash,
                },
                &caller.user.id,
                st.now(),
            )
            .await?;
        export::keep_witness(st, &witness, &account.manifest_id).await;
        Ok(Json(AccountView::from(&account)))
    }

    /// The accounts the caller may see: a trader's granted accounts, every account for
    /// administrators and auditors.
    #[oai(path = "/accounts", method = "get", tag = "Tag::Accounts")]
    async fn accounts(&self, req: &Request) -> ApiResult<Json<Vec<AccountView>>> {
        let st = state(&self.state)?;
        let caller = st.authorize(req, Action::ViewAccounts).await?;
        let list = if caller.user.role == online_db::Role::Trader {
            st.inner.db.accounts_for_user(&caller.user.id).await?
        } else {
            st.inner.db.list_accounts().await?
        };
        Ok(Json(list.iter().map(AccountView::from).collect()))
    }

    /// One account.
    #[oai(path = "/accounts/:id", method = "get", tag = "Tag::Accounts")]
    async fn account(&self, req: &Request, id: Path<String>) -> ApiResult<Json<AccountView>> {
        let st = state(&self.state)?;
        let caller = st.authorize(req, Action::ViewAccounts).await?;
        Ok(Json(AccountView::from(
            &visible_account(st, &caller, &id.0).await?,
        )))
    }

    /// The account's ETH and token balances, all read at one block. Served from a short
    /// cache unless `fresh=true`. Every query is recorded in the operation log.
    #[oai(path = "/accounts/:id/balances", method = "get", tag = "Tag::Accounts")]
    async fn balances(
        &self,
        req: &Request,
        id: Path<String>,
        fresh: Query<Option<bool>>,
    ) -> ApiResult<Json<BalancesView>> {
        let st = state(&self.state)?;
        let caller = st.authorize(req, Action::ViewAccounts).await?;
        let account = visible_account(st, &caller, &id.0).await?;
        let (balances, cached) = balances_of(st, &account, fresh.0.unwrap_or(false)).await?;
        st.inner
            .db
            .record_balance_query(
                balance_query(&account.id, &balances, cached),
                &caller.user.id,
                st.now(),
            )
            .await?;
        let tokens = chain_tokens(st).await?;
        let mut views = vec![BalanceView {
            asset: "ETH".to_owned(),
            symbol: "ETH".to_owned(),
            decimals: 18,
            amount: balances.eth.to_string(),
        }];
        for t in &balances.tokens {
            let address = t.token.0.to_checksum();
            let meta = tokens.iter().find(|k| k.address == address);
            views.push(BalanceView {
                asset: address.clone(),
                symbol: meta.map(|k| k.symbol.clone()).unwrap_or_default(),
                decimals: meta
                    .and_then(|k| u8::try_from(k.decimals).ok())
                    .unwrap_or(0),
                amount: t.amount.to_string(),
            });
        }
        Ok(Json(BalancesView {
            account_id: account.id,
            address: account.address,
            block_number: balances.block.number,
            block_hash: format!("{:#x}", balances.block.hash),
            cached,
            balances: views,
        }))
    }

    /// Propose to let a trader use the account, confirmed with your password: `202` with the
    /// proposal; the trader may use the account once a second administrator approves it.
    /// Administrators only.
    #[oai(path = "/accounts/:id/grants", method = "post", tag = "Tag::Accounts")]
    async fn grant(
        &self,
        req: &Request,
        id: Path<String>,
        body: Json<GrantRequest>,
    ) -> ApiResult<Proposed> {
        let st = state(&self.state)?;
        let caller = st.authorize(req, Action::ManageAccountPolicies).await?;
        let body = body.0;
        st.reauthenticate(req, &caller, body.password).await?;
        let action = online_db::ProposalAction::GrantAccount {
            account_id: id.0.clone(),
            user_id: body.user_id.trim().to_owned(),
        };
        propose(st, &caller, &action).await
    }

    /// Take the account away from a trader. Administrators only.
    #[oai(
        path = "/accounts/:id/grants/:user_id",
        method = "delete",
        tag = "Tag::Accounts"
    )]
    async fn revoke(
        &self,
        req: &Request,
        id: Path<String>,
        user_id: Path<String>,
    ) -> ApiResult<NoContent> {
        let st = state(&self.state)?;
        let caller = st.authorize(req, Action::ManageAccountPolicies).await?;
        st.inner
            .db
            .revoke_account(&id.0, &user_id.0, &caller.user.id, st.now())
            .await?;
        Ok(NoContent::Done)
    }

    /// Set the limits of one asset on the account, confirmed with your password. A change
    /// that only lowers limits or keeps maker-checker on applies at once (`200`); one that
    /// raises a limit, turns maker-checker off or sets the asset's first limits is a proposal
    /// (`202`) that takes effect when a second administrator approves it. Administrators only.
    #[oai(path = "/accounts/:id/policies", method = "put", tag = "Tag::Accounts")]
    async fn set_policy(
        &self,
        req: &Request,
        id: Path<String>,
        body: Json<PolicyRequest>,
    ) -> ApiResult<PolicyReply> {
        let st = state(&self.state)?;
        let caller = st.authorize(req, Action::ManageAccountPolicies).await?;
        let body = body.0;
        let policy = PolicyInput {
            asset: asset(&body.asset)?,
            single_limit: amount("single_limit", &body.single_limit)?,
            daily_limit: amount("daily_limit", &body.daily_limit)?,
            require_approval: body.require_approval,
        };
        st.reauthenticate(req, &caller, body.password).await?;
        if st.inner.db.policy_needs_approval(&id.0, &policy).await? {
            let action = online_db::ProposalAction::raise_policy(&id.0, &policy);
            let Proposed::Accepted(view) = propose(st, &caller, &action).await?;
            return Ok(PolicyReply::Proposed(view));
        }
        let policy = st
            .inner
            .db
            .set_policy(&id.0, policy, &caller.user.id, st.now())
            .await?;
        Ok(PolicyReply::Set(Json(PolicyView::from(&policy))))
    }

    /// Propose a destination for the account's allow-list (once it has one, transfers go only
    /// to listed destinations), confirmed with your password: `202` with the proposal; it is
    /// listed when a second administrator approves it. Administrators only.
    #[oai(
        path = "/accounts/:id/destinations",
        method = "post",
        tag = "Tag::Accounts"
    )]
    async fn allow_destination(
        &self,
        req: &Request,
        id: Path<String>,
        body: Json<DestinationRequest>,
    ) -> ApiResult<Proposed> {
        let st = state(&self.state)?;
        let caller = st.authorize(req, Action::ManageAccountPolicies).await?;
        let body = body.0;
        let address = checksummed("address", &body.address)?;
        let label = text("label", &body.label)?;
        st.reauthenticate(req, &caller, body.password).await?;
        let action = online_db::ProposalAction::add_destination(&id.0, &address, &label);
        propose(st, &caller, &action).await
    }

    /// Export a `BalanceAttestation` of the account, signed by the export key: its balances
    /// read from the node now, at one block. The offline zone needs an empty one to delete the
    /// account's case.
    #[oai(
        path = "/accounts/:id/attestation",
        method = "post",
        tag = "Tag::Accounts"
    )]
    async fn attestation(
        &self,
        req: &Request,
        id: Path<String>,
    ) -> ApiResult<Json<ExportedDocument>> {
        let st = state(&self.state)?;
        let caller = st.authorize(req, Action::ExportBalanceAttestation).await?;
        let account = visible_account(st, &caller, &id.0).await?;
        let (balances, cached) = balances_of(st, &account, true).await?;
        let tokens = chain_tokens(st).await?;
        let mut list = vec![AssetBalance {
            asset: "ETH".to_owned(),
            token: None,
            amount: balances.eth,
        }];
        for t in &balances.tokens {
            let address = t.token.0.to_checksum();
            list.push(AssetBalance {
                asset: tokens
                    .iter()
                    .find(|k| k.address == address)
                    .map(|k| k.symbol.clone())
                    .unwrap_or_default(),
                token: Some(t.token.0),
                amount: t.amount,
            });
        }
        let body = BalanceAttestation {
            address: stored(account.address())?,
            chain_id: st.inner.chain.chain_id(),
            balances: list,
            block_number: balances.block.number,
            block_hash: balances.block.hash.0,
        };
        let (envelope, document) = export::seal(st, body, ATTESTATION_TTL_SECS).await?;
        st.inner
            .db
            .record_attestation_export(
                &account.id,
                &envelope.id().to_string(),
                &balance_query(&account.id, &balances, cached),
                &caller.user.id,
                st.now(),
            )
            .await?;
        Ok(Json(document))
    }
}
