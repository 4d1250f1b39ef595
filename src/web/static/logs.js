// The log list and its tools (part of static/app.js): filters by account and device (the download
// link takes the same filter), the bridge's log level.
import { $, element, postJson } from "./ui.js";

const MAX_LOG = 200;

/** The log filters: lines of other accounts or devices are hidden; the download takes the same filter. */
function logFilterMatches(li) {
  const account = $("#log-account")?.value ?? "";
  const device = $("#log-device")?.value ?? "";
  return (
    (account === "" || li.getAttribute("data-account") === account) &&
    (device === "" || li.getAttribute("data-device") === device)
  );
}

export function applyLogFilter() {
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
export function setOptions(select, pairs) {
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

export function showLog(l) {
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

/** A device that appeared after the page was drawn joins the log's device filter. */
export function knowDevice(id, name) {
  const select = $("#log-device");
  if (!select || [...select.options].some((o) => o.value === id)) return;
  const option = element("option", undefined, name);
  option.value = id;
  select.append(option);
}
