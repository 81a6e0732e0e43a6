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

/** Set a node's text, only if it changed (an unchanged node is not laid out again).
 * @param {Node} node @param {string} text */
export function setText(node, text) {
  if (node.textContent !== text) node.textContent = text;
}

/** Set a figure made by figure() to other bytes. @param {HTMLElement} node @param {number} bytes */
export function setFigure(node, bytes) {
  setText(node, gib(bytes));
  const title = gb(bytes);
  if (node.title !== title) node.title = title;
}

/** Set an attribute, only if it changed. @param {Element} node @param {string} name @param {string} value */
export function setAttr(node, name, value) {
  if (node.getAttribute(name) !== value) node.setAttribute(name, value);
}
