// Data a page loads and reloads: the value, whether it is loading, the problem if it failed.
import { ref, type Ref } from "vue";

export interface Loaded<T> {
  data: Ref<T | null>;
  loading: Ref<boolean>;
  error: Ref<unknown>;
  reload: () => Promise<void>;
}

/** Loads `fn` now and on every `reload()`. */
export function useLoad<T>(fn: () => Promise<T>): Loaded<T> {
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
  void reload();
  return { data, loading, error, reload };
}
