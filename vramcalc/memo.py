"""Remembering pure functions of a model spec between estimates.

A spec is read once per config and kept by `architecture.from_config_cached`; the fit
table's GPU counts and `fit_changes` then estimate the same model many times over. The
functions here are pure, so remembering their answers changes no figure, only the time.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from functools import wraps
from typing import Any, TypeVar

R = TypeVar("R")

SIZE = 8  # answers kept per function: a page holds one model, a batch job a few


def by_spec(fn: Callable[..., R]) -> Callable[..., R]:
    """`fn(spec, *rest)` remembered for its last SIZE (spec, rest) keys; the spec is matched
    by identity (and held, so its id is not reused while remembered), `rest` by value."""
    answers: dict[tuple[Hashable, ...], tuple[Any, R]] = {}

    @wraps(fn)
    def remembered(spec: Any, *rest: Hashable) -> R:
        key = (id(spec), *rest)
        hit = answers.get(key)
        if hit is not None and hit[0] is spec:
            return hit[1]
        value = fn(spec, *rest)
        if len(answers) >= SIZE:
            answers.pop(next(iter(answers)))
        answers[key] = (spec, value)
        return value

    return remembered
