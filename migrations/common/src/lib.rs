//! Small column and constraint helpers shared by both zones' migrations, so each step reads like
//! the data model in DESIGN.md §6: UUIDv7 string ids, UTC timestamps, status columns with CHECK
//! constraints, foreign keys that never cascade.

use sea_orm_migration::prelude::*;

/// A UUIDv7 string primary key.
pub fn id(name: &'static str) -> ColumnDef {
    ColumnDef::new(name)
        .string_len(36)
        .not_null()
        .primary_key()
        .to_owned()
}

/// A UUIDv7 string reference (foreign key added separately).
pub fn ref_id(name: &'static str) -> ColumnDef {
    ColumnDef::new(name).string_len(36).not_null().to_owned()
}

/// A nullable UUIDv7 string reference.
pub fn opt_ref_id(name: &'static str) -> ColumnDef {
    ColumnDef::new(name).string_len(36).null().to_owned()
}

/// A required text column.
pub fn text(name: &'static str) -> ColumnDef {
    ColumnDef::new(name).string().not_null().to_owned()
}

/// A nullable text column.
pub fn opt_text(name: &'static str) -> ColumnDef {
    ColumnDef::new(name).string().null().to_owned()
}

/// A required UTC timestamp.
pub fn ts(name: &'static str) -> ColumnDef {
    ColumnDef::new(name)
        .timestamp_with_time_zone()
        .not_null()
        .to_owned()
}

/// A nullable UTC timestamp.
pub fn opt_ts(name: &'static str) -> ColumnDef {
    ColumnDef::new(name)
        .timestamp_with_time_zone()
        .null()
        .to_owned()
}

/// A required status string limited to `values` by a CHECK constraint.
pub fn status(name: &'static str, values: &[&'static str]) -> ColumnDef {
    ColumnDef::new(name)
        .string()
        .not_null()
        .check(Expr::col(name).is_in(values.iter().copied()))
        .to_owned()
}

/// A foreign key `table.col → ref_table.id`; deletes are restricted so history cannot vanish
/// by cascading.
pub fn fk(
    table: &'static str,
    col: &'static str,
    ref_table: &'static str,
) -> ForeignKeyCreateStatement {
    ForeignKey::create()
        .name(format!("fk_{table}_{col}"))
        .from(table, col)
        .to(ref_table, "id")
        .on_delete(ForeignKeyAction::Restrict)
        .on_update(ForeignKeyAction::Restrict)
        .to_owned()
}

/// Create a (unique) index on `table(cols)`.
pub async fn index(
    manager: &SchemaManager<'_>,
    table: &'static str,
    cols: &[&'static str],
    unique: bool,
) -> Result<(), DbErr> {
    let mut idx = Index::create();
    idx.name(format!(
        "{}_{table}_{}",
        if unique { "uq" } else { "idx" },
        cols.join("_")
    ))
    .table(table);
    for col in cols {
        idx.col(*col);
    }
    if unique {
        idx.unique();
    }
    manager.create_index(idx).await
}

/// Run one statement written in the SQL both engines share (for partial indexes, which the
/// schema builder does not express).
pub async fn raw(manager: &SchemaManager<'_>, sql: &str) -> Result<(), DbErr> {
    manager
        .get_connection()
        .execute_unprepared(sql)
        .await
        .map(|_| ())
}

/// The sign-in tables both zones keep beside their `users` table: `auth_sessions` (hashed
/// session and CSRF tokens, idle and absolute expiry, revocation) and `login_attempts` (what
/// throttling and lockout count). Run after `users` exists.
pub async fn create_sign_in_tables(m: &SchemaManager<'_>) -> Result<(), DbErr> {
    m.create_table(
        Table::create()
            .table("auth_sessions")
            .col(id("id"))
            .col(text("token_hash"))
            .col(ref_id("user_id"))
            .col(text("csrf_hash"))
            .col(ts("created_at"))
            .col(ts("last_seen_at"))
            .col(ts("expires_at"))
            .col(opt_ts("revoked_at"))
            .foreign_key(&mut fk("auth_sessions", "user_id", "users"))
            .to_owned(),
    )
    .await?;
    index(m, "auth_sessions", &["token_hash"], true).await?;
    index(m, "auth_sessions", &["user_id"], false).await?;

    m.create_table(
        Table::create()
            .table("login_attempts")
            .col(id("id"))
            .col(text("username"))
            .col(text("ip"))
            .col(ts("at"))
            .col(ColumnDef::new("success").boolean().not_null())
            .to_owned(),
    )
    .await?;
    index(m, "login_attempts", &["username", "at"], false).await?;
    index(m, "login_attempts", &["ip", "at"], false).await
}

/// The sign-in throttle's counters (crate `auth`, module `throttle`), added to both zones by a
/// later step: one row per key (`pair:<account>|<source>`, `account:<account>`,
/// `source:<source>`, `register:<source>`), changed only by a compare-and-swap on `version`, so
/// concurrent attempts claim one after the other on both engines.
pub async fn create_throttle_table(m: &SchemaManager<'_>) -> Result<(), DbErr> {
    m.create_table(
        Table::create()
            .table(THROTTLE_TABLE)
            .col(
                ColumnDef::new("counter_key")
                    .string_len(400)
                    .not_null()
                    .primary_key(),
            )
            .col(
                ColumnDef::new("count")
                    .big_integer()
                    .not_null()
                    .check(Expr::col("count").gte(0)),
            )
            .col(ts("window_start"))
            .col(ts("last_at"))
            .col(ColumnDef::new("trusted").boolean().not_null())
            .col(ColumnDef::new("version").big_integer().not_null())
            .to_owned(),
    )
    .await?;
    index(m, THROTTLE_TABLE, &["last_at"], false).await
}

/// The name of the throttle's table.
pub const THROTTLE_TABLE: &str = "sign_in_throttle";

/// The four-eyes proposals both zones keep (crate `auth`, module `proposal`): what a privileged
/// person proposed (`kind`, `payload` JSON), when it expires, and who decided it. The status is
/// changed only by a compare-and-swap from PENDING, in the transaction that applies the change.
/// Run after `users` exists.
pub async fn create_proposals_table(m: &SchemaManager<'_>) -> Result<(), DbErr> {
    m.create_table(
        Table::create()
            .table(PROPOSALS_TABLE)
            .col(id("id"))
            .col(text("kind"))
            .col(ColumnDef::new("payload").text().not_null())
            .col(status(
                "status",
                &["PENDING", "APPROVED", "REJECTED", "CANCELLED"],
            ))
            .col(ref_id("proposed_by"))
            .col(ts("proposed_at"))
            .col(ts("expires_at"))
            .col(opt_ref_id("decided_by"))
            .col(opt_ts("decided_at"))
            .col(opt_text("result"))
            .foreign_key(&mut fk(PROPOSALS_TABLE, "proposed_by", "users"))
            .foreign_key(&mut fk(PROPOSALS_TABLE, "decided_by", "users"))
            .to_owned(),
    )
    .await?;
    index(m, PROPOSALS_TABLE, &["status", "proposed_at"], false).await
}

/// The name of the proposals table ([`create_proposals_table`]).
pub const PROPOSALS_TABLE: &str = "proposals";

/// The consumers' idempotency table (DESIGN.md §7): a consumer claims a message id here in the
/// same transaction as its effect; the primary key makes a second claim of the same
/// `(consumer, msg_id)` insert nothing.
pub async fn create_processed_messages(m: &SchemaManager<'_>) -> Result<(), DbErr> {
    m.create_table(
        Table::create()
            .table(PROCESSED_TABLE)
            .col(text("consumer"))
            .col(text("msg_id"))
            .col(ts("at"))
            .primary_key(Index::create().col("consumer").col("msg_id"))
            .to_owned(),
    )
    .await
}

/// The consumers' idempotency table ([`create_processed_messages`]).
pub const PROCESSED_TABLE: &str = "processed_messages";

/// Claim `msg_id` for `consumer` inside `conn` (the transaction of the consumer's effect,
/// normally): `INSERT … ON CONFLICT DO NOTHING`. True if this is the first claim, that is, if a
/// row was inserted; the claim is kept only if that transaction commits.
pub async fn claim_processed<C: sea_orm_migration::sea_orm::ConnectionTrait>(
    conn: &C,
    consumer: &str,
    msg_id: &str,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<bool, DbErr> {
    let mut insert = Query::insert();
    insert
        .into_table(PROCESSED_TABLE)
        .columns(["consumer", "msg_id", "at"])
        .values([
            Expr::value(consumer.to_owned()),
            Expr::value(msg_id.to_owned()),
            Expr::value(now),
        ])
        .map_err(|e| DbErr::Custom(format!("building the processed-message insert: {e}")))?
        .on_conflict(
            OnConflict::columns(["consumer", "msg_id"])
                .do_nothing()
                .to_owned(),
        );
    let result = conn.execute(&insert).await?;
    Ok(result.rows_affected() == 1)
}

/// How long a SQLite writer waits for another writer's transaction before giving up.
pub const SQLITE_BUSY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

/// Why a zone's database could not be opened.
#[derive(Debug)]
pub enum OpenError {
    /// The database could not be reached.
    Connect(DbErr),
    /// The schema could not be brought up to date.
    Migrate(DbErr),
}

/// Open a zone's database at `url` (`sqlite://path?mode=rwc` or `postgres://…`) and run its
/// migrations `M`. SQLite gets WAL, full fsync, foreign keys and a busy timeout so concurrent
/// writers wait instead of failing.
pub async fn open<M: MigratorTrait>(
    url: &str,
) -> Result<sea_orm_migration::sea_orm::DatabaseConnection, OpenError> {
    use sea_orm_migration::sea_orm::sqlx::sqlite::{SqliteJournalMode, SqliteSynchronous};
    use sea_orm_migration::sea_orm::{ConnectOptions, Database};
    let mut opts = ConnectOptions::new(url.to_owned());
    opts.sqlx_logging(false);
    opts.map_sqlx_sqlite_opts(|o| {
        o.journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .foreign_keys(true)
            .busy_timeout(SQLITE_BUSY_TIMEOUT)
    });
    let conn = Database::connect(opts).await.map_err(OpenError::Connect)?;
    M::up(&conn, None).await.map_err(OpenError::Migrate)?;
    Ok(conn)
}

/// A UUIDv7 string whose time part is `now`, so ids sort by creation time without reading the
/// clock here.
pub fn new_id(now: chrono::DateTime<chrono::Utc>) -> String {
    // A shared counter keeps ids made at the same instant in creation order, so outbox rows
    // written in one transaction (same `now`) are relayed in the order they were written.
    static CONTEXT: std::sync::Mutex<uuid::ContextV7> =
        std::sync::Mutex::new(uuid::ContextV7::new());
    let secs = <u64 as std::convert::TryFrom<i64>>::try_from(now.timestamp()).unwrap_or(0);
    uuid::Uuid::new_v7(uuid::Timestamp::from_unix(
        &CONTEXT,
        secs,
        now.timestamp_subsec_nanos(),
    ))
    .to_string()
}
