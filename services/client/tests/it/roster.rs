//! The signed case roster, against a compromised coordinator host (issue 15). The coordinator
//! trusts its database, so an insider who rewrites the key-share table or the stored roster
//! *is* a modified coordinator: it offers work with whatever SEs and roster the rows say. The
//! real `custody-client` binaries must refuse, say why, and leave their SEs untouched.

use std::time::Duration;

use channel::IdentitySigner;
use offline_db::entity::{cases, key_shares};
use offline_db::{CaseStatus, SessionStatus};
use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter, Set};
use testkit::envelopes::SoftSigner;

use crate::world::{ClientProc, World};

const WAIT: Duration = Duration::from_secs(120);

fn fast() -> coordinator::Timeouts {
    coordinator::Timeouts {
        idle: Duration::from_secs(6),
        ..coordinator::Timeouts::default()
    }
}

/// The stored roster of `case_id`, as the database holds it.
async fn stored_roster(world: &World, case_id: &str) -> Option<Vec<u8>> {
    cases::Entity::find_by_id(case_id.to_owned())
        .one(world.db.conn())
        .await
        .unwrap()
        .unwrap()
        .roster
}

/// The insider rewrites the stored roster of `case_id`.
async fn set_roster(world: &World, case_id: &str, roster: Option<Vec<u8>>) {
    cases::ActiveModel {
        id: Set(case_id.to_owned()),
        roster: Set(roster),
        ..Default::default()
    }
    .update(world.db.conn())
    .await
    .unwrap();
}

/// Manager `m`'s client with SE `se`: joins keygen without asking, leaves after 4 s idle.
fn keygen_client(world: &World, user: &str, se: usize) -> ClientProc {
    let pin = world.ses[se].pin.clone();
    world.client(
        user,
        se,
        &pin,
        &["--approve-keygen", "--idle-exit-secs", "4"],
    )
}

/// What SE `se` holds for `case_id`.
fn shares_of(world: &World, se: usize, case_id: &str) -> Vec<u16> {
    world
        .open_se(se)
        .list_shares()
        .unwrap()
        .into_iter()
        .filter(|s| s.case_id() == case_id)
        .map(|s| s.share_index())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_keygen_offered_with_a_certified_se_that_is_not_on_the_signed_roster_is_refused() {
    let mut world = World::new(fast()).await;
    // A fourth manager with a fourth SE, enrolled and certified by the offline CA like any other.
    let rogue = world.new_manager("manager3").await;
    let se3 = world.enroll_se("se3").await;
    world.ses.push(se3.clone());
    let case_id = world.create_case("roster swap").await;
    let roster = stored_roster(&world, &case_id)
        .await
        .expect("signed roster");
    let decoded = contracts::CaseRoster::from_bytes(&roster).unwrap();
    decoded
        .verify_for(
            &contracts::Id::parse(&case_id).unwrap(),
            &world.hsm.envelope_public_key(),
        )
        .unwrap();
    assert_eq!(decoded.slots[2].se_serial, world.ses[2].serial);

    // The coordinator host's insider puts the rogue SE in share 2's place.
    let row = key_shares::Entity::find()
        .filter(key_shares::Column::CaseId.eq(case_id.as_str()))
        .filter(key_shares::Column::ShareIndex.eq(2))
        .one(world.db.conn())
        .await
        .unwrap()
        .unwrap();
    key_shares::ActiveModel {
        se_id: Set(se3.id.clone()),
        user_id: Set(rogue.clone()),
        ..row.into()
    }
    .update(world.db.conn())
    .await
    .unwrap();
    for se in [0, 1, 3] {
        world.seal_fixture_primes(se);
    }

    let mut rogue_client = keygen_client(&world, &rogue, 3);
    let status = rogue_client.wait(WAIT).await;
    let out = rogue_client.output();
    assert!(status.success(), "{out}");
    assert!(
        out.contains("not taking part in the keygen of case roster swap")
            && out.contains(&format!(
                "this SE ({}) is not share 2 of case {case_id} on its signed roster",
                se3.serial
            )),
        "{out}"
    );
    assert!(out.contains("0 session(s) completed"), "{out}");

    // The honest managers join; without a third party on the roster nothing starts.
    let mut honest: Vec<ClientProc> = (0..2)
        .map(|i| keygen_client(&world, &world.managers[i].clone(), i))
        .collect();
    for c in &honest {
        c.wait_line("share marked available for keygen session", WAIT)
            .await;
    }
    tokio::time::sleep(Duration::from_secs(3)).await;
    for c in &mut honest {
        c.kill();
        assert!(!c.output().contains("keygen started"), "{}", c.output());
    }
    let sessions = world.db.sessions(Some(&case_id), None, 10).await.unwrap();
    assert!(
        sessions
            .iter()
            .all(|s| s.status == SessionStatus::Pending && s.roster.is_none()),
        "{sessions:?}"
    );
    let case = world.db.case(&case_id).await.unwrap().unwrap();
    assert_ne!(case.status, CaseStatus::Active);
    assert!(case.public_key.is_none());
    for se in [0, 1, 3] {
        assert!(shares_of(&world, se, &case_id).is_empty(), "SE {se}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn without_the_hsm_signed_roster_of_its_case_a_client_neither_runs_keygen_nor_removes_a_share(
) {
    let world = World::new(fast()).await;
    let case_id = world.create_case("roster forgery").await;
    let genuine = stored_roster(&world, &case_id)
        .await
        .expect("signed roster");
    // Another case with the same SEs in other slots (held by other managers, so this test's
    // client has no work in it): a genuine roster, but not this case's.
    let mut others_managers = Vec::new();
    for i in 0..3 {
        others_managers.push(world.new_manager(&format!("other{i}")).await);
    }
    let other = world
        .db
        .create_case(
            "other case",
            std::array::from_fn(|i| offline_db::ManagerSlot {
                user_id: others_managers[i].clone(),
                se_id: world.ses[(i + 1) % 3].id.clone(),
            }),
            &[crate::world::CHAIN_ID],
            &world.admin,
            chrono::Utc::now(),
        )
        .await
        .unwrap();
    let others = other.roster.clone().expect("signed roster");
    // The same slots, signed by a key the insider holds instead of the offline HSM.
    let mut forged = contracts::CaseRoster::from_bytes(&genuine).unwrap();
    let insider = SoftSigner::from_seed([0x66; 32]);
    forged = contracts::CaseRoster::sign(forged.case_id, forged.slots, forged.issued_at, &insider)
        .unwrap();
    assert_ne!(insider.public_key(), world.hsm.envelope_public_key());

    // What an unfinished keygen would have left in SE 0 for this case.
    let slot = se::ShareSlot::new(&case_id, 0).unwrap();
    world
        .open_se(0)
        .seal_share(&slot, b"leftover of an unfinished keygen")
        .unwrap();

    let cases: [(&str, Option<Vec<u8>>, &str); 3] = [
        (
            "no roster",
            None,
            "the coordinator sent no signed roster for case",
        ),
        (
            "an insider's roster",
            Some(forged.to_bytes().unwrap()),
            "is not the one the offline HSM signed for it",
        ),
        (
            "another case's roster",
            Some(others),
            "is not the one the offline HSM signed for it",
        ),
    ];
    for (what, roster, says) in cases {
        set_roster(&world, &case_id, roster).await;
        let mut client = keygen_client(&world, &world.managers[0].clone(), 0);
        let status = client.wait(WAIT).await;
        let out = client.output();
        assert!(status.success(), "{what}: {out}");
        assert!(
            out.contains("not taking part in the keygen of case roster forgery")
                && out.contains(says),
            "{what}: {out}"
        );
        assert!(!out.contains("removing the share"), "{what}: {out}");
        assert_eq!(shares_of(&world, 0, &case_id), vec![0], "{what}");
    }
    let case = world.db.case(&case_id).await.unwrap().unwrap();
    assert_eq!(case.status, CaseStatus::Draft);
    assert!(world
        .db
        .sessions(Some(&case_id), None, 10)
        .await
        .unwrap()
        .is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn signing_without_the_hsm_signed_roster_is_refused_and_nothing_is_signed() {
    let world = World::new(fast()).await;
    let (case_id, address) = world.keyed_case("unrostered signing").await;
    set_roster(&world, &case_id, None).await;
    let (request, envelope) = world.request(&address, 0);
    let imported = world.import(&envelope).await;
    let row_id = imported["id"].as_str().unwrap().to_owned();
    let hash = format!("0x{}", hex::encode(request.signing_hash));
    let mut clients: Vec<ClientProc> = (0..2)
        .map(|i| {
            let pin = world.ses[i].pin.clone();
            world.client(
                &world.managers[i].clone(),
                i,
                &pin,
                &["--approve-hash", &hash, "--idle-exit-secs", "4"],
            )
        })
        .collect();
    for c in &mut clients {
        let status = c.wait(WAIT).await;
        let out = c.output();
        assert!(status.success(), "{out}");
        assert!(
            out.contains("not signing: the coordinator sent no signed roster for case"),
            "{out}"
        );
        assert!(!out.contains("signing with shares"), "{out}");
    }
    assert!(world.db.signature_for(&row_id).await.unwrap().is_none());
    let request = world.db.signing_request(&row_id).await.unwrap();
    assert_ne!(request.status, offline_db::SigningRequestStatus::Signed);
}
