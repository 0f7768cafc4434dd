//! The two tables of the audit log: the records and the one-row head that serialises appends.

/// One audit record. `seq` is assigned by [`crate::append`], never by the database, so a gap is
/// evidence of a deleted record rather than of a rolled-back sequence value.
pub mod audit_log {
    use sea_orm::entity::prelude::*;

    /// A stored audit record.
    #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
    #[sea_orm(table_name = "audit_log")]
    pub struct Model {
        /// Position in the chain, from 1, without gaps.
        #[sea_orm(primary_key, auto_increment = false)]
        pub seq: i64,
        /// When the audited change happened (UTC, microseconds).
        pub at: DateTimeUtc,
        /// Who made the change (a user id or a service name).
        pub actor: String,
        /// What was done, e.g. `case.created`.
        pub action: String,
        /// What it was done to, e.g. a case id.
        pub object: String,
        /// Structured details; never secrets.
        pub details: Json,
        /// The previous record's hash (hex); 64 zeros for the first record.
        pub prev_hash: String,
        /// This record's hash (hex).
        pub hash: String,
    }

    /// The audit log has no relations: it names objects by id so it outlives them.
    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// The chain's head: the last sequence number and hash. Appends lock this row, so two writers
/// can never both extend the same record; `verify` also compares it with the last record, which
/// reveals a record deleted from the end of the chain.
pub mod audit_head {
    use sea_orm::entity::prelude::*;

    /// The single head row (`id = 1`).
    #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
    #[sea_orm(table_name = "audit_head")]
    pub struct Model {
        /// Always 1.
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: i32,
        /// The last record's `seq`, 0 when the log is empty.
        pub seq: i64,
        /// The last record's hash (hex), 64 zeros when the log is empty.
        pub hash: String,
    }

    /// No relations.
    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}
