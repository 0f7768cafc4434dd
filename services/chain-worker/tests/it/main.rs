//! Integration tests of the chain worker against a real anvil, a private RabbitMQ and the online
//! database (SQLite and PostgreSQL): transfers are created, exported and signed through
//! `online_db` with an anvil dev key standing in for the offline zone, and the worker puts
//! them on chain.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "tests"
)]

mod broadcast;
mod faults;

use std::time::Duration;

use alloy_signer::SignerSync;
use alloy_signer_local::PrivateKeySigner;
use chain::{Chain, TxHash};
use chain_worker::Config;
use chrono::{DateTime, Utc};
use contracts::{Amount, EthAddress};
use mq::Clock;
use online_db::entity::{accounts, outbox, transfers};
use online_db::{
    Asset, Db, NewAccount, NewTransfer, NewUser, PolicyInput, Role, SignatureImport, TransferStatus,
};
use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter};
use testkit::anvil::{Anvil, AnvilOptions};
use testkit::db::TestDb;
use testkit::rabbitmq::RabbitMq;

/// The anvil dev account that stands in for a custody account (its key for the offline zone).
pub const DEV: usize = 1;

/// The wall clock, read the way library code must (through a `Clock`).
pub fn now() -> DateTime<Utc> {
    DateTime::<Utc>::from(mq::SystemClock.now())
}

/// A database with an admin, a trader granted on one account whose address is anvil dev
/// account [`DEV`], ETH limits on it; an anvil; a private broker.
pub struct World {
    pub anvil: Anvil,
    pub broker: RabbitMq,
    pub tdb: TestDb,
    pub db: Db,
    pub chain: Chain,
    pub trader: String,
    pub account: accounts::Model,
    pub signer: PrivateKeySigner,
}

/// A SIGNED-to-be transfer: exported, with the offline zone's signature ready to attach.
pub struct Prepared {
    pub transfer: transfers::Model,
    pub request_id: String,
    pub signed_tx: Vec<u8>,
    pub tx_hash: TxHash,
}

impl World {
    pub async fn new(tdb: TestDb, anvil: AnvilOptions) -> World {
        let anvil = Anvil::start_with(&anvil).unwrap();
        let broker = RabbitMq::start().unwrap();
        let db = Db::connect(tdb.url(), testkit::hsm::online_sealer())
            .await
            .unwrap();
        let chain = Chain::connect(&anvil.url(), anvil.chain_id())
            .await
            .unwrap();
        let user = |name: &str| NewUser {
            username: name.to_owned(),
            display_name: name.to_owned(),
            password_hash: "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA".into(),
        };
        let admin = db
            .create_user(user("admin"), "bootstrap", now())
            .await
            .unwrap();
        let admin = db
            .set_role(&admin.id, Role::Admin, "bootstrap", now())
            .await
            .unwrap();
        let trader = db
            .create_user(user("trader"), &admin.id, now())
            .await
            .unwrap();
        let trader = db
            .set_role(&trader.id, Role::Trader, &admin.id, now())
            .await
            .unwrap();
        let signer: PrivateKeySigner = testkit::anvil::TEST_ONLY_DEV_KEYS[DEV].parse().unwrap();
        let public_key = signer
            .credential()
            .verifying_key()
            .to_encoded_point(true)
            .as_bytes()
            .to_vec();
        let address = EthAddress::from(signer.address());
        assert_eq!(
            address,
            EthAddress::parse(testkit::anvil::TEST_ONLY_DEV_ADDRESSES[DEV]).unwrap()
        );
        let account = db
            .import_account(
                NewAccount {
                    address,
                    public_key,
                    case_ref: "0190d9e4-8f2a-7c3b-9d1e-2f3a4b5c6d7e".into(),
                    manifest_chain_ids: vec![anvil.chain_id()],
                    chain_id: anvil.chain_id(),
                    label: "treasury".into(),
                    manifest_id: "manifest-treasury".into(),
                    manifest_hash: "ab".repeat(32),
                },
                &admin.id,
                now(),
            )
            .await
            .unwrap();
        db.grant_account(&account.id, &trader.id, &admin.id, now())
            .await
            .unwrap();
        db.set_policy(
            &account.id,
            PolicyInput {
                asset: Asset::Eth,
                single_limit: Amount::from(10u128.pow(20)),
                daily_limit: Amount::from(10u128.pow(21)),
                require_approval: false,
            },
            &admin.id,
            now(),
        )
        .await
        .unwrap();
        World {
            anvil,
            broker,
            tdb,
            db,
            chain,
            trader: trader.id,
            account,
            signer,
        }
    }

    /// The account's address.
    pub fn address(&self) -> EthAddress {
        EthAddress::from(self.signer.address())
    }

    /// The worker's configuration: 3 confirmations, a quick poll.
    pub fn config(&self) -> Config {
        Config {
            confirmations: 3,
            poll_interval: Duration::from_millis(100),
            trackers: 2,
            redeclare_interval: Duration::from_secs(1),
            ..Config::new(
                self.tdb.url(),
                self.db.sealer().clone(),
                self.broker.url(),
                self.anvil.url(),
                self.anvil.chain_id(),
            )
        }
    }

    /// Build, export and sign (as the offline zone would) an ETH transfer of `wei` to `to`.
    pub async fn prepare(&self, to: EthAddress, wei: u128) -> Prepared {
        let fees = self.chain.fees().await.unwrap();
        let chain_nonce = self.chain.next_nonce(self.address()).await.unwrap();
        let nonce = match self.db.pending_nonce(&self.account.id).await.unwrap() {
            Some(n) => chain_nonce.max(n + 1),
            None => chain_nonce,
        };
        let t = self
            .db
            .create_transfer(
                NewTransfer {
                    account_id: self.account.id.clone(),
                    asset: Asset::Eth,
                    to,
                    amount: Amount::from(wei),
                    nonce,
                    gas_limit: 21_000,
                    max_fee_per_gas: Amount::from(fees.max_fee_per_gas),
                    max_priority_fee_per_gas: Amount::from(fees.max_priority_fee_per_gas),
                },
                &plenty(),
                &self.trader,
                now(),
            )
            .await
            .unwrap();
        let request_id = format!("req-{}", t.id);
        let transfer = self
            .db
            .mark_exported(&t.id, &request_id, &plenty(), &self.trader, now())
            .await
            .unwrap();
        let unsigned = contracts::eth::decode_unsigned(&transfer.unsigned_tx).unwrap();
        let hash = contracts::eth::signing_hash(&transfer.unsigned_tx);
        let signature = self.signer.sign_hash_sync(&hash.into()).unwrap();
        let signed_tx = contracts::eth::encode_signed(&unsigned, &signature);
        let tx_hash = TxHash::from(contracts::eth::decode_signed(&signed_tx).unwrap().tx_hash);
        Prepared {
            transfer,
            request_id,
            signed_tx,
            tx_hash,
        }
    }

    /// Import the signature: SIGNED, with a `broadcast` event in the outbox.
    pub async fn attach(&self, p: &Prepared) -> transfers::Model {
        let t = self
            .db
            .attach_signature(
                SignatureImport {
                    response_id: format!("resp-{}", p.transfer.id),
                    request_id: p.request_id.clone(),
                    signed_tx: p.signed_tx.clone(),
                },
                &plenty(),
                &self.trader,
                now(),
            )
            .await
            .unwrap();
        assert_eq!(t.status, TransferStatus::Signed);
        assert_eq!(
            t.tx_hash.as_deref(),
            Some(format!("{:#x}", p.tx_hash).as_str())
        );
        t
    }

    /// The transfer as stored now.
    pub async fn transfer(&self, id: &str) -> transfers::Model {
        self.db.transfer(id).await.unwrap().unwrap()
    }

    /// Wait until the transfer is `status` (at most `secs` seconds).
    pub async fn until_status(
        &self,
        id: &str,
        status: TransferStatus,
        secs: u64,
    ) -> transfers::Model {
        self.until(id, secs, |t| t.status == status).await
    }

    /// Wait until `ready` holds for the stored transfer (at most `secs` seconds).
    pub async fn until(
        &self,
        id: &str,
        secs: u64,
        ready: impl Fn(&transfers::Model) -> bool,
    ) -> transfers::Model {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
        loop {
            let t = self.transfer(id).await;
            if ready(&t) {
                return t;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "transfer {id} did not get there in {secs} s; it is {} ({:?}, block {:?})",
                t.status,
                t.error,
                t.block_hash
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Ether balance of `address`, wei.
    pub async fn balance(&self, address: EthAddress) -> Amount {
        self.chain.balances(address, &[]).await.unwrap().eth
    }

    /// Transaction-log records of `action` about transfer `id`.
    pub async fn records(&self, id: &str, action: &str) -> Vec<audit::Record> {
        audit::query_in(
            self.db.conn(),
            audit::Chain::TRANSACTION,
            audit::Filter {
                action: Some(action.to_owned()),
                object: Some(id.to_owned()),
                limit: Some(1000),
                ..Default::default()
            },
        )
        .await
        .unwrap()
    }

    /// Outbox rows not yet published.
    pub async fn unpublished(&self) -> u64 {
        outbox::Entity::find()
            .filter(outbox::Column::PublishedAt.is_null())
            .count(self.db.conn())
            .await
            .unwrap()
    }

    /// Both logs verify from the first record to the last.
    pub async fn assert_logs_intact(&self) {
        let report = self.db.verify_logs().await.unwrap();
        assert!(report.is_intact(), "{}: {report:?}", self.tdb.kind());
    }
}

/// The outbox row as the relay publishes it (schema and MAC headers).
pub fn entry_of(row: &outbox::Model) -> events::OutboxEntry {
    let header = |name: &str| row.headers[name].as_str().unwrap().to_owned();
    events::OutboxEntry {
        id: row.id.clone(),
        topic: row.routing_key.clone(),
        message_id: row.msg_id.clone(),
        content_type: header("content-type"),
        schema: header("custody-schema"),
        payload: row.payload.clone(),
        mac: row.mac.clone(),
    }
}

/// A running worker; stopped (and awaited) by [`Running::stop`], aborted on drop.
pub struct Running {
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<chain_worker::Result<()>>,
}

impl Running {
    pub fn start(config: Config) -> Running {
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(chain_worker::run(config, async {
            let _ = stopped.await;
        }));
        Running {
            stop: Some(stop),
            task,
        }
    }

    /// Ask the worker to stop and wait until it has.
    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        let task = &mut self.task;
        tokio::time::timeout(Duration::from_secs(30), task)
            .await
            .expect("the worker did not stop")
            .unwrap()
            .unwrap();
    }

    /// The crash of the process: the worker's tasks end wherever they are.
    pub fn kill(self) {
        self.task.abort();
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// A fresh address nobody holds funds at.
pub fn fresh(seed: u8) -> EthAddress {
    EthAddress([seed; 20])
}

/// One SQLite and one PostgreSQL database.
pub async fn both() -> [TestDb; 2] {
    TestDb::both().await.unwrap()
}

/// Balances that cover any transfer these tests build: the worker's tests are about
/// broadcasting, not about the policy checks of the online API (those have their own tests).
fn plenty() -> online_db::Funds {
    online_db::Funds {
        eth: Amount::from(u128::MAX),
        tokens: Vec::new(),
    }
}
