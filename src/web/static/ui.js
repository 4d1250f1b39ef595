// Small helpers the page's scripts share (static/app.js and its parts): no library, no build step.
export const $ = (selector) => document.querySelector(selector);

// Set once the page starts leaving (a form such as "Log out" was submitted, or a link followed): a 401 seen
// by a request still running must not start a second navigation to /login, which aborts the first.
let leaving = false;
window.addEventListener("beforeunload", () => {
  leaving = true;
});

/** The session is gone: to the log-in page, unless the page is already on its way somewhere. */
export function toLogin() {
  if (!leaving) location.assign("/login");
}

let reloading = false;
/** Reload the page once, however many reasons arrive together (an account renamed here is also announced
 * over /events; a second reload would abort the first). */
export function reloadPage() {
  if (reloading || leaving) return;
  reloading = true;
  location.reload();
}

export function element(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

/** POST a JSON body to the bridge; the answer's JSON, or an Error with the bridge's words. */
export async function postJson(path, body) {
  const res = await fetch(path, {
    method: "POST",
    credentials: "same-origin",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify(body),
  });
  if (res.status === 401) {
    toLogin();
    throw new Error("log in first");
  }
  const answer = await res.json().catch(() => ({}));
  if (!res.ok) throw new Error(answer.error ?? res.statusText);
  return answer;
}
