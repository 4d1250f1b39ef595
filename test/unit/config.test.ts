import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  ConfigError,
  didYouMean,
  isValidMatterPasscode,
  loadConfig,
  parseConfigText,
  validateConfig,
} from "../../src/core/config.ts";

function problemsOf(raw: unknown): string[] {
  try {
    validateConfig(raw);
  } catch (error) {
    assert.ok(error instanceof ConfigError);
    return error.problems;
  }
  assert.fail("expected a ConfigError");
}

test("an empty config gets every default", () => {
  const config = validateConfig({});
  assert.equal(config.homekit.enabled, true);
  assert.equal(config.homekit.port, 51826);
  assert.equal(config.homekit.advertiser, "ciao");
  assert.equal(config.matter.port, 5540);
  assert.equal(config.log.level, "info");
  assert.deepEqual(config.accounts, []);
});

test("every problem is reported on its own line naming the key and the value", () => {
  const problems = problemsOf({
    homekit: { port: 70000, pincode: "123-45-678" },
    matter: { passcode: 11111111, discriminator: 5000 },
  });
  assert.equal(problems.length, 4);
  assert.match(problems.find((p) => p.startsWith("homekit.port"))!, /70000/);
  assert.match(problems.find((p) => p.startsWith("homekit.pincode"))!, /123-45-678/);
  assert.match(problems.find((p) => p.startsWith("matter.passcode"))!, /11111111/);
  assert.match(problems.find((p) => p.startsWith("matter.discriminator"))!, /5000/);
});

test("unknown keys are errors with a did-you-mean hint", () => {
  const problems = problemsOf({ homekit: { prot: 1 }, acounts: [], matter: { zzzzzz: 1 } });
  assert.ok(problems.includes('homekit.prot: unknown key (did you mean "port"?)'), problems.join("\n"));
  assert.ok(problems.includes('acounts: unknown key (did you mean "accounts"?)'), problems.join("\n"));
  assert.ok(problems.includes("matter.zzzzzz: unknown key"), problems.join("\n"));
  assert.equal(didYouMean("websockte", ["api", "websocket"]), "websocket");
});

test("vendor endpoint keys are checked per vendor", () => {
  const problems = problemsOf({
    accounts: [
      { vendor: "fansync", email: "a@b.invalid", password: "pw", endpoints: { api: "ftp://x", mqtt: "ws://x" } },
    ],
  });
  assert.ok(
    problems.some((p) => p.startsWith("accounts[0].endpoints.api: must be an http")),
    problems.join("\n"),
  );
  assert.ok(
    problems.some((p) => p.startsWith("accounts[0].endpoints.mqtt: unknown key")),
    problems.join("\n"),
  );
});

test("passwords come from the config, a file or the environment, and are never echoed in errors", () => {
  const dir = mkdtempSync(join(tmpdir(), "hb-config-"));
  writeFileSync(join(dir, "pw"), "from-file\n");
  process.env.HB_TEST_PASSWORD = "from-env";
  const config = validateConfig(
    {
      accounts: [
        { vendor: "fansync", name: "a", email: "a@b.invalid", password: "plain" },
        { vendor: "fansync", name: "b", email: "b@b.invalid", passwordFile: "pw" },
        { vendor: "fansync", name: "c", email: "c@b.invalid", password: "${HB_TEST_PASSWORD}" },
      ],
    },
    "config",
    dir,
  );
  assert.deepEqual(
    config.accounts.map((a) => a.password),
    ["plain", "from-file", "from-env"],
  );
  const problems = problemsOf({
    accounts: [
      { vendor: "fansync", email: "a@b.invalid", password: "${HB_UNSET_VARIABLE}" },
      { vendor: "fansync", email: "x", password: 5 },
    ],
  });
  assert.ok(problems.some((p) => p.includes("HB_UNSET_VARIABLE is not set")));
  assert.ok(
    problems.every((p) => !p.includes("5)")),
    "a wrong-typed password is not shown",
  );
});

test("a missing password is an error except for nanit", () => {
  assert.ok(
    problemsOf({ accounts: [{ vendor: "fansync", email: "a@b.invalid" }] }).some((p) =>
      p.includes("a password is required"),
    ),
  );
  assert.equal(
    validateConfig({ accounts: [{ vendor: "nanit", email: "a@b.invalid" }] }).accounts[0]?.password,
    undefined,
  );
});

test("account names must be unique", () => {
  const problems = problemsOf({
    accounts: [
      { vendor: "fansync", name: "home", email: "a@b.invalid", password: "x" },
      { vendor: "fansync", name: "home", email: "b@b.invalid", password: "y" },
    ],
  });
  assert.match(problems[0]!, /accounts\[1\]\.name/);
});

test("YAML and JSON files load; broken files are one clear problem", () => {
  const dir = mkdtempSync(join(tmpdir(), "hb-config-"));
  writeFileSync(join(dir, "a.yaml"), "homekit:\n  port: 51900\n  advertiser: none\n");
  writeFileSync(join(dir, "b.json"), JSON.stringify({ matter: { port: 5600 } }));
  writeFileSync(join(dir, "c.yaml"), "homekit: [unclosed\n");
  assert.equal(loadConfig(join(dir, "a.yaml")).config.homekit.port, 51900);
  assert.equal(loadConfig(join(dir, "b.json")).config.matter.port, 5600);
  assert.equal(loadConfig(join(dir, "missing.yaml")).found, false);
  assert.throws(
    () => loadConfig(join(dir, "c.yaml")),
    (e: ConfigError) => e.problems.length === 1 && /not valid YAML/.test(e.problems[0]!),
  );
});

test("forbidden Matter passcodes are refused", () => {
  for (const code of [0, 11111111, 12345678, 87654321, 99999999, 100000000])
    assert.equal(isValidMatterPasscode(code), false, String(code));
  assert.equal(isValidMatterPasscode(20202021), true);
});

test("a password written into a URL is hidden in problem lines", () => {
  const problems = problemsOf({
    accounts: [
      {
        vendor: "fansync",
        email: "a@b.invalid",
        password: "x",
        endpoints: { api: "ftp://me:url-secret-42@example.invalid/api" },
      },
    ],
  });
  assert.ok(
    problems.some((p) => p.includes("ftp://me:(hidden)@example.invalid/api")),
    problems.join("\n"),
  );
  assert.ok(problems.every((p) => !p.includes("url-secret-42")));
});

// Found by fuzzing (test/fuzz/config.test.ts): each of these threw a TypeError or printed a password.
test("hostile documents give problem lines, never another error, and never show a password", () => {
  const problemsOfText = (text: string): string[] => {
    try {
      parseConfigText(text);
    } catch (error) {
      assert.ok(error instanceof ConfigError, String(error));
      return error.problems;
    }
    assert.fail("expected a ConfigError");
  };
  // A YAML alias that makes the document cyclic.
  assert.match(
    problemsOfText("accounts: &a\n  - vendor: fansync\n    email: x@y.z\n    password: p\n    endpoints: *a").join(
      "\n",
    ),
    /accounts\[0\]\.endpoints/,
  );
  // A mapping with a `length` whose value cannot become a number, where zod checks a string's length.
  assert.match(problemsOf({ media: { bind: { length: { toString: 1 } } } }).join("\n"), /^media\.bind: /m);
  // A syntax error quoting the line the password is on.
  const yaml = problemsOfText('>{"accounts":[{"vendor":"fansync","password":"pw-in-a-bad-line"}]}');
  assert.deepEqual(yaml, ["not valid YAML/JSON: Block scalar header includes extra characters at line 1, column 2"]);
  // A mangled line read as one long key.
  const key = problemsOfText('-{"accounts":[{"password":"pw-in-a-key-1"}]}: 1').join("\n");
  assert.match(key, /key that is not a name\): unknown key/);
  assert.doesNotMatch(key, /pw-in-a-key-1/);
  // A password nested in a value shown whole.
  const nested = problemsOf({ accounts: [{ vendor: "hue", email: "a@b.invalid", password: "pw-nested-9" }] }).join(
    "\n",
  );
  assert.doesNotMatch(nested, /pw-nested-9/);
});

test("alarmLinkGraceS is an X-Sense key with bounds", () => {
  const xsense = { vendor: "xsense", email: "a@b.invalid", password: "pw" };
  assert.equal(validateConfig({ accounts: [{ ...xsense, alarmLinkGraceS: 30 }] }).accounts[0]?.vendor, "xsense");
  assert.ok(
    problemsOf({ accounts: [{ ...xsense, alarmLinkGraceS: 2 }] }).some((p) =>
      p.startsWith("accounts[0].alarmLinkGraceS"),
    ),
  );
  const fansync = problemsOf({
    accounts: [{ vendor: "fansync", email: "a@b.invalid", password: "pw", alarmLinkGraceS: 30 }],
  });
  assert.ok(
    fansync.some((p) => p.startsWith("accounts[0].alarmLinkGraceS: unknown key")),
    fansync.join("\n"),
  );
});

test("the account schema comes from the vendor modules, with the same messages as before", () => {
  // The accepted vendors are the list in src/drivers/index.ts, in its order.
  assert.deepEqual(problemsOf({ accounts: [{ vendor: "hue", email: "a@b.invalid", password: "pw" }] }), [
    'accounts[0].vendor: must be one of fansync, xsense, nanit (got "hue")',
  ]);
  assert.deepEqual(problemsOf({ accounts: [{ email: "a@b.invalid", password: "pw" }] }), [
    "accounts[0].vendor: must be one of fansync, xsense, nanit (got nothing)",
  ]);
  // Each vendor's own keys, with hints from that vendor's keys (nested ones too).
  assert.deepEqual(problemsOf({ accounts: [{ vendor: "nanit", email: "a@b.invalid", endpoints: { locl: "x" } }] }), [
    'accounts[0].endpoints.locl: unknown key (did you mean "local"?)',
  ]);
  assert.deepEqual(
    problemsOf({ accounts: [{ vendor: "xsense", email: "a@b.invalid", password: "pw", alarmLinkGrace: 3 }] }),
    ['accounts[0].alarmLinkGrace: unknown key (did you mean "alarmLinkGraceS"?)'],
  );
  // A vendor that keeps a session may go without a password; the others may not.
  assert.deepEqual(problemsOf({ accounts: [{ vendor: "xsense", email: "a@b.invalid" }] }), [
    'accounts[0]: a password is required (password, passwordFile or "${ENV_VAR}")',
  ]);
  assert.equal(
    validateConfig({ accounts: [{ vendor: "nanit", email: "a@b.invalid" }] }).accounts[0]?.name,
    "nanit:a@b.invalid",
  );
});

test("nanit cameras[].hide takes only known items, named in the problem line", () => {
  const account = { vendor: "nanit", email: "a@b.invalid", cameras: { Robin: { hide: ["volume", "soundmachine"] } } };
  const [problem, ...rest] = problemsOf({ accounts: [account] });
  assert.equal(rest.length, 0);
  assert.match(problem!, /^accounts\[0\]\.cameras\.Robin\.hide\[1\]: .*"soundMachine".* \(got "soundmachine"\)$/);
  const ok = validateConfig({ accounts: [{ ...account, cameras: { Robin: { hide: ["volume", "micMute"] } } }] });
  assert.deepEqual((ok.accounts[0] as { cameras?: unknown }).cameras, { Robin: { hide: ["volume", "micMute"] } });
});

test("nanit cameras[].nightLightTimer is whole minutes from 1 to 1440", () => {
  const account = (nightLightTimer: unknown) => ({
    vendor: "nanit",
    email: "a@b.invalid",
    cameras: { Robin: { nightLightTimer } },
  });
  for (const bad of [0, 1441, 2.5, "30"])
    assert.match(
      problemsOf({ accounts: [account(bad)] })[0] ?? "",
      /^accounts\[0\]\.cameras\.Robin\.nightLightTimer: /,
      String(bad),
    );
  const ok = validateConfig({ accounts: [account(30)] });
  assert.deepEqual((ok.accounts[0] as { cameras?: unknown }).cameras, { Robin: { nightLightTimer: 30 } });
});

test("nanit recordOn takes sound and cry only, named in the problem line", () => {
  const account = { vendor: "nanit", email: "a@b.invalid", cry: true };
  const [problem, ...rest] = problemsOf({ accounts: [{ ...account, recordOn: ["sound", "motion"] }] });
  assert.equal(rest.length, 0);
  assert.match(problem!, /^accounts\[0\]\.recordOn\[1\]: .*"sound".*"cry".* \(got "motion"\)$/);
  assert.match(problemsOf({ accounts: [{ ...account, recordOn: "sound" }] })[0]!, /^accounts\[0\]\.recordOn: /);
  const ok = validateConfig({ accounts: [{ ...account, recordOn: ["sound", "cry"] }] });
  assert.deepEqual((ok.accounts[0] as { recordOn?: unknown }).recordOn, ["sound", "cry"]);
});

test("devices is a FanSync key: per-device overrides with bounds and readable problems", () => {
  const fansync = { vendor: "fansync", email: "a@b.invalid", password: "pw" };
  const devices = { Porch: { light: false, direction: false, speedSteps: [20, 50, 100] } };
  const accepted = validateConfig({ accounts: [{ ...fansync, devices }] }).accounts[0] as { devices?: unknown };
  assert.deepEqual(accepted.devices, devices);
  const problems = problemsOf({
    accounts: [{ ...fansync, devices: { Porch: { speedSteps: [0, 150], lihgt: false }, Den: { light: "no" } } }],
  });
  for (const expected of [
    "accounts[0].devices.Porch.speedSteps[0]",
    "accounts[0].devices.Porch.speedSteps[1]",
    "accounts[0].devices.Porch.lihgt: unknown key",
    "accounts[0].devices.Den.light",
  ])
    assert.ok(
      problems.some((p) => p.startsWith(expected)),
      `${expected} in:\n${problems.join("\n")}`,
    );
  const xsense = problemsOf({ accounts: [{ vendor: "xsense", email: "a@b.invalid", password: "pw", devices }] });
  assert.ok(
    xsense.some((p) => p.startsWith("accounts[0].devices: unknown key")),
    xsense.join("\n"),
  );
});
