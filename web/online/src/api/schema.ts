// Generated from schemas/online-api.openapi.json by web/scripts/gen-api.mjs (npm run gen). Do not edit.
export interface paths {
    "/api/accounts": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /**
         * The accounts the caller may see: a trader's granted accounts, every account for
         *     administrators and auditors.
         */
        get: {
            parameters: {
                query?: never;
                header?: never;
                path?: never;
                cookie?: never;
            };
            requestBody?: never;
            responses: {
                /** @description The request was rejected; the problem says why and what to do. */
                "4XX": {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/problem+json": components["schemas"]["Problem"];
                    };
                };
                /** @description A server fault; nothing was changed. */
                "5XX": {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/problem+json": components["schemas"]["Problem"];
                    };
                };
                200: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json; charset=utf-8": components["schemas"]["AccountView"][];
                    };
                };
            };
        };
        put?: never;
        post?: never;
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/api/accounts/{id}": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /** One account. */
        get: {
            parameters: {
                query?: never;
                header?: never;
                path: {
                    id: string;
                };
                cookie?: never;
            };
            requestBody?: never;
            responses: {
                /** @description The request was rejected; the problem says why and what to do. */
                "4XX": {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/problem+json": components["schemas"]["Problem"];
                    };
                };
                /** @description A server fault; nothing was changed. */
                "5XX": {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/problem+json": components["schemas"]["Problem"];
                    };
                };
                200: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json; charset=utf-8": components["schemas"]["AccountView"];
                    };
                };
            };
        };
        put?: never;
        post?: never;
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/api/accounts/{id}/attestation": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        get?: never;
        put?: never;
        /**
         * Export a `BalanceAttestation` of the account, signed by the export key: its balances
         *     read from the node now, at one block. The offline zone needs an empty one to delete the
         *     account's case.
         */
        post: {
            parameters: {
                query?: never;
                header?: never;
                path: {
                    id: string;
                };
                cookie?: never;
            };
            requestBody?: never;
            responses: {
                /** @description The request was rejected; the problem says why and what to do. */
                "4XX": {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/problem+json": components["schemas"]["Problem"];
                    };
                };
                /** @description A server fault; nothing was changed. */
                "5XX": {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/problem+json": components["schemas"]["Problem"];
                    };
                };
                200: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json; charset=utf-8": components["schemas"]["ExportedDocument"];
                    };
                };
            };
        };
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/api/accounts/{id}/balances": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /**
         * The account's ETH and token balances, all read at one block. Served from a short
         *     cache unless `fresh=true`. Every query is recorded in the operation log.
         */
        get: {
            parameters: {
                query?: {
                    fresh?: boolean;
                };
                header?: never;
                path: {
                    id: string;
                };
                cookie?: never;
            };
            requestBody?: never;
            responses: {
                /** @description The request was rejected; the problem says why and what to do. */
                "4XX": {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/problem+json": components["schemas"]["Problem"];
                    };
                };
                /** @description A server fault; nothing was changed. */
                "5XX": {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/problem+json": components["schemas"]["Problem"];
                    };
                };
                200: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json; charset=utf-8": components["schemas"]["BalancesView"];
                    };
                };
            };
        };
        put?: never;
        post?: never;
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/api/accounts/{id}/destinations": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        get?: never;
        put?: never;
        /**
         * Propose a destination for the account's allow-list (once it has one, transfers go only
         *     to listed destinations), confirmed with your password: `202` with the proposal; it is
         *     listed when a second administrator approves it. Administrators only.
         */
        post: {
            parameters: {
                query?: never;
                header?: never;
                path: {
                    id: string;
                };
                cookie?: never;
            };
            requestBody: {
                content: {
                    "application/json; charset=utf-8": components["schemas"]["DestinationRequest"];
                };
            };
            responses: {
                /** @description The request was rejected; the problem says why and what to do. */
                "4XX": {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/problem+json": components["schemas"]["Problem"];
                    };
                };
                /** @description A server fault; nothing was changed. */
                "5XX": {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/problem+json": components["schemas"]["Problem"];
                    };
                };
                /** @description Proposal submitted; nothing changes until a second administrator approves it. */
                202: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json; charset=utf-8": components["schemas"]["ProposalView"];
                    };
                };
            };
        };
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/api/accounts/{id}/grants": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        get?: never;
        put?: never;
        /**
         * Propose to let a trader use the account, confirmed with your password: `202` with the
         *     proposal; the trader may use the account once a second administrator approves it.
         *     Administrators only.
         */
        post: {
            parameters: {
                query?: never;
                header?: never;
                path: {
                    id: string;
                };
                cookie?: never;
            };
            requestBody: {
                content: {
                    "application/json; charset=utf-8": components["schemas"]["GrantRequest"];
                };
            };
            responses: {
                /** @description The request was rejected; the problem says why and what to do. */
                "4XX": {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/problem+json": components["schemas"]["Problem"];
                    };
                };
                /** @description A server fault; nothing was changed. */
                "5XX": {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/problem+json": components["schemas"]["Problem"];
                    };
                };
                /** @description Proposal submitted; nothing changes until a second administrator approves it. */
                202: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json; charset=utf-8": components["schemas"]["ProposalView"];
                    };
                };
            };
        };
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/api/accounts/{id}/grants/{user_id}": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        get?: never;
        put?: never;
        post?: never;
        /** Take the account away from a trader. Administrators only. */
        delete: {
            parameters: {
                query?: never;
                header?: never;
                path: {
                    id: string;
                    user_id: string;
                };
                cookie?: never;
            };
            requestBody?: never;
            responses: {
                /** @description The request was rejected; the problem says why and what to do. */
                "4XX": {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/problem+json": components["schemas"]["Problem"];
                    };
                };
                /** @description A server fault; nothing was changed. */
                "5XX": {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/problem+json": components["schemas"]["Problem"];
                    };
                };
                /** @description Done. */
                204: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content?: never;
                };
            };
        };
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/api/accounts/{id}/policies": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        get?: never;
        /**
         * Set the limits of one asset on the account, confirmed with your password. A change
         *     that only lowers limits or keeps maker-checker on applies at once (`200`); one that
         *     raises a limit, turns maker-checker off or sets the asset's first limits is a proposal
         *     (`202`) that takes effect when a second administrator approves it. Administrators only.
         */
        put: {
            parameters: {
                query?: never;
                header?: never;
                path: {
                    id: string;
                };
                cookie?: never;
            };
            requestBody: {
                content: {
                    "application/json; charset=utf-8": components["schemas"]["PolicyRequest"];
                };
            };
            responses: {
                /** @description The request was rejected; the problem says why and what to do. */
                "4XX": {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/problem+json": components["schemas"]["Problem"];
                    };
                };
                /** @description A server fault; nothing was changed. */
                "5XX": {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/problem+json": components["schemas"]["Problem"];
                    };
                };
                /** @description The policy was set (it lowers limits or keeps maker-checker on). */
                200: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json; charset=utf-8": components["schemas"]["PolicyView"];
                    };
                };
                /** @description Proposal submitted; it takes effect when a second administrator approves it. */
                202: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json; charset=utf-8": components["schemas"]["ProposalView"];
                    };
                };
            };
        };
        post?: never;
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/api/accounts/import": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        get?: never;
        put?: never;
        /**
         * Import an `AccountManifest` from the offline zone: its HSM signature is verified
         *     against the pinned keys, and the account is bound to its case.
         */
        post: {
            parameters: {
                query?: never;
                header?: never;
                path?: never;
                cookie?: never;
            };
            requestBody: {
                content: {
                    "application/json; charset=utf-8": components["schemas"]["ImportRequest"];
                };
            };
            responses: {
                /** @description The request was rejected; the problem says why and what to do. */
                "4XX": {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/problem+json": components["schemas"]["Problem"];
                    };
                };
                /** @description A server fault; nothing was changed. */
                "5XX": {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/problem+json": components["schemas"]["Problem"];
                    };
                };
                200: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json; charset=utf-8": components["schemas"]["AccountView"];
                    };
                };
            };
        };
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/api/audit/logs/{log}": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /**
         * A log, oldest first: `operations` (logins, failed logins, balance queries, exports,
         *     imports, role changes) or `transactions` (every transfer state change). Page with
         *     `after_seq` = the last `seq` seen. Auditors only.
         */
        get: {
            parameters: {
                query?: {
                    account_id?: string;
                    action?: string;
                    after_seq?: number;
                    from?: string;
                    limit?: number;
                    to?: string;
                    tx_hash?: string;
                    user?: string;
                };
                header?: never;
                path: {
                    log: components["schemas"]["LogName"];
                };
                cookie?: never;
            };
            requestBody?: never;
            responses: {
                /** @description The request was rejected; the problem says why and what to do. */
                "4XX": {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/problem+json": components["schemas"]["Problem"];
                    };
                };
                /** @description A server fault; nothing was changed. */
                "5XX": {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/problem+json": components["schemas"]["Problem"];
                    };
                };
                200: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json; charset=utf-8": components["schemas"]["LogRecordView"][];
                    };
                };
            };
        };
        put?: never;
        post?: never;
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/api/audit/logs/{log}/csv": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /** A log as CSV: the same filters, every matching record up to 100 000. */
        get: {
            parameters: {
                query?: {
                    account_id?: string;
                    action?: string;
                    from?: string;
                    to?: string;
                    tx_hash?: string;
                    user?: string;
                };
                header?: never;
                path: {
                    log: components["schemas"]["LogName"];
                };
                cookie?: never;
            };
            requestBody?: never;
            responses: {
                /** @description The request was rejected; the problem says why and what to do. */
                "4XX": {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/problem+json": components["schemas"]["Problem"];
                    };
                };
                /** @description A server fault; nothing was changed. */
                "5XX": {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/problem+json": components["schemas"]["Problem"];
                    };
                };
                /** @description The records, one per line after the header. */
                200: {
                    headers: {
                        /** @description `attachment; filename=…`. */
                        "CONTENT-DISPOSITION": string;
                        [name: string]: unknown;
                    };
                    content: {
                        "text/csv; charset=utf-8": string;
                    };
                };
            };
        };
        put?: never;
        post?: never;
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/api/audit/verify": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /**
         * Verify both logs from the first record to the last: the hash chains, every record's MAC
         *     with the online token, and the signed checkpoints (database and checkpoint directory).
         *     Auditors only.
         */
        get: {
            parameters: {
                query?: never;
                header?: never;
                path?: never;
                cookie?: never;
            };
            requestBody?: never;
            responses: {
                /** @description The request was rejected; the problem says why and what to do. */
                "4XX": {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/problem+json": components["schemas"]["Problem"];
                    };
                };
                /** @description A server fault; nothing was changed. */
                "5XX": {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/problem+json": components["schemas"]["Problem"];
                    };
                };
                200: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json; charset=utf-8": components["schemas"]["VerifyView"];
                    };
                };
            };
        };
        put?: never;
        post?: never;
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/api/auth/login": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        get?: never;
        put?: never;
        /**
         * Sign in. Throttled per (account, client address), per account and per client address
         *     with growing delays, never locked against the right password from the owner's own
         *     address; the attempt is claimed before the password is evaluated. A new session every
         *     time.
         */
        post: {
            parameters: {
                query?: never;
                header?: never;
                path?: never;
                cookie?: never;
            };
            requestBody: {
                content: {
                    "application/json; charset=utf-8": components["schemas"]["LoginRequest"];
                };
            };
            responses: {
                /** @description The request was rejected; the problem says why and what to do. */
                "4XX": {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/problem+json": components["schemas"]["Problem"];
                    };
                };
                /** @description A server fault; nothing was changed. */
                "5XX": {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/problem+json": components["schemas"]["Problem"];
                    };
                };
                /** @description Signed in. */
                200: {
                    headers: {
                        /** @description The session cookie (browser clients). */
                        "SET-COOKIE"?: string;
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json; charset=utf-8": components["schemas"]["LoginResponse"];
                    };
                };
            };
        };
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/api/auth/logout": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        get?: never;
        put?: never;
        /** Sign out: the session is revoked and the cookie cleared. */
        post: {
            parameters: {
                query?: never;
                header?: never;
                path?: never;
                cookie?: never;
            };
            requestBody?: never;
            responses: {
                /** @description The request was rejected; the problem says why and what to do. */
                "4XX": {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/problem+json": components["schemas"]["Problem"];
                    };
                };
                /** @description A server fault; nothing was changed. */
                "5XX": {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/problem+json": components["schemas"]["Problem"];
                    };
                };
                /** @description Signed out. */
                204: {
                    headers: {
                        /** @description Expires the session cookie. */
                        "SET-COOKIE": string;
                        [name: string]: unknown;
                    };
                    content?: never;
                };
            };
        };
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/api/auth/me": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /** The signed-in user. */
        get: {
            parameters: {
                query?: never;
                header?: never;
                path?: never;
                cookie?: never;
            };
            requestBody?: never;
            responses: {
                /** @description The request was rejected; the problem says why and what to do. */
                "4XX": {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/problem+json": components["schemas"]["Problem"];
                    };
                };
                /** @description A server fault; nothing was changed. */
                "5XX": {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/problem+json": components["schemas"]["Problem"];
                    };
                };
                200: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json; charset=utf-8": components["schemas"]["UserView"];
                    };
                };
            };
        };
        put?: never;
        post?: never;
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/api/auth/register": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        get?: never;
        put?: never;
        /** Register. The account has no role, so no rights, until an administrator grants one. */
        post: {
            parameters: {
                query?: never;
                header?: never;
                path?: never;
                cookie?: never;
            };
            requestBody: {
                content: {
                    "application/json; charset=utf-8": components["schemas"]["RegisterRequest"];
                };
            };
            responses: {
                /** @description The request was rejected; the problem says why and what to do. */
                "4XX": {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/problem+json": components["schemas"]["Problem"];
                    };
                };
                /** @description A server fault; nothing was changed. */
                "5XX": {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/problem+json": components["schemas"]["Problem"];
                    };
                };
                200: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json; charset=utf-8": components["schemas"]["UserView"];
                    };
                };
            };
        };
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/api/health": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /** Whether the service, its database, the node and the broker answer. */
        get: {
            parameters: {
                query?: never;
                header?: never;
                path?: never;
                cookie?: never;
            };
            requestBody?: never;
            responses: {
                /** @description The request was rejected; the problem says why and what to do. */
                "4XX": {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/problem+json": components["schemas"]["Problem"];
                    };
                };
                /** @description A server fault; nothing was changed. */
                "5XX": {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/problem+json": components["schemas"]["Problem"];
                    };
                };
                200: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json; charset=utf-8": components["schemas"]["Health"];
                    };
                };
            };
        };
        put?: never;
        post?: never;
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/api/live": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /** Liveness: the process serves HTTP. Touches nothing else (readiness is `/health`). */
        get: {
            parameters: {
                query?: never;
                header?: never;
                path?: never;
                cookie?: never;
            };
            requestBody?: never;
            responses: {
                200: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json; charset=utf-8": components["schemas"]["Live"];
                    };
                };
            };
        };
        put?: never;
        post?: never;
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/api/proposals": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /**
         * Four-eyes proposals, newest first: by default those still waiting (expired ones
         *     included, shown as EXPIRED); `pending=false` lists decided ones too. Administrators only.
         */
        get: {
            parameters: {
                query?: {
                    pending?: boolean;
                };
                header?: never;
                path?: never;
                cookie?: never;
            };
            requestBody?: never;
            responses: {
                /** @description The request was rejected; the problem says why and what to do. */
                "4XX": {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/problem+json": components["schemas"]["Problem"];
                    };
                };
                /** @description A server fault; nothing was changed. */
                "5XX": {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/problem+json": components["schemas"]["Problem"];
                    };
                };
                200: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json; charset=utf-8": components["schemas"]["ProposalView"][];
                    };
                };
            };
        };
        put?: never;
        post?: never;
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/api/proposals/{id}/approve": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        get?: never;
        put?: never;
        /**
         * Approve a proposal with your password: it takes effect now, in the same transaction.
         *     Not your own (`own-proposal`, 403); not one already decided (`proposal-decided`, 409)
         *     or expired (`proposal-expired`, 409).
         */
        post: {
            parameters: {
                query?: never;
                header?: never;
                path: {
                    id: string;
                };
                cookie?: never;
            };
            requestBody: {
                content: {
                    "application/json; charset=utf-8": components["schemas"]["PasswordRequest"];
                };
            };
            responses: {
                /** @description The request was rejected; the problem says why and what to do. */
                "4XX": {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/problem+json": components["schemas"]["Problem"];
                    };
                };
                /** @description A server fault; nothing was changed. */
                "5XX": {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/problem+json": components["schemas"]["Problem"];
                    };
                };
                200: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json; charset=utf-8": components["schemas"]["ProposalView"];
                    };
                };
            };
        };
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/api/proposals/{id}/cancel": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        get?: never;
        put?: never;
        /** Withdraw your own proposal: nothing changes. */
        post: {
            parameters: {
                query?: never;
                header?: never;
                path: {
                    id: string;
                };
                cookie?: never;
            };
            requestBody?: never;
            responses: {
                /** @description The request was rejected; the problem says why and what to do. */
                "4XX": {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/problem+json": components["schemas"]["Problem"];
                    };
                };
                /** @description A server fault; nothing was changed. */
                "5XX": {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/problem+json": components["schemas"]["Problem"];
                    };
                };
                200: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json; charset=utf-8": components["schemas"]["ProposalView"];
                    };
                };
            };
        };
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/api/proposals/{id}/reject": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        get?: never;
        put?: never;
        /** Reject a proposal with your password: nothing changes. Not your own. */
        post: {
            parameters: {
                query?: never;
                header?: never;
                path: {
                    id: string;
                };
                cookie?: never;
            };
            requestBody: {
                content: {
                    "application/json; charset=utf-8": components["schemas"]["PasswordRequest"];
                };
            };
            responses: {
                /** @description The request was rejected; the problem says why and what to do. */
                "4XX": {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/problem+json": components["schemas"]["Problem"];
                    };
                };
                /** @description A server fault; nothing was changed. */
                "5XX": {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/problem+json": components["schemas"]["Problem"];
                    };
                };
                200: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json; charset=utf-8": components["schemas"]["ProposalView"];
                    };
                };
            };
        };
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/api/signature-responses": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        get?: never;
        put?: never;
        /**
         * Import the offline zone's `SignatureResponse` (file or QR text): the envelope must
         *     verify under a pinned offline key; the response must answer an EXPORTED transfer the
         *     caller may use; its signed transaction must be exactly the exported one and recover to
         *     the account's address. The transfer becomes SIGNED and its broadcast is queued. If the
         *     transfer no longer passes the account's policy or balance (checked as at export), the
         *     response is refused with `policy-violation`: the transfer becomes FAILED with the reason
         *     as its `error`, and nothing is broadcast.
         */
        post: {
            parameters: {
                query?: never;
                header?: never;
                path?: never;
                cookie?: never;
            };
            requestBody: {
                content: {
                    "application/json; charset=utf-8": components["schemas"]["ImportRequest"];
                };
            };
            responses: {
                /** @description The request was rejected; the problem says why and what to do. */
                "4XX": {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/problem+json": components["schemas"]["Problem"];
                    };
                };
                /** @description A server fault; nothing was changed. */
                "5XX": {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/problem+json": components["schemas"]["Problem"];
                    };
                };
                200: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json; charset=utf-8": components["schemas"]["TransferView"];
                    };
                };
            };
        };
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/api/tokens": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /** The ERC-20 tokens configured on this chain. */
        get: {
            parameters: {
                query?: never;
                header?: never;
                path?: never;
                cookie?: never;
            };
            requestBody?: never;
            responses: {
                /** @description The request was rejected; the problem says why and what to do. */
                "4XX": {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/problem+json": components["schemas"]["Problem"];
                    };
                };
                /** @description A server fault; nothing was changed. */
                "5XX": {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/problem+json": components["schemas"]["Problem"];
                    };
                };
                200: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json; charset=utf-8": components["schemas"]["TokenView"][];
                    };
                };
            };
        };
        put?: never;
        /**
         * Configure an ERC-20 token; its symbol and decimals are read from the contract.
         *     Administrators only.
         */
        post: {
            parameters: {
                query?: never;
                header?: never;
                path?: never;
                cookie?: never;
            };
            requestBody: {
                content: {
                    "application/json; charset=utf-8": components["schemas"]["AddTokenRequest"];
                };
            };
            responses: {
                /** @description The request was rejected; the problem says why and what to do. */
                "4XX": {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/problem+json": components["schemas"]["Problem"];
                    };
                };
                /** @description A server fault; nothing was changed. */
                "5XX": {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/problem+json": components["schemas"]["Problem"];
                    };
                };
                200: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json; charset=utf-8": components["schemas"]["TokenView"];
                    };
                };
            };
        };
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/api/transfers": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /** Transfers the caller may see, newest first (a trader: of granted accounts). */
        get: {
            parameters: {
                query?: {
                    account_id?: string;
                };
                header?: never;
                path?: never;
                cookie?: never;
            };
            requestBody?: never;
            responses: {
                /** @description The request was rejected; the problem says why and what to do. */
                "4XX": {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/problem+json": components["schemas"]["Problem"];
                    };
                };
                /** @description A server fault; nothing was changed. */
                "5XX": {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/problem+json": components["schemas"]["Problem"];
                    };
                };
                200: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json; charset=utf-8": components["schemas"]["TransferView"][];
                    };
                };
            };
        };
        put?: never;
        /**
         * Build a transfer (DRAFT): the recipient must be EIP-55 checksummed and not zero; the
         *     amount and the most the fees can cost must be covered by the balance; the account's
         *     policy (single and daily limit, allow-list) must allow it. Nonce and fees come from the
         *     node, the nonce counting this account's transfers still in flight.
         */
        post: {
            parameters: {
                query?: never;
                header?: never;
                path?: never;
                cookie?: never;
            };
            requestBody: {
                content: {
                    "application/json; charset=utf-8": components["schemas"]["CreateTransferRequest"];
                };
            };
            responses: {
                /** @description The request was rejected; the problem says why and what to do. */
                "4XX": {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/problem+json": components["schemas"]["Problem"];
                    };
                };
                /** @description A server fault; nothing was changed. */
                "5XX": {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/problem+json": components["schemas"]["Problem"];
                    };
                };
                200: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json; charset=utf-8": components["schemas"]["TransferView"];
                    };
                };
            };
        };
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/api/transfers/{id}": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /** One transfer. */
        get: {
            parameters: {
                query?: never;
                header?: never;
                path: {
                    id: string;
                };
                cookie?: never;
            };
            requestBody?: never;
            responses: {
                /** @description The request was rejected; the problem says why and what to do. */
                "4XX": {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/problem+json": components["schemas"]["Problem"];
                    };
                };
                /** @description A server fault; nothing was changed. */
                "5XX": {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/problem+json": components["schemas"]["Problem"];
                    };
                };
                200: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json; charset=utf-8": components["schemas"]["TransferView"];
                    };
                };
            };
        };
        put?: never;
        post?: never;
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/api/transfers/{id}/approve": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        get?: never;
        put?: never;
        /**
         * Approve a DRAFT transfer as the second trader (maker-checker): not its creator. The
         *     transfer must still pass the account's policy and balance as they are now. Confirmed
         *     with your password (`reauthentication-failed` otherwise).
         */
        post: {
            parameters: {
                query?: never;
                header?: never;
                path: {
                    id: string;
                };
                cookie?: never;
            };
            requestBody: {
                content: {
                    "application/json; charset=utf-8": components["schemas"]["PasswordRequest"];
                };
            };
            responses: {
                /** @description The request was rejected; the problem says why and what to do. */
                "4XX": {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/problem+json": components["schemas"]["Problem"];
                    };
                };
                /** @description A server fault; nothing was changed. */
                "5XX": {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/problem+json": components["schemas"]["Problem"];
                    };
                };
                200: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json; charset=utf-8": components["schemas"]["TransferView"];
                    };
                };
            };
        };
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/api/transfers/{id}/export": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        get?: never;
        put?: never;
        /**
         * Export a DRAFT transfer, confirmed with your password, as a `SigningRequest` signed by
         *     the export key, as a file
         *     (armored text) and as QR codes. The transfer becomes EXPORTED. It must still pass the
         *     account's policy as it is now (single limit, 24-hour limit counted by export time,
         *     allow-list, a second trader's approval if required) and the balance read now must cover
         *     it beside the transfers in flight; otherwise `policy-violation` and it stays a draft.
         *     An EXPORTED transfer's request is sealed again under the same request id (a lost file,
         *     an unreadable QR code).
         */
        post: {
            parameters: {
                query?: never;
                header?: never;
                path: {
                    id: string;
                };
                cookie?: never;
            };
            requestBody: {
                content: {
                    "application/json; charset=utf-8": components["schemas"]["PasswordRequest"];
                };
            };
            responses: {
                /** @description The request was rejected; the problem says why and what to do. */
                "4XX": {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/problem+json": components["schemas"]["Problem"];
                    };
                };
                /** @description A server fault; nothing was changed. */
                "5XX": {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/problem+json": components["schemas"]["Problem"];
                    };
                };
                200: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json; charset=utf-8": components["schemas"]["ExportedRequest"];
                    };
                };
            };
        };
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/api/users": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /** All users. */
        get: {
            parameters: {
                query?: never;
                header?: never;
                path?: never;
                cookie?: never;
            };
            requestBody?: never;
            responses: {
                /** @description The request was rejected; the problem says why and what to do. */
                "4XX": {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/problem+json": components["schemas"]["Problem"];
                    };
                };
                /** @description A server fault; nothing was changed. */
                "5XX": {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/problem+json": components["schemas"]["Problem"];
                    };
                };
                200: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json; charset=utf-8": components["schemas"]["UserView"][];
                    };
                };
            };
        };
        put?: never;
        post?: never;
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/api/users/{id}/role": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        get?: never;
        /**
         * Grant a role, confirmed with your password. Granting `admin`, `trader` or `auditor`
         *     needs a second administrator: the answer is `202` with the proposal, and the role is
         *     granted when another administrator approves it. `none` takes every right away at once
         *     (`200`). Administrators only.
         */
        put: {
            parameters: {
                query?: never;
                header?: never;
                path: {
                    id: string;
                };
                cookie?: never;
            };
            requestBody: {
                content: {
                    "application/json; charset=utf-8": components["schemas"]["SetRoleRequest"];
                };
            };
            responses: {
                /** @description The request was rejected; the problem says why and what to do. */
                "4XX": {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/problem+json": components["schemas"]["Problem"];
                    };
                };
                /** @description A server fault; nothing was changed. */
                "5XX": {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/problem+json": components["schemas"]["Problem"];
                    };
                };
                /** @description The role was taken away (`none`). */
                200: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json; charset=utf-8": components["schemas"]["UserView"];
                    };
                };
                /** @description Proposal submitted; the role is granted when a second administrator approves it. */
                202: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json; charset=utf-8": components["schemas"]["ProposalView"];
                    };
                };
            };
        };
        post?: never;
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/api/users/{id}/status": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        get?: never;
        /** Enable or disable a user; disabling ends their sessions. Administrators only. */
        put: {
            parameters: {
                query?: never;
                header?: never;
                path: {
                    id: string;
                };
                cookie?: never;
            };
            requestBody: {
                content: {
                    "application/json; charset=utf-8": components["schemas"]["SetStatusRequest"];
                };
            };
            responses: {
                /** @description The request was rejected; the problem says why and what to do. */
                "4XX": {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/problem+json": components["schemas"]["Problem"];
                    };
                };
                /** @description A server fault; nothing was changed. */
                "5XX": {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/problem+json": components["schemas"]["Problem"];
                    };
                };
                200: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json; charset=utf-8": components["schemas"]["UserView"];
                    };
                };
            };
        };
        post?: never;
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
}
export type webhooks = Record<string, never>;
export interface components {
    schemas: {
        /**
         * AccountView
         * @description A custody account.
         */
        AccountView: {
            /** @description Address (EIP-55). */
            address: string;
            /** @description The offline case it belongs to. */
            case_ref: string;
            /**
             * Format: int64
             * @description Chain.
             */
            chain_id: number;
            /** @description Imported. */
            created_at: string;
            /** @description Id. */
            id: string;
            /** @description Label. */
            label: string;
            /** @description The manifest it was imported from. */
            manifest_id: string;
        };
        /**
         * AddTokenRequest
         * @description An ERC-20 token to configure: symbol and decimals are read from the contract.
         */
        AddTokenRequest: {
            /** @description The contract address (EIP-55). */
            address: string;
        };
        /**
         * BalancesView
         * @description An account's balances, all read at one block.
         */
        BalancesView: {
            /** @description The account. */
            account_id: string;
            /** @description Its address. */
            address: string;
            /** @description ETH first, then the configured tokens. */
            balances: components["schemas"]["BalanceView"][];
            /** @description That block's hash. */
            block_hash: string;
            /**
             * Format: uint64
             * @description The block they were read at.
             */
            block_number: number;
            /** @description Whether they came from the cache rather than the node just now. */
            cached: boolean;
        };
        /**
         * BalanceView
         * @description One asset's balance.
         */
        BalanceView: {
            /** @description Base units. */
            amount: string;
            /** @description `ETH` or the token address. */
            asset: string;
            /**
             * Format: uint8
             * @description Decimals for display.
             */
            decimals: number;
            /** @description Symbol for display. */
            symbol: string;
        };
        /**
         * ChainVerifyView
         * @description One chain's verification.
         */
        ChainVerifyView: {
            /**
             * Format: int64
             * @description Records after the newest checkpoint (their deletion from the end could not be seen
             *     from the checkpoints alone; the MACs and the next checkpoint cover them).
             */
            after_newest_checkpoint: number;
            /** @description Checkpoints with a problem, in sequence order. */
            bad_checkpoints: components["schemas"]["CheckpointProblemView"][];
            /**
             * Format: int64
             * @description The first broken record, if any.
             */
            broken_at?: number;
            /**
             * @description Why it is broken: `missing`, `prev_hash_mismatch`, `hash_mismatch`, `head_mismatch`,
             *     `mac_mismatch` (forged or rewritten without the HSM), `mac_missing`.
             */
            broken_reason?: string;
            /** @description `audit` (offline), `operation` or `transaction` (online). */
            chain: string;
            /**
             * Format: uint64
             * @description Checkpoints checked (stored in the database and in the checkpoint directory).
             */
            checkpoints_checked: number;
            /**
             * Format: int64
             * @description The chain's head (its last record's sequence number).
             */
            head: number;
            /** @description Whether nothing is wrong: no broken record, no checkpoint problem. */
            intact: boolean;
            /**
             * Format: uint64
             * @description Records whose MAC the zone's HSM verified (none when it was not asked).
             */
            macs_verified?: number;
            /** @description The newest checkpoint the chain reaches with the right value, signed by the zone's key. */
            newest_checkpoint?: components["schemas"]["CheckpointView"] & unknown;
            /**
             * Format: uint64
             * @description Records verified, from the first up to the first broken one.
             */
            records: number;
        };
        /**
         * CheckpointProblemView
         * @description A checkpoint the chain does not match.
         */
        CheckpointProblemView: {
            /**
             * @description `malformed`, `wrong_zone`, `foreign_key`, `bad_signature`, `not_reached` (records were
             *     deleted), `value_mismatch` (the log was rewritten), `broken_before`.
             */
            problem: string;
            /**
             * Format: uint64
             * @description The record it names.
             */
            seq: number;
            /** @description Where it was read. */
            source: string;
        };
        /**
         * CheckpointView
         * @description A verified checkpoint.
         */
        CheckpointView: {
            /** @description When the HSM signed it (RFC 3339). */
            at: string;
            /**
             * Format: uint64
             * @description The record it names.
             */
            seq: number;
            /** @description Where it was read (`database`, a checkpoint file, the other zone's witness). */
            source: string;
        };
        /**
         * @description How the client keeps the session.
         * @enum {string}
         */
        ClientKind: "cookie" | "bearer";
        /**
         * CreateTransferRequest
         * @description A transfer to build.
         */
        CreateTransferRequest: {
            /** @description The account to send from. */
            account_id: string;
            /** @description Base units (wei, or the token's smallest unit), decimal. */
            amount: string;
            /** @description `ETH` or a configured token's address. */
            asset: string;
            /** @description The recipient, EIP-55 checksummed. */
            to: string;
        };
        /**
         * DestinationRequest
         * @description A destination for an account's allow-list.
         */
        DestinationRequest: {
            /** @description The address (EIP-55). */
            address: string;
            /** @description What it is. */
            label: string;
            /** @description Your own password again, to confirm (re-authentication). */
            password: string;
        };
        /**
         * ExportedDocument
         * @description A signed document leaving the online zone.
         */
        ExportedDocument: {
            /** @description The armored text: save it as a file. */
            armored: string;
            /** @description When it stops being accepted (RFC 3339). */
            expires_at: string;
            /** @description The envelope id. */
            id: string;
            /** @description `SigningRequest` or `BalanceAttestation`. */
            kind: string;
            /** @description The QR part texts, in order. */
            qr_parts: string[];
            /** @description The QR codes as PNG images, base64, one per part. */
            qr_png_base64: string[];
            /** @description The QR codes as SVG documents, one per part. */
            qr_svg: string[];
        };
        /**
         * ExportedRequest
         * @description The result of exporting a transfer.
         */
        ExportedRequest: {
            /** @description The signing request. */
            document: components["schemas"]["ExportedDocument"] & unknown;
            /** @description The transfer, now EXPORTED. */
            transfer: components["schemas"]["TransferView"] & unknown;
        };
        /**
         * GrantRequest
         * @description A grant or revocation of an account to a trader.
         */
        GrantRequest: {
            /** @description Your own password again, to confirm (re-authentication). */
            password: string;
            /** @description The trader's user id. */
            user_id: string;
        };
        /**
         * Health
         * @description Service health.
         */
        Health: {
            /**
             * Format: uint64
             * @description The latest block the node reports, if it answered.
             */
            block_number?: number;
            /** @description Whether the broker accepted a connection (absent when none is configured). */
            broker_reachable?: boolean;
            /**
             * Format: uint64
             * @description The chain the service is bound to.
             */
            chain_id: number;
            /** @description The export key's public key (hex SEC1), for the offline zone to pin. */
            export_public_key: string;
            /** @description `ok` when the database answers. */
            status: string;
        };
        /**
         * ImportRequest
         * @description A document to import, in any of its forms: armored text, QR part texts (one per line) or
         *     base64 of the envelope bytes.
         */
        ImportRequest: {
            /** @description The document. */
            document: string;
            /** @description For a manifest: the label of the new account (default: the case id). */
            label?: string;
        };
        /**
         * Live
         * @description Liveness.
         */
        Live: {
            /** @description Always `ok`. */
            status: string;
        };
        /**
         * LoginRequest
         * @description A sign-in.
         */
        LoginRequest: {
            /** @description `cookie` (default) or `bearer`. */
            client?: components["schemas"]["ClientKind"] & unknown;
            /** @description Password. */
            password: string;
            /** @description Login name. */
            username: string;
        };
        /**
         * LoginResponse
         * @description The sign-in result.
         */
        LoginResponse: {
            /** @description Echo in `X-CSRF-Token` on state changes made with the cookie. */
            csrf_token: string;
            /** @description When the session ends if unused. */
            expires_at: string;
            /** @description For `bearer` clients only: the session token. */
            session_token?: string;
            /** @description Who signed in. */
            user: components["schemas"]["UserView"] & unknown;
        };
        /**
         * @description A log's name in the path.
         * @enum {string}
         */
        LogName: "operations" | "transactions";
        /**
         * LogRecordView
         * @description One log record.
         */
        LogRecordView: {
            /** @description What, e.g. `transfer.signed`. */
            action: string;
            /** @description Who (a user id or a service). */
            actor: string;
            /** @description When. */
            at: string;
            /** @description Details (JSON). */
            details: unknown;
            /** @description This record's hash, hex. */
            hash: string;
            /** @description About which record. */
            object: string;
            /**
             * Format: int64
             * @description Position in its chain.
             */
            seq: number;
        };
        /**
         * PasswordRequest
         * @description A password re-entered to confirm a sensitive operation (exporting or approving a transfer,
         *     deciding a proposal).
         */
        PasswordRequest: {
            /** @description Your own password again. */
            password: string;
        };
        /**
         * PolicyRequest
         * @description The limits of one asset on an account.
         */
        PolicyRequest: {
            /** @description `ETH` or a configured token's address. */
            asset: string;
            /** @description The most a rolling 24 hours may move (base units). */
            daily_limit: string;
            /** @description Your own password again, to confirm (re-authentication). */
            password: string;
            /**
             * @description Whether a second trader must approve each transfer before export.
             * @default false
             */
            require_approval: boolean;
            /** @description The most one transfer may move (base units). */
            single_limit: string;
        };
        /**
         * PolicyView
         * @description An account policy.
         */
        PolicyView: {
            /** @description The account. */
            account_id: string;
            /** @description `ETH` or the token address. */
            asset: string;
            /** @description Base units per rolling 24 hours. */
            daily_limit: string;
            /** @description Maker-checker. */
            require_approval: boolean;
            /** @description Base units. */
            single_limit: string;
            /** @description Last changed. */
            updated_at: string;
        };
        /**
         * Problem
         * @description An RFC 9457 problem document.
         */
        Problem: {
            /** @description What went wrong this time, in words the user can act on. */
            detail: string;
            /** @description For validation problems: the input field at fault. */
            field?: string;
            /**
             * Format: uint16
             * @description The HTTP status code.
             */
            status: number;
            /** @description A short summary of the kind of problem; the same for every occurrence. */
            title: string;
            /** @description A URI naming the kind of problem (`urn:custody:<zone>:problem:<slug>`). */
            type: string;
        };
        /**
         * ProposalView
         * @description A proposal as the APIs show it.
         */
        ProposalView: {
            /** @description Whether the person asking may withdraw it (its proposer). */
            can_cancel: boolean;
            /** @description Whether the person asking may approve or reject it (a second person with the right). */
            can_decide: boolean;
            /** @description When it was decided (RFC 3339). */
            decided_at?: string;
            /** @description Who decided it, if anyone (user id). */
            decided_by?: string;
            /** @description Their username. */
            decided_by_name?: string;
            /** @description Until when it waits for a second person (RFC 3339). */
            expires_at: string;
            /** @description The proposal's id. */
            id: string;
            /**
             * @description What change: offline `se.register`, `se.reactivate`, `case.create`, `case.archive`,
             *     `case.delete`, `case.replace_manager`, `user.grant_role`; online `user.grant_role`,
             *     `account.grant`, `policy.raise`, `destination.add`.
             */
            kind: string;
            /** @description The change's parameters, as proposed. */
            payload: unknown;
            /** @description When (RFC 3339). */
            proposed_at: string;
            /** @description Who proposed it (user id). */
            proposed_by: string;
            /** @description Their username. */
            proposed_by_name: string;
            /** @description What the approved change produced (e.g. the id of the new case). */
            result?: string;
            /** @description `PENDING`, `APPROVED`, `REJECTED`, `CANCELLED` or `EXPIRED`. */
            status: string;
        };
        /**
         * RegisterRequest
         * @description A registration.
         */
        RegisterRequest: {
            /** @description Name shown in the UI. */
            display_name: string;
            /** @description At least 8 characters, not a common password, not containing the username. */
            password: string;
            /** @description Login name (3–64 characters: letters, digits, `.`, `_`, `-`). */
            username: string;
        };
        /**
         * SetRoleRequest
         * @description A role to grant.
         */
        SetRoleRequest: {
            /** @description Your own password again, to confirm (re-authentication). */
            password: string;
            /** @description `none`, `admin`, `trader` or `auditor`. */
            role: string;
        };
        /**
         * SetStatusRequest
         * @description A status to set.
         */
        SetStatusRequest: {
            /** @description `ACTIVE` or `DISABLED`. */
            status: string;
        };
        /**
         * TokenView
         * @description A configured token.
         */
        TokenView: {
            /** @description Contract address. */
            address: string;
            /**
             * Format: int64
             * @description Chain.
             */
            chain_id: number;
            /**
             * Format: uint8
             * @description Decimals.
             */
            decimals: number;
            /** @description Symbol. */
            symbol: string;
        };
        /**
         * TransferView
         * @description A transfer.
         */
        TransferView: {
            /** @description The account. */
            account_id: string;
            /** @description Base units. */
            amount: string;
            /** @description Approver (maker-checker). */
            approved_by?: string;
            /** @description `ETH` or the token address. */
            asset: string;
            /**
             * Format: int64
             * @description The block that includes it.
             */
            block_number?: number;
            /**
             * Format: int64
             * @description Chain.
             */
            chain_id: number;
            /**
             * Format: int64
             * @description Confirmations so far.
             */
            confirmations: number;
            /** @description Created. */
            created_at: string;
            /** @description Creator. */
            created_by: string;
            /** @description Why it failed. */
            error?: string;
            /**
             * Format: int64
             * @description Gas limit.
             */
            gas_limit: number;
            /** @description Id. */
            id: string;
            /** @description Fee cap, wei per gas. */
            max_fee_per_gas: string;
            /** @description Tip, wei per gas. */
            max_priority_fee_per_gas: string;
            /**
             * Format: int64
             * @description Nonce.
             */
            nonce: number;
            /** @description The signing request it was exported as. */
            request_id?: string;
            /** @description keccak256 of the unsigned transaction, 0x-hex. */
            signing_hash: string;
            /** @description DRAFT, EXPORTED, SIGNED, BROADCAST, CONFIRMED or FAILED. */
            status: string;
            /** @description Recipient. */
            to: string;
            /** @description The transaction hash once signed. */
            tx_hash?: string;
            /** @description Last changed. */
            updated_at: string;
        };
        /**
         * UserView
         * @description A user as shown to administrators and to themselves.
         */
        UserView: {
            /** @description Created. */
            created_at: string;
            /** @description Display name. */
            display_name: string;
            /** @description Id. */
            id: string;
            /** @description Set while the account is locked after failed sign-ins. */
            locked_until?: string;
            /** @description `none`, `admin`, `trader` or `auditor`. */
            role: string;
            /** @description `ACTIVE` or `DISABLED`. */
            status: string;
            /** @description Login name. */
            username: string;
        };
        /**
         * VerifyView
         * @description Both logs' verification: hash chains, every record's MAC (the online token) and the signed
         *     checkpoints (stored in the database and in the checkpoint directory).
         */
        VerifyView: {
            /** @description Whether both chains verified. */
            intact: boolean;
            /** @description The operation log. */
            operation: components["schemas"]["ChainVerifyView"] & unknown;
            /** @description The transaction log. */
            transaction: components["schemas"]["ChainVerifyView"] & unknown;
        };
    };
    responses: never;
    parameters: never;
    requestBodies: never;
    headers: never;
    pathItems: never;
}
export type $defs = Record<string, never>;
export type operations = Record<string, never>;
