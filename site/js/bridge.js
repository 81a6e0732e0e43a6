// bridge.js: waits for the named PyScript worker and calls the compute() it exports.

const START_TIMEOUT_MS = 60_000;

/**
 * @typedef {{field: string, values: number[]}} Series
 * @typedef {{response: Record<string, any>, series: {field: string, points: {value: number, total_bytes: number | null}[]} | null, request?: object}} Result
 *   (`request`: what the page sent, added by the page)
 * @typedef {{
 *   compute: (request: object, series: Series | null) => Promise<Result>,
 *   series: (request: object, series: Series) => Promise<{series: Result["series"]}>,
 *   hubRequest: (id: string) => Promise<{url?: string, status?: string, message?: string}>,
 *   hubAnswer: (id: string, answer: object) => Promise<import("./hub.js").Lookup>,
 * }} Bridge
 */

// PyScript reports a failed start (a file it could not fetch, say) as an uncaught error, which
// can come before the page calls connect(): prerendered.js keeps errors from the start, and this
// module listens from the moment it loads.
/** @type {(reason: unknown) => void} */
let startFailed = () => {};
const earlyFailure = new Promise((_, reject) => {
  startFailed = reject;
});
earlyFailure.catch(() => {}); // handled by connect(); never an unhandled rejection itself
/** @param {Event} event */
function onStartError(event) {
  startFailed(/** @type {any} */ (event).reason ?? /** @type {any} */ (event).error ?? event);
}
addEventListener("unhandledrejection", onStartError);
addEventListener("error", onStartError);
{
  const w = /** @type {any} */ (window);
  w.vramcalcStopEarly?.();
  if (w.vramcalcEarlyErrors?.length) startFailed(w.vramcalcEarlyErrors[0]);
}

// How Python started in the worker (interpreter.mjs says): from the build's memory snapshot,
// or the usual way; heard from the moment this module loads.
const boot = new BroadcastChannel("vramcalc-boot");
/** @type {{path: string, reason: string} | null} */
let booted = null;
/** @type {(path: string) => void} */
let onBoot = () => {};
boot.addEventListener("message", (event) => {
  if (booted) return; // the first start heard is this page's: another tab's would come later
  booted = event.data;
  boot.close();
  if (event.data.path !== "snapshot") console.info(`Python started without its snapshot: ${event.data.reason}`);
  onBoot(event.data.path);
});

/**
 * @param {{onBoot?: (path: string) => void}} [hooks] `onBoot`: how Python started, once known
 * @returns {Promise<Bridge>} resolves once Python has imported vramcalc in the worker
 */
export async function connect(hooks = {}) {
  onBoot = hooks.onBoot ?? onBoot;
  if (booted) onBoot(booted.path);
  const core = /** @type {HTMLScriptElement} */ (document.getElementById("pyscript-core"));
  const { whenDefined } = await import(core.src); // the same module instance the page loaded
  const started = (async () => {
    await whenDefined("py");
    const script = /** @type {any} */ (document.querySelector('script[type="py"][name="vramcalc"]'));
    await script.xworker.ready;
    return script.xworker;
  })();
  let timer;
  const timedOut = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error("Python did not start in time")), START_TIMEOUT_MS);
  });
  const xworker = await Promise.race([started, earlyFailure, timedOut]).finally(() => {
    clearTimeout(timer);
    removeEventListener("unhandledrejection", onStartError);
    removeEventListener("error", onStartError);
  });
  return {
    async compute(request, series) {
      return JSON.parse(await xworker.sync.compute(JSON.stringify(request), JSON.stringify(series)));
    },
    async series(request, series) {
      return JSON.parse(await xworker.sync.series(JSON.stringify(request), JSON.stringify(series)));
    },
    async fitChanges(request) {
      return JSON.parse(await xworker.sync.fit_changes(JSON.stringify(request)));
    },
    async hubRequest(id) {
      return JSON.parse(await xworker.sync.hub_request(id));
    },
    async hubAnswer(id, answer) {
      return JSON.parse(await xworker.sync.hub_answer(id, JSON.stringify(answer)));
    },
  };
}
