// render/form.js: every DOM write inside the form: lists, values, panels, problems, "Default" labels.

import { ALONE, optionsFor } from "../options.js";
import { h } from "./dom.js";

/** @param {Element | null} node @param {boolean} on shown and sent, or hidden and not sent */
function toggle(node, on) {
  if (!node) return;
  /** @type {HTMLElement} */ (node).hidden = !on;
  if (node instanceof HTMLFieldSetElement) node.disabled = !on;
  else for (const c of node.querySelectorAll("input, select, textarea")) /** @type {HTMLInputElement} */ (c).disabled = !on;
}

/** The fieldset group a control belongs to ("inference", "training"; "common" outside both).
 * @param {Element} el */
const groupOf = (el) => /** @type {HTMLElement | null} */ (el.closest("[data-group]"))?.dataset.group ?? "common";

/** Fill every `data-options` list and `data-options-checkboxes` box from the catalog, after
 * the options the page itself has ("Default", "None selected").
 * @param {HTMLFormElement} form @param {Record<string, any>} catalog */
export function fillOptions(form, catalog) {
  for (const select of /** @type {NodeListOf<HTMLSelectElement>} */ (form.querySelectorAll("select[data-options]"))) {
    /** @type {Map<string, HTMLElement>} */
    const groups = new Map();
    for (const o of optionsFor(select.name, catalog, groupOf(select))) {
      const node = /** @type {HTMLOptionElement} */ (h("option", { value: o.value, ...o.attrs }, [o.label]));
      if (!o.group) {
        select.append(node);
        continue;
      }
      let group = groups.get(o.group);
      if (!group) {
        group = h("optgroup", { label: o.group });
        groups.set(o.group, group);
        select.append(group);
      }
      group.append(node);
    }
  }
  for (const box of /** @type {NodeListOf<HTMLElement>} */ (form.querySelectorAll("[data-options-checkboxes]"))) {
    const name = box.dataset.optionsCheckboxes ?? "";
    box.replaceChildren(...optionsFor(name, catalog, groupOf(box)).map((o) => checkbox(name, o.value)));
  }
}

/** @param {string} name @param {string} value */
function checkbox(name, value) {
  const alone = ALONE[name] === value ? { "data-alone": "" } : {};
  return h("label", {}, [h("input", { type: "checkbox", name, value, "data-type": "list", ...alone }), ` ${value}`]);
}

/**
 * Offer `values` (and the list's lone choice, `all-linear`) as the checkboxes of `name`: the
 * model's own LoRA target modules, from each answer. Ticks `chosen` (a list, or the lone
 * value), or, when null, what was ticked and is still offered. The boxes are rebuilt only
 * when the values change, so focus stays where it is.
 * @param {HTMLFormElement} form @param {string} name @param {string[]} values
 * @param {string[] | string | null} chosen
 */
export function setCheckboxChoices(form, name, values, chosen) {
  const box = /** @type {HTMLElement | null} */ (form.querySelector(`[data-options-checkboxes="${CSS.escape(name)}"]`));
  if (!box) return;
  const offered = ALONE[name] ? [...values, ALONE[name]] : values;
  const boxes = () => /** @type {HTMLInputElement[]} */ ([...box.querySelectorAll("input")]);
  const ticked = chosen ?? boxes().filter((c) => c.checked).map((c) => c.value);
  if (boxes().map((c) => c.value).join() !== offered.join()) {
    box.replaceChildren(...offered.map((value) => checkbox(name, value)));
  }
  for (const c of boxes()) c.checked = Array.isArray(ticked) ? ticked.includes(c.value) : ticked === c.value;
  applyDependent(form);
}

/** Show the workload's inputs; disabled fieldsets are not sent.
 * @param {HTMLFormElement} form @param {string} workload inference | finetune | training */
export function showWorkload(form, workload) {
  const training = workload !== "inference";
  toggle(form.querySelector('[data-group="inference"]'), !training);
  toggle(form.querySelector('[data-group="training"]'), training);
  for (const field of form.querySelectorAll("[data-finetune-only]")) toggle(field, workload === "finetune");
  applyDependent(form);
}

/** Panels that depend on other inputs: the engine's flags, LoRA settings, the model source.
 * @param {HTMLFormElement} form */
export function applyDependent(form) {
  const engine = /** @type {HTMLSelectElement | null} */ (form.elements.namedItem("engine"))?.value;
  const inference = !form.querySelector('[data-group="inference"]')?.matches(":disabled");
  for (const set of form.querySelectorAll("[data-engine]")) {
    toggle(set, inference && /** @type {HTMLElement} */ (set).dataset.engine === engine);
  }
  // KV cache dtypes the chosen engine offers; keep the choice valid
  const kv = /** @type {HTMLSelectElement | null} */ (form.elements.namedItem("kv_cache_dtype"));
  if (kv && engine) {
    for (const option of kv.options) {
      const engines = option.dataset.engines;
      option.hidden = option.disabled = Boolean(engines) && !engines?.split(" ").includes(engine);
    }
    if (kv.selectedOptions[0]?.disabled) kv.value = [...kv.options].find((o) => !o.disabled)?.value ?? "";
  }
  const training = form.querySelector('[data-group="training"]');
  const method = /** @type {HTMLSelectElement | null} */ (form.elements.namedItem("method"));
  const trained = training && !training.matches(":disabled") && method && !method.disabled ? method.value : "full";
  toggle(form.querySelector("[data-lora]"), trained === "lora" || trained === "qlora");
  toggle(form.querySelector("[data-qlora]"), trained === "qlora");
  // a lone choice ticked (all-linear) stands for every other box of its list
  for (const alone of /** @type {NodeListOf<HTMLInputElement>} */ (form.querySelectorAll("input[data-alone]"))) {
    for (const other of /** @type {NodeListOf<HTMLInputElement>} */ (form.querySelectorAll(`input[name="${CSS.escape(alone.name)}"]:not([data-alone])`))) {
      other.disabled = alone.checked;
    }
  }
  const gpu = /** @type {HTMLSelectElement | null} */ (form.elements.namedItem("gpu"));
  toggle(form.querySelector("[data-custom-gpu]"), gpu?.selectedOptions[0]?.dataset.object !== undefined);
  const source = /** @type {HTMLInputElement | null} */ (form.querySelector('input[name="source"]:checked'))?.value;
  for (const set of form.querySelectorAll("[data-source]")) {
    toggle(set, /** @type {HTMLElement} */ (set).dataset.source === source);
  }
  // the hub's hidden config holder stays out of the tab order and the accessibility tree
  const holder = form.querySelector('[data-source="hub"] textarea');
  if (holder) /** @type {HTMLElement} */ (holder).hidden = true;
}

/** @param {HTMLFormElement} form @param {string} source */
export function setSource(form, source) {
  const radio = /** @type {HTMLInputElement | null} */ (form.querySelector(`input[name="source"][value="${CSS.escape(source)}"]`));
  if (radio) radio.checked = true;
  applyDependent(form);
}

/**
 * Set controls from request values (flattened: "lora.rank" -> 16); returns what did not fit.
 * @param {HTMLFormElement} form @param {Record<string, any>} flat @param {string} [only] a source panel
 * @returns {string[]} names whose value no control accepts
 */
export function fillForm(form, flat, only) {
  const rejected = [];
  const scope = only ? form.querySelector(`[data-source="${CSS.escape(only)}"]`) ?? form : form;
  for (const [name, value] of Object.entries(flat)) {
    const controls = /** @type {NodeListOf<HTMLInputElement | HTMLSelectElement | HTMLTextAreaElement>} */ (
      scope.querySelectorAll(`[name="${CSS.escape(name)}"]:not([data-ui])`)
    );
    for (const el of controls) {
      if (el instanceof HTMLInputElement && el.type === "checkbox") {
        // a list's boxes take a list or a lone value ("all-linear"); a single box a boolean
        el.checked = Array.isArray(value) ? value.includes(el.value)
          : el.dataset.type === "list" ? value === el.value : Boolean(value);
      } else if (el instanceof HTMLTextAreaElement && el.dataset.type === "json") {
        el.value = value == null ? "" : JSON.stringify(value, null, 2);
      } else if (el instanceof HTMLSelectElement) {
        const text = value == null ? "" : String(value);
        if ([...el.options].some((o) => o.value === text)) el.value = text;
        else rejected.push(name);
      } else {
        const scale = Number(el.dataset.scale ?? 1);
        el.value = value == null ? "" : typeof value === "number" ? String(value / scale) : String(value);
        if (value != null && el.value === "") rejected.push(name);
        if (el.value !== "") el.closest("details")?.setAttribute("open", ""); // keep set values in view
      }
    }
  }
  applyDependent(form);
  return [...new Set(rejected)];
}

/** Hide presets that do not match every word of the query. A word matches the start of a
 * word of the preset's id, name or family ("8" finds "Qwen3 8B", not "14.8 B"); a word with
 * punctuation ("llama-3.1") matches anywhere.
 * @param {HTMLSelectElement} select @param {string} query */
export function filterPresets(select, query) {
  const words = query.toLowerCase().split(/\s+/).filter(Boolean);
  for (const option of select.options) {
    const text = `${option.value} ${option.text} ${option.parentElement?.getAttribute("label") ?? ""}`.toLowerCase();
    const tokens = text.split(/[^a-z0-9.]+/).filter(Boolean);
    option.hidden = !words.every((w) =>
      /[^a-z0-9]/.test(w) ? text.includes(w) : tokens.some((t) => t.startsWith(w)));
  }
  for (const group of select.querySelectorAll("optgroup")) {
    /** @type {HTMLElement} */ (group).hidden = [...group.children].every((o) => /** @type {HTMLElement} */ (o).hidden);
  }
}

/** @param {HTMLFormElement} form */
export function clearFieldProblems(form) {
  for (const el of form.querySelectorAll('[aria-invalid="true"]')) el.removeAttribute("aria-invalid");
  for (const p of form.querySelectorAll(".problem")) {
    /** @type {HTMLElement} */ (p).hidden = true;
    p.textContent = "";
  }
}

/** Each problem next to the enabled control named after its field; returns those that have none.
 * @param {HTMLFormElement} form @param {{field: string, message: string}[]} problems
 * @returns {{field: string, message: string}[]} */
export function markProblems(form, problems) {
  clearFieldProblems(form);
  const unplaced = [];
  for (const problem of problems) {
    let control = [...form.querySelectorAll(`[name="${CSS.escape(problem.field)}"]`)].find((el) => !el.matches(":disabled"));
    const at = /** @type {HTMLElement | undefined} */ (control)?.dataset.problemAt;
    if (at) control = form.querySelector(`[name="${CSS.escape(at)}"]`) ?? control; // a hidden holder
    const slot = control?.closest(".field, fieldset")?.querySelector(".problem");
    if (control && slot) {
      control.setAttribute("aria-invalid", "true");
      slot.textContent = problem.message;
      /** @type {HTMLElement} */ (slot).hidden = false;
    } else unplaced.push(problem);
  }
  return unplaced;
}

/** Say what "Default" and "auto" stand for, from the engine's normalized request.
 * @param {HTMLFormElement} form @param {Record<string, any>} request */
export function showDefaults(form, request) {
  for (const el of form.querySelectorAll("[data-auto][name]")) {
    const control = /** @type {HTMLInputElement | HTMLSelectElement} */ (el);
    if (control.matches(":disabled")) continue;
    const value = control.name.split(".").reduce((node, key) => node?.[key], /** @type {any} */ (request));
    if (control instanceof HTMLSelectElement) {
      const option = control.options[0];
      const chosen = [...control.options].find((o) => o.value !== "" && o.value === String(value));
      option.textContent = value == null ? "Default" : `Default (${chosen?.text ?? String(value)})`;
    } else if (control.type === "number") {
      const scale = Number(control.dataset.scale ?? 1);
      control.placeholder = value == null ? "auto" : `auto: ${+(value / scale).toFixed(2)}`;
    }
  }
}
