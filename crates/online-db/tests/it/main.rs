//! Integration tests of the online repository; every test body runs on SQLite and PostgreSQL.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    reason = "tests fail loudly on purpose"
)]

mod accounts;
mod logs;
mod policy;
mod transfers;
mod users;

use alloy_primitives::Signature;
use chrono::{DateTime, Duration, Utc};
use contracts::eth;
use k256::ecdsa::SigningKey;
use online_db::entity::{
    account_permissions, accounts as account_t, imported_responses, outbox, policies,
    transfers as transfer_t, users as user_t,
};
use online_db::{
    Amount, Asset, Db, EthAddress, NewAccount, NewToken, NewTransfer, NewUser, PolicyInput, Role,
};
use sea_orm::{EntityTrait, PaginatorTrait};
use testkit::db::TestDb;

/// A database with an admin, two traders granted on one account (whose key is a test key
/// standing in for the offline zone), a third trader without the grant, an auditor, a token,
/// and limits for ETH and the token.
pub struct World {
    pub db: Db,
    pub admin: user_t::Model,
    pub traders: Vec<user_t::Model>,
    pub outsider: user_t::Model,
    pub auditor: user_t::Model,
    pub account: account_t::Model,
    pub key: SigningKey,
    pub token: EthAddress,
    now: std::cell::Cell<DateTime<Utc>>,
}

pub const CHAIN: u64 = 31337;

pub fn key(seed: u8) -> SigningKey {
    SigningKey::from_bytes(&[seed; 32].into()).unwrap()
}

pub fn public_key(key: &SigningKey) -> Vec<u8> {
    key.verifying_key()
        .to_encoded_point(true)
        .as_bytes()
        .to_vec()
}

pub fn address_of(key: &SigningKey) -> EthAddress {
    eth::address_of_secp256k1(&public_key(key)).unwrap()
}

/// Balances that cover every transfer of these tests, so a test fails on the rule it is about.
pub fn plenty() -> online_db::Funds {
    online_db::Funds {
        eth: Amount::from(u128::MAX),
        tokens: vec![(addr(0x70), Amount::from(u128::MAX))],
    }
}

pub fn addr(byte: u8) -> EthAddress {
    EthAddress([byte; 20])
}

pub fn eth(n: u128) -> Amount {
    Amount::from(n)
}

pub fn new_account(key: &SigningKey, label: &str) -> NewAccount {
    NewAccount {
        address: address_of(key),
        public_key: public_key(key),
        case_ref: "0190d9e4-8f2a-7c3b-9d1e-2f3a4b5c6d7e".into(),
        manifest_chain_ids: vec![1, CHAIN],
        chain_id: CHAIN,
        label: label.into(),
        manifest_id: format!("manifest-{label}"),
        manifest_hash: "ab".repeat(32),
    }
}

/// Sign a stored unsigned transaction with `key`, as the offline zone would.
pub fn sign(key: &SigningKey, unsigned_tx: &[u8]) -> Vec<u8> {
    let hash = eth::signing_hash(unsigned_tx);
    let (sig, recid) = key.sign_prehash_recoverable(&hash).unwrap();
    let sig = Signature::from_signature_and_parity(sig, recid.is_y_odd());
    eth::encode_signed(&eth::decode_unsigned(unsigned_tx).unwrap(), &sig)
}

impl World {
    pub async fn new(tdb: &TestDb) -> World {
        let db = Db::connect(tdb.url(), testkit::hsm::online_sealer())
            .await
            .unwrap();
        let start = DateTime::from_timestamp(1_780_000_000, 0).unwrap();
        let user = |name: &str| NewUser {
            username: name.to_owned(),
            display_name: format!("{name} (display)"),
            password_hash: "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA".into(),
        };
        let admin = db
            .create_user(user("admin"), "bootstrap", start)
            .await
            .unwrap();
        let admin = db
            .set_role(&admin.id, Role::Admin, "bootstrap", start)
            .await
            .unwrap();
        let mut people = Vec::new();
        for (name, role) in [
            ("trader0", Role::Trader),
            ("trader1", Role::Trader),
            ("outsider", Role::Trader),
            ("auditor", Role::Auditor),
        ] {
            let u = db.create_user(user(name), &admin.id, start).await.unwrap();
            people.push(db.set_role(&u.id, role, &admin.id, start).await.unwrap());
        }
        let auditor = people.pop().unwrap();
        let outsider = people.pop().unwrap();
        let traders = people;
        let key = key(7);
        let account = db
            .import_account(new_account(&key, "treasury"), &admin.id, start)
            .await
            .unwrap();
        for t in &traders {
            db.grant_account(&account.id, &t.id, &admin.id, start)
                .await
                .unwrap();
        }
        let token = addr(0x70);
        db.add_token(
            NewToken {
                chain_id: CHAIN,
                address: token,
                symbol: "TST".into(),
                decimals: 6,
            },
            &admin.id,
            start,
        )
        .await
        .unwrap();
        for asset in [Asset::Eth, Asset::Token(token)] {
            db.set_policy(
                &account.id,
                PolicyInput {
                    asset,
                    single_limit: eth(1_000),
                    daily_limit: eth(2_500),
                    require_approval: false,
                },
                &admin.id,
                start,
            )
            .await
            .unwrap();
        }
        World {
            db,
            admin,
            traders,
            outsider,
            auditor,
            account,
            key,
            token,
            now: std::cell::Cell::new(start),
        }
    }

    /// A later instant each call, so records sort by time.
    pub fn now(&self) -> DateTime<Utc> {
        let t = self.now.get() + Duration::seconds(1);
        self.now.set(t);
        t
    }

    /// Move the clock forward.
    pub fn advance(&self, by: Duration) {
        self.now.set(self.now.get() + by);
    }

    /// An ETH transfer of `amount` from the world's account.
    pub fn transfer(&self, amount: u128, nonce: u64) -> NewTransfer {
        NewTransfer {
            account_id: self.account.id.clone(),
            asset: Asset::Eth,
            to: addr(0x22),
            amount: eth(amount),
            nonce,
            gas_limit: 21_000,
            max_fee_per_gas: eth(30_000_000_000),
            max_priority_fee_per_gas: eth(1_000_000_000),
        }
    }

    /// Rows in every table an operation writes, and both chains' lengths (verified).
    pub async fn counts(&self) -> Counts {
        let c = self.db.conn();
        let report = self.db.verify_logs().await.unwrap();
        assert!(report.is_intact(), "{report:?}");
        Counts {
            operation_log: report.operation.records,
            transaction_log: report.transaction.records,
            users: user_t::Entity::find().count(c).await.unwrap(),
            accounts: account_t::Entity::find().count(c).await.unwrap(),
            permissions: account_permissions::Entity::find().count(c).await.unwrap(),
            policies: policies::Entity::find().count(c).await.unwrap(),
            transfers: transfer_t::Entity::find().count(c).await.unwrap(),
            responses: imported_responses::Entity::find().count(c).await.unwrap(),
            outbox: outbox::Entity::find().count(c).await.unwrap(),
        }
    }

    pub async fn last_operation(&self) -> audit::Record {
        last(&self.db, audit::Chain::OPERATION).await
    }

    pub async fn last_transaction(&self) -> audit::Record {
        last(&self.db, audit::Chain::TRANSACTION).await
    }
}

async fn last(db: &Db, chain: audit::Chain) -> audit::Record {
    let n = audit::verify_chain(db.conn(), chain).await.unwrap().records;
    audit::query_in(
        db.conn(),
        chain,
        audit::Filter {
            after_seq: Some(i64::try_from(n).unwrap() - 1),
            ..Default::default()
        },
    )
    .await
    .unwrap()
    .pop()
    .unwrap()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Counts {
    pub operation_log: u64,
    pub transaction_log: u64,
    pub users: u64,
    pub accounts: u64,
    pub permissions: u64,
    pub policies: u64,
    pub transfers: u64,
    pub responses: u64,
    pub outbox: u64,
}

impl Counts {
    /// These counts with the two logs moved on by `op` and `tx` records.
    pub fn logs(self, op: u64, tx: u64) -> Counts {
        Counts {
            operation_log: self.operation_log + op,
            transaction_log: self.transaction_log + tx,
            ..self
        }
    }
}

/// Run `body` on a fresh SQLite world and a fresh PostgreSQL world; both chains must verify
/// at the end.
#[macro_export]
macro_rules! on_both {
    (|$w:ident| $body:block) => {
        for tdb in testkit::db::TestDb::both().await.unwrap() {
            let $w = $crate::World::new(&tdb).await;
            let _kind = tdb.kind();
            $body
            let report = $w.db.verify_logs().await.unwrap();
            assert!(report.is_intact(), "{}: a log chain is broken: {:?}", tdb.kind(), report);
        }
    };
}

#[tokio::test]
async fn connect_is_idempotent_and_turns_on_foreign_keys() {
    let tdb = TestDb::sqlite().unwrap();
    drop(
        Db::connect(tdb.url(), testkit::hsm::online_sealer())
            .await
            .unwrap(),
    );
    let db = Db::connect(tdb.url(), testkit::hsm::online_sealer())
        .await
        .unwrap();
    use sea_orm::ConnectionTrait;
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
