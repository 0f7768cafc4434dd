//! On the zone's NATS (`ops/nats`: no anonymous access, the managers' `client` user may only
//! ask for the handshake), a manager's channel is used over a connection that logs in with
//! the channel's token, and the coordinator, as the server's authorization callout, lets it
//! use that one channel. The insider here is a manager with a client of their own: they know
//! the `client` password and hold a live channel, and try to reach the other managers'
//! channels with both.

use std::time::Duration;

use channel::{ClientHandshake, RevocationList, SecureChannel, ServerHello};
use contracts::coord::{self, ClientMessage, HandshakeReply, HandshakeRequest};
use contracts::Id;
use futures::StreamExt;
use rand_core::OsRng;

use crate::world::{unix_now, World};

/// How long a message that NATS would deliver gets to arrive.
const DELIVERY: Duration = Duration::from_secs(3);

async fn handshake_request(
    nats: &async_nats::Client,
    request: &HandshakeRequest,
) -> HandshakeReply {
    let reply = nats
        .request(
            contracts::subjects::CHANNEL_HANDSHAKE,
            coord::encode(request).unwrap().into(),
        )
        .await
        .unwrap();
    coord::decode(&reply.payload, "handshake reply").unwrap()
}

/// The insider's own handshake (manager 2 with SE 2, over the `client` user): a live channel.
async fn own_channel(world: &World, bootstrap: &async_nats::Client) -> (Id, SecureChannel) {
    let se = world.open_se(2);
    let certificate =
        channel::Certificate::from_bytes(&se.certificate().unwrap().unwrap()).unwrap();
    let user_id = Id::parse(&world.managers[2]).unwrap();
    let (client, hello) =
        ClientHandshake::start(certificate, user_id.to_string().as_bytes(), &mut OsRng);
    let reply = handshake_request(
        bootstrap,
        &HandshakeRequest::Hello {
            version: coord::PROTOCOL_VERSION,
            user_id,
            client_hello: hello.to_bytes().unwrap(),
        },
    )
    .await;
    let HandshakeReply::Hello {
        channel_id,
        server_hello,
    } = reply
    else {
        panic!("{reply:?}");
    };
    let trust = channel::TrustAnchor::new(world.hsm.ca_public_key());
    let (secure, finished) = client
        .finish(
            &ServerHello::from_bytes(&server_hello).unwrap(),
            &se,
            &trust,
            &RevocationList::new(),
            unix_now(),
        )
        .unwrap();
    let reply = handshake_request(
        bootstrap,
        &HandshakeRequest::Finished {
            channel_id,
            client_finished: finished.to_bytes().unwrap(),
        },
    )
    .await;
    assert_eq!(
        reply,
        HandshakeReply::Established {
            channel_id,
            login: true
        },
        "the zone's coordinator asks for channel logins"
    );
    (channel_id, secure)
}

async fn login(world: &World, token: &str) -> Result<async_nats::Client, async_nats::ConnectError> {
    async_nats::ConnectOptions::with_token(token.to_owned())
        .connect(world.nats.url())
        .await
}

/// The channel a running client printed it established.
async fn channel_of(client: &crate::world::ClientProc) -> Id {
    client
        .wait_line("established with the coordinator", Duration::from_secs(60))
        .await;
    let output = client.output();
    let line = output
        .lines()
        .find(|l| l.contains("established with the coordinator"))
        .unwrap();
    let id = line
        .split_whitespace()
        .find_map(|w| Id::parse(w).ok())
        .unwrap();
    id
}

/// Messages a subscription receives within [`DELIVERY`].
async fn received(sub: &mut async_nats::Subscriber) -> Vec<async_nats::Message> {
    let mut got = Vec::new();
    let deadline = tokio::time::Instant::now() + DELIVERY;
    while let Ok(Some(m)) = tokio::time::timeout_at(deadline, sub.next()).await {
        got.push(m);
    }
    got
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_manager_can_use_only_the_channel_it_established() {
    let world = World::zone(coordinator::Timeouts::default()).await;
    let (passwords, _) = world.zone.as_ref().unwrap();
    for se in 0..2 {
        world.seal_fixture_primes(se);
    }
    // A draft case, so the three managers hold shares and may log in; managers 0 and 1 run
    // their clients (joined to the keygen, waiting for the third), pinging every 2 s.
    world.create_case("channel logins").await;
    let clients: Vec<_> = (0..2)
        .map(|i| {
            let pin = world.ses[i].pin.clone();
            world.client(&world.managers[i].clone(), i, &pin, &["--approve-keygen"])
        })
        .collect();
    let victim = channel_of(&clients[1]).await;
    channel_of(&clients[0]).await;

    // The coordinator's own view of the victim's subjects, as the reference.
    let observer = async_nats::ConnectOptions::with_user_and_password(
        "coordinator".to_owned(),
        passwords.coordinator.clone(),
    )
    .connect(world.nats.url())
    .await
    .unwrap();
    let mut victim_up = observer
        .subscribe(coord::channel_up(&victim))
        .await
        .unwrap();
    let mut victim_down = observer
        .subscribe(coord::channel_down(&victim))
        .await
        .unwrap();

    // The insider: the shared `client` user, and a live channel of their own.
    let bootstrap = async_nats::ConnectOptions::with_user_and_password(
        "client".to_owned(),
        passwords.client.clone(),
    )
    .connect(world.nats.url())
    .await
    .unwrap();
    let (mine, mut secure) = own_channel(&world, &bootstrap).await;
    let token = coord::channel_login_token(&mine, &secure).unwrap();
    let link = login(&world, &token)
        .await
        .expect("the channel's own login is admitted");

    // With the `client` user and with the channel login: junk on the victim's up subject, and
    // listening to the victim's down subject (and everything).
    let mut spies = Vec::new();
    for conn in [&bootstrap, &link] {
        spies.push(conn.subscribe(coord::channel_down(&victim)).await.unwrap());
        spies.push(conn.subscribe("custody.channel.*.down").await.unwrap());
        spies.push(conn.subscribe(">").await.unwrap());
        conn.publish(
            coord::channel_up(&victim),
            b"junk from the insider".to_vec().into(),
        )
        .await
        .unwrap();
        conn.flush().await.unwrap();
    }
    let mut own_down = link.subscribe(coord::channel_down(&mine)).await.unwrap();
    // A real frame on the insider's own channel goes through and is answered: the login works.
    let ping = secure
        .seal(&coord::encode(&ClientMessage::Ping).unwrap())
        .unwrap()
        .to_bytes()
        .unwrap();
    link.publish(coord::channel_up(&mine), ping.into())
        .await
        .unwrap();
    link.flush().await.unwrap();

    let up = received(&mut victim_up).await;
    assert!(!up.is_empty(), "the victim's client keeps pinging");
    assert!(
        up.iter()
            .all(|m| &m.payload[..] != b"junk from the insider"),
        "no junk from the insider reached the victim's channel"
    );
    assert!(
        !received(&mut victim_down).await.is_empty(),
        "the coordinator keeps answering the victim"
    );
    for spy in &mut spies {
        let got = received(spy).await;
        assert!(
            got.is_empty(),
            "the insider received {:?}",
            got.iter()
                .map(|m| m.subject.to_string())
                .collect::<Vec<_>>()
        );
    }
    let pong = received(&mut own_down).await;
    assert_eq!(
        pong.len(),
        1,
        "the coordinator answered the insider's own ping"
    );
    let opened = secure
        .open(&channel::Frame::from_bytes(&pong[0].payload).unwrap())
        .unwrap();
    assert_eq!(
        coord::decode::<coord::CoordinatorMessage>(&opened, "pong").unwrap(),
        coord::CoordinatorMessage::Pong
    );
    // Nothing of it reached the coordinator as a frame it had to drop.
    assert_eq!(world.coord.as_ref().unwrap().rejected_frames(), 0);

    // Logins that are not a live channel's own token are refused: the victim's channel with a
    // made-up secret, a channel that does not exist, no token at all, not a token.
    let forged = format!("{victim}.{}", "ab".repeat(32));
    let unknown = format!("{}.{}", Id::new_v7(unix_now()), &token[token.len() - 64..]);
    for bad in [forged.as_str(), unknown.as_str(), "", "password123"] {
        assert!(
            login(&world, bad).await.is_err(),
            "the login {bad:?} was admitted"
        );
    }
    assert!(
        async_nats::connect(world.nats.url()).await.is_err(),
        "anonymous access"
    );

    // The insider logs out: the channel is gone, and so is its login.
    let bye = secure
        .seal(&coord::encode(&ClientMessage::Bye).unwrap())
        .unwrap()
        .to_bytes()
        .unwrap();
    link.publish(coord::channel_up(&mine), bye.into())
        .await
        .unwrap();
    link.flush().await.unwrap();
    world
        .until(
            "the insider's channel to close",
            Duration::from_secs(10),
            || async { login(&world, &token).await.is_err().then_some(()) },
        )
        .await;

    // The managers' clients never lost their channels.
    for c in &clients {
        assert!(!c.output().contains("connection lost"), "{}", c.output());
    }
}
