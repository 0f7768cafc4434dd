// This zone's sign-in calls (the logic is shared: @shared/auth).
import { makeAuth } from "@shared/auth";
import { api } from "./api";

export const { loadSession, login, logout } = makeAuth({
  me: () => api.GET("/api/auth/me"),
  login: (username, password) => api.POST("/api/auth/login", { body: { username, password, client: "cookie" } }),
  logout: () => api.POST("/api/auth/logout"),
});
