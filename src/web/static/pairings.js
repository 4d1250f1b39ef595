// The paired controllers (part of static/app.js): HomeKit per bridge and camera, Matter per fabric,
// each removable after a confirmation; a reset per ecosystem.
import { $, element, postJson } from "./ui.js";

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
        const li = element("li", "controller", `${t.name}: controller ${c.id.slice(0, 8)}${c.admin ? " (admin)" : ""}`);
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
export function refreshPairings() {
  if (!$("#pairings")) return;
  pairingsFetch ??= fetch("/api/pairings", { credentials: "same-origin" })
    .then((r) => (r.ok ? r.json() : undefined))
    .then((p) => p && showPairings(p))
    .catch(() => {})
    .finally(() => (pairingsFetch = undefined));
}
