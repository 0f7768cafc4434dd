//! `custody.ops.ping` answers in JSON.

use std::time::Duration;

use bus::{serve_ping, PING_SUBJECT};
use testkit::nats::NatsServer;

use crate::connect;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ping_answers_in_json() {
    let server = NatsServer::start().unwrap();
    let bus = connect(&server.url()).await;
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let serving = {
        let bus = bus.clone();
        tokio::spawn(async move {
            serve_ping(&bus, PING_SUBJECT, "case", async {
                let _ = stopped.await;
            })
            .await
        })
    };

    // The subscription may not be in place yet: retry the request briefly.
    let mut answer = None;
    for _ in 0..50 {
        if let Ok(Ok(reply)) = tokio::time::timeout(
            Duration::from_millis(200),
            bus.client().request(PING_SUBJECT, bytes::Bytes::new()),
        )
        .await
        {
            answer = Some(reply);
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let reply = answer.expect("no ping answer");
    let json: serde_json::Value = serde_json::from_slice(&reply.payload).unwrap();
    assert_eq!(json["ok"], true);
    assert_eq!(json["service"], "case");
    assert_eq!(
        reply
            .headers
            .as_ref()
            .and_then(|h| h.get(bus::headers::CONTENT_TYPE))
            .map(|v| v.as_str()),
        Some("application/json")
    );
    let _ = stop.send(());
    serving.await.unwrap().unwrap();
}
