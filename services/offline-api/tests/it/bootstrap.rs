//! The first-administrator bootstrap and the configuration loader.

use offline_api::{create_admin, Config};
use poem::http::StatusCode;
use secrecy::SecretString;

use crate::common::{on_both, TestApp};

#[tokio::test]
async fn create_admin_bootstraps_a_working_administrator() {
    on_both(|app: TestApp| async move {
        // The same database the app uses.
        let db_url = app.db_url.clone();
        let admin = create_admin(
            &db_url,
            app.db.sealer().clone(),
            "Root.Admin",
            "Root",
            Some("+86 10 1234"),
            SecretString::from("correct mule battery"),
        )
        .await
        .unwrap();
        assert_eq!(admin.username, "root.admin");
        let r = app.login("root.admin", "correct mule battery", true).await;
        assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
        assert_eq!(r.body["user"]["role"], "admin");
        let rec = audit::query(
            app.db.conn(),
            audit::Filter {
                action: Some("user.created".into()),
                object: Some(admin.id.clone()),
                ..Default::default()
            },
        )
        .await
        .unwrap();
        assert_eq!(rec[0].actor, "cli:offline-admin");
        // The password policy applies.
        let weak = create_admin(
            &db_url,
            app.db.sealer().clone(),
            "second",
            "S",
            None,
            SecretString::from("password"),
        )
        .await;
        assert!(
            matches!(
                weak,
                Err(offline_api::Error::Auth(auth::Error::PasswordTooCommon))
            ),
            "{weak:?}"
        );
        let dup = create_admin(
            &db_url,
            app.db.sealer().clone(),
            "root.admin",
            "R",
            None,
            SecretString::from("another fine phrase"),
        )
        .await;
        assert!(dup.is_err());
        // The ceremony creates two administrators; the command line refuses a third (it would
        // let whoever holds the host make admins without a second person).
        create_admin(
            &db_url,
            app.db.sealer().clone(),
            "second.admin",
            "Second",
            None,
            SecretString::from("another fine phrase"),
        )
        .await
        .unwrap();
        let before = app.snapshot().await;
        let third = create_admin(
            &db_url,
            app.db.sealer().clone(),
            "third.admin",
            "Third",
            None,
            SecretString::from("yet another fine phrase"),
        )
        .await;
        assert!(
            matches!(third, Err(offline_api::Error::BootstrapOver(2))),
            "{third:?}"
        );
        assert_eq!(app.snapshot().await, before, "the refusal wrote nothing");
    })
    .await;
}

#[test]
fn config_from_toml_and_environment() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("offline.toml");
    std::fs::write(
        &path,
        r#"
listen = "127.0.0.1:8080"
db = "/var/lib/custody/offline.db"
online_export_keys = ["02aa"]
[hsm]
module = "/usr/lib/softhsm/libsofthsm2.so"
token_label = "offline-hsm"
pin_file = "/run/secrets/hsm-pin"
"#,
    )
    .unwrap();
    let env = vec![
        (
            "CUSTODY_OFFLINE__LISTEN".to_owned(),
            "0.0.0.0:9000".to_owned(),
        ),
        (
            "CUSTODY_OFFLINE__HSM__TOKEN_LABEL".to_owned(),
            "other-hsm".to_owned(),
        ),
        (
            "CUSTODY_OFFLINE__SESSION__IDLE_TIMEOUT_SECS".to_owned(),
            "300".to_owned(),
        ),
        (
            "CUSTODY_OFFLINE__SESSION__ABSOLUTE_TIMEOUT_SECS".to_owned(),
            "3600".to_owned(),
        ),
        ("UNRELATED".to_owned(), "x".to_owned()),
    ];
    let c = Config::load_with_env(Some(&path), env).unwrap();
    assert_eq!(c.listen, "0.0.0.0:9000");
    assert_eq!(c.hsm.token_label, "other-hsm");
    assert_eq!(c.session.idle_timeout_secs, 300);
    assert_eq!(c.db_url(), "sqlite:///var/lib/custody/offline.db?mode=rwc");
    assert!(c.session.policy().is_ok());
    assert!(c.nats.is_none());

    let unknown = Config::load_with_env(
        Some(&path),
        vec![("CUSTODY_OFFLINE__HSM__PIN".to_owned(), "1234".to_owned())],
    );
    assert!(
        unknown.is_err(),
        "inline secrets and unknown keys are refused"
    );

    let pin_file = dir.path().join("pin");
    std::fs::write(&pin_file, "123456\n").unwrap();
    let c = Config::load_with_env(
        Some(&path),
        vec![(
            "CUSTODY_OFFLINE__HSM__PIN_FILE".to_owned(),
            pin_file.display().to_string(),
        )],
    )
    .unwrap();
    use secrecy::ExposeSecret;
    assert_eq!(c.hsm_pin().unwrap().expose_secret(), "123456");
    assert!(!format!("{c:?}").contains("123456"));
}
