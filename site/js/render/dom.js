// render/dom.js: the element builder the render modules share (text always as text nodes).

import { gb, gib } from "../units.js";

/** @param {string} id */
export const byId = (id) => /** @type {HTMLElement} */ (document.getElementById(id));

/** An element with attributes and children; strings become text nodes, never markup.
 * @param {string} tag @param {Record<string, string>} [attrs] @param {(Node | string)[]} [children] */
export function h(tag, attrs = {}, children = []) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
  node.append(...children);
  return node;
}

/** A figure in GiB, with GB and exact bytes on hover.
 * @param {number} bytes @param {string} [tag] */
export function figure(bytes, tag = "span") {
  return h(tag, { title: gb(bytes), class: "num" }, [gib(bytes)]);
}
