// The config loader (parseConfigText = loadConfig without the file read): YAML and JSON texts near the
// schema, with hostile values at random paths, text mutations and YAML's sharp edges (aliases,
// recursion, tags, merge keys). Every input must give a Config or a ConfigError, never another error,
// and no error text may carry an account password.
import fc from "fast-check";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { stringify as toYaml } from "yaml";
import { ConfigError, parseConfigText } from "../../../src/core/config.ts";
import { FuzzFailure, type FuzzTarget } from "../runner.ts";
import { mutatedText, mutatedValue } from "../mutate.ts";

/** Planted in every generated account: it must never show up in an error. */
const SECRET = "Fuzz-Secret-Pw-7x";
const port = fc.oneof(fc.integer({ min: 0, max: 65535 }), fc.constantFrom(-1, 65536, 1.5, "51826"));
const maybe = <T>(arb: fc.Arbitrary<T>) => fc.option(arb, { nil: undefined, freq: 3 });

const homekit = fc.record(
  {
    enabled: fc.boolean(),
    port,
    pincode: fc.constantFrom("031-45-154", "123-45-678", "03145154", "031-45-15"),
    name: fc.oneof(fc.string({ maxLength: 6 }), fc.constant("x".repeat(65))),
    advertiser: fc.constantFrom("ciao", "avahi", "resolved", "none", "bonjour"),
    cameras: fc.constantFrom("standalone", "bridged", "both"),
  },
  { requiredKeys: [] },
);
const matter = fc.record(
  {
    enabled: fc.boolean(),
    port,
    passcode: fc.oneof(fc.integer({ min: -1, max: 100_000_000 }), fc.constantFrom(20202021, 12345678, 11111111)),
    discriminator: fc.integer({ min: -1, max: 5000 }),
    mdnsInterface: fc.constantFrom("lo", "eth0", ""),
    name: fc.oneof(fc.string({ maxLength: 6 }), fc.constant("x".repeat(33))),
  },
  { requiredKeys: [] },
);
// A valid web.password costs a synchronous scrypt (tens of ms); the values here never pass.
const web = fc.record(
  {
    enabled: fc.boolean(),
    port,
    host: fc.constantFrom("127.0.0.1", "0.0.0.0", "::1", ""),
    password: fc.constantFrom("short", "1234567", "${HB_FUZZ_UNSET_VARIABLE}"),
    passwordHash: fc.constantFrom("scrypt$16384$8$1$AAAA$AAAA", "scrypt$1073741824$8$1$AAAA$AAAA", "md5:abc"),
  },
  { requiredKeys: [] },
);
const media = fc.record(
  {
    rtmpHost: fc.constantFrom("192.0.2.1", ""),
    rtmpPort: port,
    bind: fc.constantFrom("0.0.0.0", ""),
    ffmpeg: fc.constantFrom("ffmpeg", ""),
    keepWarm: fc.array(fc.string({ maxLength: 6 }), { maxLength: 2 }),
    transcode: fc.constantFrom("auto", "always", "never"),
  },
  { requiredKeys: [] },
);
const url = fc.constantFrom(
  "http://127.0.0.1:1/api",
  "https://api.example.invalid",
  "ws://127.0.0.1:1/ws",
  "wss://x.invalid/{camera_uid}",
  "ftp://x",
  "http://has space",
  "",
);
const account = fc
  .record(
    {
      vendor: fc.constantFrom("fansync", "xsense", "nanit", "hue"),
      name: maybe(fc.constantFrom("home", "cabin", "")),
      email: fc.constantFrom("someone@example.invalid", "a@", ""),
      password: maybe(fc.constantFrom(SECRET, "${HB_FUZZ_UNSET_VARIABLE}", `${SECRET}\${HOME}`)),
      passwordFile: maybe(fc.constantFrom("pw.txt", "missing.txt", ".", "${HB_FUZZ_UNSET_VARIABLE}")),
      endpoints: maybe(
        fc.record(
          {
            api: url,
            websocket: url,
            cognito: url,
            iotData: url,
            mqtt: url,
            local: fc.constantFrom("10.0.0.5", "wss://10.0.0.5:442"),
          },
          { requiredKeys: [] },
        ),
      ),
    },
    { requiredKeys: ["vendor"] },
  )
  .map((a) => Object.fromEntries(Object.entries(a).filter(([, v]) => v !== undefined)));
// Mostly one section per document: the YAML parser costs ~2 us per character, and a small document
// reaches every check of its section just as well.
const section = fc.oneof(
  homekit.map((homekit) => ({ homekit })),
  matter.map((matter) => ({ matter })),
  web.map((web) => ({ web })),
  media.map((media) => ({ media })),
  fc.array(account, { maxLength: 2 }).map((accounts) => ({ accounts })),
  fc.constantFrom("info", "debug", "verbose").map((level) => ({ log: { level } })),
);
const config = fc.oneof(
  { weight: 4, arbitrary: section },
  { weight: 1, arbitrary: fc.tuple(section, section).map(([a, b]) => ({ ...a, ...b })) },
);

const YAML_EDGES = [
  "a: &x [*x]",
  "homekit: &h {port: 1}\nmatter: *h",
  "<<: {homekit: {port: 1}}",
  "homekit: !!binary aGVsbG8=",
  "homekit: !custom {port: 1}",
  "homekit:\n  port: 1\nhomekit:\n  port: 2",
  "accounts: &a\n  - vendor: fansync\n    email: x@y.z\n    password: p\n    endpoints: *a",
  "x: &a [&b [&c [*a, *b, *c]]]",
  "%YAML 1.1\n---\nhomekit: {enabled: yes}",
  "--- |\n  text",
  "---\n---\n",
  "accounts: [{vendor: nanit, email: ab@c.d}]",
  "? [a, b]\n: c",
  "homekit: {port: 0x1F90}",
  "homekit: {port: .inf}",
  `a: ${"[".repeat(200)}${"]".repeat(200)}`,
];

/** [text, whether its structure is intact]: only then can the loader know where the passwords are. */
const text: fc.Arbitrary<[string, boolean]> = fc.oneof(
  { weight: 4, arbitrary: mutatedValue(config).map((v): [string, boolean] => [toYaml(v), true]) },
  { weight: 2, arbitrary: mutatedValue(config).map((v): [string, boolean] => [JSON.stringify(v), true]) },
  {
    weight: 3,
    arbitrary: mutatedText(
      fc.tuple(config, fc.boolean()).map(([v, yaml]) => (yaml ? toYaml(v) : JSON.stringify(v))),
    ).map((t): [string, boolean] => [t, false]),
  },
  { weight: 1, arbitrary: mutatedText(fc.constantFrom(...YAML_EDGES)).map((t): [string, boolean] => [t, false]) },
  { weight: 1, arbitrary: fc.string({ maxLength: 60 }).map((t): [string, boolean] => [t, false]) },
);

export const configLoader: FuzzTarget = {
  name: "config",
  covers:
    "parseConfigText (YAML/JSON -> zod validation, " +
    "env and passwordFile resolution): must return a Config or throw ConfigError",
  batch: 200,
  async open() {
    const dir = mkdtempSync(join(tmpdir(), "hb-fuzz-config-"));
    writeFileSync(join(dir, "pw.txt"), `${SECRET}\n`, { mode: 0o600 });

    return {
      input: text,
      async run(inputs) {
        let rejected = 0;
        for (const [source, intact] of inputs as [string, boolean][]) {
          let config;
          try {
            config = parseConfigText(source, "fuzz.yaml", dir);
          } catch (error) {
            if (!(error instanceof ConfigError))
              throw new FuzzFailure(
                `${(error as Error)?.name}: ${(error as Error)?.message} for ${JSON.stringify(source).slice(0, 300)}`,
              );
            // A mangled text can turn a password into a key or another value; the YAML errors and
            // every intact document must still never show one.
            if ((intact || error.message.includes("not valid YAML")) && error.message.includes(SECRET))
              throw new FuzzFailure(`the ConfigError shows a password: ${error.message}`);
            rejected++;
            continue;
          }
          for (const p of [config.homekit.port, config.matter.port, config.web.port, config.media.rtmpPort])
            if (!Number.isInteger(p) || p < 0 || p > 65535) throw new FuzzFailure(`port ${p} accepted`);
          const names = config.accounts.map((a) => a.name);
          if (new Set(names).size !== names.length)
            throw new FuzzFailure(`duplicate account names accepted: ${names.join(", ")}`);
        }
        return { rejected };
      },
      async close() {
        rmSync(dir, { recursive: true, force: true });
      },
    };
  },
};
