// bridge.js: waits for the named PyScript worker and calls the compute() it exports.

const START_TIMEOUT_MS = 60_000;

/**
 * @typedef {{field: string, values: number[]}} Series
 * @typedef {{response: Record<string, any>, series: {field: string, points: {value: number, total_bytes: number | null}[]} | null, request?: object}} Result
 *   (`request`: what the page sent, added by the page)
 * @typedef {{
 *   compute: (request: object, series: Series) => Promise<Result>,
 *   hubRequest: (id: string) => Promise<{url?: string, status?: string, message?: string}>,
 *   hubAnswer: (id: string, answer: object) => Promise<import("./hub.js").Lookup>,
 * }} Bridge
 */

/** @returns {Promise<Bridge>} resolves once Python has imported vramcalc in the worker */
export async function connect() {
  const core = /** @type {HTMLScriptElement} */ (document.getElementById("pyscript-core"));
  const { whenDefined } = await import(core.src); // the same module instance the page loaded
  const started = (async () => {
    await whenDefined("py");
    const script = /** @type {any} */ (document.querySelector('script[type="py"][name="vramcalc"]'));
    await script.xworker.ready;
    return script.xworker;
  })();
  let timer;
  /** @type {(event: Event) => void} */
  let onError = () => {};
  const failed = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error("Python did not start in time")), START_TIMEOUT_MS);
    // PyScript reports a failed start (a file it could not fetch, say) as an uncaught error
    onError = (event) => reject(/** @type {any} */ (event).reason ?? /** @type {any} */ (event).error ?? event);
    addEventListener("unhandledrejection", onError);
    addEventListener("error", onError);
  });
  const xworker = await Promise.race([started, failed]).finally(() => {
    clearTimeout(timer);
    removeEventListener("unhandledrejection", onError);
    removeEventListener("error", onError);
  });
  return {
    async compute(request, series) {
      return JSON.parse(await xworker.sync.compute(JSON.stringify(request), JSON.stringify(series)));
    },
    async hubRequest(id) {
      return JSON.parse(await xworker.sync.hub_request(id));
    },
    async hubAnswer(id, answer) {
      return JSON.parse(await xworker.sync.hub_answer(id, JSON.stringify(answer)));
    },
  };
}
