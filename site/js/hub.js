// hub.js: fetches a model's config.json from the Hugging Face Hub: the page's only outside request.
// vramcalc.hub (in the worker) builds the URL and reads the answer, as it does for the CLI.

/**
 * @typedef {{config?: Record<string, unknown>, status?: string, message?: string}} Lookup
 * @typedef {{error?: {problems: {field: string, message: string}[]}}} Failed
 * @param {string} id "owner/name"
 * @param {import("./bridge.js").Bridge} bridge
 * @returns {Promise<Lookup>} the config, or the engine's status and message
 */
export async function lookUp(id, bridge) {
  const asked = /** @type {{url?: string} & Lookup & Failed} */ (await bridge.hubRequest(id));
  if (asked.error) return failed(asked.error);
  if (!asked.url) return asked; // not an id
  let answer;
  try {
    const response = await fetch(asked.url, { credentials: "omit", referrerPolicy: "no-referrer" });
    answer = {
      status: response.status,
      error_code: response.headers.get("x-error-code") ?? "",
      body: response.ok ? await response.text() : "",
    };
  } catch {
    answer = { status: null, error_code: "", body: "" }; // offline, or the Hub unreachable
  }
  const found = /** @type {Lookup & Failed} */ (await bridge.hubAnswer(id, answer));
  return found.error ? failed(found.error) : found;
}

/**
 * The worker's error shape (a bug, or an answer it refused) as a lookup that failed.
 * @param {{problems: {field: string, message: string}[]}} error
 * @returns {Lookup}
 */
function failed(error) {
  return { status: "error", message: error.problems.map((p) => p.message).join("; ") };
}
