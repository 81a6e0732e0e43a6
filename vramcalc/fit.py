"""Does it fit, and how far can batch and context go, on every GPU of the catalog."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .jsonable import as_json
from .sizes import cdiv

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable

    from .catalogs import GPU


@dataclass(frozen=True, kw_only=True, slots=True)
class FitRow:
    """One GPU's row of the fit table. `gpus_needed` and `layout` are the fewest such GPUs
    that run the whole request and their parallel layout (vramcalc/layouts.py), None when
    no layout tried fits or the engine has none."""

    gpu: str
    name: str
    memory_bytes: int
    usable_bytes: int
    fits: bool
    headroom_bytes: int
    max_batch_size: int
    max_context_length: int
    gpus_for_weights: int
    gpus_needed: int | None = None
    layout: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = as_json(self)
        return out


def largest(fn: Callable[[int], int], budgets: Iterable[int], limit: int) -> dict[int, int]:
    """For each budget, the largest x in [1, limit] with fn(x) <= budget (0 if none).

    `fn` must be non-decreasing. Memory grows about linearly in batch and context, so each
    budget is solved by false position (interpolating between a point that fits and one that
    does not) with a bisection step whenever interpolation stalls: a handful of calls for a
    linear `fn`, O(log limit) at worst. Values of `fn` are shared between budgets.
    """
    seen: dict[int, int] = {}

    def f(x: int) -> int:
        value = seen.get(x)
        if value is None:
            value = seen[x] = fn(x)
        return value

    answers: dict[int, int] = {}
    lowest = f(1)
    for budget in sorted(set(budgets)):
        if lowest > budget:
            answers[budget] = 0
        elif f(limit) <= budget:
            answers[budget] = limit
        else:
            answers[budget] = _solve(f, budget, 1, limit)
    return answers


def _solve(f: Callable[[int], int], budget: int, lo: int, hi: int) -> int:
    """Largest x in [lo, hi) with f(x) <= budget, given f(lo) <= budget < f(hi)."""
    stalls = 0
    while hi - lo > 1:
        f_lo, f_hi = f(lo), f(hi)
        if stalls >= 2 or f_hi == f_lo:
            guess = (lo + hi) // 2
            stalls = 0
        else:
            guess = lo + (budget - f_lo) * (hi - lo) // (f_hi - f_lo)
            guess = min(max(guess, lo + 1), hi - 1)
        width = hi - lo
        if f(guess) <= budget:
            lo = guess
            if f(guess + 1) > budget:  # interpolation usually lands on the answer
                return guess
        else:
            hi = guess
        stalls = stalls + 1 if hi - lo > width // 2 else 0
    return lo


def fit_table(
    *,
    gpus: tuple[GPU, ...],
    total: int,
    weights: int,
    by_batch: Callable[[int], int],
    by_length: Callable[[int], int],
    batch_limit: int,
    length_limit: int,
) -> list[FitRow]:
    """One row per GPU: fits, headroom, the largest batch and length, GPUs for the weights."""
    budgets = [g.usable_bytes for g in gpus]
    batches = largest(by_batch, budgets, batch_limit)
    lengths = largest(by_length, budgets, length_limit)
    rows = []
    for gpu, budget in zip(gpus, budgets, strict=True):
        rows.append(
            FitRow(
                gpu=gpu.id,
                name=gpu.name,
                memory_bytes=gpu.memory_bytes,
                usable_bytes=budget,
                fits=total <= budget,
                headroom_bytes=budget - total,
                max_batch_size=batches[budget],
                max_context_length=lengths[budget],
                gpus_for_weights=max(1, cdiv(weights, budget)),
            )
        )
    return rows
