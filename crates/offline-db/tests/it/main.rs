//! Integration tests of the offline repository; every test body runs on SQLite and PostgreSQL.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    reason = "tests fail loudly on purpose"
)]

mod batch;
mod cases;
mod coordination;
mod signing;

use chrono::{DateTime, Duration, Utc};
use offline_db::entity::{cases as case_t, key_shares, outbox, secure_elements, users};
use offline_db::{Db, ManagerSlot, NewSecureElement, NewUser, Role, SeStatus, UserStatus};
use sea_orm::{EntityTrait, PaginatorTrait};
use testkit::db::TestDb;

/// A database with an admin, a security officer, five case managers, an operator, a disabled
/// case manager and five active SEs.
pub struct World {
    pub db: Db,
    pub admin: users::Model,
    pub officer: users::Model,
    pub managers: Vec<users::Model>,
    pub operator: users::Model,
    pub disabled: users::Model,
    pub ses: Vec<secure_elements::Model>,
    now: std::cell::Cell<DateTime<Utc>>,
}

impl World {
    pub async fn new(tdb: &TestDb) -> World {
        let db = Db::connect(tdb.url(), testkit::hsm::offline_sealer())
            .await
            .unwrap();
        let start = DateTime::from_timestamp(1_780_000_000, 0).unwrap();
        let user = |name: &str, role| NewUser {
            username: name.to_owned(),
            display_name: format!("{name} (display)"),
            phone: Some("+86 10 0000 0000".into()),
            password_hash: "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA".into(),
            role,
        };
        let admin = db
            .create_user(user("admin", Role::Admin), "bootstrap", start)
            .await
            .unwrap();
        let officer = db
            .create_user(user("officer", Role::Admin), &admin.id, start)
            .await
            .unwrap();
        let mut managers = Vec::new();
        for i in 0..5 {
            managers.push(
                db.create_user(
                    user(&format!("manager{i}"), Role::CaseManager),
                    &admin.id,
                    start,
                )
                .await
                .unwrap(),
            );
        }
        let operator = db
            .create_user(user("operator", Role::Operator), &admin.id, start)
            .await
            .unwrap();
        let disabled = db
            .create_user(user("gone", Role::CaseManager), &admin.id, start)
            .await
            .unwrap();
        let disabled = db
            .set_user_status(&disabled.id, UserStatus::Disabled, &admin.id, start)
            .await
            .unwrap();
        let mut ses = Vec::new();
        for i in 0..5 {
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
                    start,
                )
                .await
                .unwrap(),
            );
        }
        World {
            db,
            admin,
            officer,
            managers,
            operator,
            disabled,
            ses,
            now: std::cell::Cell::new(start),
        }
    }

    /// A later instant each call, so records sort by time.
    pub fn now(&self) -> DateTime<Utc> {
        let t = self.now.get() + Duration::seconds(1);
        self.now.set(t);
        t
    }

    /// Managers i, j, k with SEs i, j, k.
    pub fn slots(&self, m: [usize; 3], s: [usize; 3]) -> [ManagerSlot; 3] {
        [0, 1, 2].map(|n| ManagerSlot {
            user_id: self.managers[m[n]].id.clone(),
            se_id: self.ses[s[n]].id.clone(),
        })
    }

    /// A verified attestation as the API would store it, issued now.
    pub fn attestation(
        &self,
        id: &str,
        address: &str,
        block: u64,
        empty: bool,
    ) -> offline_db::NewBalanceAttestation {
        offline_db::NewBalanceAttestation {
            envelope_id: id.to_owned(),
            address: address.to_owned(),
            chain_id: 1,
            block_number: block,
            block_hash: format!("{block:064x}"),
            empty,
            balances: serde_json::json!([{"asset": "ETH", "amount": if empty { "0" } else { "5" }}]),
            issued_at: self.now(),
        }
    }

    pub async fn mark_se(&self, i: usize, status: SeStatus) {
        self.db
            .set_se_status(&self.ses[i].id, status, &self.admin.id, self.now())
            .await
            .unwrap();
    }

    /// Rows in the tables a case operation writes, and the audit chain length.
    pub async fn counts(&self) -> Counts {
        let c = self.db.conn();
        Counts {
            cases: case_t::Entity::find().count(c).await.unwrap(),
            key_shares: key_shares::Entity::find().count(c).await.unwrap(),
            outbox: outbox::Entity::find().count(c).await.unwrap(),
            audit: audit::verify(c).await.unwrap().records,
        }
    }

    pub async fn last_audit(&self) -> audit::Record {
        audit::query(self.db.conn(), audit::Filter::default())
            .await
            .unwrap()
            .pop()
            .unwrap()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Counts {
    pub cases: u64,
    pub key_shares: u64,
    pub outbox: u64,
    pub audit: u64,
}

/// Run `body` on a fresh SQLite world and a fresh PostgreSQL world.
#[macro_export]
macro_rules! on_both {
    (|$w:ident| $body:block) => {
        for tdb in testkit::db::TestDb::both().await.unwrap() {
            let $w = $crate::World::new(&tdb).await;
            let _kind = tdb.kind();
            $body
            let report = $w.db.verify_audit().await.unwrap();
            assert!(report.is_intact(), "{}: audit chain broken: {:?}", tdb.kind(), report);
        }
    };
}

#[tokio::test]
async fn connect_is_idempotent_and_sets_up_sqlite_pragmas() {
    let tdb = TestDb::sqlite().unwrap();
    let db = Db::connect(tdb.url(), testkit::hsm::offline_sealer())
        .await
        .unwrap();
    drop(db);
    let db = Db::connect(tdb.url(), testkit::hsm::offline_sealer())
        .await
        .unwrap();
    use sea_orm::ConnectionTrait;
    let row = db
        .conn()
        .query_one_raw(sea_orm::Statement::from_string(
            sea_orm::DbBackend::Sqlite,
            "PRAGMA journal_mode",
        ))
        .await
        .unwrap()
        .unwrap();
    let mode: String = row.try_get_by_index(0).unwrap();
    assert_eq!(mode, "wal");
    let row = db
        .conn()
        .query_one_raw(sea_orm::Statement::from_string(
            sea_orm::DbBackend::Sqlite,
            "PRAGMA foreign_keys",
        ))
        .await
        .unwrap()
        .unwrap();
    let on: i64 = row.try_get_by_index(0).unwrap();
    assert_eq!(on, 1);
}

#[tokio::test]
async fn user_debug_hides_the_password_hash() {
    on_both!(|w| {
        let shown = format!("{:?}", w.admin);
        assert!(!shown.contains("argon2"), "{shown}");
        assert!(w.db.user(&w.admin.id).await.unwrap().is_some());
        let dup =
            w.db.create_user(
                NewUser {
                    username: "admin".into(),
                    display_name: "again".into(),
                    phone: None,
                    password_hash: "x".into(),
                    role: Role::Admin,
                },
                &w.admin.id,
                w.now(),
            )
            .await
            .unwrap_err();
        assert!(
            matches!(dup, offline_db::Error::Validation { ref field, .. } if field == "username")
        );
        // No audit record mentions a password hash.
        let all = audit::query(
            w.db.conn(),
            audit::Filter {
                limit: Some(1000),
                ..Default::default()
            },
        )
        .await
        .unwrap();
        assert!(all
            .iter()
            .all(|r| !r.details.to_string().contains("argon2")));
    });
}

/// Audit fails closed: when the audit record cannot be written, the change is not made.
#[tokio::test]
async fn a_failing_audit_append_rolls_the_change_back() {
    for tdb in TestDb::both().await.unwrap() {
        let w = World::new(&tdb).await;
        use sea_orm::ConnectionTrait;
        w.db.conn()
            .execute_unprepared("DELETE FROM audit_head")
            .await
            .unwrap();
        let before = w.counts_without_verify().await;
        let err =
            w.db.create_case(
                "c",
                w.slots([0, 1, 2], [0, 1, 2]),
                &[1],
                &w.admin.id,
                w.now(),
            )
            .await
            .unwrap_err();
        assert!(
            matches!(err, offline_db::Error::Audit(_)),
            "{}: {err}",
            tdb.kind()
        );
        assert!(err.to_string().contains("migrations"), "{err}");
        assert_eq!(w.counts_without_verify().await, before, "{}", tdb.kind());
    }
}

impl World {
    async fn counts_without_verify(&self) -> (u64, u64, u64) {
        let c = self.db.conn();
        (
            case_t::Entity::find().count(c).await.unwrap(),
            key_shares::Entity::find().count(c).await.unwrap(),
            outbox::Entity::find().count(c).await.unwrap(),
        )
    }
}

/// An insider admin cannot certify a second "secure element" with a key already registered
/// (under another serial), nor bring a revoked SE back; each refusal changes nothing.
#[tokio::test]
async fn an_se_key_is_registered_once_and_a_revocation_is_final() {
    on_both!(|w| {
        let before = (
            w.counts().await,
            secure_elements::Entity::find()
                .count(w.db.conn())
                .await
                .unwrap(),
        );
        let copy =
            w.db.create_secure_element(
                NewSecureElement {
                    serial: "SE-COPY".into(),
                    label: "a second serial for SE0's key".into(),
                    identity_public_key: w.ses[0].identity_public_key.clone(),
                    certificate: None,
                    enrolled_by: None,
                },
                &w.admin.id,
                w.now(),
            )
            .await
            .unwrap_err();
        assert!(
            matches!(copy, offline_db::Error::Validation { ref field, .. } if field == "identity_public_key"),
            "{copy}"
        );
        let after = (
            w.counts().await,
            secure_elements::Entity::find()
                .count(w.db.conn())
                .await
                .unwrap(),
        );
        assert_eq!(after, before);

        w.mark_se(4, SeStatus::Revoked).await;
        let before = w.counts().await;
        for back in [SeStatus::Active, SeStatus::Inactive, SeStatus::Lost] {
            let err =
                w.db.set_se_status(&w.ses[4].id, back, &w.admin.id, w.now())
                    .await
                    .unwrap_err();
            assert!(matches!(err, offline_db::Error::Conflict(_)), "{err}");
        }
        assert_eq!(w.counts().await, before);
        let se = w.db.secure_element(&w.ses[4].id).await.unwrap().unwrap();
        assert_eq!(se.status, SeStatus::Revoked);
        // Lost is not final: a found SE comes back.
        w.mark_se(3, SeStatus::Lost).await;
        w.mark_se(3, SeStatus::Active).await;
    });
}
