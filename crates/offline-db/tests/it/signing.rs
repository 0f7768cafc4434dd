use offline_db::{Error, NewSigningRequest, SigningRequestStatus};
use serde_json::json;

use crate::on_both;

#[tokio::test]
async fn signing_request_is_recorded_once_and_a_replay_is_rejected() {
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
        let request = |id: &str| NewSigningRequest {
            request_id: id.to_owned(),
            case_id: case.id.clone(),
            tx_hash: "0x1234".into(),
            decoded: json!({"to": "0xdead", "value": "1000", "chain_id": 1}),
        };
        // A draft case cannot sign.
        let before = w.counts().await;
        let err =
            w.db.record_signing_request(request("req-0"), &w.operator.id, w.now())
                .await
                .unwrap_err();
        assert!(matches!(err, Error::Conflict(_)), "{err}");
        assert_eq!(w.counts().await, before);

        w.db.complete_keygen(&case.id, "02cc", "0xcase", "shard-registry", w.now())
            .await
            .unwrap();
        let row =
            w.db.record_signing_request(request("req-1"), &w.operator.id, w.now())
                .await
                .unwrap();
        assert_eq!(row.status, SigningRequestStatus::Imported);
        assert_eq!(row.decoded["value"], "1000");
        let rec = w.last_audit().await;
        assert_eq!(rec.action, "signing_request.imported");
        assert_eq!(rec.details["request_id"], "req-1");
        let events = w.db.outbox_pending(100).await.unwrap();
        let ev = events.last().unwrap();
        assert_eq!(ev.subject, offline_db::subjects::SIGNING_REQUESTED);
        let body: serde_json::Value = serde_json::from_slice(&ev.payload).unwrap();
        assert_eq!(body["request_id"], "req-1");

        let before = w.counts().await;
        let err =
            w.db.record_signing_request(request("req-1"), &w.operator.id, w.now())
                .await
                .unwrap_err();
        assert!(
            matches!(err, Error::Replay { ref request_id } if request_id == "req-1"),
            "{err}"
        );
        assert!(err.to_string().contains("only once"));
        assert_eq!(w.counts().await, before);

        // A case with signing history cannot be deleted, even with an attestation.
        let att = offline_db::ZeroBalanceAttestation {
            attestation_id: "a".into(),
            address: "0xcase".into(),
            block_number: 1,
        };
        let err =
            w.db.delete_case(&case.id, Some(&att), &w.admin.id, w.now())
                .await
                .unwrap_err();
        assert!(
            matches!(err, Error::Conflict(ref m) if m.contains("signing history")),
            "{err}"
        );
    });
}

#[tokio::test]
async fn audit_chain_verifies_after_a_series_of_operations() {
    on_both!(|w| {
        for i in 0..3 {
            let case =
                w.db.create_case(
                    &format!("c{i}"),
                    w.slots([0, 1, 2], [i, i + 1, i + 2]),
                    &[1],
                    &w.admin.id,
                    w.now(),
                )
                .await
                .unwrap();
            if i == 1 {
                w.db.archive_case(&case.id, &w.admin.id, w.now())
                    .await
                    .unwrap();
            }
        }
        let report = w.db.verify_audit().await.unwrap();
        assert!(report.is_intact());
        // 9 users + 1 disable + 5 SEs in the world, 3 cases, 1 archive.
        assert_eq!(report.records, 9 + 1 + 5 + 3 + 1);
        // Tamper with one record directly in the database: verify names it.
        use sea_orm::ConnectionTrait;
        w.db.conn()
            .execute_unprepared("UPDATE audit_log SET actor = 'mallory' WHERE seq = 17")
            .await
            .unwrap();
        let report = w.db.verify_audit().await.unwrap();
        assert_eq!(report.first_broken.unwrap().seq, 17);
        // Put it back so the macro's final check passes.
        let original = w.admin.id.clone();
        w.db.conn()
            .execute_unprepared(&format!(
                "UPDATE audit_log SET actor = '{original}' WHERE seq = 17"
            ))
            .await
            .unwrap();
    });
}
