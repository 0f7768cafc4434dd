use std::collections::HashSet;

use auth::{Action, Error, Role, Zone};

/// The expected matrix, written out independently of the crate's table: for each action, the
/// roles (by their stable strings) that may perform it. Every other (role, action) pair is denied.
fn expected(action: Action) -> &'static [&'static str] {
    use Action::*;
    match action {
        ManageOwnAccount => &[
            "none",
            "admin",
            "trader",
            "auditor",
            "case_manager",
            "operator",
        ],
        // Offline zone (issue 3).
        OfflineManageUsers => &["admin"],
        OfflineViewUsers => &["admin", "auditor"],
        ManageSecureElements => &["admin"],
        ViewSecureElements => &["admin", "auditor"],
        ManageCases => &["admin"],
        ViewCases => &["admin", "auditor"],
        ViewKeyShares => &["admin", "auditor"],
        ViewOwnPendingWork => &["case_manager"],
        JoinProtocolSession => &["case_manager"],
        ImportSigningRequest => &["operator"],
        ExportSignatureResponse => &["operator"],
        ExportAccountManifest => &["operator"],
        ImportBalanceAttestation => &["operator"],
        ViewSigningSessions => &["admin", "operator", "auditor"],
        OfflineViewAuditLog => &["admin", "auditor"],
        // Online zone (issue 5).
        OnlineManageRoles => &["admin"],
        OnlineViewUsers => &["admin", "auditor"],
        ManageAccountPolicies => &["admin"],
        ImportAccountManifest => &["trader"],
        ViewAccounts => &["admin", "trader", "auditor"],
        CreateTransfer => &["trader"],
        ApproveTransfer => &["trader"],
        ExportSigningRequest => &["trader"],
        ImportSignatureResponse => &["trader"],
        ExportBalanceAttestation => &["trader"],
        ViewTransfers => &["trader", "auditor"],
        ViewOperationLog => &["auditor"],
        ViewTransactionLog => &["auditor"],
    }
}

#[test]
fn role_matrix_is_exactly_the_expected_table() {
    let mut cells = 0;
    for action in Action::ALL {
        for role in Role::ALL {
            let want = expected(action).contains(&role.as_str());
            assert_eq!(role.may(action), want, "{role} may {action:?}");
            cells += 1;
        }
    }
    assert_eq!(cells, 6 * 29);
}

#[test]
fn role_and_action_lists_are_complete_and_distinct() {
    assert_eq!(
        Role::ALL.iter().collect::<HashSet<_>>().len(),
        Role::ALL.len()
    );
    assert_eq!(
        Action::ALL.iter().collect::<HashSet<_>>().len(),
        Action::ALL.len()
    );
    // `expected` is an exhaustive match, so a new variant fails to compile there; this catches a
    // variant that was added to the enum but not to `ALL`.
    assert_eq!(Action::ALL.len(), 29);
}

#[test]
fn allowed_roles_exist_in_the_actions_zone() {
    for action in Action::ALL {
        for role in action.allowed_roles() {
            assert!(
                action.zones().iter().any(|zone| role.exists_in(*zone)),
                "{role} is granted {action:?} in a zone where the role does not exist"
            );
        }
    }
}

#[test]
fn fresh_user_may_only_manage_own_account() {
    for action in Action::ALL {
        assert_eq!(
            Role::Unassigned.may(action),
            action == Action::ManageOwnAccount,
            "{action:?}"
        );
    }
}

#[test]
fn auditor_never_writes() {
    let writes = [
        Action::OfflineManageUsers,
        Action::ManageSecureElements,
        Action::ManageCases,
        Action::JoinProtocolSession,
        Action::ImportSigningRequest,
        Action::ExportSignatureResponse,
        Action::ExportAccountManifest,
        Action::ImportBalanceAttestation,
        Action::OnlineManageRoles,
        Action::ImportAccountManifest,
        Action::CreateTransfer,
        Action::ApproveTransfer,
        Action::ExportSigningRequest,
        Action::ImportSignatureResponse,
        Action::ExportBalanceAttestation,
    ];
    for action in writes {
        assert!(!Role::Auditor.may(action), "{action:?}");
    }
}

#[test]
fn role_strings_are_stable_and_round_trip() {
    let strings: Vec<_> = Role::ALL.iter().map(|r| r.to_string()).collect();
    assert_eq!(
        strings,
        [
            "none",
            "admin",
            "trader",
            "auditor",
            "case_manager",
            "operator"
        ]
    );
    for role in Role::ALL {
        assert_eq!(role.as_str().parse::<Role>().unwrap(), role);
    }
    for bad in [
        "",
        "Admin",
        "ADMIN",
        " admin",
        "case-manager",
        "root",
        "null",
    ] {
        assert_eq!(
            bad.parse::<Role>().unwrap_err(),
            Error::UnknownRole,
            "{bad:?}"
        );
    }
}

#[test]
fn roles_exist_in_their_zones() {
    assert!(Role::Trader.exists_in(Zone::Online));
    assert!(!Role::Trader.exists_in(Zone::Offline));
    assert!(Role::CaseManager.exists_in(Zone::Offline));
    assert!(!Role::CaseManager.exists_in(Zone::Online));
    assert!(Role::Operator.exists_in(Zone::Offline));
    assert!(!Role::Operator.exists_in(Zone::Online));
    for role in [Role::Unassigned, Role::Admin, Role::Auditor] {
        assert!(role.exists_in(Zone::Offline) && role.exists_in(Zone::Online));
    }
}
