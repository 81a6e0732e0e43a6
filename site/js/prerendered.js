// prerendered.js: the first thing the page runs (it holds the first paint): marks the page's
// state before anything is drawn (a link's own inputs pending, the form hidden until main.js has
// filled it, the embed view), keeps any error raised before the other modules run (bridge.js
// reads them), reads what the build put into the page and draws the answer it computed for the
// view's default inputs, with the few modules that needs. main.js then takes over.

import { renderHeadline, renderStatus } from "./render/result.js";

/** @type {unknown[]} */
const early = [];
/** @param {any} event */
const keep = (event) => early.push(event.reason ?? event.error ?? event);
addEventListener("unhandledrejection", keep);
addEventListener("error", keep);
Object.assign(window, {
  vramcalcEarlyErrors: early,
  vramcalcStopEarly: () => {
    removeEventListener("unhandledrejection", keep);
    removeEventListener("error", keep);
  },
});

const params = new URLSearchParams(location.search);
const root = document.documentElement;
root.dataset.filling = "";
if (params.get("embed") === "1") root.dataset.embed = "";
// a link's own inputs are Python's to compute: no prerendered figure meanwhile
const pending = [...params.keys()].some((key) => key !== "embed" && key !== "view");
if (pending) root.dataset.pending = "";

/** What the build put into the page: each view's default answer, the catalog, defaults.json.
 * @type {{defaults: Record<string, any>, catalog: Record<string, any>, prerendered: Record<string, import("./bridge.js").Result>}} */
export const data = JSON.parse(/** @type {HTMLElement} */ (document.getElementById("page-data")).textContent ?? "{}");

/** What the form describes for a view: the GPUs view keeps a workload (a link's mode says which).
 * @param {string} view @param {string | null} mode @returns {string} inference | finetune | training */
export const workloadOf = (view, mode) => (view === "gpus" ? (mode === "training" ? "finetune" : "inference") : view);

const answer = data.prerendered[workloadOf(params.get("view") ?? data.defaults.view, null)];
if (answer && !pending) {
  renderHeadline(answer.response);
  renderStatus("Precomputed for these inputs; Python is starting for your changes…");
}
