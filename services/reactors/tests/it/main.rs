//! Integration tests of the reactors against a real nats-server and real SQLite and PostgreSQL.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    reason = "tests fail loudly on purpose"
)]

use std::collections::HashSet;
use std::future::Future;
use std::time::Duration;

use bus::{Bus, BusOptions, Delivery};
use chrono::{DateTime, Utc};
use events::Outbox;
use futures::StreamExt;
use offline_db::bus_adapters::Reacted;
use offline_db::entity::{outbox, secure_elements, users};
use offline_db::{Db, ManagerReplacement, ManagerSlot, NewSecureElement, NewUser, Role};
use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter};
use testkit::db::TestDb;
use testkit::nats::NatsServer;

const WAIT: Duration = Duration::from_secs(60);

/// An admin, four case managers and four SEs.
struct World {
    db: Db,
    admin: users::Model,
    managers: Vec<users::Model>,
    ses: Vec<secure_elements::Model>,
}

impl World {
    async fn new(tdb: &TestDb) -> World {
        let db = Db::connect(tdb.url(), testkit::hsm::offline_sealer())
            .await
            .unwrap();
        let now = at(0);
        let user = |name: &str, role| NewUser {
            username: name.to_owned(),
            display_name: name.to_owned(),
            phone: None,
            password_hash: "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA".into(),
            role,
        };
        let admin = db
            .create_user(user("admin", Role::Admin), "bootstrap", now)
            .await
            .unwrap();
        let mut managers = Vec::new();
        let mut ses = Vec::new();
        for i in 0..4u8 {
            managers.push(
                db.create_user(
                    user(&format!("manager{i}"), Role::CaseManager),
                    &admin.id,
                    now,
                )
                .await
                .unwrap(),
            );
            ses.push(
                db.create_secure_element(
                    NewSecureElement {
                        serial: format!("SE{i:04}"),
                        label: format!("token {i}"),
                        identity_public_key: vec![4, i],
                        certificate: None,
                        enrolled_by: None,
                    },
                    &admin.id,
                    now,
                )
                .await
                .unwrap(),
            );
        }
        World {
            db,
            admin,
            managers,
            ses,
        }
    }

    /// A case held by managers 0..3 with SEs 0..3; `n` varies the name.
    async fn create_case(&self, n: i64) -> String {
        let slots = [0usize, 1, 2].map(|i| ManagerSlot {
            user_id: self.managers[i].id.clone(),
            se_id: self.ses[i].id.clone(),
        });
        self.db
            .create_case(&format!("case {n}"), slots, &[1], &self.admin.id, at(n))
            .await
            .unwrap()
            .id
    }
}

fn at(seconds: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(1_780_000_000 + seconds, 0).unwrap()
}

/// Run the reactors against `tdb` and `nats` while `body` runs, then stop them.
async fn with_reactors<F: Future<Output = ()>>(tdb: &TestDb, nats: &str, body: F) {
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let config = reactors::Config {
        db_url: tdb.url().to_owned(),
        sealer: testkit::hsm::offline_sealer(),
        nats_url: nats.to_owned(),
        nats_access: bus::NatsAccess::default(),
    };
    let (result, ()) = tokio::join!(
        reactors::run(config, async move {
            let _ = stopped.await;
        }),
        async move {
            body.await;
            let _ = stop.send(());
        }
    );
    result.unwrap();
}

async fn eventually<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + WAIT;
    while !check().await {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn rows(db: &Db, subject_prefix: &str) -> u64 {
    outbox::Entity::find()
        .filter(outbox::Column::Subject.starts_with(subject_prefix))
        .count(db.conn())
        .await
        .unwrap()
}

async fn unpublished(db: &Db) -> u64 {
    outbox::Entity::find()
        .filter(outbox::Column::PublishedAt.is_null())
        .count(db.conn())
        .await
        .unwrap()
}

async fn audits(db: &Db, action: &str) -> usize {
    audit::query(
        db.conn(),
        audit::Filter {
            action: Some(action.to_owned()),
            ..audit::Filter::default()
        },
    )
    .await
    .unwrap()
    .len()
}

async fn connect(nats: &NatsServer) -> Bus {
    Bus::connect(&nats.url(), BusOptions::default())
        .await
        .unwrap()
}

/// The delivery a consumer would get for outbox row `row`.
fn delivery_of(row: &outbox::Model) -> Delivery {
    Delivery {
        topic: row.subject.clone(),
        message_id: row.msg_id.clone(),
        content_type: None,
        schema: None,
        payload: row.payload.clone(),
        attempt: 1,
    }
}

async fn only_row(db: &Db, subject: &str) -> outbox::Model {
    let mut found = outbox::Entity::find()
        .filter(outbox::Column::Subject.eq(subject))
        .all(db.conn())
        .await
        .unwrap();
    assert_eq!(found.len(), 1, "outbox rows on {subject}");
    found.pop().unwrap()
}

#[tokio::test]
async fn case_created_leads_to_keygen_requested_and_three_manager_notifications() {
    for tdb in TestDb::both().await.unwrap() {
        let nats = NatsServer::start().unwrap();
        let world = World::new(&tdb).await;
        let listener = connect(&nats).await;
        let mut notes = listener
            .client()
            .subscribe(contracts::subjects::NOTIFY_MANAGER_WILDCARD)
            .await
            .unwrap();
        listener.flush().await.unwrap();
        with_reactors(&tdb, &nats.url(), async {
            let case_id = world.create_case(1).await;
            let mut users = HashSet::new();
            let mut received = 0;
            while users.len() < 3 {
                let note = tokio::time::timeout(WAIT, notes.next())
                    .await
                    .unwrap_or_else(|_| panic!("{}: notifications did not arrive", tdb.kind()))
                    .unwrap();
                received += 1;
                let body: serde_json::Value = serde_json::from_slice(&note.payload).unwrap();
                assert_eq!(body["case_id"], case_id.as_str());
                assert_eq!(
                    note.subject.as_str(),
                    format!(
                        "custody.notify.manager.{}",
                        body["user_id"].as_str().unwrap()
                    )
                );
                users.insert(body["user_id"].as_str().unwrap().to_owned());
            }
            // Nothing more comes: exactly one notification per manager.
            let extra = tokio::time::timeout(Duration::from_millis(1500), notes.next()).await;
            assert!(
                extra.is_err(),
                "{}: a fourth notification arrived",
                tdb.kind()
            );
            assert_eq!(received, 3);
            let expected: HashSet<String> =
                world.managers[..3].iter().map(|m| m.id.clone()).collect();
            assert_eq!(users, expected);
            eventually("every outbox row published", || async {
                unpublished(&world.db).await == 0
            })
            .await;
        })
        .await;
        let db = &world.db;
        assert_eq!(rows(db, contracts::subjects::CASE_CREATED).await, 1);
        assert_eq!(rows(db, contracts::subjects::KEYGEN_REQUESTED).await, 1);
        assert_eq!(rows(db, "custody.notify.manager.").await, 3);
        assert_eq!(audits(db, "keygen.requested").await, 1);
        assert_eq!(audits(db, "managers.notified").await, 1);
        assert!(db.verify_audit().await.unwrap().is_intact());
    }
}

#[tokio::test]
async fn an_event_published_twice_has_its_effect_once() {
    for tdb in TestDb::both().await.unwrap() {
        let nats = NatsServer::start().unwrap();
        let world = World::new(&tdb).await;
        let db = &world.db;
        let case_id = world.create_case(1).await;
        db.replace_manager(
            ManagerReplacement {
                case_id: case_id.clone(),
                share_index: 1,
                new_user_id: world.managers[3].id.clone(),
                pin_reset_by: world.admin.id.clone(),
                reason: "left the company".to_owned(),
            },
            &world.admin.id,
            at(2),
        )
        .await
        .unwrap();
        with_reactors(&tdb, &nats.url(), async {
            eventually(
                "access revoked and keygen notified, all published",
                || async {
                    rows(db, contracts::subjects::ACCESS_REVOKED).await == 1
                        && rows(db, "custody.notify.manager.").await == 3
                        && unpublished(db).await == 0
                },
            )
            .await;
            // The same event again, same msg id, within the duplicate window: JetStream drops it.
            let bus = connect(&nats).await;
            let replaced = only_row(db, contracts::subjects::CASE_MANAGER_REPLACED).await;
            let again = bus
                .publish_event(
                    &replaced.subject,
                    &replaced.msg_id,
                    "ManagerReplaced/v1",
                    replaced.payload.clone().into(),
                    &[(events::MAC_HEADER.to_owned(), replaced.mac.clone().unwrap())],
                )
                .await
                .unwrap();
            assert!(again.duplicate, "{}: the repeat was stored", tdb.kind());
            tokio::time::sleep(Duration::from_secs(1)).await;
        })
        .await;

        // Outside the window the repeat is delivered; the DB guard skips it.
        let replaced = only_row(db, contracts::subjects::CASE_MANAGER_REPLACED).await;
        let created = only_row(db, contracts::subjects::CASE_CREATED).await;
        let keygen = only_row(db, contracts::subjects::KEYGEN_REQUESTED).await;
        for _ in 0..2 {
            assert_eq!(
                reactors::handle_manager_replaced(db, &delivery_of(&replaced), at(100))
                    .await
                    .unwrap(),
                Reacted::AlreadyDone
            );
            assert_eq!(
                reactors::handle_case_created(db, &delivery_of(&created), at(100))
                    .await
                    .unwrap(),
                Reacted::AlreadyDone
            );
            assert_eq!(
                reactors::handle_keygen_requested(db, &delivery_of(&keygen), at(100))
                    .await
                    .unwrap(),
                Reacted::AlreadyDone
            );
        }
        assert_eq!(rows(db, contracts::subjects::ACCESS_REVOKED).await, 1);
        assert_eq!(rows(db, contracts::subjects::KEYGEN_REQUESTED).await, 1);
        assert_eq!(rows(db, "custody.notify.manager.").await, 3);
        assert_eq!(audits(db, "access.revoked").await, 1);
        assert_eq!(audits(db, "keygen.requested").await, 1);
        assert_eq!(audits(db, "managers.notified").await, 1);
        let revoked = only_row(db, contracts::subjects::ACCESS_REVOKED).await;
        let body: serde_json::Value = serde_json::from_slice(&revoked.payload).unwrap();
        assert_eq!(body["user_id"], world.managers[1].id.as_str());
        assert!(db.verify_audit().await.unwrap().is_intact());
    }
}

#[tokio::test]
async fn a_handler_called_twice_without_a_bus_applies_once() {
    for tdb in TestDb::both().await.unwrap() {
        let world = World::new(&tdb).await;
        let db = &world.db;
        world.create_case(1).await;
        let created = only_row(db, contracts::subjects::CASE_CREATED).await;
        let first = reactors::handle_case_created(db, &delivery_of(&created), at(100))
            .await
            .unwrap();
        let second = reactors::handle_case_created(db, &delivery_of(&created), at(100))
            .await
            .unwrap();
        assert_eq!((first, second), (Reacted::Applied, Reacted::AlreadyDone));
        assert_eq!(rows(db, contracts::subjects::KEYGEN_REQUESTED).await, 1);
        assert_eq!(audits(db, "keygen.requested").await, 1);
    }
}

#[tokio::test]
async fn db_outbox_and_processed_adapters() {
    for tdb in TestDb::both().await.unwrap() {
        let world = World::new(&tdb).await;
        let db = &world.db;
        world.create_case(1).await;
        let pending = Outbox::pending(db, 10).await.unwrap();
        assert_eq!(pending.len(), 1);
        let entry = &pending[0];
        assert_eq!(entry.topic, contracts::subjects::CASE_CREATED);
        assert_eq!(entry.schema, "CaseCreated/v1");
        assert_eq!(entry.content_type, "application/json");
        // The row carries the HSM's MAC of exactly what the relay sends.
        let input = events::EventMacInput {
            topic: &entry.topic,
            message_id: &entry.message_id,
            content_type: &entry.content_type,
            schema: &entry.schema,
            payload: &entry.payload,
        };
        assert_eq!(
            testkit::hsm::offline_event_verifier()
                .verify(&input, entry.mac.as_deref())
                .unwrap(),
            Ok(())
        );
        let when = std::time::SystemTime::UNIX_EPOCH + Duration::from_secs(1_790_000_000);
        Outbox::mark_published(db, &entry.id, when).await.unwrap();
        Outbox::mark_published(db, &entry.id, std::time::SystemTime::UNIX_EPOCH)
            .await
            .unwrap();
        assert!(Outbox::pending(db, 10).await.unwrap().is_empty());
        let row = only_row(db, contracts::subjects::CASE_CREATED).await;
        assert_eq!(
            row.published_at.unwrap(),
            DateTime::<Utc>::from(when),
            "marking twice keeps the first time"
        );

        let claim = |consumer: &'static str| async move {
            offline_db::bus_adapters::claim(db.conn(), consumer, "m1", at(5))
                .await
                .unwrap()
        };
        assert!(claim("c").await);
        assert!(!claim("c").await);
        assert!(claim("other").await);
    }
}

#[tokio::test]
async fn a_nats_restart_loses_no_committed_event() {
    for tdb in TestDb::both().await.unwrap() {
        let mut nats = NatsServer::start().unwrap();
        let url = nats.url();
        let world = World::new(&tdb).await;
        let db = &world.db;
        let nats_ref = &mut nats;
        with_reactors(&tdb, &url, async {
            world.create_case(1).await;
            eventually("the first case's events", || async {
                rows(db, "custody.notify.manager.").await == 3 && unpublished(db).await == 0
            })
            .await;
            nats_ref.stop();
            // The next case re-uses the SEs, so the first case is archived first.
            let first = only_row(db, contracts::subjects::CASE_CREATED).await;
            let case1: serde_json::Value = serde_json::from_slice(&first.payload).unwrap();
            db.archive_case(case1["case_id"].as_str().unwrap(), &world.admin.id, at(10))
                .await
                .unwrap();
            world.create_case(11).await;
            assert!(
                unpublished(db).await >= 2,
                "{}: the outbox holds the events committed while NATS is down",
                tdb.kind()
            );
            nats_ref.restart().unwrap();
            eventually("every outbox row published after the restart", || async {
                rows(db, "custody.notify.manager.").await == 6 && unpublished(db).await == 0
            })
            .await;
            let bus = connect(nats_ref).await;
            let all = outbox::Entity::find().all(db.conn()).await.unwrap();
            let events = all
                .iter()
                .filter(|r| !r.subject.starts_with("custody.notify."))
                .count() as u64;
            let notes = all.len() as u64 - events;
            // Every msg id is distinct and every row was acknowledged as stored, so equal counts
            // mean each committed event is in its stream exactly once.
            assert_eq!(
                bus.stream_messages(contracts::subjects::EVENTS_STREAM.name)
                    .await
                    .unwrap(),
                events
            );
            assert_eq!(
                bus.stream_messages(contracts::subjects::NOTIFY_STREAM.name)
                    .await
                    .unwrap(),
                notes
            );
        })
        .await;
        assert_eq!(rows(db, contracts::subjects::KEYGEN_REQUESTED).await, 2);
        assert_eq!(audits(db, "keygen.requested").await, 2);
        assert_eq!(audits(db, "managers.notified").await, 2);
        assert_eq!(unpublished(db).await, 0);
        assert!(db.verify_audit().await.unwrap().is_intact());
        drop(nats);
    }
}

#[tokio::test]
async fn a_malformed_event_is_refused_permanently_and_changes_nothing() {
    for tdb in TestDb::both().await.unwrap() {
        let world = World::new(&tdb).await;
        let db = &world.db;
        let before = db.verify_audit().await.unwrap().records;
        for payload in [&b"\x93not json"[..], br#"{"name":"no case id"}"#] {
            let delivery = Delivery {
                topic: contracts::subjects::CASE_CREATED.to_owned(),
                message_id: "bad-1".to_owned(),
                content_type: None,
                schema: None,
                payload: payload.to_vec(),
                attempt: 1,
            };
            for result in [
                reactors::handle_case_created(db, &delivery, at(100)).await,
                reactors::handle_manager_replaced(db, &delivery, at(100)).await,
                reactors::handle_keygen_requested(db, &delivery, at(100)).await,
            ] {
                assert!(
                    matches!(result, Err(bus::HandlerError::Permanent { .. })),
                    "{}: {result:?}",
                    tdb.kind()
                );
            }
        }
        assert_eq!(db.verify_audit().await.unwrap().records, before);
        assert_eq!(rows(db, "custody.").await, 0);
        // Nothing was claimed either: a corrected redelivery would still be handled.
        assert!(
            offline_db::bus_adapters::claim(db.conn(), reactors::CASE, "bad-1", at(5))
                .await
                .unwrap()
        );
    }
}

#[tokio::test]
async fn a_signing_session_invites_each_of_its_managers_once() {
    for tdb in TestDb::both().await.unwrap() {
        let nats = NatsServer::start().unwrap();
        let world = World::new(&tdb).await;
        let listener = connect(&nats).await;
        let mut notes = listener
            .client()
            .subscribe(contracts::subjects::NOTIFY_MANAGER_WILDCARD)
            .await
            .unwrap();
        listener.flush().await.unwrap();
        let case_id = world.create_case(1).await;
        world
            .db
            .complete_keygen(&case_id, "02ab", "0xab", "shard-registry", at(2))
            .await
            .unwrap();
        let imported = world
            .db
            .record_signing_request(
                offline_db::NewSigningRequest {
                    request_id: "req-1".into(),
                    case_id: case_id.clone(),
                    tx_hash: "ab".repeat(32),
                    decoded: serde_json::json!({}),
                    expires_at: at(3600),
                    session_id: offline_db::new_id(at(3)),
                    execution_id: "eid-1".into(),
                    envelope: vec![0x81],
                },
                &world.admin.id,
                at(3),
            )
            .await
            .unwrap();
        with_reactors(&tdb, &nats.url(), async {
            let mut invited = HashSet::new();
            let deadline = tokio::time::Instant::now() + WAIT;
            while invited.len() < 3 {
                let note = tokio::time::timeout_at(deadline, notes.next())
                    .await
                    .unwrap_or_else(|_| panic!("{}: invitations did not arrive", tdb.kind()))
                    .unwrap();
                let body: serde_json::Value = serde_json::from_slice(&note.payload).unwrap();
                if body["kind"] != "signing_invitation" {
                    continue; // the keygen notifications of the case's creation
                }
                assert_eq!(body["session_id"], imported.session.id.as_str());
                assert_eq!(body["signing_hash"], "ab".repeat(32));
                assert!(invited.insert(body["user_id"].as_str().unwrap().to_owned()));
            }
            let expected: HashSet<String> =
                world.managers[..3].iter().map(|m| m.id.clone()).collect();
            assert_eq!(invited, expected);
            eventually("every outbox row published", || async {
                unpublished(&world.db).await == 0
            })
            .await;
        })
        .await;
        assert_eq!(audits(&world.db, "managers.invited").await, 1);
        assert!(world.db.verify_audit().await.unwrap().is_intact());
    }
}

/// A clock that always says `at(seconds)`.
struct FixedClock(DateTime<Utc>);

impl bus::Clock for FixedClock {
    fn now(&self) -> std::time::SystemTime {
        self.0.into()
    }
}

#[tokio::test]
async fn the_sweep_expires_a_session_whose_time_is_up_on_the_injected_clock() {
    let tdb = TestDb::sqlite().unwrap();
    let nats = NatsServer::start().unwrap();
    let world = World::new(&tdb).await;
    let case_id = world.create_case(1).await;
    world
        .db
        .complete_keygen(&case_id, "02ab", "0xab", "shard-registry", at(2))
        .await
        .unwrap();
    let imported = world
        .db
        .record_signing_request(
            offline_db::NewSigningRequest {
                request_id: "req-1".into(),
                case_id,
                tx_hash: "ab".repeat(32),
                decoded: serde_json::json!({}),
                expires_at: at(3600),
                session_id: offline_db::new_id(at(3)),
                execution_id: "eid-1".into(),
                envelope: vec![0x81],
            },
            &world.admin.id,
            at(3),
        )
        .await
        .unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let config = reactors::Config {
        db_url: tdb.url().to_owned(),
        sealer: testkit::hsm::offline_sealer(),
        nats_url: nats.url(),
        nats_access: bus::NatsAccess::default(),
    };
    let clock = std::sync::Arc::new(FixedClock(at(7200)));
    let db = world.db.clone();
    let session = imported.session.id.clone();
    let (result, ()) = tokio::join!(
        reactors::run_with_clock(config, clock, async move {
            let _ = stopped.await;
        }),
        async move {
            eventually("the session expired", || async {
                let d = db.session_detail(&session).await.unwrap();
                d.session.status == offline_db::SessionStatus::Expired
            })
            .await;
            let _ = stop.send(());
        }
    );
    result.unwrap();
    let d = world.db.session_detail(&imported.session.id).await.unwrap();
    assert_eq!(
        d.session.finished_at,
        Some(at(7200)),
        "the injected clock's time"
    );
    assert_eq!(
        d.requests[0].1.status,
        offline_db::SigningRequestStatus::Expired
    );
    assert_eq!(audits(&world.db, "session.expired").await, 1);
}

/// How many rows every table of the database holds.
async fn table_counts(db: &Db) -> std::collections::BTreeMap<String, i64> {
    testkit::db::table_counts(db.conn()).await.unwrap()
}

/// Publish a hand-made event on `subject`, as JSON, with `mac` when given.
async fn publish_forged(
    bus: &Bus,
    subject: &str,
    msg_id: &str,
    payload: &str,
    mac: Option<&str>,
) -> bus::Published {
    let mut headers = vec![("content-type".to_owned(), "application/json".to_owned())];
    if let Some(mac) = mac {
        headers.push((events::MAC_HEADER.to_owned(), mac.to_owned()));
    }
    bus.publish_event(
        subject,
        msg_id,
        "CaseCreated/v1",
        payload.as_bytes().to_vec().into(),
        &headers,
    )
    .await
    .unwrap()
}

/// Hand-made events on every subject the reactors consume — naming an unknown case, with a
/// real MAC of other content, replaying the id of a handled event with forged content, or of a
/// valid shape but from no outbox row — change nothing: every table's row count and the audit
/// chain stay the same, and each is dead-lettered with its reason.
#[tokio::test]
async fn forged_events_on_every_subject_change_nothing_and_are_dead_lettered() {
    for tdb in TestDb::both().await.unwrap() {
        let nats = NatsServer::start().unwrap();
        let world = World::new(&tdb).await;
        let db = &world.db;
        let case_id = world.create_case(1).await;
        with_reactors(&tdb, &nats.url(), async {
            eventually("the case's events handled and published", || async {
                rows(db, "custody.notify.manager.").await == 3 && unpublished(db).await == 0
            })
            .await;
            // The reactors are idle: take the picture.
            tokio::time::sleep(Duration::from_millis(500)).await;
            let before = table_counts(db).await;
            let head = db.verify_audit().await.unwrap();
            let created = only_row(db, contracts::subjects::CASE_CREATED).await;
            let bus = connect(&nats).await;
            let sealed = |subject: &str, msg_id: &str, payload: &[u8]| {
                events::seal_event(
                    &testkit::hsm::shared_offline_hsm().audit_mac_key(),
                    &events::EventMacInput {
                        topic: subject,
                        message_id: msg_id,
                        content_type: "application/json",
                        schema: "CaseCreated/v1",
                        payload,
                    },
                )
                .unwrap()
            };
            let unknown_case =
                serde_json::json!({"case_id": "0190d9e4-8f2a-7c3b-9d1e-2f3a4b5c6d7e"}).to_string();
            let real_case = serde_json::json!({
                "case_id": case_id, "from_user_id": world.managers[0].id,
                "to_user_id": world.managers[3].id, "share_index": 0,
            })
            .to_string();
            let forged: Vec<(&str, String, String, Option<String>)> = vec![
                // Valid shape, unknown case, no MAC (no outbox row produced it).
                (
                    contracts::subjects::CASE_CREATED,
                    "forged-1".into(),
                    unknown_case.clone(),
                    None,
                ),
                // A genuine MAC, but of other content.
                (
                    contracts::subjects::CASE_MANAGER_REPLACED,
                    "forged-2".into(),
                    real_case.clone(),
                    Some(sealed(
                        contracts::subjects::CASE_MANAGER_REPLACED,
                        "forged-2",
                        b"{}",
                    )),
                ),
                // The id of an event that was handled, with forged content and its old MAC.
                (
                    contracts::subjects::KEYGEN_REQUESTED,
                    created.msg_id.clone(),
                    serde_json::json!({"case_id": case_id}).to_string(),
                    created.mac.clone(),
                ),
                // A real event's bytes and MAC, moved to another subject.
                (
                    contracts::subjects::SESSION_CREATED,
                    created.msg_id.clone() + "-moved",
                    String::from_utf8(created.payload.clone()).unwrap(),
                    created.mac.clone(),
                ),
            ];
            // A replayed id inside the stream's duplicate window is dropped by JetStream itself.
            let (subject, msg_id, payload, mac) = &forged[2];
            let dropped = publish_forged(&bus, subject, msg_id, payload, mac.as_deref()).await;
            assert!(
                dropped.duplicate,
                "the broker drops a replay inside its window"
            );
            // After the window it reaches the consumers: shrink the window to see that now.
            let mut config = bus
                .jetstream()
                .get_stream(contracts::subjects::EVENTS_STREAM.name)
                .await
                .unwrap()
                .info()
                .await
                .unwrap()
                .config
                .clone();
            config.duplicate_window = Duration::from_secs(1);
            bus.jetstream().update_stream(config).await.unwrap();
            tokio::time::sleep(Duration::from_millis(1500)).await;
            for (subject, msg_id, payload, mac) in &forged {
                let published =
                    publish_forged(&bus, subject, msg_id, payload, mac.as_deref()).await;
                assert!(!published.duplicate, "{subject} {msg_id}");
            }
            // Every forged event reaches the dead-letter stream, with its reason.
            let stream = bus
                .jetstream()
                .get_stream(contracts::subjects::DEAD_LETTER_STREAM.name)
                .await
                .unwrap();
            let consumer: bus::async_nats::jetstream::consumer::PullConsumer = stream
                .create_consumer(bus::async_nats::jetstream::consumer::pull::Config::default())
                .await
                .unwrap();
            let mut reasons = std::collections::BTreeMap::new();
            let deadline = tokio::time::Instant::now() + WAIT;
            while reasons.len() < forged.len() {
                assert!(
                    tokio::time::Instant::now() < deadline,
                    "dead letters: {reasons:?}"
                );
                let mut batch = consumer
                    .fetch()
                    .max_messages(10)
                    .expires(Duration::from_millis(500))
                    .messages()
                    .await
                    .unwrap();
                while let Some(Ok(m)) = batch.next().await {
                    let h = m.headers.clone().unwrap();
                    reasons.insert(
                        h.get(bus::DEAD_LETTER_SUBJECT).unwrap().as_str().to_owned(),
                        (
                            m.subject.to_string(),
                            h.get(bus::DEAD_LETTER_REASON).unwrap().as_str().to_owned(),
                        ),
                    );
                }
            }
            for (subject, _, _, mac) in &forged {
                let (dead_subject, reason) = &reasons[*subject];
                assert!(
                    dead_subject.starts_with("custody.deadletter."),
                    "{dead_subject}"
                );
                let expected = if mac.is_some() {
                    "does not verify"
                } else {
                    "no MAC"
                };
                assert!(reason.contains(expected), "{subject}: {reason}");
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
            assert_eq!(
                table_counts(db).await,
                before,
                "{}: no table changed",
                tdb.kind()
            );
            let after = db.verify_audit().await.unwrap();
            assert!(after.is_intact());
            assert_eq!((after.records, after.head), (head.records, head.head));
        })
        .await;
    }
}
