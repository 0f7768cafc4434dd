//! The online zone's column helpers: the shared ones ([`migration_kit`]) plus amounts, chain ids
//! and flags.

pub use migration_kit::*;
use sea_orm_migration::prelude::*;

/// A required amount in base units: the decimal text form of `contracts::Amount` (at most 78
/// digits), because no SQL integer holds 256 bits. The repository writes only parsed amounts;
/// the CHECK keeps out the empty string, the one value a careless direct edit is likely to leave.
pub fn amount(name: &'static str) -> ColumnDef {
    ColumnDef::new(name)
        .string_len(78)
        .not_null()
        .check(Expr::col(name).ne(""))
        .to_owned()
}

/// A required EIP-155 chain id (positive).
pub fn chain_id(name: &'static str) -> ColumnDef {
    ColumnDef::new(name)
        .big_integer()
        .not_null()
        .check(Expr::col(name).gt(0))
        .to_owned()
}

/// A required flag.
pub fn flag(name: &'static str) -> ColumnDef {
    ColumnDef::new(name).boolean().not_null().to_owned()
}
