// This zone's API client, typed by the generated schema (src/api/schema.ts).
import { makeClient } from "@shared/api";
import type { paths, components } from "./api/schema";
import { router } from "./router";

export const api = makeClient<paths>(() => {
  if (router.currentRoute.value.name !== "login") {
    void router.push({ name: "login", query: { next: router.currentRoute.value.fullPath } });
  }
});

export type Schemas = components["schemas"];
export { ok, download, poll, ApiProblem } from "@shared/api";
