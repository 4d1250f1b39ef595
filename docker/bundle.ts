// npm run build: the bridge as `npm start`, the Docker image, the end-to-end tests and the benches run it,
// bundled by esbuild into dist/app/. Why: Node resolving, stat()ing and linking our ~200 TypeScript files and
// matter.js's ~1,600 modules one by one, and keeping its TypeScript stripper loaded for ours, cost about 0.8 s
// before main() runs and, with the ASCII output below, 23-28 MB of idle memory (README, "Household":
// measured). Bundled: our code and matter.js (plain ESM that reads no file of its own); every other package
// stays in node_modules and loads as before (CommonJS packages that read their own package.json or files next
// to them: hap-nodejs, protobufjs).
// Dynamic imports stay lazy: each becomes a chunk of its own, loaded at first use as before.
// dist/app/ sits two directories below the repository root, like src/<dir>/, so that src/core/app-root.ts
// finds proto/, package.json and the web page's static files from either.
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { basename, join } from "node:path";
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
  // No keepNames: its helper runs for every function and class at load, about 0.5 s of the mixed household's
  // start (measured). Without it only names that collide across modules change (matter.js's "Fabric2"), which
  // matter.js and we use in log and error text only, never as an identifier or a storage key.
  keepNames: false,
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

/**
 * The bundle with every non-ASCII character written as a \uXXXX escape. esbuild escapes them in strings but
 * not in comments and regular expressions; one such character makes Node hold the whole file's source as a
 * two-byte string (the 3.7 MB chunk took 7.5 MB of heap instead of 3.7). The escape means the same character
 * in a comment, a string and a regular expression (surrogate pairs included); identifiers are ASCII already.
 */
export function asciiOnly(code: string): string {
  return code.replace(/[\u0080-\uffff]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`);
}

if (import.meta.main) {
  // Written here, not by esbuild: a file whose content is unchanged is left alone and a changed one is renamed
  // into place, and files of an earlier build go only afterwards, those this one did not write again. A bridge
  // running from dist/app while `npm start` builds on unchanged sources keeps every chunk it may still load
  // lazily (chunk names are content hashes), and never reads a half-written one.
  const { outputFiles } = await build({ ...BUNDLE_OPTIONS, write: false });
  const dir = join(root, "dist", "app");
  mkdirSync(dir, { recursive: true });
  let bytes = 0;
  for (const file of outputFiles) {
    const contents = Buffer.from(asciiOnly(file.text));
    bytes += contents.byteLength;
    if (existsSync(file.path) && readFileSync(file.path).equals(contents)) continue;
    writeFileSync(`${file.path}.tmp`, contents);
    renameSync(`${file.path}.tmp`, file.path);
  }
  const written = new Set(outputFiles.map((file) => basename(file.path)));
  for (const name of readdirSync(dir)) if (!written.has(name)) rmSync(join(dir, name));
  console.log(`bundle: ${outputFiles.length} files, ${(bytes / 1e6).toFixed(1)} MB in dist/app`);
}
