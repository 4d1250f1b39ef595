// Imports point one way: drivers -> core <- hosts (src/homekit, src/matter) -> accessories/.
// Bindings own their helpers, so accessories/ may use the vendor-neutral src/core and src/media but never
// a host (which imports accessories/: a cycle) nor a driver; the hosts never import a driver
// (README, "Architecture"). The product (src/) never imports sim/ (the demo and the simulated vendor
// clouds), test/ or bench/, but for the CLI's `demo` command. Specifiers are read with TypeScript's own
// pre-parser, which also sees `export ... from` and import() and skips comments and strings.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readdirSync, readFileSync, statSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import ts from "typescript";

const root = resolve(import.meta.dirname, "../..");

function tsFiles(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(join(root, dir))) {
    const path = join(dir, name);
    if (statSync(join(root, path)).isDirectory()) out.push(...tsFiles(path));
    else if (name.endsWith(".ts")) out.push(path);
  }
  return out.sort();
}

/** Every relative import of `file`, as a repository path ("src/core/model.ts"). */
function localImports(file: string, source = readFileSync(join(root, file), "utf8")): string[] {
  const { importedFiles } = ts.preProcessFile(source, true, true);
  return importedFiles
    .map((i) => i.fileName)
    .filter((spec) => spec.startsWith("."))
    .map((spec) => relative(root, resolve(root, dirname(file), spec)));
}

const inside = (path: string, dir: string) => path === dir || path.startsWith(`${dir}/`);

/** `file -> target` for every import of a file under `from` that lands in one of `forbidden`. */
function violations(from: string, forbidden: string[]): string[] {
  return tsFiles(from).flatMap((file) =>
    localImports(file)
      .filter((target) => forbidden.some((dir) => inside(target, dir)))
      .map((target) => `${file} -> ${target}`),
  );
}

test("the pre-parser sees every import form and resolves it to a repository path", () => {
  const source = [
    `import { a } from "../../src/matter/host.ts";`,
    `import type { B } from "../types.ts";`,
    `export { c } from "./c.ts";`,
    `const d = await import("../../src/homekit/host.ts");`,
    `// import { e } from "../../src/drivers/x.ts";`,
    `const f = "import { g } from '../../src/web/h.ts'";`,
    `import { Service } from "@homebridge/hap-nodejs";`,
  ].join("\n");
  assert.deepEqual(localImports("accessories/light/matter.ts", source), [
    "src/matter/host.ts",
    "accessories/types.ts",
    "accessories/light/c.ts",
    "src/homekit/host.ts",
  ]);
});

test("accessories/ imports no host, driver or other app module: only accessories/, src/core and src/media", () => {
  const hostsAndApp = ["src/homekit", "src/matter", "src/drivers", "src/web", "src/cli", "src/main.ts", "sim"];
  assert.deepEqual(violations("accessories", hostsAndApp), []);
});

test("src/homekit and src/matter import no driver", () => {
  assert.deepEqual([...violations("src/homekit", ["src/drivers"]), ...violations("src/matter", ["src/drivers"])], []);
});

test("src/ (the product) imports nothing from sim/, test/ or bench/ but the CLI's demo command", () => {
  assert.deepEqual(violations("src", ["sim", "test", "bench"]), ["src/cli/index.ts -> sim/demo/main.ts"]);
});
