// What the browser tests of both zones share: Debian's chromium through playwright-core
// (headless), screenshots into the folder the Rust test names, a check that a page renders in
// both languages with no missing message key, a keyboard walk through the login form, and a
// check that the browser stores nothing secret.
import { chromium } from "playwright-core";
import assert from "node:assert/strict";
import path from "node:path";

export { assert };

export function env(name) {
  const value = process.env[name];
  if (value === undefined || value === "") throw new Error(`${name} is not set (the Rust test sets it)`);
  return value;
}

async function newPage(browser, consoleErrors) {
  const context = await browser.newContext({ locale: "zh-CN", viewport: { width: 1280, height: 900 }, acceptDownloads: true });
  context.setDefaultTimeout(20_000);
  const page = await context.newPage();
  page.on("pageerror", (e) => consoleErrors.push(String(e)));
  page.on("console", (m) => {
    if (m.type() === "error") consoleErrors.push(m.text());
  });
  return { context, page };
}

export async function launch() {
  const browser = await chromium.launch({
    executablePath: process.env.CUSTODY_CHROMIUM || "/usr/bin/chromium",
    headless: true,
    args: ["--no-sandbox", "--disable-dev-shm-usage", "--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream"],
  });
  const consoleErrors = [];
  const { context, page } = await newPage(browser, consoleErrors);
  // A second person at another PC (their own browser context: own cookies and storage), e.g. the
  // administrator who approves what the first one proposes.
  const secondPage = async () => (await newPage(browser, consoleErrors)).page;
  return { browser, context, page, consoleErrors, secondPage };
}

let shot = 0;
export async function screenshot(page, name) {
  shot += 1;
  const file = path.join(env("CUSTODY_E2E_SCREENSHOTS"), `${String(shot).padStart(2, "0")}-${name}.png`);
  await page.screenshot({ path: file, fullPage: true });
  console.log(`screenshot ${file}`);
}

export function step(text) {
  console.log(`— ${text}`);
}

/** Sets the UI language through the switch every page shows. */
export async function setLanguage(page, locale) {
  await page.getByTestId("language").first().selectOption(locale);
  await page.waitForFunction((l) => document.documentElement.lang === l, locale);
}

/**
 * The current page in both languages: no message key missing (none recorded by the i18n layer,
 * no ⟦key⟧ in the text), the visible text differs between the two, and Chinese text really
 * appears in zh-CN. Leaves the page in `back` (default English). Screenshots both when `name`.
 */
export async function checkBothLanguages(page, name, back = "en") {
  const texts = {};
  for (const locale of ["zh-CN", "en"]) {
    await setLanguage(page, locale);
    await page.waitForTimeout(150);
    const missing = await page.evaluate(() => window.__custodyMissingKeys ?? null);
    assert.ok(Array.isArray(missing), "the i18n layer is installed");
    assert.deepEqual(missing, [], `missing message keys on ${name}: ${missing.join(", ")}`);
    const body = await page.locator("body").innerText();
    assert.ok(!body.includes("⟦"), `a message key shows as text on ${name} (${locale})`);
    texts[locale] = body;
    if (name) await screenshot(page, `${name}-${locale}`);
  }
  assert.match(texts["zh-CN"], /[\u4e00-\u9fff]/, `${name} shows Chinese in zh-CN`);
  assert.notEqual(texts["zh-CN"], texts.en, `${name} changes with the language`);
  if (back !== "en") await setLanguage(page, back);
  else await setLanguage(page, "en");
}

/** Tab from the top of the login page: username, password, submit are reached in order, each labelled. */
export async function tabThroughLogin(page, username, password) {
  await page.locator("body").click({ position: { x: 5, y: 5 } });
  await page.evaluate(() => document.activeElement instanceof HTMLElement && document.activeElement.blur());
  const seen = [];
  for (let i = 0; i < 10 && !seen.includes("login-submit"); i += 1) {
    await page.keyboard.press("Tab");
    const id = await page.evaluate(() => document.activeElement?.id ?? "");
    seen.push(id);
    if (id === "login-username") await page.keyboard.type(username);
    if (id === "login-password") await page.keyboard.type(password);
  }
  const order = seen.filter((id) => id.startsWith("login-"));
  assert.deepEqual(order, ["login-username", "login-password", "login-submit"], `tab order: ${seen.join(" → ")}`);
  for (const id of ["login-username", "login-password"]) {
    const label = await page.locator(`label[for="${id}"]`).innerText();
    assert.ok(label.trim().length > 0, `${id} has a label`);
    const accessible = await page.getByLabel(label.trim(), { exact: true }).getAttribute("id");
    assert.equal(accessible, id, `${id} is found by its label`);
  }
  await page.keyboard.press("Enter");
}

/**
 * What the browser keeps: localStorage only the language, sessionStorage only the CSRF token,
 * no cookie readable by script (the session cookie is HttpOnly), and none of `secrets`
 * anywhere in storage.
 */
export async function checkStorage(page, secrets) {
  const stored = await page.evaluate(() => ({
    local: Object.fromEntries(Object.entries(window.localStorage)),
    session: Object.fromEntries(Object.entries(window.sessionStorage)),
    cookie: document.cookie,
  }));
  for (const key of Object.keys(stored.local)) assert.ok(key === "custody.locale", `unexpected localStorage key ${key}`);
  for (const key of Object.keys(stored.session)) assert.ok(key === "custody.csrf", `unexpected sessionStorage key ${key}`);
  assert.equal(stored.cookie, "", "no cookie is readable by script");
  const all = JSON.stringify(stored);
  for (const secret of secrets) assert.ok(!all.includes(secret), "a secret is in browser storage");
  const idb = await page.evaluate(async () => (indexedDB.databases ? (await indexedDB.databases()).length : 0));
  assert.equal(idb, 0, "no IndexedDB database");
  return stored;
}

/** Calls the Rust test's oracle: POST <CUSTODY_E2E_ORACLE>/<what> with a JSON body. */
export async function oracle(what, body = {}) {
  const res = await fetch(`${env("CUSTODY_E2E_ORACLE")}/${what}`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(body),
  });
  const text = await res.text();
  if (!res.ok) throw new Error(`oracle ${what}: ${res.status} ${text}`);
  return text ? JSON.parse(text) : null;
}

/** Runs `body(page)` with a browser; closes it and fails the process on any error. */
export async function run(body) {
  const b = await launch();
  try {
    await body(b);
    assert.deepEqual(b.consoleErrors.filter((e) => !/status of 4\d\d/.test(e)), [], "no script errors in the page");
    console.log("PASS");
  } catch (e) {
    try {
      await screenshot(b.page, "failure");
    } catch {
      /* the page may be gone */
    }
    console.error(e);
    process.exitCode = 1;
  } finally {
    await b.browser.close();
  }
}
