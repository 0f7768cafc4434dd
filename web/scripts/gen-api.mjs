// Generates each zone's TypeScript API types from the OpenAPI documents in schemas/ (which the
// Rust services generate; a Rust test fails when those are stale). With --check, fails when a
// generated file differs from what the documents give, so the front end cannot drift from the API.
import { readFile, writeFile } from "node:fs/promises";
import { fileURLToPath, pathToFileURL } from "node:url";
import path from "node:path";
import openapiTS, { astToString } from "openapi-typescript";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..", "..");
const zones = [
  ["schemas/online-api.openapi.json", "web/online/src/api/schema.ts"],
  ["schemas/offline-api.openapi.json", "web/offline/src/api/schema.ts"],
];
const check = process.argv.includes("--check");
let stale = 0;
for (const [doc, out] of zones) {
  const ast = await openapiTS(pathToFileURL(path.join(root, doc)), { alphabetize: true });
  const text =
    `// Generated from ${doc} by web/scripts/gen-api.mjs (npm run gen). Do not edit.\n` +
    astToString(ast);
  const target = path.join(root, out);
  const current = await readFile(target, "utf8").catch(() => "");
  if (current === text) continue;
  if (check) {
    console.error(`${out} is stale: run \`npm --prefix web run gen\``);
    stale += 1;
  } else {
    await writeFile(target, text);
    console.log(`wrote ${out}`);
  }
}
process.exit(stale ? 1 : 0);
