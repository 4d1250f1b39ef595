// Renaming an account (part of static/app.js): the row's form sends the new name as JSON to
// /api/accounts/<name>/rename and says how it went; on success the page reloads under the new name.
import { postJson, reloadPage } from "./ui.js";

export function setUpRenames() {
  for (const form of document.querySelectorAll("form[data-rename]")) {
    form.addEventListener("submit", async (event) => {
      // Not a navigation: app.js must keep reloading on other pages' account changes.
      event.preventDefault();
      event.stopPropagation();
      const msg = form.querySelector(".cmd-msg");
      const button = form.querySelector("button");
      const say = (text, failed) => {
        msg.textContent = text;
        msg.className = `cmd-msg${failed ? " msg-failed" : ""}`;
      };
      const from = form.getAttribute("data-rename");
      button.disabled = true;
      say("Renaming…");
      try {
        const path = `/api/accounts/${encodeURIComponent(from)}/rename`;
        say((await postJson(path, { name: form.elements.name.value })).message);
        reloadPage();
      } catch (error) {
        say(`Not renamed: ${error.message}`, true);
        button.disabled = false;
      }
    });
  }
}
