// chart.js: builds (detached) the SVG of total memory along one input, GPU capacities across it.

import { gb, gib, short } from "./units.js";

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
export function lineChart({ points, current, axisLabel, lines, title }) {
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
