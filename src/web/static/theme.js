// The page's colour theme: the system's (prefers-color-scheme) unless the user chose light or dark with
// the header's button; the choice is kept in this browser (localStorage). Loaded before the page is
// drawn, so a chosen theme never flashes the other one first.
(() => {
  const KEY = "hearthbridge-theme";
  const CHOICES = ["auto", "light", "dark"];
  const read = () => {
    try {
      const value = localStorage.getItem(KEY);
      return CHOICES.includes(value) ? value : "auto";
    } catch {
      return "auto"; // storage refused (private mode): the system's theme
    }
  };
  const apply = (choice) => {
    if (choice === "auto") document.documentElement.removeAttribute("data-theme");
    else document.documentElement.setAttribute("data-theme", choice);
    const button = document.getElementById("theme");
    if (button) {
      button.textContent = `Theme: ${choice}`;
      button.setAttribute("aria-label", `Colour theme: ${choice === "auto" ? "as the system" : choice}. Change`);
    }
  };
  apply(read());
  document.addEventListener("DOMContentLoaded", () => {
    apply(read());
    document.getElementById("theme")?.addEventListener("click", () => {
      const next = CHOICES[(CHOICES.indexOf(read()) + 1) % CHOICES.length];
      try {
        localStorage.setItem(KEY, next);
      } catch {
        // Not kept; applied for this page anyway.
      }
      apply(next);
    });
  });
})();
