// errors.js: the page's error codes and the words shown for each (one table, one place).

/** @type {Record<string, string>} */
export const MESSAGES = {
  "python-start":
    "Python could not start in this browser, so figures cannot be recomputed. The figures shown are for the default inputs.",
  "python-crash": "The calculation stopped unexpectedly. Reload the page to restart it.",
  "hub-bad-id": "That is not a Hugging Face model id. Ids look like org/name, e.g. Qwen/Qwen2.5-7B-Instruct.",
  "hub-offline": "You are offline, so the Hugging Face Hub cannot be reached.",
  "hub-unreachable": "The Hugging Face Hub could not be reached.",
  "hub-gated":
    "The Hub did not send this model's config.json: the model is gated, private, or does not exist. If you have access, download config.json from its page and paste it.",
  "hub-not-found": "This repository has no config.json (a GGUF-only repository, for instance).",
  "hub-status": "The Hugging Face Hub answered with an error.",
  "hub-bad-json": "The Hub's config.json is not a JSON object.",
  "config-file": "That file could not be read.",
  "url-unknown": "This link has settings this version does not know; they were ignored:",
  "url-invalid": "This link has values that are not valid here; the defaults are used instead:",
  clipboard: "The browser blocked copying; the text is selected so you can copy it yourself.",
  offline: "Offline: everything still computes here; only Hugging Face look-ups need the network.",
  update: "A new version of vramcalc is ready.",
};

/** @param {string} code @returns {string} */
export const message = (code) => MESSAGES[code] ?? code;
