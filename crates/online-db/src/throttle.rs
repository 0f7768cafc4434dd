//! The sign-in throttle's store: `auth`'s counters in the `sign_in_throttle` table. The policy
//! (what a claim does, growing delays, the per-source and per-account limits) lives in
//! `auth::throttle`; this module only reads a counter and writes it back with a
//! compare-and-swap on `version`, one statement each, so concurrent claims serialise on the row
//! on both SQLite and PostgreSQL. Bookkeeping, not logged (the evaluated attempts are).

use std::time::SystemTime;

use auth::{Counter, CounterStore};
use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Expr, OnConflict};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, Set};

use crate::entity::sign_in_throttle as row;
use crate::{Db, Error};

fn to_counter(m: &row::Model) -> Counter {
    Counter {
        count: u32::try_from(m.count.max(0)).unwrap_or(u32::MAX),
        window_start: SystemTime::from(m.window_start),
        last_at: SystemTime::from(m.last_at),
        trusted: m.trusted,
    }
}

impl CounterStore for Db {
    type Error = Error;

    async fn load(&self, key: &str) -> Result<Option<(Counter, i64)>, Error> {
        Ok(row::Entity::find_by_id(key.to_owned())
            .one(self.conn())
            .await?
            .map(|m| (to_counter(&m), m.version)))
    }

    async fn insert(&self, key: &str, counter: &Counter) -> Result<bool, Error> {
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
        .exec_without_returning(self.conn())
        .await?;
        Ok(inserted == 1)
    }

    async fn replace(&self, key: &str, version: i64, counter: &Counter) -> Result<bool, Error> {
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
            .exec(self.conn())
            .await?;
        Ok(updated.rows_affected == 1)
    }
}

impl Db {
    /// How many counted claims the throttle holds under `key` (tests and diagnostics).
    pub async fn throttle_count(&self, key: &str) -> Result<Option<u32>, Error> {
        Ok(self.load(key).await?.map(|(c, _)| c.count))
    }
}
