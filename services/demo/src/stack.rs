//! Both zones on embedded defaults, in this process and its child processes, on free ports.
//!
//! State directory layout (`prepare_state_dir` puts the temporary directory inside it):
//! `offline.sqlite`, `online.sqlite`, `demo-summary.json`, `nats/<user>.password` (the offline
//! NATS users of `ops/nats`, mode 0600), `nats/callout.seed` (the coordinator's channel-login
//! issuer, mode 0600), `tmp/` (SoftHSM2 token store,
//! nats-server's JetStream store, RabbitMQ's node directory, anvil's log).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::Context;
use secrecy::SecretString;
use testkit::anvil::{Anvil, AnvilOptions};
use testkit::nats::NatsServer;
use testkit::rabbitmq::RabbitMq;
use testkit::softhsm::SoftHsm;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::http::{self, Api};

/// How the stack is started.
#[derive(Clone, Debug)]
pub struct StackOptions {
    /// Where the databases and the processes' state live (already prepared).
    pub state_dir: PathBuf,
    /// `web/online/dist` and `web/offline/dist` are looked for under this folder.
    pub web_root: Option<PathBuf>,
    /// Blocks every second on anvil (0 = mine on each transaction).
    pub block_time_secs: Option<u64>,
}

/// One enrolled SE token (a SoftHSM2 token standing in for a manager's smart card).
pub struct SeCard {
    /// Token serial = SE serial.
    pub serial: se::SeSerial,
    /// Label.
    pub label: String,
    /// The PIN the card was issued with.
    pub pin: SecretString,
    /// The PIN now (the security officer may have reset it).
    pub current: std::sync::Mutex<SecretString>,
    /// The security officer's PIN.
    pub so_pin: SecretString,
}

impl SeCard {
    /// The PIN now.
    pub fn current_pin(&self) -> anyhow::Result<SecretString> {
        Ok(self
            .current
            .lock()
            .map_err(|_| anyhow::anyhow!("PIN lock poisoned"))?
            .clone())
    }

    /// Records a reset PIN.
    pub fn set_pin(&self, pin: SecretString) -> anyhow::Result<()> {
        *self
            .current
            .lock()
            .map_err(|_| anyhow::anyhow!("PIN lock poisoned"))? = pin;
        Ok(())
    }
}

type Task = (oneshot::Sender<()>, JoinHandle<anyhow::Result<()>>);

/// Everything running.
pub struct Stack {
    /// The state directory (absolute).
    pub state_dir: PathBuf,
    /// The PKCS#11 module (SoftHSM2).
    pub module: p11::Module,
    /// The offline HSM (CA, channel key, envelope key).
    pub hsm: hsm::Hsm,
    /// The online export key's public half.
    pub export_public: p256::PublicKey,
    /// The online token's audit-checkpoint key (what an auditor pins for the online zone).
    pub online_checkpoint_key: p256::PublicKey,
    /// Where each zone's API writes its checkpoint files: `checkpoints/offline`,
    /// `checkpoints/online` under the state directory.
    pub checkpoint_dirs: [(audit::Zone, PathBuf); 2],
    /// Each zone's token as `custodyd audit verify --hsm-*` opens it after the demo (the audit
    /// drill checks MACs with it): SoftHSM2's configuration, the token label and a PIN file in
    /// `hsm/` under the state directory. Development tokens only.
    pub zone_tokens: [(audit::Zone, crate::DemoToken); 2],
    /// nats-server (offline bus), with the zone's users and permissions.
    pub nats: NatsServer,
    /// How the managers' clients log in to it (user `client`, password file).
    pub nats_client: bus::NatsAccess,
    /// RabbitMQ (online bus).
    pub rabbit: RabbitMq,
    /// anvil.
    pub anvil: Anvil,
    /// The online zone's chain adapter.
    pub chain: chain::Chain,
    /// The offline database.
    pub offline_db: offline_db::Db,
    /// Its URL.
    pub offline_db_url: String,
    /// The online database's URL.
    pub online_db_url: String,
    /// The online database.
    pub online_db: online_db::Db,
    /// The offline API.
    pub offline: Api,
    /// The online API.
    pub online: Api,
    /// Which web front ends are served.
    pub web: Vec<(&'static str, PathBuf)>,
    /// The three SE cards (SoftHSM2 tokens, not yet enrolled).
    pub cards: Vec<SeCard>,
    tasks: Vec<(&'static str, Task)>,
}

/// Seconds since the epoch.
pub fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

fn free_port() -> anyhow::Result<u16> {
    let l = std::net::TcpListener::bind("127.0.0.1:0")?;
    Ok(l.local_addr()?.port())
}

fn sqlite_url(path: &Path) -> String {
    format!("sqlite://{}?mode=rwc", path.display())
}

fn web_dir(root: Option<&Path>, zone: &str) -> Option<PathBuf> {
    let dir = root?.join("web").join(zone).join("dist");
    dir.join("index.html").exists().then_some(dir)
}

/// Writes `secret` to `path`, readable by this user only (mode 0600).
fn write_secret(path: &Path, secret: &str) -> anyhow::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("write {}", path.display()))?
        .write_all(secret.as_bytes())?;
    Ok(())
}

/// The offline NATS users of `ops/nats/nats-server.conf` with fresh passwords, each written to
/// `nats/<user>.password` under the state directory: the access each service logs in with.
fn nats_users(
    state_dir: &Path,
    passwords: &testkit::nats::ZonePasswords,
) -> anyhow::Result<[bus::NatsAccess; 3]> {
    let dir = state_dir.join("nats");
    let access = |user: &str, password: &str| -> anyhow::Result<bus::NatsAccess> {
        let password_file = dir.join(format!("{user}.password"));
        write_secret(&password_file, password)?;
        Ok(bus::NatsAccess {
            user: Some(user.to_owned()),
            password_file: Some(password_file),
            ca_file: None,
        })
    };
    Ok([
        access("coordinator", &passwords.coordinator)?,
        access("reactors", &passwords.reactors)?,
        access("client", &passwords.client)?,
    ])
}

/// Writes `hsm/<zone>.pin` (mode 0600) and describes the token for the summary.
fn demo_token(
    state_dir: &std::path::Path,
    softhsm: &SoftHsm,
    zone: &str,
    token: &testkit::softhsm::TestToken,
) -> anyhow::Result<crate::DemoToken> {
    use secrecy::ExposeSecret;
    let pin_file = state_dir.join("hsm").join(format!("{zone}.pin"));
    write_secret(&pin_file, token.user_pin.expose_secret())?;
    Ok(crate::DemoToken {
        softhsm2_conf: softhsm
            .root_dir()
            .join("softhsm2.conf")
            .display()
            .to_string(),
        module: softhsm.module_path().display().to_string(),
        token: token.summary.label.clone(),
        pin_file: pin_file.display().to_string(),
    })
}

impl Stack {
    /// Starts everything; `say` prints progress.
    pub async fn start(opts: &StackOptions, say: &(dyn Fn(&str) + Sync)) -> anyhow::Result<Stack> {
        let state_dir = opts.state_dir.clone();
        let softhsm = SoftHsm::global();
        let module = softhsm.module();
        say(&format!(
            "SoftHSM2 token store in {}",
            softhsm.token_dir().display()
        ));
        // The offline HSM.
        let hsm_token = softhsm.try_new_token("offline-hsm")?;
        let hsm = hsm::Hsm::provision(
            &module,
            &hsm_token.summary.label,
            &hsm_token.so_pin,
            &hsm_token.user_pin,
            "coordinator",
            unix_now() - 60,
        )?;
        // The online zone's token: export key, audit-checkpoint key, audit MAC key.
        let export_token = softhsm.try_new_token("online-export")?;
        let online_token = hsm::OnlineHsm::provision(
            &module,
            &hsm::TokenSelector::Label(export_token.summary.label.clone()),
            &export_token.user_pin,
        )?;
        let export_public = online_token.export_public_key();
        let zone_tokens = [
            (
                audit::Zone::Offline,
                demo_token(&state_dir, softhsm, "offline", &hsm_token)?,
            ),
            (
                audit::Zone::Online,
                demo_token(&state_dir, softhsm, "online", &export_token)?,
            ),
        ];
        let online_checkpoint_key = online_token.checkpoint_public_key();
        let offline_sealer = offline_db::sealer(&hsm, audit::CheckpointPolicy::default());
        let online_sealer = online_db::sealer(&online_token, audit::CheckpointPolicy::default());
        let checkpoint_dirs = [
            (
                audit::Zone::Offline,
                state_dir.join("checkpoints").join("offline"),
            ),
            (
                audit::Zone::Online,
                state_dir.join("checkpoints").join("online"),
            ),
        ];
        let [(_, offline_checkpoints), (_, online_checkpoints)] = &checkpoint_dirs;
        let offline_checkpoints = audit::CheckpointDir::open(offline_checkpoints.clone())?;
        let online_checkpoints = audit::CheckpointDir::open(online_checkpoints.clone())?;
        // Three blank cards for the managers' SEs (enrolled in the story).
        let mut cards = Vec::new();
        for i in 0..3 {
            let t = softhsm.try_new_token(&format!("se{i}"))?;
            cards.push(SeCard {
                serial: se::SeSerial::parse(&t.summary.serial)?,
                label: format!("SE-{}", i + 1),
                current: std::sync::Mutex::new(t.user_pin.clone()),
                pin: t.user_pin,
                so_pin: t.so_pin,
            });
        }

        say("starting nats-server (JetStream), RabbitMQ and anvil…");
        // The zone's NATS users and permissions (ops/nats), no anonymous access.
        let nats_passwords = testkit::nats::ZonePasswords::random();
        let [coordinator_nats, reactors_nats, client_nats] =
            nats_users(&state_dir, &nats_passwords)?;
        let nats = NatsServer::start_as_the_zone(&nats_passwords).context("start nats-server")?;
        // The coordinator's channel-login issuer, from its seed file as in production.
        let callout_seed = state_dir.join("nats").join("callout.seed");
        write_secret(&callout_seed, &nats_passwords.callout_seed)?;
        let channel_logins = coordinator::ChannelLogins::from_seed_file(&callout_seed)?;
        let rabbit = RabbitMq::start().context("start RabbitMQ")?;
        let anvil = Anvil::start_with(&AnvilOptions {
            block_time_secs: opts.block_time_secs,
        })
        .context("start anvil")?;
        let chain = chain::Chain::connect(&anvil.url(), anvil.chain_id()).await?;

        let offline_url = sqlite_url(&state_dir.join("offline.sqlite"));
        let online_url = sqlite_url(&state_dir.join("online.sqlite"));
        let offline_db = offline_db::Db::connect(&offline_url, offline_sealer.clone()).await?;
        let online_db = online_db::Db::connect(&online_url, online_sealer.clone()).await?;

        let mut tasks: Vec<(&'static str, Task)> = Vec::new();
        let web_root = opts.web_root.as_deref();
        let mut web = Vec::new();

        // Offline zone: API, reactors, coordinator.
        let offline_web = web_dir(web_root, "offline");
        if let Some(d) = &offline_web {
            web.push(("offline", d.clone()));
        }
        let state = offline_api::AppState::builder(
            offline_db.clone(),
            hsm.clone(),
            auth::PasswordHasher::new(auth::HashParams::default())?,
            Arc::new(offline_api::SystemClock),
        )
        .pin_online_key(export_public)
        .web_dir(offline_web)
        .checkpoint_dir(Some(offline_checkpoints))
        .build();
        let offline_port = free_port()?;
        tasks.push((
            "offline API",
            spawn(move |stop| async move {
                offline_api::serve(
                    poem::listener::TcpListener::bind(format!("127.0.0.1:{offline_port}")),
                    state,
                    stop,
                )
                .await?;
                anyhow::Ok(())
            }),
        ));
        let reactors_config = reactors::Config {
            db_url: offline_url.clone(),
            sealer: offline_sealer,
            nats_url: nats.url(),
            nats_access: reactors_nats,
        };
        tasks.push((
            "reactors",
            spawn(move |stop| async move {
                reactors::run(reactors_config, stop).await?;
                anyhow::Ok(())
            }),
        ));
        let bus = bus::Bus::connect(
            &nats.url(),
            coordinator_nats.apply(bus::BusOptions {
                name: "custody-coordinator".to_owned(),
                ..bus::BusOptions::default()
            })?,
        )
        .await?;
        let coordinator = coordinator::Coordinator::new(
            offline_db.clone(),
            hsm.clone(),
            bus.client().clone(),
            Arc::new(bus::SystemClock),
            coordinator::Timeouts::default(),
        )
        .with_channel_logins(channel_logins);
        tasks.push((
            "coordinator",
            spawn(move |stop| async move {
                let _bus = bus;
                coordinator.serve(stop).await?;
                anyhow::Ok(())
            }),
        ));

        // Online zone: API, chain worker.
        let online_web = web_dir(web_root, "online");
        if let Some(d) = &online_web {
            web.push(("online", d.clone()));
        }
        let state = online_api::AppState::builder(
            online_db.clone(),
            chain.clone(),
            Arc::new(online_token.export_signer()),
            auth::PasswordHasher::new(auth::HashParams::default())?,
            Arc::new(online_api::SystemClock),
        )
        .pin_offline_key(hsm.envelope_public_key())
        .amqp(Some(rabbit.url()))
        .web_dir(online_web)
        .checkpoint_dir(Some(online_checkpoints))
        .build();
        let online_port = free_port()?;
        tasks.push((
            "online API",
            spawn(move |stop| async move {
                online_api::serve(
                    poem::listener::TcpListener::bind(format!("127.0.0.1:{online_port}")),
                    state,
                    stop,
                )
                .await?;
                anyhow::Ok(())
            }),
        ));
        let worker_config = chain_worker::Config {
            confirmations: 2,
            poll_interval: Duration::from_millis(200),
            ..chain_worker::Config::new(
                &online_url,
                online_sealer,
                rabbit.url(),
                anvil.url(),
                anvil.chain_id(),
            )
        };
        tasks.push((
            "chain worker",
            spawn(move |stop| async move {
                chain_worker::run(worker_config, stop).await?;
                anyhow::Ok(())
            }),
        ));

        let client = http::client()?;
        let offline = Api::new(
            client.clone(),
            format!("http://127.0.0.1:{offline_port}"),
            "offline",
        );
        let online = Api::new(client, format!("http://127.0.0.1:{online_port}"), "online");
        offline.wait_up().await?;
        online.wait_up().await?;
        // The coordinator subscribes before it serves; give it the moment it needs.
        tokio::time::sleep(Duration::from_millis(300)).await;
        let stack = Stack {
            state_dir,
            module,
            hsm,
            export_public,
            online_checkpoint_key,
            checkpoint_dirs,
            zone_tokens,
            nats,
            nats_client: client_nats,
            rabbit,
            anvil,
            chain,
            offline_db,
            offline_db_url: offline_url,
            online_db_url: online_url,
            online_db,
            offline,
            online,
            web,
            cards,
            tasks,
        };
        stack.check_running()?;
        Ok(stack)
    }

    /// Fails if a service task stopped.
    pub fn check_running(&self) -> anyhow::Result<()> {
        for (name, (_, task)) in &self.tasks {
            if task.is_finished() {
                anyhow::bail!("the {name} stopped");
            }
        }
        Ok(())
    }

    /// The offline CA key (hex SEC1), as a manager's client pins it.
    pub fn ca_key_hex(&self) -> String {
        hex::encode(p256::PublicKey::to_sec1_bytes(&self.hsm.ca_public_key()))
    }

    /// Stops the services (the child processes stop when their owners drop).
    pub async fn stop(mut self) -> anyhow::Result<()> {
        let mut first_error = None;
        while let Some((name, (stop, task))) = self.tasks.pop() {
            let _ = stop.send(());
            match tokio::time::timeout(Duration::from_secs(20), task).await {
                Ok(Ok(Ok(()))) => {}
                Ok(Ok(Err(e))) => {
                    first_error.get_or_insert_with(|| anyhow::anyhow!("{name}: {e}"));
                }
                Ok(Err(e)) => {
                    first_error.get_or_insert_with(|| anyhow::anyhow!("{name}: {e}"));
                }
                Err(_) => {
                    first_error.get_or_insert_with(|| anyhow::anyhow!("{name} did not stop"));
                }
            }
        }
        match first_error {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }
}

fn spawn<F, Fut>(f: F) -> Task
where
    F: FnOnce(std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>>) -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<()>> + Send + 'static,
{
    let (tx, rx) = oneshot::channel::<()>();
    let stop: std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>> =
        Box::pin(async move {
            let _ = rx.await;
        });
    (tx, tokio::spawn(f(stop)))
}
