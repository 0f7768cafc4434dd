//! The `custodyd` binary as an operator runs it.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    reason = "tests: a failed step stops the test with its message"
)]

use std::process::Command;

use chrono::{TimeZone, Utc};
use offline_db::{Db, NewUser, Role};
use sea_orm::ConnectionTrait;
use testkit::db::{DbKind, TestDb};

mod tamper;

fn verify(db_arg: &str) -> (i32, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_custodyd"))
        .args(["audit", "verify", "--db", db_arg])
        .output()
        .unwrap();
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    (out.status.code().unwrap_or(-1), text)
}

/// The argument an operator would pass: the file path for SQLite, the URL for PostgreSQL.
fn db_arg(test_db: &TestDb) -> String {
    match test_db.kind() {
        DbKind::Sqlite => test_db
            .url()
            .trim_start_matches("sqlite://")
            .split('?')
            .next()
            .unwrap()
            .to_owned(),
        DbKind::Postgres => test_db.url().to_owned(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn audit_verify_passes_on_a_fresh_db_and_names_the_tampered_record() {
    for test_db in TestDb::both().await.unwrap() {
        let db = Db::connect(test_db.url(), testkit::hsm::offline_sealer())
            .await
            .unwrap();
        let arg = db_arg(&test_db);
        let (code, text) = verify(&arg);
        assert_eq!(code, 0, "{:?} fresh: {text}", test_db.kind());
        assert!(text.contains("audit chain intact: 0 record(s)"), "{text}");

        let now = Utc.with_ymd_and_hms(2026, 11, 24, 12, 0, 0).unwrap();
        for i in 0..4 {
            db.create_user(
                NewUser {
                    username: format!("user{i}"),
                    display_name: format!("User {i}"),
                    phone: None,
                    password_hash: "$argon2id$placeholder".into(),
                    role: Role::Auditor,
                },
                "bootstrap",
                now,
            )
            .await
            .unwrap();
        }
        let (code, text) = verify(&arg);
        assert_eq!(code, 0, "{text}");
        assert!(text.contains("audit chain intact: 4 record(s)"), "{text}");
        assert!(
            text.contains("not covered: record MACs were not checked"),
            "{text}"
        );

        // An insider edits record 3 directly in the database.
        db.conn()
            .execute_unprepared("UPDATE audit_log SET actor = 'someone-else' WHERE seq = 3")
            .await
            .unwrap();
        let (code, text) = verify(&arg);
        assert_eq!(code, 3, "{:?} tampered: {text}", test_db.kind());
        assert!(text.contains("BROKEN at audit record 3"), "{text}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn offline_admin_create_reads_the_password_from_stdin_and_applies_the_policy() {
    use std::io::Write;
    let test_db = TestDb::sqlite().unwrap();
    let arg = db_arg(&test_db);
    let (hsm, token) = testkit::hsm::offline_hsm_with_flags();
    let create = |username: &str, password: &str| {
        let mut child = Command::new(env!("CARGO_BIN_EXE_custodyd"))
            .args([
                "offline-admin",
                "create",
                "--db",
                &arg,
                "--username",
                username,
            ])
            .args(token.args("hsm"))
            .args([
                "--display-name",
                "First Admin",
                "--phone",
                "+86 10 1234 5678",
            ])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        writeln!(child.stdin.take().unwrap(), "{password}").unwrap();
        let out = child.wait_with_output().unwrap();
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned()
                + &String::from_utf8_lossy(&out.stderr),
        )
    };
    // A common password is refused and nothing is created.
    let (ok, text) = create("root-admin", "qwertyuiop");
    assert!(!ok, "{text}");
    assert!(
        !text.contains("password123"),
        "the password is never echoed: {text}"
    );
    let (ok, text) = create("root-admin", "correct horse battery staple 42");
    assert!(ok, "{text}");
    assert!(text.contains("administrator root-admin created"), "{text}");

    let db = Db::connect(test_db.url(), testkit::hsm::offline_sealer_of(&hsm))
        .await
        .unwrap();
    use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
    let admin = offline_db::entity::users::Entity::find()
        .filter(offline_db::entity::users::Column::Username.eq("root-admin"))
        .one(db.conn())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(admin.role, Role::Admin);
    assert!(
        admin.password_hash.starts_with("$argon2id$"),
        "stored as Argon2id"
    );
    let report = db.verify_audit().await.unwrap();
    assert!(report.first_broken.is_none());
    assert_eq!(report.records, 1, "exactly one audit record: the creation");
}

#[test]
fn offline_api_prints_its_effective_configuration_without_secrets() {
    let out = Command::new(env!("CARGO_BIN_EXE_custodyd"))
        .args([
            "offline-api",
            "--config",
            concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/../../ops/offline-api.example.toml"
            ),
        ])
        .args(["--listen", "127.0.0.1:9999", "--print-config"])
        .env("CUSTODY_OFFLINE__HSM__TOKEN_LABEL", "from-env")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        text.contains("listen = \"127.0.0.1:9999\""),
        "flags win: {text}"
    );
    assert!(
        text.contains("token_label = \"from-env\""),
        "environment overlays the file: {text}"
    );
    assert!(text.contains("pin_file"), "{text}");
}

/// Kills the child on drop, so a failed assertion leaves no process behind.
struct Running(std::process::Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reactors_subcommand_relays_the_outbox_and_reacts_to_a_new_case() {
    use offline_db::entity::outbox;
    use offline_db::{ManagerSlot, NewSecureElement};
    use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter};

    let test_db = TestDb::sqlite().unwrap();
    let nats = testkit::nats::NatsServer::start().unwrap();
    let (hsm, token) = testkit::hsm::offline_hsm_with_flags();
    let db = Db::connect(test_db.url(), testkit::hsm::offline_sealer_of(&hsm))
        .await
        .unwrap();
    let now = Utc.with_ymd_and_hms(2026, 11, 24, 12, 0, 0).unwrap();
    let admin = db
        .create_user(
            NewUser {
                username: "admin".into(),
                display_name: "Admin".into(),
                phone: None,
                password_hash: "$argon2id$placeholder".into(),
                role: Role::Admin,
            },
            "bootstrap",
            now,
        )
        .await
        .unwrap();
    let mut slots = Vec::new();
    for i in 0..3u8 {
        let m = db
            .create_user(
                NewUser {
                    username: format!("manager{i}"),
                    display_name: format!("Manager {i}"),
                    phone: None,
                    password_hash: "$argon2id$placeholder".into(),
                    role: Role::CaseManager,
                },
                &admin.id,
                now,
            )
            .await
            .unwrap();
        let se = db
            .create_secure_element(
                NewSecureElement {
                    serial: format!("SE{i}"),
                    label: format!("SE {i}"),
                    identity_public_key: vec![4, i],
                    certificate: None,
                    enrolled_by: None,
                },
                &admin.id,
                now,
            )
            .await
            .unwrap();
        slots.push(ManagerSlot {
            user_id: m.id,
            se_id: se.id,
        });
    }
    let slots: [ManagerSlot; 3] = slots.try_into().unwrap();
    db.create_case("Treasury", slots, &[1], &admin.id, now)
        .await
        .unwrap();

    let _child = Running(
        Command::new(env!("CARGO_BIN_EXE_custodyd"))
            .args(["reactors", "--db", &db_arg(&test_db), "--nats", &nats.url()])
            .args(token.args("hsm"))
            .stdout(std::process::Stdio::null())
            .spawn()
            .unwrap(),
    );
    // The case reactor turns custody.case.created into custody.keygen.requested, and notify
    // into three manager notifications; the relay publishes them all.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        let notes = outbox::Entity::find()
            .filter(outbox::Column::Subject.starts_with("custody.notify.manager."))
            .filter(outbox::Column::PublishedAt.is_not_null())
            .count(db.conn())
            .await
            .unwrap();
        if notes == 3 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the reactors did not process the new case ({notes} notifications published)"
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    assert!(db.verify_audit().await.unwrap().is_intact());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn audit_verify_covers_both_online_chains_and_names_the_tampered_one() {
    for test_db in TestDb::both().await.unwrap() {
        let db = online_db::Db::connect(test_db.url(), testkit::hsm::online_sealer())
            .await
            .unwrap();
        let now = Utc.with_ymd_and_hms(2026, 11, 24, 12, 0, 0).unwrap();
        for i in 0..3 {
            db.create_user(
                online_db::NewUser {
                    username: format!("trader{i}"),
                    display_name: format!("Trader {i}"),
                    password_hash: "$argon2id$placeholder".into(),
                },
                "bootstrap",
                now,
            )
            .await
            .unwrap();
        }
        let arg = db_arg(&test_db);
        let (code, text) = verify(&arg);
        assert_eq!(code, 0, "{:?}: {text}", test_db.kind());
        assert!(
            text.contains("operation chain intact: 3 record(s)"),
            "{text}"
        );
        assert!(
            text.contains("transaction chain intact: 0 record(s)"),
            "{text}"
        );
        assert!(
            !text.contains("audit chain"),
            "the online zone has no audit_log: {text}"
        );

        db.conn()
            .execute_unprepared("UPDATE operation_log SET actor = 'mallory' WHERE seq = 2")
            .await
            .unwrap();
        let (code, text) = verify(&arg);
        assert_eq!(code, 3, "{:?}: {text}", test_db.kind());
        assert!(text.contains("operation chain BROKEN at"), "{text}");
        assert!(text.contains("BROKEN at audit record 2"), "{text}");
        assert!(text.contains("transaction chain intact"), "{text}");

        let out = Command::new(env!("CARGO_BIN_EXE_custodyd"))
            .args(["audit", "verify", "--db", &arg, "--chain", "transaction"])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(0));
        let out = Command::new(env!("CARGO_BIN_EXE_custodyd"))
            .args(["audit", "verify", "--db", &arg, "--chain", "ledger"])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(1));
        assert!(String::from_utf8_lossy(&out.stderr).contains("unknown chain ledger"));
    }
}

#[test]
fn chain_worker_refuses_a_node_on_another_chain_with_a_clear_error() {
    let anvil = testkit::anvil::Anvil::start().unwrap();
    let test_db = TestDb::sqlite().unwrap();
    let (_token, flags) = testkit::hsm::online_hsm_with_flags();
    let out = Command::new(env!("CARGO_BIN_EXE_custodyd"))
        .args([
            "chain-worker",
            "--db",
            &db_arg(&test_db),
            "--rpc-url",
            &anvil.url(),
            "--chain-id",
            "1",
            "--amqp",
            "amqp://guest:guest@127.0.0.1:1/%2f",
        ])
        .args(flags.args("export-key"))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("31337"), "names the node's chain: {stderr}");
    assert!(
        !stderr.contains(&anvil.url()),
        "the RPC URL may carry a key: {stderr}"
    );
}

#[test]
fn online_api_takes_its_configuration_from_file_environment_and_flags() {
    let out = Command::new(env!("CARGO_BIN_EXE_custodyd"))
        .args([
            "online-api",
            "--config",
            concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/../../ops/online-api.example.toml"
            ),
        ])
        .args(["--listen", "127.0.0.1:9998", "--chain-id", "11155111"])
        .args(["--offline-key", "02ab", "--print-config"])
        .env("CUSTODY_ONLINE__EXPORT_KEY__TOKEN_LABEL", "from-env")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.contains("listen = \"127.0.0.1:9998\""), "{text}");
    assert!(text.contains("chain_id = 11155111"), "{text}");
    assert!(text.contains("\"02ab\""), "{text}");
    assert!(text.contains("token_label = \"from-env\""), "{text}");
    // Without a file, a missing required setting is named.
    let out = Command::new(env!("CARGO_BIN_EXE_custodyd"))
        .args(["online-api", "--listen", "127.0.0.1:9997", "--print-config"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("missing field"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn online_admin_create_makes_an_admin_on_the_online_database() {
    use std::io::Write;
    let test_db = TestDb::sqlite().unwrap();
    let arg = db_arg(&test_db);
    let (online_hsm, token) = testkit::hsm::online_hsm_with_flags();
    let mut child = Command::new(env!("CARGO_BIN_EXE_custodyd"))
        .args(["online-admin", "create", "--db", &arg])
        .args(token.args("export-key"))
        .args(["--username", "root-admin", "--display-name", "Root"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    writeln!(
        child.stdin.take().unwrap(),
        "correct horse battery staple 42"
    )
    .unwrap();
    let out = child.wait_with_output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let db = online_db::Db::connect(test_db.url(), testkit::hsm::online_sealer_of(&online_hsm))
        .await
        .unwrap();
    let admin = db.user_by_username("root-admin").await.unwrap().unwrap();
    assert_eq!(admin.role, online_db::Role::Admin);
    assert!(admin.password_hash.starts_with("$argon2id$"));
    let logs = db.verify_logs().await.unwrap();
    assert!(logs.is_intact());
    assert_eq!(
        logs.operation.records, 1,
        "created as an admin, in one record"
    );
    // A second admin with the same name is refused and writes nothing.
    let mut child = Command::new(env!("CARGO_BIN_EXE_custodyd"))
        .args(["online-admin", "create", "--db", &arg])
        .args(token.args("export-key"))
        .args(["--username", "root-admin", "--display-name", "Again"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    writeln!(
        child.stdin.take().unwrap(),
        "correct horse battery staple 42"
    )
    .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("already exists"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(db.verify_logs().await.unwrap().operation.records, 1);
}

/// `custodyd coordinator` serves the SE↔HSM handshake on NATS with the offline HSM: a login
/// for a user the zone does not know, or a malformed request, is refused with the reason.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn coordinator_subcommand_answers_handshakes_on_nats() {
    use contracts::coord::{self, HandshakeReply, HandshakeRequest};
    use secrecy::ExposeSecret;

    let test_db = TestDb::sqlite().unwrap();
    Db::connect(test_db.url(), testkit::hsm::offline_sealer())
        .await
        .unwrap();
    let nats = testkit::nats::NatsServer::start().unwrap();
    let softhsm = testkit::softhsm::SoftHsm::global();
    let label = format!("coord-hsm-{}", std::process::id());
    let pin = testkit::softhsm::random_pin();
    hsm::Hsm::provision(
        &softhsm.module(),
        &label,
        &testkit::softhsm::random_pin(),
        &pin,
        "coordinator",
        1_700_000_000,
    )
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let pin_file = dir.path().join("hsm.pin");
    std::fs::write(&pin_file, pin.expose_secret()).unwrap();
    let child = Command::new(env!("CARGO_BIN_EXE_custodyd"))
        .args([
            "coordinator",
            "--db",
            &db_arg(&test_db),
            "--nats",
            &nats.url(),
            "--hsm-module",
            softhsm.module_path().to_str().unwrap(),
            "--hsm-token",
            &label,
            "--hsm-pin-file",
            pin_file.to_str().unwrap(),
        ])
        .spawn()
        .unwrap();
    let _guard = Running(child);
    let client = async_nats::connect(nats.url()).await.unwrap();
    let ask = |request: HandshakeRequest| {
        let client = client.clone();
        async move {
            let bytes = coord::encode(&request).unwrap();
            for _ in 0..100 {
                match client
                    .request(contracts::subjects::CHANNEL_HANDSHAKE, bytes.clone().into())
                    .await
                {
                    Ok(reply) => {
                        return coord::decode::<HandshakeReply>(&reply.payload, "reply").unwrap()
                    }
                    // No responder yet: the coordinator is still starting.
                    Err(_) => tokio::time::sleep(std::time::Duration::from_millis(200)).await,
                }
            }
            panic!("the coordinator never answered");
        }
    };
    let unknown = contracts::Id::new_v7(1_750_000_000);
    let reply = ask(HandshakeRequest::Hello {
        version: coord::PROTOCOL_VERSION,
        user_id: unknown,
        client_hello: vec![1, 2, 3],
    })
    .await;
    match reply {
        HandshakeReply::Refused { reason } => assert!(reason.contains("malformed"), "{reason}"),
        other => panic!("{other:?}"),
    }
    let reply = ask(HandshakeRequest::Hello {
        version: 9,
        user_id: unknown,
        client_hello: vec![],
    })
    .await;
    match reply {
        HandshakeReply::Refused { reason } => assert!(reason.contains("version 9"), "{reason}"),
        other => panic!("{other:?}"),
    }
}

/// A nats-server configured like the offline zone's, with these passwords and the callout
/// issuer of `callout_seed`.
fn nats_with_the_zone_users(
    coordinator: &str,
    client: &str,
    callout_seed: &str,
) -> testkit::nats::NatsServer {
    testkit::nats::NatsServer::start_as_the_zone(&testkit::nats::ZonePasswords {
        coordinator: coordinator.to_owned(),
        reactors: "reactors-unused-in-this-test".to_owned(),
        client: client.to_owned(),
        callout_seed: callout_seed.to_owned(),
    })
    .unwrap()
}

/// Wait up to 60 s for a process to exit; its status and stderr.
fn exit_of(mut child: std::process::Child) -> (std::process::ExitStatus, String) {
    use std::io::Read;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            let mut err = String::new();
            child
                .stderr
                .take()
                .unwrap()
                .read_to_string(&mut err)
                .unwrap();
            return (status, err);
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the process did not exit"
        );
        #[allow(clippy::disallowed_methods, reason = "polling a child process")]
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}

/// `custodyd coordinator` logs in to a nats-server that requires the zone's users: with
/// `[nats_access]` (user in the file, password file from the environment) it answers
/// handshakes asked by a client logged in as `client`; without credentials or with a wrong
/// password it stops with an error that names the refusal and never shows the password.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn coordinator_subcommand_logs_in_to_a_nats_that_requires_users() {
    use contracts::coord::{self, HandshakeReply, HandshakeRequest};
    use secrecy::ExposeSecret;

    let coordinator_password = "coord-pw-5e1b7a9d03c2";
    let client_password = "client-pw-8a2f6c4e19d7";
    // The channel-login issuer, made as operators make it.
    let dir = tempfile::tempdir().unwrap();
    let seed_file = dir.path().join("nats-callout.seed");
    let issuer = |seed_file: &std::path::Path| {
        let out = Command::new(env!("CARGO_BIN_EXE_custodyd"))
            .args(["offline-admin", "nats-issuer", "--seed-file"])
            .arg(seed_file)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let stdout = String::from_utf8(out.stdout).unwrap();
        let key = stdout
            .lines()
            .find_map(|l| l.strip_prefix("NATS_CALLOUT_ISSUER="))
            .unwrap()
            .to_owned();
        (stdout, key)
    };
    let (made, public_key) = issuer(&seed_file);
    assert!(made.contains("written to"), "{made}");
    assert!(public_key.starts_with('A'), "{public_key}");
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&seed_file).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    let seed = std::fs::read_to_string(&seed_file).unwrap();
    assert!(!made.contains(seed.trim()), "the seed is never printed");
    // Again: the file is kept, and its key printed.
    let (again, same_key) = issuer(&seed_file);
    assert!(again.contains("already holds"), "{again}");
    assert_eq!(same_key, public_key);
    assert_eq!(std::fs::read_to_string(&seed_file).unwrap(), seed);
    let nats = nats_with_the_zone_users(coordinator_password, client_password, seed.trim());
    let test_db = TestDb::sqlite().unwrap();
    Db::connect(test_db.url(), testkit::hsm::offline_sealer())
        .await
        .unwrap();
    let softhsm = testkit::softhsm::SoftHsm::global();
    let label = format!("coord-auth-hsm-{}", std::process::id());
    let pin = testkit::softhsm::random_pin();
    hsm::Hsm::provision(
        &softhsm.module(),
        &label,
        &testkit::softhsm::random_pin(),
        &pin,
        "coordinator",
        1_700_000_000,
    )
    .unwrap();
    let pin_file = dir.path().join("hsm.pin");
    std::fs::write(&pin_file, pin.expose_secret()).unwrap();
    let password_file = dir.path().join("nats-coordinator.password");
    std::fs::write(&password_file, format!("{coordinator_password}\n")).unwrap();
    let wrong_file = dir.path().join("nats-wrong.password");
    std::fs::write(&wrong_file, "wrong-pw-0b9c8d7e6f5a\n").unwrap();
    let config = dir.path().join("offline-api.toml");
    std::fs::write(
        &config,
        format!(
            "nats = {:?}\n\n[nats_access]\nuser = \"coordinator\"\n",
            nats.url()
        ),
    )
    .unwrap();
    let coordinator = |config_file: Option<&std::path::Path>| {
        let mut command = Command::new(env!("CARGO_BIN_EXE_custodyd"));
        command.arg("coordinator");
        if let Some(file) = config_file {
            command.arg("--config").arg(file);
        }
        command
            .args([
                "--db",
                &db_arg(&test_db),
                "--nats",
                &nats.url(),
                "--hsm-module",
                softhsm.module_path().to_str().unwrap(),
                "--hsm-token",
                &label,
                "--hsm-pin-file",
                pin_file.to_str().unwrap(),
                "--nats-callout-seed-file",
                seed_file.to_str().unwrap(),
            ])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped());
        command
    };

    // Without credentials the server refuses the coordinator, and it says so.
    let (status, err) = exit_of(coordinator(None).spawn().unwrap());
    assert!(!status.success());
    assert!(err.contains("refused the login"), "{err}");
    // A wrong password (the flag overrides nothing else): refused, naming the user, not the
    // password.
    let (status, err) = exit_of(
        coordinator(Some(&config))
            .arg("--nats-password-file")
            .arg(&wrong_file)
            .spawn()
            .unwrap(),
    );
    assert!(!status.success());
    assert!(
        err.contains("refused the login of user coordinator"),
        "{err}"
    );
    assert!(!err.contains("wrong-pw-0b9c8d7e6f5a"), "{err}");
    assert!(!err.contains(coordinator_password), "{err}");
    // A password file that is not there is named.
    let absent = dir.path().join("absent.password");
    let (status, err) = exit_of(
        coordinator(Some(&config))
            .arg("--nats-password-file")
            .arg(&absent)
            .spawn()
            .unwrap(),
    );
    assert!(!status.success());
    assert!(err.contains(&absent.display().to_string()), "{err}");

    // The right password, its file named by the environment overlay.
    let child = coordinator(Some(&config))
        .env(
            "CUSTODY_OFFLINE__NATS_ACCESS__PASSWORD_FILE",
            password_file.to_str().unwrap(),
        )
        .stderr(std::process::Stdio::inherit())
        .spawn()
        .unwrap();
    let _guard = Running(child);
    // The manager's side logs in as `client`, which may only ask for the handshake.
    let client = async_nats::ConnectOptions::new()
        .user_and_password("client".to_owned(), client_password.to_owned())
        .connect(nats.url())
        .await
        .unwrap();
    let request = coord::encode(&HandshakeRequest::Hello {
        version: 9,
        user_id: contracts::Id::new_v7(1_750_000_000),
        client_hello: vec![],
    })
    .unwrap();
    let mut reply = None;
    for _ in 0..150 {
        match client
            .request(
                contracts::subjects::CHANNEL_HANDSHAKE,
                request.clone().into(),
            )
            .await
        {
            Ok(answer) => {
                reply = Some(coord::decode::<HandshakeReply>(&answer.payload, "reply").unwrap());
                break;
            }
            // No responder yet: the coordinator is still starting.
            Err(_) => tokio::time::sleep(std::time::Duration::from_millis(200)).await,
        }
    }
    match reply.expect("the coordinator never answered") {
        HandshakeReply::Refused { reason } => assert!(reason.contains("version 9"), "{reason}"),
        other => panic!("{other:?}"),
    }
    // The coordinator is the server's authorization callout: a login that is no live channel's
    // token is refused by it (the server logs the callout's answer), not by a timeout.
    let forged = format!(
        "{}.{}",
        contracts::Id::new_v7(1_750_000_000),
        "cd".repeat(32)
    );
    let refused = async_nats::ConnectOptions::with_token(forged)
        .connect(nats.url())
        .await;
    assert!(refused.is_err(), "a forged channel login was admitted");
    let log = nats.log();
    assert!(log.contains("not a live channel's login"), "{log}");
}

/// `offline-admin provision-hsm` creates the offline HSM's keys on a new token and prints the
/// keys to pin; the same keys are what the token holds and what `hsm-keys` prints again; a
/// second provisioning is refused and changes nothing; a wrong PIN opens nothing.
#[test]
fn offline_admin_provisions_the_hsm_once_and_prints_its_keys() {
    use secrecy::ExposeSecret;

    let softhsm = testkit::softhsm::SoftHsm::global();
    // The token exists (initialised, empty), as after `softhsm2-util --init-token`; this
    // process's module sees only tokens that existed when it was loaded.
    let token = softhsm.new_token("prov-hsm");
    let label = token.summary.label.clone();
    let pin = token.user_pin.clone();
    let dir = tempfile::tempdir().unwrap();
    let pin_file = dir.path().join("hsm.pin");
    let so_pin_file = dir.path().join("hsm-so.pin");
    std::fs::write(&pin_file, format!("{}\n", pin.expose_secret())).unwrap();
    std::fs::write(&so_pin_file, token.so_pin.expose_secret()).unwrap();
    let module = softhsm.module_path().to_str().unwrap().to_owned();
    let run = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_custodyd"))
            .args(["offline-admin"])
            .args(args)
            .output()
            .unwrap()
    };
    let provision = [
        "provision-hsm",
        "--module",
        &module,
        "--token",
        &label,
        "--pin-file",
        pin_file.to_str().unwrap(),
        "--so-pin-file",
        so_pin_file.to_str().unwrap(),
    ];
    let out = run(&provision);
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let key_of = |text: &str, name: &str| -> String {
        text.lines()
            .find(|l| l.trim_start().starts_with(name))
            .and_then(|l| l.split_whitespace().last())
            .unwrap_or_default()
            .to_owned()
    };
    let hsm = hsm::Hsm::open(
        &softhsm.module(),
        &hsm::TokenSelector::Label(label.clone()),
        &pin,
    )
    .unwrap();
    let hex_of = |key: p256::PublicKey| hex::encode(p256::EncodedPoint::from(key).as_bytes());
    let (ca, envelope) = (
        hex_of(hsm.ca_public_key()),
        hex_of(hsm.envelope_public_key()),
    );
    drop(hsm);
    assert_eq!(key_of(&stdout, "CA key"), ca);
    assert_eq!(key_of(&stdout, "envelope key"), envelope);
    assert!(
        !stdout.contains(pin.expose_secret()),
        "no PIN in the output"
    );

    let again = run(&provision);
    assert!(!again.status.success(), "a second provisioning is refused");
    let err = String::from_utf8_lossy(&again.stderr);
    assert!(err.contains("not provisioned"), "{err}");
    let reopened = hsm::Hsm::open(
        &softhsm.module(),
        &hsm::TokenSelector::Label(label.clone()),
        &pin,
    )
    .unwrap();
    assert_eq!(hex_of(reopened.ca_public_key()), ca, "keys unchanged");
    drop(reopened);

    let keys = run(&[
        "hsm-keys",
        "--module",
        &module,
        "--token",
        &label,
        "--pin-file",
        pin_file.to_str().unwrap(),
    ]);
    assert!(keys.status.success());
    let printed = String::from_utf8_lossy(&keys.stdout);
    assert_eq!(key_of(&printed, "CA key"), ca);
    assert_eq!(key_of(&printed, "envelope key"), envelope);

    let wrong_pin = dir.path().join("wrong.pin");
    std::fs::write(&wrong_pin, "000000").unwrap();
    let refused = run(&[
        "hsm-keys",
        "--module",
        &module,
        "--token",
        &label,
        "--pin-file",
        wrong_pin.to_str().unwrap(),
    ]);
    assert!(!refused.status.success(), "a wrong PIN opens nothing");
}
