// Camera tiles (part of static/app.js): each camera's latest picture while the page is visible, and
// the link to its live view once the bridge serves one.
import { element, toLogin } from "./ui.js";

/** Camera tiles: the latest picture of each camera, again every SNAPSHOT_MS while the page is
 * visible (a hidden tab asks nothing: each picture may wake the camera). */
const SNAPSHOT_MS = 10_000;
const tiles = new Map();

export function ensureTile(card, d) {
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
    if (res.status === 401) return toLogin();
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
export function scheduleTiles() {
  clearInterval(tileTimer);
  tileTimer = undefined;
  if (document.visibilityState !== "visible") return;
  refreshTiles();
  tileTimer = setInterval(refreshTiles, SNAPSHOT_MS);
}
document.addEventListener("visibilitychange", scheduleTiles);

/** A camera that left: its tile is forgotten. */
export function forgetTile(id) {
  tiles.delete(id);
}
