"""Milliseconds the page takes for fit_changes' list, in the browser (Pyodide in the worker).

    python benchmarks/fit_changes_page.py [--runs 5]

Builds the site, opens the default fine-tuning view (8B LoRA on an RTX 4090, which does not
fit) in headless Chromium and reads the page's own `vramcalc:fit-changes` measure: from asking
the worker to the answer back on the main thread. Prints the median and the largest of
`--runs` page loads; `python benchmarks/fit_changes.py` times the same call in CPython."""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from playwright.sync_api import sync_playwright  # noqa: E402

import build  # noqa: E402
from tests.browser.helpers import CHROMIUM, CHROMIUM_ARGS, Server  # noqa: E402

MEASURE = "performance.getEntriesByName('vramcalc:fit-changes').map(e => e.duration)"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    durations: list[float] = []
    with tempfile.TemporaryDirectory() as tmp, sync_playwright() as pw:
        server = Server(build.build(Path(tmp) / "dist"))
        browser = pw.chromium.launch(executable_path=CHROMIUM,
                                     args=["--no-sandbox", *CHROMIUM_ARGS])
        try:
            context = browser.new_context()
            page = context.new_page()
            for _ in range(args.runs):
                page.goto(f"{server.url}?view=finetune")
                page.wait_for_function(f"() => {MEASURE}.length > 0", timeout=60_000)
                durations.append(page.evaluate(MEASURE)[0])
        finally:
            browser.close()
            server.stop()
    print(f"fit_changes in the page, 8B LoRA 4x2048 on an RTX 4090, {args.runs} loads: "
          f"median {statistics.median(durations):.1f} ms, max {max(durations):.1f} ms")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
