//! `m0011_sign_in_throttle`: the sign-in throttle's counters (issue 15), replacing the lockout that an
//! anonymous attacker could keep renewing. See [`migration_kit::create_throttle_table`].

use sea_orm_migration::prelude::*;

/// The step.
pub struct M0011SignInThrottle;

impl MigrationName for M0011SignInThrottle {
    fn name(&self) -> &str {
        "m0011_sign_in_throttle"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for M0011SignInThrottle {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        migration_kit::create_throttle_table(m).await
    }

    fn use_transaction(&self) -> Option<bool> {
        Some(true)
    }
}
