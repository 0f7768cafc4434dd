//! `m0012_se_key_once`: an SE identity key can be registered once (issue 15). Two serials with
//! one key would let an admin certify a second "secure element" that is really the first one
//! (or a software key pair); the repository refuses it, and this unique index makes the refusal
//! hold under concurrent registrations too.

use sea_orm_migration::prelude::*;

/// The step.
pub struct M0012SeKeyOnce;

impl MigrationName for M0012SeKeyOnce {
    fn name(&self) -> &str {
        "m0012_se_key_once"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for M0012SeKeyOnce {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_index(
            Index::create()
                .name("secure_elements_identity_key_once")
                .table("secure_elements")
                .col("identity_public_key")
                .unique()
                .to_owned(),
        )
        .await
    }

    fn use_transaction(&self) -> Option<bool> {
        Some(true)
    }
}
