// json.js: JSON text from a link, a pasted or an uploaded config, parsed only when its nesting
// is bounded, so that no walk of the value (the page's own, JSON.stringify's, the worker's) can
// overflow a stack. The bound is the package's (vramcalc.jsonin.MAX_DEPTH); a test keeps the two
// equal.

export const MAX_DEPTH = 64;

/**
 * The deepest nesting of arrays and objects in a JSON text, counted without parsing it.
 * @param {string} text
 * @returns {number}
 */
export function nestingDepth(text) {
  let depth = 0;
  let deepest = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 92) i++; // a backslash: the next character is escaped
      else if (c === 34) inString = false;
    } else if (c === 34) inString = true;
    else if (c === 91 || c === 123) deepest = Math.max(deepest, ++depth);
    else if (c === 93 || c === 125) depth--;
  }
  return deepest;
}

/**
 * JSON.parse, refusing a text nested deeper than MAX_DEPTH before any parsing.
 * @param {string} text
 * @param {string} what named in the error
 * @returns {any}
 */
export function parseBounded(text, what) {
  if (nestingDepth(text) > MAX_DEPTH) throw new RangeError(`${what} is nested more than ${MAX_DEPTH} levels deep`);
  return JSON.parse(text);
}
