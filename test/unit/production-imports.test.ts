// The Docker image holds only what .dockerignore lets in and the production dependencies
// (`npm ci --omit=dev`). Every module that the bridge, its CLI, the demo or a standalone simulator can
// load must therefore be a file in the image, never under test/, and every package it imports must be
// in package.json's "dependencies": a devDependency would be missing in the image and the command
// would fail there at the first import. Files are walked from the entries through every import that
// survives type stripping (static, `export ... from`, literal `import()`); `import type` is erased.
import { test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, readFileSync, statSync } from "node:fs";
import { isBuiltin } from "node:module";
import { dirname, join, relative, resolve } from "node:path";
import ts from "typescript";

const root = resolve(import.meta.dirname, "../..");
const pkg = JSON.parse(readFileSync(join(root, "package.json"), "utf8")) as {
  dependencies: Record<string, string>;
  devDependencies: Record<string, string>;
};

/** The run-time entries of the image: the bridge, its CLI (which loads the demo) and the simulators. */
const ENTRIES = [
  "src/main.ts",
  "src/cli/index.ts",
  "sim/demo/main.ts",
  "sim/fansync/main.ts",
  "sim/xsense/main.ts",
  "sim/nanit/main.ts",
];

/** The specifiers of `source` that Node loads at run time (type-only imports and exports are erased). */
export function runtimeSpecifiers(source: string, fileName = "x.ts"): string[] {
  const file = ts.createSourceFile(fileName, source, ts.ScriptTarget.Latest, false, ts.ScriptKind.TS);
  const out: string[] = [];
  const visit = (node: ts.Node): void => {
    if (ts.isImportDeclaration(node) && ts.isStringLiteral(node.moduleSpecifier)) {
      if (!node.importClause?.isTypeOnly) out.push(node.moduleSpecifier.text);
    } else if (ts.isExportDeclaration(node) && node.moduleSpecifier && ts.isStringLiteral(node.moduleSpecifier)) {
      if (!node.isTypeOnly) out.push(node.moduleSpecifier.text);
    } else if (ts.isCallExpression(node) && node.expression.kind === ts.SyntaxKind.ImportKeyword) {
      const [arg] = node.arguments;
      if (arg && ts.isStringLiteralLike(arg)) out.push(arg.text);
    }
    ts.forEachChild(node, visit);
  };
  visit(file);
  return out;
}

/** "@scope/name/sub/path" -> "@scope/name", "name/sub" -> "name". */
const packageName = (spec: string) =>
  spec
    .split("/")
    .slice(0, spec.startsWith("@") ? 2 : 1)
    .join("/");

/** What the build context lets in: the "!" lines of .dockerignore ("src/", "package.json", ...). */
function imageRoots(): string[] {
  return readFileSync(join(root, ".dockerignore"), "utf8")
    .split("\n")
    .map((line) => line.trim())
    .filter((line) => line.startsWith("!"))
    .map((line) => line.slice(1).replace(/\/$/, ""));
}

interface Walk {
  files: string[];
  packages: Map<string, string>; // package -> first file importing it
  problems: string[];
}

/** Every repository file reachable from `entries`, and the packages they import. */
function walk(entries: string[]): Walk {
  const seen = new Set<string>();
  const packages = new Map<string, string>();
  const problems: string[] = [];
  const queue = [...entries];
  while (queue.length) {
    const file = queue.shift()!;
    if (seen.has(file)) continue;
    seen.add(file);
    if (!file.endsWith(".ts")) continue; // JSON and other data files import nothing
    for (const spec of runtimeSpecifiers(readFileSync(join(root, file), "utf8"), file)) {
      if (spec.startsWith(".")) {
        const target = relative(root, resolve(root, dirname(file), spec));
        if (!existsSync(join(root, target)) || !statSync(join(root, target)).isFile()) {
          problems.push(`${file}: ${spec} is not a file`);
        } else queue.push(target);
      } else if (!isBuiltin(spec)) {
        const name = packageName(spec);
        if (!packages.has(name)) packages.set(name, file);
      }
    }
  }
  return { files: [...seen].sort(), packages, problems };
}

test("the import walk sees what Node loads and skips what type stripping erases", () => {
  const source = [
    `import { a } from "./a.ts";`,
    `import type { B } from "hap-controller";`,
    `import { type C, d } from "@matter/main/clusters";`,
    `export { e } from "../e.ts";`,
    `export type { F } from "typescript";`,
    `const g = await import("node:fs");`,
    `// import { h } from "fast-check";`,
    `const i = "import j from 'jsqr'";`,
  ].join("\n");
  assert.deepEqual(runtimeSpecifiers(source), ["./a.ts", "@matter/main/clusters", "../e.ts", "node:fs"]);
  assert.equal(packageName("@matter/main/clusters"), "@matter/main");
  assert.equal(packageName("ws"), "ws");
});

test("every file the bridge, the CLI, the demo and the simulators load is in the image and not under test/", () => {
  const { files, problems } = walk(ENTRIES);
  assert.deepEqual(problems, []);
  assert.ok(files.includes("sim/demo/main.ts") && files.includes("sim/xsense/index.ts"), "walk reaches sim/");
  const allowed = imageRoots();
  const outside = files.filter((f) => !allowed.some((r) => f === r || f.startsWith(`${r}/`)));
  assert.deepEqual(outside, [], `not in the image's build context (.dockerignore lets in ${allowed.join(", ")})`);
});

test("every package they import is a production dependency (the image has no devDependencies)", () => {
  const { packages } = walk(ENTRIES);
  assert.ok(packages.has("aedes") && packages.has("@homebridge/hap-nodejs"), "the walk reaches simulators and bridge");
  const missing = [...packages]
    .filter(([name]) => !(name in pkg.dependencies))
    .map(([name, file]) => `${name} (imported by ${file}${name in pkg.devDependencies ? ", a devDependency" : ""})`);
  assert.deepEqual(missing, []);
});

test("the bridge never loads the demo or a simulator: sim/ is reached only through the CLI's demo command", () => {
  assert.deepEqual(
    walk(["src/main.ts"]).files.filter((f) => !["src/", "accessories/", "proto/"].some((dir) => f.startsWith(dir))),
    [],
  );
});
