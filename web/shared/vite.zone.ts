// The Vite configuration both zones share: the app in <zone>/, built into <zone>/dist, which
// the zone's API serves on its own port (`web_dir`). In development, `vite --config
// <zone>/vite.config.ts` proxies /api to a running API (CUSTODY_API, default per zone).
import { fileURLToPath } from "node:url";
import path from "node:path";
import { defineConfig, type UserConfig } from "vite";
import vue from "@vitejs/plugin-vue";

export function zoneConfig(zone: "online" | "offline", apiDefault: string): UserConfig {
  const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..", zone);
  return defineConfig({
    root,
    base: "/",
    plugins: [vue()],
    resolve: { alias: { "@shared": path.resolve(root, "..", "shared") } },
    build: { outDir: path.join(root, "dist"), emptyOutDir: true, sourcemap: false, chunkSizeWarningLimit: 900 },
    server: { proxy: { "/api": process.env.CUSTODY_API ?? apiDefault } },
  });
}
