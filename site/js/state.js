// state.js: the page's state in the URL query, both ways: a link reproduces the inputs exactly.

import { flatten } from "./form.js";
import { parseBounded } from "./json.js";
import { CUSTOM_GPU } from "./options.js";

const VIEWS = ["inference", "finetune", "training", "gpus"];
const SOURCES = ["preset", "hub", "config", "manual"];

/**
 * @typedef {{view: string, source: string, axis: string, embed: boolean}} Page
 * @typedef {{page: Page, values: Record<string, any>, config: Record<string, any> | null,
 *   unknown: string[], invalid: string[], empty: boolean}} Decoded
 */

/** @param {Uint8Array} bytes */
const toBase64Url = (bytes) =>
  btoa(String.fromCharCode(...bytes)).replaceAll("+", "-").replaceAll("/", "_").replace(/=+$/, "");

/** @param {string} text */
const fromBase64Url = (text) =>
  Uint8Array.from(atob(text.replaceAll("-", "+").replaceAll("_", "/")), (c) => c.charCodeAt(0));

/** @param {Uint8Array} bytes @param {CompressionStream | DecompressionStream} stream */
async function pipe(bytes, stream) {
  const out = new Response(new Blob([bytes]).stream().pipeThrough(stream));
  return new Uint8Array(await out.arrayBuffer());
}

/** A config.json as a short URL value: "z" + base64url(deflate(JSON)). @param {object} config */
async function packConfig(config) {
  const json = new TextEncoder().encode(JSON.stringify(config));
  return "z" + toBase64Url(await pipe(json, new CompressionStream("deflate-raw")));
}

/** @param {string} text a packConfig value, or plain JSON @returns {Promise<object>} */
async function unpackConfig(text) {
  const json = text.startsWith("z")
    ? new TextDecoder().decode(await pipe(fromBase64Url(text.slice(1)), new DecompressionStream("deflate-raw")))
    : text;
  const config = parseBounded(json, "model.config");
  if (!config || typeof config !== "object" || Array.isArray(config)) throw new Error("not an object");
  return config;
}

/** @param {any} value a request value @returns {string} its URL form */
function show(value) {
  if (value === null || value === undefined) return "";
  if (Array.isArray(value)) return value.join(",");
  return String(value);
}

/**
 * The query string for a page state and the request its form sends.
 * @param {Page} page @param {Record<string, any>} request @param {string} defaultAxis
 */
export async function encode(page, request, defaultAxis) {
  const params = new URLSearchParams();
  params.set("view", page.view);
  if (page.source !== "preset") params.set("source", page.source);
  if (page.axis !== defaultAxis) params.set("axis", page.axis);
  if (page.embed) params.set("embed", "1");
  const { model, ...rest } = request;
  const manual = page.source === "manual";
  for (const [key, value] of Object.entries(flatten({ model }, manual))) {
    params.set(key, key === "model.config" ? await packConfig(value) : show(value));
  }
  for (const [key, value] of Object.entries(flatten(rest))) params.set(key, show(value));
  return `?${params}`;
}

/**
 * Read page state and request values from a query string, typed by the form's controls.
 * @param {string} search location.search
 * @param {Map<string, import("./form.js").Control>} fields from form.schema()
 * @returns {Promise<Decoded>}
 */
export async function decode(search, fields) {
  const params = new URLSearchParams(search);
  const page = { view: "inference", source: "preset", axis: "", embed: params.get("embed") === "1" };
  /** @type {Decoded} */
  const out = { page, values: {}, config: null, unknown: [], invalid: [], empty: true };
  for (const [key, raw] of params) {
    if (key === "embed") continue;
    if (key === "view") {
      if (VIEWS.includes(raw)) page.view = raw;
      else out.invalid.push(`view=${raw}`);
      continue;
    }
    out.empty = false;
    if (key === "source") {
      if (SOURCES.includes(raw)) page.source = raw;
      else out.invalid.push(`source=${raw}`);
    } else if (key === "axis") page.axis = raw;
    else if (key === "model.config") {
      try {
        out.config = await unpackConfig(raw);
      } catch (error) {
        out.invalid.push(error instanceof RangeError ? `model.config: ${error.message}` : "model.config");
      }
    } else if (key === "mode") {
      continue; // follows from the view
    } else if (!fields.has(key)) out.unknown.push(key);
    else {
      const value = parse(raw, /** @type {import("./form.js").Control} */ (fields.get(key)));
      if (value === undefined) out.invalid.push(`${key}=${raw}`);
      else out.values[key] = value;
    }
  }
  // a GPU described field by field (gpu.memory_bytes=...) is the custom GPU, even when one
  // of its fields is invalid: the fields given are shown, and one missing is named there
  if ([...params.keys()].some((k) => k.startsWith("gpu."))) {
    if (params.has("gpu") && params.get("gpu") !== CUSTOM_GPU) out.invalid.push(`gpu=${params.get("gpu")}`);
    out.values.gpu = CUSTOM_GPU;
  }
  if (Object.keys(out.values).some((k) => k.startsWith("model.config."))) page.source = "manual";
  else if (out.config && page.source !== "hub") page.source = "config";
  else if (page.source !== "preset" && !out.config) page.source = "preset";
  return out;
}

/** @param {string} raw @param {import("./form.js").Control} control @returns {any} undefined if invalid */
function parse(raw, control) {
  switch (control.kind) {
    case "number": {
      if (raw === "") return control.auto ? null : undefined;
      const n = Number(raw);
      return Number.isFinite(n) ? n : undefined;
    }
    case "bool":
      return raw === "true" ? true : raw === "false" ? false : undefined;
    case "list": {
      const items = raw === "" ? [] : raw.split(",");
      return items.every((i) => control.options?.includes(i)) ? items : undefined;
    }
    case "select": {
      if (!control.options?.includes(raw)) return undefined;
      if (raw === "") return null;
      return control.int ? Number(raw) : control.bool ? raw === "true" : raw;
    }
    default:
      return raw;
  }
}
