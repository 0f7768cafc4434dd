//! The offline zone's column helpers: the shared ones ([`migration_kit`]) and the share index.

pub use migration_kit::*;
use sea_orm_migration::prelude::*;

/// A share index: 0, 1 or 2.
pub fn share_index(name: &'static str) -> ColumnDef {
    ColumnDef::new(name)
        .integer()
        .not_null()
        .check(Expr::col(name).is_in([0, 1, 2]))
        .to_owned()
}
