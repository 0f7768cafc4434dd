//! Status and role values, stored as the upper-case strings the CHECK constraints allow.

use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

/// A user's role in the offline zone.
#[derive(Clone, Copy, Debug, PartialEq, Eq, EnumIter, DeriveActiveEnum, Serialize, Deserialize)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::None)")]
pub enum Role {
    /// No role yet: a self-registered account awaiting an administrator. It may manage only its
    /// own account.
    #[sea_orm(string_value = "NONE")]
    Unassigned,
    /// Manages users, SEs and cases.
    #[sea_orm(string_value = "ADMIN")]
    Admin,
    /// Holds key shares in SEs.
    #[sea_orm(string_value = "CASE_MANAGER")]
    CaseManager,
    /// Imports signing requests and exports responses.
    #[sea_orm(string_value = "OPERATOR")]
    Operator,
    /// Reads the logs.
    #[sea_orm(string_value = "AUDITOR")]
    Auditor,
}

/// Whether a user may log in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, EnumIter, DeriveActiveEnum, Serialize, Deserialize)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::None)")]
pub enum UserStatus {
    /// May log in.
    #[sea_orm(string_value = "ACTIVE")]
    Active,
    /// May not log in.
    #[sea_orm(string_value = "DISABLED")]
    Disabled,
}

/// The state of a secure element.
#[derive(Clone, Copy, Debug, PartialEq, Eq, EnumIter, DeriveActiveEnum, Serialize, Deserialize)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::None)")]
pub enum SeStatus {
    /// In service.
    #[sea_orm(string_value = "ACTIVE")]
    Active,
    /// Out of service for now.
    #[sea_orm(string_value = "INACTIVE")]
    Inactive,
    /// Reported lost: its cases need a re-key.
    #[sea_orm(string_value = "LOST")]
    Lost,
    /// Its certificate is revoked.
    #[sea_orm(string_value = "REVOKED")]
    Revoked,
}

/// The life cycle of a case.
#[derive(Clone, Copy, Debug, PartialEq, Eq, EnumIter, DeriveActiveEnum, Serialize, Deserialize)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::None)")]
pub enum CaseStatus {
    /// Managers and SEs assigned, keygen not started.
    #[sea_orm(string_value = "DRAFT")]
    Draft,
    /// Keygen is running.
    #[sea_orm(string_value = "KEYGEN")]
    Keygen,
    /// The key exists and can sign.
    #[sea_orm(string_value = "ACTIVE")]
    Active,
    /// Kept for the record; signs nothing new.
    #[sea_orm(string_value = "ARCHIVED")]
    Archived,
}

/// Whether a key-share binding is current.
#[derive(Clone, Copy, Debug, PartialEq, Eq, EnumIter, DeriveActiveEnum, Serialize, Deserialize)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::None)")]
pub enum KeyShareStatus {
    /// The current holder of the share.
    #[sea_orm(string_value = "ACTIVE")]
    Active,
    /// A former holder (after a manager change).
    #[sea_orm(string_value = "INACTIVE")]
    Inactive,
}

/// The status of an imported signing request.
#[derive(Clone, Copy, Debug, PartialEq, Eq, EnumIter, DeriveActiveEnum, Serialize, Deserialize)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::None)")]
pub enum SigningRequestStatus {
    /// Verified and stored.
    #[sea_orm(string_value = "IMPORTED")]
    Imported,
    /// A signing session runs.
    #[sea_orm(string_value = "SIGNING")]
    Signing,
    /// A signature exists.
    #[sea_orm(string_value = "SIGNED")]
    Signed,
    /// The response was exported.
    #[sea_orm(string_value = "EXPORTED")]
    Exported,
    /// Signing failed.
    #[sea_orm(string_value = "FAILED")]
    Failed,
    /// The request expired before it was signed.
    #[sea_orm(string_value = "EXPIRED")]
    Expired,
}

/// What a protocol session runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, EnumIter, DeriveActiveEnum, Serialize, Deserialize)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::None)")]
pub enum SessionKind {
    /// Distributed key generation (with aux info) for a case.
    #[sea_orm(string_value = "KEYGEN")]
    Keygen,
    /// 2-of-3 signing of one or more requests of a case.
    #[sea_orm(string_value = "SIGN")]
    Sign,
}

/// Where a protocol session is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, EnumIter, DeriveActiveEnum, Serialize, Deserialize)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::None)")]
pub enum SessionStatus {
    /// Waiting for enough participants.
    #[sea_orm(string_value = "PENDING")]
    Pending,
    /// The protocol runs.
    #[sea_orm(string_value = "RUNNING")]
    Running,
    /// Finished with a result.
    #[sea_orm(string_value = "COMPLETED")]
    Completed,
    /// Stopped on an error (the error column says which).
    #[sea_orm(string_value = "FAILED")]
    Failed,
    /// Not completed in time.
    #[sea_orm(string_value = "EXPIRED")]
    Expired,
}

/// Where one participant of a session is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, EnumIter, DeriveActiveEnum, Serialize, Deserialize)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::None)")]
pub enum ParticipantStatus {
    /// Invited; has not joined.
    #[sea_orm(string_value = "WAITING")]
    Waiting,
    /// Joined through an authenticated channel; its share is available.
    #[sea_orm(string_value = "READY")]
    Ready,
    /// Took part in the finished run.
    #[sea_orm(string_value = "DONE")]
    Done,
    /// Failed or was refused.
    #[sea_orm(string_value = "FAILED")]
    Failed,
}
