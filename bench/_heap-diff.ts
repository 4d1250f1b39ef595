// Heap snapshots of the bridge for bench/soak.ts --heap-snapshots: the bridge runs with
// --heapsnapshot-signal=SIGUSR2, the soak signals it at chosen moments, and this file waits for each
// .heapsnapshot (V8 collects garbage before writing one, so it holds live objects only) and compares
// two by constructor: what grew in count and bytes. Written here because no kept npm library reads
// V8 snapshots outside DevTools; the format is V8's documented JSON (meta.node_fields, a flat nodes array).
//
// Also runnable alone: node bench/_heap-diff.ts <earlier.heapsnapshot> <later.heapsnapshot>
import { closeSync, openSync, readdirSync, readFileSync, readSync, statSync } from "node:fs";
import { join } from "node:path";
import { setTimeout as delay } from "node:timers/promises";
import { fileURLToPath } from "node:url";

export interface HeapSummary {
  file: string;
  totalBytes: number;
  nodes: number;
  /** "type:name" -> count and self bytes. */
  groups: Map<string, { count: number; bytes: number }>;
}

/** Signal `pid` and resolve with the path of the snapshot it writes into `dir`, once complete. */
export async function takeHeapSnapshot(pid: number, dir: string, timeoutMs = 120_000): Promise<string> {
  const before = new Set(readdirSync(dir));
  process.kill(pid, "SIGUSR2");
  const deadline = performance.now() + timeoutMs;
  let lastSize = -1;
  while (performance.now() < deadline) {
    await delay(500);
    const file = readdirSync(dir).find((f) => f.endsWith(".heapsnapshot") && !before.has(f));
    if (!file) continue;
    const path = join(dir, file);
    const size = statSync(path).size;
    if (size > 0 && size === lastSize && lastByte(path) === "}") return path;
    lastSize = size;
  }
  throw new Error(`no complete heap snapshot from ${pid} within ${timeoutMs} ms`);
}

function lastByte(path: string): string {
  const fd = openSync(path, "r");
  try {
    const buffer = Buffer.alloc(1);
    readSync(fd, buffer, 0, 1, statSync(path).size - 1);
    return buffer.toString("latin1");
  } finally {
    closeSync(fd);
  }
}

interface Snapshot {
  snapshot: { meta: { node_fields: string[]; node_types: [string[], ...unknown[]] } };
  nodes: number[];
  strings: string[];
}

export function summarize(file: string): HeapSummary {
  const s = JSON.parse(readFileSync(file, "utf8")) as Snapshot;
  const fields = s.snapshot.meta.node_fields;
  const width = fields.length;
  const typeAt = fields.indexOf("type");
  const nameAt = fields.indexOf("name");
  const sizeAt = fields.indexOf("self_size");
  const types = s.snapshot.meta.node_types[0];
  const groups = new Map<string, { count: number; bytes: number }>();
  let totalBytes = 0;
  for (let i = 0; i < s.nodes.length; i += width) {
    const type = types[s.nodes[i + typeAt]!] ?? "?";
    // Objects and closures by constructor / function name; strings, code, arrays by type only.
    const name =
      type === "object" || type === "closure" || type === "native"
        ? (s.strings[s.nodes[i + nameAt]!] ?? "?").slice(0, 60)
        : "";
    const bytes = s.nodes[i + sizeAt]!;
    totalBytes += bytes;
    const key = `${type}:${name}`;
    const g = groups.get(key) ?? { count: 0, bytes: 0 };
    g.count++;
    g.bytes += bytes;
    groups.set(key, g);
  }
  return { file, totalBytes, nodes: s.nodes.length / width, groups };
}

export interface GroupDiff {
  key: string;
  count: [number, number];
  bytes: [number, number];
}

/** The groups that grew most in bytes from `a` to `b`. */
export function diff(a: HeapSummary, b: HeapSummary, top = 15): GroupDiff[] {
  const keys = new Set([...a.groups.keys(), ...b.groups.keys()]);
  const out: GroupDiff[] = [];
  for (const key of keys) {
    const x = a.groups.get(key) ?? { count: 0, bytes: 0 };
    const y = b.groups.get(key) ?? { count: 0, bytes: 0 };
    out.push({ key, count: [x.count, y.count], bytes: [x.bytes, y.bytes] });
  }
  return out.sort((p, q) => q.bytes[1] - q.bytes[0] - (p.bytes[1] - p.bytes[0])).slice(0, top);
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const [first, second] = process.argv.slice(2);
  if (!first || !second) {
    console.error("usage: node bench/_heap-diff.ts <earlier.heapsnapshot> <later.heapsnapshot>");
    process.exit(2);
  }
  const a = summarize(first);
  const b = summarize(second);
  console.log(
    `live heap ${(a.totalBytes / 1048576).toFixed(2)} MB (${a.nodes} objects) -> ` +
      `${(b.totalBytes / 1048576).toFixed(2)} MB (${b.nodes} objects)`,
  );
  for (const d of diff(a, b, 30))
    console.log(
      `${d.key.padEnd(50)} count ${d.count[0]} -> ${d.count[1]}  bytes ${d.bytes[0]} -> ${d.bytes[1]} ` +
        `(${d.bytes[1] - d.bytes[0] >= 0 ? "+" : ""}${d.bytes[1] - d.bytes[0]})`,
    );
}
