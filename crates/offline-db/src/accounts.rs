//! Accounts and sign-in: the offline zone's [`auth::AccountStore`] (self-registration, sign-in
//! attempts and sessions, the verbs `web::gate` uses in both zones), roles. Same pattern as the
//! other operations: one write transaction holding the change and its audit record, so the
//! audit fails closed and a rejected request leaves nothing behind.

use std::time::SystemTime;

use auth::sql::sessions;
use auth::{AccountStore, Registration, SessionRow, SignInFailure, StoredSession};
use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Expr, ExprTrait, Func};
use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter, Set};
use serde_json::json;

use crate::entity::{cases, login_attempts, users};
use crate::ops::{insert_user_in, record_audit};
use crate::{new_id, CaseStatus, Db, Error, NewUser, Result, Role, UserStatus};

impl From<Role> for auth::Role {
    fn from(role: Role) -> Self {
        match role {
            Role::Unassigned => auth::Role::Unassigned,
            Role::Admin => auth::Role::Admin,
            Role::CaseManager => auth::Role::CaseManager,
            Role::Operator => auth::Role::Operator,
            Role::Auditor => auth::Role::Auditor,
        }
    }
}

/// The role a self-registered account is stored with until an administrator approves it: no
/// role at all. The account is also stored DISABLED, so it cannot sign in before an administrator
/// has looked at it; enabling it without granting a role gives it no rights beyond its own
/// account. Approval = grant a role (re-authenticated), then enable.
pub const PENDING_ROLE: Role = Role::Unassigned;

async fn find_user<C: sea_orm::ConnectionTrait>(txn: &C, user_id: &str) -> Result<users::Model> {
    users::Entity::find_by_id(user_id.to_owned())
        .one(txn)
        .await?
        .ok_or_else(|| Error::NotFound {
            what: "user",
            id: user_id.to_owned(),
        })
}

impl Db {
    /// Evaluated attempts since `since` for a username (`by_ip = false`) or an IP.
    pub async fn login_attempts(
        &self,
        key: &str,
        by_ip: bool,
        since: DateTime<Utc>,
    ) -> Result<Vec<login_attempts::Model>> {
        Ok(auth::sql::sessions::attempts_since(self.conn(), key, by_ip, since).await?)
    }

    /// Grant a role.
    pub async fn set_user_role(
        &self,
        user_id: &str,
        role: Role,
        actor: &str,
        now: DateTime<Utc>,
    ) -> Result<users::Model> {
        let txn = self.begin_write().await?;
        let out = set_user_role_in(&txn, user_id, role, actor, now).await?;
        txn.commit().await?;
        Ok(out)
    }

    /// The ACTIVE case whose address is `address` (compared case-insensitively: addresses may be
    /// stored checksummed).
    pub async fn active_case_by_address(&self, address: &str) -> Result<Option<cases::Model>> {
        Ok(cases::Entity::find()
            .filter(cases::Column::Status.eq(CaseStatus::Active))
            .filter(
                Expr::expr(Func::lower(Expr::col(cases::Column::Address)))
                    .eq(address.to_ascii_lowercase()),
            )
            .one(self.conn())
            .await?)
    }
}

/// Grant a role.
/// Runs inside the caller's write transaction `txn` (see [`Db::set_user_role`]).
pub(crate) async fn set_user_role_in(
    txn: &audit::Tx,
    user_id: &str,
    role: Role,
    actor: &str,
    now: DateTime<Utc>,
) -> Result<users::Model> {
    let user = find_user(txn, user_id).await?;
    let from = user.role;
    let mut am: users::ActiveModel = user.into();
    am.role = Set(role);
    am.updated_at = Set(now);
    let user = am.update(txn).await?;
    record_audit(
        txn,
        now,
        actor,
        "user.role_changed",
        &user.id,
        json!({"username": user.username, "from": from, "to": role}),
    )
    .await?;
    Ok(user)
}

impl auth::Account for users::Model {
    fn id(&self) -> &str {
        &self.id
    }
    fn username(&self) -> &str {
        &self.username
    }
    fn password_hash(&self) -> &str {
        &self.password_hash
    }
    fn role(&self) -> auth::Role {
        self.role.into()
    }
    fn is_active(&self) -> bool {
        self.status == UserStatus::Active
    }
}

async fn attempt<C: sea_orm::ConnectionTrait>(
    txn: &C,
    username: &str,
    ip: &str,
    success: bool,
    now: DateTime<Utc>,
) -> Result<()> {
    Ok(sessions::attempt(txn, new_id(now), username, ip, success, now).await?)
}

/// The offline zone's accounts: self-registered accounts are DISABLED, awaiting approval
/// ([`PENDING_ROLE`]); every write is audited in the same transaction.
impl AccountStore for Db {
    type Account = users::Model;
    type Error = Error;

    async fn account_by_username(&self, username: &str) -> Result<Option<users::Model>> {
        Ok(users::Entity::find()
            .filter(users::Column::Username.eq(username))
            .one(self.conn())
            .await?)
    }

    async fn account(&self, id: &str) -> Result<Option<users::Model>> {
        Ok(users::Entity::find_by_id(id.to_owned())
            .one(self.conn())
            .await?)
    }

    async fn session_by_token_hash(&self, token_hash: &str) -> Result<Option<StoredSession>> {
        Ok(sessions::by_token_hash(self.conn(), token_hash).await?)
    }

    async fn touch_session(&self, session_id: &str, now: SystemTime) -> Result<()> {
        Ok(sessions::touch(self.conn(), session_id, now).await?)
    }

    async fn record_sign_in(
        &self,
        account: &users::Model,
        ip: &str,
        session: SessionRow,
        now: SystemTime,
    ) -> Result<StoredSession> {
        let now = DateTime::<Utc>::from(now);
        let txn = self.begin_write().await?;
        let user = find_user(&txn, &account.id).await?;
        if user.status != UserStatus::Active {
            return Err(Error::NotPermitted(format!(
                "user {} is disabled",
                user.username
            )));
        }
        attempt(&txn, &user.username, ip, true, now).await?;
        let created = sessions::start(&txn, new_id(now), &user.id, session, now).await?;
        record_audit(
            &txn,
            now,
            &user.id,
            "auth.login_succeeded",
            &user.id,
            json!({"ip": ip, "session_id": created.id}),
        )
        .await?;
        txn.commit().await?;
        Ok(created)
    }

    async fn record_failed_sign_in(
        &self,
        username: &str,
        account: Option<&users::Model>,
        ip: &str,
        why: SignInFailure,
        now: SystemTime,
    ) -> Result<()> {
        let now = DateTime::<Utc>::from(now);
        let txn = self.begin_write().await?;
        attempt(&txn, username, ip, false, now).await?;
        let (actor, object) = match account {
            Some(u) => (u.id.as_str(), u.id.as_str()),
            None => ("anonymous", username),
        };
        let (action, detail) = match why {
            SignInFailure::WrongPassword => {
                ("auth.login_failed", json!({"username": username, "ip": ip}))
            }
            SignInFailure::Disabled => (
                "auth.login_failed",
                json!({"username": username, "ip": ip, "account_disabled": true}),
            ),
            SignInFailure::Reauthentication => ("auth.reauth_failed", json!({"ip": ip})),
        };
        record_audit(&txn, now, actor, action, object, detail).await?;
        txn.commit().await?;
        Ok(())
    }

    async fn sign_out(&self, session_id: &str, user_id: &str, now: SystemTime) -> Result<()> {
        let now = DateTime::<Utc>::from(now);
        let txn = self.begin_write().await?;
        if !sessions::end(&txn, session_id, user_id, now).await? {
            return Err(Error::NotFound {
                what: "active session",
                id: session_id.to_owned(),
            });
        }
        record_audit(
            &txn,
            now,
            user_id,
            "auth.logout",
            user_id,
            json!({"session_id": session_id}),
        )
        .await?;
        txn.commit().await?;
        Ok(())
    }

    async fn register(&self, registration: Registration, now: SystemTime) -> Result<users::Model> {
        let now = DateTime::<Utc>::from(now);
        let txn = self.begin_write().await?;
        let user = insert_user_in(
            &txn,
            NewUser {
                username: registration.username,
                display_name: registration.display_name,
                phone: registration.phone,
                password_hash: registration.password_hash,
                role: PENDING_ROLE,
            },
            UserStatus::Disabled,
            now,
        )
        .await?;
        record_audit(
            &txn,
            now,
            &user.id,
            "user.registered",
            &user.id,
            json!({"username": user.username, "status": "DISABLED", "pending_approval": true}),
        )
        .await?;
        txn.commit().await?;
        Ok(user)
    }
}
