//! Accounts and sign-in: the offline zone's [`auth::AccountStore`] (self-registration, sign-in
//! attempts and sessions, the verbs `web::gate` uses in both zones), roles. Same pattern as the
//! other operations: one write transaction holding the change and its audit record, so the
//! audit fails closed and a rejected request leaves nothing behind.

use std::time::SystemTime;

use auth::{AccountStore, Registration, SessionRow, SignInFailure, StoredSession};
use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Expr, ExprTrait, Func};
use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter, Set};
use serde_json::json;

use crate::entity::{auth_sessions, cases, login_attempts, users};
use crate::ops::{invalid, record_audit};
use crate::{new_id, CaseStatus, Db, Error, Result, Role, UserStatus};

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
        let col = if by_ip {
            login_attempts::Column::Ip
        } else {
            login_attempts::Column::Username
        };
        Ok(login_attempts::Entity::find()
            .filter(col.eq(key))
            .filter(login_attempts::Column::At.gt(since))
            .all(self.conn())
            .await?)
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

fn stored(s: auth_sessions::Model) -> StoredSession {
    StoredSession {
        id: s.id,
        user_id: s.user_id,
        csrf_hash: s.csrf_hash,
        created_at: s.created_at.into(),
        last_seen_at: s.last_seen_at.into(),
        revoked_at: s.revoked_at.map(Into::into),
    }
}

async fn attempt(
    txn: &audit::Tx,
    username: &str,
    ip: &str,
    success: bool,
    now: DateTime<Utc>,
) -> Result<()> {
    login_attempts::ActiveModel {
        id: Set(new_id(now)),
        username: Set(username.to_owned()),
        ip: Set(ip.to_owned()),
        at: Set(now),
        success: Set(success),
    }
    .insert(txn)
    .await?;
    Ok(())
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
        Ok(auth_sessions::Entity::find()
            .filter(auth_sessions::Column::TokenHash.eq(token_hash))
            .one(self.conn())
            .await?
            .map(stored))
    }

    async fn touch_session(&self, session_id: &str, now: SystemTime) -> Result<()> {
        auth_sessions::Entity::update_many()
            .col_expr(
                auth_sessions::Column::LastSeenAt,
                Expr::value(DateTime::<Utc>::from(now)),
            )
            .filter(auth_sessions::Column::Id.eq(session_id))
            .exec(self.conn())
            .await?;
        Ok(())
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
        if let Some(old) = &session.revoke_previous {
            auth_sessions::Entity::update_many()
                .col_expr(auth_sessions::Column::RevokedAt, Expr::value(now))
                .filter(auth_sessions::Column::Id.eq(old.as_str()))
                .filter(auth_sessions::Column::UserId.eq(user.id.as_str()))
                .filter(auth_sessions::Column::RevokedAt.is_null())
                .exec(&txn)
                .await?;
        }
        let created = auth_sessions::ActiveModel {
            id: Set(new_id(now)),
            token_hash: Set(session.token_hash),
            user_id: Set(user.id.clone()),
            csrf_hash: Set(session.csrf_hash),
            created_at: Set(now),
            last_seen_at: Set(now),
            expires_at: Set(session.expires_at.into()),
            revoked_at: Set(None),
        }
        .insert(&txn)
        .await?;
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
        Ok(stored(created))
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
        let revoked = auth_sessions::Entity::update_many()
            .col_expr(auth_sessions::Column::RevokedAt, Expr::value(now))
            .filter(auth_sessions::Column::Id.eq(session_id))
            .filter(auth_sessions::Column::UserId.eq(user_id))
            .filter(auth_sessions::Column::RevokedAt.is_null())
            .exec(&txn)
            .await?;
        if revoked.rows_affected == 0 {
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
        let taken = users::Entity::find()
            .filter(users::Column::Username.eq(registration.username.as_str()))
            .count(&txn)
            .await?;
        if taken > 0 {
            return Err(invalid(
                "username",
                format!("{} is already taken", registration.username),
            ));
        }
        let user = users::ActiveModel {
            id: Set(new_id(now)),
            username: Set(registration.username),
            display_name: Set(registration.display_name),
            phone: Set(registration.phone),
            password_hash: Set(registration.password_hash),
            role: Set(PENDING_ROLE),
            status: Set(UserStatus::Disabled),
            failed_logins: Set(0),
            locked_until: Set(None),
            created_at: Set(now),
            updated_at: Set(now),
        }
        .insert(&txn)
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
