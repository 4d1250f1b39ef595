// Server-rendered HTML. Every dynamic value goes through esc(); the browser script (static/app.js)
// only updates text in place from the event stream, so the page also reads fine without it.
// A backslash at the end of a line inside a template continues the line: no newline reaches the HTML.
import type { LogEntry } from "./log-ring.ts";
import type { AccountView, CameraView, DeviceView, MatterCameraView, PairingView } from "./status.ts";
import { vendorOf } from "../drivers/index.ts";
import { MAX_ACCOUNT_NAME } from "../core/page-accounts.ts";

export function esc(value: unknown): string {
  return String(value).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

const qrCache = new Map<string, string>();

/** An SVG QR code of `text` (the X-HM:// or MT: payload), rendered here so the browser needs no library. */
export async function qrSvg(text: string): Promise<string> {
  let svg = qrCache.get(text);
  if (!svg) {
    // Loaded at the first code shown: a paired bridge's page shows none.
    const { default: QRCode } = await import("qrcode");
    svg = await QRCode.toString(text, {
      type: "svg",
      margin: 2,
      errorCorrectionLevel: "M",
      color: { dark: "#000000", light: "#ffffff" },
    });
    // The bridge's and Matter's codes plus one per standalone camera; a bound, not a working set.
    if (qrCache.size > 64) qrCache.clear();
    qrCache.set(text, svg);
  }
  return svg;
}

const plural = (n: number, word: string) => `${n} ${word}${n === 1 ? "" : "s"}`;

/** The pairing status in words (also sent over the event stream). */
export function pairingText(view: PairingView): { homekit?: string; matter?: string; matterWarnings?: string[] } {
  const out: { homekit?: string; matter?: string; matterWarnings?: string[] } = {};
  if (view.homekit) {
    const h = view.homekit;
    out.homekit = !h.running
      ? "starting"
      : h.bridges
          .map((b) => {
            const paired = b.pairedControllers ? `paired (${plural(b.pairedControllers, "controller")})` : "not paired";
            return `${b.name}: ${paired}, ${plural(b.accessories, "accessory").replace("accessorys", "accessories")}`;
          })
          .join("; ");
  }
  if (view.matter) {
    const m = view.matter;
    out.matter = !m.running
      ? "starting"
      : m.commissioned
        ? `commissioned (${plural(m.fabrics, "fabric")})`
        : "not commissioned";
    out.matterWarnings = m.warnings.map((w) => w.message);
  }
  return out;
}

/** A log-in with a code (mfa-login.ts). */
export interface MfaLoginView {
  account: string;
  vendor: string;
  email: string;
  step: "idle" | "working" | "code" | "done" | "failed";
  message?: string;
}

/** A password form of a password-only vendor (account-login.ts). */
export interface PasswordLoginView {
  account: string;
  vendor: string;
  email: string;
  step: "idle" | "working" | "done" | "failed";
  message?: string;
}

export interface PageData {
  title: string;
  pairing: PairingView;
  /** Standalone cameras, each paired in Apple Home with its own code. */
  cameras?: CameraView[];
  /** Cameras as Matter nodes of their own (matter.cameras), each with its own code. */
  matterCameras?: MatterCameraView[];
  accounts: AccountView[];
  devices: DeviceView[];
  logs: LogEntry[];
  /** The bridge's log level now (the page can change it). */
  logLevel?: string;
  /** Log-ins with a code (absent: none). */
  mfa?: MfaLoginView[];
  /** Password forms (absent: none). */
  logins?: PasswordLoginView[];
  /** Show the log-out button (a password is in use). */
  canLogOut: boolean;
  /** Adding and removing accounts (absent: the page cannot). */
  admin?: AdminView | undefined;
}

export interface AdminView {
  vendors: { id: string; displayName: string; login: string }[];
  notice?: { step: string; message: string } | undefined;
  /** Accounts added on the page (they get a remove button). */
  pageAccounts: ReadonlySet<string>;
}

const time = (ms: number) => new Date(ms).toISOString().slice(11, 19);

export function logLine(l: LogEntry): string {
  const account = l.account === undefined ? "" : ` data-account="${esc(l.account)}"`;
  const device = l.device === undefined ? "" : ` data-device="${esc(l.device)}"`;
  return `<li class="lvl-${esc(l.level)}"${account}${device}><time>${time(l.time)}</time> \
<b>${esc(l.level)}</b> ${esc(l.text)}</li>`;
}

/** Above the log: the bridge's level (changed at once), filters by account and device, the download. */
function logTools(d: PageData): string {
  const levels = ["fatal", "error", "warn", "info", "debug", "trace"]
    .map((l) => `<option value="${l}"${l === d.logLevel ? " selected" : ""}>${l}</option>`)
    .join("");
  const accounts = d.accounts.map((a) => `<option value="${esc(a.name)}">${esc(a.name)}</option>`).join("");
  const devices = d.devices.map((v) => `<option value="${esc(v.id)}">${esc(v.name)}</option>`).join("");
  return `<div class="log-tools">
<label>Bridge log level <select id="log-level">${levels}</select></label>
<label>Account <select id="log-account"><option value="">all</option>${accounts}</select></label>
<label>Device <select id="log-device"><option value="">all</option>${devices}</select></label>
<a class="button" id="log-download" href="/api/logs/download" download>Download log</a>
<p id="log-msg" class="cmd-msg" role="status" aria-live="polite"></p></div>`;
}

/** The CSS class of a camera's stream line (app.js computes the same). */
export function streamClass(stream: NonNullable<DeviceView["stream"]>): string {
  return `stream ${stream.pushing ? "stream-on" : stream.error ? "stream-error" : "stream-idle"}`;
}

/** A device's card; static/app.js builds the same card (and its controls) from the event stream. */
/** A camera's tile: its latest picture (app.js loads it while the page is visible) and, once the bridge
 * serves one, the link to its live view (`/live/<id>`; app.js shows it when that answers). */
export function cameraTile(d: Pick<DeviceView, "id" | "name">): string {
  return `<figure class="tile">\
<img class="snapshot" alt="Latest picture from ${esc(d.name)}" width="640" height="360" hidden>
<figcaption class="snapshot-msg">Picture: loading…</figcaption>\
<a class="button live-link" href="/live/${esc(encodeURIComponent(d.id))}" hidden>Live view</a></figure>`;
}

function deviceCard(d: DeviceView): string {
  const stream = d.stream ? `<div class="${streamClass(d.stream)}">${esc(d.stream.text)}</div>` : "";
  const tile = d.stream ? cameraTile(d) : "";
  const why = d.unreachable ? `<p class="why">${esc(d.unreachable.text)}</p>` : `<p class="why" hidden></p>`;
  const room = d.room === undefined ? "" : ` data-room="${esc(d.room)}"`;
  return `<article class="device ${d.available ? "up" : "down"}" \
data-device="${esc(d.id)}" data-account="${esc(d.account)}"${room}>
<h3 class="name">${esc(d.name)}</h3><p class="meta"><span class="model">${esc(d.model)}</span> · \
<span class="account">${esc(d.account)}</span> · \
<span class="available">${d.available ? "reachable" : "unreachable"}</span></p>
${why}${tile}<div class="summary">${esc(d.summary)}${stream}</div><div class="controls"></div>\
<p class="cmd-msg" role="status" aria-live="polite"></p></article>`;
}

/** The device filters: by account, and by room when a vendor names rooms (app.js keeps both live). */
function deviceFilters(accounts: AccountView[], devices: DeviceView[]): string {
  const options = (values: string[]) => values.map((v) => `<option value="${esc(v)}">${esc(v)}</option>`).join("");
  const rooms = [...new Set(devices.flatMap((d) => (d.room ? [d.room] : [])))].sort();
  return `<div class="filters"><label class="filter">Show <select id="filter-account">\
<option value="">all accounts</option>${options(accounts.map((a) => a.name))}</select></label>
<label class="filter" id="filter-room-label"${rooms.length ? "" : " hidden"}>Room <select id="filter-room">\
<option value="">all rooms</option>${options(rooms)}</select></label></div>`;
}

/** A standalone camera's pairing state in words (also sent over the event stream). */
export function cameraStatus(c: CameraView): string {
  if (!c.setupURI) return "starting";
  return c.paired ? "paired with Apple Home" : "not paired: add it in the Home app with this code";
}

/** What the event stream sends about a camera: the page builds its card from this alone. */
export interface CameraEvent extends CameraView {
  status: string;
  /** The QR code as SVG markup (rendered here; the browser has no QR library). */
  qr?: string;
}

export async function cameraEvent(c: CameraView): Promise<CameraEvent> {
  return { ...c, status: cameraStatus(c), ...(c.setupURI ? { qr: await qrSvg(c.setupURI) } : {}) };
}

async function cameraCard(c: CameraView): Promise<string> {
  const qr = c.setupURI
    ? `<div class="qr" data-payload="${esc(c.setupURI)}">${await qrSvg(c.setupURI)}</div>`
    : `<div class="qr"></div>`;
  return `<section class="card camera" data-camera="${esc(c.deviceId)}">\
<h3 class="camera-name">${esc(c.name)}</h3>
${qr}<p>Setup code <code class="camera-code">${esc(c.setupCode)}</code></p>
<p class="status camera-status">${esc(cameraStatus(c))}</p></section>`;
}

async function cameraSection(cameras: CameraView[]): Promise<string> {
  const cards = (await Promise.all(cameras.map(cameraCard))).join("");
  return `<section id="cameras"${cameras.length ? "" : " hidden"}><h2>Cameras in Apple Home</h2>
<p class="hint">Each camera is an accessory of its own in Apple Home, with its own code: \
Home app → Add Accessory → scan the camera's QR code. The bridge's code does not add it.</p>
<div class="pairing" id="camera-cards">${cards}</div></section>`;
}

/** A Matter camera node's state in words (also sent over the event stream). */
export function matterCameraStatus(c: MatterCameraView): string {
  return c.commissioned ? "commissioned" : "not commissioned: add it in your Matter controller with this code";
}

export interface MatterCameraEvent extends MatterCameraView {
  status: string;
  qr: string;
}

export async function matterCameraEvent(c: MatterCameraView): Promise<MatterCameraEvent> {
  return { ...c, status: matterCameraStatus(c), qr: await qrSvg(c.qrCode) };
}

async function matterCameraCard(c: MatterCameraView): Promise<string> {
  return `<section class="card camera" data-camera="${esc(c.deviceId)}"><h3 class="camera-name">${esc(c.name)}</h3>
<div class="qr" data-payload="${esc(c.qrCode)}">${await qrSvg(c.qrCode)}</div>\
<p>Manual code <code class="camera-code">${esc(c.manualCode)}</code></p>
<p class="status camera-status">${esc(matterCameraStatus(c))}</p></section>`;
}

async function matterCameraSection(cameras: MatterCameraView[]): Promise<string> {
  const cards = (await Promise.all(cameras.map(matterCameraCard))).join("");
  return `<section id="matter-cameras"${cameras.length ? "" : " hidden"}><h2>Cameras in Matter</h2>
<p class="hint">Each camera is a Matter node of its own, with its own code: add it in your Matter controller \
by scanning the camera's QR code. The bridge's code does not add it.</p>
<div class="pairing" id="matter-camera-cards">${cards}</div></section>`;
}

/** Filled by app.js from /api/pairings (removal needs the script: it asks for confirmation first). */
function pairingsSection(): string {
  return `<section id="pairings" aria-labelledby="pairings-title"><h2 id="pairings-title">Paired controllers</h2>
<p class="hint">Who holds this bridge: each Apple Home controller paired with a bridge or camera (HomeKit names them by
an id only), and each Matter ecosystem (fabric). Removing one takes the bridge out of that home at once; resetting an
ecosystem removes them all, and the bridge pairs again with the codes above. No restart.</p>
<div id="pairings-homekit"></div><div id="pairings-matter"></div>
<p id="pairings-msg" class="cmd-msg" role="status" aria-live="polite"></p>
<noscript><p class="hint">This list needs JavaScript.</p></noscript></section>`;
}

function accountRow(a: AccountView, admin: AdminView | undefined): string {
  const action = `/accounts/${encodeURIComponent(a.name)}/remove`;
  // A confirmation step without script: the button is behind a disclosure that says what happens.
  // Renaming loses nothing, so its disclosure is the only step (it needs the script: a JSON post).
  const actions = admin?.pageAccounts.has(a.name)
    ? `<details class="rename"><summary>Rename…</summary><form data-rename="${esc(a.name)}">
<label>New name \
<input name="name" value="${esc(a.name)}" required maxlength="${MAX_ACCOUNT_NAME}" autocomplete="off"></label>
<button>Rename</button><p class="hint">Its devices stay paired in Apple Home and Matter, with their automations.</p>
<p class="cmd-msg" role="status" aria-live="polite"></p>\
<noscript><p class="hint">Renaming needs JavaScript.</p></noscript></form></details>
<details class="remove"><summary>Remove…</summary><form method="post" action="${esc(action)}">
<p class="hint">Its devices leave Apple Home and Matter; its session is deleted.</p>\
<button class="danger">Remove ${esc(a.name)}</button></form></details>`
    : `<span class="hint">in the config file (rename or remove it there)</span>`;
  return `<tr data-account="${esc(a.name)}"><td>${esc(a.name)}</td><td>${esc(a.vendor)}</td>\
<td class="link link-${esc(a.link)}">${esc(a.link)}</td><td class="actions">${actions}</td></tr>`;
}

/** The add-account form: the vendor list comes from the vendor modules. Unfolded while there is no
 * account yet (the first visit) or to show how the last attempt went. */
function addAccountForm(admin: AdminView, accounts: number): string {
  const options = admin.vendors
    .map(
      (v) =>
        `<option value="${esc(v.id)}">${esc(v.displayName)}` +
        `${v.login === "password+mfa" ? " (asks for a code)" : ""}</option>`,
    )
    .join("");
  const notice =
    admin.notice && admin.notice.step !== "code"
      ? `<p class="msg msg-${esc(admin.notice.step)}" role="status">${esc(admin.notice.message)}</p>`
      : "";
  const open = accounts === 0 || notice ? " open" : "";
  return `<details class="login" id="add-account"${open}><summary>Add an account</summary>${notice}
<form method="post" action="/accounts" id="add-account-form">
<label>Vendor <select name="vendor" required>${options}</select></label>
<label>Name (optional, e.g. home) <input name="name" maxlength="${MAX_ACCOUNT_NAME}" autocomplete="off"></label>
<label>E-mail <input name="email" type="email" autocomplete="username" required maxlength="320"></label>
<label>Password <input name="password" type="password" autocomplete="current-password" required maxlength="256"></label>
<details><summary>Vendor settings (optional)</summary><label>As JSON, the keys the config file would hold
<textarea name="settings" rows="3" maxlength="4000" spellcheck="false"></textarea></label></details>
<button>Add account</button>
<p class="hint">Checked with the vendor first. Kept in the data directory (0600), \
with the password only where the vendor
needs it to log in again; a vendor that sends a code asks for it next. \
An account of the same name in the config file wins.</p>
</form></details>`;
}

/** The vendor's name as the page shows it. */
const vendorName = (id: string) => vendorOf(id)?.displayName ?? id;

/** A code log-in folds away while its account is connected (it is only needed to log in again). */
function mfaForm(n: MfaLoginView, link: string | undefined): string {
  const open = n.step === "code" || n.message !== undefined || link !== "connected" ? " open" : "";
  return `<details class="login" data-mfa-login="${esc(n.account)}"${open}>\
<summary>${esc(vendorName(n.vendor))}: ${esc(n.account)}: log in</summary>${mfaFormBody(n)}</details>`;
}

function mfaFormBody(n: MfaLoginView): string {
  const action = `/accounts/${encodeURIComponent(n.account)}/login`;
  const message = n.message ? `<p class="msg msg-${esc(n.step)}">${esc(n.message)}</p>` : "";
  if (n.step === "code") {
    return `<form method="post" action="${esc(action)}/code" class="login" data-login="${esc(n.account)}">\
<h3>${esc(vendorName(n.vendor))}: ${esc(n.account)}</h3>${message}
<label>Verification code \
<input name="code" inputmode="numeric" autocomplete="one-time-code" required maxlength="12"></label>
<button>Send code</button></form>`;
  }
  return `<form method="post" action="${esc(action)}" class="login" data-login="${esc(n.account)}">\
<h3>${esc(vendorName(n.vendor))}: ${esc(n.account)} (${esc(n.email)})</h3>${message}
<label>Password (used once, not stored) \
<input name="password" type="password" autocomplete="current-password" required maxlength="256"></label>
<button>Log in</button></form>`;
}

/** Open (unfolded) when the account needs the password, or to show how the last attempt went. */
function passwordForm(v: PasswordLoginView, link: string | undefined): string {
  const action = `/accounts/${encodeURIComponent(v.account)}/password`;
  const message = v.message ? `<p class="msg msg-${esc(v.step)}">${esc(v.message)}</p>` : "";
  const open = link === "needs-login" || v.message !== undefined ? " open" : "";
  return `<details class="login" data-password-login="${esc(v.account)}"${open}>\
<summary>${esc(vendorName(v.vendor))}: ${esc(v.account)} (${esc(v.email)}): enter the password</summary>${message}
<form method="post" action="${esc(action)}"><label>${esc(vendorName(v.vendor))} password \
<input name="password" type="password" autocomplete="current-password" required maxlength="256"></label>
<button>Check and use</button><p class="hint">Checked with ${esc(vendorName(v.vendor))} first; \
kept in the data directory (0600) in place of the config's password until that is changed.</p></form></details>`;
}

export async function renderPage(d: PageData): Promise<string> {
  const text = pairingText(d.pairing);
  const h = d.pairing.homekit;
  const m = d.pairing.matter;
  // The QR code of a pairing payload, or why there is none yet.
  const qr = async (id: string, payload: string | undefined) =>
    payload
      ? `<div class="qr" id="${id}" data-payload="${esc(payload)}">${await qrSvg(payload)}</div>`
      : "<p>The bridge is starting; reload for the QR code.</p>";
  const homekit = h
    ? `<section class="card" id="homekit"><h2>Apple Home</h2>
${await qr("homekit-qr", h.setupURI)}
<p>Setup code <code id="homekit-code">${esc(h.setupCode)}</code></p>
<p class="status" id="homekit-status">${esc(text.homekit)}</p></section>`
    : `<section class="card" id="homekit"><h2>Apple Home</h2>\
<p>Disabled in the config (homekit.enabled).</p></section>`;
  const matter = m
    ? `<section class="card" id="matter"><h2>Matter</h2>
${await qr("matter-qr", m.qrCode)}
<p>Manual code <code id="matter-code">${esc(m.manualCode ?? "")}</code></p>
<p class="status" id="matter-status">${esc(text.matter)}</p>
<ul class="warnings" id="matter-warnings"${m.warnings.length ? "" : " hidden"}>\
${(text.matterWarnings ?? []).map((w) => `<li>${esc(w)}</li>`).join("")}</ul></section>`
    : `<section class="card" id="matter"><h2>Matter</h2><p>Disabled in the config (matter.enabled).</p></section>`;
  const linkOf = (account: string) => d.accounts.find((a) => a.name === account)?.link;
  const accountRows = d.accounts.map((a) => accountRow(a, d.admin)).join("");
  const mfaForms = (d.mfa ?? []).map((n) => mfaForm(n, linkOf(n.account))).join("");
  const passwordForms = (d.logins ?? []).map((v) => passwordForm(v, linkOf(v.account))).join("");
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>${esc(d.title)}</title><link rel="stylesheet" href="/app.css"><script src="/theme.js"></script>\
<script type="module" src="/app.js"></script>
<link rel="stylesheet" href="/live.css"><script src="/live.js" defer></script></head>
<body><a class="skip" href="#main">Skip to the page</a>\
<header><h1>${esc(d.title)}</h1><span id="live" class="live" role="status">connecting…</span>
<button type="button" id="theme" class="theme">Theme: auto</button>\
${d.canLogOut ? `<form method="post" action="/logout"><button>Log out</button></form>` : ""}</header>
<main id="main">
<div class="pairing">${homekit}${matter}</div>
${await cameraSection(d.cameras ?? [])}
${await matterCameraSection(d.matterCameras ?? [])}
${pairingsSection()}
<section aria-labelledby="accounts-title"><h2 id="accounts-title">Accounts</h2>\
${d.admin ? addAccountForm(d.admin, d.accounts.length) : ""}
<table id="accounts"><thead><tr><th>Account</th><th>Vendor</th><th>Link</th>\
<th><span class="sr-only">Actions</span></th></tr></thead><tbody>${accountRows}</tbody></table>
${mfaForms}${passwordForms}</section>
<section aria-labelledby="devices-title"><div class="section-head"><h2 id="devices-title">Devices</h2>\
${deviceFilters(d.accounts, d.devices)}</div>
<p class="hint" id="no-devices"${d.devices.length ? " hidden" : ""}>\
No devices yet: they appear here as soon as an account reports them.</p>
<div id="devices" class="devices">${d.devices.map(deviceCard).join("")}</div></section>
<section aria-labelledby="log-title"><h2 id="log-title">Recent log</h2>${logTools(d)}\
<ol id="logs">${d.logs.map(logLine).join("")}</ol>
<p><a class="button" id="diagnostics" href="/api/diagnostics" download>Download diagnostics</a>
<span class="hint">one JSON file for a bug report: config without secrets, versions, devices, links, this
log</span></p></section>
</main></body></html>`;
}

function shell(title: string, body: string): string {
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">\
<title>${esc(title)}</title><link rel="stylesheet" href="/app.css"><script src="/theme.js"></script></head>
<body class="narrow"><main>${body}</main></body></html>`;
}

export function renderLogin(title: string, message?: string): string {
  return shell(
    title,
    `<h1>${esc(title)}</h1>${message ? `<p class="msg msg-failed">${esc(message)}</p>` : ""}
<form method="post" action="/login" id="login"><label>Password \
<input name="password" type="password" autocomplete="current-password" required autofocus maxlength="256"></label>\
<button>Log in</button></form>`,
  );
}

export interface SetupForm {
  /** The setup token from the link in the log (kept in a hidden field); absent: the form asks for it. */
  token?: string | undefined;
  message?: string | undefined;
}

/** Choosing the page's password: it takes the one-time setup token the bridge prints (auth.ts). */
export function renderSetup(title: string, minLength: number, form: SetupForm = {}): string {
  const token = form.token
    ? `<input type="hidden" name="token" value="${esc(form.token)}">`
    : `<label>Setup token <input name="token" required autocomplete="off" spellcheck="false" maxlength="64"></label>
<p class="hint">The bridge prints it in its log ("the web page has no password yet: choose it at ...?token=...")
and <code>npm run pairing</code> shows it.</p>`;
  const message = form.message ? `<p class="msg msg-failed">${esc(form.message)}</p>` : "";
  return shell(
    title,
    `<h1>${esc(title)}</h1><p>Choose the password for this page (at least ${minLength} characters). It is stored hashed
in the data directory; delete <code>web.json</code> there to choose again (with a new setup token).</p>${message}
<form method="post" action="/setup" id="setup">${token}
<label>Password <input name="password" type="password" autocomplete="new-password" required
 minlength="${minLength}" maxlength="256" autofocus></label>
<label>Again <input name="confirm" type="password" autocomplete="new-password" required
 minlength="${minLength}" maxlength="256"></label>
<button>Set password</button></form>`,
  );
}
