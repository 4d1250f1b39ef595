// What code the bridge holds (household --modules): every script V8 reports through the bridge's
// inspector, grouped by npm package, Node's own internals, WebAssembly, and our own folders. Script source
// stays in the heap for as long as its module is loaded, and compiled code grows with it, so this is where
// the idle RSS that no device explains goes (issue 17).
import type { ParsedScript } from "./_inspector.ts";
import { fmt, table } from "./lib.ts";

export interface ModuleGroup {
  name: string;
  scripts: number;
  /** Characters of source. */
  chars: number;
}

export interface LoadedModules {
  scripts: number;
  chars: number;
  groups: ModuleGroup[];
  /** Loaded although the bridge must never load them (simulators, test and browser code). */
  forbidden: string[];
}

/** Never in a bridge started from a config (sim/ only for `npm run demo`). */
const FORBIDDEN = [/\/node_modules\/playwright/, /^file:\/\/.*\/(sim|test|bench)\//];

function groupOf(url: string): string {
  if (url.startsWith("node:")) return "(node internals)";
  if (url.startsWith("wasm:")) return "(WebAssembly)";
  const pkg = /\/node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(url)?.[1];
  if (pkg) return pkg;
  // Our own files: the first two parts of the path inside the repository (src/media, accessories/fan).
  const own = /\/(src|accessories|sim|test|bench)\/(.*)$/.exec(url);
  if (own) return `${own[1]}/${own[2]!.split("/")[0]!.replace(/\.ts$/, "")}`;
  return url || "(no URL: eval)";
}

export function summarizeScripts(scripts: ParsedScript[]): LoadedModules {
  const groups = new Map<string, ModuleGroup>();
  for (const s of scripts) {
    const name = groupOf(s.url);
    const g = groups.get(name) ?? { name, scripts: 0, chars: 0 };
    g.scripts++;
    g.chars += s.length;
    groups.set(name, g);
  }
  return {
    scripts: scripts.length,
    chars: scripts.reduce((sum, s) => sum + s.length, 0),
    groups: [...groups.values()].sort((a, b) => b.chars - a.chars),
    forbidden: scripts.filter((s) => FORBIDDEN.some((f) => f.test(s.url))).map((s) => s.url),
  };
}

export function printModules(label: string, m: LoadedModules, top = 25): void {
  console.log(`${label}: ${m.scripts} scripts, ${fmt(m.chars / 1048576)} M characters of source; the largest groups:`);
  console.log(
    table([
      ["group", "scripts", "M chars"],
      ...m.groups.slice(0, top).map((g) => [g.name, g.scripts, fmt(g.chars / 1048576)]),
    ]),
  );
  if (m.forbidden.length) console.log(`LOADED BUT MUST NOT BE: ${m.forbidden.join(", ")}`);
}
