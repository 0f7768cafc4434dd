//! `audit-tamper`: the insider's tools of [`testkit::tamper`] from the command line, for the
//! audit drill (`ops/audit-drill`), which runs them on copies of the demo's databases. A test
//! tool: it is not part of the product and never runs on a zone's own database.
//!
//! ```text
//! audit-tamper DB_URL CHAIN truncate KEEP        delete the records after KEEP, move the head back
//! audit-tamper DB_URL CHAIN rewrite SEQ          edit record SEQ, recompute every later hash
//! audit-tamper DB_URL CHAIN forge-append [SEQ]   append a record with a correct hash (SEQ's MAC)
//! audit-tamper DB_URL CHAIN swap A B             swap records A and B
//! audit-tamper edit-checkpoint FILE              change a checkpoint file's chain value
//! audit-tamper foreign-checkpoint FILE DIR       the same checkpoint, signed by another HSM, into DIR
//! ```

use std::process::ExitCode;

fn usage() -> ExitCode {
    eprintln!(
        "usage: audit-tamper DB_URL CHAIN truncate KEEP | rewrite SEQ | forge-append [SEQ] | swap A B\n       audit-tamper edit-checkpoint FILE | foreign-checkpoint FILE DIR"
    );
    ExitCode::from(2)
}

fn number(arg: Option<&String>) -> Result<i64, String> {
    arg.ok_or("a number is missing")?
        .parse()
        .map_err(|e| format!("not a number: {e}"))
}

async fn run(args: &[String]) -> Result<String, String> {
    let err = |e: testkit::Error| e.to_string();
    match args.first().map(String::as_str) {
        Some("edit-checkpoint") => {
            let file = args.get(1).ok_or("the file is missing")?;
            testkit::tamper::edit_checkpoint_file(std::path::Path::new(file)).map_err(err)?;
            return Ok(format!("edited {file}"));
        }
        Some("foreign-checkpoint") => {
            let (Some(file), Some(dir)) = (args.get(1), args.get(2)) else {
                return Err("give the checkpoint file and the output directory".into());
            };
            let text = std::fs::read_to_string(file).map_err(|e| format!("{file}: {e}"))?;
            let genuine =
                audit::AuditCheckpoint::from_json(&text).map_err(|e| format!("{file}: {e}"))?;
            let other = testkit::hsm::offline_hsm();
            let foreign =
                audit::AuditCheckpoint::sign(&genuine.statement(), &other.checkpoint_signer())
                    .map_err(|e| e.to_string())?;
            audit::CheckpointDir::open(dir)
                .and_then(|d| d.write(&foreign))
                .map_err(|e| e.to_string())?;
            return Ok(format!("wrote a foreign-key copy of {file} into {dir}"));
        }
        _ => {}
    }
    let (Some(url), Some(chain), Some(action)) = (args.first(), args.get(1), args.get(2)) else {
        return Err("give DB_URL CHAIN ACTION".into());
    };
    let chain = audit::Chain::by_name(chain).ok_or(format!("unknown chain {chain}"))?;
    let db = sea_orm::Database::connect(url.as_str())
        .await
        .map_err(|e| format!("cannot open {url}: {e}"))?;
    let done = match action.as_str() {
        "truncate" => {
            let keep = number(args.get(3))?;
            testkit::tamper::truncate_to(&db, chain, keep)
                .await
                .map_err(err)?;
            format!("{} chain truncated to record {keep}", chain.name())
        }
        "rewrite" => {
            let seq = number(args.get(3))?;
            testkit::tamper::rewrite_from(&db, chain, seq, serde_json::json!({"edited": true}))
                .await
                .map_err(err)?;
            format!(
                "{} record {seq} rewritten, later hashes recomputed",
                chain.name()
            )
        }
        "forge-append" => {
            let copy = args.get(3).map(|a| number(Some(a))).transpose()?;
            let seq = testkit::tamper::forge_append(&db, chain, copy)
                .await
                .map_err(err)?;
            format!("{} record {seq} forged", chain.name())
        }
        "swap" => {
            let (a, b) = (number(args.get(3))?, number(args.get(4))?);
            testkit::tamper::swap(&db, chain, a, b).await.map_err(err)?;
            format!("{} records {a} and {b} swapped", chain.name())
        }
        other => return Err(format!("unknown action {other}")),
    };
    db.close().await.map_err(|e| e.to_string())?;
    Ok(done)
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.is_empty() {
        return usage();
    }
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("audit-tamper: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(&args)) {
        Ok(done) => {
            println!("{done}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("audit-tamper: {e}");
            ExitCode::FAILURE
        }
    }
}
