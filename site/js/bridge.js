// bridge.js: waits for the named PyScript worker and calls the compute() it exports.

const START_TIMEOUT_MS = 90_000;

/**
 * @typedef {{field: string, values: number[]}} Series
 * @typedef {{response: Record<string, any>, series: {field: string, points: {value: number, total_bytes: number | null}[]} | null}} Result
 * @typedef {{compute: (request: object, series: Series) => Promise<Result>}} Bridge
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
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error("Python did not start in time")), START_TIMEOUT_MS);
  });
  const xworker = await Promise.race([started, timeout]).finally(() => clearTimeout(timer));
  return {
    async compute(request, series) {
      const json = await xworker.sync.compute(JSON.stringify(request), JSON.stringify(series));
      return JSON.parse(json);
    },
  };
}
