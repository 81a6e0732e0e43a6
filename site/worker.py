"""The page's Python side, run in a named PyScript worker: JSON in, JSON out, no DOM.

build.py imports this same file in CPython to prerender the default view.
"""

from __future__ import annotations

import copy
import json
from typing import Any

import vramcalc
import vramcalc.hub

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


# The last series' totals by value, under the key of every other input: changing the charted
# input itself (dragging the context length, say) then costs one new point, not all of them.
_last_series: dict[str, Any] = {"key": None, "totals": {}}


def _series(request: dict[str, Any], field: str, values: list[int]) -> list[dict[str, Any]]:
    """The total for each value of `field` (the current value included), other inputs fixed."""
    current = _get(request, field)
    base = copy.deepcopy(request)
    base["fit_gpus"] = []  # the chart needs totals only
    _set(base, field, None)
    key = field + json.dumps(base, sort_keys=True)
    if _last_series["key"] != key:
        _last_series.update(key=key, totals={})
    totals: dict[int, Any] = _last_series["totals"]
    points = []
    for value in sorted({*values, *([current] if isinstance(current, int) else [])}):
        if value not in totals:
            varied = copy.deepcopy(base)
            _set(varied, field, value)
            totals[value] = _estimate(varied).get("total_bytes")
        points.append({"value": value, "total_bytes": totals[value]})
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


class _Asked(Exception):
    """Raised by hub_request's opener: carries the URL vramcalc.hub would fetch."""


def hub_request(model_id: str) -> str:
    """{"url": ...} to fetch for `model_id`'s config.json, or {"status", "message"} if the id is
    not one. The browser fetches; vramcalc.hub decides what the answer means (hub_answer)."""

    def opener(request: Any, timeout: float) -> Any:
        raise _Asked(request.full_url)

    try:
        vramcalc.hub.fetch_config(model_id, opener=opener)
    except _Asked as asked:
        return json.dumps({"url": asked.args[0]})
    except vramcalc.hub.HubError as exc:
        return json.dumps({"status": exc.status, "message": exc.explain("page")})
    raise AssertionError("fetch_config returned without fetching")  # pragma: no cover


def hub_answer(model_id: str, answer_json: str) -> str:
    """What the browser's fetch got ({"status": HTTP status or null when the network failed,
    "error_code": the X-Error-Code header, "body"}), read by vramcalc.hub.fetch_config:
    {"config": ...} or {"status", "message"}."""
    import urllib.error

    answer = json.loads(answer_json)

    def opener(request: Any, timeout: float) -> Any:
        if answer["status"] is None:
            raise urllib.error.URLError("the browser could not reach the Hub")
        if not 200 <= answer["status"] < 300:
            headers = {"X-Error-Code": answer.get("error_code") or ""}
            raise urllib.error.HTTPError(request.full_url, answer["status"], "", headers, None)  # type: ignore[arg-type]
        return _Body(answer["body"].encode())

    try:
        return json.dumps({"config": vramcalc.hub.fetch_config(model_id, opener=opener)})
    except vramcalc.hub.HubError as exc:
        return json.dumps({"status": exc.status, "message": exc.explain("page")})


class _Body:
    """The browser's response body, as urlopen's context manager gives it."""

    def __init__(self, data: bytes) -> None:
        self.data = data

    def __enter__(self) -> _Body:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def read(self) -> bytes:
        return self.data


__export__ = ["compute", "hub_request", "hub_answer"]
