//! Roles and the permission table for both zones (issues 3 and 5, DESIGN.md §0).
//!
//! The table is one `match` in [`Action::allowed_roles`], so the whole matrix is visible in one
//! place and a test can compare it cell by cell with an independent copy. Deny is the default:
//! a role may do exactly what its row lists. Finer rules that need data (a case manager acting
//! only on *their own* share, a trader only on accounts they may use, a checker who is not the
//! maker) are the API's job on top of this table.

use std::fmt;
use std::str::FromStr;

use crate::error::Error;

/// Which system a role or an action belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Zone {
    /// The air-gapped zone that holds the key shares.
    Offline,
    /// The internet-facing zone that builds and broadcasts transactions.
    Online,
}

/// A user's role. A user has exactly one; a fresh user has [`Role::Unassigned`] and may do
/// nothing but manage their own login until an admin grants a role.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Role {
    /// No role yet (stored as `none`).
    Unassigned,
    /// System administrator (系统管理员), both zones.
    Admin,
    /// Authorized user (授权用户): builds and submits transfers; online zone.
    Trader,
    /// Auditor (审计用户): read-only; both zones.
    Auditor,
    /// Case manager (案件管理员): holds one key share in an SE; offline zone.
    CaseManager,
    /// Operator: moves signing requests and responses across the air gap; offline zone.
    Operator,
}

impl Role {
    /// Every role, for exhaustive tests and for listing in a UI.
    pub const ALL: [Self; 6] = [
        Self::Unassigned,
        Self::Admin,
        Self::Trader,
        Self::Auditor,
        Self::CaseManager,
        Self::Operator,
    ];

    /// The stable string stored in the `role` column and used on the wire.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Unassigned => "none",
            Self::Admin => "admin",
            Self::Trader => "trader",
            Self::Auditor => "auditor",
            Self::CaseManager => "case_manager",
            Self::Operator => "operator",
        }
    }

    /// The zones in which this role can be granted.
    #[must_use]
    pub const fn zones(self) -> &'static [Zone] {
        match self {
            Self::Unassigned | Self::Admin | Self::Auditor => &[Zone::Offline, Zone::Online],
            Self::Trader => &[Zone::Online],
            Self::CaseManager | Self::Operator => &[Zone::Offline],
        }
    }

    /// Whether this role exists in `zone` (an admin must not grant `trader` offline).
    #[must_use]
    pub fn exists_in(self, zone: Zone) -> bool {
        self.zones().contains(&zone)
    }

    /// Whether a user with this role may perform `action`.
    #[must_use]
    pub fn may(self, action: Action) -> bool {
        action.allowed_roles().contains(&self)
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Role {
    type Err = Error;

    /// Parses the exact stable string (lower case); anything else is [`Error::UnknownRole`].
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|role| role.as_str() == s)
            .ok_or(Error::UnknownRole)
    }
}

/// Something a user may be allowed to do. Each action belongs to one zone, except
/// [`Action::ManageOwnAccount`].
// Not `#[non_exhaustive]`: adding an action should break every exhaustive match downstream
// (the API role checks and the table test), so each is revisited.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Action {
    /// Either zone: change one's own password, sign out, see one's own profile and sessions.
    ManageOwnAccount,

    /// Offline: create, disable and re-role users, reset a manager's PIN record.
    OfflineManageUsers,
    /// Offline: list users.
    OfflineViewUsers,
    /// Offline: register, enroll, mark lost or revoke secure elements.
    ManageSecureElements,
    /// Offline: list secure elements.
    ViewSecureElements,
    /// Offline: create, rename, archive, delete, re-key cases; replace a manager.
    ManageCases,
    /// Offline: list cases and their details.
    ViewCases,
    /// Offline: the key-share table (public key, share index → user, SE).
    ViewKeyShares,
    /// Offline: one's own pending keygen and signing work.
    ViewOwnPendingWork,
    /// Offline: take part in keygen or signing with one's own share from the client.
    JoinProtocolSession,
    /// Offline: import a signing request from the online zone.
    ImportSigningRequest,
    /// Offline: export a signature response.
    ExportSignatureResponse,
    /// Offline: export an account manifest.
    ExportAccountManifest,
    /// Offline: import a balance attestation from the online zone (evidence for deleting a
    /// case that has a key).
    ImportBalanceAttestation,
    /// Offline: list signing and keygen sessions.
    ViewSigningSessions,
    /// Offline: read the audit log.
    OfflineViewAuditLog,

    /// Online: grant and revoke roles, disable users.
    OnlineManageRoles,
    /// Online: list users.
    OnlineViewUsers,
    /// Online: grant accounts to traders, set their limits and allow-lists, configure tokens.
    ManageAccountPolicies,
    /// Online: import an account manifest from the offline zone.
    ImportAccountManifest,
    /// Online: list custody accounts and their balances.
    ViewAccounts,
    /// Online: create a transfer.
    CreateTransfer,
    /// Online: approve another trader's transfer (maker-checker).
    ApproveTransfer,
    /// Online: export a signing request.
    ExportSigningRequest,
    /// Online: import a signature response.
    ImportSignatureResponse,
    /// Online: export a balance attestation.
    ExportBalanceAttestation,
    /// Online: list transfers.
    ViewTransfers,
    /// Online: read the operation log.
    ViewOperationLog,
    /// Online: read the transaction log.
    ViewTransactionLog,
}

impl Action {
    /// Every action, for exhaustive tests.
    pub const ALL: [Self; 29] = [
        Self::ManageOwnAccount,
        Self::OfflineManageUsers,
        Self::OfflineViewUsers,
        Self::ManageSecureElements,
        Self::ViewSecureElements,
        Self::ManageCases,
        Self::ViewCases,
        Self::ViewKeyShares,
        Self::ViewOwnPendingWork,
        Self::JoinProtocolSession,
        Self::ImportSigningRequest,
        Self::ExportSignatureResponse,
        Self::ExportAccountManifest,
        Self::ImportBalanceAttestation,
        Self::ViewSigningSessions,
        Self::OfflineViewAuditLog,
        Self::OnlineManageRoles,
        Self::OnlineViewUsers,
        Self::ManageAccountPolicies,
        Self::ImportAccountManifest,
        Self::ViewAccounts,
        Self::CreateTransfer,
        Self::ApproveTransfer,
        Self::ExportSigningRequest,
        Self::ImportSignatureResponse,
        Self::ExportBalanceAttestation,
        Self::ViewTransfers,
        Self::ViewOperationLog,
        Self::ViewTransactionLog,
    ];

    /// The zones this action exists in.
    #[must_use]
    pub const fn zones(self) -> &'static [Zone] {
        use Action::*;
        match self {
            ManageOwnAccount => &[Zone::Offline, Zone::Online],
            OfflineManageUsers
            | OfflineViewUsers
            | ManageSecureElements
            | ViewSecureElements
            | ManageCases
            | ViewCases
            | ViewKeyShares
            | ViewOwnPendingWork
            | JoinProtocolSession
            | ImportSigningRequest
            | ExportSignatureResponse
            | ExportAccountManifest
            | ImportBalanceAttestation
            | ViewSigningSessions
            | OfflineViewAuditLog => &[Zone::Offline],
            OnlineManageRoles
            | OnlineViewUsers
            | ManageAccountPolicies
            | ImportAccountManifest
            | ViewAccounts
            | CreateTransfer
            | ApproveTransfer
            | ExportSigningRequest
            | ImportSignatureResponse
            | ExportBalanceAttestation
            | ViewTransfers
            | ViewOperationLog
            | ViewTransactionLog => &[Zone::Online],
        }
    }

    /// The permission table: the roles that may perform this action.
    ///
    /// Offline (issue 3): the admin runs users, SEs, cases, the key-share table and reads the
    /// audit log; a case manager sees and works on their own pending work; an operator carries
    /// requests and responses across the air gap and sees sessions; an auditor reads everything
    /// and changes nothing. Online (issue 5): the admin manages roles; a trader works with
    /// accounts and transfers; an auditor reads the logs and everything else read-only. The admin
    /// is deliberately not a super-user: signing-request traffic and transfers are outside the
    /// admin role, so one administrator cannot move funds.
    #[must_use]
    pub const fn allowed_roles(self) -> &'static [Role] {
        use Action::*;
        use Role::*;
        match self {
            ManageOwnAccount => &[Unassigned, Admin, Trader, Auditor, CaseManager, Operator],

            OfflineManageUsers | ManageSecureElements | ManageCases => &[Admin],
            OfflineViewUsers | ViewSecureElements | ViewCases | ViewKeyShares
            | OfflineViewAuditLog => &[Admin, Auditor],
            ViewOwnPendingWork | JoinProtocolSession => &[CaseManager],
            ImportSigningRequest
            | ExportSignatureResponse
            | ExportAccountManifest
            | ImportBalanceAttestation => &[Operator],
            ViewSigningSessions => &[Admin, Operator, Auditor],

            OnlineManageRoles | ManageAccountPolicies => &[Admin],
            OnlineViewUsers => &[Admin, Auditor],
            ImportAccountManifest
            | CreateTransfer
            | ApproveTransfer
            | ExportSigningRequest
            | ImportSignatureResponse
            | ExportBalanceAttestation => &[Trader],
            ViewAccounts => &[Admin, Trader, Auditor],
            ViewTransfers => &[Trader, Auditor],
            ViewOperationLog | ViewTransactionLog => &[Auditor],
        }
    }
}
