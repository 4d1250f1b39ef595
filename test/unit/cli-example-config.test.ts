// The commented example config written on first start: it loads with the project's own loader
// (as written: the defaults, no accounts), every setting line uncommented is a valid config that
// covers every key the schema gives a default to, and it is written 0600 and never over a file.
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PassThrough } from "node:stream";
import { parse } from "yaml";
import { loadConfig, validateConfig } from "../../src/core/config.ts";
import { exampleConfig, uncommentExample, writeExampleConfig } from "../../src/cli/example-config.ts";
import { hasWebSection, webUrl, writeFirstRunConfig } from "../../src/cli/first-run.ts";
import { createLogger } from "../../src/core/logger.ts";

const defaults = validateConfig({});
const web = hasWebSection(defaults);

test("the example as written loads with loadConfig and gives the defaults with no accounts", () => {
  const dir = mkdtempSync(join(tmpdir(), "hb-example-"));
  const file = join(dir, "config.yaml");
  assert.equal(writeExampleConfig(file, { web }), true);
  const { config, found } = loadConfig(file);
  assert.equal(found, true);
  assert.deepEqual(config, defaults);
  assert.deepEqual(config.accounts, []);
});

test("every setting line uncommented is a valid config with one account per vendor", () => {
  const env = { FANSYNC_PASSWORD: "fan-secret", XSENSE_PASSWORD: "xs-secret", WEB_PASSWORD: "web-secret-1" };
  Object.assign(process.env, env);
  try {
    const text = uncommentExample(exampleConfig({ web }));
    const config = validateConfig(parse(text));
    assert.deepEqual(
      config.accounts.map((a) => a.vendor),
      ["fansync", "xsense", "nanit"],
    );
    assert.equal(config.accounts[0]!.password, "fan-secret", "${ENV} passwords are expanded");
    assert.equal(config.homekit.pincode, "031-45-154");
    assert.equal(config.matter.discriminator, 3840);
  } finally {
    for (const key of Object.keys(env)) delete process.env[key];
  }
});

test("the example documents every key the schema has a default for", () => {
  const raw = parse(uncommentExample(exampleConfig({ web }))) as Record<string, Record<string, unknown>>;
  for (const [section, value] of Object.entries(defaults)) {
    if (section === "accounts") continue;
    assert.ok(raw[section], `section ${section} is in the example`);
    for (const key of Object.keys(value as object))
      assert.ok(key in raw[section]!, `${section}.${key} is in the example`);
  }
});

test("written 0600, never over an existing file", () => {
  const dir = mkdtempSync(join(tmpdir(), "hb-example-"));
  const file = join(dir, "sub", "config.yaml");
  assert.equal(writeExampleConfig(file), true);
  assert.equal(statSync(file).mode & 0o777, 0o600);
  writeFileSync(file, "accounts: []\n");
  assert.equal(writeExampleConfig(file), false);
  assert.equal(readFileSync(file, "utf8"), "accounts: []\n");
});

test("first run writes the example and logs where; a web section gives the page's URL", () => {
  const dir = mkdtempSync(join(tmpdir(), "hb-example-"));
  const file = join(dir, "config.yaml");
  const lines: string[] = [];
  const log = createLogger("info", {
    json: true,
    destination: new PassThrough(),
    tap: { write: (l: string) => void lines.push(l) },
  });
  writeFirstRunConfig(file, defaults, log);
  const logged = lines.map((l) => JSON.parse(l) as { event?: string; path?: string });
  assert.ok(
    logged.some((l) => l.event === "example-config" && l.path === file),
    lines.join(""),
  );
  assert.equal(statSync(file).mode & 0o777, 0o600);
  assert.ok(readFileSync(file, "utf8").startsWith("# Hearthbridge configuration"));
  if (web) {
    assert.equal(webUrl(defaults, "192.0.2.7"), "http://192.0.2.7:8581/");
    assert.equal(
      webUrl(
        {
          ...defaults,
          web: { ...(defaults as unknown as { web: object }).web, host: "127.0.0.1", port: 9000 },
        } as never,
        "192.0.2.7",
      ),
      "http://127.0.0.1:9000/",
    );
  } else assert.equal(webUrl(defaults, "192.0.2.7"), undefined);
});
