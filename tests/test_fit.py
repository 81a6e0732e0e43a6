"""GPU fit table and the largest-batch / longest-context solvers (fit.py)."""

from __future__ import annotations

import random

import pytest
from conftest import estimate

from vramcalc import fit


def test_largest_matches_brute_force() -> None:
    rng = random.Random(7)
    for _ in range(50):
        slope, base, limit = rng.randint(1, 50), rng.randint(0, 500), rng.randint(1, 3000)
        fn = lambda x, s=slope, b=base: b + s * x + (x * x) // 97  # noqa: E731 - monotone
        budgets = [rng.randint(0, 20000) for _ in range(8)]
        got = fit.largest(fn, budgets, limit)
        for budget in budgets:
            ok = [x for x in range(1, limit + 1) if fn(x) <= budget]
            assert got[budget] == (max(ok) if ok else 0)


def _row(response: dict, gpu: str) -> dict:
    return next(r for r in response["fit"]["gpus"] if r["gpu"] == gpu)


@pytest.mark.parametrize("gpu", ["rtx-3090", "l40s", "h100-sxm", "m4-max-64gb"])
def test_max_batch_is_the_largest_that_fits(gpu: str) -> None:
    r = estimate(context_length=4096)
    row = _row(r, gpu)
    best = row["max_batch_size"]
    assert best >= 1
    assert estimate(context_length=4096, batch_size=best)["total_bytes"] <= row["usable_bytes"]
    assert estimate(context_length=4096, batch_size=best + 1)["total_bytes"] > \
        row["usable_bytes"]


@pytest.mark.parametrize("gpu", ["rtx-4090", "a100-40gb"])
def test_max_context_is_the_longest_that_fits(gpu: str) -> None:
    row = _row(estimate(), gpu)
    best = row["max_context_length"]
    assert 0 < best < 131072
    assert estimate(context_length=best)["total_bytes"] <= row["usable_bytes"]
    assert estimate(context_length=best + 1)["total_bytes"] > row["usable_bytes"]


def test_fits_headroom_and_gpus_for_weights() -> None:
    r = estimate(model={"preset": "meta-llama/Llama-3.1-70B"})
    small = _row(r, "rtx-4090")
    big = _row(r, "b200")
    assert not small["fits"] and small["headroom_bytes"] < 0
    assert small["max_batch_size"] == 0 and small["max_context_length"] == 0
    assert big["fits"] and big["headroom_bytes"] == big["usable_bytes"] - r["total_bytes"]
    weights = next(c["bytes"] for c in r["components"] if c["name"] == "weights")
    assert small["gpus_for_weights"] == -(-weights // small["usable_bytes"])  # 6 x 24 GB


def test_unified_memory_uses_the_gpu_share() -> None:
    row = _row(estimate(), "m4-max-128gb")
    assert row["usable_bytes"] == int(row["memory_bytes"] * 0.75)


def test_context_solver_stops_at_the_models_limit() -> None:
    row = _row(estimate(model={"preset": "meta-llama/Llama-3.2-1B-Instruct"}), "b200")
    assert row["max_context_length"] == 131072
