// render/chart.js: every DOM write in the chart card: the SVG of total memory along one input,
// GPU capacities across it, and the axis switch.

import { gb, gib, short } from "../units.js";
import { byId as $, h } from "./dom.js";

const SVG = "http://www.w3.org/2000/svg";
const W = 640;
const H = 300;
const M = { top: 14, right: 150, bottom: 40, left: 56 };

/**
 * @typedef {{value: number, total_bytes: number | null}} Point
 * @typedef {{label: string, title: string, bytes: number, selected: boolean}} Line
 */

/** @param {string} tag @param {Record<string, string | number>} attrs @param {string} [text] */
function el(tag, attrs, text) {
  const node = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, String(v));
  if (text !== undefined) node.textContent = text;
  return node;
}

/** Round step for about `n` ticks up to `max`. @param {number} max @param {number} n */
function step(max, n) {
  const raw = max / n;
  const mag = 10 ** Math.floor(Math.log10(raw));
  return [1, 2, 2.5, 5, 10].map((m) => m * mag).find((s) => s >= raw) ?? 10 * mag;
}

/**
 * @param {{points: Point[], current: number, axisLabel: string, lines: Line[], title: string}} spec
 * @returns {SVGSVGElement}
 */
function lineChart({ points, current, axisLabel, lines, title }) {
  const svg = /** @type {SVGSVGElement} */ (el("svg", { viewBox: `0 0 ${W} ${H}`, role: "img" }));
  svg.append(el("title", {}, title));
  const valid = points.filter((p) => p.total_bytes !== null);
  if (valid.length === 0) return svg;
  const GiB = 2 ** 30;
  const top = Math.max(...valid.map((p) => /** @type {number} */ (p.total_bytes)));
  const shown = lines.filter((l) => l.selected || l.bytes <= top * 1.6);
  const yMax = Math.max(top, ...shown.map((l) => l.bytes)) * 1.05;
  const xs = valid.map((p) => Math.log2(p.value));
  const [x0, x1] = [Math.min(...xs), Math.max(...xs)];
  const px = (v) => M.left + ((Math.log2(v) - x0) / (x1 - x0 || 1)) * (W - M.left - M.right);
  const py = (b) => H - M.bottom - (b / yMax) * (H - M.top - M.bottom);

  const grid = el("g", { class: "grid" });
  const yStep = step(yMax / GiB, 5);
  for (let t = 0; t * GiB <= yMax; t += yStep) {
    grid.append(el("line", { x1: M.left, x2: W - M.right, y1: py(t * GiB), y2: py(t * GiB) }));
    grid.append(el("text", { x: M.left - 6, y: py(t * GiB) + 4, class: "tick y" }, String(+t.toFixed(1))));
  }
  for (const p of valid) {
    grid.append(el("text", { x: px(p.value), y: H - M.bottom + 16, class: "tick x" }, short(p.value)));
  }
  grid.append(el("text", { x: (M.left + W - M.right) / 2, y: H - 6, class: "axis-label" }, axisLabel));
  grid.append(
    el("text", { x: 12, y: M.top + (H - M.top - M.bottom) / 2, class: "axis-label", transform: `rotate(-90 12 ${M.top + (H - M.top - M.bottom) / 2})` }, "GiB"),
  );
  svg.append(grid);

  const caps = el("g", { class: "capacities" });
  const used = [];
  for (const line of shown.sort((a, b) => a.bytes - b.bytes)) {
    const y = py(line.bytes);
    caps.append(el("line", { x1: M.left, x2: W - M.right, y1: y, y2: y, class: line.selected ? "cap selected" : "cap" }));
    const ly = used.some((u) => Math.abs(u - y) < 12) ? null : y;
    if (ly !== null || line.selected) {
      used.push(y);
      const text = line.label.length > 22 ? `${line.label.slice(0, 21)}…` : line.label;
      const label = el("text", { x: W - M.right + 6, y: y + 4, class: line.selected ? "cap-label selected" : "cap-label" }, text);
      label.append(el("title", {}, `${line.title}: ${gib(line.bytes)} usable`));
      caps.append(label);
    }
  }
  svg.append(caps);

  const d = valid.map((p, i) => `${i ? "L" : "M"}${px(p.value).toFixed(1)},${py(/** @type {number} */ (p.total_bytes)).toFixed(1)}`).join("");
  svg.append(el("path", { d, class: "series" }));
  for (const p of valid) {
    const dot = el("circle", { cx: px(p.value), cy: py(/** @type {number} */ (p.total_bytes)), r: p.value === current ? 5 : 3, class: p.value === current ? "dot current" : "dot" });
    dot.append(el("title", {}, `${axisLabel} ${p.value}: ${gib(/** @type {number} */ (p.total_bytes))} (${gb(/** @type {number} */ (p.total_bytes))})`));
    svg.append(dot);
  }
  return svg;
}

/** The chart of the result's series (none when the inputs failed).
 * @param {{response: Record<string, any>, series: {field: string, points: Point[]} | null}} result
 * @param {string} axisLabel */
export function renderChart(result, axisLabel) {
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

/** The radio buttons that choose the chart's input.
 * @param {string[]} axes @param {string} current @param {(a: string) => string} label */
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
