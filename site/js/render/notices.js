// render/notices.js: every DOM write in the page's messages: the error banner, the notices above
// the page, and the Hugging Face look-up's status line.

import { byId as $, h } from "./dom.js";

/**
 * A notice above the page; `id` replaces an earlier one of the same id.
 * @param {string} id @param {string} text
 * @param {{items?: string[], action?: {label: string, run: () => void}, copy?: string}} [extra]
 *   `copy`: a read-only copy of that text, selected, for when the clipboard refuses it
 */
export function renderNotice(id, text, extra = {}) {
  const notices = $("notices");
  notices.querySelector(`[data-notice="${CSS.escape(id)}"]`)?.remove();
  const close = h("button", { type: "button", class: "close", "aria-label": "Dismiss" }, ["×"]);
  /** @type {Node[]} */
  const body = [h("span", {}, [text])];
  if (extra.items?.length) body.push(h("ul", {}, extra.items.map((i) => h("li", {}, [h("code", {}, [i])]))));
  if (extra.action) {
    const button = h("button", { type: "button", class: "button" }, [extra.action.label]);
    button.addEventListener("click", extra.action.run);
    body.push(button);
  }
  /** @type {HTMLInputElement | null} */
  let input = null;
  if (extra.copy !== undefined) {
    input = /** @type {HTMLInputElement} */ (h("input", { type: "text", readonly: "", class: "copy-fallback", "aria-label": "Text to copy" }));
    input.value = extra.copy;
    body.push(input);
  }
  const notice = h("div", { class: "notice", "data-notice": id }, [...body, close]);
  close.addEventListener("click", () => notice.remove());
  notices.append(notice);
  input?.select();
}

/** @param {string} id */
export function removeNotice(id) {
  $("notices").querySelector(`[data-notice="${CSS.escape(id)}"]`)?.remove();
}

/** @param {string} text */
export function renderBanner(text) {
  const banner = $("banner");
  banner.textContent = text;
  banner.hidden = false;
}

/** @param {string} text @param {{label: string, run: () => void}[]} [actions] @param {boolean} [error] */
export function renderHubStatus(text, actions = [], error = false) {
  const status = $("hub-status");
  status.classList.toggle("error", error);
  status.replaceChildren(text);
  for (const a of actions) {
    const button = h("button", { type: "button", class: "button small" }, [a.label]);
    button.addEventListener("click", a.run);
    status.append(" ", button);
  }
}
