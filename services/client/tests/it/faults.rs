//! Faults: each ends in a clear FAILED session with nothing of it stored, and a retry that
//! succeeds (or, for a client with the wrong SE, a refusal that changes nothing).

use std::time::Duration;

use offline_db::{CaseStatus, SessionKind, SessionStatus};
use serde_json::Value;

use crate::flow::recover_address;
use crate::world::{ClientProc, World};

const WAIT: Duration = Duration::from_secs(240);

/// Short idle and run timeouts so faults are detected within seconds.
fn fast() -> coordinator::Timeouts {
    coordinator::Timeouts {
        idle: Duration::from_secs(6),
        sign_run: Duration::from_secs(60),
        keygen_run: Duration::from_secs(600),
        ..coordinator::Timeouts::default()
    }
}

async fn failed_sessions(
    world: &World,
    case_id: &str,
) -> Vec<offline_db::entity::protocol_sessions::Model> {
    world
        .db
        .sessions(Some(case_id), Some(SessionStatus::Failed), 50)
        .await
        .unwrap()
}

async fn wait_failed(
    world: &World,
    case_id: &str,
    n: usize,
) -> Vec<offline_db::entity::protocol_sessions::Model> {
    world
        .until("a failed session", WAIT, || async {
            let f = failed_sessions(world, case_id).await;
            (f.len() >= n).then_some(f)
        })
        .await
}

/// Everything a failed signing session must not have left: no signature, request not signed.
async fn assert_nothing_signed(world: &World, row_id: &str) {
    assert!(world.db.signature_for(row_id).await.unwrap().is_none());
    let request = world.db.signing_request(row_id).await.unwrap();
    assert_ne!(request.status, offline_db::SigningRequestStatus::Signed);
}

struct Signing {
    case_id: String,
    address: contracts::EthAddress,
    row_id: String,
    hash: [u8; 32],
    hash_text: String,
}

async fn signing_setup(world: &World, name: &str) -> Signing {
    let (case_id, address) = world.keyed_case(name).await;
    let (request, envelope) = world.request(&address, 0);
    let imported: Value = world.import(&envelope).await;
    Signing {
        case_id,
        address,
        row_id: imported["id"].as_str().unwrap().to_owned(),
        hash: request.signing_hash,
        hash_text: format!("0x{}", hex::encode(request.signing_hash)),
    }
}

fn signer(world: &World, manager: usize, s: &Signing) -> ClientProc {
    let pin = world.ses[manager].pin.clone();
    world.client(
        &world.managers[manager].clone(),
        manager,
        &pin,
        &["--approve-hash", &s.hash_text, "--exit-after", "1"],
    )
}

async fn assert_signed(world: &World, s: &Signing, clients: &mut [ClientProc]) {
    for c in clients.iter_mut() {
        let status = c.wait(WAIT).await;
        assert!(status.success(), "client failed:\n{}", c.output());
    }
    let response = world.export_response(&s.row_id).await;
    assert_eq!(
        recover_address(&s.hash, &response.r, &response.s, response.y_parity),
        s.address.0
    );
    let completed = world
        .db
        .sessions(Some(&s.case_id), Some(SessionStatus::Completed), 10)
        .await
        .unwrap();
    assert_eq!(completed.len(), 1, "exactly one session signed it");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_client_killed_mid_signing_fails_the_session_and_a_retry_signs() {
    let world = World::new(fast()).await;
    let s = signing_setup(&world, "killed signer").await;
    let c0 = signer(&world, 0, &s);
    let mut c1 = signer(&world, 1, &s);
    c1.wait_line("signing with shares", WAIT).await;
    c1.kill();
    let failed = wait_failed(&world, &s.case_id, 1).await;
    assert_eq!(failed[0].kind, SessionKind::Sign);
    let reason = failed[0].error.clone().unwrap_or_default();
    assert!(
        reason.contains("channel") || reason.contains("abort") || reason.contains("did not finish"),
        "{reason}"
    );
    assert_nothing_signed(&world, &s.row_id).await;
    // A fresh session for the same request waits for the managers.
    let pending = world
        .db
        .sessions(Some(&s.case_id), Some(SessionStatus::Pending), 10)
        .await
        .unwrap();
    assert_eq!(pending.len(), 1);
    let c1 = signer(&world, 1, &s);
    assert_signed(&world, &s, &mut [c0, c1]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn nats_restarted_mid_round_fails_the_session_and_the_clients_retry() {
    let mut world = World::new(fast()).await;
    let s = signing_setup(&world, "nats restart").await;
    let c0 = signer(&world, 0, &s);
    let c1 = signer(&world, 1, &s);
    c1.wait_line("signing with shares", WAIT).await;
    world.nats.stop();
    // Longer than the coordinator's idle timeout: every channel of the run goes silent.
    tokio::time::sleep(Duration::from_secs(8)).await;
    world.nats.restart().unwrap();
    let failed = wait_failed(&world, &s.case_id, 1).await;
    assert!(
        failed[0]
            .error
            .clone()
            .unwrap_or_default()
            .contains("channel"),
        "{:?}",
        failed[0].error
    );
    assert_signed(&world, &s, &mut [c0, c1]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn junk_and_replayed_frames_for_a_whole_signing_session_are_dropped_and_it_signs() {
    let world = World::new(fast()).await;
    let s = signing_setup(&world, "jammed channels").await;
    // An insider on the bus replays every frame, forges the next one each receiver expects and
    // publishes junk on every channel subject, from before the managers log in until the end.
    let jammer = testkit::jammer::Jammer::start(&world.nats.url(), Duration::from_millis(20))
        .await
        .unwrap();
    let c0 = signer(&world, 0, &s);
    let c1 = signer(&world, 1, &s);
    assert_signed(&world, &s, &mut [c0, c1]).await;
    assert!(failed_sessions(&world, &s.case_id).await.is_empty());
    let sent = jammer.sent();
    let dropped = world.coord.as_ref().unwrap().rejected_frames();
    drop(jammer);
    assert!(sent > 50, "the jammer published only {sent} messages");
    assert!(
        dropped > 10,
        "the coordinator dropped only {dropped} frames"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_client_whose_se_is_not_the_one_in_the_table_is_refused() {
    let world = World::new(fast()).await;
    let s = signing_setup(&world, "wrong se").await;
    // Manager 0 brings SE 1 (and knows its PIN): the SE is genuine but not manager 0's.
    let pin = world.ses[1].pin.clone();
    let mut wrong = world.client(
        &world.managers[0].clone(),
        1,
        &pin,
        &["--approve-hash", &s.hash_text, "--exit-after", "1"],
    );
    let status = wrong.wait(WAIT).await;
    assert!(!status.success());
    // The refusal tells an unauthenticated sender nothing about users or SEs.
    let output = wrong.output();
    let refusal = output
        .lines()
        .find(|l| l.contains("the coordinator refused the login"))
        .unwrap_or_else(|| panic!("no refusal in:\n{output}"));
    assert!(refusal.contains("does not admit this user"), "{refusal}");
    assert!(!refusal.contains(&world.ses[1].serial), "{refusal}");
    assert!(!refusal.contains("holds no"), "{refusal}");
    assert!(failed_sessions(&world, &s.case_id).await.is_empty());
    assert_nothing_signed(&world, &s.row_id).await;
    let c0 = signer(&world, 0, &s);
    let c1 = signer(&world, 1, &s);
    assert_signed(&world, &s, &mut [c0, c1]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_client_that_approves_another_hash_fails_the_session_and_a_retry_signs() {
    let world = World::new(fast()).await;
    let s = signing_setup(&world, "other hash").await;
    let pin = world.ses[0].pin.clone();
    let other = format!("0x{}", "ab".repeat(32));
    let mut wrong = world.client(
        &world.managers[0].clone(),
        0,
        &pin,
        &["--approve-hash", &other, "--idle-exit-secs", "2"],
    );
    let status = wrong.wait(WAIT).await;
    assert!(status.success(), "{}", wrong.output());
    assert!(wrong.output().contains("declined"), "{}", wrong.output());
    let failed = wait_failed(&world, &s.case_id, 1).await;
    let reason = failed[0].error.clone().unwrap_or_default();
    assert!(reason.contains("declined"), "{reason}");
    assert_nothing_signed(&world, &s.row_id).await;
    let c0 = signer(&world, 0, &s);
    let c1 = signer(&world, 1, &s);
    assert_signed(&world, &s, &mut [c0, c1]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_client_killed_mid_keygen_fails_the_session_and_a_retry_completes() {
    let world = World::new(fast()).await;
    for se in 0..3 {
        world.seal_fixture_primes(se);
    }
    let case_id = world.create_case("killed keygen").await;
    let start = |i: usize| {
        let pin = world.ses[i].pin.clone();
        world.client(
            &world.managers[i].clone(),
            i,
            &pin,
            &["--approve-keygen", "--exit-after", "1"],
        )
    };
    let c0 = start(0);
    let c1 = start(1);
    let mut c2 = start(2);
    c2.wait_line("aux-info round 2", WAIT).await;
    c2.kill();
    let failed = wait_failed(&world, &case_id, 1).await;
    assert_eq!(failed[0].kind, SessionKind::Keygen);
    let case = world.db.case(&case_id).await.unwrap().unwrap();
    assert_ne!(case.status, CaseStatus::Active);
    assert!(case.public_key.is_none() && case.address.is_none());
    for share in world.db.key_shares_by_case(&case_id).await.unwrap() {
        assert!(share.public_key.is_none(), "no key-share row got a key");
    }
    let c2 = start(2);
    let mut all = [c0, c1, c2];
    for c in all.iter_mut() {
        let status = c.wait(Duration::from_secs(900)).await;
        assert!(status.success(), "client failed:\n{}", c.output());
    }
    let case = world.db.case(&case_id).await.unwrap().unwrap();
    assert_eq!(case.status, CaseStatus::Active);
    assert!(case.address.is_some());
}
