// The page's live updates: one EventSource on /events. The server formats everything (state
// summaries, pairing status); this script only replaces text in place. No build step, no library.
"use strict";
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

  function showDevice(d) {
    const body = $("#devices tbody");
    let tr = rowFor("devices", "data-device", d.id);
    if (!tr) {
      tr = document.createElement("tr");
      tr.setAttribute("data-device", d.id);
      body.append(tr);
    }
    tr.className = d.available ? "up" : "down";
    const summary = cell(d.summary, "summary");
    // Cameras: the live-view stream in a line of its own (page.ts streamClass computes the same class).
    if (d.stream) {
      const line = document.createElement("div");
      line.className = `stream ${d.stream.pushing ? "stream-on" : d.stream.error ? "stream-error" : "stream-idle"}`;
      line.textContent = d.stream.text;
      summary.append(line);
    }
    tr.replaceChildren(cell(d.name, "name"), cell(d.model), cell(d.account), cell(d.available ? "reachable" : "unreachable", "available"), summary);
  }

  /** The server's SVG markup as a node: parsed as XML (no HTML, no script runs) and adopted. */
  function svgNode(markup) {
    const root = new DOMParser().parseFromString(markup, "image/svg+xml").documentElement;
    return root.namespaceURI === "http://www.w3.org/2000/svg" && root.localName === "svg" ? document.importNode(root, true) : undefined;
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
    for (const existing of cards.querySelectorAll("[data-camera]")) if (existing.getAttribute("data-camera") === c.deviceId) card = existing;
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
      $("#accounts tbody").append(tr);
    }
    tr.replaceChildren(cell(a.name), cell(a.vendor), cell(a.link, `link link-${a.link}`));
    // An account that lost its log-in shows its password form.
    if (a.link === "needs-login") for (const form of document.querySelectorAll("details[data-password-login]")) if (form.getAttribute("data-password-login") === a.name) form.open = true;
  }

  function showLog(l) {
    const li = document.createElement("li");
    li.className = `lvl-${l.level}`;
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

  const handlers = {
    snapshot(s) {
      $("#devices tbody").replaceChildren();
      s.devices.forEach(showDevice);
      $("#accounts tbody").replaceChildren();
      s.accounts.forEach(showAccount);
      $("#logs").replaceChildren();
      s.logs.forEach(showLog);
      showPairing(s.pairing);
      (s.cameras ?? []).forEach(showCamera);
    },
    device: showDevice,
    account: showAccount,
    log: showLog,
    pairing: showPairing,
    camera: showCamera,
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
    fetch("/api/session", { credentials: "same-origin" }).then((r) => {
      if (r.status === 401) location.assign("/login");
    }, () => {});
  });
})();
