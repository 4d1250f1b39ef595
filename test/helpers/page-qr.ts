// The web page tests' browser: Debian's headless Chromium through playwright-core, and a QR code on
// the page decoded from pixels as a phone would (the SVG drawn on a canvas, read back, jsqr).
import { existsSync, mkdtempSync } from "node:fs";
import { join } from "node:path";
import { chromium, type BrowserContext, type Page } from "playwright-core";
import jsQRModule from "jsqr";

export const CHROMIUM = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";
// jsqr is CommonJS with an `exports.default`: under NodeNext the default import is the module object.
const jsQR = (jsQRModule as unknown as { default: typeof jsQRModule.default }).default;

/** Whether the browser is there; in CI its absence is a failure, elsewhere the caller skips. */
export function chromiumAvailable(): boolean {
  if (existsSync(CHROMIUM)) return true;
  if (process.env.CI) throw new Error(`${CHROMIUM} is missing (.ci/run installs Debian's chromium)`);
  return false;
}

export async function launchChromium(
  dir: string,
  extraArgs: string[] = [],
): Promise<{ context: BrowserContext; page: Page; errors: string[] }> {
  const context = await chromium.launchPersistentContext(mkdtempSync(join(dir, "chromium-")), {
    executablePath: CHROMIUM,
    headless: true,
    args: [
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
      ...extraArgs,
    ],
    viewport: { width: 1100, height: 1000 },
  });
  const page = context.pages()[0] ?? (await context.newPage());
  const errors: string[] = [];
  page.on("pageerror", (e) => errors.push(e.message));
  // Script errors and CSP refusals; "Failed to load resource" is the expected 401 of a wrong password.
  page.on(
    "console",
    (m) => m.type() === "error" && !m.text().startsWith("Failed to load resource") && errors.push(m.text()),
  );
  return { context, page, errors };
}

/** The text of the QR code drawn by the first `<svg>` under `selector`, read from pixels. */
export async function decodeQr(page: Page, selector: string, size = 240): Promise<string | undefined> {
  // A string, not a function: the project's types have no DOM.
  const rgba = (await page.evaluate(`(async () => {
    const svg = document.querySelector(${JSON.stringify(`${selector} svg`)});
    if (!svg) return "";
    const img = new Image();
    img.src = "data:image/svg+xml;base64," + btoa(new XMLSerializer().serializeToString(svg));
    await img.decode();
    const canvas = document.createElement("canvas");
    canvas.width = canvas.height = ${size};
    const ctx = canvas.getContext("2d");
    ctx.fillStyle = "#fff";
    ctx.fillRect(0, 0, ${size}, ${size});
    ctx.drawImage(img, 0, 0, ${size}, ${size});
    const data = ctx.getImageData(0, 0, ${size}, ${size}).data;
    let binary = "";
    for (let i = 0; i < data.length; i += 8192) binary += String.fromCharCode(...data.subarray(i, i + 8192));
    return btoa(binary);
  })()`)) as string;
  if (!rgba) return undefined;
  return jsQR(new Uint8ClampedArray(Buffer.from(rgba, "base64")), size, size, { inversionAttempts: "dontInvert" })
    ?.data;
}
