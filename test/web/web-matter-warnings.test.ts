// Alexa's Matter limits on the web page (issue 17): a bridge whose Matter port is not 5540 says so in
// /api/status and on the page, next to the Matter pairing code; on 5540 nothing is shown. Against a real
// WebServer with a real (not started) MatterHost, so the words are the host's own.
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pino } from "pino";
import { DeviceRegistry } from "../../src/core/registry.ts";
import { MatterHost } from "../../src/matter/index.ts";
import type { PairingView } from "../../src/web/status.ts";
import { WebServer } from "../../src/web/server.ts";

async function pageFor(matterPort: number): Promise<{ status: { pairing: PairingView }; html: string }> {
  const dir = mkdtempSync(join(tmpdir(), "hb-web-alexa-"));
  const log = pino({ level: "silent" });
  const registry = new DeviceRegistry(log);
  const matter = new MatterHost({
    registry,
    log,
    dataDir: join(dir, "data"),
    name: "Test",
    port: matterPort,
    passcode: 20202021,
    discriminator: 3840,
  });
  const sources = { registry, accounts: [], matter, startedAt: Date.now() };
  const web = new WebServer({ sources, log, dataDir: dir, config: { host: "127.0.0.1", port: 0 } });
  const port = await web.start();
  try {
    const status = (await (await fetch(`http://127.0.0.1:${port}/api/status`)).json()) as { pairing: PairingView };
    const html = await (await fetch(`http://127.0.0.1:${port}/`)).text();
    return { status, html };
  } finally {
    await web.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

test("a Matter port other than 5540: the status JSON and the page carry Alexa's port warning", async () => {
  const { status, html } = await pageFor(5541);
  const warnings = status.pairing.matter!.warnings;
  assert.deepEqual(
    warnings.map((w) => w.key),
    ["alexa-port"],
  );
  assert.match(warnings[0]!.message, /UDP port 5541; Alexa only finds Matter bridges on port 5540/);
  const list = /<ul class="warnings" id="matter-warnings"( hidden)?>(.*?)<\/ul>/s.exec(html);
  assert.ok(list, "the Matter card has its warnings list");
  assert.equal(list[1], undefined, "the list is shown");
  assert.match(list[2]!, /<li>the Matter bridge listens on UDP port 5541; Alexa only finds/);
});

test("on port 5540 there is no warning and the page's list is empty and hidden", async () => {
  const { status, html } = await pageFor(5540);
  assert.deepEqual(status.pairing.matter!.warnings, []);
  assert.match(html, /<ul class="warnings" id="matter-warnings" hidden><\/ul>/);
});
