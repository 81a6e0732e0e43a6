"""Prints how long the costliest inputs the limits allow take to answer (data/limits.json):
the largest configs that still pass, and requests refused at a limit. A benchmark, not a
test: it prints figures, so the claim "the cost of one estimate is bounded" can be checked.

    python benchmarks/hostile.py [--runs 5]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import vramcalc  # noqa: E402
from vramcalc import catalogs  # noqa: E402


def _config(**changes: Any) -> dict[str, Any]:
    config = dict(catalogs.presets()["meta-llama/Llama-3.2-1B-Instruct"]["config"])
    config.update(changes)
    return config


def _nested(depth: int) -> list[Any]:
    value: list[Any] = []
    for _ in range(depth):
        value = [value]
    return value


CASES: dict[str, Any] = {
    "10,000 layers (the limit), every GPU": {
        "mode": "inference", "model": {"config": _config(num_hidden_layers=10_000)}},
    "10,000 layers, training LoRA on all linear layers": {
        "mode": "training", "method": "lora", "lora": {"target_modules": "all-linear"},
        "model": {"config": _config(num_hidden_layers=10_000)}},
    "100,000,000 layers (refused)": {
        "mode": "inference", "model": {"config": _config(num_hidden_layers=100_000_000)}},
    "a value nested 100,000 deep (refused)": {
        "mode": "inference", "model": {"config": _config(extra=_nested(100_000))}},
    "llama.cpp, 10,000 layers, context 2^24": {
        "mode": "inference", "engine": "llama.cpp", "context_length": 1 << 24,
        "model": {"config": _config(num_hidden_layers=10_000, max_position_embeddings=1 << 24)}},
}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    print(f"vramcalc {vramcalc.__version__}, Python {sys.version.split()[0]}, "
          f"{args.runs} runs each (ms)")
    for name, request in CASES.items():
        times = []
        for _ in range(args.runs):
            start = time.perf_counter()
            answer = vramcalc.estimate(request)
            times.append((time.perf_counter() - start) * 1000)
        outcome = "refused" if "error" in answer else "answered"
        print(f"  {name:<52} median {statistics.median(times):9.1f}  max {max(times):9.1f}"
              f"  {outcome}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
