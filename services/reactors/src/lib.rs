//! The offline zone's small NATS reactors (DESIGN.md §7, issue 3) and the outbox relay.
//!
//! [`run`] connects to the database and to NATS, ensures the JetStream streams of
//! `contracts::subjects::STREAMS`, runs the outbox relay ([`events::run_relay`] over
//! [`offline_db::Db`]) and three durable consumers:
//!
//! - **case** ([`CASE`]): `custody.case.created` → `custody.keygen.requested`;
//! - **shard-registry** ([`SHARD_REGISTRY`]): `custody.case.manager_replaced` → the old manager's
//!   access is revoked: an `access.revoked` audit record and `custody.access.revoked`;
//! - **notify** ([`NOTIFY`]): `custody.keygen.requested` → one `custody.notify.manager.<user>`
//!   per active manager of the case;
//! - **notify-signing** ([`NOTIFY_SIGNING`]): `custody.session.created` → one
//!   `custody.notify.manager.<user>` signing invitation per participant of the session;
//! - a sweep every [`EXPIRY_SWEEP`] that marks signing sessions past their expiry EXPIRED.
//!
//! Every handler commits its idempotency claim (`processed_messages`), its audit record and the
//! events it emits in ONE database transaction ([`offline_db::Db::react_once`]); the events reach
//! NATS through the outbox relay. A redelivery, or the same event published again outside
//! JetStream's duplicate window, finds the claim and writes nothing.
//!
//! Every consumer acts only on events that this zone's outbox produced: the MAC the HSM made
//! when the event was written must verify with the same HSM key (`events::EventVerifier`). A
//! message published by hand on a subject — forged, altered, replayed under another subject —
//! is dead-lettered on `custody.deadletter.<consumer>` with its reason, logged and counted, and
//! changes nothing.
//!
//! Payloads are the JSON that `offline_db` writes to its outbox (field names follow
//! `contracts::bus`).

use std::future::Future;

use bus::{Bus, BusOptions, ConsumerContext, ConsumerSpec, Delivery, HandlerError, StreamSpec};
use events::{Clock, RelayConfig};
use std::sync::Arc;

use chrono::{DateTime, Utc};
use offline_db::bus_adapters::{Reacted, Reaction};
use offline_db::{Db, KeyShareStatus};
use serde_json::{json, Value};

/// Durable name of the case reactor.
pub const CASE: &str = "case";
/// Durable name of the shard-registry reactor.
pub const SHARD_REGISTRY: &str = "shard-registry";
/// Durable name of the notify reactor.
pub const NOTIFY: &str = "notify";
/// Durable name of the reactor that invites managers to signing sessions.
pub const NOTIFY_SIGNING: &str = "notify-signing";
/// How often expired sessions are looked for.
pub const EXPIRY_SWEEP: std::time::Duration = std::time::Duration::from_secs(15);

/// Where the reactors find their database, their HSM keys and NATS.
#[derive(Clone, Debug)]
pub struct Config {
    /// `sqlite://path?mode=rwc` or `postgres://…`.
    pub db_url: String,
    /// The offline HSM's audit keys: the reactors' audit records and events are MACed with
    /// them, and every event they consume must carry the same key's MAC.
    pub sealer: audit::Sealer,
    /// `nats://host:port`.
    pub nats_url: String,
    /// The NATS user, its password file and the server's CA (none: no credentials).
    pub nats_access: bus::NatsAccess,
}

/// Why the reactors could not start.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The database could not be opened or migrated.
    #[error("reactors: {0}")]
    Db(#[from] offline_db::Error),
    /// NATS could not be reached, or a stream could not be created.
    #[error("reactors: {0}")]
    Bus(#[from] bus::Error),
}

/// The durable consumers, one per reactor, on the events stream.
pub fn consumer_specs() -> [ConsumerSpec; 4] {
    let stream = contracts::subjects::EVENTS_STREAM.name;
    [
        ConsumerSpec::new(stream, CASE, contracts::subjects::CASE_CREATED),
        ConsumerSpec::new(
            stream,
            SHARD_REGISTRY,
            contracts::subjects::CASE_MANAGER_REPLACED,
        ),
        ConsumerSpec::new(stream, NOTIFY, contracts::subjects::KEYGEN_REQUESTED),
        ConsumerSpec::new(stream, NOTIFY_SIGNING, contracts::subjects::SESSION_CREATED),
    ]
}

/// Create (or update) every stream of `contracts::subjects::STREAMS`.
pub async fn ensure_streams(bus: &Bus) -> Result<(), Error> {
    for spec in contracts::subjects::STREAMS {
        bus.ensure_stream(&StreamSpec::new(spec.name, spec.subjects.iter().copied()))
            .await?;
    }
    Ok(())
}

/// Run the relay, the reactors and the expiry sweep on the system clock until `shutdown`
/// completes.
pub async fn run(config: Config, shutdown: impl Future<Output = ()>) -> Result<(), Error> {
    run_with_clock(config, Arc::new(events::SystemClock), shutdown).await
}

/// The reactors' idea of now: every audit record, event time and expiry decision reads it
/// through the injected clock.
fn now(clock: &dyn Clock) -> DateTime<Utc> {
    DateTime::<Utc>::from(clock.now())
}

/// [`run`] with an injected clock (tests control time with it).
pub async fn run_with_clock(
    config: Config,
    clock: Arc<dyn Clock>,
    shutdown: impl Future<Output = ()>,
) -> Result<(), Error> {
    let db = Db::connect(&config.db_url, config.sealer.clone()).await?;
    let context = ConsumerContext::new(events::EventVerifier::new(config.sealer.mac_key_arc()));
    let options = config.nats_access.apply(BusOptions {
        name: "custody-reactors".to_owned(),
        ..BusOptions::default()
    })?;
    let bus = Bus::connect(&config.nats_url, options).await?;
    ensure_streams(&bus).await?;
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let stopped = move || {
        let mut rx = stop_rx.clone();
        async move {
            // An error means the sender is gone, which also means stop.
            let _ = rx.wait_for(|stop| *stop).await;
        }
    };
    let relay_config = RelayConfig {
        poll_interval: std::time::Duration::from_millis(200),
        ..RelayConfig::default()
    };
    let [case_spec, shard_spec, notify_spec, signing_spec] = consumer_specs();
    // Each consumer's handler reads the database and the injected clock through these.
    let (db, clk, ctx) = (&db, clock.as_ref(), &context);
    let (_, case, shard, notify, signing, (), ()) = tokio::join!(
        events::run_relay(&bus, db, clk, &relay_config, stopped()),
        bus::consume(
            &bus,
            &case_spec,
            ctx,
            |d| async move { handle_case_created(db, &d, now(clk)).await.map(drop) },
            stopped()
        ),
        bus::consume(
            &bus,
            &shard_spec,
            ctx,
            |d| async move { handle_manager_replaced(db, &d, now(clk)).await.map(drop) },
            stopped()
        ),
        bus::consume(
            &bus,
            &notify_spec,
            ctx,
            |d| async move { handle_keygen_requested(db, &d, now(clk)).await.map(drop) },
            stopped()
        ),
        bus::consume(
            &bus,
            &signing_spec,
            ctx,
            |d| async move { handle_session_created(db, &d, now(clk)).await.map(drop) },
            stopped()
        ),
        sweep_expired(db, clk, stopped()),
        async move {
            shutdown.await;
            let _ = stop_tx.send(true);
        },
    );
    case?;
    shard?;
    notify?;
    signing?;
    Ok(())
}

/// Mark sessions past their expiry EXPIRED until `stop` completes. A database error is logged
/// and retried at the next sweep: expiry is housekeeping, not a reason to stop the reactors.
async fn sweep_expired(db: &Db, clock: &dyn Clock, stop: impl Future<Output = ()>) {
    tokio::pin!(stop);
    let mut tick = tokio::time::interval(EXPIRY_SWEEP);
    loop {
        tokio::select! {
            () = &mut stop => return,
            _ = tick.tick() => {
                match db.expire_sessions(now(clock)).await {
                    Ok(ids) if !ids.is_empty() => {
                        tracing::info!(sessions = ?ids, "expired signing sessions");
                    }
                    Ok(_) => {}
                    Err(e) => tracing::warn!(error = %e, "expiring sessions failed; retrying at the next sweep"),
                }
            }
        }
    }
}

fn body(delivery: &Delivery) -> Result<Value, HandlerError> {
    serde_json::from_slice::<Value>(&delivery.payload).map_err(|e| {
        HandlerError::permanent(format!("{} payload is not JSON: {e}", delivery.topic))
    })
}

fn field<'a>(body: &'a Value, subject: &str, name: &str) -> Result<&'a str, HandlerError> {
    body.get(name)
        .and_then(Value::as_str)
        .ok_or_else(|| HandlerError::permanent(format!("{subject} payload has no {name}")))
}

async fn react(db: &Db, reaction: Reaction, now: DateTime<Utc>) -> Result<Reacted, HandlerError> {
    db.react_once(reaction, now)
        .await
        .map_err(HandlerError::retry)
}

/// The case reactor: a created case asks for keygen (`custody.keygen.requested`).
pub async fn handle_case_created(
    db: &Db,
    delivery: &Delivery,
    now: DateTime<Utc>,
) -> Result<Reacted, HandlerError> {
    let event = body(delivery)?;
    let case_id = field(&event, &delivery.topic, "case_id")?;
    let msg_id = delivery.message_id.clone();
    react(
        db,
        Reaction {
            consumer: CASE.to_owned(),
            msg_id: msg_id.clone(),
            actor: format!("service:{CASE}"),
            action: "keygen.requested".to_owned(),
            object: case_id.to_owned(),
            details: json!({"cause": contracts::subjects::CASE_CREATED}),
            events: vec![(
                contracts::subjects::KEYGEN_REQUESTED.to_owned(),
                json!({
                    "case_id": case_id,
                    "slots": event.get("slots").cloned().unwrap_or(Value::Null),
                    "cause_event_id": msg_id,
                }),
            )],
        },
        now,
    )
    .await
}

/// The shard-registry reactor: the replaced manager loses access to the share
/// (`access.revoked` audit record and `custody.access.revoked`). The share row itself was
/// re-bound by the transaction that replaced the manager.
pub async fn handle_manager_replaced(
    db: &Db,
    delivery: &Delivery,
    now: DateTime<Utc>,
) -> Result<Reacted, HandlerError> {
    let event = body(delivery)?;
    let subject = &delivery.topic;
    let case_id = field(&event, subject, "case_id")?;
    let user_id = field(&event, subject, "from_user_id")?;
    let replaced_by = field(&event, subject, "to_user_id")?;
    let share_index = event.get("share_index").cloned().unwrap_or(Value::Null);
    let se_id = event.get("se_id").cloned().unwrap_or(Value::Null);
    let msg_id = delivery.message_id.clone();
    react(
        db,
        Reaction {
            consumer: SHARD_REGISTRY.to_owned(),
            msg_id: msg_id.clone(),
            actor: format!("service:{SHARD_REGISTRY}"),
            action: "access.revoked".to_owned(),
            object: case_id.to_owned(),
            details: json!({
                "user_id": user_id, "share_index": share_index, "se_id": se_id,
                "replaced_by": replaced_by, "reason": "manager replaced",
            }),
            events: vec![(
                contracts::subjects::ACCESS_REVOKED.to_owned(),
                json!({
                    "case_id": case_id, "user_id": user_id, "share_index": share_index,
                    "se_id": se_id, "reason": "manager replaced", "cause_event_id": msg_id,
                }),
            )],
        },
        now,
    )
    .await
}

/// The notify reactor: every active manager of the case gets a
/// `custody.notify.manager.<user>` notification that keygen was requested.
pub async fn handle_keygen_requested(
    db: &Db,
    delivery: &Delivery,
    now: DateTime<Utc>,
) -> Result<Reacted, HandlerError> {
    let event = body(delivery)?;
    let case_id = field(&event, &delivery.topic, "case_id")?;
    let shares = db
        .key_shares_by_case(case_id)
        .await
        .map_err(HandlerError::retry)?;
    let msg_id = delivery.message_id.clone();
    let mut events = Vec::new();
    let mut users = Vec::new();
    for share in shares.iter().filter(|s| s.status == KeyShareStatus::Active) {
        // Parsing as an id keeps `.`, `*` and `>` out of the subject.
        let user = contracts::Id::parse(&share.user_id).map_err(|e| {
            HandlerError::permanent(format!("user id {} is not an id: {e}", share.user_id))
        })?;
        users.push(share.user_id.clone());
        events.push((
            contracts::subjects::notify_manager(&user),
            json!({
                "kind": "keygen_requested", "case_id": case_id, "user_id": share.user_id,
                "share_index": share.share_index, "se_id": share.se_id,
                "cause_event_id": msg_id,
            }),
        ));
    }
    react(
        db,
        Reaction {
            consumer: NOTIFY.to_owned(),
            msg_id,
            actor: format!("service:{NOTIFY}"),
            action: "managers.notified".to_owned(),
            object: case_id.to_owned(),
            details: json!({"users": users, "cause": contracts::subjects::KEYGEN_REQUESTED}),
            events,
        },
        now,
    )
    .await
}

/// The notify-signing reactor: each participant of a new signing session gets a
/// `custody.notify.manager.<user>` signing invitation naming the session, their share and the
/// SE to bring.
pub async fn handle_session_created(
    db: &Db,
    delivery: &Delivery,
    now: DateTime<Utc>,
) -> Result<Reacted, HandlerError> {
    let event = body(delivery)?;
    let session_id = field(&event, &delivery.topic, "session_id")?;
    let case_id = field(&event, &delivery.topic, "case_id")?;
    let slots = event
        .get("slots")
        .and_then(Value::as_array)
        .ok_or_else(|| {
            HandlerError::permanent(format!("{} payload has no slots", delivery.topic))
        })?;
    let msg_id = delivery.message_id.clone();
    let mut events = Vec::new();
    let mut users = Vec::new();
    for slot in slots {
        let user_id = field(slot, &delivery.topic, "user_id")?;
        // Parsing as an id keeps `.`, `*` and `>` out of the subject.
        let user = contracts::Id::parse(user_id)
            .map_err(|e| HandlerError::permanent(format!("user id {user_id} is not an id: {e}")))?;
        users.push(user_id.to_owned());
        events.push((
            contracts::subjects::notify_manager(&user),
            json!({
                "kind": "signing_invitation", "case_id": case_id, "session_id": session_id,
                "user_id": user_id, "share_index": slot.get("share_index"),
                "se_id": slot.get("se_id"), "signing_hash": event.get("signing_hash"),
                "expires_at": event.get("expires_at"), "cause_event_id": msg_id,
            }),
        ));
    }
    react(
        db,
        Reaction {
            consumer: NOTIFY_SIGNING.to_owned(),
            msg_id,
            actor: format!("service:{NOTIFY_SIGNING}"),
            action: "managers.invited".to_owned(),
            object: session_id.to_owned(),
            details: json!({"users": users, "cause": contracts::subjects::SESSION_CREATED}),
            events,
        },
        now,
    )
    .await
}
