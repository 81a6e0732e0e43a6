// render/fit-changes.js: every DOM write in the ranked changes under the verdict: what makes the
// request fit on the chosen GPU, or, on demand when it fits, how much bigger it can run. Each
// entry is vramcalc.fit_changes' own (label, total, cost in words); "Apply" sets its fields.

import { byId as $, figure, h } from "./dom.js";

/** @type {Record<string, string>} fit_changes' cost classes, as the page says them */
const COSTS = {
  free: "free",
  speed: "slower",
  quality: "results may differ a little",
  workload: "a smaller job",
  hardware: "more GPUs",
};

/** New inputs: the old list no longer applies. @param {boolean | null} fits the chosen GPU's
 * verdict (null: no GPU chosen, nothing to offer) */
export function clearFitChanges(fits) {
  $("fit-changes").hidden = true;
  $("fit-change-list").replaceChildren();
  $("fit-bigger").hidden = fits !== true;
}

/** Say that the list is being worked out (the request does not fit). */
export function renderFitChangesPending() {
  $("fit-changes-title").textContent = "Looking for changes that make it fit…";
  $("fit-change-list").replaceChildren();
  $("fit-changes").hidden = false;
}

/**
 * @param {Record<string, any>} answer what vramcalc.fit_changes returned
 * @param {(changes: Record<string, any>) => boolean} settable whether the page has inputs for them
 * @param {(changes: Record<string, any>) => void} apply sets them and computes
 */
export function renderFitChanges(answer, settable, apply) {
  $("fit-bigger").hidden = true;
  const title = $("fit-changes-title");
  const list = $("fit-change-list");
  $("fit-changes").hidden = false;
  if (answer.error) {
    const first = answer.error.problems?.[0];
    title.textContent = `No changes were worked out: ${first ? `${first.field ? `${first.field}: ` : ""}${first.message}` : "unknown problem"}`;
    list.replaceChildren();
    return;
  }
  const name = answer.target?.name ?? "this GPU";
  /** @type {Record<string, any>[]} */
  let items;
  if (answer.outcome === "fits") {
    items = answer.bigger ?? [];
    title.textContent = `What fits bigger on ${name}:`;
  } else if (answer.outcome === "changes") {
    items = answer.suggestions ?? [];
    title.textContent = `Changes that make it fit on ${name}, cheapest first:`;
  } else {
    items = answer.closest ?? [];
    title.textContent = `Nothing tried fits on ${name}; the closest tries:`;
  }
  list.replaceChildren(
    ...items.map((s, i) => {
      const canApply = settable(s.changes);
      const button = h("button", { type: "button", class: "link", "data-apply": String(i) }, ["Apply"]);
      button.addEventListener("click", () => apply(s.changes));
      return h("li", { "data-suggestion": String(i), "data-cost-class": s.cost_class ?? "gain" }, [
        h("strong", {}, [s.label]),
        " → ",
        figure(s.total_bytes),
        s.cost_class ? ` (${COSTS[s.cost_class] ?? s.cost_class}) ` : " ",
        canApply ? button : h("span", { class: "help" }, ["(set it in the request JSON) "]),
        h("span", { class: "help" }, [s.cost ?? s.gain ?? ""]),
      ]);
    }),
  );
  if (!items.length) list.replaceChildren(h("li", {}, ["none found"]));
}
