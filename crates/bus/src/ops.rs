//! Ops subjects (`custody.ops.*`): request/reply in JSON, so an operator can use the NATS CLI
//! (`nats request custody.ops.ping ''`) against any service without a MessagePack decoder.

use std::future::Future;

use async_nats::{HeaderMap, HeaderValue};
use futures::StreamExt;

use crate::{headers, Bus, Error, Result};

/// Every service answers a ping here.
pub const PING_SUBJECT: &str = "custody.ops.ping";

/// Answer pings on `subject` (normally [`PING_SUBJECT`]) with
/// `{"ok":true,"service":<service>,"version":<crate version>}` until `shutdown` completes.
/// Each service subscribes on its own (no queue group), so a request with several replies
/// (`nats request --replies 0`) lists every service that is up.
pub async fn serve_ping(
    bus: &Bus,
    subject: &str,
    service: &str,
    shutdown: impl Future<Output = ()>,
) -> Result<()> {
    let nats_error = |context: &str, e: Box<dyn std::error::Error + Send + Sync>| Error::Nats {
        context: format!("{context} {subject}"),
        source: e,
    };
    let mut requests = bus
        .client()
        .subscribe(subject.to_owned())
        .await
        .map_err(|e| nats_error("subscribing to", Box::new(e)))?;
    // Make sure the server has the subscription before we report ready to the caller's flow.
    bus.flush().await?;
    let answer = serde_json::json!({
        "ok": true,
        "service": service,
        "version": env!("CARGO_PKG_VERSION"),
    });
    let body = bytes::Bytes::from(answer.to_string());
    let mut reply_headers = HeaderMap::new();
    reply_headers.insert(headers::CONTENT_TYPE, HeaderValue::from(headers::JSON));
    tokio::pin!(shutdown);
    loop {
        let request = tokio::select! {
            biased;
            () = &mut shutdown => return Ok(()),
            request = requests.next() => request,
        };
        let Some(request) = request else {
            return Ok(());
        };
        let Some(reply) = request.reply else {
            continue;
        };
        if let Err(error) = bus
            .client()
            .publish_with_headers(reply, reply_headers.clone(), body.clone())
            .await
        {
            tracing::warn!(%error, "could not answer a ping");
        }
    }
}
