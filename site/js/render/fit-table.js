// render/fit-table.js: every DOM write in the "Every GPU" table. Rows are updated in place while
// the GPUs stay the same: an edit redraws the changed cells only, not 35 new rows.

import { CUSTOM_GPU } from "../options.js";
import { count } from "../units.js";
import { byId as $, figure, h, setAttr, setFigure, setText } from "./dom.js";

/** One row per catalog GPU: fit, headroom, and the largest batch and context that fit.
 * @param {Record<string, any>} r the response @param {string} workload */
export function renderFitTable(r, workload) {
  const training = workload !== "inference";
  setText($("th-batch"), training ? "Max micro-batch" : "Max batch");
  setText($("th-context"), training ? "Max sequence" : "Max context");
  const gpus = r.fit?.gpus ?? [];
  const body = /** @type {HTMLTableSectionElement} */ ($("gpu-rows"));
  const same = body.rows.length === gpus.length && gpus.every((/** @type {any} */ g, /** @type {number} */ i) => body.rows[i].dataset.gpu === g.gpu);
  if (!same) body.replaceChildren(...gpus.map((/** @type {any} */ g) => newRow(g)));
  gpus.forEach((/** @type {any} */ g, /** @type {number} */ i) => fillRow(body.rows[i], g, g.gpu === r.fit.selected));
}

/** A row's cells, for fillRow to fill; the request's own GPU is marked as such.
 * @param {Record<string, any>} g */
function newRow(g) {
  const button = h("button", { type: "button", class: "link", "data-select-gpu": g.gpu }, [g.name]);
  const mark = g.gpu === CUSTOM_GPU ? [" ", h("span", { class: "tag", "data-testid": "custom-gpu-tag" }, ["custom"])] : [];
  return h("tr", { "data-gpu": g.gpu }, [
    h("th", { scope: "row" }, [button, ...mark]),
    h("td", {}, [figure(g.usable_bytes)]),
    h("td", { class: "fit" }),
    h("td", {}, [figure(g.headroom_bytes)]),
    h("td"),
    h("td"),
    h("td"),
  ]);
}

/** @param {HTMLTableRowElement} row @param {Record<string, any>} g @param {boolean} selected */
function fillRow(row, g, selected) {
  setAttr(row, "class", `${g.fits ? "fits" : "nofit"}${selected ? " selected" : ""}`);
  const [head, memory, fit, headroom, batch, context, needed] = row.cells;
  const button = /** @type {HTMLElement} */ (head.firstElementChild);
  setAttr(button, "aria-pressed", String(selected));
  setText(button, g.name);
  setFigure(/** @type {HTMLElement} */ (memory.firstElementChild), g.usable_bytes);
  setText(fit, g.fits ? "✓ fits" : "✗ no");
  setFigure(/** @type {HTMLElement} */ (headroom.firstElementChild), g.headroom_bytes);
  // 0 means no batch (or context) fits at all: said in words, never drawn as a number
  setText(batch, g.max_batch_size > 0 ? count(g.max_batch_size) : "none fits");
  setText(context, g.max_context_length > 0 ? count(g.max_context_length) : "none fits");
  setText(needed, count(g.gpus_for_weights));
}
