//! Logging in with [`bus::NatsAccess`] to a nats-server that requires a user and a password and
//! limits the user to its subjects (as ops/nats/nats-server.conf does).

use std::time::Duration;

use bus::{Bus, BusOptions, NatsAccess};
use futures::StreamExt;
use testkit::nats::NatsServer;

/// The password the server knows; tests look for it in every error text.
const PASSWORD: &str = "pw-7f3a91c2e5d84b60";

fn server() -> NatsServer {
    NatsServer::start_with_config(&format!(
        "authorization {{\n  users: [\n    {{\n      user: svc\n      password: \"{PASSWORD}\"\n      \
         permissions: {{\n        publish: [\"custody.allowed.>\", \"_INBOX.>\"]\n        \
         subscribe: [\"custody.allowed.>\", \"_INBOX.>\"]\n      }}\n    }}\n  ]\n}}\n"
    ))
    .unwrap()
}

fn bus_options() -> BusOptions {
    BusOptions {
        name: "bus-access-tests".to_owned(),
        connect_timeout: Duration::from_secs(3),
        ..BusOptions::default()
    }
}

fn access(user: Option<&str>, password_file: Option<std::path::PathBuf>) -> NatsAccess {
    NatsAccess {
        user: user.map(str::to_owned),
        password_file,
        ca_file: None,
    }
}

/// The right user and password file (with the trailing newline an editor leaves) log in, and
/// the user can publish and subscribe on its subjects.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_right_password_file_logs_in_and_talks_on_allowed_subjects() {
    let server = server();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("nats.password");
    std::fs::write(&file, format!("{PASSWORD}\n")).unwrap();
    let options = access(Some("svc"), Some(file))
        .apply(bus_options())
        .unwrap();
    // The options may be logged: the password is not in them.
    assert!(!format!("{options:?}").contains(PASSWORD));
    let bus = Bus::connect(&server.url(), options).await.unwrap();
    let mut sub = bus
        .client()
        .subscribe("custody.allowed.ping")
        .await
        .unwrap();
    bus.flush().await.unwrap();
    bus.client()
        .publish("custody.allowed.ping", "hello".into())
        .await
        .unwrap();
    bus.flush().await.unwrap();
    let msg = tokio::time::timeout(Duration::from_secs(5), sub.next())
        .await
        .expect("no message on the allowed subject")
        .unwrap();
    assert_eq!(&msg.payload[..], b"hello");
}

/// A wrong password is refused with an error that names the user and the server, never the
/// password (neither the wrong one nor the right one).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_password_is_refused_clearly_without_showing_it() {
    let server = server();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("nats.password");
    let wrong = "wrong-9c1d2e3f4a5b";
    std::fs::write(&file, format!("{wrong}\n")).unwrap();
    let options = access(Some("svc"), Some(file))
        .apply(bus_options())
        .unwrap();
    let error = Bus::connect(&server.url(), options).await.unwrap_err();
    let text = error.to_string();
    assert!(
        matches!(error, bus::Error::Unauthorized { ref user, .. } if user.as_deref() == Some("svc")),
        "{error:?}"
    );
    assert!(text.contains("refused the login of user svc"), "{text}");
    assert!(text.contains(&server.url()), "{text}");
    assert!(text.contains("authorization violation"), "{text}");
    for secret in [wrong, PASSWORD] {
        assert!(!text.contains(secret), "{text}");
        assert!(!format!("{error:?}").contains(secret), "{error:?}");
    }
    // Without any credentials the server refuses too, and says so.
    let error = Bus::connect(&server.url(), bus_options())
        .await
        .unwrap_err();
    assert!(
        matches!(error, bus::Error::Unauthorized { user: None, .. }),
        "{error:?}"
    );
}

/// A user without a password file, a password file without a user, and a password file that
/// is missing or empty are refused before connecting, naming what to fix.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_or_unreadable_password_file_is_named() {
    let dir = tempfile::tempdir().unwrap();

    let error = access(Some("svc"), None).apply(bus_options()).unwrap_err();
    assert!(
        matches!(error, bus::Error::NatsPasswordFileMissing { ref user } if user == "svc"),
        "{error:?}"
    );
    assert!(error.to_string().contains("password_file"), "{error}");

    let missing = dir.path().join("absent.password");
    let error = access(Some("svc"), Some(missing.clone()))
        .apply(bus_options())
        .unwrap_err();
    assert!(
        matches!(error, bus::Error::NatsPasswordFile { ref path, .. } if path == &missing),
        "{error:?}"
    );
    assert!(
        error.to_string().contains(&missing.display().to_string()),
        "{error}"
    );

    let empty = dir.path().join("empty.password");
    std::fs::write(&empty, "\n").unwrap();
    let error = access(Some("svc"), Some(empty.clone()))
        .apply(bus_options())
        .unwrap_err();
    assert!(error.to_string().contains("empty"), "{error}");
    assert!(
        error.to_string().contains(&empty.display().to_string()),
        "{error}"
    );

    let file = dir.path().join("nats.password");
    std::fs::write(&file, PASSWORD).unwrap();
    let error = access(None, Some(file.clone()))
        .apply(bus_options())
        .unwrap_err();
    assert!(
        matches!(error, bus::Error::NatsUserMissing { ref path } if path == &file),
        "{error:?}"
    );
    assert!(!error.to_string().contains(PASSWORD), "{error}");

    // A CA file that is not there is named too.
    let ca = dir.path().join("absent-ca.pem");
    let error = NatsAccess {
        ca_file: Some(ca.clone()),
        ..NatsAccess::default()
    }
    .apply(bus_options())
    .unwrap_err();
    assert!(
        error.to_string().contains(&ca.display().to_string()),
        "{error}"
    );
}

/// The configuration form: TOML keys, unknown keys refused, a CA file makes TLS required.
#[test]
fn the_toml_section_reads_and_a_ca_requires_tls() {
    let dir = tempfile::tempdir().unwrap();
    let ca = dir.path().join("ca.pem");
    std::fs::write(&ca, "not checked here").unwrap();
    let parsed: NatsAccess = toml::from_str(&format!(
        "user = \"reactors\"\nca_file = {:?}\n",
        ca.display().to_string()
    ))
    .unwrap();
    assert_eq!(parsed.user.as_deref(), Some("reactors"));
    let options = NatsAccess {
        user: None,
        ..parsed
    }
    .apply(bus_options())
    .unwrap();
    let tls = options.tls.expect("TLS required with a CA file");
    assert_eq!(tls.ca_file.as_deref(), Some(ca.as_path()));
    assert!(toml::from_str::<NatsAccess>("password = \"inline\"\n").is_err());
}
