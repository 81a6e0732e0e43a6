// errors.js: the page's error codes and the words shown for each (one table, one place).

/** @type {Record<string, string>} */
const MESSAGES = {
  "python-start":
    "Python could not start in this browser, so figures cannot be recomputed. The figures shown are for the default inputs.",
  "python-crash": "The calculation stopped unexpectedly. Reload the page to restart it.",
  "config-file": "That file could not be read.",
  "url-unknown": "This link has settings this version does not know; they were ignored:",
  "url-invalid": "This link has values that are not valid here; the defaults are used instead:",
  "lora-targets": "This model has no LoRA target modules of these names; they were unticked:",
  "lora-targets-default":
    "This model has none of the ticked LoRA target modules; its default targets are used instead of:",
  clipboard: "The browser blocked copying; select this text and copy it:",
  offline: "Offline: everything still computes here; only Hugging Face look-ups need the network.",
  update: "A new version of vramcalc is ready.",
};

/** @param {string} code @returns {string} */
export const message = (code) => MESSAGES[code] ?? code;
