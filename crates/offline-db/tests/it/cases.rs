use offline_db::entity::{case_manager_changes, outbox, secure_elements};
use offline_db::{subjects, CaseStatus, Error, KeyShareStatus, ManagerReplacement, SeStatus};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};

use crate::on_both;

#[tokio::test]
async fn create_case_writes_case_shares_audit_and_outbox_together() {
    on_both!(|w| {
        let before = w.counts().await;
        let case =
            w.db.create_case(
                "Treasury",
                w.slots([0, 1, 2], [0, 1, 2]),
                &[1, 11155111],
                &w.admin.id,
                w.now(),
            )
            .await
            .unwrap();
        assert_eq!(case.status, CaseStatus::Draft);
        assert_eq!((case.threshold_t, case.parties_n), (2, 3));
        let after = w.counts().await;
        assert_eq!(after.cases, before.cases + 1);
        assert_eq!(after.key_shares, before.key_shares + 3);
        assert_eq!(after.outbox, before.outbox + 1);
        assert_eq!(after.audit, before.audit + 1);

        let shares = w.db.key_shares_by_case(&case.id).await.unwrap();
        assert_eq!(shares.len(), 3);
        for (i, k) in shares.iter().enumerate() {
            assert_eq!(k.share_index, i as i32);
            assert_eq!(k.user_id, w.managers[i].id);
            assert_eq!(k.se_id, w.ses[i].id);
            assert_eq!(k.status, KeyShareStatus::Active);
            assert_eq!(k.public_key, None);
        }
        let rec = w.last_audit().await;
        assert_eq!(
            (rec.action.as_str(), rec.object.as_str()),
            ("case.created", case.id.as_str())
        );
        assert_eq!(rec.actor, w.admin.id);
        assert_eq!(rec.details["slots"][2]["se_serial"], "SE0002");

        let events = w.db.outbox_pending(10).await.unwrap();
        assert_eq!(events.len(), 1);
        assert_eq!(events[0].subject, subjects::CASE_CREATED);
        let body: serde_json::Value = serde_json::from_slice(&events[0].payload).unwrap();
        assert_eq!(body["case_id"], case.id.as_str());
        assert_eq!(body["event_id"], events[0].msg_id.as_str());
        assert_eq!(body["slots"].as_array().unwrap().len(), 3);
        w.db.outbox_mark_published(&events[0].id, w.now())
            .await
            .unwrap();
        assert!(w.db.outbox_pending(10).await.unwrap().is_empty());
    });
}

/// Each rule broken once: the error names the field, and nothing is written — no case, no
/// key share, no event, no audit record.
#[tokio::test]
async fn create_case_validation_matrix() {
    on_both!(|w| {
        // An existing case holds SE 3 in slot 0, SE 4 in slot 1.
        let other =
            w.db.create_case(
                "Other",
                w.slots([3, 4, 0], [3, 4, 0]),
                &[1],
                &w.admin.id,
                w.now(),
            )
            .await
            .unwrap();
        w.mark_se(2, SeStatus::Lost).await;
        let m = |i: usize| w.managers[i].id.clone();
        let s = |i: usize| w.ses[i].id.clone();
        let slot = |u: String, e: String| offline_db::ManagerSlot {
            user_id: u,
            se_id: e,
        };
        let cases: Vec<(&str, String, [offline_db::ManagerSlot; 3], &str)> = vec![
            (
                "empty name",
                "  ".into(),
                w.slots([0, 1, 2], [0, 1, 4]),
                "name",
            ),
            (
                "same user twice",
                "c".into(),
                [slot(m(0), s(0)), slot(m(0), s(1)), slot(m(1), s(4))],
                "managers",
            ),
            (
                "same SE twice",
                "c".into(),
                [slot(m(0), s(0)), slot(m(1), s(0)), slot(m(2), s(4))],
                "managers",
            ),
            (
                "unknown user",
                "c".into(),
                [
                    slot(m(0), s(0)),
                    slot("no-such-user".into(), s(1)),
                    slot(m(2), s(4)),
                ],
                "managers[1].user_id",
            ),
            (
                "not a case manager",
                "c".into(),
                [
                    slot(m(0), s(0)),
                    slot(m(1), s(1)),
                    slot(w.operator.id.clone(), s(4)),
                ],
                "managers[2].user_id",
            ),
            (
                "disabled manager",
                "c".into(),
                [
                    slot(w.disabled.id.clone(), s(0)),
                    slot(m(1), s(1)),
                    slot(m(2), s(4)),
                ],
                "managers[0].user_id",
            ),
            (
                "unknown SE",
                "c".into(),
                [
                    slot(m(0), s(0)),
                    slot(m(1), "no-such-se".into()),
                    slot(m(2), s(4)),
                ],
                "managers[1].se_id",
            ),
            (
                "lost SE",
                "c".into(),
                [slot(m(0), s(0)), slot(m(1), s(1)), slot(m(2), s(2))],
                "managers[2].se_id",
            ),
            (
                "SE in the same slot of a live case",
                "c".into(),
                [slot(m(0), s(3)), slot(m(1), s(1)), slot(m(2), s(4))],
                "managers[0].se_id",
            ),
        ];
        let before = w.counts().await;
        for (what, name, slots, field) in cases {
            let err =
                w.db.create_case(&name, slots, &[1], &w.admin.id, w.now())
                    .await
                    .unwrap_err();
            match &err {
                Error::Validation { field: f, .. } => assert_eq!(f, field, "{what}: {err}"),
                other => panic!("{what}: expected a validation error, got {other}"),
            }
            assert_eq!(w.counts().await, before, "{what}: something was written");
        }
        let err =
            w.db.create_case(
                "c",
                w.slots([0, 1, 2], [0, 1, 4]),
                &[1],
                "not-a-user",
                w.now(),
            )
            .await
            .unwrap_err();
        assert!(matches!(err, Error::Validation { ref field, .. } if field == "actor"));
        assert_eq!(w.counts().await, before);

        // The same SE in a *different* slot of a live case is allowed …
        w.db.create_case(
            "Shifted",
            w.slots([0, 1, 2], [1, 3, 4]),
            &[1],
            &w.admin.id,
            w.now(),
        )
        .await
        .unwrap();
        // … and the same slot is free again once the other case is archived.
        w.db.archive_case(&other.id, &w.admin.id, w.now())
            .await
            .unwrap();
        w.db.create_case(
            "Reused",
            w.slots([0, 1, 2], [3, 0, 1]),
            &[1],
            &w.admin.id,
            w.now(),
        )
        .await
        .unwrap();
    });
}

#[tokio::test]
async fn replace_manager_rebinds_the_share_and_audits_both_managers() {
    on_both!(|w| {
        let case =
            w.db.create_case(
                "Treasury",
                w.slots([0, 1, 2], [0, 1, 2]),
                &[1],
                &w.admin.id,
                w.now(),
            )
            .await
            .unwrap();
        w.db.complete_keygen(&case.id, "02aa", "0xabc", "shard-registry", w.now())
            .await
            .unwrap();
        let before = w.counts().await;
        let new_row =
            w.db.replace_manager(
                ManagerReplacement {
                    case_id: case.id.clone(),
                    share_index: 1,
                    new_user_id: w.managers[3].id.clone(),
                    pin_reset_by: w.officer.id.clone(),
                    reason: "manager1 left the team".into(),
                },
                &w.admin.id,
                w.now(),
            )
            .await
            .unwrap();
        assert_eq!(new_row.user_id, w.managers[3].id);
        assert_eq!(new_row.se_id, w.ses[1].id, "the SE stays with the share");
        assert_eq!(new_row.share_index, 1);
        assert_eq!(new_row.public_key.as_deref(), Some("02aa"));

        let current = w.db.key_shares_by_case(&case.id).await.unwrap();
        assert_eq!(
            current
                .iter()
                .map(|k| k.user_id.clone())
                .collect::<Vec<_>>(),
            [
                w.managers[0].id.clone(),
                w.managers[3].id.clone(),
                w.managers[2].id.clone()
            ]
        );
        assert!(
            current.iter().all(|k| k.user_id != w.managers[1].id),
            "the old manager lost the share"
        );
        let by_key = w.db.key_shares_by_public_key("02aa").await.unwrap();
        assert_eq!(by_key, current);
        let history = w.db.key_share_history(&case.id).await.unwrap();
        let old = history
            .iter()
            .find(|k| k.user_id == w.managers[1].id)
            .unwrap();
        assert_eq!(old.status, KeyShareStatus::Inactive);
        assert!(old.deactivated_at.is_some());

        let changes = case_manager_changes::Entity::find()
            .filter(case_manager_changes::Column::CaseId.eq(case.id.as_str()))
            .all(w.db.conn())
            .await
            .unwrap();
        assert_eq!(changes.len(), 1);
        assert_eq!(
            (
                changes[0].from_user_id.as_str(),
                changes[0].to_user_id.as_str(),
                changes[0].pin_reset_by.as_str()
            ),
            (
                w.managers[1].id.as_str(),
                w.managers[3].id.as_str(),
                w.officer.id.as_str()
            )
        );
        let se = secure_elements::Entity::find_by_id(w.ses[1].id.clone())
            .one(w.db.conn())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            se.holder_user_id.as_deref(),
            Some(w.managers[3].id.as_str())
        );

        let rec = w.last_audit().await;
        assert_eq!(rec.action, "case.manager_replaced");
        assert_eq!(rec.details["from_username"], "manager1");
        assert_eq!(rec.details["to_username"], "manager3");
        assert_eq!(rec.details["pin_reset_by"], w.officer.id.as_str());
        let ev = outbox::Entity::find()
            .filter(outbox::Column::Subject.eq(subjects::CASE_MANAGER_REPLACED))
            .one(w.db.conn())
            .await
            .unwrap()
            .unwrap();
        let body: serde_json::Value = serde_json::from_slice(&ev.payload).unwrap();
        assert_eq!(body["from_user_id"], w.managers[1].id.as_str());
        assert_eq!(body["to_user_id"], w.managers[3].id.as_str());
        let after = w.counts().await;
        assert_eq!(after.key_shares, before.key_shares + 1);
        assert_eq!(after.audit, before.audit + 1);
        assert_eq!(after.outbox, before.outbox + 1);

        // Rejections write nothing.
        let before = w.counts().await;
        let attempt = |user: &str, officer: &str, index: i32| ManagerReplacement {
            case_id: case.id.clone(),
            share_index: index,
            new_user_id: user.to_owned(),
            pin_reset_by: officer.to_owned(),
            reason: "r".into(),
        };
        let bad = [
            (
                "already a manager of the case",
                attempt(&w.managers[0].id, &w.officer.id, 1),
                "new_user_id",
            ),
            (
                "not a case manager",
                attempt(&w.operator.id, &w.officer.id, 1),
                "new_user_id",
            ),
            (
                "disabled",
                attempt(&w.disabled.id, &w.officer.id, 1),
                "new_user_id",
            ),
            (
                "PIN reset by the new manager",
                attempt(&w.managers[4].id, &w.managers[4].id, 1),
                "pin_reset_by",
            ),
            (
                "unknown officer",
                attempt(&w.managers[4].id, "nobody", 1),
                "pin_reset_by",
            ),
            (
                "share index 3",
                attempt(&w.managers[4].id, &w.officer.id, 3),
                "share_index",
            ),
        ];
        for (what, change, field) in bad {
            let err =
                w.db.replace_manager(change, &w.admin.id, w.now())
                    .await
                    .unwrap_err();
            assert!(
                matches!(err, Error::Validation { field: ref f, .. } if f == field),
                "{what}: {err}"
            );
            assert_eq!(w.counts().await, before, "{what}");
        }
        w.db.archive_case(&case.id, &w.admin.id, w.now())
            .await
            .unwrap();
        let before = w.counts().await;
        let err =
            w.db.replace_manager(
                attempt(&w.managers[4].id, &w.officer.id, 0),
                &w.admin.id,
                w.now(),
            )
            .await
            .unwrap_err();
        assert!(matches!(err, Error::Conflict(_)), "{err}");
        assert_eq!(w.counts().await, before);
    });
}

#[tokio::test]
async fn archive_and_delete_rules() {
    on_both!(|w| {
        // A draft case (no key yet) can be deleted outright.
        let draft =
            w.db.create_case(
                "Draft",
                w.slots([0, 1, 2], [0, 1, 2]),
                &[1],
                &w.admin.id,
                w.now(),
            )
            .await
            .unwrap();
        let before = w.counts().await;
        w.db.delete_case(&draft.id, &w.admin.id, w.now())
            .await
            .unwrap();
        let after = w.counts().await;
        assert_eq!(after.cases, before.cases - 1);
        assert_eq!(after.key_shares, before.key_shares - 3);
        assert_eq!(w.last_audit().await.action, "case.deleted");
        assert!(w.db.case(&draft.id).await.unwrap().is_none());
        let err =
            w.db.delete_case(&draft.id, &w.admin.id, w.now())
                .await
                .unwrap_err();
        assert!(matches!(err, Error::NotFound { .. }), "{err}");

        // A case with key shares: archive yes, delete only with a zero-balance attestation
        // for its own address.
        let live =
            w.db.create_case(
                "Live",
                w.slots([0, 1, 2], [0, 1, 2]),
                &[1],
                &w.admin.id,
                w.now(),
            )
            .await
            .unwrap();
        w.db.complete_keygen(&live.id, "03bb", "0xLiVe", "shard-registry", w.now())
            .await
            .unwrap();
        let before = w.counts().await;
        let err =
            w.db.delete_case(&live.id, &w.admin.id, w.now())
                .await
                .unwrap_err();
        assert!(
            matches!(err, Error::Conflict(ref m) if m.contains("archive")),
            "{err}"
        );
        assert_eq!(w.counts().await, before, "refused deletes write nothing");
        // An attestation for another address, an old one, and one showing funds do not count.
        w.db.import_balance_attestation(
            w.attestation("att-0", "0xother", 99, true),
            &w.operator.id,
            w.now(),
        )
        .await
        .unwrap();
        let before = w.counts().await;
        let err =
            w.db.delete_case(&live.id, &w.admin.id, w.now())
                .await
                .unwrap_err();
        assert!(
            matches!(err, Error::Conflict(ref m) if m.contains("zero-balance attestation")),
            "{err}"
        );
        assert_eq!(w.counts().await, before, "refused deletes write nothing");
        let mut stale = w.attestation("att-1", "0xLiVe", 100, true);
        stale.issued_at = w.now() - chrono::Duration::hours(25);
        w.db.import_balance_attestation(stale, &w.operator.id, w.now())
            .await
            .unwrap();
        let before = w.counts().await;
        let err =
            w.db.delete_case(&live.id, &w.admin.id, w.now())
                .await
                .unwrap_err();
        assert!(
            matches!(err, Error::Conflict(ref m) if m.contains("fresh")),
            "{err}"
        );
        assert_eq!(w.counts().await, before, "refused deletes write nothing");
        w.db.import_balance_attestation(
            w.attestation("att-2", "0xLiVe", 101, false),
            &w.operator.id,
            w.now(),
        )
        .await
        .unwrap();
        let before = w.counts().await;
        let err =
            w.db.delete_case(&live.id, &w.admin.id, w.now())
                .await
                .unwrap_err();
        assert!(
            matches!(err, Error::Conflict(ref m) if m.contains("shows funds")),
            "{err}"
        );
        assert_eq!(w.counts().await, before, "refused deletes write nothing");
        // The same attestation cannot be imported twice.
        let err =
            w.db.import_balance_attestation(
                w.attestation("att-2", "0xLiVe", 101, false),
                &w.operator.id,
                w.now(),
            )
            .await
            .unwrap_err();
        assert!(matches!(err, Error::AlreadyImported { .. }), "{err}");
        assert_eq!(w.counts().await, before, "refused deletes write nothing");

        let archived =
            w.db.archive_case(&live.id, &w.admin.id, w.now())
                .await
                .unwrap();
        assert_eq!(archived.status, CaseStatus::Archived);
        assert_eq!(
            w.db.key_shares_by_case(&live.id).await.unwrap().len(),
            3,
            "archiving keeps the shares"
        );
        let err =
            w.db.archive_case(&live.id, &w.admin.id, w.now())
                .await
                .unwrap_err();
        assert!(matches!(err, Error::Conflict(_)), "{err}");

        w.db.import_balance_attestation(
            w.attestation("att-3", "0xLiVe", 102, true),
            &w.operator.id,
            w.now(),
        )
        .await
        .unwrap();
        w.db.delete_case(&live.id, &w.admin.id, w.now())
            .await
            .unwrap();
        let rec = w.last_audit().await;
        assert_eq!(rec.action, "case.deleted");
        assert_eq!(rec.details["attestation"]["id"], "att-3");
        assert_eq!(rec.details["public_key"], "03bb");
        let ev = outbox::Entity::find()
            .filter(outbox::Column::Subject.eq(subjects::CASE_DELETED))
            .all(w.db.conn())
            .await
            .unwrap();
        assert_eq!(ev.len(), 2);
    });
}
