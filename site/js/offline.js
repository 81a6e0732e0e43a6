// offline.js: registers the service worker; says when the page is offline or a new version waits.

/**
 * @param {{onOffline: (offline: boolean) => void, onUpdate: (apply: () => void) => void}} hooks
 */
export async function registerServiceWorker({ onOffline, onUpdate }) {
  addEventListener("online", () => onOffline(false));
  addEventListener("offline", () => onOffline(true));
  if (!navigator.onLine) onOffline(true);
  if (!("serviceWorker" in navigator)) return;
  const hadController = Boolean(navigator.serviceWorker.controller);
  const registration = await navigator.serviceWorker.register("./sw.js");
  const offerUpdate = (/** @type {ServiceWorker} */ waiting) =>
    onUpdate(() => {
      navigator.serviceWorker.addEventListener("controllerchange", () => location.reload(), { once: true });
      waiting.postMessage({ type: "skip-waiting" });
    });
  if (registration.waiting && hadController) offerUpdate(registration.waiting);
  registration.addEventListener("updatefound", () => {
    const installing = registration.installing;
    installing?.addEventListener("statechange", () => {
      if (installing.state === "installed" && navigator.serviceWorker.controller) offerUpdate(installing);
    });
  });
  // Asking for a newer sw.js doubles as the check that the site can be reached.
  if (hadController) {
    registration.update().then(
      () => navigator.onLine && onOffline(false),
      () => onOffline(true),
    );
  }
}
