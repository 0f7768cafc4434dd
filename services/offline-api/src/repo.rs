//! Repository operations the API needs that `offline_db` does not have (yet), written over its
//! entities in the same style: one write transaction per operation
//! ([`audit::begin_write`]) holding the change and its audit record ([`audit::append`]), so
//! the audit fails closed and a rejected request leaves nothing behind.

use chrono::{DateTime, Utc};
use offline_db::entity::{auth_sessions, cases, login_attempts, users};
use offline_db::{CaseStatus, Db, Role, UserStatus};
use sea_orm::sea_query::{Expr, ExprTrait, Func};
use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter, Set};
use serde_json::json;

use crate::error::{ApiError, ApiResult};

use offline_db::new_id;

/// Appends the audit record of a change inside its transaction.
async fn audit<C: sea_orm::ConnectionTrait>(
    txn: &C,
    now: DateTime<Utc>,
    actor: &str,
    action: &str,
    object: &str,
    details: serde_json::Value,
) -> ApiResult<()> {
    offline_db::record_audit(txn, now, actor, action, object, details).await?;
    Ok(())
}

/// The role a self-registered account is stored with until an administrator approves it: no
/// role at all. The account is also stored DISABLED, so it cannot sign in before an administrator
/// has looked at it; enabling it without granting a role gives it no rights beyond its own
/// account. Approval = grant a role (re-authenticated), then enable.
pub(crate) const PENDING_ROLE: Role = Role::Unassigned;

/// Self-registration: a DISABLED account awaiting approval, and its audit record.
pub(crate) async fn register_user(
    db: &Db,
    username: &str,
    display_name: &str,
    phone: Option<String>,
    password_hash: String,
    now: DateTime<Utc>,
) -> ApiResult<users::Model> {
    let txn = audit::begin_write(db.conn()).await?;
    let taken = users::Entity::find()
        .filter(users::Column::Username.eq(username))
        .count(&txn)
        .await?;
    if taken > 0 {
        return Err(ApiError::invalid(
            "username",
            format!("{username} is already taken"),
        ));
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
    audit(
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

/// A session row to insert at login.
pub(crate) struct NewSessionRow {
    pub token_hash: String,
    pub csrf_hash: String,
    pub expires_at: DateTime<Utc>,
}

/// One evaluated login attempt: the attempt row, the audit record and — on success — the new
/// session (and the revocation of the session the client presented, if any: rotation).
pub(crate) async fn record_login(
    db: &Db,
    username_key: &str,
    ip: &str,
    user: Option<&users::Model>,
    session: Option<NewSessionRow>,
    revoke_previous: Option<String>,
    now: DateTime<Utc>,
) -> ApiResult<Option<auth_sessions::Model>> {
    let txn = audit::begin_write(db.conn()).await?;
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
        audit(
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
        audit(
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
pub(crate) async fn record_reauth_failure(
    db: &Db,
    user: &users::Model,
    ip: &str,
    now: DateTime<Utc>,
) -> ApiResult<()> {
    let txn = audit::begin_write(db.conn()).await?;
    login_attempts::ActiveModel {
        id: Set(new_id(now)),
        username: Set(user.username.clone()),
        ip: Set(ip.to_owned()),
        at: Set(now),
        success: Set(false),
    }
    .insert(&txn)
    .await?;
    audit(
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
pub(crate) async fn attempts(
    db: &Db,
    key: &str,
    by_ip: bool,
    since: DateTime<Utc>,
) -> ApiResult<Vec<login_attempts::Model>> {
    let col = if by_ip {
        login_attempts::Column::Ip
    } else {
        login_attempts::Column::Username
    };
    Ok(login_attempts::Entity::find()
        .filter(col.eq(key))
        .filter(login_attempts::Column::At.gt(since))
        .all(db.conn())
        .await?)
}

/// End a session (logout).
pub(crate) async fn revoke_session(
    db: &Db,
    session_id: &str,
    user_id: &str,
    now: DateTime<Utc>,
) -> ApiResult<()> {
    let txn = audit::begin_write(db.conn()).await?;
    auth_sessions::Entity::update_many()
        .col_expr(auth_sessions::Column::RevokedAt, Expr::value(now))
        .filter(auth_sessions::Column::Id.eq(session_id))
        .filter(auth_sessions::Column::RevokedAt.is_null())
        .exec(&txn)
        .await?;
    audit(
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
pub(crate) async fn touch_session(db: &Db, session_id: &str, now: DateTime<Utc>) -> ApiResult<()> {
    auth_sessions::Entity::update_many()
        .col_expr(auth_sessions::Column::LastSeenAt, Expr::value(now))
        .filter(auth_sessions::Column::Id.eq(session_id))
        .exec(db.conn())
        .await?;
    Ok(())
}

async fn find_user<C: sea_orm::ConnectionTrait>(txn: &C, user_id: &str) -> ApiResult<users::Model> {
    users::Entity::find_by_id(user_id.to_owned())
        .one(txn)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("user {user_id} does not exist")))
}

/// Grant a role.
pub(crate) async fn set_role(
    db: &Db,
    user_id: &str,
    role: Role,
    actor: &str,
    now: DateTime<Utc>,
) -> ApiResult<users::Model> {
    let txn = audit::begin_write(db.conn()).await?;
    let user = find_user(&txn, user_id).await?;
    let from = user.role;
    let mut am: users::ActiveModel = user.into();
    am.role = Set(role);
    am.updated_at = Set(now);
    let user = am.update(&txn).await?;
    audit(
        &txn,
        now,
        actor,
        "user.role_changed",
        &user.id,
        json!({"username": user.username, "from": from, "to": role}),
    )
    .await?;
    txn.commit().await?;
    Ok(user)
}

/// Enable or disable a user; disabling revokes every open session of the user in the same
/// transaction.
pub(crate) async fn set_status(
    db: &Db,
    user_id: &str,
    status: UserStatus,
    actor: &str,
    now: DateTime<Utc>,
) -> ApiResult<(users::Model, u64)> {
    let txn = audit::begin_write(db.conn()).await?;
    let user = find_user(&txn, user_id).await?;
    let from = user.status;
    let mut am: users::ActiveModel = user.into();
    am.status = Set(status);
    am.updated_at = Set(now);
    let user = am.update(&txn).await?;
    let mut revoked = 0;
    if status == UserStatus::Disabled {
        revoked = auth_sessions::Entity::update_many()
            .col_expr(auth_sessions::Column::RevokedAt, Expr::value(now))
            .filter(auth_sessions::Column::UserId.eq(user.id.as_str()))
            .filter(auth_sessions::Column::RevokedAt.is_null())
            .exec(&txn)
            .await?
            .rows_affected;
    }
    audit(
        &txn,
        now,
        actor,
        "user.status_changed",
        &user.id,
        json!({"username": user.username, "from": from, "to": status, "sessions_revoked": revoked}),
    )
    .await?;
    txn.commit().await?;
    Ok((user, revoked))
}

/// The ACTIVE case whose address is `address` (compared case-insensitively: addresses may be
/// stored checksummed).
pub(crate) async fn active_case_by_address(
    db: &Db,
    address: &str,
) -> ApiResult<Option<cases::Model>> {
    Ok(cases::Entity::find()
        .filter(cases::Column::Status.eq(CaseStatus::Active))
        .filter(
            Expr::expr(Func::lower(Expr::col(cases::Column::Address)))
                .eq(address.to_ascii_lowercase()),
        )
        .one(db.conn())
        .await?)
}
