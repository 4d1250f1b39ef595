// `doctor`: checks what the bridge needs from this machine, without starting it. Config validity,
// data directory permissions (0700 directories, 0600 files: pairings and sessions are secrets),
// the HomeKit TCP / Matter UDP / web TCP ports, ffmpeg and its codecs (libx264, Opus), and, only with
// --network, each configured vendor endpoint's reachability and clock (its HTTP Date header).
// Exit status 0 when nothing failed (warnings allowed), 1 otherwise, 2 for bad arguments.
import { execFile, spawn, type ExecFileException } from "node:child_process";
import { createSocket, type Socket } from "node:dgram";
import { chmodSync, existsSync, readdirSync, statSync } from "node:fs";
import { once } from "node:events";
import { createServer } from "node:net";
import { createRequire } from "node:module";
import { join, resolve } from "node:path";
import { Command } from "commander";
import { ConfigError, loadConfig, type Config } from "../core/config.ts";
import { namesOf } from "../core/vendor.ts";
import { vendorOf } from "../drivers/index.ts";
import { withCommonOptions, type CommonOptions } from "./common.ts";
import { runningBridge } from "./pidfile.ts";
import { writeFileAtomic } from "../core/storage.ts";
import { alexaPortWarning } from "../matter/controller-limits.ts";
import { bundleFileName, diagnosticsBundle, fetchBridgeBundle, scrubBundle } from "../web/diagnostics.ts";

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

/** Alexa finds Matter bridges on UDP 5540 only (src/matter/controller-limits.ts). */
export function checkAlexaPort(port: number): Check {
  const problem = alexaPortWarning(port);
  return problem
    ? warn("Alexa cannot find the Matter bridge", problem.message)
    : ok(`Matter on UDP ${port}: Alexa can find it`);
}

/** Node version: the bridge runs TypeScript directly and needs Node 22.18 or later. */
export function checkNode(version = process.versions.node): Check {
  const [major = 0, minor = 0] = version.split(".").map(Number);
  return major > 22 || (major === 22 && minor >= 18)
    ? ok(`Node.js ${version}`)
    : fail(
        `Node.js ${version} is too old`,
        "the bridge needs Node 22.18 or later (npm ci installs it; run through npm)",
      );
}

/** The config file parses and validates; a config holding passwords should not be readable by others. */
export function checkConfig(file: string, dataDir?: string): { check: Check[]; config?: Config } {
  const path = resolve(file);
  let loaded;
  try {
    // With the data directory: a password entered on the web page counts, as it does for the bridge.
    loaded = loadConfig(path, dataDir === undefined ? {} : { dataDir });
  } catch (error) {
    if (error instanceof ConfigError)
      return { check: [fail(`config ${path} has problems`, error.problems.join("\n"))] };
    return { check: [fail(`config ${path} cannot be read`, (error as Error).message)] };
  }
  const { config, found } = loaded;
  if (!found)
    return {
      check: [
        warn(
          `no config file at ${path}`,
          "the bridge writes a commented example there on its first start and runs with no accounts",
        ),
      ],
      config,
    };
  const checks = [
    ok(
      `config ${path} is valid`,
      `${config.accounts.length} account${config.accounts.length === 1 ? "" : "s"}: ` +
        `${config.accounts.map((a) => a.name).join(", ") || "none"}`,
    ),
  ];
  const st = statSync(path);
  // A password entered on the web page sits in the data directory, not in this file.
  const hasSecrets = config.accounts.some(
    (a) => a.password !== undefined && a.password !== loaded.secrets?.get(a.name)?.password,
  );
  if (hasSecrets && (st.mode & 0o077) !== 0)
    checks.push(
      fail(`config ${path} is mode ${mode(st.mode)} and holds passwords`, `other users can read it: chmod 600 ${path}`),
    );
  return { check: checks, config };
}

/** The data directory is 0700 and every file in it 0600 (pairing keys, vendor sessions). `fix` corrects modes. */
export function checkDataDir(dir: string, options: { fix?: boolean } = {}): Check[] {
  const root = resolve(dir);
  if (!existsSync(root))
    return [warn(`no data directory at ${root}`, "the bridge creates it (0700) on its first start")];
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
  if (loose.length)
    checks.push(
      fail(
        `${loose.length} path${loose.length === 1 ? "" : "s"} in ${root} readable by other users`,
        `${loose.slice(0, 10).join("\n")}${loose.length > 10 ? `\n... and ${loose.length - 10} more` : ""}` +
          `\nrun npm run doctor -- --fix (or chmod -R go-rwx ${root})`,
      ),
    );
  if (fixed.length)
    checks.push(
      warn(
        `fixed the mode of ${fixed.length} path${fixed.length === 1 ? "" : "s"} in ${root}`,
        fixed.slice(0, 10).join("\n"),
      ),
    );
  if (!loose.length) checks.push(ok(`data directory ${root} is private (0700 directories, 0600 files)`));
  return checks;
}

/** Whether a TCP port can be bound (host undefined = every address, as the bridge binds). */
export function checkTcpPort(port: number, label: string, host?: string): Promise<Check> {
  return new Promise((done) => {
    const server = createServer();
    server.once("error", (error: NodeJS.ErrnoException) =>
      done(
        fail(
          `${label} TCP port ${port} is not free`,
          `${error.code ?? error.message}: stop what uses it or choose another port in the config`,
        ),
      ),
    );
    server.listen({ port, host, exclusive: true }, () =>
      server.close(() => done(ok(`${label} TCP port ${port} is free`))),
    );
  });
}

/** Whether a UDP port can be bound (Matter binds UDP on every IPv6 and IPv4 address). */
export function checkUdpPort(port: number, label: string, host?: string): Promise<Check> {
  const family = host === undefined ? "udp6" : host.includes(":") ? "udp6" : "udp4";
  return new Promise((done) => {
    const socket = createSocket({ type: family });
    socket.once("error", (error: NodeJS.ErrnoException) => {
      socket.close();
      done(
        fail(
          `${label} UDP port ${port} is not free`,
          `${error.code ?? error.message}: stop what uses it or choose another port in the config`,
        ),
      );
    });
    socket.bind({ port, address: host ?? "::", exclusive: true }, () =>
      socket.close(() => done(ok(`${label} UDP port ${port} is free`))),
    );
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

function run(
  command: string,
  args: string[],
  timeoutMs = 10_000,
): Promise<{ stdout: string; error?: ExecFileException }> {
  return new Promise((done) => {
    execFile(command, args, { timeout: timeoutMs, maxBuffer: 4 * 1024 * 1024 }, (error, stdout) =>
      done({ stdout: String(stdout), ...(error ? { error } : {}) }),
    );
  });
}

/** ffmpeg runs and has the encoders camera streaming uses: libx264 (H.264) and Opus (HomeKit audio). */
/** `needed`: an account has cameras (a string: whose, e.g. a vendor's name), so a missing ffmpeg fails. */
export async function checkFfmpeg(candidates = ffmpegCandidates(), needed: boolean | string = false): Promise<Check[]> {
  for (const path of candidates) {
    const { stdout, error } = await run(path, ["-hide_banner", "-encoders"]);
    if (error?.code === "ENOENT") continue;
    if (error && !stdout) return [fail(`ffmpeg at ${path} does not run`, error.message)];
    const encoders = new Set(
      stdout
        .split("\n")
        .map((l) => /^\s*[VAS][.A-Z]{5}\s+(\S+)/.exec(l)?.[1])
        .filter((x): x is string => !!x),
    );
    const checks = [ok(`ffmpeg found: ${path}`)];
    checks.push(
      encoders.has("libx264")
        ? ok("ffmpeg has libx264 (H.264 video)")
        : fail(
            "ffmpeg lacks libx264",
            "camera streams need H.264 encoding: install a full ffmpeg build (Debian: apt install ffmpeg)",
          ),
    );
    checks.push(
      encoders.has("libopus") || encoders.has("opus")
        ? ok(`ffmpeg has ${encoders.has("libopus") ? "libopus" : "opus"} (HomeKit audio)`)
        : fail("ffmpeg lacks an Opus encoder", "camera audio in Apple Home needs Opus (libopus)"),
    );
    return checks;
  }
  const make = needed ? fail : warn;
  const why =
    typeof needed === "string"
      ? `${needed} cameras need it for video. `
      : needed
        ? "Cameras need it for video. "
        : "Needed only for camera video. ";
  return [
    make("ffmpeg not found", `${why}Install it (Debian: apt install ffmpeg) or set HEARTHBRIDGE_FFMPEG to its path`),
  ];
}

/** Runs ffmpeg with `input` on stdin; its stdout, exit code and the end of its stderr. */
interface FfmpegRun {
  code: number | null;
  stdout: Buffer;
  stderr: string;
}

function ffmpegRun(ffmpeg: string, args: string[], input?: Buffer, timeoutMs = 30_000): Promise<FfmpegRun> {
  return new Promise((done) => {
    const argv = ["-hide_banner", "-loglevel", "error", "-nostdin", ...args];
    const child = spawn(ffmpeg, argv, { stdio: [input ? "pipe" : "ignore", "pipe", "pipe"] });
    const out: Buffer[] = [];
    let stderr = "";
    const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
    child.stdout?.on("data", (d: Buffer) => out.push(d));
    child.stderr?.on("data", (d: Buffer) => (stderr = (stderr + d.toString()).slice(-2000)));
    child.stdin?.on("error", () => {}); // EPIPE when ffmpeg fails early: its exit code tells
    child.stdin?.end(input);
    child.once("error", (error) => (stderr += error.message));
    child.once("close", (code) => {
      clearTimeout(timer);
      done({ code, stdout: Buffer.concat(out), stderr: stderr.trim() });
    });
  });
}

async function udpReceiver(): Promise<{ socket: Socket; port: number; packets: Buffer[] }> {
  const socket = createSocket("udp4");
  const packets: Buffer[] = [];
  socket.on("message", (m) => packets.push(m));
  socket.bind(0, "127.0.0.1");
  await once(socket, "listening");
  return { socket, port: socket.address().port, packets };
}

const RTP_VIDEO_PT = 99;
const RTP_AUDIO_PT = 110;
/** RTP version 2 with the payload type asked for. */
const isRtp = (packet: Buffer, pt: number) => packet.length > 12 && packet[0]! >> 6 === 2 && (packet[1]! & 0x7f) === pt;

/**
 * Proves each codec and format the bridge and the demo use, with a one-second test stream through
 * the same steps as a camera: testsrc2 + a tone encoded to H.264 (libx264) + AAC in FLV (the demo
 * camera's push); that FLV decoded and sent as H.264 and Opus RTP to loopback (a HomeKit live view:
 * the packets are received and checked); a JPEG snapshot (MJPEG); H.264 copied to Annex B (copy mode).
 */
export async function checkFfmpegPipeline(ffmpeg: string): Promise<Check[]> {
  const why = (r: FfmpegRun, more = "") => r.stderr || `exit code ${r.code}${more}`;
  const camera = await ffmpegRun(ffmpeg, [
    ...["-f", "lavfi", "-i", "testsrc2=size=320x240:rate=15"],
    ...["-f", "lavfi", "-i", "sine=frequency=440:sample_rate=44100"],
    ...["-t", "1", "-map", "0:v", "-map", "1:a"],
    ...["-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-g", "15"],
    ...["-c:a", "aac", "-f", "flv", "pipe:1"],
  ]);
  if (camera.code !== 0 || camera.stdout.subarray(0, 3).toString() !== "FLV") {
    return [fail("ffmpeg cannot encode a test stream (lavfi, libx264, AAC, FLV)", why(camera))];
  }
  const flv = camera.stdout;
  const checks = [ok("ffmpeg encodes H.264 (libx264) and AAC into FLV", `${flv.length} bytes for 1 s`)];
  const probe = ["-probesize", "32", "-analyzeduration", "0", "-f", "flv", "-i", "pipe:0"];

  const [video, audio] = await Promise.all([udpReceiver(), udpReceiver()]);
  try {
    const rtp = await ffmpegRun(
      ffmpeg,
      [
        ...[...probe, "-sdp_file", "/dev/null", "-map", "0:v:0", "-c:v", "libx264", "-preset", "ultrafast"],
        ...[
          "-tune",
          "zerolatency",
          "-pix_fmt",
          "yuv420p",
          "-vf",
          "scale=160:120",
          "-payload_type",
          String(RTP_VIDEO_PT),
        ],
        ...["-f", "rtp", `rtp://127.0.0.1:${video.port}?pkt_size=1378`],
        ...["-map", "0:a:0", "-c:a", "libopus", "-application", "lowdelay", "-ar", "16000", "-ac", "1", "-b:a", "24k"],
        ...["-payload_type", String(RTP_AUDIO_PT), "-f", "rtp", `rtp://127.0.0.1:${audio.port}`],
      ],
      flv,
    );
    const v = video.packets.filter((p) => isRtp(p, RTP_VIDEO_PT)).length;
    const a = audio.packets.filter((p) => isRtp(p, RTP_AUDIO_PT)).length;
    const title = "ffmpeg decodes H.264 and AAC and sends H.264 and Opus as RTP";
    checks.push(
      rtp.code === 0 && v > 0 && a > 0
        ? ok(title, `${v} video and ${a} audio packets received on 127.0.0.1`)
        : fail(`${title}: it failed (HomeKit live view)`, why(rtp, `; ${v} video, ${a} audio packets`)),
    );
  } finally {
    video.socket.close();
    audio.socket.close();
  }

  // Snapshots and copy mode probe the stream (the live view above reads it at once, as the bridge does).
  const input = ["-f", "flv", "-i", "pipe:0"];
  const jpegArgs = ["-frames:v", "1", "-vf", "scale=160:-2", "-f", "image2pipe", "-c:v", "mjpeg", "pipe:1"];
  const jpeg = await ffmpegRun(ffmpeg, [...input, ...jpegArgs], flv);
  checks.push(
    jpeg.code === 0 && jpeg.stdout.length > 2 && jpeg.stdout.readUInt16BE(0) === 0xffd8
      ? ok("ffmpeg makes JPEG snapshots (MJPEG)", `${jpeg.stdout.length} bytes`)
      : fail("ffmpeg cannot make a JPEG snapshot (MJPEG)", why(jpeg)),
  );

  const copyArgs = ["-map", "0:v:0", "-c:v", "copy", "-bsf:v", "h264_mp4toannexb", "-f", "h264", "pipe:1"];
  const copy = await ffmpegRun(ffmpeg, [...input, ...copyArgs], flv);
  checks.push(
    copy.code === 0 && copy.stdout.subarray(0, 4).equals(Buffer.from([0, 0, 0, 1]))
      ? ok("ffmpeg copies H.264 into Annex B (copy mode)")
      : fail("ffmpeg cannot copy H.264 with h264_mp4toannexb", why(copy)),
  );
  return checks;
}

/** Reach one vendor endpoint and compare its HTTP Date header with our clock (signed requests break past 5 minutes). */
export async function checkClock(
  label: string,
  url: string,
  timeoutMs = 8_000,
  now: () => number = Date.now,
): Promise<Check> {
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
  if (!date || Number.isNaN(Date.parse(date)))
    return warn(
      `${label}: ${url} reachable (HTTP ${response.status}) but sent no Date header`,
      "the clock was not compared",
    );
  const local = (sent + received) / 2;
  // The Date header has 1-second resolution.
  const skewS = Math.round((local - Date.parse(date)) / 1000);
  const text =
    `HTTP ${response.status}; clock ` +
    `${skewS === 0 ? "in step" : `${Math.abs(skewS)} s ${skewS > 0 ? "ahead of" : "behind"} the server`}`;
  if (Math.abs(skewS) > 300)
    return fail(
      `${label}: this machine's clock is off by ${Math.abs(skewS)} s`,
      `${text}; signed vendor requests fail past 5 minutes: enable NTP (timedatectl set-ntp true)`,
    );
  if (Math.abs(skewS) > 30) return warn(`${label}: reachable; clock off by ${Math.abs(skewS)} s`, text);
  return ok(`${label}: ${url} reachable`, text);
}

/** The HTTP endpoints of each configured account (configured overrides, else the vendor's cloud). */
export function accountEndpoints(config: Config): { label: string; url: string }[] {
  return config.accounts.flatMap((a) => vendorOf(a.vendor)?.endpoints(a) ?? []);
}

const SYMBOL: Record<Status, string> = { ok: "ok  ", warn: "WARN", fail: "FAIL" };

export function formatCheck(check: Check): string {
  const detail = check.detail
    ? `\n${check.detail
        .split("\n")
        .map((l) => `       ${l}`)
        .join("\n")}`
    : "";
  return `[${SYMBOL[check.status]}] ${check.title}${detail}`;
}

export interface DoctorOptions extends CommonOptions {
  network?: boolean;
  fix?: boolean;
  /** Bind ports on this address instead of every address (tests). */
  bindHost?: string;
}

/** Run every check, reporting each as it finishes. Returns all results. */
export async function runDoctor(
  options: DoctorOptions,
  report: (check: Check) => void = () => {},
  progress: (step: string) => void = () => {},
): Promise<Check[]> {
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
    if (config.matter.enabled) add(checkAlexaPort(config.matter.port));
    if (pid !== undefined)
      add(
        ok(
          `a bridge (pid ${pid}) is running on ${dataDir}`,
          "its ports are in use by it, as expected; port checks skipped",
        ),
      );
    else {
      if (config.homekit.enabled && config.homekit.port !== 0)
        add(await checkTcpPort(config.homekit.port, "HomeKit", options.bindHost));
      if (config.matter.enabled) add(await checkUdpPort(config.matter.port, "Matter", options.bindHost));
      const web = (config as unknown as { web?: { enabled?: boolean; port?: number } }).web;
      if ("web" in config && web?.enabled !== false && web?.port)
        add(await checkTcpPort(web.port, "Web page", options.bindHost));
    }
  }
  progress("ffmpeg");
  const cameraVendors = [
    ...new Set(config?.accounts.map((a) => vendorOf(a.vendor)).filter((v) => v?.produces.cameras)),
  ];
  const ffmpegChecks = await checkFfmpeg(
    ffmpegCandidates(),
    cameraVendors.length > 0 &&
      namesOf(
        cameraVendors.map((v) => v!),
        "and",
      ),
  );
  add(...ffmpegChecks);
  const ffmpegPath = /^ffmpeg found: (.+)$/.exec(ffmpegChecks[0]?.title ?? "")?.[1];
  if (ffmpegPath && ffmpegChecks.every((c) => c.status === "ok")) {
    progress("ffmpeg codecs with a test stream");
    add(...(await checkFfmpegPipeline(ffmpegPath)));
  }
  if (options.network && config) {
    const endpoints = accountEndpoints(config);
    if (!endpoints.length) add(ok("no accounts: no vendor endpoint to check"));
    for (const { label, url } of endpoints) {
      progress(`${label} (${url})`);
      add(await checkClock(label, url));
    }
  } else if (config?.accounts.length)
    add(
      ok("vendor endpoints not contacted", "add --network to check each account's endpoint and this machine's clock"),
    );
  return results;
}

/**
 * The diagnostics bundle: the running bridge's own (devices, links, logs; fetched from its web server
 * with the key in <data>/diagnostics-access.json), or, with no bridge running, what the config and the
 * data directory tell. Either way with these doctor results added. Written 0600.
 */
export async function writeBundle(options: DoctorOptions, checks: Check[], file: string, quiet = false): Promise<void> {
  const dataDir = resolve(options.data);
  const { config } = checkConfig(options.config, options.data);
  const running = existsSync(dataDir) && runningBridge(dataDir) !== undefined;
  // Asked whenever the access file is there (it goes when the bridge stops): the pid check cannot
  // always tell (under qemu-user a process's /proc/<pid>/stat start time reads differently inside).
  const live = await fetchBridgeBundle(dataDir, config?.web.host);
  let text: string;
  if (live) {
    const doc = JSON.parse(live) as Record<string, unknown>;
    text = scrubBundle(JSON.stringify({ ...doc, doctor: checks }, null, 2), []);
  } else text = await diagnosticsBundle({ dataDir, config, extra: { doctor: checks } });
  if (file === "-") process.stdout.write(`${text}\n`);
  else {
    writeFileAtomic(resolve(file), `${text}\n`, 0o600);
    const only = "config and data directory only";
    const from = live
      ? "from the running bridge"
      : running
        ? `the bridge runs but did not answer: ${only}`
        : `no bridge running: ${only}`;
    if (!quiet) console.log(`\nDiagnostics bundle (${from}): ${resolve(file)}`);
  }
}

export async function doctorCommand(argv: string[]): Promise<number> {
  const program = withCommonOptions(
    new Command("doctor").description("check this machine, the config and the data directory"),
  )
    .option("--network", "also contact each account's vendor endpoint (reachability, clock)")
    .option("--fix", "set the data directory's modes to 0700/0600")
    .option("--json", "print the results as JSON")
    .option("--bundle [file]", "also write a diagnostics bundle (JSON without secrets) to this file; '-' prints it")
    .showHelpAfterError()
    .parse(argv, { from: "user" });
  const opts = program.opts<DoctorOptions & { json?: boolean; bundle?: string | boolean }>();
  // `--bundle -` prints the bundle alone: the check lines stay out of stdout.
  const quiet = opts.json === true || opts.bundle === "-";
  const tty = process.stdout.isTTY === true && !quiet;
  const results = await runDoctor(
    opts,
    (check) => {
      if (!quiet) console.log(`${tty ? "\r\x1b[2K" : ""}${formatCheck(check)}`);
    },
    (step) => {
      if (tty) process.stdout.write(`\r\x1b[2K       checking ${step}...`);
      else if (!quiet) console.log(`... checking ${step}`);
    },
  );
  const failed = results.filter((r) => r.status === "fail").length;
  const warned = results.filter((r) => r.status === "warn").length;
  if (opts.bundle !== undefined) {
    await writeBundle(opts, results, typeof opts.bundle === "string" ? opts.bundle : bundleFileName(), quiet);
  }
  if (opts.bundle === "-") return failed ? 1 : 0;
  if (opts.json) console.log(JSON.stringify({ failed, warned, checks: results }, null, 2));
  else
    console.log(
      failed
        ? `\n${failed} problem${failed === 1 ? "" : "s"}` +
            `${warned ? `, ${warned} warning${warned === 1 ? "" : "s"}` : ""}.`
        : `\nAll good${warned ? ` (${warned} warning${warned === 1 ? "" : "s"})` : ""}.`,
    );
  return failed ? 1 : 0;
}

if (import.meta.main) process.exitCode = await doctorCommand(process.argv.slice(2));
