// main.js: wires the page: state from the URL, the form, the Python worker and the renderer.

import { connect } from "./bridge.js";
import { reportHeight, snippet } from "./embed.js";
import { message } from "./errors.js";
import { flatten, readRequest, schema } from "./form.js";
import { lookUp } from "./hub.js";
import { registerServiceWorker } from "./offline.js";
import * as render from "./render.js";
import { decode, encode } from "./state.js";

const data = JSON.parse(/** @type {HTMLElement} */ (document.getElementById("page-data")).textContent ?? "{}");
const defaults = data.defaults;
const form = /** @type {HTMLFormElement} */ (document.getElementById("calc"));
const fields = schema(form);
const byId = (/** @type {string} */ id) => /** @type {HTMLElement} */ (document.getElementById(id));

/** @type {Record<string, string>} */
const AXIS_LABELS = {
  context_length: "Context length",
  batch_size: "Batch size",
  sequence_length: "Sequence length",
  micro_batch_size: "Micro-batch size",
};

const app = {
  view: defaults.view,
  workload: defaults.view, // inference | finetune | training: what the form describes
  source: "preset",
  axis: "",
  embed: false,
  /** @type {import("./bridge.js").Bridge | null} */
  bridge: null,
  /** @type {Promise<import("./bridge.js").Bridge>} resolves once Python is ready */
  started: new Promise(() => {}),
  failed: false,
  live: false,
  busy: false,
  again: false,
  /** @type {number | null} when the latest edit happened, while live */
  editedAt: null,
  /** @type {Set<string> | null} fields a link set, until its first computation */
  linked: null,
  /** @type {import("./bridge.js").Result | null} */
  result: null,
  /** @type {string[]} what a link set that could not be used */
  invalid: [],
};

const modeOf = (/** @type {string} */ workload) => (workload === "inference" ? "inference" : "training");
const axes = () => defaults.axes[modeOf(app.workload)];
const ctx = () => ({ axisLabel: AXIS_LABELS[app.axis] ?? app.axis, workload: app.workload });

/** The view's default inputs, without the model and GPU (those carry over): the engine's
 * normalized values, except that inputs left to the engine ("Default", "auto") stay so unless
 * the page's default request sets them. */
function viewDefaults(/** @type {string} */ workload) {
  const flat = flatten(data.prerendered[workload].response.request ?? {}); // none if the engine lacks the mode
  for (const el of form.querySelectorAll("[data-auto][name]")) flat[/** @type {HTMLInputElement} */ (el).name] = null;
  Object.assign(flat, flatten(defaults.requests[workload]));
  for (const key of Object.keys(flat)) {
    if (key.startsWith("model.") || key === "gpu" || key === "mode") delete flat[key];
  }
  return flat;
}

async function boot() {
  const decoded = await decode(location.search, fields);
  app.embed = decoded.page.embed;
  app.view = decoded.page.view;
  const linkedMode = new URLSearchParams(location.search).get("mode");
  app.workload = app.view === "gpus" ? (linkedMode === "training" ? "finetune" : "inference") : app.view;
  app.axis = axes().includes(decoded.page.axis) ? decoded.page.axis : axes()[0];
  if (decoded.page.axis && !axes().includes(decoded.page.axis)) decoded.invalid.push(`axis=${decoded.page.axis}`);
  render.showView(form, app.view, app.workload);
  if (app.workload !== defaults.view) render.fillForm(form, viewDefaults(app.workload));
  render.renderAxis(axes(), app.axis, (a) => AXIS_LABELS[a] ?? a);
  render.renderVersion(`Version ${data.prerendered[defaults.view].response.vramcalc_version}.`);

  if (decoded.empty) {
    const prerendered = data.prerendered[app.workload];
    if (prerendered.response.error) render.renderProblems(form, prerendered.response.error.problems);
    else {
      app.result = { ...prerendered, request: defaults.requests[app.workload] };
      render.renderResult(app.result, ctx());
      render.showDefaults(form, prerendered.response.request);
    }
    render.renderStatus("Precomputed for these inputs; Python is starting for your changes…");
  } else {
    app.source = decoded.page.source;
    render.setSource(form, app.source);
    if (decoded.config) render.fillForm(form, { "model.config": decoded.config }, app.source);
    const rejected = render.fillForm(form, decoded.values);
    if (decoded.unknown.length) render.renderNotice("url-unknown", message("url-unknown"), { items: decoded.unknown });
    app.invalid = [...decoded.invalid, ...rejected.map((k) => `${k}=${String(decoded.values[k])}`)];
    if (app.invalid.length) {
      render.renderNotice("url-invalid", message("url-invalid"), { items: app.invalid });
      render.fillForm(form, pick(viewDefaults(app.workload), rejected));
    }
    app.linked = new Set(Object.keys(decoded.values));
    render.renderPending("Computing the inputs of this link as soon as Python is ready…");
  }
  delete document.documentElement.dataset.pending;
  performance.mark("vramcalc:first-render");
  if (app.embed) reportHeight();
  wire();
  app.started = connect();
  app.started.then(
    (bridge) => {
      app.bridge = bridge;
      compute();
    },
    (error) => fail("python-start", error),
  );
}

/** @param {Record<string, any>} flat @param {string[]} keys */
function pick(flat, keys) {
  return Object.fromEntries(keys.filter((k) => k in flat).map((k) => [k, flat[k]]));
}

function edited() {
  app.editedAt = app.live ? performance.now() : null;
  render.applyDependent(form);
  compute();
}

async function compute() {
  const fixed = app.workload === "training" ? { method: "full" } : {};
  const { request, problems } = readRequest(form, { mode: modeOf(app.workload), fixed });
  if (problems.length) {
    render.renderProblems(form, problems);
    return;
  }
  if (!app.bridge) {
    render.renderPending(app.failed ? message("python-start") : "Python is starting: your change is computed as soon as it is ready…");
    return;
  }
  if (app.busy) {
    app.again = true;
    return;
  }
  app.busy = true;
  const editedAt = app.editedAt;
  try {
    const asked = performance.now();
    const result = await app.bridge.compute(request, { field: app.axis, values: defaults.series[app.axis] });
    performance.measure("vramcalc:python", { start: asked, end: performance.now() });
    if (!app.again) await show(result, request, editedAt);
  } catch (error) {
    fail("python-crash", error);
  } finally {
    app.busy = false;
    if (app.again) {
      app.again = false;
      compute();
    }
  }
}

/** @param {import("./bridge.js").Result} result @param {object} request @param {number | null} editedAt */
async function show(result, request, editedAt) {
  const error = result.response.error;
  if (!app.live) {
    app.live = true;
    render.setState("live");
    performance.mark("vramcalc:live");
    render.renderStatus("");
    registerServiceWorker({ onOffline, onUpdate }).catch(() => {});
  }
  if (error) {
    const linked = app.linked;
    app.linked = null;
    const bad = linked ? error.problems.filter((/** @type {any} */ p) => linked.has(p.field)) : [];
    if (bad.length) {
      // a link with values the engine rejects: say so, and use the defaults for those
      app.invalid.push(...bad.map((/** @type {any} */ p) => `${p.field}: ${p.message}`));
      render.renderNotice("url-invalid", message("url-invalid"), { items: app.invalid });
      render.fillForm(form, pick(viewDefaults(app.workload), bad.map((/** @type {any} */ p) => p.field)));
      app.again = true;
      return;
    }
    render.renderProblems(form, error.problems);
    return;
  }
  app.linked = null;
  app.result = { ...result, request };
  const drawn = performance.now();
  render.clearProblems(form);
  render.renderResult(app.result, ctx());
  render.showDefaults(form, result.response.request);
  performance.measure("vramcalc:render", { start: drawn, end: performance.now() });
  if (editedAt !== null) {
    performance.mark("vramcalc:rendered");
    // painted: the frame after the DOM writes has been drawn
    requestAnimationFrame(() =>
      setTimeout(() => performance.measure("vramcalc:update", { start: editedAt, end: performance.now() })),
    );
  }
  // the URL can wait until the figures are on screen
  await new Promise((resolve) => requestAnimationFrame(() => setTimeout(resolve)));
  await saveUrl(request);
}

/** @param {object} request */
async function saveUrl(request) {
  const query = await encode({ ...pageState(), embed: app.embed }, request, axes()[0]);
  if (query !== location.search) history.replaceState(null, "", query);
  const full = await encode({ ...pageState(), embed: false }, request, axes()[0]);
  render.setHref(/** @type {HTMLAnchorElement} */ (byId("open-full")), full);
}

const pageState = () => ({ view: app.view, source: app.source, axis: app.axis });

/** @param {string} code @param {unknown} error */
function fail(code, error) {
  app.failed = code === "python-start";
  render.setState("error");
  render.renderBanner(message(code));
  if (app.failed) render.renderStatus("");
  console.warn(code, error);
}

/** @param {boolean} offline */
function onOffline(offline) {
  if (offline) render.renderNotice("offline", message("offline"));
  else render.removeNotice("offline");
}

/** @param {() => void} apply */
function onUpdate(apply) {
  render.renderNotice("update", message("update"), { action: { label: "Reload", run: apply } });
}

/** @param {string} view */
function switchView(view) {
  const workload = view === "gpus" ? app.workload : view;
  render.showView(form, view, workload);
  if (workload !== app.workload) render.fillForm(form, viewDefaults(workload));
  app.view = view;
  app.workload = workload;
  if (!axes().includes(app.axis)) app.axis = axes()[0];
  render.renderAxis(axes(), app.axis, (a) => AXIS_LABELS[a] ?? a);
  edited();
}

/** @param {string} source */
function switchSource(source) {
  app.source = source;
  render.setSource(form, source);
  edited();
}

async function hubFetch() {
  const id = /** @type {HTMLInputElement} */ (form.elements.namedItem("model.name")).value.trim();
  render.renderHubStatus(app.bridge ? "Fetching config.json…" : "Waiting for Python, then fetching config.json…");
  let found;
  try {
    found = await lookUp(id, await app.started);
  } catch {
    render.renderHubStatus(message("python-start"), [], true); // Python never started
    return;
  }
  if (found.config) {
    render.fillForm(form, { "model.config": found.config }, "hub");
    render.renderHubStatus(`Loaded config.json of ${id}.`);
    edited();
    return;
  }
  const next = [
    { label: "Paste config.json", run: () => switchSource("config") },
    { label: "Describe it manually", run: () => switchSource("manual") },
    { label: "Pick a preset", run: () => switchSource("preset") },
  ];
  render.renderHubStatus(found.message ?? "", found.status === "invalid_id" ? [] : next, true);
}

/** @param {string} text @param {HTMLElement} button */
async function copy(text, button) {
  try {
    await navigator.clipboard.writeText(text);
    render.flash(button, "Copied");
  } catch {
    render.showCopyFallback(text, message("clipboard"));
  }
}

function shareUrl(embed = false) {
  const url = new URL(location.href);
  if (embed) url.searchParams.set("embed", "1");
  else url.searchParams.delete("embed");
  return url.href;
}

function wire() {
  form.addEventListener("submit", (e) => e.preventDefault());
  form.addEventListener("input", (e) => {
    const target = /** @type {HTMLInputElement} */ (e.target);
    if (target.id === "preset-filter") {
      render.filterPresets(/** @type {HTMLSelectElement} */ (form.elements.namedItem("model.preset")), target.value);
      return;
    }
    if (target.type === "file") return;
    if (target.name === "source") {
      switchSource(target.value);
      return;
    }
    if (target.name === "model.name") render.fillForm(form, { "model.config": null }, "hub");
    edited();
  });
  form.addEventListener("change", async (e) => {
    const input = /** @type {HTMLInputElement} */ (e.target);
    if (input.id !== "config-file" || !input.files?.[0]) return;
    try {
      render.fillForm(form, { "model.config": JSON.parse(await input.files[0].text()) }, "config");
    } catch {
      render.renderNotice("config-file", message("config-file"));
      return;
    }
    edited();
  });
  byId("hub-fetch").addEventListener("click", hubFetch);
  byId("f-model.name").addEventListener("keydown", (e) => {
    if (e.key === "Enter") {
      e.preventDefault();
      hubFetch();
    }
  });
  for (const link of document.querySelectorAll("nav.views a")) {
    link.addEventListener("click", (e) => {
      e.preventDefault();
      switchView(/** @type {HTMLElement} */ (link).dataset.view ?? "inference");
    });
  }
  byId("axis").addEventListener("change", (e) => {
    app.axis = /** @type {HTMLInputElement} */ (e.target).value;
    compute();
  });
  byId("gpu-rows").addEventListener("click", (e) => {
    const button = /** @type {HTMLElement} */ (e.target).closest("[data-select-gpu]");
    if (!button) return;
    render.fillForm(form, { gpu: /** @type {HTMLElement} */ (button).dataset.selectGpu });
    edited();
  });
  byId("share").addEventListener("click", (e) => copy(shareUrl(), /** @type {HTMLElement} */ (e.currentTarget)));
  byId("embed").addEventListener("click", () => render.openEmbedDialog(snippet(shareUrl(true))));
  byId("embed-copy").addEventListener("click", (e) =>
    copy(/** @type {HTMLTextAreaElement} */ (byId("embed-code")).value, /** @type {HTMLElement} */ (e.currentTarget)),
  );
  byId("copy-json").addEventListener("click", (e) => {
    if (app.result) copy(JSON.stringify(app.result.response, null, 2), /** @type {HTMLElement} */ (e.currentTarget));
  });
  byId("download-json").addEventListener("click", () => {
    if (!app.result) return;
    const r = app.result.response;
    const name = `vramcalc-${String(r.model.name).replace(/[^\w.-]+/g, "_")}-${app.workload}.json`;
    render.download(name, JSON.stringify(r, null, 2));
  });
  byId("raw").addEventListener("toggle", () => {
    if (/** @type {HTMLDetailsElement} */ (byId("raw")).open && app.result) render.renderRaw(app.result);
  });
}

boot();
