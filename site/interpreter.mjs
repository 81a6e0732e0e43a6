// interpreter.mjs: the "interpreter" pyscript.json names. PyScript (0.7.31) imports it in its
// worker and calls its loadPyodide() and reads its version; this one starts the pinned Pyodide
// with the page's own standard library (build.py compiles what a start imports to bytecode).

import { loadPyodide as load, version } from "./vendor/pyodide/pyodide.mjs";

export { version };

/** @param {string} path relative to this module @returns {string} */
const here = (path) => new URL(path, import.meta.url).href;

/** PyScript passes its stdout, stderr and an indexURL (this module's folder).
 * @param {Record<string, any>} options */
export function loadPyodide(options) {
  return load({ ...options, indexURL: here("./vendor/pyodide/"), stdLibURL: here("./python/stdlib.zip") });
}
