// Routes with the roles that may use them. The navigation offers only what the signed-in
// user's role allows, and the guard sends everyone else to their first allowed page.
import { createRouter, createWebHistory, type RouteRecordRaw } from "vue-router";
import { session } from "@shared/session";
import { loadSession } from "./auth";

export type Role = "admin" | "trader" | "auditor" | "none";

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
  { path: "/register", name: "register", component: () => import("./pages/RegisterPage.vue"), meta: { public: true } },
  { path: "/", name: "home", component: () => import("./pages/HomePage.vue"), meta: { nav: "nav.home" } },
  { path: "/users", name: "users", component: () => import("./pages/UsersPage.vue"), meta: { roles: ["admin"], nav: "nav.users" } },
  {
    path: "/proposals",
    name: "proposals",
    component: () => import("./pages/ProposalsPage.vue"),
    meta: { roles: ["admin"], nav: "nav.proposals" },
  },
  { path: "/tokens", name: "tokens", component: () => import("./pages/TokensPage.vue"), meta: { roles: ["admin"], nav: "nav.tokens" } },
  {
    path: "/accounts",
    name: "accounts",
    component: () => import("./pages/AccountsPage.vue"),
    meta: { roles: ["admin", "trader", "auditor"], nav: "nav.accounts" },
  },
  {
    path: "/accounts/import",
    name: "account-import",
    component: () => import("./pages/AccountImportPage.vue"),
    meta: { roles: ["trader"], nav: "nav.import" },
  },
  {
    path: "/accounts/:id",
    name: "account",
    component: () => import("./pages/AccountDetailPage.vue"),
    meta: { roles: ["admin", "trader", "auditor"] },
  },
  {
    path: "/transfers/new",
    name: "transfer-new",
    component: () => import("./pages/TransferWizardPage.vue"),
    meta: { roles: ["trader"], nav: "nav.newTransfer" },
  },
  {
    path: "/transfers",
    name: "transfers",
    component: () => import("./pages/TransfersPage.vue"),
    meta: { roles: ["trader", "auditor"], nav: "nav.transfers" },
  },
  {
    path: "/transfers/:id",
    name: "transfer",
    component: () => import("./pages/TransferDetailPage.vue"),
    meta: { roles: ["trader", "auditor"] },
  },
  {
    path: "/signatures/import",
    name: "signature-import",
    component: () => import("./pages/SignatureImportPage.vue"),
    meta: { roles: ["trader"], nav: "nav.signatureImport" },
  },
  { path: "/audit", name: "audit", component: () => import("./pages/AuditPage.vue"), meta: { roles: ["auditor"], nav: "nav.audit" } },
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
  if (to.meta.public) return session.user && to.name === "register" ? { name: "home" } : true;
  if (!session.user) return { name: "login", query: to.fullPath !== "/" ? { next: to.fullPath } : {} };
  if (!allowed(to.meta.roles, session.user.role)) return { name: "home" };
  return true;
});
