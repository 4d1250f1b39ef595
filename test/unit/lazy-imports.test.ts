// Code only some bridges need is loaded when it is first needed, not at start (issue 17: the idle bridge's
// memory is mostly code; README "Household"): WebRTC (werift) with the first live view, the in-process
// recording muxer (mediabunny) when recording is turned on, the video layer only with an account that has
// cameras, the Matter camera nodes only with matter.cameras, the embedded MQTT broker (aedes) only for a
// local setup, the page's QR renderer at the first code shown. Each check runs a real process and records
// every module it resolves, so a package pulled in by another package is caught too.
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { promisify } from "node:util";

const root = resolve(import.meta.dirname, "../..");
const run = promisify(execFile);

/** The module URLs a node process resolved from start to exit. */
async function loadedBy(args: string[]): Promise<string[]> {
  const dir = mkdtempSync(join(tmpdir(), "hb-lazy-imports-"));
  const file = join(dir, "loaded.json");
  try {
    await run(process.execPath, ["--import", join(root, "test/helpers/record-loads.ts"), ...args], {
      cwd: root,
      env: { ...process.env, RECORD_LOADS_FILE: file },
      timeout: 240_000,
    });
    return JSON.parse(readFileSync(file, "utf8")) as string[];
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const pkg = (name: string) => new RegExp(`/node_modules/${name}/`);
const own = (path: string) => new RegExp(`^file://${root}/${path}`);
const matching = (urls: string[], patterns: RegExp[]) => urls.filter((u) => patterns.some((p) => p.test(u)));

test("the bridge at start (its whole static import graph) loads no code that waits for a use", async () => {
  // `--help`: every static import is evaluated before the arguments are parsed, then commander exits.
  const urls = await loadedBy(["src/main.ts", "--help"]);
  assert.ok(matching(urls, [pkg("@matter/main"), pkg("@homebridge/hap-nodejs")]).length >= 2, "the hosts loaded");
  const lazy = [
    pkg("werift"),
    pkg("mediabunny"),
    pkg("aedes"),
    pkg("qrcode"),
    own("src/media/index.ts"),
    own("src/media/webrtc/viewer.ts"),
    own("src/media/fmp4-muxer.ts"),
    own("src/matter/camera/"),
    pkg("playwright-core"),
    own("sim/"),
    own("test/(?!helpers/record-loads)"),
  ];
  assert.deepEqual(matching(urls, lazy), []);
});

test("the video layer and the Matter cameras load without WebRTC or the recording muxer", async () => {
  const script = 'await import("./src/media/index.ts"); await import("./src/matter/camera/host.ts");';
  const urls = await loadedBy(["--input-type=module", "-e", script]);
  assert.ok(matching(urls, [own("src/media/index.ts"), own("src/matter/camera/host.ts")]).length === 2);
  const lazy = [pkg("werift"), pkg("mediabunny"), own("src/media/webrtc/viewer.ts"), own("src/media/fmp4-muxer.ts")];
  assert.deepEqual(matching(urls, lazy), []);
});
