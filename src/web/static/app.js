// The page's live updates: one EventSource on /events. The server formats everything (state
// summaries, pairing status); this script only replaces text in place. No build step, no library.

import { setUpRenames } from "./accounts.js";
import { applyLogFilter, knowDevice, setOptions, showLog } from "./logs.js";
import { refreshPairings } from "./pairings.js";
import { ensureTile, forgetTile, scheduleTiles } from "./tiles.js";
import { $, element, reloadPage, toLogin } from "./ui.js";

(() => {
  const live = $("#live");
  let submitting = false;
  document.addEventListener("submit", () => (submitting = true));
  setUpRenames();

  function cell(text, className) {
    const td = document.createElement("td");
    td.textContent = text;
    if (className) td.className = className;
    return td;
  }

  function rowFor(table, attr, key) {
    for (const tr of document.querySelectorAll(`#${table} tbody tr`)) if (tr.getAttribute(attr) === key) return tr;
    return undefined;
  }

  /** Where a command's outcome is announced (role=status, so screen readers hear it). */
  function say(card, text, failed) {
    const msg = card.querySelector(".cmd-msg");
    msg.textContent = text;
    msg.className = `cmd-msg${failed ? " msg-failed" : ""}`;
  }

  /** One command to the bridge; the new state comes back over /events like any other change. */
  async function send(card, id, command) {
    // One command at a time per device; controls stay enabled so keyboard focus is never lost.
    if (card.hasAttribute("aria-busy")) return;
    card.setAttribute("aria-busy", "true");
    say(card, "Sending…");
    try {
      const res = await fetch(`/api/devices/${encodeURIComponent(id)}/command`, {
        method: "POST",
        credentials: "same-origin",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify(command),
      });
      if (res.status === 401) return toLogin();
      const body = await res.json().catch(() => ({}));
      if (!res.ok) say(card, `Not done: ${body.error ?? res.statusText}`, true);
      else say(card, "Done.");
    } catch {
      say(card, "Not done: the bridge did not answer.", true);
    } finally {
      card.removeAttribute("aria-busy");
    }
  }

  let controlIds = 0;
  /** A labelled control: the label names it for screen readers, the id ties the two. */
  function labelled(text, input) {
    const label = element("label", "control");
    input.id = `ctl-${++controlIds}`;
    label.htmlFor = input.id;
    label.append(element("span", undefined, text), input);
    return label;
  }

  function toggle(text, className) {
    const button = element("button", `toggle ${className}`, text);
    button.type = "button";
    button.setAttribute("aria-pressed", "false");
    return button;
  }

  function select(options, className) {
    const node = element("select", className);
    for (const [value, text] of options) {
      const option = element("option", undefined, text);
      option.value = String(value);
      node.append(option);
    }
    return node;
  }

  const ALARM_WORDS = { smokeAlarm: "smoke", coAlarm: "CO", heatAlarm: "heat" };

  /** Build the controls of a device from what it can do (d.controls); values come from updateControls. */
  function buildControls(card, d) {
    const box = card.querySelector(".controls");
    box.replaceChildren();
    const c = d.controls ?? {};
    const id = d.id;
    const group = (name) => {
      const g = element("div", "group");
      g.setAttribute("role", "group");
      g.setAttribute("aria-label", `${d.name}: ${name}`);
      box.append(g);
      return g;
    };
    if (c.fan) {
      const g = group("fan");
      const power = toggle("Fan", "fan-power");
      power.addEventListener("click", () =>
        send(card, id, { fan: { on: power.getAttribute("aria-pressed") !== "true" } }, power),
      );
      g.append(power);
      let speed;
      if (c.fan.speedSteps)
        speed = select(
          c.fan.speedSteps.map((s) => [s, `${s}%`]),
          "fan-speed",
        );
      else {
        speed = element("input", "fan-speed");
        Object.assign(speed, { type: "range", min: "1", max: "100", step: "1" });
      }
      speed.addEventListener("change", () => send(card, id, { fan: { speed: Number(speed.value) } }, speed));
      g.append(labelled("Speed", speed));
      if (c.fan.reversible) {
        const direction = select(
          [
            ["forward", "forward"],
            ["reverse", "reverse"],
          ],
          "fan-direction",
        );
        direction.addEventListener("change", () => send(card, id, { fan: { direction: direction.value } }, direction));
        g.append(labelled("Direction", direction));
      }
      if (c.fan.breeze) {
        const breeze = toggle("Breeze", "fan-breeze");
        breeze.addEventListener("click", () =>
          send(card, id, { fan: { breeze: breeze.getAttribute("aria-pressed") !== "true" } }, breeze),
        );
        g.append(breeze);
      }
    }
    if (c.light) {
      const g = group("light");
      const power = toggle("Light", "light-power");
      power.addEventListener("click", () =>
        send(card, id, { light: { on: power.getAttribute("aria-pressed") !== "true" } }, power),
      );
      g.append(power);
      if (c.light.dimmable) {
        const level = element("input", "light-brightness");
        Object.assign(level, { type: "range", min: "1", max: "100", step: "1" });
        level.addEventListener("change", () => send(card, id, { light: { brightness: Number(level.value) } }, level));
        g.append(labelled("Brightness", level));
      }
      if (c.light.colorTemperatureK) {
        const kelvin = select(
          c.light.colorTemperatureK.map((k) => [k, `${k} K`]),
          "light-kelvin",
        );
        kelvin.addEventListener("change", () =>
          send(card, id, { light: { colorTemperatureK: Number(kelvin.value) } }, kelvin),
        );
        g.append(labelled("Colour", kelvin));
      }
    }
    if (c.switches) {
      const g = group("switches");
      for (const s of c.switches) {
        const button = toggle(s.label, "switch");
        button.setAttribute("data-switch", s.id);
        button.addEventListener("click", () =>
          send(card, id, { switches: { [s.id]: button.getAttribute("aria-pressed") !== "true" } }, button),
        );
        g.append(button);
      }
    }
    if (c.volume) {
      const volume = element("input", "volume");
      Object.assign(volume, { type: "range", min: "0", max: "100", step: "1" });
      volume.addEventListener("change", () => send(card, id, { volume: Number(volume.value) }, volume));
      group("volume").append(labelled(c.volume.label, volume));
    }
    if (c.soundMachine) {
      const g = group("sound machine");
      const power = toggle(c.soundMachine.label, "sound-power");
      power.addEventListener("click", () =>
        send(card, id, { soundMachine: { on: power.getAttribute("aria-pressed") !== "true" } }, power),
      );
      // Picking a track plays it (the vendor starts the machine with it).
      const track = select(
        c.soundMachine.tracks.map((t) => [t.id, t.label]),
        "sound-track",
      );
      track.addEventListener("change", () => send(card, id, { soundMachine: { track: track.value } }, track));
      g.append(power, labelled("Track", track));
    }
    for (const alarm of c.selfTest ?? []) {
      const button = element("button", "self-test", `Self-test (${ALARM_WORDS[alarm] ?? alarm})`);
      button.type = "button";
      button.setAttribute("data-alarm", alarm);
      button.addEventListener("click", () => {
        // The alarm sounds at full volume in the house: ask first.
        if (!confirm(`Run the ${ALARM_WORDS[alarm] ?? alarm} self-test on ${d.name}? The alarm will sound.`)) return;
        send(card, id, { [alarm]: { testing: true } }, button);
      });
      group("self-test").append(button);
    }
    for (const alarm of c.mute ?? []) {
      const button = toggle(`Hush ${ALARM_WORDS[alarm] ?? alarm}`, "mute");
      button.setAttribute("data-alarm", alarm);
      button.addEventListener("click", () =>
        send(card, id, { [alarm]: { muted: button.getAttribute("aria-pressed") !== "true" } }, button),
      );
      group("hush").append(button);
    }
    card.setAttribute("data-controls", JSON.stringify(c));
  }

  /** Show the device's state in its controls; a control the user is moving is left alone. */
  function updateControls(card, d) {
    const s = d.state ?? {};
    const set = (selector, value) => {
      const node = card.querySelector(selector);
      if (!node || value === undefined || (node === document.activeElement && node.matches(":active"))) return;
      if (node.tagName === "BUTTON") node.setAttribute("aria-pressed", value ? "true" : "false");
      else node.value = String(value);
    };
    if (s.fan) {
      set(".fan-power", s.fan.on);
      set(".fan-speed", s.fan.speed);
      set(".fan-direction", s.fan.direction);
      set(".fan-breeze", s.fan.breeze);
    }
    if (s.light) {
      set(".light-power", s.light.on);
      set(".light-brightness", s.light.brightness);
      set(".light-kelvin", s.light.colorTemperatureK);
    }
    set(".volume", s.volume);
    if (s.soundMachine) {
      set(".sound-power", s.soundMachine.on);
      set(".sound-track", s.soundMachine.track);
    }
    for (const button of card.querySelectorAll("[data-switch]")) {
      const on = s.switches?.[button.getAttribute("data-switch")];
      if (on !== undefined) button.setAttribute("aria-pressed", on ? "true" : "false");
    }
    for (const button of card.querySelectorAll(".mute")) {
      button.setAttribute("aria-pressed", s[button.getAttribute("data-alarm")]?.muted ? "true" : "false");
    }
    // Nothing can be changed on a device the bridge cannot reach.
    for (const node of card.querySelectorAll(".controls button, .controls select, .controls input"))
      node.disabled = !d.available;
  }

  function showDevice(d) {
    const list = $("#devices");
    let card;
    for (const existing of list.querySelectorAll("[data-device]"))
      if (existing.getAttribute("data-device") === d.id) card = existing;
    if (!card) {
      card = element("article", "device");
      card.setAttribute("data-device", d.id);
      const meta = element("p", "meta");
      meta.append(element("span", "model"), " · ", element("span", "account"), " · ", element("span", "available"));
      const msg = element("p", "cmd-msg");
      msg.setAttribute("role", "status");
      msg.setAttribute("aria-live", "polite");
      card.append(
        element("h3", "name"),
        meta,
        element("p", "why"),
        element("div", "summary"),
        element("div", "controls"),
        msg,
      );
      list.append(card);
      knowDevice(d.id, d.name);
    }
    card.className = `device ${d.available ? "up" : "down"}`;
    card.setAttribute("data-account", d.account);
    if (d.room) card.setAttribute("data-room", d.room);
    else card.removeAttribute("data-room");
    card.querySelector(".name").textContent = d.name;
    card.querySelector(".model").textContent = d.model;
    card.querySelector(".account").textContent = d.account;
    card.querySelector(".available").textContent = d.available ? "reachable" : "unreachable";
    const why = card.querySelector(".why");
    why.textContent = d.unreachable?.text ?? "";
    why.hidden = !d.unreachable;
    const summary = card.querySelector(".summary");
    summary.textContent = d.summary;
    // Cameras: the live-view stream in a line of its own (page.ts streamClass computes the same class).
    if (d.stream) {
      const line = element(
        "div",
        `stream ${d.stream.pushing ? "stream-on" : d.stream.error ? "stream-error" : "stream-idle"}`,
        d.stream.text,
      );
      summary.append(line);
    }
    ensureTile(card, d);
    if (card.getAttribute("data-controls") !== JSON.stringify(d.controls ?? {})) buildControls(card, d);
    updateControls(card, d);
    $("#no-devices").hidden = true;
    updateRoomOptions();
    applyFilter();
  }

  function removeDevice(d) {
    forgetTile(d.id);
    for (const card of document.querySelectorAll("#devices [data-device]"))
      if (card.getAttribute("data-device") === d.id) card.remove();
    $("#no-devices").hidden = $("#devices").children.length > 0;
    updateRoomOptions();
  }

  /** The account filter: cards of other accounts are hidden (the choice survives live updates). */
  function applyFilter() {
    const account = $("#filter-account")?.value ?? "";
    const room = $("#filter-room")?.value ?? "";
    for (const card of document.querySelectorAll("#devices [data-device]"))
      card.hidden =
        (account !== "" && card.getAttribute("data-account") !== account) ||
        (room !== "" && card.getAttribute("data-room") !== room);
  }

  /** The room filter lists the rooms the devices are in now; it shows only when a vendor names rooms. */
  function updateRoomOptions() {
    const filter = $("#filter-room");
    if (!filter) return;
    const rooms = [
      ...new Set([...document.querySelectorAll("#devices [data-room]")].map((c) => c.getAttribute("data-room"))),
    ].sort();
    const chosen = filter.value;
    filter.replaceChildren(
      ...[["", "all rooms"], ...rooms.map((r) => [r, r])].map(([value, text]) => {
        const option = element("option", undefined, text);
        option.value = value;
        return option;
      }),
    );
    filter.value = rooms.includes(chosen) ? chosen : "";
    $("#filter-room-label").hidden = rooms.length === 0;
  }
  $("#filter-room")?.addEventListener("change", applyFilter);

  function updateFilterOptions(names) {
    const filter = $("#filter-account");
    if (!filter) return;
    const chosen = filter.value;
    const options = [["", "all accounts"], ...names.map((n) => [n, n])];
    filter.replaceChildren(
      ...options.map(([value, text]) => {
        const option = element("option", undefined, text);
        option.value = value;
        return option;
      }),
    );
    filter.value = names.includes(chosen) ? chosen : "";
  }
  $("#filter-account")?.addEventListener("change", applyFilter);

  /** The server's SVG markup as a node: parsed as XML (no HTML, no script runs) and adopted. */
  function svgNode(markup) {
    const root = new DOMParser().parseFromString(markup, "image/svg+xml").documentElement;
    return root.namespaceURI === "http://www.w3.org/2000/svg" && root.localName === "svg"
      ? document.importNode(root, true)
      : undefined;
  }

  /** A standalone camera's pairing card: built on first sight, then updated in place. */
  function showCamera(c, where = { section: "#cameras", cards: "#camera-cards", label: "Setup code " }) {
    const section = $(where.section);
    const cards = $(where.cards);
    if (!section || !cards) return;
    let card;
    for (const existing of cards.querySelectorAll("[data-camera]"))
      if (existing.getAttribute("data-camera") === c.deviceId) card = existing;
    if (!card) {
      card = element("section", "card camera");
      card.setAttribute("data-camera", c.deviceId);
      const code = element("p", undefined, where.label);
      code.append(element("code", "camera-code"));
      card.append(element("h3", "camera-name"), element("div", "qr"), code, element("p", "status camera-status"));
      cards.append(card);
    }
    section.hidden = false;
    card.querySelector(".camera-name").textContent = c.name;
    card.querySelector(".camera-code").textContent = c.setupCode;
    card.querySelector(".camera-status").textContent = c.status;
    const qr = card.querySelector(".qr");
    const payload = c.setupURI ?? "";
    if (qr.getAttribute("data-payload") !== payload || !qr.querySelector("svg")) {
      const svg = c.qr ? svgNode(c.qr) : undefined;
      qr.replaceChildren(...(svg ? [svg] : []));
      if (svg) qr.setAttribute("data-payload", payload);
      else qr.removeAttribute("data-payload");
    }
  }

  /** A camera's own Matter node: the same card, with its manual code and MT: payload. */
  function showMatterCamera(c) {
    const where = { section: "#matter-cameras", cards: "#matter-camera-cards", label: "Manual code " };
    showCamera({ ...c, setupCode: c.manualCode, setupURI: c.qrCode }, where);
  }

  function showAccount(a) {
    let tr = rowFor("accounts", "data-account", a.name);
    if (!tr) {
      tr = document.createElement("tr");
      tr.setAttribute("data-account", a.name);
      tr.append(cell(a.name), cell(a.vendor), cell(a.link), cell("", "actions"));
      $("#accounts tbody").append(tr);
    }
    // The link cell only: the actions cell holds the server's remove form.
    const link = tr.children[2];
    link.textContent = a.link;
    link.className = `link link-${a.link}`;
    // An account that lost its log-in shows its password form.
    if (a.link === "needs-login") {
      for (const form of document.querySelectorAll("details[data-password-login], details[data-mfa-login]")) {
        if (form.getAttribute("data-password-login") === a.name || form.getAttribute("data-mfa-login") === a.name)
          form.open = true;
      }
    }
  }

  function showPairing(p) {
    const hk = $("#homekit-status");
    if (hk && p.homekit !== undefined) hk.textContent = p.homekit;
    const mt = $("#matter-status");
    if (mt && p.matter !== undefined) mt.textContent = p.matter;
    const warnings = $("#matter-warnings");
    if (warnings && p.matterWarnings !== undefined) {
      warnings.replaceChildren(...p.matterWarnings.map((w) => element("li", undefined, w)));
      warnings.hidden = p.matterWarnings.length === 0;
    }
  }

  const handlers = {
    snapshot(s) {
      $("#devices").replaceChildren();
      $("#no-devices").hidden = s.devices.length > 0;
      updateFilterOptions(s.accounts.map((a) => a.name));
      s.devices.forEach(showDevice);
      scheduleTiles();
      // Rows of accounts that are gone go; the others keep their server-rendered actions.
      const names = new Set(s.accounts.map((a) => a.name));
      for (const tr of document.querySelectorAll("#accounts tbody tr"))
        if (!names.has(tr.getAttribute("data-account"))) tr.remove();
      s.accounts.forEach(showAccount);
      setOptions(
        $("#log-account"),
        s.accounts.map((a) => [a.name, a.name]),
      );
      setOptions(
        $("#log-device"),
        s.devices.map((d) => [d.id, d.name]),
      );
      applyLogFilter();
      $("#logs").replaceChildren();
      s.logs.forEach(showLog);
      showPairing(s.pairing);
      (s.cameras ?? []).forEach((c) => showCamera(c));
      (s.matterCameras ?? []).forEach(showMatterCamera);
      refreshPairings();
    },
    device: showDevice,
    "device-removed": removeDevice,
    account: showAccount,
    log: showLog,
    pairing(p) {
      showPairing(p);
      refreshPairings();
    },
    camera(c) {
      showCamera(c);
      refreshPairings();
    },
    "matter-camera": showMatterCamera,
    // A log-in moved on (Nanit code asked; a password checked, done, failed): the server renders the forms.
    login() {
      // The page that posted the form gets the new one as the post's answer; a reload now would cancel it.
      if (!submitting) reloadPage();
    },
  };

  const source = new EventSource("/events");
  for (const [name, handle] of Object.entries(handlers)) {
    source.addEventListener(name, (event) => {
      try {
        handle(JSON.parse(event.data));
      } catch (error) {
        console.error(`bad ${name} event`, error);
      }
    });
  }
  source.addEventListener("open", () => {
    live.textContent = "live";
    live.className = "live on";
  });
  source.addEventListener("error", () => {
    live.textContent = "reconnecting…";
    live.className = "live off";
    // A restarted bridge forgets sessions: EventSource cannot see the 401, so ask once.
    fetch("/api/session", { credentials: "same-origin" }).then(
      (r) => {
        if (r.status === 401) toLogin();
      },
      () => {},
    );
  });
})();
