// hub.js: fetches a model's config.json from the Hugging Face Hub: the page's only outside request.

export const HUB = "https://huggingface.co";
const MODEL_ID = /^[A-Za-z0-9][\w.-]*(\/[A-Za-z0-9][\w.-]*)?$/;

export class HubError extends Error {
  /** @param {string} code a key of errors.js MESSAGES @param {string} [detail] */
  constructor(code, detail = "") {
    super(code);
    this.code = code;
    this.detail = detail;
  }
}

/** @param {string} id @returns {string} the resolve URL of the id's config.json */
export function configUrl(id) {
  return `${HUB}/${id.split("/").map(encodeURIComponent).join("/")}/resolve/main/config.json`;
}

/**
 * @param {string} id "org/name"
 * @param {AbortSignal} [signal]
 * @returns {Promise<Record<string, unknown>>} the parsed config.json
 */
export async function fetchConfig(id, signal) {
  if (!MODEL_ID.test(id)) throw new HubError("hub-bad-id");
  let response;
  try {
    response = await fetch(configUrl(id), { signal, credentials: "omit", referrerPolicy: "no-referrer" });
  } catch (error) {
    if (signal?.aborted) throw error;
    throw new HubError(navigator.onLine ? "hub-unreachable" : "hub-offline");
  }
  const hubCode = response.headers.get("x-error-code") ?? "";
  if (response.status === 401 || response.status === 403 || hubCode === "GatedRepo") {
    throw new HubError("hub-gated", hubCode);
  }
  if (response.status === 404) throw new HubError("hub-not-found", hubCode);
  if (!response.ok) throw new HubError("hub-status", `HTTP ${response.status}`);
  let config;
  try {
    config = await response.json();
  } catch {
    throw new HubError("hub-bad-json");
  }
  if (!config || typeof config !== "object" || Array.isArray(config)) throw new HubError("hub-bad-json");
  return config;
}
