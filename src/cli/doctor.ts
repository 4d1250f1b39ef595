// `doctor`: checks what the bridge needs from this machine, without starting it. Config validity,
// data directory permissions (0700 directories, 0600 files: pairings and sessions are secrets),
// the HomeKit TCP / Matter UDP / web TCP ports, ffmpeg and its codecs (libx264, Opus), and, only with
// --network, each configured vendor endpoint's reachability and clock (its HTTP Date header).
// Exit status 0 when nothing failed (warnings allowed), 1 otherwise, 2 for bad arguments.
import { execFile, type ExecFileException } from "node:child_process";
import { createSocket } from "node:dgram";
import { chmodSync, existsSync, readdirSync, statSync } from "node:fs";
import { createServer } from "node:net";
import { createRequire } from "node:module";
import { join, resolve } from "node:path";
import { Command } from "commander";
import { ConfigError, loadConfig, type Config } from "../core/config.ts";
import { namesOf } from "../core/vendor.ts";
import { vendorOf } from "../drivers/index.ts";
import { withCommonOptions, type CommonOptions } from "./common.ts";
import { runningBridge } from "./pidfile.ts";

export type Status = "ok" | "warn" | "fail";

export interface Check {
  status: Status;
  title: string;
  detail?: string;
}

const ok = (title: string, detail?: string): Check => ({ status: "ok", title, ...(detail ? { detail } : {}) });
const warn = (title: string, detail?: string): Check => ({ status: "warn", title, ...(detail ? { detail } : {}) });
const fail = (title: string, detail?: string): Check => ({ status: "fail", title, ...(detail ? { detail } : {}) });

const mode = (m: number): string => (m & 0o777).toString(8).padStart(4, "0");

/** Node version: the bridge runs TypeScript directly and needs Node 22.18 or later. */
export function checkNode(version = process.versions.node): Check {
  const [major = 0, minor = 0] = version.split(".").map(Number);
  return major > 22 || (major === 22 && minor >= 18) ? ok(`Node.js ${version}`) : fail(`Node.js ${version} is too old`, "the bridge needs Node 22.18 or later (npm ci installs it; run through npm)");
}

/** The config file parses and validates; a config holding passwords should not be readable by others. */
export function checkConfig(file: string, dataDir?: string): { check: Check[]; config?: Config } {
  const path = resolve(file);
  let loaded;
  try {
    // With the data directory: a password entered on the web page counts, as it does for the bridge.
    loaded = loadConfig(path, dataDir === undefined ? {} : { dataDir });
  } catch (error) {
    if (error instanceof ConfigError) return { check: [fail(`config ${path} has problems`, error.problems.join("\n"))] };
    return { check: [fail(`config ${path} cannot be read`, (error as Error).message)] };
  }
  const { config, found } = loaded;
  if (!found) return { check: [warn(`no config file at ${path}`, "the bridge writes a commented example there on its first start and runs with no accounts")], config };
  const checks = [ok(`config ${path} is valid`, `${config.accounts.length} account${config.accounts.length === 1 ? "" : "s"}: ${config.accounts.map((a) => a.name).join(", ") || "none"}`)];
  const st = statSync(path);
  // A password entered on the web page sits in the data directory, not in this file.
  const hasSecrets = config.accounts.some((a) => a.password !== undefined && a.password !== loaded.secrets?.get(a.name)?.password);
  if (hasSecrets && (st.mode & 0o077) !== 0) checks.push(fail(`config ${path} is mode ${mode(st.mode)} and holds passwords`, `other users can read it: chmod 600 ${path}`));
  return { check: checks, config };
}

/** The data directory is 0700 and every file in it 0600 (pairing keys, vendor sessions). `fix` corrects modes. */
export function checkDataDir(dir: string, options: { fix?: boolean } = {}): Check[] {
  const root = resolve(dir);
  if (!existsSync(root)) return [warn(`no data directory at ${root}`, "the bridge creates it (0700) on its first start")];
  const loose: string[] = [];
  const fixed: string[] = [];
  const walk = (path: string) => {
    const st = statSync(path);
    const wanted = st.isDirectory() ? 0o700 : 0o600;
    // Only group/other bits matter: a 0400 file is fine.
    if ((st.mode & 0o077) !== 0) {
      if (options.fix) {
        chmodSync(path, wanted);
        fixed.push(`${path} ${mode(st.mode)} -> ${mode(wanted)}`);
      } else loose.push(`${path} is ${mode(st.mode)} (want ${mode(wanted)})`);
    }
    if (st.isDirectory()) for (const name of readdirSync(path)) walk(join(path, name));
  };
  try {
    walk(root);
  } catch (error) {
    return [fail(`cannot check ${root}`, (error as Error).message)];
  }
  const checks: Check[] = [];
  if (loose.length) checks.push(fail(`${loose.length} path${loose.length === 1 ? "" : "s"} in ${root} readable by other users`, `${loose.slice(0, 10).join("\n")}${loose.length > 10 ? `\n... and ${loose.length - 10} more` : ""}\nrun npm run doctor -- --fix (or chmod -R go-rwx ${root})`));
  if (fixed.length) checks.push(warn(`fixed the mode of ${fixed.length} path${fixed.length === 1 ? "" : "s"} in ${root}`, fixed.slice(0, 10).join("\n")));
  if (!loose.length) checks.push(ok(`data directory ${root} is private (0700 directories, 0600 files)`));
  return checks;
}

/** Whether a TCP port can be bound (host undefined = every address, as the bridge binds). */
export function checkTcpPort(port: number, label: string, host?: string): Promise<Check> {
  return new Promise((done) => {
    const server = createServer();
    server.once("error", (error: NodeJS.ErrnoException) => done(fail(`${label} TCP port ${port} is not free`, `${error.code ?? error.message}: stop what uses it or choose another port in the config`)));
    server.listen({ port, host, exclusive: true }, () => server.close(() => done(ok(`${label} TCP port ${port} is free`))));
  });
}

/** Whether a UDP port can be bound (Matter binds UDP on every IPv6 and IPv4 address). */
export function checkUdpPort(port: number, label: string, host?: string): Promise<Check> {
  const family = host === undefined ? "udp6" : host.includes(":") ? "udp6" : "udp4";
  return new Promise((done) => {
    const socket = createSocket({ type: family });
    socket.once("error", (error: NodeJS.ErrnoException) => {
      socket.close();
      done(fail(`${label} UDP port ${port} is not free`, `${error.code ?? error.message}: stop what uses it or choose another port in the config`));
    });
    socket.bind({ port, address: host ?? "::", exclusive: true }, () => socket.close(() => done(ok(`${label} UDP port ${port} is free`))));
  });
}

/** Where ffmpeg is: HEARTHBRIDGE_FFMPEG, else `ffmpeg` on the PATH, else @ffmpeg-installer/ffmpeg when installed. */
export function ffmpegCandidates(): string[] {
  const list: string[] = [];
  if (process.env.HEARTHBRIDGE_FFMPEG) list.push(process.env.HEARTHBRIDGE_FFMPEG);
  list.push("ffmpeg");
  try {
    const installer = createRequire(import.meta.url)("@ffmpeg-installer/ffmpeg") as { path?: string };
    if (installer.path) list.push(installer.path);
  } catch {
    // Not installed: fine.
  }
  return list;
}

function run(command: string, args: string[], timeoutMs = 10_000): Promise<{ stdout: string; error?: ExecFileException }> {
  return new Promise((done) => {
    execFile(command, args, { timeout: timeoutMs, maxBuffer: 4 * 1024 * 1024 }, (error, stdout) => done({ stdout: String(stdout), ...(error ? { error } : {}) }));
  });
}

/** ffmpeg runs and has the encoders camera streaming uses: libx264 (H.264) and Opus (HomeKit audio). */
/** `needed`: an account has cameras (a string: whose, e.g. a vendor's name), so a missing ffmpeg fails. */
export async function checkFfmpeg(candidates = ffmpegCandidates(), needed: boolean | string = false): Promise<Check[]> {
  for (const path of candidates) {
    const { stdout, error } = await run(path, ["-hide_banner", "-encoders"]);
    if (error?.code === "ENOENT") continue;
    if (error && !stdout) return [fail(`ffmpeg at ${path} does not run`, error.message)];
    const encoders = new Set(stdout.split("\n").map((l) => /^\s*[VAS][.A-Z]{5}\s+(\S+)/.exec(l)?.[1]).filter((x): x is string => !!x));
    const checks = [ok(`ffmpeg found: ${path}`)];
    checks.push(encoders.has("libx264") ? ok("ffmpeg has libx264 (H.264 video)") : fail("ffmpeg lacks libx264", "camera streams need H.264 encoding: install a full ffmpeg build (Debian: apt install ffmpeg)"));
    checks.push(encoders.has("libopus") || encoders.has("opus") ? ok(`ffmpeg has ${encoders.has("libopus") ? "libopus" : "opus"} (HomeKit audio)`) : fail("ffmpeg lacks an Opus encoder", "camera audio in Apple Home needs Opus (libopus)"));
    return checks;
  }
  const make = needed ? fail : warn;
  const why =
    typeof needed === "string" ? `${needed} cameras need it for video. ` : needed ? "Cameras need it for video. " : "Needed only for camera video. ";
  return [make("ffmpeg not found", `${why}Install it (Debian: apt install ffmpeg) or set HEARTHBRIDGE_FFMPEG to its path`)];
}

/** Reach one vendor endpoint and compare its HTTP Date header with our clock (signed requests break past 5 minutes). */
export async function checkClock(label: string, url: string, timeoutMs = 8_000, now: () => number = Date.now): Promise<Check> {
  const sent = now();
  let response: Response;
  try {
    response = await fetch(url, { method: "HEAD", signal: AbortSignal.timeout(timeoutMs), redirect: "manual" });
  } catch (error) {
    const cause = (error as { cause?: { code?: string } }).cause?.code;
    return fail(`${label}: ${url} is not reachable`, cause ?? (error as Error).message);
  }
  const received = now();
  const date = response.headers.get("date");
  if (!date || Number.isNaN(Date.parse(date))) return warn(`${label}: ${url} reachable (HTTP ${response.status}) but sent no Date header`, "the clock was not compared");
  const local = (sent + received) / 2;
  // The Date header has 1-second resolution.
  const skewS = Math.round((local - Date.parse(date)) / 1000);
  const text = `HTTP ${response.status}; clock ${skewS === 0 ? "in step" : `${Math.abs(skewS)} s ${skewS > 0 ? "ahead of" : "behind"} the server`}`;
  if (Math.abs(skewS) > 300) return fail(`${label}: this machine's clock is off by ${Math.abs(skewS)} s`, `${text}; signed vendor requests fail past 5 minutes: enable NTP (timedatectl set-ntp true)`);
  if (Math.abs(skewS) > 30) return warn(`${label}: reachable; clock off by ${Math.abs(skewS)} s`, text);
  return ok(`${label}: ${url} reachable`, text);
}

/** The HTTP endpoints of each configured account (configured overrides, else the vendor's cloud). */
export function accountEndpoints(config: Config): { label: string; url: string }[] {
  return config.accounts.flatMap((a) => vendorOf(a.vendor)?.endpoints(a) ?? []);
}

const SYMBOL: Record<Status, string> = { ok: "ok  ", warn: "WARN", fail: "FAIL" };

export function formatCheck(check: Check): string {
  const detail = check.detail ? `\n${check.detail.split("\n").map((l) => `       ${l}`).join("\n")}` : "";
  return `[${SYMBOL[check.status]}] ${check.title}${detail}`;
}

export interface DoctorOptions extends CommonOptions {
  network?: boolean;
  fix?: boolean;
  /** Bind ports on this address instead of every address (tests). */
  bindHost?: string;
}

/** Run every check, reporting each as it finishes. Returns all results. */
export async function runDoctor(options: DoctorOptions, report: (check: Check) => void = () => {}, progress: (step: string) => void = () => {}): Promise<Check[]> {
  const results: Check[] = [];
  const add = (...checks: Check[]) => {
    for (const c of checks) {
      results.push(c);
      report(c);
    }
  };
  add(checkNode());
  const { check: configChecks, config } = checkConfig(options.config, options.data);
  add(...configChecks);
  const dataDir = resolve(options.data);
  add(...checkDataDir(dataDir, { fix: options.fix }));
  const pid = existsSync(dataDir) ? runningBridge(dataDir) : undefined;
  if (config) {
    if (pid !== undefined) add(ok(`a bridge (pid ${pid}) is running on ${dataDir}`, "its ports are in use by it, as expected; port checks skipped"));
    else {
      if (config.homekit.enabled && config.homekit.port !== 0) add(await checkTcpPort(config.homekit.port, "HomeKit", options.bindHost));
      if (config.matter.enabled) add(await checkUdpPort(config.matter.port, "Matter", options.bindHost));
      const web = (config as unknown as { web?: { enabled?: boolean; port?: number } }).web;
      if ("web" in config && web?.enabled !== false && web?.port) add(await checkTcpPort(web.port, "Web page", options.bindHost));
    }
  }
  progress("ffmpeg");
  const cameraVendors = [...new Set(config?.accounts.map((a) => vendorOf(a.vendor)).filter((v) => v?.produces.cameras))];
  add(...(await checkFfmpeg(ffmpegCandidates(), cameraVendors.length > 0 && namesOf(cameraVendors.map((v) => v!), "and"))));
  if (options.network && config) {
    const endpoints = accountEndpoints(config);
    if (!endpoints.length) add(ok("no accounts: no vendor endpoint to check"));
    for (const { label, url } of endpoints) {
      progress(`${label} (${url})`);
      add(await checkClock(label, url));
    }
  } else if (config?.accounts.length) add(ok("vendor endpoints not contacted", "add --network to check each account's endpoint and this machine's clock"));
  return results;
}

export async function doctorCommand(argv: string[]): Promise<number> {
  const program = withCommonOptions(new Command("doctor").description("check this machine, the config and the data directory"))
    .option("--network", "also contact each account's vendor endpoint (reachability, clock)")
    .option("--fix", "set the data directory's modes to 0700/0600")
    .option("--json", "print the results as JSON")
    .showHelpAfterError()
    .parse(argv, { from: "user" });
  const opts = program.opts<DoctorOptions & { json?: boolean }>();
  const tty = process.stdout.isTTY === true && !opts.json;
  const results = await runDoctor(
    opts,
    (check) => {
      if (!opts.json) console.log(`${tty ? "\r\x1b[2K" : ""}${formatCheck(check)}`);
    },
    (step) => {
      if (tty) process.stdout.write(`\r\x1b[2K       checking ${step}...`);
      else if (!opts.json) console.log(`... checking ${step}`);
    },
  );
  const failed = results.filter((r) => r.status === "fail").length;
  const warned = results.filter((r) => r.status === "warn").length;
  if (opts.json) console.log(JSON.stringify({ failed, warned, checks: results }, null, 2));
  else console.log(failed ? `\n${failed} problem${failed === 1 ? "" : "s"}${warned ? `, ${warned} warning${warned === 1 ? "" : "s"}` : ""}.` : `\nAll good${warned ? ` (${warned} warning${warned === 1 ? "" : "s"})` : ""}.`);
  return failed ? 1 : 0;
}

if (import.meta.main) process.exitCode = await doctorCommand(process.argv.slice(2));
