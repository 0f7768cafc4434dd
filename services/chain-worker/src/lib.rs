//! The online zone's chain worker (DESIGN.md §3, §7, §11): the only process that puts signed
//! transactions on chain and follows them there.
//!
//! [`run`] opens the online database, connects to the Ethereum node (checking its chain id)
//! and to RabbitMQ, declares the topology of `contracts::subjects::online`, and then runs until
//! `shutdown` completes:
//!
//! - the **outbox relay** ([`events::run_relay`] over [`DbOutbox`]): events that `online_db`
//!   committed with a change (a signature attached → `broadcast`; a broadcast recorded →
//!   `track`) reach the exchange only from the outbox, so a broker that is down delays work
//!   and loses none;
//! - the **broadcast consumer** ([`BROADCAST_CONSUMER`]): loads the SIGNED transfer, sends its
//!   signed bytes with [`chain::Chain::send_raw`] (which sends nothing when the node already
//!   knows the transaction by hash) and records BROADCAST, the transaction-log record and the
//!   `track` event in one database transaction ([`online_db::Db::mark_broadcast`]);
//! - **track consumers** ([`TRACK_CONSUMER`], [`Config::trackers`] of them): poll
//!   [`chain::Chain::status`] until the transaction has [`Config::confirmations`] blocks →
//!   CONFIRMED with its block; reverted (and final) → FAILED; dropped from the pool → the same
//!   signed bytes are sent again, at most [`Config::max_resends`] times, then FAILED; the
//!   block it was in left the canonical chain → it stays BROADCAST and tracking goes on, the new
//!   block being recorded (the transaction log marks it a reorg).
//!
//! Idempotency holds twice over. By state: a transfer that is no longer SIGNED is not sent
//! again, and one that is final is not tracked; a worker killed between sending and recording
//! finds the transaction known to the node on redelivery and only records it. By message id:
//! every handled message is claimed in `processed_messages` ([`DbProcessed`]) after its effect
//! committed, and a redelivery of a claimed message is acked at once. The claim cannot share
//! the effect's transaction because `online_db`'s operations open their own; the state check
//! is what makes the gap harmless.
//!
//! Both consumers act only on messages that this zone's outbox produced: the MAC that the
//! online token made when the message was written must verify with the same token key
//! (`events::EventVerifier`). A message published by hand on a routing key is dead-lettered with
//! its reason, logged and counted, and changes nothing.

mod adapters;
mod work;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use contracts::subjects::online;
use events::{Clock, RelayConfig};
use mq::{ConsumerContext, ConsumerSpec, Mq, MqOptions, MqPublisher, Topology};
use online_db::Db;

pub use adapters::{DbOutbox, DbProcessed};
pub use work::{Outcome, Work, Worker, ACTOR};

/// Consumer name (idempotency key space) of the broadcast consumer.
pub const BROADCAST_CONSUMER: &str = "chain-worker.broadcast";
/// Consumer name (idempotency key space) of the track consumers.
pub const TRACK_CONSUMER: &str = "chain-worker.track";

/// What the worker connects to and how it tracks.
#[derive(Clone)]
pub struct Config {
    /// The online database: `sqlite://path?mode=rwc` or `postgres://…`.
    pub db_url: String,
    /// The online token's audit keys: the worker's log records and events are MACed with them,
    /// and every message it consumes must carry the same key's MAC.
    pub sealer: audit::Sealer,
    /// RabbitMQ: `amqp://user:password@host:port/vhost`.
    pub amqp_url: String,
    /// The Ethereum node's JSON-RPC URL (http or https; may carry an API key).
    pub rpc_url: String,
    /// The chain the node must serve; transfers for another chain are refused.
    pub chain_id: u64,
    /// Blocks (counting the transaction's own) after which a transfer is CONFIRMED.
    pub confirmations: u64,
    /// Pause between two looks at a tracked transaction.
    pub poll_interval: Duration,
    /// How often a transaction dropped from the pool is sent again before it is FAILED.
    pub max_resends: u32,
    /// Transactions tracked at once (one track consumer each).
    pub trackers: usize,
    /// How often the topology is declared again while running. A broker killed soon after a
    /// declaration can come back without its quorum queues (observed with RabbitMQ 3.10: the
    /// queues' Raft metadata was not on disk yet); declaring again restores them, and until
    /// then the relay keeps events in the outbox because the broker returns them unroutable.
    pub redeclare_interval: Duration,
}

impl Config {
    /// A configuration with 12 confirmations, a 2 s poll, 3 re-sends and 4 trackers.
    pub fn new(
        db_url: impl Into<String>,
        sealer: audit::Sealer,
        amqp_url: impl Into<String>,
        rpc_url: impl Into<String>,
        chain_id: u64,
    ) -> Config {
        Config {
            db_url: db_url.into(),
            sealer,
            amqp_url: amqp_url.into(),
            rpc_url: rpc_url.into(),
            chain_id,
            confirmations: 12,
            poll_interval: Duration::from_secs(2),
            max_resends: 3,
            trackers: 4,
            redeclare_interval: Duration::from_secs(30),
        }
    }
}

impl std::fmt::Debug for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The three URLs may carry passwords or API keys; they are not printed.
        f.debug_struct("Config")
            .field("chain_id", &self.chain_id)
            .field("confirmations", &self.confirmations)
            .field("poll_interval", &self.poll_interval)
            .field("max_resends", &self.max_resends)
            .field("trackers", &self.trackers)
            .field("redeclare_interval", &self.redeclare_interval)
            .finish_non_exhaustive()
    }
}

/// Why the worker could not start. Nothing here carries a URL's credentials.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The database could not be opened or migrated.
    #[error("chain-worker: {0}")]
    Db(#[from] online_db::Error),
    /// The Ethereum node is unreachable or serves another chain.
    #[error("chain-worker: {0}")]
    Chain(#[from] chain::Error),
    /// RabbitMQ is unreachable or refused the topology.
    #[error("chain-worker: {0}")]
    Mq(#[from] mq::Error),
    /// The configuration cannot work.
    #[error("chain-worker: {0}")]
    Config(String),
}

/// Result alias for this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// The online bus topology of the contract: the exchange, the `broadcast` and `track` quorum
/// queues and the dead-letter path.
pub fn topology() -> Topology {
    let mut topology = Topology::new(
        online::EXCHANGE,
        online::DEAD_LETTER_EXCHANGE,
        online::DEAD_LETTER_QUEUE,
    );
    for (queue, keys) in online::QUEUES {
        topology = topology.queue(*queue, keys.iter().copied());
    }
    topology.delivery_limit = online::DELIVERY_LIMIT;
    topology.anchor_queue = online::ANCHOR_QUEUE.to_owned();
    topology
}

/// Run the relay and the consumers on the system clock until `shutdown` completes.
pub async fn run(config: Config, shutdown: impl Future<Output = ()>) -> Result<()> {
    run_with_clock(config, Arc::new(events::SystemClock), shutdown).await
}

/// [`run`] with an injected clock (every log record and outbox time is read from it).
pub async fn run_with_clock(
    config: Config,
    clock: Arc<dyn Clock>,
    shutdown: impl Future<Output = ()>,
) -> Result<()> {
    if config.confirmations == 0 {
        return Err(Error::Config(
            "confirmations must be at least 1 (the block that includes the transaction)".into(),
        ));
    }
    let db = Db::connect(&config.db_url, config.sealer.clone()).await?;
    let context = ConsumerContext::new(events::EventVerifier::new(config.sealer.mac_key_arc()));
    let chain = chain::Chain::connect(&config.rpc_url, config.chain_id).await?;
    let mq = Mq::connect(
        &config.amqp_url,
        MqOptions {
            name: "custody-chain-worker".to_owned(),
            ..MqOptions::default()
        },
    )
    .await?;
    let topology = topology();
    mq.declare(&topology).await?;
    tracing::info!(chain_id = config.chain_id, broker = %mq.endpoint(), "chain worker started");

    let worker = Worker::new(db.clone(), chain, clock.clone(), &config);
    let outbox = DbOutbox(db);
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let stopped = move || {
        let mut rx = stop_rx.clone();
        async move {
            // An error means the sender is gone, which also means stop.
            let _ = rx.wait_for(|stop| *stop).await;
        }
    };
    let relay_config = RelayConfig {
        poll_interval: Duration::from_millis(200),
        ..RelayConfig::default()
    };
    let publisher = MqPublisher {
        mq: mq.clone(),
        exchange: online::EXCHANGE.to_owned(),
    };
    let broadcast_spec = ConsumerSpec::new(
        online::BROADCAST_QUEUE,
        BROADCAST_CONSUMER,
        online::DEAD_LETTER_EXCHANGE,
    );
    let track_spec = ConsumerSpec {
        // One message at a time per tracker: a tracked transaction holds its delivery until it
        // is final, and the others wait for a free tracker rather than in a busy consumer.
        prefetch: 1,
        ..ConsumerSpec::new(
            online::TRACK_QUEUE,
            TRACK_CONSUMER,
            online::DEAD_LETTER_EXCHANGE,
        )
    };
    let ctx = &context;
    let trackers = (0..config.trackers.max(1))
        .map(|_| mq::consume(&mq, &track_spec, ctx, |d| worker.on_track(d), stopped()));
    let (_, _, broadcast, tracked, ()) = tokio::join!(
        keep_topology(&mq, &topology, config.redeclare_interval, stopped()),
        events::run_relay(
            &publisher,
            &outbox,
            clock.as_ref(),
            &relay_config,
            stopped()
        ),
        mq::consume(
            &mq,
            &broadcast_spec,
            ctx,
            |d| worker.on_broadcast(d),
            stopped()
        ),
        futures::future::join_all(trackers),
        async {
            shutdown.await;
            let _ = stop_tx.send(true);
        },
    );
    mq.close().await;
    broadcast?;
    for result in tracked {
        result?;
    }
    Ok(())
}

/// Declare `topology` again every `interval` until `shutdown` (see
/// [`Config::redeclare_interval`]); a failure is retried at the next tick.
async fn keep_topology(
    mq: &Mq,
    topology: &Topology,
    interval: Duration,
    shutdown: impl Future<Output = ()>,
) {
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            biased;
            () = &mut shutdown => return,
            () = tokio::time::sleep(interval) => {}
        }
        tokio::select! {
            biased;
            () = &mut shutdown => return,
            result = mq.declare(topology) => if let Err(error) = result {
                tracing::debug!(%error, "declaring the topology again failed; retrying later");
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_config_does_not_print_its_urls() {
        let config = Config::new(
            "postgres://worker:db-s3cret@db/online",
            testkit::hsm::online_sealer(),
            "amqp://worker:mq-s3cret@mq:5672/%2f",
            "https://node.example/v1/api-s3cret",
            1,
        );
        let shown = format!("{config:?}");
        assert!(!shown.contains("s3cret"), "{shown}");
        assert!(shown.contains("confirmations: 12"), "{shown}");
    }

    #[test]
    fn messages_parse_and_garbage_is_permanent() {
        let work = Work::parse(
            br#"{"transfer_id":"t1","tx_hash":"0xab","chain_id":31337,"event_id":"e","at":1}"#,
        )
        .unwrap();
        assert_eq!(work.transfer_id, "t1");
        assert_eq!(work.tx_hash.as_deref(), Some("0xab"));
        assert!(matches!(
            Work::parse(b"not json"),
            Err(mq::HandlerError::Permanent { .. })
        ));
    }
}
