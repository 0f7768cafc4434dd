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
