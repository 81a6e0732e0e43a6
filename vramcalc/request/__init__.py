"""Request dicts -> frozen, validated requests, with every problem reported at once.

One home for parsing (docs/api.md describes the format): `common` (mode, model, GPUs,
overheads), `inference` (the fields every engine shares; each engine parses its own options
through the profile it hands over) and `training`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .. import catalogs, jsonin
from ..errors import Collector, Fields, RequestError
from .common import Common, ModelRef, Overheads, parse_common
from .inference import EngineProfile, InferenceRequest, parse_inference
from .training import TrainingRequest, parse_training

if TYPE_CHECKING:
    from collections.abc import Callable

__all__ = ["Common", "EngineProfile", "InferenceRequest", "ModelRef", "Overheads",
           "TrainingRequest", "parse"]


def parse(
    data: Any, engines: tuple[str, ...], profile_of: Callable[[str], EngineProfile],
) -> InferenceRequest | TrainingRequest:
    """Validate a request dict; raises `RequestError` naming every problem."""
    c = Collector()
    if not isinstance(data, dict):
        c.add("", "the request must be a JSON object")
        c.raise_if_any()
    limit = catalogs.bound("nesting")
    for key, value in data.items():
        if not jsonin.depth_ok(value, limit - 1):  # the request object itself is level 1
            c.add(str(key)[:60], f"nests deeper than {limit} levels: no request or "
                  "config.json does")
            continue
        found = jsonin.non_finite(value)
        if found is not None:
            path, number = found
            field = f"{key}.{path}" if path else str(key)
            c.add(field[:200], f"must be a finite number, got {number}")
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
