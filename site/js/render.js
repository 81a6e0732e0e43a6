// render.js: the only module that writes to the DOM (always textContent, never innerHTML).

import { lineChart } from "./chart.js";
import { count, gb, gib, params } from "./units.js";

const $ = (/** @type {string} */ id) => /** @type {HTMLElement} */ (document.getElementById(id));
const root = document.documentElement;

/** @param {string} tag @param {Record<string, string>} [attrs] @param {(Node | string)[]} [children] */
function h(tag, attrs = {}, children = []) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
  node.append(...children);
  return node;
}

/** @param {number} bytes @param {string} [tag] a figure in GiB with GB and bytes on hover */
function figure(bytes, tag = "span") {
  return h(tag, { title: gb(bytes), class: "num" }, [gib(bytes)]);
}

/** @param {"prerendered" | "live" | "error"} state */
export function setState(state) {
  root.dataset.state = state;
}

/** Show the view's inputs; disabled fieldsets are not sent.
 * @param {HTMLFormElement} form @param {string} view @param {string} workload */
export function showView(form, view, workload) {
  root.dataset.view = view;
  root.dataset.workload = workload;
  for (const link of document.querySelectorAll("nav.views a")) {
    if (/** @type {HTMLElement} */ (link).dataset.view === view) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
  const training = workload !== "inference";
  toggle(form.querySelector('[data-group="inference"]'), !training);
  toggle(form.querySelector('[data-group="training"]'), training);
  for (const field of form.querySelectorAll("[data-finetune-only]")) toggle(field, workload === "finetune");
  applyDependent(form);
}

/** @param {Element | null} node @param {boolean} on */
function toggle(node, on) {
  if (!node) return;
  /** @type {HTMLElement} */ (node).hidden = !on;
  if (node instanceof HTMLFieldSetElement) node.disabled = !on;
  else for (const c of node.querySelectorAll("input, select, textarea")) /** @type {HTMLInputElement} */ (c).disabled = !on;
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
  const radio = /** @type {HTMLInputElement | null} */ (form.querySelector(`input[name="source"][value="${source}"]`));
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
  for (const [name, value] of Object.entries(flat)) {
    const scope = only ? form.querySelector(`[data-source="${only}"]`) ?? form : form;
    const controls = /** @type {NodeListOf<HTMLInputElement | HTMLSelectElement | HTMLTextAreaElement>} */ (
      scope.querySelectorAll(`[name="${CSS.escape(name)}"]:not([data-ui])`)
    );
    if (controls.length === 0) continue;
    for (const el of controls) {
      if (el instanceof HTMLInputElement && el.type === "checkbox") {
        el.checked = Array.isArray(value) ? value.includes(el.value) : Boolean(value);
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

/** @param {string} text */
export function renderStatus(text) {
  $("status").textContent = text;
}

/** Figures are not known for the current inputs (Python not ready, or the inputs are bad).
 * @param {string} text */
export function renderPending(text) {
  const total = $("total");
  total.textContent = "…";
  total.removeAttribute("title");
  $("mini-total").textContent = "";
  $("summary").textContent = text;
  $("results").dataset.stale = "";
  $("results").setAttribute("aria-busy", "true");
}

/** @param {HTMLFormElement} form */
export function clearProblems(form) {
  for (const el of form.querySelectorAll('[aria-invalid="true"]')) el.removeAttribute("aria-invalid");
  for (const p of form.querySelectorAll(".problem")) {
    /** @type {HTMLElement} */ (p).hidden = true;
    p.textContent = "";
  }
  const list = $("problems");
  list.replaceChildren();
  list.hidden = true;
}

/** Each problem next to the control named after its field; the rest in a list.
 * @param {HTMLFormElement} form @param {{field: string, message: string}[]} problems */
export function renderProblems(form, problems) {
  clearProblems(form);
  const list = $("problems");
  for (const { field, message } of problems) {
    let control = [...form.querySelectorAll(`[name="${CSS.escape(field)}"]`)].find((el) => !el.matches(":disabled"));
    const at = /** @type {HTMLElement | undefined} */ (control)?.dataset.problemAt;
    if (at) control = form.querySelector(`[name="${CSS.escape(at)}"]`) ?? control; // a hidden holder
    const slot = control?.closest(".field, fieldset")?.querySelector(".problem");
    if (control && slot) {
      control.setAttribute("aria-invalid", "true");
      slot.textContent = message;
      /** @type {HTMLElement} */ (slot).hidden = false;
    } else {
      list.append(h("li", { "data-field": field }, [field ? h("code", {}, [field]) : "", field ? ": " : "", message]));
    }
  }
  list.hidden = list.childElementCount === 0;
  const marked = problems.length > list.childElementCount;
  renderPending(marked ? "Fix the inputs marked below to see figures." : "No figures for these inputs:");
  $("results").removeAttribute("aria-busy");
}

/**
 * Everything the response says, for the inputs that produced it.
 * @param {import("./bridge.js").Result} result
 * @param {{axisLabel: string, workload: string}} ctx
 */
export function renderResult(result, ctx) {
  const r = result.response;
  const total = $("total");
  total.textContent = gib(r.total_bytes);
  total.title = gb(r.total_bytes);
  const row = r.fit?.gpus?.find((/** @type {any} */ g) => g.gpu === r.fit.selected);
  $("mini-total").textContent = row ? `${gib(r.total_bytes)} · ${row.fits ? "fits" : "does not fit"} on ${row.name}` : gib(r.total_bytes);
  const results = $("results");
  delete results.dataset.stale;
  results.removeAttribute("aria-busy");

  const p = r.request.parallel ?? {};
  const gpusUsed = (p.tensor ?? 1) * (p.pipeline ?? 1) * (p.data ?? 1);
  $("per-gpu").textContent = gpusUsed > 1 ? `per GPU (${gpusUsed} GPUs)` : "";
  $("summary").replaceChildren(...summary(r));

  const shown = r.components.filter((/** @type {any} */ c) => c.bytes > 0);
  $("bar").replaceChildren(
    ...shown.map((/** @type {any} */ c) => {
      const part = h("span", { "data-component": c.name, title: `${c.label}: ${gib(c.bytes)}` });
      part.style.flexGrow = String(c.bytes / r.total_bytes); // CSSOM: allowed by the CSP, unlike style=""
      return part;
    }),
  );
  $("legend").replaceChildren(
    ...shown.map((/** @type {any} */ c) =>
      h("li", { "data-component": c.name }, [
        h("span", { class: "swatch", "aria-hidden": "true" }),
        `${c.label} `,
        figure(c.bytes),
        h("span", { class: "share" }, [` ${((100 * c.bytes) / r.total_bytes).toFixed(1)} %`]),
      ]),
    ),
  );
  $("warnings").replaceChildren(
    ...r.warnings.map((/** @type {any} */ w) => h("li", { "data-code": w.code }, [w.message])),
  );
  $("engine-details").replaceChildren(
    ...engineLines(r.details ?? {}).map(([key, parts]) => h("li", { "data-detail": key }, parts)),
  );
  renderGpus(r, ctx.workload);
  renderChart(result, ctx.axisLabel);
  renderMath(r);
  const raw = /** @type {HTMLDetailsElement} */ ($("raw"));
  if (raw.open) renderRaw(result);
}

/** What the serving engines and the speed bound add: vLLM's KV capacity, concurrency and the
 * largest max_model_len; llama.cpp's GPU/CPU split and largest -ngl; decode/prefill bounds.
 * @param {Record<string, any>} d @returns {[string, (Node | string)[]][]} */
function engineLines(d) {
  /** @type {[string, (Node | string)[]][]} */
  const lines = [];
  const v = d.vllm;
  if (v) {
    lines.push(["vllm", [`vLLM ${v.version}: KV cache for ${v.kv_cache_tokens.toLocaleString("en-US")} tokens, `
      + `${v.max_concurrency}× concurrency at max_model_len ${v.max_model_len.toLocaleString("en-US")}; `
      + `the largest max_model_len that fits: ${v.max_model_len_that_fits.toLocaleString("en-US")}.`]]);
    if (v.error) lines.push(["vllm-error", [v.error]]);
  }
  const l = d.llama_cpp;
  if (l) {
    lines.push(["llama_cpp", [`llama.cpp: ${l.n_gpu_layers} of ${l.n_layer + 1} layers on the GPU (`, figure(l.gpu_bytes),
      "), ", figure(l.cpu_bytes), ` in CPU memory; the largest -ngl that fits: ${l.max_n_gpu_layers}.`]]);
  }
  const s = d.speed;
  if (s) {
    lines.push(["speed", [`Speed bound (roofline, not a promise) on ${s.gpu}: decode ≤ ${s.decode.tokens_per_s_per_sequence} tokens/s per sequence `
      + `(${s.decode.limited_by}), prefill ≤ ${s.prefill.tokens_per_s.toLocaleString("en-US")} tokens/s, `
      + `first token ≥ ${s.prefill.time_to_first_token_s} s.`]]);
  }
  return lines;
}

/** @param {Record<string, any>} r @returns {(Node | string)[]} */
function summary(r) {
  const parts = [];
  const row = r.fit?.gpus?.find((/** @type {any} */ g) => g.gpu === r.fit.selected);
  if (row) {
    parts.push(
      row.fits
        ? h("strong", { class: "fits" }, [`Fits on ${row.name}`])
        : h("strong", { class: "nofit" }, [`Does not fit on ${row.name}`]),
      row.fits ? ", with " : ": ",
      figure(Math.abs(row.headroom_bytes)),
      row.fits ? " to spare. " : " short. ",
    );
  }
  parts.push(`Peak: ${r.peak_phase.replaceAll("_", " ")}.`);
  return parts;
}

/** @param {Record<string, any>} r @param {string} workload */
function renderGpus(r, workload) {
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

/** @param {import("./bridge.js").Result} result @param {string} axisLabel */
function renderChart(result, axisLabel) {
  const r = result.response;
  const series = result.series;
  const chart = $("chart");
  if (!series) {
    chart.replaceChildren();
    return;
  }
  const byBytes = new Map();
  for (const g of r.fit?.gpus ?? []) {
    const entry = byBytes.get(g.usable_bytes) ?? { names: [], selected: false };
    entry.names.push(g.name);
    entry.selected ||= g.gpu === r.fit.selected;
    byBytes.set(g.usable_bytes, entry);
  }
  const lines = [...byBytes].map(([bytes, e]) => ({
    bytes,
    selected: e.selected,
    label: e.names.length > 1 ? `${e.names[0]} +${e.names.length - 1}` : e.names[0],
    title: e.names.join(", "),
  }));
  const current = r.request[series.field] ?? 0;
  const title = `Total GPU memory against ${axisLabel}, with GPU capacities`;
  chart.replaceChildren(
    lineChart({ points: series.points, current, axisLabel, lines, title }),
    h("figcaption", {}, [
      `Total against ${axisLabel.toLowerCase()}, everything else as set; horizontal lines are GPU capacities. The large dot is your input.`,
    ]),
  );
}

/** @param {Record<string, any>} r */
function renderMath(r) {
  $("math-rows").replaceChildren(
    ...r.components.map((/** @type {any} */ c) =>
      h("tr", { "data-component": c.name }, [
        h("th", { scope: "row" }, [h("span", { class: "swatch", "aria-hidden": "true" }), c.label]),
        h("td", {}, [figure(c.bytes)]),
        h("td", {}, [h("code", {}, [c.formula])]),
        h("td", { class: "source" }, [c.source]),
      ]),
    ),
  );
  $("math-total").replaceChildren(figure(r.total_bytes));
  $("math-note").replaceChildren("Tensors at the peak: ", figure(r.allocated_bytes), "; the rest is context and allocator overhead.");
  $("phases").replaceChildren(
    ...r.phases.map((/** @type {any} */ ph) =>
      h("li", { class: ph.name === r.peak_phase ? "peak" : "" }, [
        `${ph.name.replaceAll("_", " ")}: `,
        figure(ph.bytes),
        ph.name === r.peak_phase ? " (peak)" : "",
      ]),
    ),
  );
  const pr = r.parameters;
  const text = [`${params(pr.total)} parameters (${count(pr.total)})`];
  if (pr.active !== pr.total) text.push(`${params(pr.active)} active per token`);
  if (pr.trainable) text.push(`${params(pr.trainable)} trainable`);
  $("params").textContent = `${r.model.name}: ${text.join("; ")}.`;
}

/** @param {import("./bridge.js").Result} result */
export function renderRaw(result) {
  $("request-json").textContent = JSON.stringify(result.request, null, 2);
  $("response-json").textContent = JSON.stringify(result.response, null, 2);
}

/** @param {string[]} axes @param {string} current @param {(a: string) => string} label */
export function renderAxis(axes, current, label) {
  $("axis").replaceChildren(
    ...axes.map((a) =>
      h("label", {}, [
        Object.assign(h("input", { type: "radio", name: "axis", value: a, "data-ui": "" }), { checked: a === current }),
        ` ${label(a)}`,
      ]),
    ),
  );
}

/**
 * A notice above the page; `id` replaces an earlier one of the same id.
 * @param {string} id @param {string} text @param {{items?: string[], action?: {label: string, run: () => void}}} [extra]
 */
export function renderNotice(id, text, extra = {}) {
  const notices = $("notices");
  notices.querySelector(`[data-notice="${id}"]`)?.remove();
  const close = h("button", { type: "button", class: "close", "aria-label": "Dismiss" }, ["×"]);
  const body = [h("span", {}, [text])];
  if (extra.items?.length) body.push(h("ul", {}, extra.items.map((i) => h("li", {}, [h("code", {}, [i])]))));
  if (extra.action) {
    const button = h("button", { type: "button", class: "button" }, [extra.action.label]);
    button.addEventListener("click", extra.action.run);
    body.push(button);
  }
  const notice = h("div", { class: "notice", "data-notice": id }, [...body, close]);
  close.addEventListener("click", () => notice.remove());
  notices.append(notice);
}

/** @param {string} id */
export function removeNotice(id) {
  $("notices").querySelector(`[data-notice="${id}"]`)?.remove();
}

/** @param {string} text */
export function renderBanner(text) {
  const banner = $("banner");
  banner.textContent = text;
  banner.hidden = false;
}

/** @param {string} text @param {{label: string, run: () => void}[]} [actions] @param {boolean} [error] */
export function renderHubStatus(text, actions = [], error = false) {
  const status = $("hub-status");
  status.classList.toggle("error", error);
  status.replaceChildren(text);
  for (const a of actions) {
    const button = h("button", { type: "button", class: "button small" }, [a.label]);
    button.addEventListener("click", a.run);
    status.append(" ", button);
  }
}

/** @param {string} text */
export function renderOfflineState(text) {
  $("offline-state").textContent = text;
}

/** @param {string} text */
export function renderVersion(text) {
  $("version").textContent = text;
}

/** @param {string} snippet */
export function openEmbedDialog(snippet) {
  const code = /** @type {HTMLTextAreaElement} */ ($("embed-code"));
  code.value = snippet;
  /** @type {HTMLDialogElement} */ ($("embed-dialog")).showModal();
  code.select();
}

/** @param {HTMLElement} button @param {string} text briefly replaces the button's label */
export function flash(button, text) {
  const before = button.dataset.label ?? button.textContent ?? "";
  button.dataset.label = before;
  button.textContent = text;
  setTimeout(() => {
    button.textContent = before;
  }, 1500);
}

/** @param {HTMLAnchorElement} link @param {string} href */
export function setHref(link, href) {
  link.href = href;
}

/** Put a read-only copy of `text` on screen, selected, when the clipboard refuses it.
 * @param {string} text @param {string} why */
export function showCopyFallback(text, why) {
  renderNotice("copy", why, {});
  const notice = $("notices").querySelector('[data-notice="copy"]');
  const input = h("input", { type: "text", readonly: "", class: "copy-fallback", "aria-label": "Text to copy" });
  /** @type {HTMLInputElement} */ (input).value = text;
  notice?.insertBefore(input, notice.lastChild);
  /** @type {HTMLInputElement} */ (input).select();
}

/** Offer `text` as a file download. @param {string} name @param {string} text */
export function download(name, text) {
  const url = URL.createObjectURL(new Blob([text], { type: "application/json" }));
  const link = h("a", { href: url, download: name });
  link.click();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
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
