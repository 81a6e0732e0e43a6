// boot.js: runs before first paint; hides the form until main.js has filled it, and prerendered
// figures a link's own state would change; keeps any error raised before the page's modules
// run (bridge.js reads it).
"use strict";
(function () {
  /** @type {unknown[]} */
  const early = [];
  /** @type {any} */ (window).vramcalcEarlyErrors = early;
  /** @param {any} event */
  const keep = (event) => early.push(event.reason ?? event.error ?? event);
  addEventListener("unhandledrejection", keep);
  addEventListener("error", keep);
  /** @type {any} */ (window).vramcalcStopEarly = () => {
    removeEventListener("unhandledrejection", keep);
    removeEventListener("error", keep);
  };
  const params = new URLSearchParams(location.search);
  const root = document.documentElement;
  root.dataset.filling = "";
  if (params.get("embed") === "1") root.dataset.embed = "";
  for (const key of params.keys()) {
    if (key !== "embed" && key !== "view") {
      root.dataset.pending = "";
      break;
    }
  }
})();
