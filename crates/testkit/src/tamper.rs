//! The insider's tools (feature `tamper`): what someone with write access to a zone's database
//! — but without its HSM — can do to an audit chain. The adversary tests and the audit drill
//! (`ops/audit-drill`) run them on test databases and on copies of the demo's, and check that
//! `custodyd audit verify` names every one.
//!
//! Each works on any chain (`audit`, `operation`, `transaction`) on SQLite and PostgreSQL, and
//! keeps the hash chain itself consistent wherever an insider could: hashes and the head are
//! recomputed with the public record hash, so only MACs and signed checkpoints can tell.

use audit::Chain;
use sea_orm::{ConnectionTrait, DatabaseConnection, Statement, Value};

use crate::{Error, Result};

fn db_err(what: &'static str) -> impl Fn(sea_orm::DbErr) -> Error {
    move |e| Error::Setup(format!("tamper: {what}: {e}"))
}

async fn exec(db: &DatabaseConnection, sql: String, values: Vec<Value>) -> Result<()> {
    db.execute_raw(Statement::from_sql_and_values(
        db.get_database_backend(),
        sql,
        values,
    ))
    .await
    .map_err(db_err("write"))?;
    Ok(())
}

/// One record's columns as the hash covers them.
struct Row {
    seq: i64,
    at: chrono::DateTime<chrono::Utc>,
    actor: String,
    action: String,
    object: String,
    details: serde_json::Value,
}

async fn rows(db: &DatabaseConnection, chain: Chain) -> Result<Vec<Row>> {
    let list = db
        .query_all_raw(Statement::from_string(
            db.get_database_backend(),
            format!(
                "SELECT seq, at, actor, action, object, details FROM {} ORDER BY seq",
                chain.log_table()
            ),
        ))
        .await
        .map_err(db_err("read records"))?;
    let get = db_err("read a record");
    list.iter()
        .map(|r| {
            Ok(Row {
                seq: r.try_get("", "seq").map_err(&get)?,
                at: r.try_get("", "at").map_err(&get)?,
                actor: r.try_get("", "actor").map_err(&get)?,
                action: r.try_get("", "action").map_err(&get)?,
                object: r.try_get("", "object").map_err(&get)?,
                details: r.try_get("", "details").map_err(&get)?,
            })
        })
        .collect()
}

async fn set_head(db: &DatabaseConnection, chain: Chain, seq: i64, hash: String) -> Result<()> {
    exec(
        db,
        format!(
            "UPDATE {} SET seq = $1, hash = $2 WHERE id = 1",
            chain.head_table()
        ),
        vec![seq.into(), hash.into()],
    )
    .await
}

/// The number of records in the chain (its head's sequence number).
pub async fn head(db: &DatabaseConnection, chain: Chain) -> Result<i64> {
    let row = db
        .query_one_raw(Statement::from_string(
            db.get_database_backend(),
            format!("SELECT seq FROM {} WHERE id = 1", chain.head_table()),
        ))
        .await
        .map_err(db_err("read the head"))?
        .ok_or_else(|| Error::Setup(format!("{} has no head row", chain.head_table())))?;
    row.try_get("", "seq").map_err(db_err("read the head"))
}

/// Delete every record after `keep` and move the head back to it (`keep` 0: wipe the chain).
pub async fn truncate_to(db: &DatabaseConnection, chain: Chain, keep: i64) -> Result<()> {
    exec(
        db,
        format!("DELETE FROM {} WHERE seq > $1", chain.log_table()),
        vec![keep.into()],
    )
    .await?;
    let hash = if keep == 0 {
        audit::GENESIS_HASH.to_owned()
    } else {
        db.query_one_raw(Statement::from_sql_and_values(
            db.get_database_backend(),
            format!("SELECT hash FROM {} WHERE seq = $1", chain.log_table()),
            [keep.into()],
        ))
        .await
        .map_err(db_err("read a hash"))?
        .ok_or_else(|| Error::Setup(format!("no record {keep}")))?
        .try_get("", "hash")
        .map_err(db_err("read a hash"))?
    };
    set_head(db, chain, keep, hash).await
}

/// Edit record `seq`'s details and recompute the hash of it, of every later record and of the
/// head.
pub async fn rewrite_from(
    db: &DatabaseConnection,
    chain: Chain,
    seq: i64,
    details: serde_json::Value,
) -> Result<()> {
    let mut prev = [0u8; 32];
    let mut last = 0;
    for mut r in rows(db, chain).await? {
        if r.seq == seq {
            r.details = details.clone();
        }
        let hash = audit::record_hash_in(
            chain, &prev, r.seq, r.at, &r.actor, &r.action, &r.object, &r.details,
        );
        if r.seq >= seq {
            exec(
                db,
                format!(
                    "UPDATE {} SET details = $1, prev_hash = $2, hash = $3 WHERE seq = $4",
                    chain.log_table()
                ),
                vec![
                    r.details.clone().into(),
                    hex::encode(prev).into(),
                    hex::encode(hash).into(),
                    r.seq.into(),
                ],
            )
            .await?;
        }
        prev = hash;
        last = r.seq;
    }
    set_head(db, chain, last, hex::encode(prev)).await
}

/// Append a record with a correct hash after the head (with no MAC, or the MAC of record
/// `copy_mac_of`) and move the head to it; returns its sequence number.
pub async fn forge_append(
    db: &DatabaseConnection,
    chain: Chain,
    copy_mac_of: Option<i64>,
) -> Result<i64> {
    let backend = db.get_database_backend();
    let head_row = db
        .query_one_raw(Statement::from_string(
            backend,
            format!("SELECT seq, hash FROM {} WHERE id = 1", chain.head_table()),
        ))
        .await
        .map_err(db_err("read the head"))?
        .ok_or_else(|| Error::Setup("no head row".into()))?;
    let seq: i64 = head_row.try_get::<i64>("", "seq").map_err(db_err("head"))? + 1;
    let prev_hex: String = head_row.try_get("", "hash").map_err(db_err("head"))?;
    let mut prev = [0u8; 32];
    hex::decode_to_slice(&prev_hex, &mut prev)
        .map_err(|e| Error::Setup(format!("head hash: {e}")))?;
    let at = chrono::DateTime::from_timestamp(chrono::Utc::now().timestamp(), 0)
        .ok_or_else(|| Error::Setup("clock".into()))?;
    let (actor, action, object) = ("mallory", "user.role_changed", "mallory");
    let details = serde_json::json!({"role": "admin"});
    let hash = hex::encode(audit::record_hash_in(
        chain, &prev, seq, at, actor, action, object, &details,
    ));
    let mac: Option<String> = match copy_mac_of {
        Some(other) => db
            .query_one_raw(Statement::from_sql_and_values(
                backend,
                format!("SELECT mac FROM {} WHERE seq = $1", chain.log_table()),
                [other.into()],
            ))
            .await
            .map_err(db_err("read a MAC"))?
            .ok_or_else(|| Error::Setup(format!("no record {other}")))?
            .try_get("", "mac")
            .map_err(db_err("read a MAC"))?,
        None => None,
    };
    exec(
        db,
        format!(
            "INSERT INTO {} (seq, at, actor, action, object, details, prev_hash, hash, mac) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
            chain.log_table()
        ),
        vec![
            seq.into(),
            at.into(),
            actor.into(),
            action.into(),
            object.into(),
            details.into(),
            prev_hex.into(),
            hash.clone().into(),
            mac.into(),
        ],
    )
    .await?;
    set_head(db, chain, seq, hash).await?;
    Ok(seq)
}

/// Swap records `a` and `b` (their sequence numbers), hashes and MACs untouched.
pub async fn swap(db: &DatabaseConnection, chain: Chain, a: i64, b: i64) -> Result<()> {
    let t = chain.log_table();
    exec(
        db,
        format!("UPDATE {t} SET seq = -1 WHERE seq = $1"),
        vec![a.into()],
    )
    .await?;
    exec(
        db,
        format!("UPDATE {t} SET seq = $1 WHERE seq = $2"),
        vec![a.into(), b.into()],
    )
    .await?;
    exec(
        db,
        format!("UPDATE {t} SET seq = $1 WHERE seq = -1"),
        vec![b.into()],
    )
    .await
}

/// Edit a checkpoint file's chain value (its signature no longer matches).
pub fn edit_checkpoint_file(path: &std::path::Path) -> Result<()> {
    let text = std::fs::read_to_string(path).map_err(crate::io_context("read a checkpoint"))?;
    let mut json: serde_json::Value = serde_json::from_str(&text)
        .map_err(|e| Error::Setup(format!("checkpoint {}: {e}", path.display())))?;
    let value = json
        .get("value")
        .and_then(|v| v.as_str())
        .ok_or_else(|| Error::Setup(format!("{} has no value", path.display())))?;
    let mut edited: Vec<char> = value.chars().collect();
    if let Some(c) = edited.first_mut() {
        *c = if *c == '0' { '1' } else { '0' };
    }
    if let Some(obj) = json.as_object_mut() {
        obj.insert(
            "value".to_owned(),
            serde_json::Value::String(edited.into_iter().collect()),
        );
    }
    std::fs::write(path, json.to_string()).map_err(crate::io_context("write a checkpoint"))
}
