"""Seconds from opening a hostile shared link to its visible message (issue 11's links).

    python benchmarks/hostile_links.py [--runs 3]

Builds the site into a temporary folder, serves it on 127.0.0.1 and opens each link in
headless Chromium, with the browser's cache warm (one visit first) and cold (a fresh
context). Prints, per link, the median seconds until the page names the value (its notice),
and until the page is live with figures or the field's problem."""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
import urllib.parse
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from playwright.sync_api import sync_playwright  # noqa: E402

import build  # noqa: E402
from tests.browser.helpers import CHROMIUM, CHROMIUM_ARGS, Server  # noqa: E402

DEEP = '{"model_type": "llama", "nested": ' + "[" * 5000 + "0" + "]" * 5000 + "}"
LINKS = {
    "100,000,000 layers": {"view": "inference", "source": "manual",
                           "model.config.num_hidden_layers": "100000000"},
    "utilization 5": {"view": "inference", "engine": "vllm", "vllm.gpu_memory_utilization": "5"},
    "401-digit batch": {"view": "inference", "batch_size": "1" + "0" * 400},
    "config 5,000 deep": {"view": "inference", "model.config": DEEP},
    "unknown view": {"view": "bogus"},
}


def _time(page: Any, url: str) -> tuple[float, float]:
    start = time.perf_counter()
    page.goto(url)
    page.locator('[data-notice="url-invalid"]').wait_for(state="visible", timeout=60_000)
    notice = time.perf_counter() - start
    page.wait_for_selector("html[data-state=live]", state="attached", timeout=60_000)
    page.wait_for_function("() => !('busy' in document.documentElement.dataset)")
    return notice, time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, sync_playwright() as pw:
        server = Server(build.build(Path(tmp) / "dist"))
        browser = pw.chromium.launch(executable_path=CHROMIUM,
                                     args=["--no-sandbox", *CHROMIUM_ARGS])
        print(f"{'link':<22} {'cache':<5} {'notice s':>9} {'live s':>7}")
        try:
            for name, params in LINKS.items():
                url = f"{server.url}?{urllib.parse.urlencode(params)}"
                for cache in ("cold", "warm"):
                    notices, lives = [], []
                    for _ in range(args.runs):
                        context = browser.new_context()
                        page = context.new_page()
                        if cache == "warm":
                            page.goto(server.url)
                            page.wait_for_selector("html[data-state=live]", state="attached",
                                                   timeout=60_000)
                        notice, live = _time(page, url)
                        notices.append(notice)
                        lives.append(live)
                        context.close()
                    print(f"{name:<22} {cache:<5} {statistics.median(notices):>9.2f} "
                          f"{statistics.median(lives):>7.2f}")
        finally:
            browser.close()
            server.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
