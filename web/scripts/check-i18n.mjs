// Every message key the code of a zone uses literally (t("…"), $t("…"), label: "…" keys in
// i18n-aware tables are not guessed) exists in that zone's tables, in English and in zh-CN.
// The compiler already keeps the two tables' keys equal; this catches a key used in a page but
// never added. Keys built at run time (`role.${role}`) are checked by the browser tests, which
// fail on any key missing on a rendered page.
import { readFile, readdir } from "node:fs/promises";
import path from "node:path";
import { fileURLToPath } from "node:url";

const web = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");

async function files(dir) {
  const out = [];
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const p = path.join(dir, entry.name);
    if (entry.isDirectory()) {
      if (entry.name !== "api" && entry.name !== "dist" && entry.name !== "node_modules") out.push(...(await files(p)));
    } else if (/\.(vue|ts)$/.test(entry.name)) out.push(p);
  }
  return out;
}

function tableKeys(source) {
  return new Set([...source.matchAll(/^\s*"([\w.-]+)":/gm)].map((m) => m[1]));
}

let missing = 0;
const shared = await readFile(path.join(web, "shared/messages.ts"), "utf8");
for (const zone of ["online", "offline"]) {
  const zoneTable = await readFile(path.join(web, zone, "src/i18n.ts"), "utf8");
  const known = new Set([...tableKeys(shared), ...tableKeys(zoneTable)]);
  const used = new Map();
  for (const file of [...(await files(path.join(web, zone, "src"))), ...(await files(path.join(web, "shared")))]) {
    const text = await readFile(file, "utf8");
    for (const m of text.matchAll(/(?:\$t|\bt)\(\s*["'`]([\w.-]+)["'`]/g)) {
      if (!used.has(m[1])) used.set(m[1], path.relative(web, file));
    }
  }
  for (const [key, file] of used) {
    if (!known.has(key)) {
      console.error(`${zone}: message key "${key}" (used in ${file}) is not in ${zone}/src/i18n.ts or shared/messages.ts`);
      missing += 1;
    }
  }
  console.log(`${zone}: ${used.size} message keys used literally, all defined`.replace("all defined", missing ? "some missing" : "all defined"));
}
process.exit(missing ? 1 : 0);
