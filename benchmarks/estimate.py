"""Prints how long one full estimate (fit table for every catalog GPU included) takes in
CPython, and what `import vramcalc` costs. A benchmark, not a test: it prints figures.

    python benchmarks/estimate.py [--runs 200]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import vramcalc  # noqa: E402

REQUESTS = {
    "Llama-3.1-8B bf16, 8k context": {
        "mode": "inference", "model": {"preset": "meta-llama/Llama-3.1-8B"},
        "context_length": 8192},
    "gemma-3-27b-it llama.cpp Q4_K_M, 32k": {
        "mode": "inference", "model": {"preset": "google/gemma-3-27b-it"}, "engine": "llama.cpp",
        "weight_format": "Q4_K_M", "context_length": 32768},
    "Qwen3-8B vLLM on an L40S, 32k": {
        "mode": "inference", "model": {"preset": "Qwen/Qwen3-8B"}, "engine": "vllm",
        "gpu": "l40s", "context_length": 32768},
    "DeepSeek-V3 fp8, batch 8": {
        "mode": "inference", "model": {"preset": "deepseek-ai/DeepSeek-V3"}, "batch_size": 8},
    "Qwen3-30B-A3B training LoRA": {
        "mode": "training", "model": {"preset": "Qwen/Qwen3-30B-A3B"}, "method": "lora"},
}
# the page's three default views (site/defaults.json): what an edit there estimates
_DEFAULTS = json.loads((ROOT / "site" / "defaults.json").read_text(encoding="utf-8"))
REQUESTS.update({f"page default view: {view}": request
                 for view, request in _DEFAULTS["requests"].items()})


def time_request(request: dict[str, object], runs: int) -> tuple[float, float, float, int]:
    """Median, p95 and fastest wall time in ms of `vramcalc.estimate` (the fastest is the
    steadiest on a busy machine), and the fit rows it returned."""
    response = vramcalc.estimate(request)
    rows = len(response.get("fit", {}).get("gpus", []))
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        vramcalc.estimate(request)
        samples.append((time.perf_counter() - start) * 1000)
    samples.sort()
    return (statistics.median(samples), samples[int(0.95 * (len(samples) - 1))], samples[0],
            rows)


def import_cost_ms() -> float:
    """Cumulative `import vramcalc` time from `python -X importtime` in a fresh process."""
    result = subprocess.run([sys.executable, "-X", "importtime", "-c", "import vramcalc"],
                            capture_output=True, text=True, cwd=ROOT, check=True)
    for line in result.stderr.splitlines():
        parts = [p.strip() for p in line.split("|")]
        if len(parts) == 3 and parts[2] == "vramcalc":
            return int(parts[1]) / 1000
    raise RuntimeError("vramcalc not found in -X importtime output")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=200)
    args = parser.parse_args()
    print(f"vramcalc {vramcalc.__version__}, Python {sys.version.split()[0]}, "
          f"{len(vramcalc.catalog()['gpus'])} GPUs in the catalog, {args.runs} runs each")
    print(f"{'request':<36} {'median ms':>10} {'p95 ms':>8} {'fastest':>8} {'fit rows':>9}")
    for name, request in REQUESTS.items():
        response = vramcalc.estimate(request)
        if "error" in response:
            message = response["error"]["problems"][0]["message"]
            print(f"{name:<36} (not available: {message})")
            continue
        median, p95, fastest, rows = time_request(request, args.runs)
        print(f"{name:<36} {median:>10.3f} {p95:>8.3f} {fastest:>8.3f} {rows:>9}")
    print(f"import vramcalc (python -X importtime, cumulative): {import_cost_ms():.1f} ms")


if __name__ == "__main__":
    main()
