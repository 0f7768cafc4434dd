//! The built web front end served beside the API on one port: its files under the web CSP, the
//! app's own routes falling back to `index.html`, and `/api` left to the API (problems, not the
//! page) — with and without a front end.
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "test code")]

use poem::http::{Method, StatusCode};
use poem::test::TestClient;
use poem_openapi::payload::PlainText;
use poem_openapi::{OpenApi, OpenApiService};

struct Api;

#[OpenApi]
impl Api {
    /// A route of the API.
    #[oai(path = "/api/ping", method = "get")]
    async fn ping(&self) -> PlainText<&'static str> {
        PlainText("pong")
    }
}

fn render(err: poem::Error) -> poem::Response {
    let problem = web::Problem {
        kind: "urn:test:problem:x".into(),
        title: "Error".into(),
        status: err.status().as_u16(),
        detail: err.to_string(),
        field: None,
    };
    web::problem_response(&problem, err.status())
}

fn site() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("index.html"),
        "<!doctype html><title>app</title>",
    )
    .unwrap();
    std::fs::create_dir(dir.path().join("assets")).unwrap();
    std::fs::write(dir.path().join("assets/app.js"), "console.log(1)").unwrap();
    dir
}

fn client(dir: Option<&std::path::Path>) -> TestClient<impl poem::Endpoint> {
    let svc = OpenApiService::new(Api, "test", "1");
    TestClient::new(web::app(svc, 1024, render, dir))
}

#[tokio::test]
async fn the_front_end_is_served_beside_the_api() {
    let dir = site();
    let cli = client(Some(dir.path()));

    let resp = cli.get("/").send().await;
    resp.assert_status_is_ok();
    resp.assert_header("content-security-policy", web::CSP_WEB);
    resp.assert_header("x-frame-options", "DENY");
    resp.assert_text("<!doctype html><title>app</title>").await;

    let resp = cli.get("/assets/app.js").send().await;
    resp.assert_status_is_ok();
    resp.assert_text("console.log(1)").await;

    // A route of the app (not a file) is the app.
    let resp = cli.get("/cases/0192/replace").send().await;
    resp.assert_status_is_ok();
    resp.assert_text("<!doctype html><title>app</title>").await;

    // The API is the API, under its own CSP.
    let resp = cli.get("/api/ping").send().await;
    resp.assert_status_is_ok();
    resp.assert_header("content-security-policy", web::CSP_API);
    resp.assert_text("pong").await;

    // An unknown API route is a problem, never the page.
    let resp = cli.get("/api/nope").send().await;
    resp.assert_status(StatusCode::NOT_FOUND);
    resp.assert_header("content-type", web::PROBLEM_JSON);

    // The front end only answers reads.
    let resp = cli.request(Method::POST, "/cases").send().await;
    resp.assert_status(StatusCode::METHOD_NOT_ALLOWED);
}

#[tokio::test]
async fn without_a_front_end_only_the_api_answers() {
    let cli = client(None);
    let resp = cli.get("/").send().await;
    resp.assert_status(StatusCode::NOT_FOUND);
    resp.assert_header("content-type", web::PROBLEM_JSON);
    cli.get("/api/ping").send().await.assert_status_is_ok();
}
