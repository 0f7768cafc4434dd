// Small helpers the pages share: loading a resource with its states, statuses as translated
// badges, token amounts with their decimals.
import { ref, type Ref } from "vue";

export interface Loaded<T> {
  data: Ref<T | null>;
  loading: Ref<boolean>;
  error: Ref<unknown>;
  reload: () => Promise<void>;
}

/** Loads `fn` now and on `reload()`, keeping loading/error for StateBox. */
export function useLoad<T>(fn: () => Promise<T>, now = true): Loaded<T> {
  const data = ref<T | null>(null) as Ref<T | null>;
  const loading = ref(false);
  const error = ref<unknown>(null);
  async function reload() {
    loading.value = true;
    error.value = null;
    try {
      data.value = await fn();
    } catch (e) {
      error.value = e;
    } finally {
      loading.value = false;
    }
  }
  if (now) void reload();
  return { data, loading, error, reload };
}

const KNOWN = new Set([
  "ACTIVE", "ARCHIVED", "COMPLETED", "DISABLED", "DONE", "DRAFT", "EXPIRED", "EXPORTED", "FAILED",
  "IMPORTED", "INACTIVE", "KEYGEN", "LOST", "PENDING", "READY", "REVOKED", "RUNNING", "SIGNED",
  "SIGNING", "WAITING",
]);

/** The message key of a status value (unknown values are shown as they are). */
export function statusKey(status: string): string | null {
  const s = status.toUpperCase();
  return KNOWN.has(s) ? `status.${s}` : null;
}

/** The badge colour of a status. */
export function badgeClass(status: string): string {
  const s = status.toUpperCase();
  if (["ACTIVE", "COMPLETED", "DONE", "READY", "SIGNED", "EXPORTED"].includes(s)) return "badge ok";
  if (["LOST", "REVOKED", "FAILED", "EXPIRED", "DISABLED"].includes(s)) return "badge bad";
  return "badge warn";
}

/** A base-unit integer string shown with `decimals` (exact, no floating point). */
export function formatUnits(amount: string, decimals: number): string {
  if (!/^\d+$/.test(amount) || decimals <= 0) return amount;
  const padded = amount.padStart(decimals + 1, "0");
  const whole = padded.slice(0, padded.length - decimals).replace(/\B(?=(\d{3})+(?!\d))/g, ",");
  const frac = padded.slice(padded.length - decimals).replace(/0+$/, "");
  return frac ? `${whole}.${frac}` : whole;
}

/** A problem's message, or null. */
export function short(id: string | null | undefined, n = 8): string {
  if (!id) return "—";
  return id.length > n + 2 ? `${id.slice(0, n)}…` : id;
}
