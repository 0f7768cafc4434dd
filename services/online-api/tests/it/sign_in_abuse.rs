//! Sign-in abuse (issue 15), against the app served on a real socket so every request has a
//! real peer address: concurrent wrong passwords are claimed one at a time, an attack from other
//! addresses does not keep the owner out, and registrations are rate-limited per source.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use online_api::app;
use poem::listener::{Acceptor, Listener, TcpListener};
use serde_json::json;
use testkit::peer::{post_json_from, Reply};

use crate::common::*;

/// The app of `w` on 127.0.0.1, port chosen by the kernel.
async fn serve(w: &World) -> (SocketAddr, tokio::task::JoinHandle<std::io::Result<()>>) {
    let acceptor = TcpListener::bind("127.0.0.1:0")
        .into_acceptor()
        .await
        .unwrap();
    let addr = *acceptor.local_addr()[0].as_socket_addr().unwrap();
    let server = poem::Server::new_with_acceptor(acceptor).run(app(w.state.clone()));
    (addr, tokio::spawn(server))
}

fn source(a: u8, b: u8) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(127, 0, a, b))
}

async fn login_from(from: IpAddr, server: SocketAddr, user: &str, password: &str) -> Reply {
    post_json_from(
        from,
        server,
        "/api/auth/login",
        &json!({"username": user, "password": password, "client": "bearer"}),
    )
    .await
    .unwrap()
}

/// Evaluated sign-in attempts recorded for `user`.
async fn evaluated(w: &World, user: &str) -> usize {
    w.db.login_attempts(user, false, now() - chrono::Duration::days(1))
        .await
        .unwrap()
        .len()
}

#[track_caller]
fn assert_throttled(r: &Reply) {
    assert_eq!(r.status, 429, "{}", r.body);
    let wait: u64 = r.header("retry-after").unwrap().parse().unwrap();
    assert!(wait >= 1, "{wait}");
    assert_eq!(r.header("content-type"), Some("application/problem+json"));
    let problem = r.json();
    assert!(
        problem["type"]
            .as_str()
            .unwrap()
            .ends_with("too-many-attempts"),
        "{problem}"
    );
    assert_eq!(problem["status"], 429);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hundred_and_fifty_concurrent_wrong_passwords_get_at_most_five_evaluated() {
    on_both(|w: World| async move {
        let (server, handle) = serve(&w).await;
        let before = evaluated(&w, "trader2").await;
        let attempts = (0..150).map(|_| {
            tokio::spawn(async move {
                login_from(source(0, 9), server, "trader2", "wrong password here").await
            })
        });
        let (mut refused, mut wrong) = (0, 0);
        for attempt in attempts {
            let r = attempt.await.unwrap();
            match r.status {
                401 => wrong += 1,
                429 => {
                    assert_throttled(&r);
                    refused += 1;
                }
                other => panic!("{other}: {}", r.body),
            }
        }
        let recorded = evaluated(&w, "trader2").await - before;
        eprintln!(
            "150 concurrent: {wrong} evaluated (401), {refused} refused (429), {recorded} recorded"
        );
        assert!(wrong <= 5, "{wrong} evaluated");
        assert_eq!(recorded, wrong);
        assert_eq!(wrong + refused, 150);
        // The same for a name that does not exist: the answers do not tell them apart.
        let unknown = login_from(source(0, 10), server, "nobody-here", "x").await;
        assert_eq!(unknown.status, 401);
        handle.abort();
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_a_thousand_wrong_passwords_from_elsewhere_the_owner_still_signs_in() {
    on_both(|w: World| async move {
        let (server, handle) = serve(&w).await;
        let owner = source(0, 2);
        let r = login_from(owner, server, "trader2", PASSWORD).await;
        assert_eq!(r.status, 200, "{}", r.body);
        let before = evaluated(&w, "trader2").await;
        // 1,000 wrong passwords from 50 other addresses, 50 at a time.
        let (mut refused, mut wrong) = (0, 0);
        for round in 0..20u8 {
            let batch: Vec<_> = (1..=50u8)
                .map(|host| {
                    tokio::spawn(async move {
                        let password = format!("guess {round} {host}");
                        login_from(source(1, host), server, "trader2", &password).await
                    })
                })
                .collect();
            for attempt in batch {
                let r = attempt.await.unwrap();
                match r.status {
                    401 => wrong += 1,
                    429 => {
                        assert_throttled(&r);
                        refused += 1;
                    }
                    other => panic!("{other}: {}", r.body),
                }
            }
        }
        let recorded = evaluated(&w, "trader2").await - before;
        eprintln!("1,000 from elsewhere: {wrong} evaluated (401), {refused} refused (429)");
        assert_eq!(wrong + refused, 1000);
        assert_eq!(recorded, wrong);
        // At most 100 evaluated per account per hour from addresses it never signed in from.
        assert!(wrong <= 100, "{wrong}");
        // The attackers' addresses are refused even the right password…
        assert_throttled(&login_from(source(1, 7), server, "trader2", PASSWORD).await);
        // …and the owner, from their own address, gets in at once.
        let r = login_from(owner, server, "trader2", PASSWORD).await;
        assert_eq!(r.status, 200, "{}", r.body);
        assert!(r.json()["session_token"].is_string());
        handle.abort();
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hundred_registrations_from_one_source_in_a_minute_are_cut_at_the_limit() {
    on_both(|w: World| async move {
        let (server, handle) = serve(&w).await;
        let users_before = w.db.users().await.unwrap().len();
        let counts_before = w.counts().await;
        let attempts = (0..100).map(|i| {
            tokio::spawn(async move {
                post_json_from(
                    source(0, 5),
                    server,
                    "/api/auth/register",
                    &json!({"username": format!("puppet{i}"), "display_name": "P", "password": PASSWORD}),
                )
                .await
                .unwrap()
            })
        });
        let (mut created, mut refused) = (0, 0);
        for attempt in attempts {
            let r = attempt.await.unwrap();
            match r.status {
                200 => created += 1,
                429 => {
                    assert_throttled(&r);
                    refused += 1;
                }
                other => panic!("{other}: {}", r.body),
            }
        }
        eprintln!("100 registrations: {created} created, {refused} refused (429)");
        assert_eq!((created, refused), (10, 90));
        // Only the accepted ones changed anything: ten users and their ten log records.
        assert_eq!(w.db.users().await.unwrap().len(), users_before + 10);
        let counts = w.counts().await;
        assert_eq!(counts.all_but("operation_log"), counts_before.all_but("operation_log"));
        assert_eq!(
            counts.of("operation_log"),
            counts_before.of("operation_log") + 10
        );
        // Another source is not affected; the limit ends with the minute.
        let r = post_json_from(
            source(0, 6),
            server,
            "/api/auth/register",
            &json!({"username": "someone", "display_name": "S", "password": PASSWORD}),
        )
        .await
        .unwrap();
        assert_eq!(r.status, 200, "{}", r.body);
        w.clock.advance(std::time::Duration::from_secs(60));
        let r = post_json_from(
            source(0, 5),
            server,
            "/api/auth/register",
            &json!({"username": "later", "display_name": "L", "password": PASSWORD}),
        )
        .await
        .unwrap();
        assert_eq!(r.status, 200, "{}", r.body);
        handle.abort();
    })
    .await;
}
