// embed.js: the embed view tells its host page its height; the Embed dialog's snippet.

const RESIZE = "vramcalc:resize";

/** In a frame, post the document's height to the host whenever it changes. */
export function reportHeight() {
  if (window.parent === window) return;
  let last = 0;
  const post = () => {
    const height = Math.ceil(document.documentElement.getBoundingClientRect().height);
    if (height === last) return;
    last = height;
    window.parent.postMessage({ type: RESIZE, height }, "*"); // a height is no secret
  };
  new ResizeObserver(post).observe(document.documentElement);
  post();
}

/** @param {string} src the embed URL @returns {string} HTML for the host page */
export function snippet(src) {
  const origin = new URL(src).origin;
  const attr = src.replaceAll("&", "&amp;").replaceAll('"', "&quot;");
  return `<iframe src="${attr}" title="vramcalc: GPU memory estimate" data-vramcalc
  style="width:100%;height:720px;border:0" loading="lazy"></iframe>
<script>
addEventListener("message", (e) => {
  if (e.origin !== "${origin}" || !e.data || e.data.type !== "${RESIZE}") return;
  for (const f of document.querySelectorAll("iframe[data-vramcalc]"))
    if (f.contentWindow === e.source) f.style.height = e.data.height + "px";
});
</script>`;
}
