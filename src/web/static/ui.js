// Small helpers the page's scripts share (static/app.js and its parts): no library, no build step.
export const $ = (selector) => document.querySelector(selector);

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
    location.assign("/login");
    throw new Error("log in first");
  }
  const answer = await res.json().catch(() => ({}));
  if (!res.ok) throw new Error(answer.error ?? res.statusText);
  return answer;
}
