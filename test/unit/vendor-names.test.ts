// A vendor is one folder: outside src/drivers/ no source file names a vendor id, so adding a vendor
// touches its folder and the list in src/drivers/index.ts and nothing else (README "Adding a vendor").
// The ids come from that list, so a new vendor is covered as soon as it is listed.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join, relative, resolve } from "node:path";
import { vendors } from "../../src/drivers/index.ts";

const root = resolve(import.meta.dirname, "../..");
/** Where vendors may be named under src/: their modules. (The demo and the simulators live in sim/.) */
const EXEMPT = ["src/drivers"];

function tsFiles(dir: string): string[] {
  return readdirSync(join(root, dir)).flatMap((name) => {
    const path = join(dir, name);
    if (EXEMPT.includes(path)) return [];
    if (statSync(join(root, path)).isDirectory()) return tsFiles(path);
    return name.endsWith(".ts") ? [path] : [];
  });
}

test("the vendor list has the vendors (so the check below is not vacuous)", () => {
  assert.deepEqual(
    vendors.map((v) => v.id),
    ["fansync", "xsense", "nanit"],
  );
});

test("no file under src/ (but src/drivers) or accessories/ names a vendor id", () => {
  const ids = new RegExp(`\\b(${vendors.map((v) => v.id).join("|")})\\b`);
  const offenders = [...tsFiles("src"), ...tsFiles("accessories")].flatMap((file) =>
    readFileSync(join(root, file), "utf8")
      .split("\n")
      .flatMap((line, i) => (ids.test(line) ? [`${relative(root, join(root, file))}:${i + 1}: ${line.trim()}`] : [])),
  );
  assert.deepEqual(offenders, []);
});
