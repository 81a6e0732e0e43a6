// page-data.js: what the build put into the page (each view's default answer, the catalog,
// defaults.json), and which of its answers a URL's view shows.

/** @type {{defaults: Record<string, any>, catalog: Record<string, any>, prerendered: Record<string, import("./bridge.js").Result>}} */
export const data = JSON.parse(/** @type {HTMLElement} */ (document.getElementById("page-data")).textContent ?? "{}");

/** What the form describes for a view: the GPUs view keeps a workload (a link's mode says which).
 * @param {string} view @param {string | null} mode @returns {string} inference | finetune | training */
export const workloadOf = (view, mode) => (view === "gpus" ? (mode === "training" ? "finetune" : "inference") : view);
