//! Role and status values, stored as the upper-case strings the CHECK constraints allow and
//! serialised (into log details) as the same strings.

use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

/// A user's role in the online zone.
#[derive(Clone, Copy, Debug, PartialEq, Eq, EnumIter, DeriveActiveEnum, Serialize, Deserialize)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::None)")]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Role {
    /// No role: a fresh user, with no rights until an administrator grants one.
    #[sea_orm(string_value = "NONE")]
    #[serde(rename = "NONE")]
    Unassigned,
    /// Manages users, roles, accounts, policies and tokens.
    #[sea_orm(string_value = "ADMIN")]
    Admin,
    /// 授权用户: builds, approves and exports transfers on the accounts granted to them.
    #[sea_orm(string_value = "TRADER")]
    Trader,
    /// 审计用户: reads the logs, changes nothing.
    #[sea_orm(string_value = "AUDITOR")]
    Auditor,
}

/// Whether a user may log in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, EnumIter, DeriveActiveEnum, Serialize, Deserialize)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::None)")]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum UserStatus {
    /// May log in.
    #[sea_orm(string_value = "ACTIVE")]
    Active,
    /// May not log in; their sessions were revoked.
    #[sea_orm(string_value = "DISABLED")]
    Disabled,
}

/// The life cycle of a transfer: DRAFT → EXPORTED → SIGNED → BROADCAST → CONFIRMED, or FAILED
/// from any state before CONFIRMED. [`TransferStatus::can_become`] is the whole table.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum, Serialize, Deserialize,
)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::None)")]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum TransferStatus {
    /// Built and stored, not yet exported (approval may be pending).
    #[sea_orm(string_value = "DRAFT")]
    Draft,
    /// The signing request was exported to the offline zone.
    #[sea_orm(string_value = "EXPORTED")]
    Exported,
    /// A verified signature response was imported; broadcast is queued.
    #[sea_orm(string_value = "SIGNED")]
    Signed,
    /// Sent to the network.
    #[sea_orm(string_value = "BROADCAST")]
    Broadcast,
    /// Final: enough confirmations.
    #[sea_orm(string_value = "CONFIRMED")]
    Confirmed,
    /// Final: abandoned, rejected, dropped or reverted.
    #[sea_orm(string_value = "FAILED")]
    Failed,
}

impl TransferStatus {
    /// Whether a transfer in this status may move to `next`. CONFIRMED and FAILED are final.
    pub fn can_become(self, next: TransferStatus) -> bool {
        use TransferStatus::*;
        matches!(
            (self, next),
            (Draft, Exported)
                | (Exported, Signed)
                | (Signed, Broadcast)
                | (Broadcast, Confirmed)
                | (Draft | Exported | Signed | Broadcast, Failed)
        )
    }

    /// The statuses of a transfer whose nonce is taken on chain or about to be: exported, not
    /// yet final.
    pub const IN_FLIGHT: [TransferStatus; 3] = [
        TransferStatus::Exported,
        TransferStatus::Signed,
        TransferStatus::Broadcast,
    ];

    /// The stored string, e.g. `BROADCAST`.
    pub fn as_str(self) -> &'static str {
        use TransferStatus::*;
        match self {
            Draft => "DRAFT",
            Exported => "EXPORTED",
            Signed => "SIGNED",
            Broadcast => "BROADCAST",
            Confirmed => "CONFIRMED",
            Failed => "FAILED",
        }
    }
}

impl std::fmt::Display for TransferStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}
