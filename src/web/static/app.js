// The page's live updates: one EventSource on /events. The server formats everything (state
// summaries, pairing status); this script only replaces text in place. No build step, no library.

(() => {
  const $ = (selector) => document.querySelector(selector);
  const live = $("#live");
  const MAX_LOG = 200;
  let submitting = false;
  document.addEventListener("submit", () => (submitting = true));

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
      if (res.status === 401) return location.assign("/login");
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
    for (const button of card.querySelectorAll("[data-switch]")) {
      const on = (s.switches ?? {})[button.getAttribute("data-switch")];
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

  /** Camera tiles: the latest picture of each camera, again every SNAPSHOT_MS while the page is
   * visible (a hidden tab asks nothing: each picture may wake the camera). */
  const SNAPSHOT_MS = 10_000;
  const tiles = new Map();

  function ensureTile(card, d) {
    if (!d.stream || card.querySelector(".tile")) return;
    const figure = element("figure", "tile");
    const img = element("img", "snapshot");
    Object.assign(img, { alt: `Latest picture from ${d.name}`, width: 640, height: 360, hidden: true });
    const live = element("a", "button live-link", "Live view");
    live.href = `/live/${encodeURIComponent(d.id)}`;
    live.hidden = true;
    figure.append(img, element("figcaption", "snapshot-msg", "Picture: loading…"), live);
    card.querySelector(".why").after(figure);
  }

  async function loadSnapshot(id, tile) {
    if (tile.busy || document.visibilityState !== "visible") return;
    tile.busy = true;
    const msg = tile.card.querySelector(".snapshot-msg");
    const img = tile.card.querySelector(".snapshot");
    try {
      const res = await fetch(`/api/cameras/${encodeURIComponent(id)}/snapshot.jpg`, { credentials: "same-origin" });
      if (res.status === 401) return location.assign("/login");
      if (!res.ok) {
        const body = await res.json().catch(() => ({}));
        msg.textContent = `No picture: ${body.error ?? res.statusText}`;
        return;
      }
      // A data: URL, as the page's policy allows images from the bridge and data: only.
      const blob = await res.blob();
      img.src = await new Promise((resolve, reject) => {
        const reader = new FileReader();
        reader.onload = () => resolve(reader.result);
        reader.onerror = () => reject(reader.error);
        reader.readAsDataURL(blob);
      });
      img.hidden = false;
      msg.textContent = `Picture of ${new Date().toLocaleTimeString()}`;
    } catch {
      msg.textContent = "No picture: the bridge did not answer.";
    } finally {
      tile.busy = false;
    }
  }

  /** The live view is another part of the bridge: its link shows once `/live/<id>` answers. */
  async function offerLive(card) {
    const link = card.querySelector(".live-link");
    if (!link) return;
    const res = await fetch(link.href, { method: "HEAD", credentials: "same-origin" }).catch(() => undefined);
    link.hidden = !res?.ok;
  }

  function refreshTiles() {
    for (const card of document.querySelectorAll("#devices [data-device]")) {
      const id = card.getAttribute("data-device");
      if (!card.querySelector(".tile")) {
        tiles.delete(id);
        continue;
      }
      let tile = tiles.get(id);
      if (!tile || tile.card !== card) {
        tile = { card, busy: false };
        tiles.set(id, tile);
        void offerLive(card);
      }
      void loadSnapshot(id, tile);
    }
  }
  let tileTimer;
  function scheduleTiles() {
    clearInterval(tileTimer);
    tileTimer = undefined;
    if (document.visibilityState !== "visible") return;
    refreshTiles();
    tileTimer = setInterval(refreshTiles, SNAPSHOT_MS);
  }
  document.addEventListener("visibilitychange", scheduleTiles);

  function removeDevice(d) {
    tiles.delete(d.id);
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

  function element(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined) node.textContent = text;
    return node;
  }

  /** A standalone camera's pairing card: built on first sight, then updated in place. */
  function showCamera(c) {
    const section = $("#cameras");
    const cards = $("#camera-cards");
    if (!section || !cards) return;
    let card;
    for (const existing of cards.querySelectorAll("[data-camera]"))
      if (existing.getAttribute("data-camera") === c.deviceId) card = existing;
    if (!card) {
      card = element("section", "card camera");
      card.setAttribute("data-camera", c.deviceId);
      const code = element("p", undefined, "Setup code ");
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

  /** The log filters: lines of other accounts or devices are hidden; the download takes the same filter. */
  function logFilterMatches(li) {
    const account = $("#log-account")?.value ?? "";
    const device = $("#log-device")?.value ?? "";
    return (
      (account === "" || li.getAttribute("data-account") === account) &&
      (device === "" || li.getAttribute("data-device") === device)
    );
  }

  function applyLogFilter() {
    for (const li of document.querySelectorAll("#logs li")) li.hidden = !logFilterMatches(li);
    const download = $("#log-download");
    if (!download) return;
    const query = new URLSearchParams();
    for (const [name, select] of [
      ["account", $("#log-account")],
      ["device", $("#log-device")],
    ])
      if (select?.value) query.set(name, select.value);
    download.href = `/api/logs/download${query.size ? `?${query}` : ""}`;
  }
  $("#log-account")?.addEventListener("change", applyLogFilter);
  $("#log-device")?.addEventListener("change", applyLogFilter);

  /** Keep a filter's options in step with the accounts or devices the bridge has now. */
  function setOptions(select, pairs) {
    if (!select) return;
    const chosen = select.value;
    select.replaceChildren(
      ...[["", "all"], ...pairs].map(([value, text]) => {
        const option = element("option", undefined, text);
        option.value = value;
        return option;
      }),
    );
    select.value = pairs.some(([value]) => value === chosen) ? chosen : "";
  }

  $("#log-level")?.addEventListener("change", async (event) => {
    const select = event.target;
    const msg = $("#log-msg");
    try {
      const answer = await postJson("/api/logs/level", { level: select.value });
      select.value = answer.level;
      msg.textContent = `The bridge logs at ${answer.level} now (until its next start).`;
      msg.className = "cmd-msg";
    } catch (error) {
      msg.textContent = `Not changed: ${error.message}`;
      msg.className = "cmd-msg msg-failed";
    }
  });

  function showLog(l) {
    const li = document.createElement("li");
    li.className = `lvl-${l.level}`;
    if (l.account !== undefined) li.setAttribute("data-account", l.account);
    if (l.device !== undefined) li.setAttribute("data-device", l.device);
    li.hidden = !logFilterMatches(li);
    const t = document.createElement("time");
    t.textContent = new Date(l.time).toISOString().slice(11, 19);
    const b = document.createElement("b");
    b.textContent = l.level;
    li.append(t, " ", b, " ", l.text);
    const list = $("#logs");
    list.append(li);
    while (list.children.length > MAX_LOG) list.firstElementChild.remove();
  }

  function showPairing(p) {
    const hk = $("#homekit-status");
    if (hk && p.homekit !== undefined) hk.textContent = p.homekit;
    const mt = $("#matter-status");
    if (mt && p.matter !== undefined) mt.textContent = p.matter;
  }

  /** POST a JSON body to the bridge; the answer's JSON, or an Error with the bridge's words. */
  async function postJson(path, body) {
    const res = await fetch(path, {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify(body),
    });
    if (res.status === 401) {
      location.assign("/login");
      throw new Error("log in first");
    }
    const answer = await res.json().catch(() => ({}));
    if (!res.ok) throw new Error(answer.error ?? res.statusText);
    return answer;
  }

  const pairingsMsg = (text, failed) => {
    const msg = $("#pairings-msg");
    if (!msg) return;
    msg.textContent = text;
    msg.className = `cmd-msg${failed ? " msg-failed" : ""}`;
  };

  /** A removal after the user confirmed it; the lists are drawn again from the bridge's answer. */
  async function pairingAction(question, path, body) {
    if (!confirm(question)) return;
    pairingsMsg("Removing…");
    try {
      showPairings(await postJson(path, body));
      pairingsMsg("Done.");
    } catch (error) {
      pairingsMsg(`Not done: ${error.message}`, true);
    }
  }

  function dangerButton(text, label, onClick) {
    const button = element("button", "danger", text);
    button.type = "button";
    button.setAttribute("aria-label", label);
    button.addEventListener("click", onClick);
    return button;
  }

  /** The paired controllers (GET /api/pairings): HomeKit per bridge and camera, Matter per fabric. */
  function showPairings(p) {
    const hk = $("#pairings-homekit");
    const mt = $("#pairings-matter");
    if (!hk || !mt) return;
    hk.replaceChildren();
    mt.replaceChildren();
    if (p.homekit) {
      hk.append(element("h3", undefined, "Apple Home (HomeKit)"));
      for (const t of p.homekit) {
        const list = element("ul", "pairing-list");
        list.setAttribute("data-target", t.target);
        list.setAttribute("aria-label", `${t.name}: paired controllers`);
        const admins = t.controllers.filter((c) => c.admin).length;
        for (const c of t.controllers) {
          const li = element(
            "li",
            "controller",
            `${t.name}: controller ${c.id.slice(0, 8)}${c.admin ? " (admin)" : ""}`,
          );
          li.setAttribute("data-controller", c.id);
          const last = c.admin && admins === 1;
          const question =
            `Remove this controller's pairing with ${t.name}?` +
            (last ? " It is the last admin: every controller of this bridge loses it." : "");
          const label = `Remove controller ${c.id.slice(0, 8)} from ${t.name}`;
          li.append(
            " ",
            dangerButton("Remove…", label, () =>
              pairingAction(question, "/api/pairings/homekit/remove", { target: t.target, controller: c.id }),
            ),
          );
          list.append(li);
        }
        if (!t.controllers.length) list.append(element("li", "hint", `${t.name}: not paired`));
        hk.append(list);
      }
      if (p.homekit.some((t) => t.controllers.length))
        hk.append(
          dangerButton("Reset HomeKit…", "Reset HomeKit: remove every controller", () =>
            pairingAction(
              "Remove every Apple Home pairing of every bridge and camera? They leave every home at once.",
              "/api/pairings/homekit/reset",
              { confirm: "reset" },
            ),
          ),
        );
    }
    if (p.matter) {
      mt.append(element("h3", undefined, "Matter"));
      const list = element("ul", "pairing-list");
      list.setAttribute("aria-label", "Matter fabrics");
      for (const f of p.matter.fabrics) {
        const label = f.label && f.label !== f.vendor ? ` "${f.label}"` : "";
        const li = element("li", "fabric", `${f.vendor}${label}, fabric ${f.fabricIndex}`);
        li.setAttribute("data-fabric", String(f.fabricIndex));
        li.append(
          " ",
          dangerButton("Remove…", `Remove ${f.vendor} (fabric ${f.fabricIndex})`, () =>
            pairingAction(
              `Remove ${f.vendor} (fabric ${f.fabricIndex})? The bridge leaves that ecosystem at once.`,
              "/api/pairings/matter/remove",
              { fabricIndex: f.fabricIndex },
            ),
          ),
        );
        list.append(li);
      }
      if (!p.matter.fabrics.length) list.append(element("li", "hint", "not commissioned"));
      mt.append(list);
      if (p.matter.fabrics.length)
        mt.append(
          dangerButton("Reset Matter…", "Reset Matter: remove every fabric", () =>
            pairingAction(
              "Remove every Matter fabric? The bridge leaves every Matter ecosystem and can be commissioned again.",
              "/api/pairings/matter/reset",
              { confirm: "reset" },
            ),
          ),
        );
    }
  }

  let pairingsFetch;
  function refreshPairings() {
    if (!$("#pairings")) return;
    pairingsFetch ??= fetch("/api/pairings", { credentials: "same-origin" })
      .then((r) => (r.ok ? r.json() : undefined))
      .then((p) => p && showPairings(p))
      .catch(() => {})
      .finally(() => (pairingsFetch = undefined));
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
      (s.cameras ?? []).forEach(showCamera);
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
    // A log-in moved on (Nanit code asked; a password checked, done, failed): the server renders the forms.
    login() {
      // The page that posted the form gets the new one as the post's answer; a reload now would cancel it.
      if (!submitting) location.reload();
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
        if (r.status === 401) location.assign("/login");
      },
      () => {},
    );
  });
})();
