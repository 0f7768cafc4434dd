//! Users, roles and sign-in bookkeeping: the online zone's [`auth::AccountStore`] (the verbs
//! `web::gate` uses in both zones).
//!
//! There is no lockout: an account is never locked, not even for a while, because a lock that
//! refuses the right password is one an anonymous attacker can keep renewing (issue 15).
//! Brute force is throttled per (account, source), per account and per source by
//! `auth::throttle` (its counters are in [`crate::throttle`]); the API claims an attempt there
//! before it evaluates the password, and records here only the attempts it evaluated.

use std::time::SystemTime;

use auth::sql::sessions;
use auth::{AccountStore, Registration, SessionRow, SignInFailure, StoredSession};
use chrono::{DateTime, Utc};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, PaginatorTrait, QueryFilter,
    QueryOrder, Set,
};
use serde_json::json;

use crate::entity::{login_attempts, users};
use crate::logs::record_operation;
use crate::{check_text, invalid, new_id, Db, Error, Result, Role, UserStatus};

impl From<Role> for auth::Role {
    fn from(role: Role) -> Self {
        match role {
            Role::Unassigned => auth::Role::Unassigned,
            Role::Admin => auth::Role::Admin,
            Role::Trader => auth::Role::Trader,
            Role::Auditor => auth::Role::Auditor,
        }
    }
}

/// A user to create; a fresh user has no role. The password hash comes from the auth layer
/// (Argon2id).
#[derive(Clone)]
pub struct NewUser {
    /// Login name, unique.
    pub username: String,
    /// Name shown in the UI.
    pub display_name: String,
    /// Argon2id PHC string.
    pub password_hash: String,
}

impl std::fmt::Debug for NewUser {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewUser")
            .field("username", &self.username)
            .finish_non_exhaustive()
    }
}

pub(crate) async fn find_user<C: ConnectionTrait>(txn: &C, user_id: &str) -> Result<users::Model> {
    users::Entity::find_by_id(user_id.to_owned())
        .one(txn)
        .await?
        .ok_or_else(|| Error::NotFound {
            what: "user",
            id: user_id.to_owned(),
        })
}

/// An ACTIVE user with the trader role.
pub(crate) async fn active_trader<C: ConnectionTrait>(
    txn: &C,
    user_id: &str,
) -> Result<users::Model> {
    let user = find_user(txn, user_id).await?;
    if user.role != Role::Trader || user.status != UserStatus::Active {
        return Err(Error::Forbidden(format!(
            "user {} is not an active trader",
            user.username
        )));
    }
    Ok(user)
}

async fn revoke_sessions<C: ConnectionTrait>(
    txn: &C,
    user_id: &str,
    now: DateTime<Utc>,
) -> Result<u64> {
    Ok(sessions::end_all(txn, user_id, now).await?)
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

/// [`Db::set_role`] inside the caller's transaction `txn`.
pub(crate) async fn set_role_in(
    txn: &audit::Tx,
    user_id: &str,
    role: Role,
    actor: &str,
    now: DateTime<Utc>,
) -> Result<users::Model> {
    let user = find_user(txn, user_id).await?;
    let from = user.role;
    if from == role {
        return Err(Error::Conflict(format!(
            "user {} already has this role",
            user.username
        )));
    }
    let mut am: users::ActiveModel = user.into();
    am.role = Set(role);
    am.updated_at = Set(now);
    let user = am.update(txn).await?;
    record_operation(
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

impl Db {
    /// Create a user with no role (ACTIVE, so they can sign in and see that they have no
    /// rights). Operation log: `user.created`.
    pub async fn create_user(
        &self,
        new: NewUser,
        actor: &str,
        now: DateTime<Utc>,
    ) -> Result<users::Model> {
        self.create_user_with_role(new, Role::Unassigned, actor, now)
            .await
    }

    /// Create a user who has `role` from the start, in one transaction (the first
    /// administrator, bootstrapped from the command line). Operation log: `user.created`,
    /// naming the role.
    pub async fn create_user_with_role(
        &self,
        new: NewUser,
        role: Role,
        actor: &str,
        now: DateTime<Utc>,
    ) -> Result<users::Model> {
        check_text("username", &new.username)?;
        check_text("display_name", &new.display_name)?;
        if new.password_hash.is_empty() {
            return Err(invalid("password_hash", "must not be empty"));
        }
        let txn = self.begin_write().await?;
        let taken = users::Entity::find()
            .filter(users::Column::Username.eq(new.username.as_str()))
            .count(&txn)
            .await?;
        if taken > 0 {
            return Err(Error::AlreadyExists {
                what: "username",
                key: new.username,
            });
        }
        let user = users::ActiveModel {
            id: Set(new_id(now)),
            username: Set(new.username),
            display_name: Set(new.display_name),
            password_hash: Set(new.password_hash),
            role: Set(role),
            status: Set(UserStatus::Active),
            failed_logins: Set(0),
            locked_until: Set(None),
            created_at: Set(now),
            updated_at: Set(now),
        }
        .insert(&txn)
        .await?;
        record_operation(
            &txn,
            now,
            actor,
            "user.created",
            &user.id,
            json!({"username": user.username, "role": user.role}),
        )
        .await?;
        txn.commit().await?;
        Ok(user)
    }

    /// Grant a role (or take it away with [`Role::Unassigned`]). Operation log:
    /// `user.role_changed`.
    pub async fn set_role(
        &self,
        user_id: &str,
        role: Role,
        actor: &str,
        now: DateTime<Utc>,
    ) -> Result<users::Model> {
        let txn = self.begin_write().await?;
        let user = set_role_in(&txn, user_id, role, actor, now).await?;
        txn.commit().await?;
        Ok(user)
    }

    /// Enable or disable a user; disabling revokes their sessions. Operation log:
    /// `user.status_changed`.
    pub async fn set_status(
        &self,
        user_id: &str,
        status: UserStatus,
        actor: &str,
        now: DateTime<Utc>,
    ) -> Result<users::Model> {
        let txn = self.begin_write().await?;
        let user = find_user(&txn, user_id).await?;
        let from = user.status;
        if from == status {
            return Err(Error::Conflict(format!(
                "user {} already has this status",
                user.username
            )));
        }
        let mut am: users::ActiveModel = user.into();
        am.status = Set(status);
        am.updated_at = Set(now);
        let user = am.update(&txn).await?;
        let revoked = if status == UserStatus::Disabled {
            revoke_sessions(&txn, &user.id, now).await?
        } else {
            0
        };
        record_operation(
            &txn,
            now,
            actor,
            "user.status_changed",
            &user.id,
            json!({"username": user.username, "from": from, "to": status, "sessions_revoked": revoked}),
        )
        .await?;
        txn.commit().await?;
        Ok(user)
    }

    /// Evaluated login attempts since `since` for a username (`by_ip = false`) or an IP, for
    /// `auth::throttle`.
    pub async fn login_attempts(
        &self,
        key: &str,
        by_ip: bool,
        since: DateTime<Utc>,
    ) -> Result<Vec<login_attempts::Model>> {
        Ok(auth::sql::sessions::attempts_since(self.conn(), key, by_ip, since).await?)
    }

    /// A user by id.
    pub async fn user(&self, user_id: &str) -> Result<Option<users::Model>> {
        Ok(users::Entity::find_by_id(user_id.to_owned())
            .one(self.conn())
            .await?)
    }

    /// Every user, oldest first.
    pub async fn users(&self) -> Result<Vec<users::Model>> {
        Ok(users::Entity::find()
            .order_by_asc(users::Column::CreatedAt)
            .order_by_asc(users::Column::Id)
            .all(self.conn())
            .await?)
    }

    /// A user by username.
    pub async fn user_by_username(&self, username: &str) -> Result<Option<users::Model>> {
        Ok(users::Entity::find()
            .filter(users::Column::Username.eq(username))
            .one(self.conn())
            .await?)
    }
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

/// The online zone's accounts: self-registered accounts are ACTIVE with no role (no rights
/// until an administrator grants one); every write is in the operation log, in the same
/// transaction.
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
            return Err(Error::Forbidden(format!(
                "user {} is disabled",
                user.username
            )));
        }
        attempt(&txn, &user.username, ip, true, now).await?;
        let created = sessions::start(&txn, new_id(now), &user.id, session, now).await?;
        if user.failed_logins != 0 || user.locked_until.is_some() {
            let mut am: users::ActiveModel = user.clone().into();
            am.failed_logins = Set(0);
            am.locked_until = Set(None);
            am.update(&txn).await?;
        }
        record_operation(
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

    /// The attempt row, the known user's failure count (informational: nothing locks on it)
    /// and `auth.login_failed` / `auth.reauth_failed`.
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
        let user = match account {
            Some(a) => Some(find_user(&txn, &a.id).await?),
            None => {
                users::Entity::find()
                    .filter(users::Column::Username.eq(username))
                    .one(&txn)
                    .await?
            }
        };
        attempt(&txn, username, ip, false, now).await?;
        let action = match why {
            SignInFailure::WrongPassword | SignInFailure::Disabled => "auth.login_failed",
            SignInFailure::Reauthentication => "auth.reauth_failed",
        };
        match user {
            Some(user) => {
                let failed = user.failed_logins.saturating_add(1);
                let mut am: users::ActiveModel = user.clone().into();
                am.failed_logins = Set(failed);
                am.locked_until = Set(None);
                am.update(&txn).await?;
                record_operation(
                    &txn,
                    now,
                    &user.id,
                    action,
                    &user.id,
                    json!({
                        "username": username,
                        "ip": ip,
                        "failed_logins": failed,
                        "account_disabled": why == SignInFailure::Disabled,
                    }),
                )
                .await?;
            }
            None => {
                record_operation(
                    &txn,
                    now,
                    "anonymous",
                    action,
                    username,
                    json!({"username": username, "ip": ip, "unknown_user": true}),
                )
                .await?;
            }
        }
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
        record_operation(
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
        self.create_user(
            NewUser {
                username: registration.username,
                display_name: registration.display_name,
                password_hash: registration.password_hash,
            },
            "anonymous:register",
            DateTime::<Utc>::from(now),
        )
        .await
    }
}
