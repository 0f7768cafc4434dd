// Routes with the roles that may use them. The navigation offers only what the signed-in
// user's role allows, and the guard sends everyone else to their first allowed page.
import { createRouter, createWebHistory, type RouteRecordRaw } from "vue-router";
import { session } from "@shared/session";
import { loadSession } from "./auth";

export type Role = "admin" | "operator" | "auditor" | "case_manager";

declare module "vue-router" {
  interface RouteMeta {
    /** Who may open the page; absent: anyone signed in. `public`: also signed out. */
    roles?: Role[];
    public?: boolean;
    /** Shown in the navigation under this message key. */
    nav?: string;
  }
}

const routes: RouteRecordRaw[] = [
  { path: "/login", name: "login", component: () => import("./pages/LoginPage.vue"), meta: { public: true } },
  { path: "/", name: "home", component: () => import("./pages/HomePage.vue"), meta: { nav: "nav.home" } },
  { path: "/users", name: "users", component: () => import("./pages/UsersPage.vue"), meta: { nav: "nav.users", roles: ["admin", "auditor"] } },
  {
    path: "/secure-elements",
    name: "ses",
    component: () => import("./pages/SecureElementsPage.vue"),
    meta: { nav: "nav.ses", roles: ["admin", "auditor"] },
  },
  { path: "/cases", name: "cases", component: () => import("./pages/CasesPage.vue"), meta: { nav: "nav.cases", roles: ["admin", "auditor"] } },
  {
    path: "/cases/:id",
    name: "case",
    component: () => import("./pages/CaseDetailPage.vue"),
    props: true,
    meta: { roles: ["admin", "auditor"] },
  },
  { path: "/import", name: "import", component: () => import("./pages/ImportPage.vue"), meta: { nav: "nav.import", roles: ["operator"] } },
  {
    path: "/sessions",
    name: "sessions",
    component: () => import("./pages/SessionsPage.vue"),
    meta: { nav: "nav.sessions", roles: ["admin", "operator", "auditor"] },
  },
  {
    path: "/sessions/:id",
    name: "session",
    component: () => import("./pages/SessionDetailPage.vue"),
    props: true,
    meta: { roles: ["admin", "operator", "auditor"] },
  },
  { path: "/manifest", name: "manifest", component: () => import("./pages/ManifestPage.vue"), meta: { nav: "nav.manifest", roles: ["operator"] } },
  {
    path: "/proposals",
    name: "proposals",
    component: () => import("./pages/ProposalsPage.vue"),
    meta: { nav: "nav.proposals", roles: ["admin", "auditor"] },
  },
  { path: "/audit", name: "audit", component: () => import("./pages/AuditPage.vue"), meta: { nav: "nav.audit", roles: ["admin", "auditor"] } },
  { path: "/my-cases", name: "my-cases", component: () => import("./pages/MyCasesPage.vue"), meta: { nav: "nav.myCases", roles: ["case_manager"] } },
  { path: "/:rest(.*)*", name: "not-found", component: () => import("./pages/NotFoundPage.vue") },
];

export const router = createRouter({ history: createWebHistory(), routes });

export function allowed(roles: Role[] | undefined, role: string | undefined): boolean {
  return !roles || (role !== undefined && (roles as string[]).includes(role));
}

export function navItems(role: string | undefined) {
  return routes.filter((r) => r.meta?.nav && !r.meta.public && allowed(r.meta.roles, role));
}

router.beforeEach(async (to) => {
  await loadSession();
  if (to.meta.public) return true;
  if (!session.user) return { name: "login", query: to.fullPath !== "/" ? { next: to.fullPath } : {} };
  if (!allowed(to.meta.roles, session.user.role)) return { name: "home" };
  return true;
});
