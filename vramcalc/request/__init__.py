"""Request dicts -> frozen, validated requests, with every problem reported at once.

One home for parsing (docs/api.md describes the format): `common` (mode, model, GPUs,
overheads), `inference` (the fields every engine shares; each engine parses its own options
through the profile it hands over) and `training`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .. import catalogs
from ..errors import Collector, Fields, RequestError
from .common import Common, ModelRef, Overheads, parse_common
from .inference import EngineProfile, InferenceRequest, parse_inference
from .training import TrainingRequest, parse_training

if TYPE_CHECKING:
    from collections.abc import Callable

__all__ = ["Common", "EngineProfile", "InferenceRequest", "ModelRef", "Overheads",
           "TrainingRequest", "parse"]


def too_deep(data: Any, limit: int) -> str | None:
    """The top-level field under which `data` nests lists or objects more than `limit`
    levels deep, or None. Iterative: a hostile input cannot exhaust the stack."""
    stack: list[tuple[Any, int, str]] = [(data, 0, "")]
    while stack:
        value, depth, top = stack.pop()
        if depth > limit:
            return top
        if isinstance(value, dict):
            stack.extend((v, depth + 1, top or str(k)[:60]) for k, v in value.items())
        elif isinstance(value, list):
            stack.extend((v, depth + 1, top) for v in value)
    return None


def parse(
    data: Any, engines: tuple[str, ...], profile_of: Callable[[str], EngineProfile],
) -> InferenceRequest | TrainingRequest:
    """Validate a request dict; raises `RequestError` naming every problem."""
    c = Collector()
    if not isinstance(data, dict):
        c.add("", "the request must be a JSON object")
        c.raise_if_any()
    deep = too_deep(data, catalogs.bound("nesting"))
    if deep is not None:
        c.add(deep, f"nests deeper than {catalogs.bound('nesting')} levels: no request or "
              "config.json does")
        c.raise_if_any()
    f = Fields(data, c)
    common = parse_common(f)
    if common is None:
        c.raise_if_any()
        raise RequestError([])  # unreachable: no model means a recorded problem
    parsed: InferenceRequest | TrainingRequest
    if common.mode == "inference":
        parsed = parse_inference(f, common, engines, profile_of)
    else:
        parsed = parse_training(f, common)
    c.raise_if_any()
    return parsed
