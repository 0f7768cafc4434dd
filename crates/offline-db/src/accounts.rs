//! Accounts and sign-in: self-registration, login attempts and sessions, roles. Same pattern
//! as the other operations: one write transaction holding the change and its audit record, so
//! the audit fails closed and a rejected request leaves nothing behind.

use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Expr, ExprTrait, Func};
use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter, Set};
use serde_json::json;

use crate::entity::{auth_sessions, cases, login_attempts, users};
use crate::ops::{invalid, record_audit};
use crate::{new_id, CaseStatus, Db, Error, Result, Role, UserStatus};

/// The role a self-registered account is stored with until an administrator approves it: no
/// role at all. The account is also stored DISABLED, so it cannot sign in before an administrator
/// has looked at it; enabling it without granting a role gives it no rights beyond its own
/// account. Approval = grant a role (re-authenticated), then enable.
pub const PENDING_ROLE: Role = Role::Unassigned;

/// A session row to insert at login.
pub struct NewSessionRow {
    /// Hash of the session token.
    pub token_hash: String,
    /// Hash of the CSRF token.
    pub csrf_hash: String,
    /// Absolute expiry.
    pub expires_at: DateTime<Utc>,
}

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
    /// Self-registration: a DISABLED account awaiting approval, and its audit record.
    pub async fn register_user(
        &self,
        username: &str,
        display_name: &str,
        phone: Option<String>,
        password_hash: String,
        now: DateTime<Utc>,
    ) -> Result<users::Model> {
        let txn = self.begin_write().await?;
        let taken = users::Entity::find()
            .filter(users::Column::Username.eq(username))
            .count(&txn)
            .await?;
        if taken > 0 {
            return Err(invalid("username", format!("{username} is already taken")));
        }
        let user = users::ActiveModel {
            id: Set(new_id(now)),
            username: Set(username.to_owned()),
            display_name: Set(display_name.to_owned()),
            phone: Set(phone),
            password_hash: Set(password_hash),
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

    /// One evaluated login attempt: the attempt row, the audit record and — on success — the new
    /// session (and the revocation of the session the client presented, if any: rotation).
    pub async fn record_login(
        &self,
        username_key: &str,
        ip: &str,
        user: Option<&users::Model>,
        session: Option<NewSessionRow>,
        revoke_previous: Option<String>,
        now: DateTime<Utc>,
    ) -> Result<Option<auth_sessions::Model>> {
        let txn = self.begin_write().await?;
        let success = session.is_some();
        login_attempts::ActiveModel {
            id: Set(new_id(now)),
            username: Set(username_key.to_owned()),
            ip: Set(ip.to_owned()),
            at: Set(now),
            success: Set(success),
        }
        .insert(&txn)
        .await?;
        let mut created = None;
        if let (Some(row), Some(user)) = (session, user) {
            if let Some(old) = revoke_previous {
                auth_sessions::Entity::update_many()
                    .col_expr(auth_sessions::Column::RevokedAt, Expr::value(now))
                    .filter(auth_sessions::Column::Id.eq(old))
                    .filter(auth_sessions::Column::RevokedAt.is_null())
                    .exec(&txn)
                    .await?;
            }
            let s = auth_sessions::ActiveModel {
                id: Set(new_id(now)),
                token_hash: Set(row.token_hash),
                user_id: Set(user.id.clone()),
                csrf_hash: Set(row.csrf_hash),
                created_at: Set(now),
                last_seen_at: Set(now),
                expires_at: Set(row.expires_at),
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
                json!({"ip": ip, "session_id": s.id}),
            )
            .await?;
            created = Some(s);
        } else {
            let (actor, object) = match user {
                Some(u) => (u.id.as_str(), u.id.as_str()),
                None => ("anonymous", username_key),
            };
            record_audit(
                &txn,
                now,
                actor,
                "auth.login_failed",
                object,
                json!({"username": username_key, "ip": ip}),
            )
            .await?;
        }
        txn.commit().await?;
        Ok(created)
    }

    /// A failed re-authentication: counts as a failed login for throttling, audited.
    pub async fn record_reauth_failure(
        &self,
        user: &users::Model,
        ip: &str,
        now: DateTime<Utc>,
    ) -> Result<()> {
        let txn = self.begin_write().await?;
        login_attempts::ActiveModel {
            id: Set(new_id(now)),
            username: Set(user.username.clone()),
            ip: Set(ip.to_owned()),
            at: Set(now),
            success: Set(false),
        }
        .insert(&txn)
        .await?;
        record_audit(
            &txn,
            now,
            &user.id,
            "auth.reauth_failed",
            &user.id,
            json!({"ip": ip}),
        )
        .await?;
        txn.commit().await?;
        Ok(())
    }

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

    /// End a session (logout).
    pub async fn revoke_session(
        &self,
        session_id: &str,
        user_id: &str,
        now: DateTime<Utc>,
    ) -> Result<()> {
        let txn = self.begin_write().await?;
        auth_sessions::Entity::update_many()
            .col_expr(auth_sessions::Column::RevokedAt, Expr::value(now))
            .filter(auth_sessions::Column::Id.eq(session_id))
            .filter(auth_sessions::Column::RevokedAt.is_null())
            .exec(&txn)
            .await?;
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

    /// Record that a session was used (idle timeout). Bookkeeping, not audited.
    pub async fn touch_session(&self, session_id: &str, now: DateTime<Utc>) -> Result<()> {
        auth_sessions::Entity::update_many()
            .col_expr(auth_sessions::Column::LastSeenAt, Expr::value(now))
            .filter(auth_sessions::Column::Id.eq(session_id))
            .exec(self.conn())
            .await?;
        Ok(())
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
