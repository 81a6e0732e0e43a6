"""Milliseconds the page takes for fit_changes' list, in the browser (Pyodide in the worker).

    python benchmarks/fit_changes_page.py [--runs 5]

Builds the site, opens the default fine-tuning view (8B LoRA on an RTX 4090, which does not
fit) in headless Chromium and reads the page's own `vramcalc:fit-changes` measure: from asking
the worker to the answer back on the main thread, for the first list after the page loads
and for one after an edit. Prints the median and the largest of `--runs` page loads;
`python benchmarks/fit_changes.py` times the same call in CPython."""

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
    again: list[float] = []
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
                # an edit that still does not fit: the list again, Python warm
                page.locator("[name=micro_batch_size]").fill("3")
                page.wait_for_function(f"() => {MEASURE}.length > 1", timeout=60_000)
                again.append(page.evaluate(MEASURE)[1])
        finally:
            browser.close()
            server.stop()
    print(f"fit_changes in the page, 8B LoRA on an RTX 4090, {args.runs} loads (ms):")
    for name, values in (("first list after load (4x2048)", durations),
                         ("after an edit (3x2048)", again)):
        print(f"  {name:<32} median {statistics.median(values):7.1f}  max {max(values):7.1f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
