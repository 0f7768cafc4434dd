// Generated from schemas/offline-api.openapi.json by web/scripts/gen-api.mjs (npm run gen). Do not edit.
export interface paths {
    "/api/audit": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /** The audit log, in chain order, filtered (all filters combine with AND). */
        get: {
            parameters: {
                query?: {
                    /** @description Only records of this action, e.g. `case.created`. */
                    action?: string;
                    /** @description Only records by this actor (a user id). */
                    actor?: string;
                    /** @description Only records after this sequence number (paging). */
                    after_seq?: number;
                    /** @description Only records at or after this time (RFC 3339). */
                    from?: string;
                    /** @description At most this many records (default 100, at most 1000). */
                    limit?: number;
                    /** @description Only records about this object id. */
                    object?: string;
                    /** @description Only records before this time (RFC 3339). */
                    to?: string;
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
                        "application/json; charset=utf-8": components["schemas"]["AuditRecordView"][];
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
         * Verify the audit log from the first record to the last: the hash chain, every record's
         *     MAC with the offline HSM, and the signed checkpoints (database and checkpoint
         *     directory).
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
                        "application/json; charset=utf-8": components["schemas"]["AuditVerifyView"];
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
        /**
         * Register an account. It is created DISABLED and without effect until an administrator
         *     grants a role and enables it.
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
    "/api/balance-attestations": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        get?: never;
        put?: never;
        /**
         * Import a `BalanceAttestation` from the online zone (verified against the pinned online
         *     key). The latest one for a case's address decides whether the case may be deleted.
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
                    "application/json; charset=utf-8": components["schemas"]["ImportEnvelope"];
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
                        "application/json; charset=utf-8": components["schemas"]["AttestationView"];
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
    "/api/cases": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /** All cases. */
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
                        "application/json; charset=utf-8": components["schemas"]["CaseView"][];
                    };
                };
            };
        };
        put?: never;
        /**
         * Propose a draft case with three managers and three SEs; it is created when a second
         *     administrator approves. Neither administrator may be one of its managers.
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
                    "application/json; charset=utf-8": components["schemas"]["CreateCaseRequest"];
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
    "/api/cases/{id}": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /** A case with its current key-share rows. */
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
                        "application/json; charset=utf-8": components["schemas"]["CaseDetail"];
                    };
                };
            };
        };
        put?: never;
        post?: never;
        /**
         * Propose deleting a case (re-authentication required; a second administrator approves).
         *     Allowed only while no key was generated and no signing request exists, or with a recent
         *     zero-balance attestation; otherwise archive it.
         */
        delete: {
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
                    "application/json; charset=utf-8": components["schemas"]["ReauthRequest"];
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
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/api/cases/{id}/archive": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        get?: never;
        put?: never;
        /**
         * Propose archiving a case (re-authentication required; a second administrator approves;
         *     it cannot be undone): kept with its key shares, signs nothing new.
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
                    "application/json; charset=utf-8": components["schemas"]["ReauthRequest"];
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
    "/api/cases/{id}/key-shares": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /** The key-share table of a case: every row, current and former. */
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
                        "application/json; charset=utf-8": components["schemas"]["KeyShareView"][];
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
    "/api/cases/{id}/manifest": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        get?: never;
        put?: never;
        /**
         * Export the `AccountManifest` of an ACTIVE case (its public key, address and chains),
         *     signed by the HSM, for import into the online zone.
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
                        "application/json; charset=utf-8": components["schemas"]["ExportedEnvelope"];
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
    "/api/cases/{id}/rekey": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        get?: never;
        put?: never;
        /**
         * Mark an ACTIVE case for re-key (a new keygen and a sweep of its funds), e.g. after an
         *     SE was lost. The case keeps signing until it is archived: the sweep needs it.
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
                    "application/json; charset=utf-8": components["schemas"]["RekeyRequest"];
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
                        "application/json; charset=utf-8": components["schemas"]["CaseView"];
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
    "/api/cases/{id}/replace-manager": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        get?: never;
        put?: never;
        /**
         * Propose handing a share over to a new manager (re-authentication required; a second
         *     administrator approves): the key-share row is re-bound, the SE stays, the PIN reset is
         *     recorded, the old manager loses access.
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
                    "application/json; charset=utf-8": components["schemas"]["ReplaceManagerRequest"];
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
    "/api/health": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /** Whether the service is up. */
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
    "/api/key-shares": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /** The current key-share rows of a case public key (hex). */
        get: {
            parameters: {
                query: {
                    public_key: string;
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
                        "application/json; charset=utf-8": components["schemas"]["KeyShareView"][];
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
    "/api/me/cases": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /**
         * The cases the signed-in case manager currently holds a share of. A manager who was
         *     replaced no longer sees the case here.
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
                        "application/json; charset=utf-8": components["schemas"]["MyCase"][];
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
    "/api/me/se-enrolment": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        get?: never;
        put?: never;
        /**
         * Enrol the caller's own SE (case managers) with the proof `custody-client enroll`
         *     printed: checked (the SE's identity key signed this manager's unused, unexpired
         *     challenge), then proposed; when an administrator approves it, the offline CA certifies the
         *     key and the SE is registered as enrolled by this manager.
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
                    "application/json; charset=utf-8": components["schemas"]["EnrolSeRequest"];
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
    "/api/me/se-enrolment/challenge": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        get?: never;
        put?: never;
        /**
         * A one-time challenge for enrolling the caller's own SE (case managers): the SE signs it
         *     in `custody-client enroll --challenge`, proving the manager holds its identity key.
         */
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
                200: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json; charset=utf-8": components["schemas"]["EnrolmentChallenge"];
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
    "/api/proposals": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /**
         * Proposals, newest first: by default those still waiting for a second administrator
         *     (`pending=false`: all, decided ones too).
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
         * Approve a proposal (a second administrator, password re-entered): the change takes
         *     effect now, exactly once. If it no longer passes its checks, nothing changes and the
         *     proposal stays pending.
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
                    "application/json; charset=utf-8": components["schemas"]["ReauthRequest"];
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
        /** Withdraw one's own proposal; nothing changes. */
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
        /** Reject a proposal (a second administrator, password re-entered); nothing changes. */
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
                    "application/json; charset=utf-8": components["schemas"]["ReauthRequest"];
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
    "/api/secure-elements": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /** All secure elements. */
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
                        "application/json; charset=utf-8": components["schemas"]["SeView"][];
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
    "/api/secure-elements/{id}/status": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        get?: never;
        /**
         * Change an SE's status: marking it INACTIVE, LOST or REVOKED takes effect at once; putting
         *     it back into service (ACTIVE) is a proposal a second administrator must approve.
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
                    "application/json; charset=utf-8": components["schemas"]["SetSeStatusRequest"];
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
                /** @description Changed (INACTIVE, LOST, REVOKED). */
                200: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json; charset=utf-8": components["schemas"]["SeView"];
                    };
                };
                /** @description Proposed (back to ACTIVE); a second administrator must approve. */
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
    "/api/sessions": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /** Keygen and signing sessions, newest first (optionally of one case, in one status). */
        get: {
            parameters: {
                query?: {
                    /** @description Only this case's sessions. */
                    case_id?: string;
                    /** @description Only sessions in this status (`PENDING`, `RUNNING`, `COMPLETED`, `FAILED`, `EXPIRED`). */
                    status?: string;
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
                        "application/json; charset=utf-8": components["schemas"]["SessionView"][];
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
    "/api/sessions/{id}": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /** One session with its progress: who is ready, what it signs, the signatures. */
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
                        "application/json; charset=utf-8": components["schemas"]["SessionDetailView"];
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
    "/api/signing-requests": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /** Imported signing requests, newest first. */
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
                        "application/json; charset=utf-8": components["schemas"]["SigningRequestView"][];
                    };
                };
            };
        };
        put?: never;
        /**
         * Import a signing request from the online zone: verified against the pinned online key,
         *     decoded, hash and chain checked, matched to an active case by its `from` address,
         *     stored once. Returns the decoded transaction and whom to call.
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
                    "application/json; charset=utf-8": components["schemas"]["ImportSigningRequest"];
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
                        "application/json; charset=utf-8": components["schemas"]["ImportResult"];
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
    "/api/signing-requests/{id}/response": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        get?: never;
        put?: never;
        /**
         * Export the `SignatureResponse` of a signed request, signed by the HSM: armored text
         *     (save as a file) and QR parts. The signature is checked against the case address
         *     before anything is signed; every export is audited.
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
                        "application/json; charset=utf-8": components["schemas"]["ExportedEnvelope"];
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
    "/api/signing-requests/batch": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        get?: never;
        put?: never;
        /**
         * Import 2 to 16 signing requests of ONE case as a batch that ONE signing session signs
         *     (one full signing run per request, each approved by the managers). Every envelope gets
         *     the checks of the single import; if any fails, the whole batch is refused with that
         *     envelope's problem, its position in the problem's `field` (`envelopes[i]`) and detail,
         *     and nothing is written.
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
                    "application/json; charset=utf-8": components["schemas"]["ImportSigningBatch"];
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
                        "application/json; charset=utf-8": components["schemas"]["BatchImportResult"];
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
         * Propose a role for a user (re-authentication required); a second administrator must
         *     approve it before it takes effect.
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
        /** Enable or disable a user; disabling revokes the user's sessions at once. */
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
                    "application/json; charset=utf-8": components["schemas"]["SetUserStatusRequest"];
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
         * AttestationView
         * @description An imported balance attestation.
         */
        AttestationView: {
            /** @description The attested address. */
            address: string;
            /** @description The balances. */
            balances: unknown;
            /** @description That block's hash (hex). */
            block_hash: string;
            /**
             * Format: int64
             * @description The block the balances were read at.
             */
            block_number: number;
            /**
             * Format: int64
             * @description EIP-155 chain id.
             */
            chain_id: number;
            /** @description Whether every balance is zero. */
            empty: boolean;
            /** @description The envelope id. */
            envelope_id: string;
            /** @description The row id. */
            id: string;
            /** @description When the online zone signed it (RFC 3339). */
            issued_at: string;
        };
        /**
         * AuditRecordView
         * @description One audit record.
         */
        AuditRecordView: {
            /** @description What. */
            action: string;
            /** @description Who. */
            actor: string;
            /** @description When (RFC 3339). */
            at: string;
            /** @description Details. */
            details: unknown;
            /** @description This record's hash. */
            hash: string;
            /** @description To what. */
            object: string;
            /** @description The previous record's hash. */
            prev_hash: string;
            /**
             * Format: int64
             * @description Position in the chain.
             */
            seq: number;
        };
        /**
         * AuditVerifyView
         * @description The audit log's verification: the hash chain, every record's MAC (the offline HSM) and the
         *     signed checkpoints (database and checkpoint directory).
         */
        AuditVerifyView: {
            /** @description The audit chain. */
            audit: components["schemas"]["ChainVerifyView"] & unknown;
            /** @description Whether the log verified. */
            intact: boolean;
        };
        /**
         * BatchImportedRequest
         * @description One request of an imported batch.
         */
        BatchImportedRequest: {
            /** @description Who approved it in the online zone. */
            approved_by: string[];
            /** @description Who built it in the online zone. */
            created_by: string;
            /** @description The row id. */
            id: string;
            /** @description The envelope's request id. */
            request_id: string;
            /** @description The decoded transaction. */
            transaction: components["schemas"]["DecodedTransaction"] & unknown;
        };
        /**
         * BatchImportResult
         * @description An imported batch: one signing session for all its requests.
         */
        BatchImportResult: {
            /** @description The case every request belongs to. */
            case_id: string;
            /** @description The case name. */
            case_name: string;
            /** @description The requests, in the order of the envelopes. */
            requests: components["schemas"]["BatchImportedRequest"][];
            /**
             * @description When the session expires (RFC 3339): the earliest expiry of its requests, at most a
             *     day away.
             */
            session_expires_at: string;
            /** @description The one signing session created for the batch. */
            session_id: string;
            /** @description Whom to call: the case's current managers (any two of them sign every request). */
            who_to_call: components["schemas"]["Contact"][];
        };
        /**
         * CaseDetail
         * @description A case with its key-share rows.
         */
        CaseDetail: {
            /** @description The case. */
            case: components["schemas"]["CaseView"] & unknown;
            /** @description The current key-share rows, by share index. */
            key_shares: components["schemas"]["KeyShareView"][];
        };
        /**
         * CaseView
         * @description A case.
         */
        CaseView: {
            /** @description The account address, once keygen finished. */
            address?: string;
            /** @description The chain ids. */
            chain_ids: unknown;
            /** @description When (RFC 3339). */
            created_at: string;
            /** @description Who created it. */
            created_by: string;
            /** @description The case id. */
            id: string;
            /** @description The name. */
            name: string;
            /** @description The case public key (hex), once keygen finished. */
            public_key?: string;
            /** @description Why. */
            rekey_reason?: string;
            /** @description When the case was marked for re-key (RFC 3339). */
            rekey_requested_at?: string;
            /** @description `DRAFT`, `KEYGEN`, `ACTIVE` or `ARCHIVED`. */
            status: string;
            /** @description Last change (RFC 3339). */
            updated_at: string;
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
        ClientKind: "browser" | "bearer";
        /**
         * Contact
         * @description A manager to call for signing.
         */
        Contact: {
            /** @description Display name. */
            display_name: string;
            /** @description Phone. */
            phone?: string;
            /** @description The SE label. */
            se_label: string;
            /** @description The SE to bring. */
            se_serial: string;
            /**
             * Format: int32
             * @description Their share.
             */
            share_index: number;
            /** @description The user id. */
            user_id: string;
        };
        /**
         * CreateCaseRequest
         * @description Create a case.
         */
        CreateCaseRequest: {
            /** @description The EIP-155 chain ids the case may sign for (at least one). */
            chain_ids: number[];
            /** @description Exactly three slots; slot i holds share i. */
            managers: components["schemas"]["SlotInput"][];
            /** @description The case name. */
            name: string;
        };
        /**
         * DecodedTransaction
         * @description The decoded transaction, as the managers will see it.
         */
        DecodedTransaction: {
            /** @description Amount in base units (decimal). */
            amount: string;
            /** @description `ETH`, `USDC`… */
            asset_symbol: string;
            /**
             * Format: uint64
             * @description EIP-155 chain id.
             */
            chain_id: number;
            /**
             * Format: uint8
             * @description Decimals for display.
             */
            decimals: number;
            /** @description The account that signs. */
            from: string;
            /**
             * Format: uint64
             * @description Gas limit.
             */
            gas_limit: number;
            /** @description Max fee per gas, wei. */
            max_fee_per_gas: string;
            /** @description The most the fees can cost, wei. */
            max_fee_wei: string;
            /** @description Max priority fee per gas, wei. */
            max_priority_fee_per_gas: string;
            /**
             * Format: uint64
             * @description Nonce.
             */
            nonce: number;
            /** @description Who receives the funds. */
            recipient: string;
            /** @description keccak256 of the unsigned transaction (hex), for comparison by eye. */
            signing_hash: string;
            /** @description The transaction's `to` (the token contract for ERC-20). */
            to: string;
            /** @description The ERC-20 contract, if a token. */
            token?: string;
        };
        /**
         * EnrolmentChallenge
         * @description A one-time challenge for enrolling an SE.
         */
        EnrolmentChallenge: {
            /** @description 32 random bytes, hex: pass it to `custody-client enroll --challenge`. */
            challenge: string;
            /** @description Until when it can be answered (RFC 3339). */
            expires_at: string;
        };
        /**
         * EnrolSeRequest
         * @description A case manager's enrolment of their own SE: the proof `custody-client enroll --challenge`
         *     printed (the SE's identity key signed the manager's one-time challenge).
         */
        EnrolSeRequest: {
            /** @description A label for people (e.g. where the SE is kept). */
            label: string;
            /** @description The proof text (`custody-se-enrolment:…`). */
            proof: string;
        };
        /**
         * ExportedEnvelope
         * @description A signed document leaving the offline zone, in every transfer form.
         */
        ExportedEnvelope: {
            /** @description The armored text (save as a file). */
            armored: string;
            /** @description The envelope id. */
            envelope_id: string;
            /** @description When the document expires (RFC 3339). */
            expires_at: string;
            /** @description `signature_response` or `account_manifest`. */
            kind: string;
            /** @description The QR part texts, in order (show one code per part). */
            qr_parts: string[];
        };
        /**
         * Health
         * @description `GET /api/health`.
         */
        Health: {
            /** @description Always `ok` when the service answers. */
            status: string;
        };
        /**
         * ImportEnvelope
         * @description An envelope to import (balance attestation).
         */
        ImportEnvelope: {
            /**
             * @description The envelope as armored text, as QR part texts (one per line), or as base64 of the
             *     envelope bytes.
             */
            envelope: string;
        };
        /**
         * ImportResult
         * @description An imported signing request.
         */
        ImportResult: {
            /** @description Who approved it in the online zone. */
            approved_by: string[];
            /** @description The case. */
            case_id: string;
            /** @description The case name. */
            case_name: string;
            /** @description Who built it in the online zone. */
            created_by: string;
            /** @description The row id. */
            id: string;
            /** @description The envelope's request id. */
            request_id: string;
            /** @description When the session expires (RFC 3339) unless two managers have signed. */
            session_expires_at: string;
            /** @description The signing session created for the request. */
            session_id: string;
            /** @description The decoded transaction. */
            transaction: components["schemas"]["DecodedTransaction"] & unknown;
            /** @description Whom to call: the case's current managers (any two of them sign). */
            who_to_call: components["schemas"]["Contact"][];
        };
        /**
         * ImportSigningBatch
         * @description Import several signing requests of one case as one batch, signed in one session.
         */
        ImportSigningBatch: {
            /**
             * @description 2 to 16 envelopes, each in any form the single import accepts (armored text, QR part
             *     texts one per line, or base64 of the envelope bytes). The whole body counts against
             *     the request size limit.
             */
            envelopes: string[];
        };
        /**
         * ImportSigningRequest
         * @description Import a signing request.
         */
        ImportSigningRequest: {
            /**
             * @description The envelope as armored text, as QR part texts (one per line), or as base64 of the
             *     envelope bytes.
             */
            envelope: string;
        };
        /**
         * KeyShareView
         * @description A row of the key-share table (私钥分片表).
         */
        KeyShareView: {
            /** @description The case. */
            case_id: string;
            /** @description When the binding was made (RFC 3339). */
            created_at: string;
            /** @description When it ended. */
            deactivated_at?: string;
            /** @description The manager's display name. */
            display_name?: string;
            /** @description The row id. */
            id: string;
            /** @description The case public key (hex), once keygen finished. */
            public_key?: string;
            /** @description The SE. */
            se_id: string;
            /** @description The SE serial. */
            se_serial?: string;
            /**
             * Format: int32
             * @description 0, 1 or 2.
             */
            share_index: number;
            /** @description `ACTIVE` (current holder) or `INACTIVE` (former holder). */
            status: string;
            /** @description The manager. */
            user_id: string;
            /** @description The manager's login name. */
            username?: string;
        };
        /**
         * LoginRequest
         * @description A sign-in.
         */
        LoginRequest: {
            /** @description `browser` (cookie, default) or `bearer` (token in the body). */
            client?: components["schemas"]["ClientKind"] & unknown;
            /** @description The password. */
            password: string;
            /** @description The username. */
            username: string;
        };
        /**
         * LoginResponse
         * @description A successful sign-in.
         */
        LoginResponse: {
            /** @description Echo this in `X-CSRF-Token` on every state-changing request made with the cookie. */
            csrf_token: string;
            /** @description When the session ends if it is not used (RFC 3339). */
            expires_at: string;
            /** @description Only for `client = bearer`: the session token for `Authorization: Bearer`. */
            session_token?: string;
            /** @description Who signed in. */
            user: components["schemas"]["UserView"] & unknown;
        };
        /**
         * MyCase
         * @description A case the caller holds a share of.
         */
        MyCase: {
            /** @description The case. */
            case: components["schemas"]["CaseView"] & unknown;
            /** @description The SE holding it. */
            se_serial?: string;
            /**
             * Format: int32
             * @description The caller's share.
             */
            share_index: number;
        };
        /**
         * ParticipantView
         * @description A participant of a session: a manager to call, and where they are.
         */
        ParticipantView: {
            /** @description Last change (RFC 3339). */
            at: string;
            /**
             * @description Whether the manager's client is connected: the share was made available through a
             *     secure channel that is still open.
             */
            connected: boolean;
            /** @description Display name. */
            display_name?: string;
            /** @description Phone. */
            phone?: string;
            /** @description The SE. */
            se_id: string;
            /** @description The SE serial to bring. */
            se_serial?: string;
            /**
             * Format: int32
             * @description Their share.
             */
            share_index: number;
            /** @description `WAITING`, `READY`, `DONE`, `FAILED`. */
            status: string;
            /** @description The manager. */
            user_id: string;
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
         * ReauthRequest
         * @description Confirm a sensitive operation with the caller's password.
         */
        ReauthRequest: {
            /** @description The caller's own password, again. */
            password: string;
        };
        /**
         * RegisterRequest
         * @description A self-registration.
         */
        RegisterRequest: {
            /** @description The name shown to others (on the who-to-call list). */
            display_name: string;
            /** @description 8–64 characters, not a common password, not containing the username. */
            password: string;
            /** @description A phone number for the who-to-call list. */
            phone?: string;
            /** @description 3–64 characters: a-z, 0-9, `.`, `_`, `-`. */
            username: string;
        };
        /**
         * RekeyRequest
         * @description Why a case is to be re-keyed.
         */
        RekeyRequest: {
            /** @description The reason, for the record (e.g. "SE 0042 lost"). */
            reason: string;
        };
        /**
         * ReplaceManagerRequest
         * @description Hand a share over to a new manager (re-authentication: the administrator's password).
         */
        ReplaceManagerRequest: {
            /** @description The new manager (an active case manager). */
            new_user_id: string;
            /** @description The administrator's own password, again. */
            password: string;
            /** @description The security officer who reset the SE's PIN at hand-over. */
            pin_reset_by: string;
            /** @description Why. */
            reason: string;
            /**
             * Format: int32
             * @description The share that changes hands (0, 1, 2).
             */
            share_index: number;
        };
        /**
         * @description The offline roles an administrator can grant.
         * @enum {string}
         */
        RoleName: "admin" | "case_manager" | "operator" | "auditor";
        /**
         * SessionDetailView
         * @description A session with its progress.
         */
        SessionDetailView: {
            /** @description Its participants, by share index. */
            participants: components["schemas"]["ParticipantView"][];
            /** @description The requests it signs. */
            requests: components["schemas"]["SessionRequestView"][];
            /** @description The session. */
            session: components["schemas"]["SessionView"] & unknown;
            /** @description The signatures produced. */
            signatures: components["schemas"]["SignatureView"][];
        };
        /**
         * SessionRequestView
         * @description A request signed in a session.
         */
        SessionRequestView: {
            /** @description Hex of the signing run's execution id, once the run started. */
            execution_id?: string;
            /** @description The request row id. */
            id: string;
            /** @description The envelope's request id. */
            request_id: string;
            /** @description The request's status. */
            status: string;
            /** @description The signing hash. */
            tx_hash: string;
        };
        /**
         * SessionView
         * @description A keygen or signing session.
         */
        SessionView: {
            /** @description The case. */
            case_id: string;
            /** @description When it was created (RFC 3339). */
            created_at: string;
            /** @description Why it failed or expired. */
            error?: string;
            /** @description Hex of the session's execution id. */
            execution_id: string;
            /** @description When it expires (RFC 3339). */
            expires_at?: string;
            /** @description When it finished (RFC 3339). */
            finished_at?: string;
            /** @description The session id. */
            id: string;
            /** @description `KEYGEN` or `SIGN`. */
            kind: string;
            /**
             * @description Where a started session is: `aux_info`, `keygen`, `signing`, `done`; `null` before it
             *     starts.
             */
            progress?: string;
            /** @description The share indices taking part in the run, once it started (`null` before). */
            roster?: number[];
            /** @description `PENDING`, `RUNNING`, `COMPLETED`, `FAILED`, `EXPIRED`. */
            status: string;
        };
        /**
         * @description SE status values.
         * @enum {string}
         */
        SeStatusName: "ACTIVE" | "INACTIVE" | "LOST" | "REVOKED";
        /**
         * SetRoleRequest
         * @description Grant a role (re-authentication: the administrator's password).
         */
        SetRoleRequest: {
            /** @description The administrator's own password, again. */
            password: string;
            /** @description The new role. */
            role: components["schemas"]["RoleName"] & unknown;
        };
        /**
         * SetSeStatusRequest
         * @description Change an SE's status.
         */
        SetSeStatusRequest: {
            /** @description The new status. */
            status: components["schemas"]["SeStatusName"] & unknown;
        };
        /**
         * SetUserStatusRequest
         * @description Enable or disable a user.
         */
        SetUserStatusRequest: {
            /** @description The new status. */
            status: components["schemas"]["UserStatusName"] & unknown;
        };
        /**
         * SeView
         * @description A secure element.
         */
        SeView: {
            /** @description The certificate the offline CA issued, hex. */
            certificate?: string;
            /** @description When it was registered (RFC 3339). */
            created_at: string;
            /** @description When (RFC 3339). */
            enrolled_at?: string;
            /** @description The case manager who proved possession of its key at enrolment. */
            enrolled_by?: string;
            /** @description Who holds it now. */
            holder_user_id?: string;
            /** @description The SE id. */
            id: string;
            /** @description The identity key, hex SEC1. */
            identity_public_key: string;
            /** @description The label. */
            label: string;
            /** @description The token serial. */
            serial: string;
            /** @description `ACTIVE`, `INACTIVE`, `LOST` or `REVOKED`. */
            status: string;
        };
        /**
         * SignatureView
         * @description A signature produced in a session.
         */
        SignatureView: {
            /** @description When (RFC 3339). */
            at: string;
            /** @description Hex r. */
            r: string;
            /** @description Hex s (low-s). */
            s: string;
            /** @description Hex of the signed transaction. */
            signed_tx: string;
            /** @description The request row id. */
            signing_request_id: string;
            /**
             * Format: int64
             * @description y-parity.
             */
            v: number;
        };
        /**
         * SigningRequestView
         * @description A stored signing request.
         */
        SigningRequestView: {
            /** @description When (RFC 3339). */
            at: string;
            /** @description The case. */
            case_id: string;
            /** @description The decoded transaction. */
            decoded: unknown;
            /** @description The row id. */
            id: string;
            /** @description Who imported it. */
            imported_by: string;
            /** @description The envelope's request id. */
            request_id: string;
            /** @description `IMPORTED`, `SIGNING`, `SIGNED`, `EXPORTED`, `FAILED`, `EXPIRED`. */
            status: string;
            /** @description The signing hash. */
            tx_hash: string;
        };
        /**
         * SlotInput
         * @description One slot of a new case: share index = position.
         */
        SlotInput: {
            /** @description The SE that will hold the share. */
            se_id: string;
            /** @description The case manager. */
            user_id: string;
        };
        /**
         * @description Account status values.
         * @enum {string}
         */
        UserStatusName: "ACTIVE" | "DISABLED";
        /**
         * UserView
         * @description A user as the API shows it. Never the password hash.
         */
        UserView: {
            /** @description When the account was created (RFC 3339). */
            created_at: string;
            /** @description The display name. */
            display_name: string;
            /** @description The user id. */
            id: string;
            /** @description The phone number. */
            phone?: string;
            /** @description `admin`, `case_manager`, `operator` or `auditor`. */
            role: string;
            /** @description `ACTIVE` or `DISABLED` (a new self-registered account is `DISABLED` until approved). */
            status: string;
            /** @description The login name. */
            username: string;
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
