"""Prints how long `vramcalc.fit_changes` takes in CPython for three everyday cases, with the
estimates each one ran. A benchmark, not a test: it prints figures.

    python benchmarks/fit_changes.py [--runs 50]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import vramcalc  # noqa: E402

CASES = {
    "Llama-3.1-8B LoRA, 4 x 2048, RTX 4090": {
        "mode": "training", "model": {"preset": "meta-llama/Llama-3.1-8B"}, "method": "lora",
        "micro_batch_size": 4, "sequence_length": 2048, "gpu": "rtx-4090"},
    "Llama-3.1-70B bf16, TP 2 on RTX A6000s": {
        "mode": "inference", "model": {"preset": "meta-llama/Llama-3.1-70B"},
        "gpu": "rtx-a6000", "parallel": {"tensor": 2}},
    "Llama-3.1-8B vLLM, 128k, A100 80GB": {
        "mode": "inference", "model": {"preset": "meta-llama/Llama-3.1-8B"}, "engine": "vllm",
        "context_length": 131072, "gpu": "a100-80gb"},
}


def time_case(request: dict[str, object], runs: int) -> tuple[float, float, dict[str, object]]:
    """Median and p95 wall time in ms of `vramcalc.fit_changes`, and its last answer."""
    answer = vramcalc.fit_changes(request)  # warm: presets read, modules imported
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        answer = vramcalc.fit_changes(request)
        samples.append((time.perf_counter() - start) * 1000)
    samples.sort()
    return statistics.median(samples), samples[int(0.95 * (len(samples) - 1))], answer


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=50)
    args = parser.parse_args()
    print(f"vramcalc {vramcalc.__version__}, Python {sys.version.split()[0]}, "
          f"{args.runs} runs each")
    print(f"{'case':<40} {'median ms':>10} {'p95 ms':>8} {'estimates':>10} {'outcome':>13}")
    for name, request in CASES.items():
        median, p95, answer = time_case(request, args.runs)
        print(f"{name:<40} {median:>10.1f} {p95:>8.1f} {answer['evaluations']:>10} "
              f"{answer['outcome']:>13}")


if __name__ == "__main__":
    main()
