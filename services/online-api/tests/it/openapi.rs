//! The committed OpenAPI document is current and the health endpoint reports the node.

use std::path::PathBuf;

use crate::common::*;

fn committed() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../schemas/online-api.openapi.json")
}

/// Regenerate: `cargo test -p custody-online-api -- --ignored write_openapi_schema`.
#[test]
#[ignore = "writes schemas/online-api.openapi.json; run it to regenerate the committed document"]
fn write_openapi_schema() {
    std::fs::write(committed(), online_api::openapi_json()).unwrap();
}

#[test]
fn committed_openapi_is_not_stale() {
    let on_disk = std::fs::read_to_string(committed()).unwrap_or_default();
    assert!(
        on_disk == online_api::openapi_json(),
        "schemas/online-api.openapi.json is stale; run `cargo test -p custody-online-api -- --ignored write_openapi_schema`"
    );
    let doc: serde_json::Value = serde_json::from_str(&on_disk).unwrap();
    assert!(doc["components"]["schemas"]["Problem"].is_object());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_reports_the_chain_and_the_export_key() {
    let tdb = testkit::db::TestDb::sqlite().unwrap();
    let w = World::new(tdb).await;
    let r = w.call("GET", "/api/health", None, None).await;
    let body = r.ok();
    assert_eq!(body["status"], "ok");
    assert_eq!(body["chain_id"], w.anvil.chain_id());
    assert!(body["block_number"].as_u64().unwrap() >= 1);
    assert_eq!(
        body["export_public_key"],
        hex::encode(p256::EncodedPoint::from(w.export_public).as_bytes())
    );
    assert!(r.headers.contains_key("content-security-policy"));
}
