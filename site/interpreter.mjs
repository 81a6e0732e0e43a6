// interpreter.mjs: the "interpreter" pyscript.json names. PyScript (0.7.31) imports it in its
// worker, reads its version and calls its loadPyodide(). This one starts the pinned Pyodide from
// the memory snapshot build.py made (vramcalc and what a start imports already imported), with
// the page's own standard library (bytecode for those imports); when the snapshot is missing,
// made for another build or another Pyodide, or corrupt, it starts Pyodide the usual way. It
// tells the page which start it made on the "vramcalc-boot" broadcast channel.
//
// `_loadSnapshot` is a private option of loadPyodide. At the pinned version, pyodide 314.0.7:
// src/js/pyodide.ts declares it (lines 216-220) and reads it in prepareSnapshot (lines
// 349-366, which also sizes the memory to the snapshot); bootstrapPyodide hands it to
// API.restoreSnapshot (line 431), which rejects a snapshot of another Pyodide build (its build
// id, src/js/snapshot.ts). tests/test_build.py fails loudly if an upgrade breaks this.

import { loadPyodide as load, version } from "./vendor/pyodide/pyodide.mjs";

export { version };

/** The build this module belongs to (build.py writes it): its snapshot and standard library. */
const KEY = "__SNAPSHOT_KEY__";
const HEADER_BYTES = 128; // build.py's SNAPSHOT_HEADER

/** @param {string} path relative to this module @returns {string} */
const here = (path) => new URL(path, import.meta.url).href;

/** The snapshot, decompressed, without the header that names its build. It comes gzipped, or
 * already inflated by the service worker (sw.js keeps it so). */
async function fetchSnapshot() {
  const response = await fetch(here(`./python/snapshot.bin?${KEY}`));
  if (!response.ok) throw new Error(`no snapshot (HTTP ${response.status})`);
  let data = new Uint8Array(await response.arrayBuffer());
  if (data[0] === 0x1f && data[1] === 0x8b) {
    const inflated = new Blob([data]).stream().pipeThrough(new DecompressionStream("gzip"));
    data = new Uint8Array(await new Response(inflated).arrayBuffer());
  }
  const header = new TextDecoder().decode(data.subarray(0, HEADER_BYTES)).trimEnd();
  if (header !== `vramcalc-snapshot ${KEY}`) throw new Error("the snapshot belongs to another build");
  return data.subarray(HEADER_BYTES);
}

// Fetched from the moment PyScript imports this module, while it prepares the rest.
const snapshot = fetchSnapshot();
snapshot.catch(() => {}); // loadPyodide reports it

/** @param {"snapshot" | "standard"} path @param {string} reason why not from the snapshot */
function report(path, reason) {
  const channel = new BroadcastChannel("vramcalc-boot");
  channel.postMessage({ path, reason });
  channel.close();
}

/** PyScript passes its stdout, stderr and an indexURL (this module's folder).
 * @param {Record<string, any>} options */
export async function loadPyodide(options) {
  const settings = {
    ...options,
    indexURL: here("./vendor/pyodide/"),
    stdLibURL: here(`./python/stdlib.zip?${KEY}`),
  };
  try {
    const py = await load({ ...settings, _loadSnapshot: snapshot });
    py.runPython("import random; random.seed()"); // seeded when the snapshot was made: reseed
    report("snapshot", "");
    return py;
  } catch (error) {
    report("standard", String(/** @type {any} */ (error)?.message ?? error));
    return load(settings);
  }
}
