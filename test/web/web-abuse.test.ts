// What the fuzzing of the web page exposed, pinned down: parallel password guesses cannot get past the
// login limit, a client that hangs up mid-body is not an internal error, and passwords a vendor refused
// are not kept in the log scrubber (anyone able to post the form could grow it without end).
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { connect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pino } from "pino";
import type { AccountConfig } from "../../src/core/config.ts";
import { createLogger, isSecret } from "../../src/core/logger.ts";
import { hashPasswordSync } from "../../src/core/password.ts";
import { DeviceRegistry } from "../../src/core/registry.ts";
import { PasswordWebLogin } from "../../src/web/account-login.ts";
import { WebServer } from "../../src/web/server.ts";
import { LogCapture } from "../helpers/log-capture.ts";

async function server(t: { after(fn: () => unknown): void }, passwordHash?: string) {
  const dir = mkdtempSync(join(tmpdir(), "hb-web-abuse-"));
  const logs = new LogCapture();
  const log = createLogger("debug", { json: true, destination: logs });
  const web = new WebServer({
    sources: { registry: new DeviceRegistry(log), accounts: [], startedAt: Date.now() },
    log,
    dataDir: dir,
    config: { host: "127.0.0.1", port: 0, ...(passwordHash ? { passwordHash } : {}) },
  });
  const port = await web.start();
  t.after(async () => {
    await web.stop();
    rmSync(dir, { recursive: true, force: true });
  });
  return { port, logs };
}

test("parallel wrong passwords: no more than the limit of 5 are checked, the rest wait (429)", async (t) => {
  const { port, logs } = await server(t, hashPasswordSync("the right page password"));
  const attempts = Array.from({ length: 12 }, (_, i) =>
    fetch(`http://127.0.0.1:${port}/login`, {
      method: "POST",
      redirect: "manual",
      headers: { "content-type": "application/x-www-form-urlencoded" },
      body: `password=guess-${i}`,
    }).then((r) => r.status),
  );
  const statuses = await Promise.all(attempts);
  assert.equal(statuses.filter((s) => s === 401).length, 5, statuses.join(","));
  assert.equal(statuses.filter((s) => s === 429).length, 7, statuses.join(","));
  assert.equal(logs.lines.filter((l) => l.msg === "web page: wrong password").length, 5);
});

test(
  "a client that hangs up in the middle of a form body is answered 400, " + "not logged as an internal error",
  async (t) => {
    const { port, logs } = await server(t);
    const closed = new Promise<string>((resolve) => {
      const socket = connect(port, "127.0.0.1", () => {
        // 40 bytes announced, 9 sent, then the client is gone.
        socket.end(
          "POST /login HTTP/1.1\r\nHost: x\r\nContent-Type: " +
            "application/x-www-form-urlencoded\r\nContent-Length: 40\r\n\r\npassword=",
        );
      });
      let text = "";
      socket.on("data", (c: Buffer) => (text += c.toString("latin1")));
      socket.on("close", () => resolve(text));
    });
    const answer = await closed;
    assert.doesNotMatch(answer, /^HTTP\/1\.1 5/);
    assert.equal(
      logs.lines.filter((l) => l.msg === "web request failed").length,
      0,
      JSON.stringify(logs.lines.filter((l) => l.level >= 40)),
    );
  },
);

test("a password the vendor refused is forgotten by the log scrubber; an accepted one is kept", async () => {
  const fansync = {
    vendor: "fansync",
    name: "home",
    email: "fan@example.invalid",
    password: "current one",
  } as AccountConfig;
  const login = new PasswordWebLogin({
    accounts: [fansync],
    log: pino({ level: "silent" }),
    changed: () => undefined,
    verify: async (account) =>
      account.password === "accepted-password-7"
        ? { ok: true, refused: false, message: "accepted" }
        : { ok: false, refused: true, message: "refused" },
  });
  for (let i = 0; i < 3; i++) {
    await login.submit("home", `made-up-password-${i}`);
    assert.equal(login.views()[0]!.step, "failed");
    assert.equal(isSecret(`made-up-password-${i}`), false);
  }
  await login.submit("home", "accepted-password-7");
  assert.equal(login.views()[0]!.step, "done");
  assert.equal(isSecret("accepted-password-7"), true);
});
