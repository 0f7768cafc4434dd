//! `m0014_se_enrolment`: proof of possession at SE enrolment (issue 15). A case manager asks the
//! offline zone for a one-time challenge (`se_enrolment_challenges`), their SE signs it with its
//! identity key (`custody-client enroll --challenge`), and the registration proposal carries the
//! proof; the SE record keeps who enrolled it and when (`secure_elements.enrolled_by`,
//! `enrolled_at`). A case can only use an SE its own manager enrolled. SEs registered before this
//! step have no enroller and cannot join a new case until they are enrolled again.

use sea_orm_migration::prelude::*;

use crate::schema::{fk, id, index, opt_ref_id, opt_ts, ref_id, text, ts};

/// The step.
pub struct M0014SeEnrolment;

impl MigrationName for M0014SeEnrolment {
    fn name(&self) -> &str {
        "m0014_se_enrolment"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for M0014SeEnrolment {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        for column in [opt_ref_id("enrolled_by"), opt_ts("enrolled_at")] {
            m.alter_table(
                Table::alter()
                    .table("secure_elements")
                    .add_column(column)
                    .to_owned(),
            )
            .await?;
        }
        m.create_table(
            Table::create()
                .table("se_enrolment_challenges")
                .col(id("id"))
                .col(ref_id("user_id"))
                .col(text("challenge"))
                .col(ts("issued_at"))
                .col(ts("expires_at"))
                .col(opt_ts("used_at"))
                .foreign_key(&mut fk("se_enrolment_challenges", "user_id", "users"))
                .to_owned(),
        )
        .await?;
        index(m, "se_enrolment_challenges", &["challenge"], true).await
    }

    fn use_transaction(&self) -> Option<bool> {
        Some(true)
    }
}
