//! What the offline and the online API share, so both zones answer the same way at the HTTP
//! edge: time from an injected [`Clock`]; the security headers, the body limit and the
//! default headers of every response (DESIGN.md §13); the session token a request presents
//! (cookie or bearer) and the client address; and the RFC 9457 [`Problem`] document.
//!
//! What differs between the zones stays in each API: its error kinds, its roles and its
//! session store.

pub mod audit_view;
pub mod clock;
pub mod config;
pub mod gate;
pub mod proposal_view;

use poem::http::{header, HeaderValue, Method, StatusCode};
use poem::middleware::SetHeader;
use poem::Request;
use poem_openapi::Object;

pub use clock::{to_system, unix_secs, Clock, SystemClock, TestClock};

/// The media type of every error body.
pub const PROBLEM_JSON: &str = "application/problem+json";

/// Content-Security-Policy of API responses: nothing may load, nothing may frame.
pub const CSP_API: &str =
    "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'";
/// Content-Security-Policy of the Swagger UI page, whose script and styles are inline.
pub const CSP_DOCS: &str = "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'";

/// Content-Security-Policy of the web front end (the built Vue app): its own scripts and styles
/// only, no inline script, no eval; images may be data/blob URLs (QR codes); the camera stream
/// for QR scanning is a blob.
pub const CSP_WEB: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; media-src 'self' blob:; font-src 'self'; connect-src 'self'; manifest-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'";

/// The CSRF header a cookie session must echo on state changes.
pub const CSRF_HEADER: &str = "X-CSRF-Token";

/// An RFC 9457 problem document.
#[derive(Debug, Clone, Object)]
pub struct Problem {
    /// A URI naming the kind of problem (`urn:custody:<zone>:problem:<slug>`).
    #[oai(rename = "type")]
    pub kind: String,
    /// A short summary of the kind of problem; the same for every occurrence.
    pub title: String,
    /// The HTTP status code.
    pub status: u16,
    /// What went wrong this time, in words the user can act on.
    pub detail: String,
    /// For validation problems: the input field at fault.
    #[oai(skip_serializing_if_is_none)]
    pub field: Option<String>,
}

/// The security headers of every response.
pub fn security_headers(csp: &'static str) -> SetHeader {
    SetHeader::new()
        .overriding("Content-Security-Policy", csp)
        .overriding(header::X_CONTENT_TYPE_OPTIONS, "nosniff")
        .overriding(header::REFERRER_POLICY, "no-referrer")
        .overriding(header::X_FRAME_OPTIONS, "DENY")
        .overriding(header::CACHE_CONTROL, "no-store")
}

/// Responses that no inner layer decorated (an unknown route at the top) get the API's
/// headers too; inner layers' choices (the docs page's CSP) are kept.
pub fn default_headers(mut resp: poem::Response) -> poem::Response {
    let defaults = [
        ("content-security-policy", CSP_API),
        ("x-content-type-options", "nosniff"),
        ("referrer-policy", "no-referrer"),
        ("x-frame-options", "DENY"),
        ("cache-control", "no-store"),
    ];
    for (name, value) in defaults {
        if !resp.headers().contains_key(name) {
            resp.headers_mut()
                .insert(name, HeaderValue::from_static(value));
        }
    }
    resp
}

/// Refuse bodies over `max` bytes before they are read (413), and streamed bodies of unknown
/// length (411): every client these APIs serve sends `Content-Length`.
pub fn body_limit(req: Request, max: usize) -> poem::Result<Request> {
    let length = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .map(|v| v.to_str().ok().and_then(|s| s.parse::<usize>().ok()));
    match length {
        Some(Some(n)) if n > max => Err(poem::Error::from_string(
            format!("the request body has {n} bytes; at most {max} are accepted"),
            StatusCode::PAYLOAD_TOO_LARGE,
        )),
        Some(None) => Err(poem::Error::from_string(
            "the Content-Length header is not a number",
            StatusCode::BAD_REQUEST,
        )),
        None if req.headers().contains_key(header::TRANSFER_ENCODING) => {
            Err(poem::Error::from_string(
                "send the body with a Content-Length header",
                StatusCode::LENGTH_REQUIRED,
            ))
        }
        _ => Ok(req),
    }
}

/// How the caller presented the session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Via {
    /// The session cookie (a browser): state changes need the CSRF header.
    Cookie,
    /// `Authorization: Bearer` (a tool): a browser never attaches it by itself.
    Bearer,
}

/// The session token the request presents, if any: the bearer token, else the cookie named
/// `cookie_name`.
pub fn presented_token(req: &Request, cookie_name: &str) -> Option<(String, Via)> {
    if let Some(value) = req.headers().get(header::AUTHORIZATION) {
        let v = value.to_str().ok()?;
        let token = v
            .strip_prefix("Bearer ")
            .or_else(|| v.strip_prefix("bearer "))?;
        return Some((token.trim().to_owned(), Via::Bearer));
    }
    for value in req.headers().get_all(header::COOKIE) {
        let Ok(text) = value.to_str() else { continue };
        for pair in text.split(';') {
            if let Some((name, val)) = pair.trim().split_once('=') {
                if name == cookie_name {
                    return Some((val.trim().to_owned(), Via::Cookie));
                }
            }
        }
    }
    None
}

/// Whether the method changes state (anything but GET, HEAD and OPTIONS).
pub fn state_changing(method: &Method) -> bool {
    !matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
}

/// The CSRF token the request carries in [`CSRF_HEADER`], if any.
pub fn presented_csrf(req: &Request) -> Option<&str> {
    req.headers().get(CSRF_HEADER).and_then(|v| v.to_str().ok())
}

/// The client's address for per-IP throttling: the socket peer. No forwarding header is
/// trusted; put a proxy in front only together with a change here.
pub fn client_ip(req: &Request) -> String {
    match req.remote_addr().as_socket_addr() {
        Some(addr) => addr.ip().to_string(),
        None => "unknown".to_owned(),
    }
}

/// The `Set-Cookie` value of a session cookie: `__Host-` names need Secure, host-only and
/// `Path=/`; HttpOnly keeps it from scripts, SameSite=Strict from cross-site requests.
pub fn session_cookie(name: &str, token: &str, max_age_secs: u64) -> String {
    format!("{name}={token}; Path=/; Secure; HttpOnly; SameSite=Strict; Max-Age={max_age_secs}")
}

/// The `Set-Cookie` value that removes the session cookie.
pub fn clear_cookie(name: &str) -> String {
    format!("{name}=; Path=/; Secure; HttpOnly; SameSite=Strict; Max-Age=0")
}

/// Whole seconds to wait, rounded up, at least 1 (for `Retry-After`).
pub fn retry_after_secs(d: std::time::Duration) -> u64 {
    let secs = d.as_secs();
    if d.subsec_nanos() > 0 {
        secs.saturating_add(1)
    } else {
        secs.max(1)
    }
}

/// A problem as a response: the JSON body with [`PROBLEM_JSON`] and the status.
pub fn problem_response(problem: &Problem, status: StatusCode) -> poem::Response {
    use poem_openapi::types::ToJSON;
    poem::Response::builder()
        .status(status)
        .content_type(PROBLEM_JSON)
        .body(problem.to_json_string())
}

/// The problem for one of poem's own client errors (unparsable body, unknown route, body too
/// large…), typed under `type_prefix`; `None` for a server error, which the caller makes
/// opaque and logs.
pub fn poem_problem(err: &poem::Error, type_prefix: &str, oversized_slug: &str) -> Option<Problem> {
    let status = err.status();
    if status.is_server_error() {
        return None;
    }
    let (slug, title) = match status {
        StatusCode::NOT_FOUND => ("not-found", "Not found"),
        StatusCode::METHOD_NOT_ALLOWED => ("method-not-allowed", "Method not allowed"),
        StatusCode::PAYLOAD_TOO_LARGE => (oversized_slug, "The input is too large"),
        StatusCode::UNSUPPORTED_MEDIA_TYPE => ("unsupported-media-type", "Unsupported media type"),
        _ => ("bad-request", "The request could not be read"),
    };
    Some(Problem {
        kind: format!("{type_prefix}{slug}"),
        title: title.to_owned(),
        status: status.as_u16(),
        detail: err.to_string(),
        field: None,
    })
}

/// The OpenAPI description of every handler's error responses: any 4xx or 5xx is a
/// [`Problem`]. An API's error type returns this from `ApiResponse::meta`.
pub fn problem_responses_meta() -> poem_openapi::registry::MetaResponses {
    use poem_openapi::registry::{MetaMediaType, MetaResponse, MetaResponses};
    use poem_openapi::types::Type;
    let content = || {
        vec![MetaMediaType {
            content_type: PROBLEM_JSON,
            schema: <Problem as Type>::schema_ref(),
        }]
    };
    MetaResponses {
        responses: vec![
            MetaResponse {
                description: "The request was rejected; the problem says why and what to do.",
                status: None,
                status_range: Some("4XX".to_owned()),
                content: content(),
                headers: vec![],
            },
            MetaResponse {
                description: "A server fault; nothing was changed.",
                status: None,
                status_range: Some("5XX".to_owned()),
                content: content(),
                headers: vec![],
            },
        ],
    }
}

/// Argon2id verification of a sign-in off the async threads (`stored = None` runs against a
/// dummy hash, so an unknown user costs as much as a known one). A stored hash that cannot be
/// used answers like a wrong password and logs a warning for the operators. `Err` is a server
/// fault (its text carries no secret).
pub async fn verify_login(
    hasher: std::sync::Arc<auth::PasswordHasher>,
    password: String,
    stored: Option<String>,
) -> Result<bool, String> {
    let candidate = secrecy::SecretString::from(password);
    let verdict =
        tokio::task::spawn_blocking(move || hasher.verify_login(&candidate, stored.as_deref()))
            .await
            .map_err(|e| format!("a blocking task failed: {e}"))?;
    match verdict {
        Ok(ok) => Ok(ok),
        Err(auth::Error::UnusableStoredHash) => {
            tracing::warn!("a stored password hash is unusable; the password must be reset");
            Ok(false)
        }
        Err(other) => Err(other.to_string()),
    }
}

/// The application around an OpenAPI service: the service's `/api/...` routes with the body
/// limit, the document at `/api/openapi.json`, Swagger UI at `/api/docs`, the security headers
/// on every response and every error rendered by `render` (the zone's problem renderer).
///
/// With `web_dir`, every path outside `/api` is a file of the built web front end in that
/// folder (`index.html` for any path that is not a file: the app's own routes), under
/// [`CSP_WEB`]; without it, such paths are 404 problems.
pub fn app<T: poem_openapi::OpenApi + 'static>(
    svc: poem_openapi::OpenApiService<T, ()>,
    max_body: usize,
    render: fn(poem::Error) -> poem::Response,
    web_dir: Option<&std::path::Path>,
) -> impl poem::Endpoint<Output = poem::Response> {
    use poem::{EndpointExt, Route};
    let spec = svc.spec_endpoint();
    let docs = svc.swagger_ui();
    let api_routes = Route::new()
        .nest("/", svc)
        .at("/api/openapi.json", spec)
        .before(move |req| async move { body_limit(req, max_body) })
        .catch_all_error(move |err| async move { render(err) })
        .with(security_headers(CSP_API));
    let api = Route::new()
        .nest("/api/docs", docs.with(security_headers(CSP_DOCS)))
        .nest("/", api_routes)
        .catch_all_error(move |err| async move { render(err) })
        .map_to_response()
        .map(|resp| async move { default_headers(resp) })
        .boxed();
    let web = web_dir.map(|dir| {
        poem::endpoint::StaticFilesEndpoint::new(dir)
            .index_file("index.html")
            .fallback_to_index()
            .with(security_headers(CSP_WEB))
            .catch_all_error(move |err| async move { render(err) })
            .map_to_response()
            .map(|resp| async move { default_headers(resp) })
            .boxed()
    });
    ZoneEndpoint { api, web }
}

/// `/api/...` to the API, anything else to the web front end (if there is one).
struct ZoneEndpoint {
    api: poem::endpoint::BoxEndpoint<'static, poem::Response>,
    web: Option<poem::endpoint::BoxEndpoint<'static, poem::Response>>,
}

impl poem::Endpoint for ZoneEndpoint {
    type Output = poem::Response;

    async fn call(&self, req: Request) -> poem::Result<poem::Response> {
        let path = req.uri().path();
        match &self.web {
            Some(web) if !(path == "/api" || path.starts_with("/api/")) => {
                if req.method() == Method::GET || req.method() == Method::HEAD {
                    web.call(req).await
                } else {
                    Ok(default_headers(
                        poem::Response::builder()
                            .status(StatusCode::METHOD_NOT_ALLOWED)
                            .header(header::ALLOW, "GET, HEAD")
                            .finish(),
                    ))
                }
            }
            _ => self.api.call(req).await,
        }
    }
}

/// Serve `app` on `listener` until `shutdown` resolves.
pub async fn serve<L, E>(
    listener: L,
    app: E,
    shutdown: impl std::future::Future<Output = ()> + Send,
) -> std::io::Result<()>
where
    L: poem::listener::Listener + 'static,
    E: poem::Endpoint + 'static,
{
    poem::Server::new(listener)
        .run_with_graceful_shutdown(app, shutdown, None)
        .await
}

/// An API error that renders as a [`Problem`]: each zone's error type says its kind, title,
/// status and field; the rendering (an opaque, logged 500; `Retry-After` on 429) is the same.
pub trait ProblemError: std::fmt::Display {
    /// The prefix of the problem `type` URI, e.g. `urn:custody:online:problem:`.
    const TYPE_PREFIX: &'static str;

    /// The slug, the title and the status.
    fn parts(&self) -> (&'static str, &'static str, StatusCode);

    /// For validation problems, the input field at fault.
    fn field(&self) -> Option<String> {
        None
    }

    /// How long to wait before trying again (429).
    fn retry_after(&self) -> Option<std::time::Duration> {
        None
    }

    /// Whether the detail is withheld from the client (and logged instead): server faults.
    fn opaque(&self) -> bool {
        self.parts().2.is_server_error()
    }

    /// The problem document. A 5xx's detail is fixed text; its cause is logged here.
    fn problem(&self) -> Problem {
        let (slug, title, status) = self.parts();
        let detail = if self.opaque() {
            tracing::error!(cause = %self, "request failed with an internal error");
            "The server could not complete the request. Nothing was changed; the cause was logged for the operators.".to_owned()
        } else {
            self.to_string()
        };
        Problem {
            kind: format!("{}{slug}", Self::TYPE_PREFIX),
            title: title.to_owned(),
            status: status.as_u16(),
            detail,
            field: self.field(),
        }
    }

    /// The complete response: problem body, status, and `Retry-After` when there is a wait.
    fn to_response(&self) -> poem::Response {
        let mut resp = problem_response(&self.problem(), self.parts().2);
        if let Some(wait) = self.retry_after() {
            if let Ok(v) = HeaderValue::from_str(&retry_after_secs(wait).to_string()) {
                resp.headers_mut().insert(header::RETRY_AFTER, v);
            }
        }
        resp
    }
}

/// The sign-out response: no body, and the cookie cleared.
#[derive(poem_openapi::ApiResponse)]
pub enum LogoutReply {
    /// Signed out.
    #[oai(status = 204)]
    Done(
        /// Expires the session cookie.
        #[oai(header = "Set-Cookie")]
        String,
    ),
}
