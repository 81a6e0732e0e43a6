// units.js: the page's one byte formatter: GiB on screen, GB and exact bytes on hover.

const GIB = 2 ** 30;
const fixed2 = new Intl.NumberFormat("en-US", {
  minimumFractionDigits: 2,
  maximumFractionDigits: 2,
  roundingMode: "halfExpand",
  signDisplay: "negative", // no "-0.00"
});
const whole = new Intl.NumberFormat("en-US", { maximumFractionDigits: 0 });

/** @param {number} bytes @returns {string} e.g. "17.82 GiB" (build.py's format_gib matches) */
export const gib = (bytes) => `${fixed2.format(bytes / GIB)} GiB`;

/** @param {number} bytes @returns {string} e.g. "19.14 GB (19,137,… bytes)" */
export const gb = (bytes) => `${fixed2.format(bytes / 1e9)} GB (${whole.format(bytes)} bytes)`;

/** @param {number} n @returns {string} thousands-separated integer */
export const count = (n) => whole.format(n);

/** @param {number} n parameters @returns {string} e.g. "8.03 B" or "4.2 M" */
export const params = (n) =>
  n >= 1e9 ? `${fixed2.format(n / 1e9)} B` : `${(n / 1e6).toFixed(1)} M`;

/** @param {number} tokens @returns {string} e.g. "8k" for axis ticks */
export const short = (tokens) =>
  tokens >= 1024 && tokens % 1024 === 0 ? `${tokens / 1024}k` : String(tokens);
