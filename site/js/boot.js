// boot.js: runs before first paint; hides prerendered figures a link's own state would change.
"use strict";
(function () {
  const params = new URLSearchParams(location.search);
  const root = document.documentElement;
  if (params.get("embed") === "1") root.dataset.embed = "";
  for (const key of params.keys()) {
    if (key !== "embed" && key !== "view") {
      root.dataset.pending = "";
      break;
    }
  }
})();
