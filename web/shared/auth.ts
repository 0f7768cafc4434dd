// Sign-in, sign-out and the session check on load, the same in both zones: each zone passes its
// typed API calls (GET /api/auth/me, POST /api/auth/login with its browser client kind,
// POST /api/auth/logout).
import { ok } from "./api";
import { session, signedIn, signedOut, csrfToken, type SessionUser } from "./session";

type Call<T> = Promise<{ data?: T; error?: unknown; response: Response }>;

export interface AuthCalls {
  me(): Call<SessionUser>;
  login(username: string, password: string): Call<{ user: SessionUser; csrf_token: string }>;
  logout(): Call<unknown>;
}

export function makeAuth(calls: AuthCalls) {
  return {
    /** Asks the API who the session cookie belongs to, once per page load. */
    async loadSession(): Promise<void> {
      if (session.checked) return;
      if (!csrfToken()) {
        signedOut();
        return;
      }
      const { data, response } = await calls.me();
      if (response.ok && data) {
        session.user = data;
      } else {
        signedOut();
      }
      session.checked = true;
    },
    async login(username: string, password: string): Promise<void> {
      const reply = await ok(calls.login(username, password));
      signedIn(reply.user, reply.csrf_token);
    },
    async logout(): Promise<void> {
      try {
        await calls.logout();
      } finally {
        signedOut();
      }
    },
  };
}
