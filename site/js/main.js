// main.js: wires the page: state from the URL, the form, the Python worker and the renderers.

import { connect } from "./bridge.js";
import { reportHeight, snippet } from "./embed.js";
import { message } from "./errors.js";
import { flatten, readRequest, schema } from "./form.js";
import { lookUp } from "./hub.js";
import { parseBounded } from "./json.js";
import { registerServiceWorker } from "./offline.js";
import { CUSTOM_GPU } from "./options.js";
import { data, workloadOf } from "./prerendered.js";
import { renderAxis, renderChart } from "./render/chart.js";
import { clearFitChanges, renderFitChanges, renderFitChangesPending } from "./render/fit-changes.js";
import { renderFitTable } from "./render/fit-table.js";
import * as inputs from "./render/form.js";
import { removeNotice, renderBanner, renderHubStatus, renderNotice } from "./render/notices.js";
import * as frame from "./render/page.js";
import * as results from "./render/result.js";
import { decode, encode } from "./state.js";

/** defaults.json: each view's default request, the chart's axes */
const defaults = data.defaults;
/** vramcalc.catalog(): the form's lists and the engine's defaults */
const catalog = data.catalog;
const form = /** @type {HTMLFormElement} */ (document.getElementById("calc"));
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
  /** canonical JSON of the model whose LoRA target modules the checkboxes offer */
  targetsModel: "",
  /** @type {string[] | null} targets ticked for another model, kept where the new one has them */
  keepTargets: null,
};

const TARGETS = "lora.target_modules";

const modeOf = (/** @type {string} */ workload) => (workload === "inference" ? "inference" : "training");
const axes = () => defaults.axes[modeOf(app.workload)];
const axisLabel = () => AXIS_LABELS[app.axis] ?? app.axis;
const fixedFields = () => (app.workload === "training" ? { method: "full" } : {});

/** The form's starting values shared by every view: the default view's model and GPU, the
 * manual architecture fields, no Hub id or pasted config. */
function commonDefaults() {
  const flat = flatten(defaults.requests[defaults.view]);
  const common = Object.fromEntries(Object.entries(flat).filter(([k]) => k.startsWith("model.") || k === "gpu"));
  return {
    ...common,
    ...flatten({ model: { config: defaults.manual_config } }, true),
    "model.name": null,
    "model.config": null,
  };
}

/** The view's default inputs, without the model and GPU (those carry over): the engine's
 * defaults and its normalized answer to the view's default request, except that inputs left to
 * the engine ("Default", "auto") stay so unless the page's default request sets them. */
function viewDefaults(/** @type {string} */ workload) {
  const flat = {
    ...flatten(catalog.defaults[modeOf(workload)] ?? {}),
    ...flatten(data.prerendered[workload].response.request),
  };
  for (const el of form.querySelectorAll("[data-auto][name]")) flat[/** @type {HTMLInputElement} */ (el).name] = null;
  Object.assign(flat, flatten(defaults.requests[workload]));
  for (const key of Object.keys(flat)) {
    if (key.startsWith("model.") || key === "gpu" || key === "mode") delete flat[key];
  }
  return flat;
}

/** Canonical JSON: the same request gives the same text whatever its keys' order. @param {any} value */
function canonical(value) {
  if (Array.isArray(value)) return `[${value.map(canonical).join(",")}]`;
  if (value && typeof value === "object") {
    return `{${Object.keys(value).sort().map((k) => `${JSON.stringify(k)}:${canonical(value[k])}`).join(",")}}`;
  }
  return JSON.stringify(value);
}

const formRequest = () => readRequest(form, { mode: modeOf(app.workload), fixed: fixedFields() });

/** Draw the answer Python gave at build time for the view's default inputs. */
function showPrerendered() {
  const prerendered = data.prerendered[app.workload];
  app.result = { ...prerendered, request: defaults.requests[app.workload] };
  showResult(app.result);
}

async function boot() {
  inputs.fillOptions(form, catalog);
  const fields = schema(form); // every list filled: URL values are checked against them
  const decoded = await decode(location.search, fields);
  app.embed = decoded.page.embed;
  app.view = decoded.page.view;
  app.workload = workloadOf(app.view, new URLSearchParams(location.search).get("mode"));
  app.axis = axes().includes(decoded.page.axis) ? decoded.page.axis : axes()[0];
  if (decoded.page.axis && !axes().includes(decoded.page.axis)) decoded.invalid.push(`axis=${decoded.page.axis}`);
  frame.showViewTabs(app.view, app.workload);
  inputs.showWorkload(form, app.workload);
  inputs.fillForm(form, { ...commonDefaults(), ...viewDefaults(app.workload) });
  frame.formFilled();
  renderAxis(axes(), app.axis, (a) => AXIS_LABELS[a] ?? a);
  frame.renderVersion(`Version ${data.prerendered[defaults.view].response.vramcalc_version}.`);

  if (decoded.empty) {
    if (decoded.invalid.length) {
      app.invalid = [...decoded.invalid]; // ?view=bogus: the default view, and a word why
      renderNotice("url-invalid", message("url-invalid"), { items: app.invalid });
    }
    showPrerendered();
    results.renderStatus("Precomputed for these inputs; Python is starting for your changes…");
  } else {
    const baseline = canonical(formRequest().request);
    app.source = decoded.page.source;
    inputs.setSource(form, app.source);
    if (decoded.config) inputs.fillForm(form, { "model.config": decoded.config }, app.source);
    const rejected = inputs.fillForm(form, decoded.values);
    if (decoded.unknown.length) renderNotice("url-unknown", message("url-unknown"), { items: decoded.unknown });
    app.invalid = [...decoded.invalid, ...rejected.map((k) => `${k}=${String(decoded.values[k])}`)];
    if (app.invalid.length) {
      renderNotice("url-invalid", message("url-invalid"), { items: app.invalid });
      inputs.fillForm(form, pick(viewDefaults(app.workload), rejected));
    }
    const linked = formRequest();
    if (linked.problems.length === 0 && canonical(linked.request) === baseline) {
      showPrerendered(); // a link to the default inputs: Python's answer is here already
      results.renderStatus("Precomputed for these inputs; Python is starting for your changes…");
    } else {
      app.linked = new Set(Object.keys(decoded.values));
      results.renderPending("Computing the inputs of this link as soon as Python is ready…");
    }
  }
  frame.clearPending();
  performance.mark("vramcalc:first-render");
  if (app.embed) reportHeight();
  wire();
  app.started = connect({ onBoot: frame.setBoot });
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

/** @param {{field: string, message: string}[]} problems */
function showProblems(problems) {
  const unplaced = inputs.markProblems(form, problems);
  results.renderProblemList(unplaced, problems.length > unplaced.length);
}

/** All a result says but its chart: the total, its parts, every GPU, the math.
 * @param {import("./bridge.js").Result} result */
function showEstimate(result) {
  const r = result.response;
  inputs.clearFieldProblems(form);
  results.clearProblemList();
  results.renderHeadline(r);
  renderFitTable(r, app.workload);
  results.renderMath(r);
  results.renderRaw(result);
  inputs.showDefaults(form, r.request);
  // the model's own LoRA target modules, ticked as the answer has them
  inputs.setCheckboxChoices(form, TARGETS, r.model.lora_target_modules, r.request.lora?.target_modules ?? null);
  app.targetsModel = canonical(r.request.model);
}

/** Everything a result says, for the inputs that produced it.
 * @param {import("./bridge.js").Result} result */
function showResult(result) {
  showEstimate(result);
  renderChart(result, axisLabel());
}

function edited() {
  clearTimeout(adviseTimer);
  app.editedAt = app.live ? performance.now() : null;
  inputs.applyDependent(form);
  compute();
}

async function compute() {
  const { request, problems } = formRequest();
  if (problems.length) {
    if (app.busy) app.again = true; // the answer on its way is for inputs already changed
    if (app.bridge) goLive(); // Python is ready: these inputs are what it waits for
    showProblems(problems);
    return;
  }
  if (!app.bridge) {
    results.renderPending(app.failed ? message("python-start") : "Python is starting: your change is computed as soon as it is ready…");
    return;
  }
  if (app.busy) {
    app.again = true;
    return;
  }
  const editedAt = app.editedAt;
  await exclusive(async () => {
    // first the estimate alone: the total and the GPU table are on screen in the next frame
    const asked = performance.now();
    const result = await app.bridge.compute(request, null);
    performance.measure("vramcalc:python", { start: asked, end: performance.now() });
    if (app.again || !showFigures(result, request)) return;
    painted("vramcalc:update", editedAt);
    // then the chart's series, which Python computes while that frame is drawn (from the
    // answer's normalized request: no second estimate)
    const { series } = await app.bridge.series(result.response.request, { field: app.axis, values: defaults.series[app.axis] });
    if (app.again) return;
    app.result = { ...result, series, request };
    renderChart(app.result, axisLabel());
    if (editedAt !== null) performance.mark("vramcalc:rendered");
    painted("vramcalc:update-chart", editedAt);
    // the URL can wait until the figures are on screen
    await new Promise((resolve) => requestAnimationFrame(() => setTimeout(resolve)));
    await saveUrl(request);
    // last, what would make it fit: worked out only when it does not, once the inputs have
    // rested (the worker answers one call at a time: an edit must not wait behind it)
    if (selectedFits(app.result.response) === false) {
      renderFitChangesPending();
      adviseTimer = setTimeout(() => exclusive(() => advise(request)), ADVISE_AFTER_MS);
    }
  });
}

/** Measure `name`, from an edit to the frame that shows its result once drawn.
 * @param {string} name @param {number | null} editedAt */
function painted(name, editedAt) {
  if (editedAt === null) return;
  // a task queued from the frame's animation callback runs once that frame is drawn
  requestAnimationFrame(() => setTimeout(() => performance.measure(name, { start: editedAt, end: performance.now() })));
}

/** Python answers the page from now on. */
function goLive() {
  if (app.live) return;
  app.live = true;
  frame.setState("live");
  performance.mark("vramcalc:live");
  results.renderStatus("");
  registerServiceWorker({ onOffline, onUpdate }).catch(() => {});
}

/** Show an estimate (all but the chart), or its problems; false if there are no figures.
 * @param {import("./bridge.js").Result} result @param {object} request */
function showFigures(result, request) {
  const error = result.response.error;
  goLive();
  if (error) {
    const linked = app.linked;
    app.linked = null;
    const bad = linked ? error.problems.filter((/** @type {any} */ p) => linked.has(p.field)) : [];
    if (bad.length) {
      // a link with values the engine rejects: say so, and use the defaults for those
      app.invalid.push(...bad.map((/** @type {any} */ p) => `${p.field}: ${p.message}`));
      renderNotice("url-invalid", message("url-invalid"), { items: app.invalid });
      inputs.fillForm(form, pick(viewDefaults(app.workload), bad.map((/** @type {any} */ p) => p.field)));
      app.again = true;
      return false;
    }
    if (targetsOfAnotherModel(error.problems, request)) {
      app.again = true;
      return false;
    }
    showProblems(error.problems);
    return false;
  }
  app.linked = null;
  if (app.keepTargets && keepTargets(result.response.model.lora_target_modules)) {
    app.again = true;
    return false;
  }
  app.result = { ...result, request };
  const drawn = performance.now();
  showEstimate(app.result);
  clearFitChanges(selectedFits(result.response));
  performance.measure("vramcalc:render", { start: drawn, end: performance.now() });
  return true;
}

/** Whether the request names LoRA targets that only the previous model has: the boxes are
 * that model's until an answer names the new one's. Then none are ticked (the new model's
 * defaults), and those it also has are ticked again once its answer lists them.
 * @param {{field: string}[]} problems @param {Record<string, any>} request */
function targetsOfAnotherModel(problems, request) {
  const ticked = request.lora?.target_modules;
  if (!Array.isArray(ticked) || !problems.some((p) => p.field === TARGETS)) return false;
  if (canonical(request.model) === app.targetsModel) return false;
  app.keepTargets = ticked;
  inputs.fillForm(form, { [TARGETS]: [] });
  return true;
}

/** Tick again the kept targets the new model has, and say which it has not; true when that
 * asks for another computation. @param {string[]} names the model's target modules */
function keepTargets(names) {
  const kept = /** @type {string[]} */ (app.keepTargets);
  app.keepTargets = null;
  const have = kept.filter((n) => names.includes(n));
  renderNotice("lora-targets", message(have.length ? "lora-targets" : "lora-targets-default"), {
    items: kept.filter((n) => !names.includes(n)),
  });
  if (!have.length) return false;
  inputs.setCheckboxChoices(form, TARGETS, names, have);
  return true;
}

/** The chosen GPU's verdict in a response: true, false, or null when no GPU is chosen.
 * @param {Record<string, any>} response */
function selectedFits(response) {
  const fit = response.fit;
  const row = fit?.gpus?.find((/** @type {any} */ g) => g.gpu === fit.selected);
  return row ? Boolean(row.fits) : null;
}

const ADVISE_AFTER_MS = 300;
/** @type {ReturnType<typeof setTimeout> | undefined} */
let adviseTimer;

/** Run `work` on the worker when no computation is running, as compute() does.
 * @param {() => Promise<void>} work */
async function exclusive(work) {
  if (!app.bridge || app.busy) return;
  app.busy = true;
  frame.setBusy(true);
  try {
    await work();
  } catch (error) {
    fail("python-crash", error);
  } finally {
    app.busy = false;
    if (app.again) {
      app.again = false;
      compute();
    } else frame.setBusy(false);
  }
}

/** vramcalc.fit_changes for `request`, drawn under the verdict unless the inputs moved on.
 * @param {object} request */
async function advise(request) {
  renderFitChangesPending();
  if (app.result?.request !== request) return; // the inputs moved on
  const asked = performance.now();
  const answer = await app.bridge.fitChanges(request);
  performance.measure("vramcalc:fit-changes", { start: asked, end: performance.now() });
  if (app.again) return;
  renderFitChanges(answer, settable, applyChanges);
}

/** Whether every field of a change has an input on the page. @param {Record<string, any>} changes */
function settable(changes) {
  return Object.keys(changes).every((name) => form.querySelector(`[name="${CSS.escape(name)}"]:not([data-ui])`));
}

/** Set a suggestion's fields in the form and compute. @param {Record<string, any>} changes */
function applyChanges(changes) {
  inputs.fillForm(form, changes);
  edited();
}

/** A custom GPU starts as a copy of the catalog GPU chosen before it (its memory, bandwidth
 * and TFLOPS), unless its memory is given already. */
function startCustomGpu() {
  const memory = /** @type {HTMLInputElement} */ (form.elements.namedItem("gpu.memory_bytes"));
  const before = catalog.gpus.find((/** @type {any} */ g) => g.id === app.result?.request?.gpu);
  if (memory.value !== "" || !before) return;
  inputs.fillForm(form, {
    "gpu.memory_bytes": before.memory_bytes,
    "gpu.bandwidth_gb_s": before.bandwidth_gb_s,
    "gpu.bf16_tflops": before.bf16_tflops,
    "gpu.fp16_tflops": before.bf16_tflops == null ? before.fp16_tflops : null,
  });
}

/** @param {object} request */
async function saveUrl(request) {
  const query = await encode({ ...pageState(), embed: app.embed }, request, axes()[0]);
  if (query !== location.search) history.replaceState(null, "", query);
  frame.setFullPageLink(await encode({ ...pageState(), embed: false }, request, axes()[0]));
}

const pageState = () => ({ view: app.view, source: app.source, axis: app.axis });

/** @param {string} code @param {unknown} error */
function fail(code, error) {
  app.failed = code === "python-start";
  frame.setState("error");
  renderBanner(message(code));
  if (app.failed) results.renderStatus("");
  console.warn(code, error);
}

/** @param {boolean} offline */
function onOffline(offline) {
  if (offline) renderNotice("offline", message("offline"));
  else removeNotice("offline");
}

/** @param {() => void} apply */
function onUpdate(apply) {
  renderNotice("update", message("update"), { action: { label: "Reload", run: apply } });
}

/** @param {string} view */
function switchView(view) {
  const workload = view === "gpus" ? app.workload : view;
  frame.showViewTabs(view, workload);
  inputs.showWorkload(form, workload);
  if (workload !== app.workload) inputs.fillForm(form, viewDefaults(workload));
  app.view = view;
  app.workload = workload;
  if (!axes().includes(app.axis)) app.axis = axes()[0];
  renderAxis(axes(), app.axis, (a) => AXIS_LABELS[a] ?? a);
  edited();
}

/** @param {string} source */
function switchSource(source) {
  app.source = source;
  inputs.setSource(form, source);
  edited();
}

async function hubFetch() {
  const id = /** @type {HTMLInputElement} */ (form.elements.namedItem("model.name")).value.trim();
  renderHubStatus(app.bridge ? "Fetching config.json…" : "Waiting for Python, then fetching config.json…");
  let found;
  try {
    found = await lookUp(id, await app.started);
  } catch {
    renderHubStatus(message("python-start"), [], true); // Python never started
    return;
  }
  if (found.config) {
    inputs.fillForm(form, { "model.config": found.config }, "hub");
    renderHubStatus(`Loaded config.json of ${id}.`);
    edited();
    return;
  }
  const next = [
    { label: "Paste config.json", run: () => switchSource("config") },
    { label: "Describe it manually", run: () => switchSource("manual") },
    { label: "Pick a preset", run: () => switchSource("preset") },
  ];
  renderHubStatus(found.message ?? "", found.status === "invalid_id" ? [] : next, true);
}

/** @param {string} text @param {HTMLElement} button */
async function copy(text, button) {
  try {
    await navigator.clipboard.writeText(text);
    frame.flash(button, "Copied");
  } catch {
    renderNotice("copy", message("clipboard"), { copy: text });
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
      inputs.filterPresets(/** @type {HTMLSelectElement} */ (form.elements.namedItem("model.preset")), target.value);
      return;
    }
    if (target.type === "file") return;
    if (target.name === "source") {
      switchSource(target.value);
      return;
    }
    if (target.name === "model.name") inputs.fillForm(form, { "model.config": null }, "hub");
    if (target.name === "gpu" && target.value === CUSTOM_GPU) startCustomGpu();
    edited();
  });
  form.addEventListener("change", async (e) => {
    const input = /** @type {HTMLInputElement} */ (e.target);
    if (input.id !== "config-file" || !input.files?.[0]) return;
    try {
      inputs.fillForm(form, { "model.config": parseBounded(await input.files[0].text(), "the file") }, "config");
    } catch {
      renderNotice("config-file", message("config-file"));
      return;
    }
    edited();
  });
  byId("hub-fetch").addEventListener("click", hubFetch);
  byId("fit-bigger").addEventListener("click", () => {
    const request = app.result?.request;
    if (request) exclusive(() => advise(request));
  });
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
    inputs.fillForm(form, { gpu: /** @type {HTMLElement} */ (button).dataset.selectGpu });
    edited();
  });
  byId("share").addEventListener("click", (e) => copy(shareUrl(), /** @type {HTMLElement} */ (e.currentTarget)));
  byId("embed").addEventListener("click", () => frame.openEmbedDialog(snippet(shareUrl(true))));
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
    frame.download(name, JSON.stringify(r, null, 2));
  });
  byId("raw").addEventListener("toggle", () => {
    if (app.result) results.renderRaw(app.result);
  });
}

boot();
