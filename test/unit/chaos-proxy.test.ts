// The chaos proxy's faults, against a plain TCP echo server on 127.0.0.1: bytes pass unchanged, a
// stall holds them (then flushes in order, or resets), slow answers keep their order, a truncated
// answer is cut and its connection reset, refused and dropped connections end at once.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { once } from "node:events";
import { connect, createServer, type Server, type Socket } from "node:net";
import { ChaosProxy } from "../../sim/chaos-proxy.ts";
import { nextEvent, quietFor, waitFor } from "../helpers/wait.ts";

let echo: Server;
let echoPort: number;
const echoSockets = new Set<Socket>();

before(async () => {
  echo = createServer((s) => {
    echoSockets.add(s.on("close", () => echoSockets.delete(s)));
    s.on("error", () => undefined);
    s.pipe(s);
  });
  await new Promise<void>((resolve) => echo.listen(0, "127.0.0.1", resolve));
  echoPort = (echo.address() as { port: number }).port;
});

after(async () => {
  for (const s of echoSockets) s.destroy();
  await new Promise<void>((resolve) => echo.close(() => resolve()));
});

interface Client {
  socket: Socket;
  received: () => string;
  ended: Promise<string>;
}

async function client(port: number): Promise<Client> {
  const socket = connect(port, "127.0.0.1");
  let text = "";
  socket.setEncoding("utf8");
  socket.on("data", (d: string) => (text += d));
  const ended = new Promise<string>((resolve) => {
    socket.on("error", (e: NodeJS.ErrnoException) => resolve(e.code ?? e.message));
    socket.on("close", () => resolve("closed"));
  });
  await once(socket, "connect");
  return { socket, received: () => text, ended };
}

async function withProxy(fn: (proxy: ChaosProxy) => Promise<void>, random?: () => number): Promise<void> {
  const proxy = new ChaosProxy(echoPort, "127.0.0.1", random ? { random } : {});
  await proxy.start();
  try {
    await fn(proxy);
  } finally {
    await proxy.stop();
  }
}

test("bytes pass unchanged both ways and are reported to listeners", () =>
  withProxy(async (proxy) => {
    const seen: string[] = [];
    proxy.on("data", (direction, chunk) => seen.push(`${direction}:${chunk.toString()}`));
    const c = await client(proxy.port);
    c.socket.write("hello");
    await waitFor(() => c.received() === "hello", 2000);
    assert.deepEqual(seen, ["up:hello", "down:hello"]);
    c.socket.end();
  }));

test("a stall holds bytes until cleared, then delivers them in order", () =>
  withProxy(async (proxy) => {
    const c = await client(proxy.port);
    proxy.stall(true);
    let up = "";
    proxy.on("data", (direction: string, chunk: Buffer) => {
      if (direction === "up") up += chunk.toString();
    });
    c.socket.write("one ");
    c.socket.write("two");
    await waitFor(() => up === "one two", 2000, { on: [[proxy, "data"]] });
    await quietFor(100); // the proxy holds both chunks: nothing may reach the server and come back
    assert.equal(c.received(), "", "nothing passes while stalled");
    proxy.stall(false);
    await waitFor(() => c.received() === "one two", 2000);
    c.socket.end();
  }));

test("a stall cleared with 'drop' resets the held connections", () =>
  withProxy(async (proxy) => {
    const c = await client(proxy.port);
    proxy.stall(true);
    const held = once(proxy, "data");
    c.socket.write("lost");
    await held;
    proxy.stall(false, "drop");
    assert.equal(await c.ended, "ECONNRESET");
    assert.equal(c.received(), "");
  }));

test("slow answers are delayed by the drawn time and keep their order", () =>
  withProxy(
    async (proxy) => {
      const c = await client(proxy.port);
      proxy.slow([150, 300]);
      const started = Date.now();
      // Two chunks in both directions: "b" leaves once the server's echo of "a" reached the proxy.
      const echoed = nextEvent<[string, Buffer]>(
        proxy,
        "data",
        (direction, chunk) => direction === "down" && chunk.toString() === "a",
      );
      c.socket.write("a");
      await echoed;
      c.socket.write("b");
      await waitFor(() => c.received() === "ab", 3000);
      assert.ok(Date.now() - started >= 280, `answers came after ${Date.now() - started} ms`);
      proxy.slow(undefined);
      c.socket.write("c");
      await waitFor(() => c.received() === "abc", 500);
      c.socket.end();
    },
    () => 1, // always the longest delay: the second chunk may not overtake the first
  ));

test("ending slow mode delivers what is still delayed at once", () =>
  withProxy(async (proxy) => {
    const c = await client(proxy.port);
    proxy.slow([10_000, 10_000]);
    const delayed = new Promise<void>((resolve) => proxy.on("data", (direction) => direction === "down" && resolve()));
    c.socket.write("late");
    await delayed;
    proxy.slow(undefined);
    await waitFor(() => c.received() === "late", 500);
    c.socket.end();
  }));

test("a truncated answer is cut in half and its connection reset", () =>
  withProxy(async (proxy) => {
    const c = await client(proxy.port);
    proxy.truncateNext();
    c.socket.write("12345678");
    assert.match(await c.ended, /^(ECONNRESET|closed)$/);
    assert.equal(c.received(), "1234");
    assert.equal(proxy.truncatePending, false);
  }));

test("refused connections are reset; dropAll resets the open ones", () =>
  withProxy(async (proxy) => {
    const open = await client(proxy.port);
    proxy.refuse(true);
    const refused = connect(proxy.port, "127.0.0.1");
    const outcome = await new Promise<string>((resolve) => {
      refused.on("error", (e: NodeJS.ErrnoException) => resolve(e.code ?? e.message));
      refused.on("close", () => resolve("closed"));
    });
    assert.match(outcome, /ECONNRESET|closed/);
    assert.equal(proxy.dropAll(), 1);
    assert.equal(await open.ended, "ECONNRESET");
    proxy.refuse(false);
    const again = await client(proxy.port);
    again.socket.write("back");
    await waitFor(() => again.received() === "back", 2000);
    again.socket.end();
  }));
