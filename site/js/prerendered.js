// prerendered.js: the first thing the page runs (it holds the first paint): draws the answer the
// build computed for the view's default inputs, with the few modules that needs; main.js, loaded
// meanwhile, then fills the form and takes over.

import { data, workloadOf } from "./page-data.js";
import { renderHeadline, renderStatus } from "./render/result.js";

const params = new URLSearchParams(location.search);
const answer = data.prerendered[workloadOf(params.get("view") ?? data.defaults.view, null)];
// a link's own inputs (boot.js marks those pages pending) are Python's to compute
if (answer && !("pending" in document.documentElement.dataset)) {
  renderHeadline(answer.response);
  renderStatus("Precomputed for these inputs; Python is starting for your changes…");
}
