// The bundle that `npm start` and the Docker image run (docker/bundle.ts) keeps what the sources keep lazy
// lazy (test/unit/lazy-imports.test.ts checks the sources): esbuild's own account of the build (built in
// memory, nothing written) says which files and packages the entry loads before its first dynamic import.
import { test } from "node:test";
import assert from "node:assert/strict";
import { build, type Metafile } from "esbuild";
import { runInNewContext } from "node:vm";
import { asciiOnly, BUNDLE_OPTIONS } from "../../docker/bundle.ts";

/** The output files an entry loads at start (its static imports, transitively) and the packages they import. */
function startClosure(meta: Metafile, entry: string): { files: Set<string>; packages: Set<string> } {
  const files = new Set<string>();
  const packages = new Set<string>();
  const visit = (output: string) => {
    if (files.has(output)) return;
    files.add(output);
    for (const imported of meta.outputs[output]!.imports) {
      if (imported.kind !== "import-statement") continue;
      if (imported.external) packages.add(imported.path);
      else visit(imported.path);
    }
  };
  visit(entry);
  return { files, packages };
}

test("the bundled bridge loads at start no code that waits for a use, and all of matter.js's it needs", async () => {
  const { metafile } = await build({ ...BUNDLE_OPTIONS, write: false, logLevel: "silent" });
  const { files, packages } = startClosure(metafile, "dist/app/main.js");
  const inputs = [...files].flatMap((f) => Object.keys(metafile.outputs[f]!.inputs));

  assert.ok(
    inputs.some((i) => i.startsWith("node_modules/@matter/node/")),
    "matter.js is bundled",
  );
  assert.ok(packages.has("@homebridge/hap-nodejs"), "hap-nodejs stays a package");
  const lazyInputs = [
    "src/media/index.ts",
    "src/media/webrtc/viewer.ts",
    "src/media/fmp4-muxer.ts",
    "src/matter/camera/",
    "sim/",
  ];
  assert.deepEqual(
    inputs.filter((i) => lazyInputs.some((lazy) => i.startsWith(lazy))),
    [],
  );
  const lazyPackages = ["werift", "mediabunny", "aedes", "qrcode", "playwright-core"];
  assert.deepEqual(
    [...packages].filter((p) => lazyPackages.some((lazy) => p === lazy || p.startsWith(`${lazy}/`))),
    [],
  );
  assert.deepEqual(
    [...packages].filter((p) => p.startsWith("@matter/")),
    [],
    "no matter.js import left to node_modules (it would load a second copy)",
  );
});

test("the bundle's code is written in ASCII and means the same (regular expressions, strings, comments)", () => {
  const code =
    "// a comment with an arrow → and a dash —\n" +
    "({ unit: '5µs'.match(/[a-zμµ]+$/i)?.[0], marks: 'ok ✓ done ✗'.match(/[✓✔✗✘]/g), face: `😀`.length })";
  const escaped = asciiOnly(code);
  assert.ok(
    [...escaped].every((c) => c.charCodeAt(0) < 128),
    escaped,
  );
  // JSON: the values come from another realm (other prototypes).
  const run = (source: string): unknown => JSON.parse(JSON.stringify(runInNewContext(source)));
  assert.deepEqual(run(escaped), run(code));
  assert.deepEqual(run(escaped), { unit: "µs", marks: ["✓", "✗"], face: 2 });
});
