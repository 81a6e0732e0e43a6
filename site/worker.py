"""The page's Python side, run in a named PyScript worker: JSON in, JSON out, no DOM.

build.py imports this same file in CPython to prerender the default view.
"""

from __future__ import annotations

import copy
import json
from typing import Any

import vramcalc

INTERNAL_ERROR = "internal error ({kind}); the request was not computed: please report this"


def compute(request_json: str, series_json: str) -> str:
    """The one call the page makes: an estimate, plus totals along one axis for the chart."""
    return json.dumps(compute_dict(json.loads(request_json), json.loads(series_json)))


def compute_dict(request: Any, series: dict[str, Any] | None) -> dict[str, Any]:
    """{"response": estimate(request), "series": {"field", "points": [{value, total_bytes}]}}."""
    response = _estimate(request)
    result: dict[str, Any] = {"response": response, "series": None}
    if series and "error" not in response:
        result["series"] = {
            "field": series["field"],
            "points": _series(response["request"], series["field"], series["values"]),
        }
    return result


def _estimate(request: Any) -> dict[str, Any]:
    """vramcalc.estimate, which answers bad input with problems; anything else it raises
    is reported the same way, as a problem, never as a traceback."""
    try:
        return vramcalc.estimate(request)
    except Exception as exc:
        message = INTERNAL_ERROR.format(kind=type(exc).__name__)
        return {"error": {"problems": [{"field": "", "message": message}]}}


def _series(request: dict[str, Any], field: str, values: list[int]) -> list[dict[str, Any]]:
    """The total for each value of `field` (the current value included), other inputs fixed."""
    current = _get(request, field)
    points = []
    for value in sorted({*values, *([current] if isinstance(current, int) else [])}):
        varied = copy.deepcopy(request)
        varied["fit_gpus"] = []  # the chart needs totals only
        _set(varied, field, value)
        response = _estimate(varied)
        points.append({"value": value, "total_bytes": response.get("total_bytes")})
    return points


def _get(request: dict[str, Any], field: str) -> Any:
    node: Any = request
    for key in field.split("."):
        node = node.get(key) if isinstance(node, dict) else None
    return node


def _set(request: dict[str, Any], field: str, value: Any) -> None:
    *parents, leaf = field.split(".")
    node = request
    for key in parents:
        node = node.setdefault(key, {})
    node[leaf] = value


__export__ = ["compute"]
