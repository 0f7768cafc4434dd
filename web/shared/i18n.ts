// A small, typed i18n layer: each zone passes its English messages and a zh-CN table that the
// compiler forces to have exactly the same keys. The language is switchable, remembered in
// localStorage (the only thing the UI stores there) and defaults to the browser's language.
// A key that is missing at run time renders as ⟦key⟧ and is recorded on
// `window.__custodyMissingKeys`, which the browser tests assert is empty on every page.
import { computed, inject, ref, type App, type InjectionKey, type Ref } from "vue";

export type Locale = "en" | "zh-CN";
export const LOCALES: readonly Locale[] = ["zh-CN", "en"];
export const LOCALE_STORAGE_KEY = "custody.locale";

export type Messages<K extends string> = { en: Record<K, string>; "zh-CN": Record<K, string> };
export type Params = Record<string, string | number>;

export interface I18n {
  locale: Ref<Locale>;
  setLocale(locale: Locale): void;
  t(key: string, params?: Params): string;
  /** Whether the current language has `key` (for optional translations, e.g. problem types). */
  has(key: string): boolean;
  /** Formats an RFC 3339 time in the current language. */
  time(iso: string | null | undefined): string;
}

const KEY: InjectionKey<I18n> = Symbol("i18n");

declare global {
  interface Window {
    __custodyMissingKeys?: string[];
  }
}

function initialLocale(): Locale {
  const stored = window.localStorage.getItem(LOCALE_STORAGE_KEY);
  if (stored === "en" || stored === "zh-CN") return stored;
  const browser = (navigator.languages?.[0] ?? navigator.language ?? "").toLowerCase();
  return browser.startsWith("zh") ? "zh-CN" : "en";
}

export function createI18n<K extends string>(messages: Messages<K>): I18n & { install(app: App): void } {
  const locale = ref<Locale>(initialLocale());
  const table = computed<Record<string, string>>(() => messages[locale.value]);
  window.__custodyMissingKeys = [];
  document.documentElement.lang = locale.value;
  const i18n: I18n = {
    locale,
    setLocale(next) {
      locale.value = next;
      window.localStorage.setItem(LOCALE_STORAGE_KEY, next);
      document.documentElement.lang = next;
    },
    has(key) {
      return table.value[key] !== undefined;
    },
    t(key, params) {
      const template = table.value[key];
      if (template === undefined) {
        window.__custodyMissingKeys?.push(`${locale.value}:${key}`);
        return `⟦${key}⟧`;
      }
      if (!params) return template;
      return template.replace(/\{(\w+)\}/g, (whole, name: string) =>
        name in params ? String(params[name]) : whole,
      );
    },
    time(iso) {
      if (!iso) return "—";
      const d = new Date(iso);
      if (Number.isNaN(d.getTime())) return iso;
      return d.toLocaleString(locale.value, { hour12: false });
    },
  };
  return {
    ...i18n,
    install(app: App) {
      app.provide(KEY, i18n);
      app.config.globalProperties.$t = i18n.t;
    },
  };
}

export function useI18n(): I18n {
  const i18n = inject(KEY);
  if (!i18n) throw new Error("i18n is not installed");
  return i18n;
}

declare module "vue" {
  interface ComponentCustomProperties {
    $t: (key: string, params?: Params) => string;
  }
}
