// render/page.js: every DOM write in the page's frame: its state attributes, the view tabs, the
// footer, the embed dialog, links and downloads, button feedback.

import { byId as $, h } from "./dom.js";

const root = document.documentElement;

/** @param {"prerendered" | "live" | "error"} state */
export function setState(state) {
  root.dataset.state = state;
}

/** Whether Python is computing (or about to compute) the current inputs.
 * @param {boolean} busy */
export function setBusy(busy) {
  if (busy) root.dataset.busy = "";
  else delete root.dataset.busy;
}

/** How Python started in the worker: "snapshot" (the build's memory snapshot) or "standard".
 * @param {string} path */
export function setBoot(path) {
  root.dataset.boot = path;
}

/** The form is hidden until it holds the view's defaults (prerendered.js hides it). */
export function formFilled() {
  delete root.dataset.filling;
}

/** The links are pending until the page knows what a link's own inputs give. */
export function clearPending() {
  delete root.dataset.pending;
}

/** Mark the view's tab and tell the stylesheet the view and the workload.
 * @param {string} view @param {string} workload */
export function showViewTabs(view, workload) {
  root.dataset.view = view;
  root.dataset.workload = workload;
  for (const link of document.querySelectorAll("nav.views a")) {
    if (/** @type {HTMLElement} */ (link).dataset.view === view) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
}

/** @param {string} text */
export function renderVersion(text) {
  $("version").textContent = text;
}

/** @param {string} snippet */
export function openEmbedDialog(snippet) {
  const code = /** @type {HTMLTextAreaElement} */ ($("embed-code"));
  code.value = snippet;
  /** @type {HTMLDialogElement} */ ($("embed-dialog")).showModal();
  code.select();
}

/** @param {HTMLElement} button @param {string} text briefly replaces the button's label */
export function flash(button, text) {
  const before = button.dataset.label ?? button.textContent ?? "";
  button.dataset.label = before;
  button.textContent = text;
  setTimeout(() => {
    button.textContent = before;
  }, 1500);
}

/** @param {string} href the full page (no embed) for the current inputs */
export function setFullPageLink(href) {
  /** @type {HTMLAnchorElement} */ ($("open-full")).href = href;
}

/** Offer `text` as a file download. @param {string} name @param {string} text */
export function download(name, text) {
  const url = URL.createObjectURL(new Blob([text], { type: "application/json" }));
  const link = /** @type {HTMLAnchorElement} */ (h("a", { href: url, download: name }));
  link.click();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}
