// Sign-in, sign-out and the session check on load (GET /api/auth/me with the cookie).
import { ok } from "@shared/api";
import { session, signedIn, signedOut, csrfToken } from "@shared/session";
import { api } from "./api";

export async function loadSession(): Promise<void> {
  if (session.checked) return;
  if (!csrfToken()) {
    signedOut();
    return;
  }
  const { data, response } = await api.GET("/api/auth/me");
  if (response.ok && data) {
    session.user = data;
  } else {
    signedOut();
  }
  session.checked = true;
}

export async function login(username: string, password: string): Promise<void> {
  const reply = await ok(api.POST("/api/auth/login", { body: { username, password, client: "cookie" } }));
  signedIn(reply.user, reply.csrf_token);
}

export async function logout(): Promise<void> {
  try {
    await api.POST("/api/auth/logout");
  } finally {
    signedOut();
  }
}
