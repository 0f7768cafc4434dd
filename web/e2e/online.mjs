// The online zone in a browser (driven by services/web-e2e/tests/online.rs, which stands the
// zone up and runs the oracle): registration, the administrator's keyboard sign-in, roles,
// tokens, the account manifest imported by file upload, grants, limits and the allow-list, the
// transfer wizard to the QR codes and the file, the signature imported, the transfer watched to
// CONFIRMED; then an ERC-20 transfer whose signature a second browser scans with its camera (a
// video of the response's QR codes), watched to CONFIRMED too; and the auditor's logs, CSV and
// chain verification. Every page in both languages. Four-eyes: every role grant, account grant,
// first limit and allow-list entry the administrator submits is only a proposal until a second
// administrator, in their own browser, approves it under Pending approvals with their password;
// exporting a transfer asks for the trader's password again.
import fs from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { qrVideo, launchWithCamera } from "./camera.mjs";
import {
  run,
  env,
  step,
  screenshot,
  checkBothLanguages,
  tabThroughLogin,
  checkStorage,
  setLanguage,
  oracle,
  assert,
} from "./lib.mjs";

const URL = env("CUSTODY_E2E_URL");
const ADMIN = env("CUSTODY_E2E_ADMIN_USER");
const ADMIN_PASSWORD = env("CUSTODY_E2E_ADMIN_PASSWORD");
const ADMIN2 = env("CUSTODY_E2E_ADMIN2");
const ADMIN2_PASSWORD = env("CUSTODY_E2E_ADMIN2_PASSWORD");
const TRADER_PASSWORD = env("CUSTODY_E2E_TRADER_PASSWORD");
const AUDITOR_PASSWORD = env("CUSTODY_E2E_AUDITOR_PASSWORD");
const MANIFEST_FILE = env("CUSTODY_E2E_MANIFEST_FILE");
const ACCOUNT = env("CUSTODY_E2E_ACCOUNT");
const TOKEN = env("CUSTODY_E2E_TOKEN");
const PAYEE = env("CUSTODY_E2E_PAYEE");
const SECRETS = [ADMIN_PASSWORD, ADMIN2_PASSWORD, TRADER_PASSWORD, AUDITOR_PASSWORD];

// Every nav entry, and who may see it.
const NAV = {
  home: ["admin", "trader", "auditor", "none"],
  users: ["admin"],
  proposals: ["admin"],
  tokens: ["admin"],
  accounts: ["admin", "trader", "auditor"],
  "account-import": ["trader"],
  "transfer-new": ["trader"],
  transfers: ["trader", "auditor"],
  "signature-import": ["trader"],
  audit: ["auditor"],
};

async function checkNav(page, role) {
  for (const [name, roles] of Object.entries(NAV)) {
    const count = await page.getByTestId(`nav-${name}`).count();
    assert.equal(count, roles.includes(role) ? 1 : 0, `${role} ${roles.includes(role) ? "sees" : "must not see"} nav-${name}`);
  }
}

async function signIn(page, username, password) {
  await page.goto(`${URL}/login`);
  await page.locator("#login-username").fill(username);
  await page.locator("#login-password").fill(password);
  await page.locator("#login-submit").click();
  await page.getByTestId("whoami").waitFor();
}

async function signOut(page) {
  await page.getByTestId("logout").click();
  await page.locator("#login-username").waitFor();
}

/** Waits for the page to say that the change was proposed, not applied. */
async function proposed(page) {
  await page.getByTestId("proposal-submitted").waitFor();
}

/**
 * The second administrator (their own browser, `page2`, signed in) approves the `expected`
 * pending proposals one by one, each with their password; returns what the proposals said.
 */
async function approveAll(page2, expected) {
  await page2.goto(`${URL}/proposals`); // a fresh list
  await page2.getByTestId("proposals-table").or(page2.getByTestId("empty")).first().waitFor();
  const said = [];
  for (let n = 0; n < expected; n += 1) {
    const row = page2.locator("[data-testid=proposals-table] tbody tr[data-status=PENDING]").first();
    await row.waitFor();
    said.push((await row.getByTestId("proposal-what").innerText()).trim());
    await row.getByTestId("proposal-approve").click();
    await page2.locator("#proposal-password").fill(ADMIN2_PASSWORD);
    await page2.locator("dialog[open] [data-testid=confirm-ok]").click();
    await page2.locator("dialog[open]").waitFor({ state: "detached" }).catch(() => {});
    await page2.waitForFunction(
      (left) => document.querySelectorAll("[data-testid=proposals-table] tbody tr[data-status=PENDING]").length === left,
      expected - n - 1,
    );
  }
  return said;
}

/** Waits for the page's success notice to say `pattern`. */
async function notice(page, pattern) {
  await page.getByTestId("notice").filter({ hasText: pattern }).waitFor();
}

/** Clicks `locator` and returns the text of the file the page downloads. */
async function downloadText(page, locator) {
  const [download] = await Promise.all([page.waitForEvent("download"), locator.click()]);
  const file = await download.path();
  return { name: download.suggestedFilename(), text: await fs.readFile(file, "utf8") };
}

async function statusOf(row) {
  return (await row.getByTestId("transfer-status").innerText()).trim();
}

/**
 * Watches `row` of the transfers list (which polls) until it shows `want`, asking the oracle to
 * mine a block each round when `mine`.
 */
async function until(page, row, want, mine, limitMs) {
  const seen = [];
  const deadline = Date.now() + limitMs;
  for (;;) {
    const s = await statusOf(row);
    if (seen[seen.length - 1] !== s) seen.push(s);
    if (s === want) return seen;
    assert.ok(Date.now() < deadline, `the transfer is ${s}, not ${want} (seen: ${seen.join(" → ")})`);
    if (mine) await oracle("mine", { blocks: 1 });
    await page.waitForTimeout(500);
  }
}

/**
 * A second browser whose camera plays a video of `parts` (QR part texts): alice signs in there,
 * opens the signature import, chooses the camera and starts it; the page decodes the frames,
 * assembles the parts in whatever order they come and submits. Returns the transfer id the
 * result links to.
 */
async function importByCamera(parts) {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), "custody-camera-"));
  const video = path.join(dir, "response.y4m");
  await qrVideo(parts, video, 15); // 1.5 s per part at 10 frames/s
  const cam = await launchWithCamera(video);
  const errors = [];
  cam.page.on("pageerror", (e) => errors.push(String(e)));
  cam.page.on("console", (m) => {
    if (m.type() === "error") errors.push(m.text());
  });
  try {
    const page = cam.page;
    await signIn(page, "alice", TRADER_PASSWORD);
    await setLanguage(page, "en");
    await page.getByTestId("nav-signature-import").click();
    await page.locator("#signature-tab-camera").click();
    // (The shared EnvelopeInput's start button has no test id: found by its role and English name.)
    await page.getByTestId("camera-start").click();
    // Parts are seen one by one (the video shows each for a while, then the next).
    const progress = page.getByTestId("camera-progress");
    await progress.waitFor({ timeout: 30_000 });
    assert.match(await progress.innerText(), new RegExp(`of ${parts.length}`));
    await screenshot(page, "signature-camera-scanning");
    await page.getByTestId("signature-done").waitFor({ timeout: 60_000 });
    assert.match(await progress.innerText(), new RegExp(`${parts.length} of ${parts.length}`), "every part was scanned");
    assert.match(await page.getByTestId("signature-done").innerText(), /Signed|Broadcast|Confirmed/);
    await checkBothLanguages(page, "signature-camera-imported");
    const href = await page.getByTestId("signature-transfer-link").getAttribute("href");
    const id = href.split("/").pop();
    await checkStorage(page, SECRETS);
    assert.deepEqual(errors.filter((e) => !/status of 4\d\d/.test(e)), [], "no script errors in the camera page");
    return id;
  } catch (e) {
    try {
      await screenshot(cam.page, "camera-failure");
    } catch {
      /* the page may be gone */
    }
    throw e;
  } finally {
    await cam.browser.close();
    await fs.rm(dir, { recursive: true, force: true });
  }
}

run(async ({ page, secondPage }) => {
  step("the login page, in both languages");
  await page.goto(`${URL}/login`);
  await page.locator("#login-username").waitFor();
  await checkBothLanguages(page, "login");

  step("alice and audrey register themselves");
  await page.getByTestId("register-link").click();
  await page.locator("#register-username").waitFor();
  await checkBothLanguages(page, "register");
  // A mismatched repetition is caught before anything is sent.
  await page.locator("#register-username").fill("alice");
  await page.locator("#register-display").fill("Alice Trader");
  await page.locator("#register-password").fill(TRADER_PASSWORD);
  await page.locator("#register-repeat").fill(`${TRADER_PASSWORD}x`);
  await page.getByTestId("register-submit").click();
  await page.getByRole("alert").waitFor();
  assert.equal(await page.locator("#register-password").inputValue(), "", "the password field is cleared");
  for (const [username, display, password] of [
    ["alice", "Alice Trader", TRADER_PASSWORD],
    ["audrey", "Audrey Auditor", AUDITOR_PASSWORD],
  ]) {
    await page.goto(`${URL}/register`);
    await page.locator("#register-username").fill(username);
    await page.locator("#register-display").fill(display);
    await page.locator("#register-password").fill(password);
    await page.locator("#register-repeat").fill(password);
    await page.getByTestId("register-submit").click();
    await page.getByTestId("register-done").waitFor();
  }
  await screenshot(page, "registered");

  step("a user without a role sees nothing to do");
  await signIn(page, "alice", TRADER_PASSWORD);
  await page.getByTestId("no-role").waitFor();
  await checkNav(page, "none");
  await signOut(page);

  step("the administrator signs in by keyboard");
  await page.goto(`${URL}/login`);
  await page.locator("#login-username").waitFor();
  await tabThroughLogin(page, ADMIN, ADMIN_PASSWORD);
  await page.getByTestId("whoami").waitFor();
  await checkNav(page, "admin");
  await checkBothLanguages(page, "admin-home");

  step("users & roles: alice trader and audrey auditor are proposed; a second administrator approves");
  await page.getByTestId("nav-users").click();
  await page.getByTestId("user-alice").waitFor();
  await checkBothLanguages(page, "admin-users");
  await page.locator("#role-alice").selectOption("trader");
  await page.locator("#users-password").fill(ADMIN_PASSWORD);
  await page.getByTestId("role-save-alice").click();
  await proposed(page);
  assert.equal(await page.locator("#users-password").inputValue(), "", "the password is cleared");
  await page.locator("#role-audrey").selectOption("auditor");
  await page.locator("#users-password").fill(ADMIN_PASSWORD);
  await page.getByTestId("role-save-audrey").click();
  await proposed(page);
  await checkBothLanguages(page, "admin-users-proposed");
  // The proposer sees them waiting and cannot approve them.
  await page.getByTestId("nav-proposals").click();
  await page.getByTestId("proposals-table").waitFor();
  assert.equal(await page.getByTestId("proposal-approve").count(), 0, "no approve button for the proposer");
  assert.equal(await page.getByTestId("proposal-cancel").count(), 2, "the proposer may withdraw each");
  await checkBothLanguages(page, "proposals-proposer");
  const page2 = await secondPage();
  await signIn(page2, ADMIN2, ADMIN2_PASSWORD);
  await page2.getByTestId("nav-proposals").click();
  await page2.getByTestId("proposals-table").waitFor();
  await checkBothLanguages(page2, "proposals-approver");
  await setLanguage(page2, "en");
  const roles = await approveAll(page2, 2);
  assert.ok(roles.some((r) => /alice/.test(r) && /Trader/.test(r)), `alice's role was proposed: ${roles}`);
  assert.ok(roles.some((r) => /audrey/.test(r) && /Auditor/.test(r)), `audrey's role was proposed: ${roles}`);
  await page.getByTestId("nav-users").click();
  await page.getByTestId("user-alice").waitFor();
  assert.equal(await page.locator("#role-alice").inputValue(), "trader", "alice is a trader once approved");
  assert.equal(await page.locator("#role-audrey").inputValue(), "auditor", "audrey is an auditor once approved");
  // Disabling asks first; cancelled, nothing changes.
  await page.getByTestId("status-audrey").click();
  await page.getByTestId("confirm-ok").waitFor();
  await screenshot(page, "admin-users-confirm-disable");
  await page.getByTestId("confirm-cancel").click();
  assert.match(await page.getByTestId("user-audrey").innerText(), /Active/);
  // Confirmed, audrey is disabled; then enabled again.
  await page.getByTestId("status-audrey").click();
  await page.getByTestId("confirm-ok").click();
  await notice(page, /audrey is disabled/);
  assert.match(await page.getByTestId("user-audrey").innerText(), /Disabled/);
  await page.getByTestId("status-audrey").click();
  await page.getByTestId("confirm-ok").click();
  await notice(page, /audrey is enabled/);
  assert.match(await page.getByTestId("user-audrey").innerText(), /Active/);

  step("tokens: the test token is added by address");
  await page.getByTestId("nav-tokens").click();
  await page.getByTestId("empty").waitFor();
  await checkBothLanguages(page, "admin-tokens-empty");
  await page.locator("#token-address").fill(TOKEN.toLowerCase());
  await page.getByTestId("token-add").click();
  await page.getByRole("alert").waitFor(); // not EIP-55: caught in the page
  await page.locator("#token-address").fill(TOKEN);
  await page.getByTestId("token-add").click();
  await notice(page, /TUSD/);
  await page.getByTestId("token-TUSD").waitFor();
  await checkBothLanguages(page, "admin-tokens");

  step("accounts: none yet");
  await page.getByTestId("nav-accounts").click();
  await page.getByTestId("empty").waitFor();
  await checkBothLanguages(page, "admin-accounts-empty");
  await checkStorage(page, SECRETS);
  await signOut(page);

  step("alice (trader) imports the account manifest by file upload");
  await signIn(page, "alice", TRADER_PASSWORD);
  await checkNav(page, "trader");
  await checkBothLanguages(page, "trader-home");
  await page.getByTestId("nav-account-import").click();
  await page.locator("#manifest-tab-file").waitFor();
  await checkBothLanguages(page, "trader-import");
  await page.locator("#import-label").fill("Treasury");
  await page.locator("#manifest-tab-file").click();
  await page.locator("#manifest-file").setInputFiles(MANIFEST_FILE);
  await page.getByTestId("manifest-file-ready").waitFor(); // the page has read the chosen file
  await page.getByTestId("manifest-submit").click();
  await page.getByTestId("import-done").waitFor();
  assert.match(await page.getByTestId("import-done").innerText(), new RegExp(ACCOUNT));
  await screenshot(page, "trader-imported");
  // Not granted yet: the trader sees no account.
  await page.getByTestId("nav-accounts").click();
  await page.getByTestId("empty").waitFor();
  await signOut(page);

  step("the administrator grants the account to alice, sets the ETH and TUSD limits and the allow-list");
  await signIn(page, ADMIN, ADMIN_PASSWORD);
  await page.getByTestId("nav-accounts").click();
  await page.getByTestId(`account-${ACCOUNT}`).waitFor();
  await page.getByTestId(`balances-${await accountId(page)}`).getByTestId("balances-block").waitFor();
  await checkBothLanguages(page, "admin-accounts");
  await page.getByTestId(`account-link-${ACCOUNT}`).click();
  await page.getByTestId("account-address").waitFor();
  await checkBothLanguages(page, "admin-account");
  await page.locator("#grant-user").selectOption({ label: "Alice Trader (alice)" });
  await page.locator("#admin-password").fill(ADMIN_PASSWORD);
  await page.getByTestId("grant-add").click();
  await proposed(page);
  await approveAll(page2, 1);
  // Revoking is confirmed and immediate; then granted again (proposed, approved).
  await page.locator("#revoke-user").selectOption({ label: "Alice Trader (alice)" });
  await page.getByTestId("grant-remove").click();
  await page.getByTestId("confirm-ok").waitFor();
  await screenshot(page, "admin-account-confirm-revoke");
  await page.getByTestId("confirm-ok").click();
  await notice(page, /alice may no longer use/);
  await page.locator("#admin-password").fill(ADMIN_PASSWORD);
  await page.getByTestId("grant-add").click();
  await proposed(page);
  // The first limits allow transfers where none were allowed: proposals too.
  await page.locator("#policy-asset").selectOption("ETH");
  await page.locator("#policy-single").fill("10");
  await page.locator("#policy-daily").fill("20");
  await page.locator("#admin-password").fill(ADMIN_PASSWORD);
  await page.getByTestId("policy-save").click();
  await proposed(page);
  await page.locator("#policy-asset").selectOption({ label: "TUSD" });
  await page.locator("#policy-single").fill("100");
  await page.locator("#policy-daily").fill("200");
  await page.locator("#admin-password").fill(ADMIN_PASSWORD);
  await page.getByTestId("policy-save").click();
  await proposed(page);
  await page.locator("#dest-address").fill(PAYEE);
  await page.locator("#dest-label").fill("Payee");
  await page.locator("#admin-password").fill(ADMIN_PASSWORD);
  await page.getByTestId("destination-add").click();
  await proposed(page);
  await checkBothLanguages(page, "admin-account-proposed");
  const changes = await approveAll(page2, 4);
  assert.ok(changes.some((c) => /alice/.test(c)), `the grant was proposed: ${changes}`);
  assert.ok(changes.some((c) => new RegExp(PAYEE).test(c)), `the allow-list entry was proposed: ${changes}`);
  await screenshot(page2, "proposals-approved");
  // Lowering a limit applies at once.
  await page.locator("#policy-asset").selectOption("ETH");
  await page.locator("#policy-single").fill("5");
  await page.locator("#policy-daily").fill("20");
  await page.locator("#admin-password").fill(ADMIN_PASSWORD);
  await page.getByTestId("policy-save").click();
  await page.getByTestId("policy-saved").waitFor();
  await screenshot(page, "admin-account-configured");
  await signOut(page);

  step("alice sees the balances with the block they were read at");
  await signIn(page, "alice", TRADER_PASSWORD);
  await page.getByTestId("nav-accounts").click();
  const id = await accountId(page);
  const block = page.getByTestId(`balances-${id}`).getByTestId("balances-block");
  await block.waitFor();
  assert.match(await block.innerText(), /\d+.*0x[0-9a-f]+/);
  await page.getByTestId(`balances-refresh-${id}`).click();
  await page.getByTestId("balance-ETH").waitFor();
  await page.getByTestId("balance-TUSD").waitFor();
  await checkBothLanguages(page, "trader-accounts");
  await page.getByTestId(`account-link-${ACCOUNT}`).click();
  await page.getByTestId("account-address").waitFor();
  await checkBothLanguages(page, "trader-account");

  step("the wizard: 1.5 ETH to the payee");
  await page.getByTestId("nav-transfer-new").click();
  await page.locator("#wizard-account").waitFor();
  await page.getByTestId("balances-block").waitFor();
  await checkBothLanguages(page, "wizard-account");
  await page.getByTestId("wizard-next").click();
  await page.locator("#wizard-asset-ETH").check();
  await checkBothLanguages(page, "wizard-asset");
  await page.getByTestId("wizard-next").click();
  await page.locator("#wizard-to").fill(PAYEE.toLowerCase());
  await page.getByTestId("wizard-next").click();
  await page.getByTestId("checksum-suggestion").waitFor();
  await checkBothLanguages(page, "wizard-destination");
  await page.locator("#wizard-to").fill(PAYEE);
  await page.getByTestId("wizard-next").click();
  await page.locator("#wizard-amount").fill("1.5");
  await checkBothLanguages(page, "wizard-amount");
  await page.getByTestId("wizard-build").click();
  await page.getByTestId("wizard-review").waitFor();
  assert.match(await page.getByTestId("transfer-amount").innerText(), /1\.5 ETH/);
  assert.match(await page.getByTestId("transfer-nonce").innerText(), /^\d+$/);
  assert.match(await page.getByTestId("transfer-status").innerText(), /Draft/);
  await checkBothLanguages(page, "wizard-review");
  await page.getByTestId("wizard-export").click();
  await page.locator("#wizard-password").fill(TRADER_PASSWORD);
  await page.getByTestId("confirm-ok").click();
  await page.getByTestId("wizard-exported").waitFor();
  const img = page.locator("[data-testid=qr] img");
  await img.waitFor();
  assert.match(await img.getAttribute("src"), /^data:image\//);
  const file = await downloadText(page, page.getByTestId("export-download"));
  assert.ok(file.text.startsWith("-----BEGIN CUSTODY"), `the file is an armored envelope: ${file.text.slice(0, 40)}`);
  await checkBothLanguages(page, "wizard-export");

  step("the offline zone (oracle) signs; alice imports the signature");
  const { response } = await oracle("sign-response", { request: file.text });
  await page.getByTestId("nav-signature-import").click();
  await page.locator("#signature-text").waitFor();
  await checkBothLanguages(page, "signature-import");
  await page.locator("#signature-text").fill(response);
  await page.getByTestId("signature-submit").click();
  await page.getByTestId("signature-done").waitFor();
  await screenshot(page, "signature-imported");
  // The same response again is refused, with the API's words.
  await page.getByTestId("signature-submit").click();
  await page.getByTestId("problem").waitFor();
  await screenshot(page, "signature-replayed");

  step("the transfers list shows BROADCAST, then CONFIRMED as blocks are mined");
  await page.getByTestId("nav-transfers").click();
  const row = page.locator("[data-testid=transfers-table] tbody tr").first();
  await row.waitFor();
  await until(page, row, "Broadcast", false, 60_000);
  assert.match(await row.getByTestId("transfer-tx").innerText(), /^0x/);
  await checkBothLanguages(page, "transfers-broadcast");
  await until(page, row, "Confirmed", true, 90_000);
  await checkBothLanguages(page, "transfers-confirmed");
  await row.getByTestId("transfer-link").click();
  await page.getByTestId("transfer-tx-hash").waitFor();
  assert.match(await page.getByTestId("transfer-status").innerText(), /Confirmed/);
  assert.ok(Number(await page.getByTestId("transfer-confirmations").innerText()) >= 2, "confirmations shown");
  await checkBothLanguages(page, "transfer-detail");
  await page.goto(`${URL}/no-such-page`);
  await page.getByTestId("whoami").waitFor();
  await checkBothLanguages(page, "not-found");
  await checkStorage(page, SECRETS);

  step("the wizard again: 12.5 TUSD (the ERC-20) to the payee, exported");
  await page.getByTestId("nav-transfer-new").click();
  await page.locator("#wizard-account").waitFor();
  await page.getByTestId("balances-block").waitFor();
  await page.getByTestId("wizard-next").click();
  await page.locator("#wizard-asset-TUSD").check();
  await page.getByTestId("wizard-next").click();
  await page.locator("#wizard-to").fill(PAYEE);
  await page.getByTestId("wizard-next").click();
  await page.locator("#wizard-amount").fill("12.5");
  await page.getByTestId("wizard-build").click();
  await page.getByTestId("wizard-review").waitFor();
  assert.match(await page.getByTestId("transfer-amount").innerText(), /12\.5 TUSD/);
  assert.match(await page.getByTestId("transfer-status").innerText(), /Draft/);
  await checkBothLanguages(page, "wizard-review-token");
  await page.getByTestId("wizard-export").click();
  await page.locator("#wizard-password").fill(TRADER_PASSWORD);
  await page.getByTestId("confirm-ok").click();
  await page.getByTestId("wizard-exported").waitFor();
  const tokenFile = await downloadText(page, page.getByTestId("export-download"));
  assert.ok(tokenFile.text.startsWith("-----BEGIN CUSTODY"), "the token transfer's request is an armored envelope");
  const tokenId = (await page.getByTestId("wizard-open-transfer").getAttribute("href")).split("/").pop();

  step("the oracle signs it; a second browser imports the signature by camera (QR video)");
  const tokenSigned = await oracle("sign-response", { request: tokenFile.text });
  assert.ok(Array.isArray(tokenSigned.qr_parts) && tokenSigned.qr_parts.length >= 1, "the oracle gives the QR part texts");
  // The video cycles through the parts as the offline zone cuts them (the response needs two);
  // chromium loops it, so the page assembles them in whatever order the camera sees them.
  const parts = tokenSigned.qr_parts;
  for (const p of parts) assert.match(p, new RegExp(`^CUSTODY1:[^:]+:\\d+/${parts.length}:`));
  console.log(`the response: ${parts.length} QR part(s)`);
  const scannedId = await importByCamera(parts);
  assert.equal(scannedId, tokenId, "the camera import signed the TUSD transfer");

  step("the TUSD transfer goes to CONFIRMED");
  await page.getByTestId("nav-transfers").click();
  const tokenRow = page.getByTestId(`transfer-${tokenId}`);
  await tokenRow.waitFor();
  await until(page, tokenRow, "Confirmed", true, 90_000);
  assert.match(await tokenRow.getByTestId("transfer-tx").innerText(), /^0x/);
  await checkBothLanguages(page, "transfers-token-confirmed");
  await tokenRow.getByTestId("transfer-link").click();
  await page.getByTestId("transfer-tx-hash").waitFor();
  assert.match(await page.getByTestId("transfer-amount").innerText(), /12\.5 TUSD/);
  assert.match(await page.getByTestId("transfer-status").innerText(), /Confirmed/);
  await signOut(page);

  step("audrey (auditor) reads the logs, verifies the chains and downloads CSV");
  await signIn(page, "audrey", AUDITOR_PASSWORD);
  await checkNav(page, "auditor");
  await checkBothLanguages(page, "auditor-home");
  await page.getByTestId("nav-audit").click();
  const verify = page.getByTestId("verify-result");
  await verify.waitFor();
  assert.match(await verify.getAttribute("class"), /alert-ok/, "both chains verify");
  // Seals checked by the online token, and the newest checkpoint (made at every export).
  for (const chain of ["operation", "transaction"]) {
    const text = await page.getByTestId(`verify-${chain}`).innerText();
    assert.match(text, /\d+ record seals verified by the HSM/, `${chain}: seals verified`);
    assert.equal(await page.getByTestId(`verify-${chain}`).getByTestId("verify-broken").count(), 0);
  }
  await page.getByTestId("verify-operation").getByTestId("verify-checkpoint").waitFor();
  await page.getByTestId("audit-table-operations").waitFor();
  assert.ok((await page.getByTestId("audit-row").count()) > 0, "operation records shown");
  await checkBothLanguages(page, "audit-operations");
  const ops = await downloadText(page, page.getByTestId("audit-csv"));
  assert.ok(ops.text.startsWith("seq,at,actor,action,object,details,hash"), "the operation log CSV");
  assert.ok(ops.text.split("\n").length > 3, "the CSV has records");
  await page.getByTestId("audit-tab-transactions").click();
  await page.getByTestId("audit-table-transactions").waitFor();
  const actions = await page.getByTestId("audit-action").allInnerTexts();
  for (const a of ["transfer.created", "transfer.exported", "transfer.signed", "transfer.broadcast", "transfer.confirmed"]) {
    assert.ok(actions.includes(a), `the transaction log has ${a}: ${actions.join(", ")}`);
  }
  await checkBothLanguages(page, "audit-transactions");
  await page.locator("#audit-action").fill("transfer.signed");
  await page.getByTestId("audit-search").click();
  // Two transfers were signed: the ETH one (pasted) and the TUSD one (scanned).
  await page.waitForFunction(() => document.querySelectorAll("[data-testid=audit-row]").length === 2);
  const signed = await downloadText(page, page.getByTestId("audit-csv"));
  assert.equal(signed.text.trim().split("\n").length, 3, "the filtered CSV has the header and two records");
  assert.match(signed.text, /transfer\.signed/);
  await page.getByTestId("nav-transfers").click();
  await page.locator("[data-testid=transfers-table] tbody tr").first().waitFor();
  await checkBothLanguages(page, "auditor-transfers");
  await checkStorage(page, SECRETS);
  await signOut(page);
});

/** The id of the one account on the accounts page (from its detail link). */
async function accountId(page) {
  const href = await page.getByTestId(`account-link-${ACCOUNT}`).getAttribute("href");
  return href.split("/").pop();
}
