//! A fresh database per test, on SQLite and on PostgreSQL.
//!
//! The product runs on SQLite (the embedded default) and PostgreSQL (production), and every
//! database test runs on both: [`TestDb::both`] gives one of each, and the test body loops over
//! them. A SQLite database is a file in its own temporary directory; a PostgreSQL database is
//! created with a unique name on the server at `CUSTODY_TEST_PG_URL` (default
//! `postgres://postgres@127.0.0.1:5432/postgres`). Both are removed when the [`TestDb`] is
//! dropped. Databases left behind by a test process that was killed before its `Drop` ran are
//! removed by the next test process that creates one (their names carry the process id).
//!
//! If PostgreSQL is not reachable the constructor fails with a message that says how to start
//! it; tests never skip silently, because a suite that passes only on SQLite proves half of what
//! it claims.

use std::fmt;
use std::time::Duration;

use sea_orm::{ConnectOptions, ConnectionTrait, Database, DatabaseConnection, Statement};

use crate::{Error, Result};

/// The environment variable naming the PostgreSQL server (a maintenance database URL).
pub const PG_URL_ENV: &str = "CUSTODY_TEST_PG_URL";
/// The server used when [`PG_URL_ENV`] is not set.
pub const DEFAULT_PG_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";
/// Every test database name starts with this, followed by the creating process id.
const PG_PREFIX: &str = "custody_test_";

/// Which database engine a [`TestDb`] runs on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DbKind {
    /// A SQLite file.
    Sqlite,
    /// A PostgreSQL database.
    Postgres,
}

impl fmt::Display for DbKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Sqlite => "sqlite",
            Self::Postgres => "postgres",
        })
    }
}

/// A database that exists for one test and is removed on `Drop`.
pub struct TestDb {
    kind: DbKind,
    url: String,
    /// The SQLite file's directory; removing it removes the database, its WAL and SHM files.
    _dir: Option<tempfile::TempDir>,
    /// For PostgreSQL: the server's maintenance URL and the database name, to drop it.
    pg: Option<(String, String)>,
}

impl fmt::Debug for TestDb {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TestDb")
            .field("kind", &self.kind)
            .field("url", &self.url)
            .finish()
    }
}

impl TestDb {
    /// A fresh SQLite database file in its own temporary directory.
    pub fn sqlite() -> Result<TestDb> {
        let dir = tempfile::Builder::new()
            .prefix("custody-testdb-")
            .tempdir()
            .map_err(crate::io_context(
                "creating a temporary directory for SQLite",
            ))?;
        let path = dir.path().join("custody.db");
        let url = format!("sqlite://{}?mode=rwc", path.display());
        Ok(TestDb {
            kind: DbKind::Sqlite,
            url,
            _dir: Some(dir),
            pg: None,
        })
    }

    /// A fresh, uniquely named PostgreSQL database on the server at `CUSTODY_TEST_PG_URL`.
    pub async fn postgres() -> Result<TestDb> {
        let admin_url = std::env::var(PG_URL_ENV).unwrap_or_else(|_| DEFAULT_PG_URL.to_owned());
        TestDb::postgres_at(admin_url).await
    }

    /// A fresh, uniquely named PostgreSQL database on the server at `admin_url` (a URL of a
    /// database that user may connect to, e.g. `postgres`).
    pub async fn postgres_at(admin_url: String) -> Result<TestDb> {
        // A refused connection is retried until the acquire timeout; fail fast instead of
        // making every test wait 30 s to learn that the server is down.
        let mut opts = ConnectOptions::new(admin_url.clone());
        opts.max_connections(1)
            .connect_timeout(Duration::from_secs(5))
            .acquire_timeout(Duration::from_secs(5))
            .sqlx_logging(false);
        let admin = Database::connect(opts).await.map_err(|e| {
            Error::Setup(format!(
                "PostgreSQL is not reachable at {admin_url} ({e}). Start it with \
                 `pg_ctlcluster --skip-systemctl-redirect 15 main start`, or point \
                 {PG_URL_ENV} at a server where user postgres may create databases."
            ))
        })?;
        remove_stale_databases(&admin).await;
        let name = format!(
            "{PG_PREFIX}{}_{}",
            std::process::id(),
            uuid::Uuid::now_v7().simple()
        );
        exec(&admin, &format!("CREATE DATABASE \"{name}\""))
            .await
            .map_err(|e| Error::Setup(format!("creating test database {name} failed: {e}")))?;
        let _ = admin.close().await;
        let url = replace_database(&admin_url, &name)?;
        Ok(TestDb {
            kind: DbKind::Postgres,
            url,
            _dir: None,
            pg: Some((admin_url, name)),
        })
    }

    /// One SQLite and one PostgreSQL database, so a test body can run on both engines:
    /// `for db in TestDb::both().await? { … }`.
    pub async fn both() -> Result<[TestDb; 2]> {
        Ok([TestDb::sqlite()?, TestDb::postgres().await?])
    }

    /// The connection URL (`sqlite://…?mode=rwc` or `postgres://…/custody_test_…`).
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The engine this database runs on.
    pub fn kind(&self) -> DbKind {
        self.kind
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let Some((admin_url, name)) = self.pg.take() else {
            return;
        };
        // Drop runs inside the test's runtime, which cannot be blocked on; a short-lived thread
        // with its own runtime drops the database and is joined, so nothing leaks even when the
        // test process exits right after. WITH (FORCE) ends connections a pool still holds.
        let handle = std::thread::spawn(move || {
            let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            else {
                return;
            };
            rt.block_on(async move {
                if let Ok(admin) = Database::connect(admin_url.as_str()).await {
                    let _ = exec(
                        &admin,
                        &format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"),
                    )
                    .await;
                    let _ = admin.close().await;
                }
            });
        });
        let _ = handle.join();
    }
}

async fn exec(db: &DatabaseConnection, sql: &str) -> std::result::Result<(), sea_orm::DbErr> {
    db.execute_unprepared(sql).await.map(|_| ())
}

/// Drop `custody_test_<pid>_…` databases whose creating process no longer exists.
async fn remove_stale_databases(admin: &DatabaseConnection) {
    let stmt = Statement::from_string(
        admin.get_database_backend(),
        format!("SELECT datname FROM pg_database WHERE datname LIKE '{PG_PREFIX}%'"),
    );
    let Ok(rows) = admin.query_all_raw(stmt).await else {
        return;
    };
    for row in rows {
        let Ok(name) = row.try_get::<String>("", "datname") else {
            continue;
        };
        let Some(rest) = name.strip_prefix(PG_PREFIX) else {
            continue;
        };
        let pid: String = rest.chars().take_while(char::is_ascii_digit).collect();
        if pid.is_empty() || pid == std::process::id().to_string() {
            continue;
        }
        if !std::path::Path::new("/proc").join(&pid).exists() {
            let _ = exec(
                admin,
                &format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"),
            )
            .await;
        }
    }
}

/// `postgres://user@host:port/db?opts` with the database replaced by `name`.
fn replace_database(admin_url: &str, name: &str) -> Result<String> {
    let bad = || {
        Error::Setup(format!(
            "{PG_URL_ENV} is not a postgres:// URL: {admin_url}"
        ))
    };
    let after_scheme = admin_url.find("://").ok_or_else(bad)? + 3;
    let (head, query) = match admin_url.find('?') {
        Some(q) => admin_url.split_at(q),
        None => (admin_url, ""),
    };
    let base = match head.get(after_scheme..).and_then(|rest| rest.find('/')) {
        Some(slash) => head.get(..after_scheme + slash).ok_or_else(bad)?,
        None => head,
    };
    Ok(format!("{base}/{name}{query}"))
}

/// The row count of every table in the connection's database (schema `current_schema()` on
/// PostgreSQL), by table name: what the adversary tests compare before and after a refused
/// action to show that nothing changed.
pub async fn table_counts(
    conn: &DatabaseConnection,
) -> Result<std::collections::BTreeMap<String, i64>> {
    let backend = conn.get_database_backend();
    let list = match backend {
        sea_orm::DbBackend::Sqlite => {
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
        }
        _ => {
            "SELECT table_name AS name FROM information_schema.tables \
              WHERE table_schema = current_schema()"
        }
    };
    let db_err = |e: sea_orm::DbErr| Error::Setup(format!("counting rows: {e}"));
    let mut out = std::collections::BTreeMap::new();
    for row in conn
        .query_all_raw(Statement::from_string(backend, list))
        .await
        .map_err(db_err)?
    {
        let name: String = row.try_get("", "name").map_err(db_err)?;
        let n: i64 = match conn
            .query_one_raw(Statement::from_string(
                backend,
                format!("SELECT COUNT(*) AS n FROM \"{name}\""),
            ))
            .await
            .map_err(db_err)?
        {
            Some(row) => row.try_get("", "n").map_err(db_err)?,
            None => 0,
        };
        out.insert(name, n);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::{replace_database, TestDb};

    #[tokio::test]
    async fn unreachable_postgres_says_how_to_start_it() {
        let err = TestDb::postgres_at("postgres://postgres@127.0.0.1:1/postgres".into())
            .await
            .unwrap_err();
        let msg = err.to_string();
        assert!(
            msg.contains("pg_ctlcluster --skip-systemctl-redirect 15 main start"),
            "{msg}"
        );
    }

    #[test]
    fn replaces_the_database_name() {
        assert_eq!(
            replace_database("postgres://postgres@127.0.0.1:5432/postgres", "x").unwrap(),
            "postgres://postgres@127.0.0.1:5432/x"
        );
        assert_eq!(
            replace_database("postgres://u:p@h/db?sslmode=disable", "x").unwrap(),
            "postgres://u:p@h/x?sslmode=disable"
        );
        assert_eq!(
            replace_database("postgres://h:5432", "x").unwrap(),
            "postgres://h:5432/x"
        );
    }
}
