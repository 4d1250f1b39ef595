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
    tr.replaceChildren(cell(d.name, "name"), cell(d.model), cell(d.account), cell(d.available ? "reachable" : "unreachable", "available"), cell(d.summary, "summary"));
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
    },
    device: showDevice,
    account: showAccount,
    log: showLog,
    pairing: showPairing,
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
