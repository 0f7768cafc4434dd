//! The sign-in throttle's store in SQL (feature `sql`): `throttle`'s counters in the
//! `sign_in_throttle` table both zones' migrations create, for any sea-orm connection. A counter
//! is read, then written back with a compare-and-swap on `version`, one statement each, so
//! concurrent claims serialise on the row on both SQLite and PostgreSQL. Bookkeeping, not
//! logged (the evaluated attempts are).

use std::time::SystemTime;

use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Expr, OnConflict};
use sea_orm::{ColumnTrait, DatabaseConnection, DbErr, EntityTrait, QueryFilter, Set};

use crate::{Counter, CounterStore};

/// The `sign_in_throttle` table: one row per counter key, changed only by a compare-and-swap
/// on `version`.
pub mod sign_in_throttle {
    use sea_orm::entity::prelude::*;

    /// One row of `sign_in_throttle`.
    #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
    #[sea_orm(table_name = "sign_in_throttle")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub counter_key: String,
        pub count: i64,
        pub window_start: DateTimeUtc,
        pub last_at: DateTimeUtc,
        pub trusted: bool,
        pub version: i64,
    }

    /// No relations.
    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

use sign_in_throttle as row;

fn to_counter(m: &row::Model) -> Counter {
    Counter {
        count: u32::try_from(m.count.max(0)).unwrap_or(u32::MAX),
        window_start: SystemTime::from(m.window_start),
        last_at: SystemTime::from(m.last_at),
        trusted: m.trusted,
    }
}

impl CounterStore for DatabaseConnection {
    type Error = DbErr;

    async fn load(&self, key: &str) -> Result<Option<(Counter, i64)>, DbErr> {
        Ok(row::Entity::find_by_id(key.to_owned())
            .one(self)
            .await?
            .map(|m| (to_counter(&m), m.version)))
    }

    async fn insert(&self, key: &str, counter: &Counter) -> Result<bool, DbErr> {
        let inserted = row::Entity::insert(row::ActiveModel {
            counter_key: Set(key.to_owned()),
            count: Set(i64::from(counter.count)),
            window_start: Set(DateTime::<Utc>::from(counter.window_start)),
            last_at: Set(DateTime::<Utc>::from(counter.last_at)),
            trusted: Set(counter.trusted),
            version: Set(0),
        })
        .on_conflict(
            OnConflict::column(row::Column::CounterKey)
                .do_nothing()
                .to_owned(),
        )
        .exec_without_returning(self)
        .await?;
        Ok(inserted == 1)
    }

    async fn replace(&self, key: &str, version: i64, counter: &Counter) -> Result<bool, DbErr> {
        let updated = row::Entity::update_many()
            .col_expr(row::Column::Count, Expr::value(i64::from(counter.count)))
            .col_expr(
                row::Column::WindowStart,
                Expr::value(DateTime::<Utc>::from(counter.window_start)),
            )
            .col_expr(
                row::Column::LastAt,
                Expr::value(DateTime::<Utc>::from(counter.last_at)),
            )
            .col_expr(row::Column::Trusted, Expr::value(counter.trusted))
            .col_expr(row::Column::Version, Expr::value(version.wrapping_add(1)))
            .filter(row::Column::CounterKey.eq(key))
            .filter(row::Column::Version.eq(version))
            .exec(self)
            .await?;
        Ok(updated.rows_affected == 1)
    }
}

/// How many counted claims the throttle holds under `key` (tests and diagnostics).
pub async fn count(conn: &DatabaseConnection, key: &str) -> Result<Option<u32>, DbErr> {
    Ok(conn.load(key).await?.map(|(c, _)| c.count))
}

/// The `auth_sessions` table both zones migrate: web sessions, stored by the hash of their
/// token only. `Debug` leaves out both hashes.
pub mod auth_sessions {
    use sea_orm::entity::prelude::*;

    /// One row of `auth_sessions`.
    #[derive(Clone, PartialEq, DeriveEntityModel)]
    #[sea_orm(table_name = "auth_sessions")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: String,
        pub token_hash: String,
        pub user_id: String,
        pub csrf_hash: String,
        pub created_at: DateTimeUtc,
        pub last_seen_at: DateTimeUtc,
        pub expires_at: DateTimeUtc,
        pub revoked_at: Option<DateTimeUtc>,
    }

    impl std::fmt::Debug for Model {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.debug_struct("AuthSession")
                .field("id", &self.id)
                .field("user_id", &self.user_id)
                .field("expires_at", &self.expires_at)
                .field("revoked_at", &self.revoked_at)
                .finish_non_exhaustive()
        }
    }

    /// Relations are followed by id in the repositories; none are declared.
    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// The `login_attempts` table both zones migrate: every evaluated sign-in attempt.
pub mod login_attempts {
    use sea_orm::entity::prelude::*;

    /// One row of `login_attempts`.
    #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
    #[sea_orm(table_name = "login_attempts")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: String,
        /// The username as typed (normalised), so unknown names are recorded too.
        pub username: String,
        pub ip: String,
        pub at: DateTimeUtc,
        pub success: bool,
    }

    /// No relations.
    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// The session and attempt rows of `AccountStore`, the same in both zones; each zone wraps
/// them in its write transaction with its audit record (`crate::accounts`).
pub mod sessions {
    use std::time::SystemTime;

    use chrono::{DateTime, Utc};
    use sea_orm::sea_query::Expr;
    use sea_orm::{
        ActiveModelTrait, ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, Set,
    };

    use super::{auth_sessions, login_attempts};
    use crate::{SessionRow, StoredSession};

    /// A stored row as the gate sees it.
    pub fn stored(s: auth_sessions::Model) -> StoredSession {
        StoredSession {
            id: s.id,
            user_id: s.user_id,
            csrf_hash: s.csrf_hash,
            created_at: s.created_at.into(),
            last_seen_at: s.last_seen_at.into(),
            revoked_at: s.revoked_at.map(Into::into),
        }
    }

    /// The session with this token hash, revoked or not.
    pub async fn by_token_hash<C: ConnectionTrait>(
        conn: &C,
        token_hash: &str,
    ) -> Result<Option<StoredSession>, DbErr> {
        Ok(auth_sessions::Entity::find()
            .filter(auth_sessions::Column::TokenHash.eq(token_hash))
            .one(conn)
            .await?
            .map(stored))
    }

    /// Record that a session was used.
    pub async fn touch<C: ConnectionTrait>(
        conn: &C,
        session_id: &str,
        now: SystemTime,
    ) -> Result<(), DbErr> {
        auth_sessions::Entity::update_many()
            .col_expr(
                auth_sessions::Column::LastSeenAt,
                Expr::value(DateTime::<Utc>::from(now)),
            )
            .filter(auth_sessions::Column::Id.eq(session_id))
            .exec(conn)
            .await?;
        Ok(())
    }

    /// Insert session `id` for `user_id`, revoking the one the client presented (if it is
    /// that user's).
    pub async fn start<C: ConnectionTrait>(
        txn: &C,
        id: String,
        user_id: &str,
        row: SessionRow,
        now: DateTime<Utc>,
    ) -> Result<StoredSession, DbErr> {
        if let Some(old) = &row.revoke_previous {
            auth_sessions::Entity::update_many()
                .col_expr(auth_sessions::Column::RevokedAt, Expr::value(now))
                .filter(auth_sessions::Column::Id.eq(old.as_str()))
                .filter(auth_sessions::Column::UserId.eq(user_id))
                .filter(auth_sessions::Column::RevokedAt.is_null())
                .exec(txn)
                .await?;
        }
        let created = auth_sessions::ActiveModel {
            id: Set(id),
            token_hash: Set(row.token_hash),
            user_id: Set(user_id.to_owned()),
            csrf_hash: Set(row.csrf_hash),
            created_at: Set(now),
            last_seen_at: Set(now),
            expires_at: Set(row.expires_at.into()),
            revoked_at: Set(None),
        }
        .insert(txn)
        .await?;
        Ok(stored(created))
    }

    /// Revoke session `session_id` of `user_id`; false when there was no such live session.
    pub async fn end<C: ConnectionTrait>(
        txn: &C,
        session_id: &str,
        user_id: &str,
        now: DateTime<Utc>,
    ) -> Result<bool, DbErr> {
        let revoked = auth_sessions::Entity::update_many()
            .col_expr(auth_sessions::Column::RevokedAt, Expr::value(now))
            .filter(auth_sessions::Column::Id.eq(session_id))
            .filter(auth_sessions::Column::UserId.eq(user_id))
            .filter(auth_sessions::Column::RevokedAt.is_null())
            .exec(txn)
            .await?;
        Ok(revoked.rows_affected > 0)
    }

    /// Revoke every live session of `user_id`; how many.
    pub async fn end_all<C: ConnectionTrait>(
        txn: &C,
        user_id: &str,
        now: DateTime<Utc>,
    ) -> Result<u64, DbErr> {
        let revoked = auth_sessions::Entity::update_many()
            .col_expr(auth_sessions::Column::RevokedAt, Expr::value(now))
            .filter(auth_sessions::Column::UserId.eq(user_id))
            .filter(auth_sessions::Column::RevokedAt.is_null())
            .exec(txn)
            .await?;
        Ok(revoked.rows_affected)
    }

    /// Record evaluated attempt `id`.
    pub async fn attempt<C: ConnectionTrait>(
        txn: &C,
        id: String,
        username: &str,
        ip: &str,
        success: bool,
        now: DateTime<Utc>,
    ) -> Result<(), DbErr> {
        login_attempts::ActiveModel {
            id: Set(id),
            username: Set(username.to_owned()),
            ip: Set(ip.to_owned()),
            at: Set(now),
            success: Set(success),
        }
        .insert(txn)
        .await?;
        Ok(())
    }

    /// Evaluated attempts since `since` for a username (`by_ip = false`) or an IP.
    pub async fn attempts_since<C: ConnectionTrait>(
        conn: &C,
        key: &str,
        by_ip: bool,
        since: DateTime<Utc>,
    ) -> Result<Vec<login_attempts::Model>, DbErr> {
        let col = if by_ip {
            login_attempts::Column::Ip
        } else {
            login_attempts::Column::Username
        };
        login_attempts::Entity::find()
            .filter(col.eq(key))
            .filter(login_attempts::Column::At.gt(since))
            .all(conn)
            .await
    }
}
