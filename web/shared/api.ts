// The API client of a zone: openapi-fetch over the types generated from schemas/ (no
// hand-written DTOs). Same-origin cookie session; the CSRF header on every state change; an API
// problem (RFC 9457) becomes an ApiProblem the pages show as it is.
import createClient, { type Client, type Middleware } from "openapi-fetch";
import { csrfToken, signedOut } from "./session";

export class ApiProblem extends Error {
  constructor(
    readonly status: number,
    readonly title: string,
    readonly detail: string,
    readonly field?: string,
    readonly type?: string,
  ) {
    super(detail || title);
  }
}

/** What a failed call returned, as a problem (a network failure is status 0). */
export function toProblem(status: number, body: unknown): ApiProblem {
  if (body && typeof body === "object") {
    const p = body as Record<string, unknown>;
    return new ApiProblem(
      status,
      String(p.title ?? "Error"),
      String(p.detail ?? ""),
      typeof p.field === "string" ? p.field : undefined,
      typeof p.type === "string" ? p.type : undefined,
    );
  }
  return new ApiProblem(status, "Error", typeof body === "string" ? body : "");
}

export function makeClient<Paths extends {}>(onUnauthorized: () => void): Client<Paths> {
  const client = createClient<Paths>({ baseUrl: window.location.origin, credentials: "same-origin" });
  const middleware: Middleware = {
    onRequest({ request }) {
      if (request.method !== "GET" && request.method !== "HEAD") {
        const csrf = csrfToken();
        if (csrf) request.headers.set("X-CSRF-Token", csrf);
      }
      return request;
    },
    onResponse({ response, request }) {
      if (response.status === 401 && !request.url.endsWith("/api/auth/login")) {
        signedOut();
        onUnauthorized();
      }
      return response;
    },
  };
  client.use(middleware);
  return client;
}

/**
 * The data of an openapi-fetch result, or an ApiProblem thrown.
 * Usage: `const cases = await ok(api.GET("/api/cases"))`.
 */
export async function ok<T>(
  call: Promise<{ data?: T; error?: unknown; response: Response }>,
): Promise<T> {
  let result: { data?: T; error?: unknown; response: Response };
  try {
    result = await call;
  } catch (e) {
    throw new ApiProblem(0, "Network error", e instanceof Error ? e.message : String(e));
  }
  if (!result.response.ok) throw toProblem(result.response.status, result.error);
  return result.data as T;
}

/** Saves text as a file download (an exported envelope). */
export function download(name: string, text: string, type = "text/plain"): void {
  const url = URL.createObjectURL(new Blob([text], { type }));
  const a = document.createElement("a");
  a.href = url;
  a.download = name;
  document.body.appendChild(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 1000);
}

/** Polls `fn` every `ms` while the returned stop function has not been called. */
export function poll(fn: () => Promise<void> | void, ms: number): () => void {
  let stopped = false;
  let timer: number | undefined;
  const tick = async () => {
    if (stopped) return;
    try {
      await fn();
    } finally {
      if (!stopped) timer = window.setTimeout(tick, ms);
    }
  };
  void tick();
  return () => {
    stopped = true;
    if (timer !== undefined) window.clearTimeout(timer);
  };
}
