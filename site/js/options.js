// options.js: the choices each list of the form offers, all read from vramcalc.catalog().

/**
 * @typedef {{value: string, label: string, group: string, attrs: Record<string, string>}} Option
 */

/** catalog.choices keys that differ from the request field a list sets */
const CHOICE_KEYS = /** @type {Record<string, string>} */ ({
  "llama_cpp.cache_type_k": "llama_cpp.cache_type",
  "llama_cpp.cache_type_v": "llama_cpp.cache_type",
  "lora.target_modules": "lora_target_modules",
  "qlora.quant_type": "qlora_quant_type",
});

/** The gpu list's choice for a GPU the request describes itself (its `gpu` object, whose
 * fields the inputs named `gpu.*` set); the package's id of that GPU's fit row. */
export const CUSTOM_GPU = "custom";

/** Checkbox lists with a choice that stands alone: sent as the field's whole value, never in
 * a list (the contract's `"all-linear"`). */
export const ALONE = /** @type {Record<string, string>} */ ({ "lora.target_modules": "all-linear" });

/** @param {string} value @param {string} label @param {string} [group] @param {Record<string, string>} [attrs] @returns {Option} */
const option = (value, label, group = "", attrs = {}) => ({ value, label, group, attrs });

/** @param {Record<string, any>} preset */
function presetLabel(preset) {
  return preset.parameters ? `${preset.name} · ${(preset.parameters / 1e9).toFixed(1)} B` : String(preset.name);
}

/**
 * The options of the list that sets `name`; `group` is the form's fieldset ("training" lists
 * have their own choices). Throws when the catalog has none: a list must never be empty.
 * @param {string} name @param {Record<string, any>} catalog @param {string} group
 * @returns {Option[]}
 */
export function optionsFor(name, catalog, group) {
  switch (name) {
    case "model.preset":
      return catalog.presets.map((/** @type {any} */ p) => option(p.id, presetLabel(p), p.family ?? ""));
    case "gpu":
      return catalog.gpus.map((/** @type {any} */ g) => option(g.id, g.name, (g.vendor ?? "").toUpperCase()));
    case "weight_format":
      return catalog.weight_formats.map((/** @type {any} */ f) => option(f.id, f.label ?? f.id, f.kind ?? ""));
    case "kv_cache_dtype": // each dtype names the engines that offer it
      return catalog.kv_cache_dtypes.map((/** @type {any} */ f) =>
        option(f.id, f.label ?? f.id, "", { "data-engines": (f.engines ?? []).join(" ") }));
    case "framework":
      return catalog.frameworks.map((/** @type {any} */ f) => option(f.id, f.name ?? f.id));
  }
  const choices = group === "training" ? catalog.choices.training : catalog.choices;
  const values = choices?.[CHOICE_KEYS[name] ?? name];
  if (!Array.isArray(values)) throw new Error(`vramcalc.catalog() has no list for ${name} (${group})`);
  return values.map((v) => option(String(v), String(v)));
}
