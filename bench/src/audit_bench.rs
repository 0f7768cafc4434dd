//! `bench audit`: the keyed audit chain against the plain SHA-256 chain it replaced, on the
//! same SQLite file, HSM and machine, in the same run.
//!
//! - `RATIO audit-append-keyed`: records appended per second, one transaction per record as
//!   the zones append them, with the keyed chain (a MAC from the HSM per record, a signed
//!   checkpoint every 100) over the plain chain (the head read, the SHA-256 record hash, the
//!   insert and the head update, nothing else). Throughput ratio: higher is better (goal ≥ 0.5).
//! - `RATIO audit-verify-1e6` and `RATIO audit-verify-1e6-public`: the time to verify 10^6
//!   records with the HSM (every MAC, every checkpoint) and with public keys only (every
//!   checkpoint), over the plain walk of the same records (read and re-hash, which is what
//!   hashing the same bytes from the database costs). Time ratios: lower is better (goals ≤ 5
//!   with the HSM, ≤ 2 with public keys).

use std::time::Instant;

use audit::{Chain, Entry, VerifyOptions, Zone};
use chrono::{DateTime, Utc};
use sea_orm::{ConnectionTrait, DatabaseConnection, Statement, TransactionTrait};

use crate::stats::Samples;

fn entry(i: u64, at: DateTime<Utc>) -> Entry {
    Entry {
        at,
        actor: format!("user-{}", i % 7),
        action: "case.manager_replaced".to_owned(),
        object: format!("case-{}", i % 1000),
        details: serde_json::json!({"share_index": i % 3, "note": "替换 replaced"}),
    }
}

/// The plain chain's append, as the zones did before the keys: read the head, hash, insert,
/// move the head, in one transaction.
async fn plain_append(conn: &DatabaseConnection, i: u64, at: DateTime<Utc>) -> anyhow::Result<()> {
    let tx = conn.begin().await?;
    let backend = tx.get_database_backend();
    let head = tx
        .query_one_raw(Statement::from_string(
            backend,
            "SELECT seq, hash FROM audit_head WHERE id = 1",
        ))
        .await?
        .ok_or_else(|| anyhow::anyhow!("no head"))?;
    let seq: i64 = head.try_get::<i64>("", "seq")? + 1;
    let prev_hex: String = head.try_get("", "hash")?;
    let mut prev = [0u8; 32];
    hex::decode_to_slice(&prev_hex, &mut prev)?;
    let e = entry(i, at);
    let hash = hex::encode(audit::record_hash(
        &prev, seq, at, &e.actor, &e.action, &e.object, &e.details,
    ));
    tx.execute_raw(Statement::from_sql_and_values(
        backend,
        "INSERT INTO audit_log (seq, at, actor, action, object, details, prev_hash, hash) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        [
            seq.into(),
            at.into(),
            e.actor.into(),
            e.action.into(),
            e.object.into(),
            e.details.into(),
            prev_hex.into(),
            hash.clone().into(),
        ],
    ))
    .await?;
    tx.execute_raw(Statement::from_sql_and_values(
        backend,
        "UPDATE audit_head SET seq = $1, hash = $2 WHERE id = 1",
        [seq.into(), hash.into()],
    ))
    .await?;
    tx.commit().await?;
    Ok(())
}

fn now_micros() -> DateTime<Utc> {
    let now = Utc::now();
    DateTime::from_timestamp_micros(now.timestamp_micros()).unwrap_or(now)
}

async fn zone_db(
    dir: &std::path::Path,
    name: &str,
    sealer: audit::Sealer,
) -> anyhow::Result<offline_db::Db> {
    let url = format!("sqlite://{}?mode=rwc", dir.join(name).display());
    Ok(offline_db::Db::connect(&url, sealer).await?)
}

pub async fn run(quick: bool) -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let hsm = testkit::hsm::offline_hsm();
    let sealer = testkit::hsm::offline_sealer_of(&hsm);

    // Append: one transaction per record, plain and keyed in turn on their own files.
    let per_sample: u64 = if quick { 100 } else { 500 };
    let samples = if quick { 2 } else { 5 };
    let plain_db = zone_db(dir.path(), "plain.db", sealer.clone()).await?;
    let keyed_db = zone_db(dir.path(), "keyed.db", sealer.clone()).await?;
    let mut plain = Samples::new(format!("plain SHA-256 chain: {per_sample} appends"));
    let mut keyed = Samples::new(format!(
        "keyed chain (HSM MAC, checkpoints): {per_sample} appends"
    ));
    let mut n = 0;
    for _ in 0..samples {
        let t = Instant::now();
        for _ in 0..per_sample {
            n += 1;
            plain_append(plain_db.conn(), n, now_micros()).await?;
        }
        plain.times.push(t.elapsed());
        let t = Instant::now();
        for _ in 0..per_sample {
            n += 1;
            let tx = keyed_db.begin_write().await?;
            audit::append(&tx, entry(n, now_micros())).await?;
            tx.commit().await?;
        }
        keyed.times.push(t.elapsed());
    }
    anyhow::ensure!(
        audit::verify(plain_db.conn()).await?.first_broken.is_none(),
        "the plain chain does not verify"
    );
    let keyed_report = keyed_db.verify_audit().await?;
    anyhow::ensure!(keyed_report.is_intact(), "the keyed chain does not verify");
    let append_ratio = plain.median().as_secs_f64() / keyed.median().as_secs_f64();

    // Verify 10^6 records (10^5 with --quick), seeded in transactions of 10^4 records.
    let total: u64 = if quick { 100_000 } else { 1_000_000 };
    let big = zone_db(dir.path(), "big.db", sealer.clone()).await?;
    print!("seeding {total} keyed audit records… ");
    let seeded = Instant::now();
    let mut written = 0;
    let at = now_micros();
    while written < total {
        let tx = big.begin_write().await?;
        for _ in 0..10_000.min(total - written) {
            written += 1;
            audit::append(&tx, entry(written, at)).await?;
        }
        tx.commit().await?;
    }
    println!("{:.1} s", seeded.elapsed().as_secs_f64());

    let mut walk = Samples::new(format!("plain walk of {total} records (read, re-hash)"));
    let mut public = Samples::new(format!("{total} records: checkpoints, public key"));
    let mut with_hsm = Samples::new(format!("{total} records: MACs by the HSM, checkpoints"));
    let runs = if quick { 1 } else { 2 };
    for _ in 0..runs {
        let t = Instant::now();
        let report = audit::verify_chain(big.conn(), Chain::AUDIT).await?;
        walk.times.push(t.elapsed());
        anyhow::ensure!(report.first_broken.is_none() && report.records == total);

        let options = VerifyOptions {
            zone: Some(Zone::Offline),
            mac_key: None,
            checkpoint_key: Some(sealer.checkpoint_public_key()),
            witnesses: Vec::new(),
            stored_checkpoints: true,
        };
        let t = Instant::now();
        let report = audit::verify_sealed(big.conn(), Chain::AUDIT, &options).await?;
        public.times.push(t.elapsed());
        anyhow::ensure!(report.is_intact() && report.records == total, "{report:?}");
        anyhow::ensure!(
            report.checkpoints.len() as u64 == total / 100,
            "{} checkpoints",
            report.checkpoints.len()
        );

        let options = VerifyOptions {
            mac_key: Some(sealer.mac_key_arc()),
            ..options
        };
        let t = Instant::now();
        let report = audit::verify_sealed(big.conn(), Chain::AUDIT, &options).await?;
        with_hsm.times.push(t.elapsed());
        anyhow::ensure!(
            report.is_intact() && report.macs == audit::MacCoverage::Verified(total),
            "{:?}",
            report.macs
        );
    }
    let verify_hsm = with_hsm.median().as_secs_f64() / walk.median().as_secs_f64();
    let verify_public = public.median().as_secs_f64() / walk.median().as_secs_f64();

    crate::stats::print_mean_table(
        "audit chain (SQLite file, offline HSM on SoftHSM2)",
        &[&plain, &keyed, &walk, &public, &with_hsm],
    );
    println!();
    println!(
        "append: {:.0} records/s plain, {:.0} records/s keyed",
        per_sample as f64 / plain.median().as_secs_f64(),
        per_sample as f64 / keyed.median().as_secs_f64()
    );
    println!("RATIO audit-append-keyed {append_ratio:.4}");
    println!("RATIO audit-verify-1e6 {verify_hsm:.4}");
    println!("RATIO audit-verify-1e6-public {verify_public:.4}");
    Ok(())
}
