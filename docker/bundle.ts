// npm run build: the bridge as `npm start`, the Docker image, the end-to-end tests and the benches run it,
// bundled by esbuild into dist/app/. Why: Node resolving, stat()ing and linking our ~200 TypeScript files and
// matter.js's ~1,600 modules one by one, and keeping its TypeScript stripper loaded for ours, cost about a
// second of start and 15 MB of idle memory (README, "Household": measured). Bundled: our code and matter.js
// (plain ESM that reads no file of its own); every other package stays in node_modules and loads as before
// (CommonJS packages that read their own package.json or files next to them: hap-nodejs, protobufjs).
// Dynamic imports stay lazy: each becomes a chunk of its own, loaded at first use as before.
// dist/app/ sits two directories below the repository root, like src/<dir>/, so that src/core/app-root.ts
// finds proto/, package.json and the web page's static files from either.
import { rmSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { build, type BuildOptions, type Plugin } from "esbuild";

const root = fileURLToPath(new URL("..", import.meta.url));

/** Package imports stay external (node_modules at run time), except matter.js's. Its "#..." subpath
 * imports are not package names and go through esbuild's resolver like relative ones. */
const externals: Plugin = {
  name: "externals",
  setup(b) {
    b.onResolve({ filter: /^[^./#]/ }, (args) => (args.path.startsWith("@matter/") ? undefined : { external: true }));
  },
};

/** The build, also read by test/unit/bundle.test.ts (which modules the start loads). */
export const BUNDLE_OPTIONS = {
  absWorkingDir: root,
  entryPoints: { main: "src/main.ts", cli: "src/cli/index.ts" },
  outdir: "dist/app",
  bundle: true,
  splitting: true,
  format: "esm",
  platform: "node",
  target: "node22",
  // Errors, logs and matter.js's behavior classes keep their names.
  keepNames: true,
  // matter.js imports bun:sqlite in the chunk only Bun loads.
  external: ["bun:sqlite"],
  plugins: [externals],
  // esbuild's ESM output has no `require` of its own; a bundled module that calls it (a guarded optional
  // dependency) gets Node's, resolving from dist/app/ into node_modules.
  banner: {
    js: "import { createRequire as __hbRequire } from 'node:module'; const require = __hbRequire(import.meta.url);",
  },
  logLevel: "warning",
  metafile: true,
} satisfies BuildOptions;

if (import.meta.main) {
  rmSync(`${root}/dist`, { recursive: true, force: true });
  const result = await build(BUNDLE_OPTIONS);
  const outputs = Object.entries(result.metafile.outputs);
  const bytes = outputs.reduce((sum, [, o]) => sum + o.bytes, 0);
  console.log(`bundle: ${outputs.length} files, ${(bytes / 1e6).toFixed(1)} MB in dist/app`);
}
