// Start-up time and memory of the real bridge, started from its CLI as a user would (issue 2):
//   node src/main.ts --config <tmp config> --data <tmp dir> --log-json
// against the FanSync simulator (4 devices by default), HomeKit with advertiser "none" on port 0,
// Matter on a free port. Per run: the `ready` log line's readyMs (config loaded -> bridges
// published), wall time from spawn to that line (adds process start and module loading), and
// VmRSS / VmHWM from /proc/<pid>/status a few seconds after ready. Runs alternate between the Node
// binaries given (the running one first), so a change in machine load hits each alike.
//
// Run: npm run bench -- startup [--runs 3] [--devices 4] [--settle-ms 3000] [--node /path/to/other/node ...]
// (or: test/netns.sh node bench/startup.ts ...). Figures are printed, not asserted.
import { spawn } from "node:child_process";
import { createSocket } from "node:dgram";
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { cpus, loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { FanSyncSimulator, PROFILES, type ProfileKey, type SimDeviceSpec } from "../sim/fansync/index.ts";
import { BRIDGE_ENTRY, type LogLine } from "../test/helpers/bridge-process.ts";
import { argValue, argValues, fmt, median, sleep, table, withTimeout, writeSummary, type SummaryRow } from "./lib.ts";

if (!process.env.HEARTHBRIDGE_NETNS) {
  console.error(
    "startup runs a bridge that advertises Matter: run it inside the loopback namespace (npm run bench -- startup, " +
      "or test/netns.sh node bench/startup.ts)",
  );
  process.exit(2);
}

const root = fileURLToPath(new URL("..", import.meta.url));
const RUNS = Number(argValue("--runs", "3"));
const DEVICES = Number(argValue("--devices", "4"));
const SETTLE_MS = Number(argValue("--settle-ms", "3000"));
const NODES = [process.execPath, ...argValues("--node")];

interface Run {
  node: string;
  readyMs: number;
  wallMs: number;
  /** kB, from /proc/<pid>/status. */
  rss: number;
  hwm: number;
  rssAnon: number;
  rssFile: number;
  devices: number;
}

function nodeVersion(bin: string): string {
  return execFileSync(bin, ["--version"], { encoding: "utf8" }).trim();
}

async function freeUdpPort(): Promise<number> {
  const socket = createSocket("udp6");
  await new Promise<void>((resolve) => socket.bind(0, "::1", resolve));
  const { port } = socket.address();
  await new Promise<void>((resolve) => socket.close(() => resolve()));
  return port;
}

function procStatus(pid: number): Record<string, number> {
  const out: Record<string, number> = {};
  for (const line of readFileSync(`/proc/${pid}/status`, "utf8").split("\n")) {
    const m = /^(Vm\w+|Rss\w+):\s+(\d+) kB/.exec(line);
    if (m) out[m[1]!] = Number(m[2]);
  }
  return out;
}

async function runOnce(bin: string, urls: { apiUrl: string; wsUrl: string }, sim: FanSyncSimulator): Promise<Run> {
  const dir = mkdtempSync(join(tmpdir(), "hb-bench-startup-"));
  const config = join(dir, "config.json");
  const matterPort = await freeUdpPort();
  writeFileSync(
    config,
    JSON.stringify({
      homekit: { port: 0, advertiser: "none", pincode: "031-45-154" },
      matter: { port: matterPort, mdnsInterface: "lo" },
      accounts: [
        {
          vendor: "fansync",
          name: "home",
          email: sim.email,
          password: sim.password,
          endpoints: { api: urls.apiUrl, websocket: urls.wsUrl },
        },
      ],
      log: { level: "info" },
    }),
  );
  const started = performance.now();
  const child = spawn(bin, [BRIDGE_ENTRY, "--log-json", "--config", config, "--data", join(dir, "data")], {
    cwd: root,
    env: { ...process.env, MATTER_LOG_LEVEL: "error", MATTER_LOG_FORMAT: "plain" },
    stdio: ["ignore", "pipe", "pipe"],
  });
  const lines: string[] = [];
  const stderr: string[] = [];
  const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)));
  createInterface({ input: child.stderr! }).on("line", (l) => stderr.push(l));
  try {
    const ready = await withTimeout(
      new Promise<{ line: LogLine; at: number }>((resolve, reject) => {
        createInterface({ input: child.stdout! }).on("line", (text) => {
          const at = performance.now();
          lines.push(text);
          try {
            const line = JSON.parse(text) as LogLine;
            if (line.event === "ready") resolve({ line, at });
          } catch {
            // not JSON (the pairing QR code, for instance)
          }
        });
        void exited.then((code) =>
          reject(
            new Error(
              `bridge exited with ${code} before ready; ` +
                `stderr:\n${stderr.join("\n")}\nstdout:\n${lines.slice(-10).join("\n")}`,
            ),
          ),
        );
      }),
      60_000,
      `ready line from ${bin}; stdout:\n${lines.slice(-10).join("\n")}`,
    );
    await sleep(SETTLE_MS);
    const status = procStatus(child.pid!);
    return {
      node: bin,
      readyMs: Number(ready.line.readyMs),
      wallMs: ready.at - started,
      rss: status.VmRSS ?? NaN,
      hwm: status.VmHWM ?? NaN,
      rssAnon: status.RssAnon ?? NaN,
      rssFile: status.RssFile ?? NaN,
      devices: Number(ready.line.devices),
    };
  } finally {
    if (child.exitCode === null) child.kill("SIGTERM");
    const code = await Promise.race([exited, sleep(15_000).then(() => "timeout" as const)]);
    if (code === "timeout") {
      console.error(`bridge ${child.pid} did not stop within 15 s of SIGTERM; killing it`);
      child.kill("SIGKILL");
      await exited;
    } else if (code !== 0) console.error(`bridge exited with ${code} after SIGTERM`);
    rmSync(dir, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  const profiles = Object.keys(PROFILES) as ProfileKey[];
  const devices: SimDeviceSpec[] = Array.from({ length: DEVICES }, (_, i) => ({
    profile: profiles[i % profiles.length]!,
  }));
  const sim = new FanSyncSimulator({ devices });
  const urls = await sim.start();
  const versions = new Map(NODES.map((bin) => [bin, nodeVersion(bin)]));
  const runs: Run[] = [];
  const load = loadavg()
    .map((l) => l.toFixed(2))
    .join(" ");
  try {
    for (let r = 0; r < RUNS; r++) {
      for (const bin of NODES) {
        const run = await runOnce(bin, urls, sim);
        runs.push(run);
        process.stderr.write(
          `  run ${r + 1}/${RUNS} ${versions.get(bin)}: readyMs ${run.readyMs}, spawn->ready ` +
            `${run.wallMs.toFixed(0)} ms, VmRSS ${(run.rss / 1024).toFixed(1)} MB, VmHWM ` +
            `${(run.hwm / 1024).toFixed(1)} MB, ${run.devices} devices\n`,
        );
      }
    }
  } finally {
    await sim.stop();
  }

  const mb = (kb: number) => `${fmt(kb / 1024, 1)} MB`;
  console.log(
    `\nBridge start-up (node ${BRIDGE_ENTRY} --log-json), FanSync simulator with ${DEVICES} devices, ` +
      `HomeKit advertiser "none",`,
  );
  console.log(
    `Matter on a free port (mDNS on lo only); fresh data directory per run; RSS read ${SETTLE_MS} ms after the ` +
      `ready line.`,
  );
  console.log(
    `Machine: ${cpus().length} CPUs, load average at start ${load} ` +
      "(other work was running: treat times as indicative).",
  );
  console.log(`Medians of ${RUNS} runs per Node binary (min-max in brackets):\n`);
  const rows: (string | number)[][] = [
    ["node", "runs", "readyMs", "spawn->ready ms", "VmRSS", "VmHWM", "RssAnon", "RssFile"],
  ];
  const summary: SummaryRow[] = [];
  for (const bin of NODES) {
    const mine = runs.filter((r) => r.node === bin);
    const col = (pick: (r: Run) => number) => mine.map(pick);
    const range = (values: number[], f: (n: number) => string) =>
      `${f(median(values))} [${f(Math.min(...values))}-${f(Math.max(...values))}]`;
    const ms = (n: number) => n.toFixed(0);
    const mbShort = (kb: number) => (kb / 1024).toFixed(1);
    rows.push([
      `${versions.get(bin)}${bin === process.execPath ? " (this)" : ""}`,
      mine.length,
      range(
        col((r) => r.readyMs),
        ms,
      ),
      range(
        col((r) => r.wallMs),
        ms,
      ),
      `${range(
        col((r) => r.rss),
        mbShort,
      )} MB`,
      mb(median(col((r) => r.hwm))),
      mb(median(col((r) => r.rssAnon))),
      mb(median(col((r) => r.rssFile))),
    ]);
    summary.push({
      metric: `startup ${versions.get(bin)}`,
      value:
        `readyMs ${ms(median(col((r) => r.readyMs)))}, spawn->ready ${ms(median(col((r) => r.wallMs)))} ms, ` +
        `RSS ${mb(median(col((r) => r.rss)))}`,
    });
  }
  console.log(table(rows));
  if (NODES.length > 1) {
    const base = median(runs.filter((r) => r.node === NODES[0]).map((r) => r.rss));
    for (const bin of NODES.slice(1)) {
      const other = median(runs.filter((r) => r.node === bin).map((r) => r.rss));
      console.log(
        `\nRSS ${versions.get(bin)} vs ${versions.get(NODES[0]!)}: ${mb(other)} vs ${mb(base)} ` +
          `(${other >= base ? "+" : ""}${mb(other - base)}, ${fmt(other / base)}x)`,
      );
    }
  }
  console.log(
    "\nreadyMs: from config loaded to bridges published (the bridge's own figure); spawn->ready adds process start",
  );
  console.log(
    "and module loading (matter.js, HAP-NodeJS). RssFile is mapped files (the node binary, ICU); RssAnon is heap " +
      "and code.",
  );
  writeSummary("startup", summary, [`${DEVICES} FanSync devices, ${RUNS} runs, median`]);
}

main().then(
  () => process.exit(0),
  (error: Error) => {
    console.error(`startup failed: ${error.stack ?? error.message}`);
    process.exit(1);
  },
);
