// Pairing codes computed without starting the bridge: the X-HM URI equals HAP-NodeJS's own, the
// Matter codes equal the spec's example, and the `pairing` report reads identity.json, the config
// and HAP's AccessoryInfo file (the e2e demo test compares them with what a running bridge logs),
// and each standalone camera's own code from bridges.json (written here by the host's BridgeLayout),
// each Matter camera node's codes from matter-cameras.json, and the web page's one-time setup link
// from web.json.
import { test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Accessory, uuid } from "@homebridge/hap-nodejs";
import { homekitSetupURI, IP_CAMERA_CATEGORY } from "../../src/homekit/setup-uri.ts";
import { BridgeLayout } from "../../src/homekit/storage.ts";
import { CAMERA_PRODUCT_ID, matterPairingCodes } from "../../src/matter/setup-codes.ts";
import { formatPairingReport, pairingReport } from "../../src/cli/pairing.ts";
import { validateConfig } from "../../src/core/config.ts";
import { WebAuth } from "../../src/web/auth.ts";

/** HAP-NodeJS's own computation on an accessory that looks published. */
function hapSetupURI(pincode: string, setupID: string, category: number): string {
  const accessory = new Accessory("Probe", uuid.generate(`probe-${pincode}-${category}`));
  const internals = accessory as unknown as { _accessoryInfo: { pincode: string; category: number }; _setupID: string };
  internals._accessoryInfo = { pincode, category };
  internals._setupID = setupID;
  return accessory.setupURI();
}

test("the HomeKit setup URI matches HAP-NodeJS for bridges and other categories", () => {
  for (const [pincode, setupID, category] of [
    ["031-45-154", "AB12", 2],
    ["202-59-473", "OC2Z", 2],
    ["999-99-998", "ZZZZ", 2],
    ["000-00-001", "0000", 1],
    ["482-91-737", "Q9X1", 3],
  ] as const) {
    assert.equal(
      homekitSetupURI(pincode, setupID, category),
      hapSetupURI(pincode, setupID, category),
      `${pincode} ${category}`,
    );
  }
  assert.throws(() => homekitSetupURI("12345678", "AB12"), /031-45-154/);
});

test("the Matter codes match the spec's example (passcode 20202021, discriminator 3840)", () => {
  const codes = matterPairingCodes({ passcode: 20202021, discriminator: 3840 });
  assert.equal(codes.manualPairingCode, "34970112332");
  assert.match(codes.qrPairingCode, /^MT:[0-9A-Z.-]{19}$/);
  assert.notEqual(matterPairingCodes({ passcode: 20202021, discriminator: 3841 }).qrPairingCode, codes.qrPairingCode);
});

function dataDir(identity: unknown, accessoryInfo?: unknown): string {
  const dir = mkdtempSync(join(tmpdir(), "hb-pairing-"));
  writeFileSync(join(dir, "identity.json"), JSON.stringify(identity));
  if (accessoryInfo) {
    mkdirSync(join(dir, "homekit", "hap"), { recursive: true });
    writeFileSync(join(dir, "homekit", "hap", "AccessoryInfo.0E1234567890.json"), JSON.stringify(accessoryInfo));
  }
  return dir;
}

test("the report combines identity.json, the config's codes and HAP's setup id", () => {
  const dir = dataDir(
    {
      homekit: { pincode: "202-59-473", username: "0E:12:34:56:78:90" },
      matter: { passcode: 71711840, discriminator: 514 },
    },
    { setupID: "OC2Z", pairedClients: { "a-controller": {} } },
  );
  const report = pairingReport(validateConfig({}), dir);
  assert.equal(report.homekit?.pincode, "202-59-473");
  assert.equal(report.homekit?.setupURI, homekitSetupURI("202-59-473", "OC2Z"));
  assert.equal(report.homekit?.pairedControllers, 1);
  assert.deepEqual(
    { manual: report.matter?.manualPairingCode, qr: report.matter?.qrPairingCode },
    {
      manual: matterPairingCodes({ passcode: 71711840, discriminator: 514 }).manualPairingCode,
      qr: matterPairingCodes({ passcode: 71711840, discriminator: 514 }).qrPairingCode,
    },
  );

  // Codes set in the config win over the stored ones, as in the bridge.
  const configured = pairingReport(
    validateConfig({ homekit: { pincode: "031-45-154" }, matter: { passcode: 20202021, discriminator: 3840 } }),
    dir,
  );
  assert.equal(configured.homekit?.setupURI, homekitSetupURI("031-45-154", "OC2Z"));
  assert.equal(configured.matter?.manualPairingCode, "34970112332");
  assert.match(formatPairingReport(configured, false), /setup code 031-45-154[\s\S]*34970112332/);
});

test("before the first start there is no code to show; a disabled ecosystem is left out", () => {
  const dir = dataDir({});
  const report = pairingReport(validateConfig({ matter: { enabled: false } }), dir);
  assert.equal(report.homekit?.pincode, undefined);
  assert.equal(report.homekit?.setupURI, undefined);
  assert.equal(report.matter, undefined);
  const text = formatPairingReport(report, false);
  assert.match(text, /not generated yet/);
  assert.match(text, /Matter: disabled/);
});

/**
 * A data directory as a bridge with two standalone cameras leaves it: one published and paired, one never
 * published.
 */
function cameraDataDir(): string {
  const dir = dataDir(
    { homekit: { pincode: "202-59-473", username: "0E:12:34:56:78:90" } },
    { setupID: "OC2Z", pairedClients: {}, displayName: "Web Bridge" },
  );
  const layout = new BridgeLayout(join(dir, "homekit"));
  layout.setUsername(0, "0E:12:34:56:78:90");
  layout.setCamera("nanit:N301SIM0000001", { username: "1A:2B:3C:4D:5E:6F", pincode: "482-91-737", port: 51926 });
  layout.setCamera("nanit:N301SIM0000002", { username: "2A:2B:3C:4D:5E:6F", pincode: "517-38-264" });
  writeFileSync(
    join(dir, "homekit", "hap", "AccessoryInfo.1A2B3C4D5E6F.json"),
    JSON.stringify({ setupID: "Q9X1", displayName: "Robin Nanit", pairedClients: { "a-controller": {}, another: {} } }),
  );
  return dir;
}

test("standalone cameras: each with its own code, camera-category QR payload, name and pairing count", () => {
  const dir = cameraDataDir();
  const report = pairingReport(validateConfig({}), dir);
  assert.deepEqual(report.cameras, [
    { deviceId: "nanit:N301SIM0000002", pincode: "517-38-264", pairedControllers: 0 },
    {
      deviceId: "nanit:N301SIM0000001",
      name: "Robin Nanit",
      pincode: "482-91-737",
      setupURI: homekitSetupURI("482-91-737", "Q9X1", IP_CAMERA_CATEGORY),
      port: 51926,
      pairedControllers: 2,
    },
  ]);
  assert.notEqual(report.cameras?.[1]?.setupURI, report.homekit?.setupURI, "the camera's QR is not the bridge's");

  const text = formatPairingReport(report, false);
  assert.match(
    text,
    new RegExp(
      /HomeKit camera Robin Nanit \(nanit:N301SIM0000001\): setup code 482-91-737 {2}/.source +
        /\(paired with 2 controllers; add it in the Home app on its own\)\n {2}QR payload X-HM:\/\/\w+Q9X1\n/.source,
    ),
  );
  assert.match(
    text,
    new RegExp(
      /HomeKit camera nanit:N301SIM0000002: setup code 517-38-264 {2}\(not paired yet; [^)]*\)\n {2}/.source +
        /QR code: shown after the bridge has published the camera once/.source,
    ),
  );
  // With drawings: one QR under the bridge's payload and one under the published camera's.
  const drawn = formatPairingReport(report, true);
  const after = (payload: string) =>
    drawn
      .slice(drawn.indexOf(payload) + payload.length)
      .split("\n")
      .slice(1, 4)
      .join("\n");
  assert.match(after(report.cameras![1]!.setupURI!), /[▀▄█]/, "a QR drawing follows the camera's payload");
  assert.match(after(report.homekit!.setupURI!), /[▀▄█]/);
});

test(
  "cameras on the bridge (homekit.cameras: bridged) have no code of their own; " +
    "a damaged bridges.json spares the other codes",
  () => {
    const dir = cameraDataDir();
    const bridged = pairingReport(validateConfig({ homekit: { cameras: "bridged" } }), dir);
    assert.equal(bridged.cameras, undefined);
    assert.doesNotMatch(formatPairingReport(bridged, false), /HomeKit camera/);
    assert.equal(pairingReport(validateConfig({ homekit: { enabled: false } }), dir).cameras, undefined);

    writeFileSync(join(dir, "homekit", "bridges.json"), "{ not json");
    const damaged = pairingReport(validateConfig({}), dir);
    assert.equal(damaged.cameras, undefined);
    assert.match(damaged.camerasProblem ?? "", /bridges\.json is not readable/);
    const text = formatPairingReport(damaged, false);
    assert.match(text, /setup code 202-59-473/);
    assert.match(text, /HomeKit cameras: .*bridges\.json is not readable/);
  },
);

test("the web page's one-time setup link: shown while no password exists, gone once one is chosen or set", async () => {
  const dir = dataDir({ homekit: { pincode: "202-59-473", username: "0E:12:34:56:78:90" } });
  const lan = validateConfig({ web: { port: 8599 } });
  // Before the bridge's first start there is no token, and `pairing` does not make one.
  assert.deepEqual(pairingReport(lan, dir).webSetup, {});
  const before = formatPairingReport(pairingReport(lan, dir), false);
  assert.match(before, /Web page: no password yet; the setup link is made at the bridge's first start/);
  assert.equal(existsSync(join(dir, "web.json")), false, "nothing written");
  // The token the bridge keeps in web.json (as WebServer.start does).
  const auth = new WebAuth({ dataDir: dir, host: "0.0.0.0" });
  const token = auth.setupToken()!;
  const report = pairingReport(lan, dir);
  assert.equal(report.webSetup?.token, token);
  assert.match(report.webSetup?.url ?? "", new RegExp(`^http://[^/]+:8599/setup\\?token=${token}$`));
  const text = formatPairingReport(report, false);
  const link = `http://\\S+/setup\\?token=${token}`;
  assert.match(text, new RegExp(`Web page: no password yet; choose it at ${link} \\(a one-time link\\)`));
  const proxied = pairingReport(validateConfig({ web: { publicOrigin: "https://bridge.example.com" } }), dir);
  assert.equal(proxied.webSetup?.url, `https://bridge.example.com/setup?token=${token}`);
  // Not needed: a configured password, the loopback page, the page turned off.
  assert.equal(pairingReport(validateConfig({ web: { password: "a configured one" } }), dir).webSetup, undefined);
  assert.equal(pairingReport(validateConfig({ web: { host: "127.0.0.1" } }), dir).webSetup, undefined);
  assert.equal(pairingReport(validateConfig({ web: { enabled: false } }), dir).webSetup, undefined);
  await auth.setPassword("chosen on the page", token);
  assert.equal(pairingReport(lan, dir).webSetup, undefined, "the password was chosen: the token is used up");
  assert.doesNotMatch(formatPairingReport(pairingReport(lan, dir), false), /Web page/);
});

test("Matter camera nodes' codes come from matter-cameras.json, with their product id and fabrics", () => {
  const dir = dataDir({ matter: { passcode: 71711840, discriminator: 514 } });
  const cameras = {
    "nanit:N301B": { port: 5551, passcode: 30303041, discriminator: 1201, name: "Robin Nanit" },
    "nanit:N301A": { port: 5550, passcode: 20202031, discriminator: 3001 },
  };
  writeFileSync(join(dir, "matter-cameras.json"), JSON.stringify({ cameras }));
  // matter.js keeps each node's fabrics in its own storage directory.
  mkdirSync(join(dir, "matter-cameras", "camera-nanit_N301B"), { recursive: true });
  writeFileSync(join(dir, "matter-cameras", "camera-nanit_N301B", "fabrics.fabrics"), JSON.stringify([{ x: 1 }]));

  assert.equal(pairingReport(validateConfig({}), dir).matterCameras, undefined, "matter.cameras off: none shown");
  const report = pairingReport(validateConfig({ matter: { cameras: true } }), dir);
  const code = (passcode: number, discriminator: number) =>
    matterPairingCodes({ passcode, discriminator, productId: CAMERA_PRODUCT_ID });
  assert.deepEqual(report.matterCameras, [
    { deviceId: "nanit:N301A", ...code(20202031, 3001), port: 5550, commissioned: false },
    { deviceId: "nanit:N301B", name: "Robin Nanit", ...code(30303041, 1201), port: 5551, commissioned: true },
  ]);
  assert.notEqual(
    code(20202031, 3001).qrPairingCode,
    matterPairingCodes({ passcode: 20202031, discriminator: 3001 }).qrPairingCode,
    "the camera's QR names its own product",
  );
  const text = formatPairingReport(report, false);
  assert.match(
    text,
    new RegExp(
      `Matter camera Robin Nanit \\(nanit:N301B\\): manual pairing code ${code(30303041, 1201).manualPairingCode}`,
    ),
  );
  assert.match(text, /Matter camera nanit:N301A: .*not commissioned yet/);

  writeFileSync(join(dir, "matter-cameras.json"), "{ damaged");
  const damaged = pairingReport(validateConfig({ matter: { cameras: true } }), dir);
  assert.ok(damaged.matterCamerasProblem, "a damaged file is reported");
  assert.match(formatPairingReport(damaged, false), /Matter: manual pairing code/, "the other codes still print");
});
