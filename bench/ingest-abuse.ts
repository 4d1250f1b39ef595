// What an unauthenticated peer can make the RTMP ingest hold (issue 18, part 2). The ingest runs alone
// in a child process (bench/_ingest-target.ts); this process attacks it on loopback, spreading its
// connections over 127.0.0.2-251 so per-address limits do not hide the per-connection ones, and reads
// the child's RSS and virtual size from /proc before, during and after each attack (after: every
// attacking socket closed, then two full GCs in the child). A fresh ingest process per attack.
//
//   idle      --idle 1000 connections that send nothing; how many the ingest still holds after 12 s
//   lengths   --lengths 300 connections: handshake, then one chunk header declaring a 16 MiB message
//   chunksize --big 32 connections: handshake, chunk size 2^31-1, then 8 MiB of one 16 MiB message
//   streams   --streams 5000 chunk streams on one connection, each declaring a 64 KiB message
//
// Run: npm run bench -- ingest-abuse (or test/netns.sh node bench/ingest-abuse.ts). About a minute.
// Figures only; nothing is asserted. Talks to 127.0.0.x only.
import { spawn, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import { connect, type Socket } from "node:net";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { argValue, fmt, sleep, table, writeSummary, type SummaryRow } from "./lib.ts";

const IDLE = Number(argValue("--idle", "1000"));
const LENGTHS = Number(argValue("--lengths", "300"));
const BIG = Number(argValue("--big", "32"));
const STREAMS = Number(argValue("--streams", "5000"));
const HANDSHAKE = 1536;

/** One ingest process per attack, so what one attack leaves behind does not hide the next. */
let target: ChildProcess;
let nextLine: () => Promise<string>;
let port = 0;

async function startTarget(): Promise<void> {
  target = spawn(process.execPath, [fileURLToPath(new URL("_ingest-target.ts", import.meta.url))], {
    stdio: ["pipe", "pipe", "inherit"],
  });
  const lines = createInterface({ input: target.stdout! })[Symbol.asyncIterator]();
  nextLine = async () => (await lines.next()).value as string;
  port = (JSON.parse(await nextLine()) as { port: number }).port;
}

async function stopTarget(): Promise<void> {
  const exited = new Promise((done) => target.once("exit", done));
  target.stdin!.write("stop\n");
  await exited;
}

function memory(): { rssMb: number; vszMb: number } {
  const status = readFileSync(`/proc/${target.pid}/status`, "utf8");
  const kb = (field: string) => Number(new RegExp(`${field}:\\s+(\\d+)`).exec(status)?.[1] ?? NaN);
  return { rssMb: kb("VmRSS") / 1024, vszMb: kb("VmSize") / 1024 };
}

async function gcTarget(): Promise<void> {
  target.stdin!.write("gc\n");
  await nextLine();
}

let sequence = 0;
const open = new Set<Socket>();

/** A connection from the next of 250 loopback addresses; resolves with the socket once connected or closed. */
function dial(): Promise<Socket> {
  const localAddress = `127.0.0.${2 + (sequence++ % 250)}`;
  return new Promise((resolve) => {
    const socket = connect({ port, host: "127.0.0.1", localAddress });
    socket.on("error", () => undefined);
    // Flowing, so a close by the ingest is seen.
    socket.resume();
    open.add(socket);
    socket.once("close", () => open.delete(socket));
    socket.once("connect", () => resolve(socket));
    socket.once("close", () => resolve(socket));
  });
}

/** C0 + C1, wait for S0 + S1 + S2, send C2: the chunk layer comes next. False if the ingest closed it. */
async function handshake(socket: Socket): Promise<boolean> {
  if (socket.destroyed) return false;
  const c1 = Buffer.concat([Buffer.alloc(8), randomBytes(HANDSHAKE - 8)]);
  socket.write(Buffer.concat([Buffer.from([3]), c1]));
  let got = 0;
  let s1: Buffer | undefined;
  return new Promise((resolve) => {
    const onData = (data: Buffer): void => {
      if (!s1 && got + data.length >= 1 + HANDSHAKE)
        s1 = Buffer.concat([Buffer.alloc(got), data]).subarray(1, 1 + HANDSHAKE);
      got += data.length;
      if (got < 1 + 2 * HANDSHAKE) return;
      socket.off("data", onData);
      socket.write(s1!);
      resolve(true);
    };
    socket.on("data", onData);
    socket.once("close", () => resolve(false));
  });
}

function basicHeader(fmt: number, csid: number): Buffer {
  if (csid < 64) return Buffer.from([(fmt << 6) | csid]);
  if (csid < 320) return Buffer.from([fmt << 6, csid - 64]);
  return Buffer.from([(fmt << 6) | 1, (csid - 64) & 0xff, (csid - 64) >> 8]);
}

function type0(csid: number, length: number, type: number, streamId = 0): Buffer {
  const header = Buffer.alloc(11);
  header.writeUIntBE(length, 3, 3);
  header[6] = type;
  header.writeUInt32LE(streamId, 7);
  return Buffer.concat([basicHeader(0, csid), header]);
}

function setChunkSize(size: number): Buffer {
  const body = Buffer.alloc(4);
  body.writeUInt32BE(size);
  return Buffer.concat([type0(2, 4, 1), body]);
}

async function closeAll(): Promise<void> {
  const closing = [...open].map(
    (socket) => new Promise((done) => (socket.destroyed ? done(undefined) : socket.once("close", done))),
  );
  for (const socket of open) socket.destroy();
  await Promise.all(closing);
}

interface Phase {
  name: string;
  attempted: number;
  /** Connections the ingest still held when the attack was in place. */
  held: number;
  before: ReturnType<typeof memory>;
  during: ReturnType<typeof memory>;
  after: ReturnType<typeof memory>;
}
const phases: Phase[] = [];

async function phase(name: string, attempted: number, attack: () => Promise<void>, settleMs = 1_500): Promise<void> {
  await startTarget();
  await gcTarget();
  const before = memory();
  await attack();
  await sleep(settleMs);
  const during = memory();
  const held = [...open].filter((s) => !s.destroyed && !s.readableEnded).length;
  await closeAll();
  await sleep(500);
  await gcTarget();
  const after = memory();
  await stopTarget();
  phases.push({ name, attempted, held, before, during, after });
  console.log(
    `${name}: ${held}/${attempted} held; RSS ${fmt(before.rssMb, 0)} -> ${fmt(during.rssMb, 0)} -> ` +
      `${fmt(after.rssMb, 0)} MB, virtual ${fmt(before.vszMb, 0)} -> ${fmt(during.vszMb, 0)} MB`,
  );
}

await phase(
  `idle (${IDLE})`,
  IDLE,
  async () => {
    await Promise.all(Array.from({ length: IDLE }, () => dial()));
    await sleep(12_000);
  },
  0,
);

await phase(`16 MiB lengths (${LENGTHS})`, LENGTHS, async () => {
  const sockets = await Promise.all(Array.from({ length: LENGTHS }, () => dial()));
  await Promise.all(
    sockets.map(async (socket) => {
      if (await handshake(socket)) socket.write(Buffer.concat([type0(3, 0xffffff, 20), Buffer.alloc(64)]));
    }),
  );
});

await phase(
  `8 MiB in one chunk (${BIG})`,
  BIG,
  async () => {
    const sockets = await Promise.all(Array.from({ length: BIG }, () => dial()));
    const payload = randomBytes(8 * 1024 * 1024);
    await Promise.all(
      sockets.map(async (socket) => {
        if (!(await handshake(socket))) return;
        socket.write(Buffer.concat([setChunkSize(0x7fffffff), type0(3, 0xffffff, 20)]));
        await new Promise((done) => socket.write(payload, done));
      }),
    );
  },
  3_000,
);

await phase(`${STREAMS} chunk streams`, 1, async () => {
  const socket = await dial();
  if (!(await handshake(socket))) return;
  const headers: Buffer[] = [];
  // One full chunk (the default 128 bytes) per stream, so the next header starts a new stream.
  for (let csid = 3; csid < 3 + STREAMS; csid++) headers.push(type0(csid, 65_536, 20), randomBytes(128));
  socket.write(Buffer.concat(headers));
});

const rows: (string | number)[][] = [["attack", "held", "RSS before", "RSS during", "RSS after", "virtual during"]];
for (const p of phases) {
  rows.push([
    p.name,
    `${p.held}/${p.attempted}`,
    fmt(p.before.rssMb, 0),
    fmt(p.during.rssMb, 0),
    fmt(p.after.rssMb, 0),
    fmt(p.during.vszMb, 0),
  ]);
}
console.log(`\n${table(rows)}\n(MB; "held": connections still open when measured)`);
const summary: SummaryRow[] = phases.flatMap((p) => [
  { metric: `${p.name}: connections held`, value: `${p.held}/${p.attempted}` },
  {
    metric: `${p.name}: RSS before/during/after MB`,
    value: `${fmt(p.before.rssMb, 0)}/${fmt(p.during.rssMb, 0)}/${fmt(p.after.rssMb, 0)}`,
  },
]);
writeSummary("ingest-abuse", summary);
process.exit(0);
