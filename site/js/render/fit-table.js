// render/fit-table.js: every DOM write in the "Every GPU" table.

import { count } from "../units.js";
import { byId as $, figure, h } from "./dom.js";

/** One row per catalog GPU: fit, headroom, and the largest batch and context that fit.
 * @param {Record<string, any>} r the response @param {string} workload */
export function renderFitTable(r, workload) {
  const training = workload !== "inference";
  $("th-batch").textContent = training ? "Max micro-batch" : "Max batch";
  $("th-context").textContent = training ? "Max sequence" : "Max context";
  const rows = (r.fit?.gpus ?? []).map((/** @type {any} */ g) => {
    const selected = g.gpu === r.fit.selected;
    return h("tr", { class: `${g.fits ? "fits" : "nofit"}${selected ? " selected" : ""}`, "data-gpu": g.gpu }, [
      h("th", { scope: "row" }, [
        h("button", { type: "button", class: "link", "data-select-gpu": g.gpu, "aria-pressed": String(selected) }, [g.name]),
      ]),
      h("td", {}, [figure(g.usable_bytes)]),
      h("td", { class: "fit" }, [g.fits ? "✓ fits" : "✗ no"]),
      h("td", {}, [figure(g.headroom_bytes)]),
      h("td", {}, [count(g.max_batch_size)]),
      h("td", {}, [count(g.max_context_length)]),
      h("td", {}, [count(g.gpus_for_weights)]),
    ]);
  });
  $("gpu-rows").replaceChildren(...rows);
}
