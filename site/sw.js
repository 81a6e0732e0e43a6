// sw.js: precaches exactly the page's files and serves them offline (build.py fills in the list).
/* eslint-env serviceworker */

const VERSION = "__VERSION__";
const PRECACHE = "__PRECACHE__";
const CACHE = `vramcalc-${VERSION}`;
const INDEX = new URL("./index.html", self.registration.scope).href;
// Runtime files live in versioned folders whose bytes never change (see build.py).
const VERSIONED = new URL("./vendor/", self.registration.scope).href;

// Python's memory snapshot (see interpreter.mjs), gzipped on the wire.
const SNAPSHOT = new URL("./python/snapshot.bin", self.registration.scope).href;

self.addEventListener("install", (event) => {
  event.waitUntil(
    (async () => {
      const cache = await caches.open(CACHE);
      await cache.addAll(PRECACHE);
      await inflateSnapshot(cache);
    })(),
  );
  // The first version activates at once; later ones wait until the page asks (see "skip-waiting").
});

/** Keep the snapshot decompressed: a start then reads it as it is instead of inflating 30 MB
 * (interpreter.mjs takes either form). It stays gzipped if it cannot be inflated. */
async function inflateSnapshot(cache) {
  const response = await cache.match(SNAPSHOT);
  if (!response || !response.body) return;
  try {
    const inflated = await new Response(response.body.pipeThrough(new DecompressionStream("gzip"))).blob();
    await cache.put(SNAPSHOT, new Response(inflated, { headers: { "Content-Type": "application/octet-stream" } }));
  } catch {
    // a corrupt snapshot: interpreter.mjs will not use it either
  }
}

self.addEventListener("activate", (event) => {
  event.waitUntil(
    (async () => {
      for (const name of await caches.keys()) {
        if (name.startsWith("vramcalc-") && name !== CACHE) await caches.delete(name);
      }
      await self.clients.claim();
    })(),
  );
});

self.addEventListener("message", (event) => {
  if (event.data && event.data.type === "skip-waiting") self.skipWaiting();
});

self.addEventListener("fetch", (event) => {
  const request = event.request;
  if (request.method !== "GET" || !request.url.startsWith(self.registration.scope)) return;
  event.respondWith(respond(request));
});

/** Cache first; a versioned runtime file comes from the HTTP cache when it is there (the browser
 * keeps compiled WebAssembly beside HTTP-cache entries, not beside Cache Storage ones, when the
 * request comes from a worker); any page navigation falls back to index.html. */
async function respond(request) {
  const cache = await caches.open(CACHE);
  if (request.url.startsWith(VERSIONED)) {
    const cached = await fetch(request.url, { cache: "only-if-cached", mode: "same-origin" }).catch(
      () => null,
    );
    if (cached && cached.ok) return cached;
  }
  const hit =
    (await cache.match(request, { ignoreSearch: true })) ||
    (request.mode === "navigate" ? await cache.match(INDEX) : undefined);
  return hit || fetch(request);
}
