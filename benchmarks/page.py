#!/usr/bin/env python3
"""Time the page in headless Chromium on localhost and print the figures beside the targets.

    python benchmarks/page.py [--runs 5] [--edits 20] [--dist [LABEL=]DIR ...] [--chromium PATH]

Each run starts three new browser profiles, each on its own server (its own origin):
  - the default view: a cold visit (nothing cached; an input is edited as soon as the first
    numbers show, and "live" is when Python has recomputed it), edits on a live page, a warm
    visit (service worker and HTTP cache filled), an offline visit (the server stopped) and an
    offline visit with the HTTP cache cleared too (everything from the service worker's cache);
  - a shared link (inputs in the URL): cold, then warm, until its own total shows;
  - the same link as an embed, in an iframe of a page on another origin: cold, then warm.
Medians over the runs; the edit latencies are the 95th percentile over every edit of every run.
With several --dist folders, the runs alternate between them (the same machine load for each)
and the table has a column per folder.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import gzip
import http.server
import os
import shutil
import statistics
import sys
import tempfile
import threading
from collections import Counter, defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from playwright.sync_api import BrowserContext, Frame, Page, sync_playwright  # noqa: E402
from playwright.sync_api import TimeoutError as PlaywrightTimeoutError  # noqa: E402

import build  # noqa: E402

CHROMIUM = os.environ.get("VRAMCALC_CHROMIUM", "/usr/bin/chromium")
EDITED_CONTEXT = 16384  # the edit made while Python starts: context_length 8192 -> 16384
# A shared link: another model, context and batch than the default view's (so another total)
LINK = "?view=inference&model.preset=Qwen/Qwen3-8B&context_length=32768&batch_size=2&gpu=rtx-4090"
LIVE_TIMEOUT_MS = 60_000

# Collected in every frame from its first moment: long tasks, and each text the total shows
# with the time it was set and the time the frame that draws it is done (a task queued from
# that frame's animation callback runs once the frame is rendered).
PROBE = """
window.__longtasks = [];
new PerformanceObserver((list) => {
  for (const e of list.getEntries()) window.__longtasks.push(e.duration);
}).observe({ type: "longtask", buffered: true });
window.__totals = [];
new MutationObserver(() => {
  const text = document.querySelector("[data-testid=total]")?.textContent ?? "";
  const last = window.__totals.at(-1);
  if (!text || (last && last.text === text)) return;
  const entry = { text, set: performance.now(), drawn: null };
  window.__totals.push(entry);
  requestAnimationFrame(() => setTimeout(() => { entry.drawn = performance.now(); }));
}).observe(document, { subtree: true, childList: true, characterData: true });
"""
# When `t` was first drawn (ms since the frame's navigation), and FCP; null until drawn.
DRAWN = """t => {
  const e = window.__totals.find(x => x.text === t && x.drawn !== null);
  const fcp = performance.getEntriesByName("first-contentful-paint")[0]?.startTime ?? 0;
  return e ? { drawn: Math.max(e.drawn, fcp), origin: performance.timeOrigin } : null;
}"""

TARGETS = {  # seconds
    "first numbers, cold": 0.5,
    "Python live, cold": 2.0,
    "Python live, warm": 1.0,
    "Python live, offline": 1.0,
    "Python live, offline, HTTP cache cleared": 1.0,
    "shared link: its total, cold": 2.0,
    "shared link: its total, warm": 1.0,
    "embed: its total, cold": 2.0,
    "embed: its total, warm": 1.0,
    "edit -> total and GPU table, p95": 0.016,
    "edit -> chart, p95": 0.050,
    "longest main-thread task, cold": 0.200,
}


class QuietHandler(build.Handler):
    """The build's static handler; a browser that goes away mid-transfer is no error."""

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def copyfile(self, source: Any, outputfile: Any) -> None:
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            super().copyfile(source, outputfile)


class Server:
    """A folder on 127.0.0.1, in a thread; stop() makes the port refuse connections."""

    def __init__(self, folder: Path) -> None:
        handler = functools.partial(QuietHandler, directory=str(folder))
        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def stop(self) -> None:
        with contextlib.suppress(OSError):
            self.httpd.shutdown()
            self.httpd.server_close()


@contextlib.contextmanager
def profile(pw: Any) -> Any:
    """A new persistent browser profile (a warm visit needs one: caches survive pages)."""
    folder = tempfile.mkdtemp(prefix="vramcalc-bench-")
    context = pw.chromium.launch_persistent_context(
        folder,
        executable_path=CHROMIUM,
        headless=True,
        args=["--disable-background-networking", "--disable-component-update", "--no-first-run"],
    )
    context.add_init_script(PROBE)
    try:
        yield context
    finally:
        context.close()
        shutil.rmtree(folder, ignore_errors=True)


def drawn_at(frame: Page | Frame, text: str) -> tuple[float, float]:
    """(ms since the frame's navigation, the frame's timeOrigin) when `text` was drawn."""
    handle = frame.wait_for_function(DRAWN, arg=text, timeout=LIVE_TIMEOUT_MS, polling=50)
    value = handle.json_value()
    return value["drawn"], value["origin"]


def boot_path(frame: Page | Frame) -> str:
    return frame.evaluate("document.documentElement.dataset.boot ?? 'not reported'")


def expected(pw: Any, dist: Path) -> dict[str, str]:
    """The totals the timed visits wait for, as the page itself shows them once live."""
    server = Server(dist)
    with profile(pw) as context:
        page = context.new_page()
        page.goto(server.url)
        page.wait_for_selector("html[data-state=live]", state="attached", timeout=LIVE_TIMEOUT_MS)
        totals = {"default": total(page)}
        update(page, lambda: page.fill("[name=context_length]", str(EDITED_CONTEXT)))
        totals["edited"] = total(page)
        page.goto(server.url + LINK)
        page.wait_for_selector("html[data-state=live]", state="attached", timeout=LIVE_TIMEOUT_MS)
        totals["link"] = total(page)
    server.stop()
    assert len(set(totals.values())) == 3, totals
    return totals


def total(page: Page | Frame) -> str:
    page.wait_for_timeout(300)  # settled
    return page.locator("[data-testid=total]").text_content() or ""


def update(page: Page, action: Callable[[], None]) -> dict[str, float]:
    """Do `action` (an input change) on a live page; the page's own update measures (s)."""
    names = ("vramcalc:update", "vramcalc:update-chart")
    count = "n => performance.getEntriesByName(n).length"
    before = {n: page.evaluate(count, n) for n in names}
    action()
    page.wait_for_function(
        "n => performance.getEntriesByName('vramcalc:update').length > n", arg=before[names[0]]
    )
    page.wait_for_timeout(60)  # the chart, when it follows
    got = {}
    for name in names:
        if page.evaluate(count, name) > before[name]:
            got[name] = page.evaluate(
                "n => performance.getEntriesByName(n).at(-1).duration", name) / 1000
    return got


def transferred(requests: list[Any], url: str) -> dict[str, int]:
    """Bytes each file of the site took (body and headers), the service worker's own
    precaching excluded."""
    sizes: dict[str, int] = defaultdict(int)
    for request in requests:
        if request.service_worker is not None or not request.url.startswith(url):
            continue
        s = request.sizes()
        sizes["/" + request.url.removeprefix(url).split("?")[0]] += (
            s["responseBodySize"] + s["responseHeadersSize"]
        )
    return dict(sizes)


def visit(context: BrowserContext, url: str, totals: dict[str, str]) -> dict[str, Any]:
    """Navigate to the default view, edit context_length once the first numbers show, wait
    until Python has recomputed it."""
    requests: list[Any] = []

    def finished(request: Any) -> None:
        requests.append(request)

    context.on("requestfinished", finished)
    page = context.new_page()
    page.goto(url, wait_until="commit")
    first, _ = drawn_at(page, totals["default"])
    page.fill("[name=context_length]", str(EDITED_CONTEXT))
    page.wait_for_function(
        "t => document.documentElement.dataset.state === 'live'"
        " && document.querySelector('[data-testid=total]').textContent === t",
        arg=totals["edited"],
        timeout=LIVE_TIMEOUT_MS,
    )
    context.remove_listener("requestfinished", finished)
    out = {
        "first": first / 1000,
        "live": page.evaluate("performance.getEntriesByName('vramcalc:live')[0].startTime") / 1000,
        "longtask": page.evaluate("Math.max(0, ...window.__longtasks)") / 1000,
        "boot": boot_path(page),
        "bytes": transferred(requests, url),
    }
    page.close()
    return out


def wait_controlled(context: BrowserContext, url: str, frame_of: Callable[[Page], Any]) -> None:
    """Wait until the service worker controls the page (registered once Python is live; it
    controls the page once its precaching is done). A registration cut short when the cold
    visit's page closed is retried by loading the page again."""
    for _ in range(3):
        page = context.new_page()
        page.goto(url)
        frame = frame_of(page)
        frame.wait_for_selector("html[data-state=live]", state="attached", timeout=LIVE_TIMEOUT_MS)
        try:
            frame.wait_for_function("navigator.serviceWorker.controller !== null", timeout=40_000)
            return
        except PlaywrightTimeoutError:
            continue
        finally:
            page.close()
    raise RuntimeError(f"no service worker took control of {url}")


def embedded(page: Page) -> Frame:
    """The page's iframe."""
    frame = page.wait_for_selector("iframe").content_frame()
    assert frame is not None
    return frame


def link_visit(context: BrowserContext, url: str, text: str) -> dict[str, Any]:
    page = context.new_page()
    page.goto(url, wait_until="commit")
    at, _ = drawn_at(page, text)
    out = {"total": at / 1000, "boot": boot_path(page)}
    page.close()
    return out


def embed_visit(context: BrowserContext, host_url: str, text: str) -> dict[str, Any]:
    """The host page's navigation to the embedded total drawn."""
    page = context.new_page()
    page.goto(host_url, wait_until="commit")
    host_origin = page.evaluate("performance.timeOrigin")
    frame = embedded(page)
    at, frame_origin = drawn_at(frame, text)
    out = {"total": (frame_origin + at - host_origin) / 1000, "boot": boot_path(frame)}
    page.close()
    return out


def one_run(pw: Any, dist: Path, totals: dict[str, str], n_edits: int) -> dict[str, Any]:
    out: dict[str, Any] = {}
    server = Server(dist)
    try:
        with profile(pw) as context:
            out["cold"] = visit(context, server.url, totals)
            page = context.new_page()
            page.goto(server.url)
            page.wait_for_selector("html[data-state=live]", state="attached",
                                   timeout=LIVE_TIMEOUT_MS)
            page.wait_for_function("navigator.serviceWorker.controller !== null",
                                   timeout=LIVE_TIMEOUT_MS)
            out["edits"] = edits(page, n_edits)
            page.close()
            out["warm"] = visit(context, server.url, totals)
            server.stop()
            out["offline"] = visit(context, server.url, totals)
            page = context.new_page()
            session = context.new_cdp_session(page)
            session.send("Network.clearBrowserCache")
            session.detach()
            page.close()
            out["offline_cleared"] = visit(context, server.url, totals)
    finally:
        server.stop()

    server = Server(dist)
    try:
        with profile(pw) as context:
            out["link_cold"] = link_visit(context, server.url + LINK, totals["link"])
            wait_controlled(context, server.url + LINK, lambda p: p)
            out["link_warm"] = link_visit(context, server.url + LINK, totals["link"])
    finally:
        server.stop()

    server = Server(dist)
    with tempfile.TemporaryDirectory() as host_dir:
        src = f"{server.url}{LINK}&embed=1"
        (Path(host_dir) / "index.html").write_text(
            '<!doctype html><title>Docs</title><link rel="icon" href="data:,"><h1>Docs</h1>'
            f'<iframe src="{src.replace("&", "&amp;")}" style="width:100%;height:720px"></iframe>'
        )
        host = Server(Path(host_dir))
        try:
            with profile(pw) as context:
                out["embed_cold"] = embed_visit(context, host.url, totals["link"])
                wait_controlled(context, host.url, embedded)
                out["embed_warm"] = embed_visit(context, host.url, totals["link"])
        finally:
            host.stop()
            server.stop()
    return out


def edits(page: Page, count: int) -> list[dict[str, float]]:
    """Change an input `count` times, the charted context length and the batch size in turn."""
    got = []
    for i in range(count):
        if i % 2:
            value = str(1 + i % 7)
            got.append(update(page, lambda v=value: page.fill("[name=batch_size]", v)))
        else:
            value = str([4096, 8192, 16384, 32768][i % 4] + i)
            got.append(update(page, lambda v=value: page.fill("[name=context_length]", v)))
    return got


def p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]


def gzipped(dist: Path, sent: dict[str, int]) -> int:
    """What the same files weigh gzipped (-6, a compressing host's usual level)."""
    size = 0
    for path in sent:
        file = dist / (path.lstrip("/") or "index.html")
        size += len(gzip.compress(file.read_bytes(), 6, mtime=0)) if file.is_file() else sent[path]
    return size


def figures(runs: list[dict[str, Any]], dist: Path) -> dict[str, Any]:
    def med(visit_name: str, key: str) -> float:
        return statistics.median(r[visit_name][key] for r in runs)

    every = [e for r in runs for e in r["edits"]]
    updates = [e["vramcalc:update"] for e in every]
    charts = [e.get("vramcalc:update-chart", e["vramcalc:update"]) for e in every]
    boots = Counter(
        r[v]["boot"] for r in runs
        for v in ("cold", "warm", "offline", "offline_cleared", "link_cold", "link_warm",
                  "embed_cold", "embed_warm")
    )
    sent = runs[0]["cold"]["bytes"]
    return {
        "first numbers, cold": med("cold", "first"),
        "Python live, cold": med("cold", "live"),
        "Python live, warm": med("warm", "live"),
        "Python live, offline": med("offline", "live"),
        "Python live, offline, HTTP cache cleared": med("offline_cleared", "live"),
        "shared link: its total, cold": med("link_cold", "total"),
        "shared link: its total, warm": med("link_warm", "total"),
        "embed: its total, cold": med("embed_cold", "total"),
        "embed: its total, warm": med("embed_warm", "total"),
        "edit -> total and GPU table, p95": p95(updates),
        "edit -> total and GPU table, median": statistics.median(updates),
        "edit -> chart, p95": p95(charts),
        "longest main-thread task, cold": med("cold", "longtask"),
        "boot path (visits)": ", ".join(f"{k} {n}" for k, n in sorted(boots.items())),
        "bytes of a cold visit, as served": sum(sent.values()),
        "bytes of a cold visit, gzipped": gzipped(dist, sent),
        "files": sent,
    }


def report(results: dict[str, dict[str, Any]], n_runs: int) -> None:
    labels = list(results)
    print(f"\n{n_runs} runs per build; seconds; medians unless noted\n")
    print(f"{'metric':<44}" + "".join(f"{label:>14}" for label in labels) + f"{'target':>9}")
    for name in results[labels[0]]:
        if name == "files":
            continue
        cells = []
        for label in labels:
            value = results[label][name]
            if isinstance(value, str):
                cells.append(value)
            elif name.startswith("bytes"):
                cells.append(f"{value:>14,}")
            else:
                cells.append(f"{value:>14.3f}")
        target = TARGETS.get(name)
        line = f"{name:<44}" + "".join(c if c.startswith(" ") else f"{c:>14}" for c in cells)
        print(line + (f"{target:>9.3f}" if target else ""))
    for label in labels:
        print(f"\n{label}: bytes of a cold visit until Python is live (first run), by file:")
        sent = results[label]["files"]
        for path, n in sorted(sent.items(), key=lambda kv: -kv[1]):
            print(f"  {n:>12,}  {path}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--edits", type=int, default=20, help="input changes timed per run")
    parser.add_argument("--dist", action="append", default=[], metavar="[LABEL=]DIR",
                        help="a built site (default: build this checkout into a temp dir)")
    args = parser.parse_args()
    if not Path(CHROMIUM).exists():
        print(f"Chromium not found at {CHROMIUM} (set VRAMCALC_CHROMIUM)", file=sys.stderr)
        return 1
    with tempfile.TemporaryDirectory() as tmp:
        dists = {}
        for spec in args.dist:
            label, _, folder = spec.rpartition("=")
            dists[label or Path(folder).name] = Path(folder)
        if not dists:
            dists["this build"] = build.build(Path(tmp) / "dist")
        runs: dict[str, list[dict[str, Any]]] = {label: [] for label in dists}
        with sync_playwright() as pw:
            totals = {label: expected(pw, dist) for label, dist in dists.items()}
            for i in range(args.runs):
                for label, dist in dists.items():
                    r = one_run(pw, dist, totals[label], args.edits)
                    runs[label].append(r)
                    print(
                        f"run {i + 1} {label}: first {r['cold']['first']:.3f}"
                        f"  live cold {r['cold']['live']:.2f} warm {r['warm']['live']:.2f}"
                        f" offline {r['offline']['live']:.2f}"
                        f" cleared {r['offline_cleared']['live']:.2f}"
                        f"  link {r['link_cold']['total']:.2f}/{r['link_warm']['total']:.2f}"
                        f"  embed {r['embed_cold']['total']:.2f}/{r['embed_warm']['total']:.2f}"
                        f"  boot {r['warm']['boot']}",
                        flush=True,
                    )
        report({label: figures(runs[label], dists[label]) for label in dists}, args.runs)
    return 0


if __name__ == "__main__":
    sys.exit(main())
