//! The committed OpenAPI document is current, names every operation in `ROUTES`, and the real
//! server runs on port 0.

use std::path::PathBuf;

use poem::http::StatusCode;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::common::{on_both, TestApp};

fn committed() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../schemas/offline-api.openapi.json")
}

/// Regenerate: `cargo test -p custody-offline-api -- --ignored write_openapi_schema`.
#[test]
#[ignore = "writes schemas/offline-api.openapi.json; run it to regenerate the committed document"]
fn write_openapi_schema() {
    std::fs::write(committed(), offline_api::openapi_json()).unwrap();
}

#[test]
fn committed_openapi_is_not_stale() {
    let on_disk = std::fs::read_to_string(committed()).unwrap_or_default();
    assert!(
        on_disk == offline_api::openapi_json(),
        "schemas/offline-api.openapi.json is stale; run `cargo test -p custody-offline-api -- --ignored write_openapi_schema`"
    );
}

#[test]
fn routes_list_every_operation() {
    let doc: serde_json::Value = serde_json::from_str(&offline_api::openapi_json()).unwrap();
    let mut in_doc: Vec<String> = Vec::new();
    for (path, ops) in doc["paths"].as_object().unwrap() {
        for method in ops.as_object().unwrap().keys() {
            let p = path.replace("{id}", ":id");
            in_doc.push(format!("{} {p}", method.to_uppercase()));
        }
    }
    in_doc.sort();
    let mut listed: Vec<String> = offline_api::ROUTES
        .iter()
        .map(|(m, p, _)| format!("{m} {p}"))
        .collect();
    listed.sort();
    assert_eq!(in_doc, listed);
    // Every error response is documented as a problem.
    assert!(doc["components"]["schemas"]["Problem"].is_object());
}

#[tokio::test]
async fn the_server_runs_on_port_zero() {
    on_both(|app: TestApp| async move {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        drop(listener);
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let server = tokio::spawn(offline_api::serve(
            poem::listener::TcpListener::bind(addr.to_string()),
            app.state.clone(),
            async {
                let _ = rx.await;
            },
        ));
        let mut body = String::new();
        for _ in 0..50 {
            if let Ok(mut s) = tokio::net::TcpStream::connect(addr).await {
                s.write_all(
                    b"GET /api/health HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n",
                )
                .await
                .unwrap();
                s.read_to_string(&mut body).await.unwrap();
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        assert!(body.starts_with("HTTP/1.1 200"), "{body}");
        assert!(body.contains("\"status\":\"ok\""), "{body}");
        assert!(body
            .to_ascii_lowercase()
            .contains("x-content-type-options: nosniff"));
        tx.send(()).unwrap();
        server.await.unwrap().unwrap();
        let _ = StatusCode::OK;
    })
    .await;
}
