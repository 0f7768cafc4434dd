// Who is signed in. The session itself is the HttpOnly, SameSite=Strict cookie the API sets
// (JavaScript cannot read it); the CSRF token from the login response is kept in sessionStorage
// (this tab only, gone when it closes) so a reload can still make changes. Nothing else —
// no password, no key material — is ever stored by the UI.
import { reactive } from "vue";

export const CSRF_STORAGE_KEY = "custody.csrf";

export interface SessionUser {
  id: string;
  username: string;
  display_name: string;
  role: string;
  status: string;
  phone?: string | null;
}

export const session = reactive<{ user: SessionUser | null; checked: boolean }>({
  user: null,
  checked: false,
});

export function csrfToken(): string | null {
  return window.sessionStorage.getItem(CSRF_STORAGE_KEY);
}

export function signedIn(user: SessionUser, csrf: string): void {
  window.sessionStorage.setItem(CSRF_STORAGE_KEY, csrf);
  session.user = user;
  session.checked = true;
}

export function signedOut(): void {
  window.sessionStorage.removeItem(CSRF_STORAGE_KEY);
  session.user = null;
  session.checked = true;
}
