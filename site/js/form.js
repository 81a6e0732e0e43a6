// form.js: reads the form into a request; each control's name is the request field it sets.

import { parseBounded } from "./json.js";

/**
 * @typedef {{field: string, message: string}} Problem
 * @typedef {"number" | "bool" | "list" | "select" | "text" | "json"} Kind
 * @typedef {{kind: Kind, int: boolean, bool: boolean, scale: number, auto: boolean, options: string[] | null}} Control
 * @typedef {HTMLInputElement | HTMLSelectElement | HTMLTextAreaElement} Element
 */

/** @param {Element} el @returns {Kind} */
function kindOf(el) {
  if (el instanceof HTMLSelectElement) return "select";
  if (el instanceof HTMLTextAreaElement) return el.dataset.type === "json" ? "json" : "text";
  if (el.type === "checkbox") return el.dataset.type === "list" ? "list" : "bool";
  if (el.type === "number") return "number";
  return "text";
}

/** Named controls that set request fields (UI-only controls carry data-ui).
 * @param {HTMLFormElement} form @returns {Element[]} */
function fieldControls(form) {
  return /** @type {Element[]} */ ([...form.elements]).filter(
    (el) => el.name && !("ui" in el.dataset) && el.type !== "file" && el.type !== "button",
  );
}

/** Every request field the form knows, with how to type its value.
 * @param {HTMLFormElement} form @returns {Map<string, Control>} */
export function schema(form) {
  const fields = new Map();
  for (const el of fieldControls(form)) {
    if (fields.has(el.name)) continue;
    fields.set(el.name, {
      kind: kindOf(el),
      int: el.dataset.type === "int" || (el.type === "number" && el.dataset.type !== "float"),
      bool: el.dataset.type === "bool",
      scale: Number(el.dataset.scale ?? 1),
      auto: "auto" in el.dataset,
      options:
        el instanceof HTMLSelectElement
          ? [...el.options].map((o) => o.value)
          : el.dataset.type === "list"
            ? [...form.querySelectorAll(`input[name="${CSS.escape(el.name)}"]`)].map((c) => c.value)
            : null,
    });
  }
  return fields;
}

/** @param {Record<string, any>} target @param {string} path dotted @param {any} value */
function setPath(target, path, value) {
  const keys = path.split(".");
  let node = target;
  for (const key of keys.slice(0, -1)) node = node[key] ??= {};
  node[keys.at(-1)] = value;
}

/** @param {Record<string, any>} source @param {string} path dotted */
function getPath(source, path) {
  return path.split(".").reduce((node, key) => (node == null ? undefined : node[key]), source);
}

/**
 * The request the enabled controls describe, or the problems that stop it being sent.
 * @param {HTMLFormElement} form
 * @param {{mode: string, fixed: Record<string, any>}} base mode and fields the view fixes
 * @returns {{request: Record<string, any>, problems: Problem[]}}
 */
export function readRequest(form, base) {
  /** @type {Record<string, any>} */
  const request = { mode: base.mode };
  /** @type {Problem[]} */
  const problems = [];
  for (const el of fieldControls(form)) {
    if (el.matches(":disabled")) continue;
    const kind = kindOf(el);
    const problem = (message) => problems.push({ field: el.name, message });
    if (kind === "list") {
      // ticked boxes make a list; a box marked data-alone ("all-linear") is the whole value;
      // none ticked leaves the field out (the package's default)
      const input = /** @type {HTMLInputElement} */ (el);
      const chosen = getPath(request, el.name);
      if (!input.checked || typeof chosen === "string") continue;
      setPath(request, el.name, "alone" in input.dataset ? input.value : [...(chosen ?? []), input.value]);
    } else if (kind === "bool") {
      setPath(request, el.name, /** @type {HTMLInputElement} */ (el).checked);
    } else if (kind === "number") {
      const input = /** @type {HTMLInputElement} */ (el);
      if (input.validity.badInput) problem("must be a number");
      else if (input.value === "") {
        if (!("auto" in el.dataset)) problem("required");
      } else {
        const scale = Number(el.dataset.scale ?? 1);
        const value = Number(input.value) * scale;
        setPath(request, el.name, scale === 1 ? value : Math.round(value));
      }
    } else if (kind === "select") {
      // an option marked data-object ("Custom GPU…"): the controls named `<field>.*` set it
      if (/** @type {HTMLSelectElement} */ (el).selectedOptions[0]?.dataset.object !== undefined) continue;
      const value = el.value;
      const type = el.dataset.type;
      if (value === "") {
        if (!("auto" in el.dataset)) setPath(request, el.name, null); // "Default": left to the engine
      } else setPath(request, el.name, type === "int" ? Number(value) : type === "bool" ? value === "true" : value);
    } else if (kind === "json") {
      const text = el.value.trim();
      if (text === "") problem(el.dataset.emptyMessage ?? "required");
      else {
        try {
          const value = parseBounded(text, "the config");
          if (value && typeof value === "object" && !Array.isArray(value)) setPath(request, el.name, value);
          else problem("must be a JSON object");
        } catch (error) {
          problem(`is not valid JSON: ${/** @type {Error} */ (error).message}`);
        }
      }
    } else {
      const value = el.value.trim();
      if (value !== "") setPath(request, el.name, value);
      else if (!("auto" in el.dataset)) problem("required");
    }
  }
  for (const [path, value] of Object.entries(base.fixed)) setPath(request, path, value);
  return { request, problems };
}

/** {"a": {"b": 1}} -> {"a.b": 1}; model.config stays whole unless `configFields`.
 * @param {Record<string, any>} value @param {boolean} [configFields] @param {string} [prefix]
 * @returns {Record<string, any>} */
export function flatten(value, configFields = false, prefix = "") {
  /** @type {Record<string, any>} */
  const flat = {};
  for (const [key, item] of Object.entries(value)) {
    const name = prefix + key;
    const whole = name === "model.config" && !configFields;
    if (item && typeof item === "object" && !Array.isArray(item) && !whole) {
      Object.assign(flat, flatten(item, configFields, `${name}.`));
    } else flat[name] = item;
  }
  return flat;
}
