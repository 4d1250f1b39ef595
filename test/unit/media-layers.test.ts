// Layers inside src/media (README, "Architecture"): the codecs in src/media/protocol (RTMP, AMF0, FLV,
// H.264/AVC, RTP, RTCP, SRTP, ADTS) are pure protocol code that imports no policy (the ingest, the
// hubs, sessions, snapshots) and no host, driver or accessory; the rest of src/media builds on them and
// never reaches a host or a driver either. Specifiers are read with TypeScript's own pre-parser (as in
// import-direction.test.ts), which also sees `export ... from` and import().
import { test } from "node:test";
import assert from "node:assert/strict";
import { readdirSync, readFileSync, statSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import ts from "typescript";

const root = resolve(import.meta.dirname, "../..");
const PROTOCOL = "src/media/protocol";
/** Hosts, drivers, bindings and the application around them. */
const HOSTS_AND_APP = [
  "src/homekit",
  "src/matter",
  "src/drivers",
  "accessories",
  "src/web",
  "src/cli",
  "src/demo",
  "src/main.ts",
];

function tsFiles(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(join(root, dir))) {
    const path = join(dir, name);
    if (statSync(join(root, path)).isDirectory()) out.push(...tsFiles(path));
    else if (name.endsWith(".ts")) out.push(path);
  }
  return out.sort();
}

/** Every relative import of `file`, as a repository path. */
function localImports(file: string, source = readFileSync(join(root, file), "utf8")): string[] {
  const { importedFiles } = ts.preProcessFile(source, true, true);
  return importedFiles
    .map((i) => i.fileName)
    .filter((spec) => spec.startsWith("."))
    .map((spec) => relative(root, resolve(root, dirname(file), spec)));
}

const inside = (path: string, dir: string) => path === dir || path.startsWith(`${dir}/`);

/** What a protocol file may not import: media outside protocol/, hosts, drivers, accessories, the app. */
function protocolViolations(file: string, source?: string): string[] {
  return localImports(file, source)
    .filter((target) => {
      const policy = inside(target, "src/media") && !inside(target, PROTOCOL);
      return policy || HOSTS_AND_APP.some((dir) => inside(target, dir));
    })
    .map((target) => `${file} -> ${target}`);
}

test("the layer check flags a protocol file that imports policy, a host or an accessory, in any import form", () => {
  const source = [
    `import { StreamHub } from "../hub.ts";`,
    `import type { IngestEvents } from "../ingest.ts";`,
    `export { startLiveSession } from "../live-session.ts";`,
    `const host = await import("../../homekit/bridge.ts");`,
    `import { kinds } from "../../../accessories/kinds.ts";`,
    `import { parseH264Sps } from "./h264-sps.ts";`,
    `import type { Logger } from "../../core/logger.ts";`,
    `import { createHmac } from "node:crypto";`,
    `// import { x } from "../video-relay.ts";`,
  ].join("\n");
  assert.deepEqual(protocolViolations(`${PROTOCOL}/example.ts`, source), [
    `${PROTOCOL}/example.ts -> src/media/hub.ts`,
    `${PROTOCOL}/example.ts -> src/media/ingest.ts`,
    `${PROTOCOL}/example.ts -> src/media/live-session.ts`,
    `${PROTOCOL}/example.ts -> src/homekit/bridge.ts`,
    `${PROTOCOL}/example.ts -> accessories/kinds.ts`,
  ]);
});

test("src/media/protocol holds the codecs and imports nothing from the rest of src/media or any host", () => {
  const files = tsFiles(PROTOCOL);
  const codecs = ["avc.ts", "h264-rtp.ts", "srtp.ts", "rtcp.ts", "adts.ts", "rtmp-server.ts", "amf0.ts", "flv.ts"];
  for (const codec of codecs) {
    assert.ok(files.includes(`${PROTOCOL}/${codec}`), `${codec} lives in ${PROTOCOL}`);
  }
  assert.deepEqual(
    files.flatMap((file) => protocolViolations(file)),
    [],
  );
});

test("src/media/protocol does no I/O and reads no clock: callers pass the time and send the bytes", () => {
  const modules = ["net", "dgram", "fs", "fs/promises", "child_process", "http", "https", "tls"];
  const io = new Set(modules.map((m) => `node:${m}`));
  const clockUse = /\b(setTimeout|setInterval|setImmediate|performance\.now|Date\.now)\s*\(|new Date\(\s*\)/;
  const found = tsFiles(PROTOCOL).flatMap((file) => {
    const source = readFileSync(join(root, file), "utf8");
    const imports = ts.preProcessFile(source, true, true).importedFiles.map((i) => i.fileName);
    // Comments may name these; code may not.
    const code = source.replace(/\/\*[\s\S]*?\*\/|\/\/.*$/gm, "");
    const problems = imports.filter((spec) => io.has(spec)).map((spec) => `${file} imports ${spec}`);
    if (clockUse.test(code)) problems.push(`${file} reads a clock or sets a timer`);
    return problems;
  });
  assert.deepEqual(found, []);
});

test("src/media imports no host, driver or accessory", () => {
  const violations = tsFiles("src/media").flatMap((file) =>
    localImports(file)
      .filter((target) => HOSTS_AND_APP.some((dir) => inside(target, dir)))
      .map((target) => `${file} -> ${target}`),
  );
  assert.deepEqual(violations, []);
});
