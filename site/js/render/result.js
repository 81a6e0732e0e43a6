// render/result.js: every DOM write in the results' headline, "Show the math" and the JSON panel.

import { count, gb, gib, params } from "../units.js";
import { byId as $, figure, h, setAttr, setFigure, setText } from "./dom.js";

/** @param {string} text the line under the total (Python's progress) */
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

/** The problems no input shows, listed under the total; no figures meanwhile.
 * @param {{field: string, message: string}[]} unplaced @param {boolean} marked whether inputs show others */
export function renderProblemList(unplaced, marked) {
  const list = $("problems");
  list.replaceChildren(
    ...unplaced.map(({ field, message }) =>
      h("li", { "data-field": field }, [field ? h("code", {}, [field]) : "", field ? ": " : "", message])),
  );
  list.hidden = unplaced.length === 0;
  renderPending(marked ? "Fix the inputs marked below to see figures." : "No figures for these inputs:");
  $("results").removeAttribute("aria-busy");
}

export function clearProblemList() {
  const list = $("problems");
  list.replaceChildren();
  list.hidden = true;
}

/** The headline: total, fit on the chosen GPU, the bar of components, warnings, engine figures.
 * @param {Record<string, any>} r the response */
export function renderHeadline(r) {
  const total = $("total");
  setText(total, gib(r.total_bytes));
  setAttr(total, "title", gb(r.total_bytes));
  const row = selectedRow(r);
  setText($("mini-total"), row ? `${gib(r.total_bytes)} · ${row.fits ? "fits" : "does not fit"} on ${row.name}` : gib(r.total_bytes));
  const results = $("results");
  delete results.dataset.stale;
  results.removeAttribute("aria-busy");

  const p = r.request.parallel ?? {};
  const gpusUsed = (p.tensor ?? 1) * (p.pipeline ?? 1) * (p.data ?? 1);
  setText($("per-gpu"), gpusUsed > 1 ? `per GPU (${gpusUsed} GPUs)` : "");
  $("summary").replaceChildren(...summary(r, row));

  const shown = r.components.filter((/** @type {any} */ c) => c.bytes > 0);
  const bar = $("bar");
  const legend = $("legend");
  const names = shown.map((/** @type {any} */ c) => c.name).join(" ");
  if ([...bar.children].map((el) => /** @type {HTMLElement} */ (el).dataset.component).join(" ") !== names) {
    // other components than before: new parts; the same ones are updated in place below
    bar.replaceChildren(...shown.map((/** @type {any} */ c) => h("span", { "data-component": c.name })));
    legend.replaceChildren(
      ...shown.map((/** @type {any} */ c) =>
        h("li", { "data-component": c.name }, [
          h("span", { class: "swatch", "aria-hidden": "true" }),
          h("span", { class: "label" }),
          figure(c.bytes),
          h("span", { class: "share" }),
        ]),
      ),
    );
  }
  shown.forEach((/** @type {any} */ c, /** @type {number} */ i) => {
    const part = /** @type {HTMLElement} */ (bar.children[i]);
    setAttr(part, "title", `${c.label}: ${gib(c.bytes)}`);
    part.style.flexGrow = String(c.bytes / r.total_bytes); // CSSOM: allowed by the CSP, unlike style=""
    const [, label, bytes, share] = /** @type {HTMLElement[]} */ ([...legend.children[i].children]);
    setText(label, `${c.label} `);
    setFigure(bytes, c.bytes);
    setText(share, ` ${((100 * c.bytes) / r.total_bytes).toFixed(1)} %`);
  });
  $("warnings").replaceChildren(
    ...r.warnings.map((/** @type {any} */ w) => h("li", { "data-code": w.code }, [w.message])),
  );
  $("engine-details").replaceChildren(
    ...engineLines(r.details ?? {}).map(([key, parts]) => h("li", { "data-detail": key }, parts)),
  );
}

/** @param {Record<string, any>} r */
const selectedRow = (r) => r.fit?.gpus?.find((/** @type {any} */ g) => g.gpu === r.fit.selected);

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
  const m = d.host_memory;
  if (m) {
    const parts = m.resident.map((/** @type {any} */ p) => p.label.toLowerCase()).join(", ");
    lines.push(["host_memory", ["Host (CPU) memory: ", figure(m.resident_bytes), " while it runs",
      parts ? ` (${parts})` : "", "; up to ", figure(m.load_peak_bytes), " while loading (",
      m.load.label.toLowerCase(), "); ", figure(m.download_bytes), " to download."]]);
  }
  const s = d.speed;
  if (s) {
    lines.push(["speed", [`Speed bound (roofline, not a promise) on ${s.gpu}: decode ≤ ${s.decode.tokens_per_s_per_sequence} tokens/s per sequence `
      + `(${s.decode.limited_by}), prefill ≤ ${s.prefill.tokens_per_s.toLocaleString("en-US")} tokens/s, `
      + `first token ≥ ${s.prefill.time_to_first_token_s} s.`]]);
  }
  return lines;
}

/** @param {Record<string, any>} r @param {Record<string, any> | undefined} row @returns {(Node | string)[]} */
function summary(r, row) {
  const parts = [];
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

/** "Show the math": each component with its formula and source, the phases, the parameters.
 * @param {Record<string, any>} r */
export function renderMath(r) {
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

/** The "Request and response JSON" panel, drawn only while open.
 * @param {{request?: object, response: object}} result */
export function renderRaw(result) {
  if (!/** @type {HTMLDetailsElement} */ ($("raw")).open) return;
  $("request-json").textContent = JSON.stringify(result.request, null, 2);
  $("response-json").textContent = JSON.stringify(result.response, null, 2);
}
