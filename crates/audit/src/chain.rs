//! The named chains a zone can keep: each is a record table and a one-row head table with the
//! columns of `audit_log` and `audit_head`.

/// One hash chain: the table of its records and the table of its head.
///
/// The set of chains is closed (the constants below), so table names in SQL never come from
/// input. A zone creates the tables of its chains with
/// [`migration::create_chain`](crate::migration::create_chain).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Chain {
    name: &'static str,
    log: &'static str,
    head: &'static str,
}

impl Chain {
    /// The offline zone's single audit log (`audit_log`, `audit_head`).
    pub const AUDIT: Chain = Chain {
        name: "audit",
        log: "audit_log",
        head: "audit_head",
    };

    /// The online zone's operation log: logins, role changes, imports, exports, balance
    /// queries (`operation_log`, `operation_log_head`).
    pub const OPERATION: Chain = Chain {
        name: "operation",
        log: "operation_log",
        head: "operation_log_head",
    };

    /// The online zone's transaction log: every transfer state change (`transaction_log`,
    /// `transaction_log_head`).
    pub const TRANSACTION: Chain = Chain {
        name: "transaction",
        log: "transaction_log",
        head: "transaction_log_head",
    };

    /// Every known chain.
    pub const ALL: [Chain; 3] = [Chain::AUDIT, Chain::OPERATION, Chain::TRANSACTION];

    /// The chain's short name (`audit`, `operation`, `transaction`), e.g. for a CLI flag.
    pub fn name(&self) -> &'static str {
        self.name
    }

    /// The chain with this short name.
    pub fn by_name(name: &str) -> Option<Chain> {
        Chain::ALL.into_iter().find(|c| c.name == name)
    }

    /// The table of its records.
    pub fn log_table(&self) -> &'static str {
        self.log
    }

    /// The one-row table of its head.
    pub fn head_table(&self) -> &'static str {
        self.head
    }
}

impl std::fmt::Display for Chain {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name)
    }
}
