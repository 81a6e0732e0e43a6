#!/usr/bin/env python3
"""Time the page in headless Chromium on localhost and print the figures beside the targets.

    python benchmarks/page.py [--runs 5] [--edits 20] [--dist DIR] [--chromium PATH]

Each run uses a new browser profile: a cold visit (nothing cached), a warm visit (same profile,
service worker and HTTP cache filled), an offline visit (the server stopped) and an offline visit
with the HTTP cache cleared too (everything from the service worker's cache). Medians over the
runs; the input-to-update latency is the 95th percentile over every edit of every run.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import http.server
import os
import shutil
import statistics
import sys
import tempfile
import threading
from collections import defaultdict
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from playwright.sync_api import BrowserContext, Page, sync_playwright  # noqa: E402

import build  # noqa: E402

CHROMIUM = os.environ.get("VRAMCALC_CHROMIUM", "/usr/bin/chromium")
EDITED_CONTEXT = 16384  # the edit made while Python starts: context_length 8192 -> 16384

# Collected in the page from its first moment: long tasks and the prerendered total's paint.
PROBE = """
window.__longtasks = [];
new PerformanceObserver((list) => {
  for (const e of list.getEntries()) window.__longtasks.push([e.startTime, e.duration]);
}).observe({ type: "longtask", buffered: true });
"""

ORIGINAL = {  # the Streamlit app, localhost, headless Chromium (from the issue)
    "first numbers, cold (s)": 2.2,
    "input change -> update (s)": 0.21,
}


class QuietHandler(build.Handler):
    """The build's static handler; a browser that goes away mid-transfer is no error."""

    def copyfile(self, source: Any, outputfile: Any) -> None:
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            super().copyfile(source, outputfile)


class Server:
    """dist/ on 127.0.0.1, in a thread; stop() makes the port refuse connections."""

    def __init__(self, dist: Path, port: int = 0) -> None:
        handler = functools.partial(QuietHandler, directory=str(dist))
        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", port), handler)
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def expected_totals() -> tuple[str, str]:
    """The default total and the edited one, as the page shows them, from CPython."""
    vramcalc = build.import_package(ROOT)
    import json

    defaults = json.loads((ROOT / "site" / "defaults.json").read_text())
    request = defaults["requests"][defaults["view"]]
    first = vramcalc.estimate(request)["total_bytes"]
    edited = vramcalc.estimate({**request, "context_length": EDITED_CONTEXT})["total_bytes"]
    return build.format_gib(first), build.format_gib(edited)


def visit(context: BrowserContext, url: str, expected: tuple[str, str]) -> dict[str, Any]:
    """Navigate, edit context_length at once, wait until Python has recomputed it. Also: the
    bytes each file took until then (body and headers; the service worker's own precaching,
    which starts once Python is live, excluded)."""
    requests: list[Any] = []

    def finished(request: Any) -> None:
        requests.append(request)

    context.on("requestfinished", finished)
    page = context.new_page()
    page.add_init_script(PROBE)
    page.goto(url, wait_until="commit")
    page.wait_for_function(
        "t => document.querySelector('[data-testid=total]')?.textContent === t", arg=expected[0]
    )
    first = page.evaluate("performance.now()")
    page.fill("[name=context_length]", str(EDITED_CONTEXT))
    page.wait_for_function(
        "t => document.documentElement.dataset.state === 'live'"
        " && document.querySelector('[data-testid=total]').textContent === t",
        arg=expected[1],
        timeout=60_000,
    )
    context.remove_listener("requestfinished", finished)
    live = page.evaluate("performance.getEntriesByName('vramcalc:live')[0].startTime")
    fcp = page.evaluate(
        "performance.getEntriesByName('first-contentful-paint')[0]?.startTime ?? null"
    )
    longest = page.evaluate("Math.max(0, ...window.__longtasks.map(t => t[1]))")
    transferred: dict[str, int] = defaultdict(int)
    for request in requests:
        if request.service_worker is not None or not request.url.startswith(url):
            continue
        sizes = request.sizes()
        path = "/" + request.url.removeprefix(url).split("?")[0]
        transferred[path] += sizes["responseBodySize"] + sizes["responseHeadersSize"]
    page.close()
    return {
        "first": (fcp if fcp is not None else first) / 1000,
        "live": live / 1000,
        "longtask": longest / 1000,
        "bytes": dict(transferred),
    }


def edits(page: Page, count: int) -> list[float]:
    """Change an input `count` times, the charted context length and the batch size in turn;
    each time, the update time the page measured (s)."""
    durations = []
    for i in range(count):
        before = page.evaluate("performance.getEntriesByName('vramcalc:update').length")
        if i % 2:
            page.fill("[name=batch_size]", str(1 + i % 7))
        else:
            page.fill("[name=context_length]", str([4096, 8192, 16384, 32768][i % 4] + i))
        page.wait_for_function(
            "n => performance.getEntriesByName('vramcalc:update').length > n", arg=before
        )
        durations.append(
            page.evaluate("performance.getEntriesByName('vramcalc:update').at(-1).duration") / 1000
        )
    return durations


def clear_http_cache(context: BrowserContext, page: Page) -> None:
    session = context.new_cdp_session(page)
    session.send("Network.clearBrowserCache")
    session.detach()


def one_run(pw: Any, dist: Path, expected: tuple[str, str], n_edits: int) -> dict[str, Any]:
    server = Server(dist)
    url = f"http://127.0.0.1:{server.port}/"
    profile = tempfile.mkdtemp(prefix="vramcalc-bench-")
    out: dict[str, Any] = {}
    try:
        context = pw.chromium.launch_persistent_context(
            profile,
            executable_path=CHROMIUM,
            headless=True,
            args=[
                "--disable-background-networking",
                "--disable-component-update",
                "--no-first-run",
            ],
        )
        out["cold"] = visit(context, url, expected)
        page = context.new_page()
        page.goto(url)
        page.wait_for_selector("html[data-state=live]", timeout=60_000)
        page.wait_for_function("navigator.serviceWorker.controller !== null", timeout=60_000)
        out["edits"] = edits(page, n_edits)
        page.close()
        out["warm"] = visit(context, url, expected)
        server.stop()
        out["offline"] = visit(context, url, expected)
        page = context.new_page()
        clear_http_cache(context, page)
        page.close()
        out["offline_cleared"] = visit(context, url, expected)
        context.close()
    finally:
        shutil.rmtree(profile, ignore_errors=True)
        with contextlib.suppress(OSError):  # already stopped for the offline visits
            server.stop()
    return out


def median(runs: list[dict[str, Any]], visit_name: str, key: str) -> float:
    return statistics.median(r[visit_name][key] for r in runs)


def p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]


def report(runs: list[dict[str, Any]]) -> None:
    all_edits = [d for r in runs for d in r["edits"]]
    rows = [
        (
            "navigation -> first numbers (prerendered), cold",
            median(runs, "cold", "first"),
            0.5,
            ORIGINAL["first numbers, cold (s)"],
        ),
        (
            "navigation -> Python live (edited input recomputed), cold",
            median(runs, "cold", "live"),
            3.5,
            None,
        ),
        ("navigation -> Python live, warm", median(runs, "warm", "live"), 2.0, None),
        (
            "navigation -> Python live, offline (server stopped)",
            median(runs, "offline", "live"),
            2.0,
            None,
        ),
        (
            "navigation -> Python live, offline + HTTP cache cleared",
            median(runs, "offline_cleared", "live"),
            2.0,
            None,
        ),
        (
            "input change -> updated results incl. GPU table and chart, p95",
            p95(all_edits),
            0.050,
            ORIGINAL["input change -> update (s)"],
        ),
        (
            "longest main-thread task during a cold load",
            median(runs, "cold", "longtask"),
            0.200,
            None,
        ),
    ]
    print(f"\n{len(runs)} runs, {len(all_edits)} edits; seconds; medians unless noted\n")
    print(f"{'metric':<62} {'vramcalc':>9} {'target':>8} {'original':>9}")
    for name, value, target, original in rows:
        mark = "ok" if value <= target else "OVER"
        orig = f"{original:.2f}" if original is not None else "-"
        print(f"{name:<62} {value:9.3f} {target:8.3f} {orig:>9}  {mark}")
    print(f"\n{'first numbers, warm':<62} {median(runs, 'warm', 'first'):9.3f}")
    print(f"{'input change -> update, median':<62} {statistics.median(all_edits):9.3f}")
    print("\nbytes transferred on a cold visit until Python is live (first run), by file:")
    sent = runs[0]["cold"]["bytes"]
    for path, n in sorted(sent.items(), key=lambda kv: -kv[1]):
        print(f"  {n:>12,}  {path}")
    print(f"  {sum(sent.values()):>12,}  total")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--edits", type=int, default=20, help="input changes timed per run")
    parser.add_argument("--dist", type=Path, help="a built site (default: build into a temp dir)")
    args = parser.parse_args()
    if not Path(CHROMIUM).exists():
        print(f"Chromium not found at {CHROMIUM} (set VRAMCALC_CHROMIUM)", file=sys.stderr)
        return 1
    with tempfile.TemporaryDirectory() as tmp:
        dist = args.dist or build.build(Path(tmp) / "dist")
        expected = expected_totals()
        runs = []
        with sync_playwright() as pw:
            for i in range(args.runs):
                runs.append(one_run(pw, dist, expected, args.edits))
                r = runs[-1]
                print(
                    f"run {i + 1}: first {r['cold']['first']:.3f}"
                    f"  live cold {r['cold']['live']:.2f}"
                    f"  warm {r['warm']['live']:.2f}  offline {r['offline']['live']:.2f}"
                    f"  offline+cleared {r['offline_cleared']['live']:.2f}"
                    f"  edit p95 {p95(r['edits']) * 1000:.0f} ms"
                    f"  longtask {r['cold']['longtask'] * 1000:.0f} ms",
                    flush=True,
                )
        report(runs)
    return 0


if __name__ == "__main__":
    sys.exit(main())
