"""The page's Python side, run in a named PyScript worker: JSON in, JSON out, no DOM.

It only bridges: every figure comes from `vramcalc.estimate` and `vramcalc.sweep`, every Hub
verdict from `vramcalc.hub`'s I/O-free core (the browser does the fetching). Each entry
answers JSON whatever happens: input the package's JSON bounds refuse, and any exception,
come back as the contract's `{"error": {"problems": [...]}}`. build.py imports this same
file in CPython to prerender the default view.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import vramcalc
import vramcalc.hub
import vramcalc.jsonin

if TYPE_CHECKING:
    from collections.abc import Callable

INTERNAL_ERROR = "internal error ({kind}); the request was not computed: please report this"
# What leaves the worker: a result holds the response, which holds the request (2 levels).
_OUT_DEPTH = vramcalc.jsonin.MAX_DEPTH + 4
# The browser's answer carries the body as a JSON string: escaping can double its size.
_ANSWER_BYTES = 2 * vramcalc.hub.MAX_CONFIG_BYTES


def compute(request_json: str, series_json: str) -> str:
    """The one call the page makes: an estimate, plus totals along one axis for the chart."""
    try:
        request = vramcalc.jsonin.loads(request_json, what="the request")
        series = vramcalc.jsonin.loads(series_json, what="the chart's series")
        result = compute_dict(request, series)
    except vramcalc.jsonin.JSONInputError as exc:
        result = _no_result(_problem(exc.message))
    except Exception as exc:
        result = _no_result(_internal(exc))
    return _dumps(result, _no_result)


def series(request_json: str, series_json: str) -> str:
    """The chart's totals alone, for a request the page has estimated already (its answer's
    normalized request): {"series": the sweep, or null when there is nothing to draw}. The
    page asks for the figures first and the chart next; this spares the second estimate."""
    try:
        request = vramcalc.jsonin.loads(request_json, what="the request")
        axis = vramcalc.jsonin.loads(series_json, what="the chart's series")
        result = {"series": _swept(request, axis)}
    except Exception:  # bad JSON, or a bug: the chart draws nothing, the figures stand
        result = {"series": None}
    return _dumps(result, lambda error: {"series": None})


def fit_changes(request_json: str) -> str:
    """vramcalc.fit_changes for the request on its own GPU: the ranked changes that make it
    fit, or how much bigger it can run (docs/api.md)."""
    try:
        request = vramcalc.jsonin.loads(request_json, what="the request")
        if not vramcalc.jsonin.depth_ok(request):
            return _dumps(_problem(f"the request is nested more than "
                                   f"{vramcalc.jsonin.MAX_DEPTH} levels deep"))
        return _dumps(vramcalc.fit_changes(request))
    except vramcalc.jsonin.JSONInputError as exc:
        return _dumps(_problem(exc.message))
    except Exception as exc:
        return _dumps(_internal(exc))


def _no_result(error: dict[str, Any]) -> dict[str, Any]:
    """compute's answer when there is nothing to show but `error` (what the page renders)."""
    return {"response": error, "series": None}


def compute_dict(request: Any, series: Any) -> dict[str, Any]:
    """{"response": estimate(request), "series": sweep along `series["field"]` over
    `series["values"]` and the request's own value, or null}."""
    response = _estimate(request)
    result: dict[str, Any] = {"response": response, "series": None}
    if isinstance(series, dict) and series and "error" not in response:
        result["series"] = _swept(response["request"], series)
    return result


def _swept(request: Any, series: Any) -> dict[str, Any] | None:
    """The sweep `series` asks for on the normalized `request`, or None (nothing to draw)."""
    if not (isinstance(series, dict) and series and isinstance(request, dict)):
        return None
    swept = _series(request, series.get("field"), series.get("values"))
    return None if "error" in swept else swept


def _estimate(request: Any) -> dict[str, Any]:
    """vramcalc.estimate, which answers bad input with problems; anything else it raises
    is reported the same way, as a problem, never as a traceback."""
    if not vramcalc.jsonin.depth_ok(request):
        return _problem(f"the request is nested more than {vramcalc.jsonin.MAX_DEPTH} "
                        "levels deep")
    try:
        return vramcalc.estimate(request)
    except Exception as exc:
        return _internal(exc)


def _series(request: dict[str, Any], field: Any, values: Any) -> dict[str, Any]:
    """vramcalc.sweep over `values` and the request's current value, ascending (the chart's
    x axis), when they are all numbers; as given otherwise."""
    if isinstance(field, str) and isinstance(values, list):
        current = _get(request, field)
        numbers = [*values, *([current] if _is_number(current) else [])]
        if all(_is_number(v) for v in numbers):
            values = sorted(set(numbers))
    return vramcalc.sweep(request, field, values)


def _get(request: dict[str, Any], field: str) -> Any:
    node: Any = request
    for key in field.split("."):
        node = node.get(key) if isinstance(node, dict) else None
    return node


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def hub_request(model_id: str) -> str:
    """{"url": ...} to fetch for `model_id`'s config.json, or {"status", "message"} if the id is
    not one. The browser fetches; vramcalc.hub decides what the answer means (hub_answer)."""
    try:
        return _dumps({"url": vramcalc.hub.config_url(model_id)})
    except vramcalc.hub.HubError as exc:
        return _dumps(_hub_failure(exc))
    except Exception as exc:
        return _dumps(_internal(exc))


def hub_answer(model_id: str, answer_json: str) -> str:
    """What the browser's fetch got ({"status": HTTP status or null when the network failed,
    "error_code": the X-Error-Code header, "body"}), read by vramcalc.hub.read_answer:
    {"config": ...} or {"status", "message"}."""
    try:
        answer = vramcalc.jsonin.loads(answer_json, what="the Hub's answer",
                                       max_bytes=_ANSWER_BYTES)
        problems = _answer_problems(answer)
        if problems:
            return _dumps({"error": {"problems": problems}})
        vramcalc.hub.check_id(model_id)
        config = vramcalc.hub.read_answer(
            answer["status"], answer["body"].encode("utf-8", "surrogatepass"),
            answer.get("error_code"), model_id, has_token=False)  # the page sends no tokens
        return _dumps({"config": config})
    except vramcalc.hub.HubError as exc:
        return _dumps(_hub_failure(exc))
    except vramcalc.jsonin.JSONInputError as exc:
        return _dumps(_problem(exc.message))
    except Exception as exc:
        return _dumps(_internal(exc))


def _answer_problems(answer: Any) -> list[dict[str, str]]:
    """What is wrong with the shape of the browser's answer (a page bug, never the Hub's)."""
    if not isinstance(answer, dict):
        return [{"field": "", "message": "the Hub's answer must be a JSON object"}]
    problems = [{"field": key, "message": "is required"}
                for key in ("status", "error_code", "body") if key not in answer]
    status = answer.get("status")
    if status is not None and (not isinstance(status, int) or isinstance(status, bool)
                               or not 100 <= status <= 599):
        problems.append({"field": "status",
                         "message": "must be an HTTP status (100-599) or null"})
    if not isinstance(answer.get("error_code", ""), (str, type(None))):
        problems.append({"field": "error_code", "message": "must be a string or null"})
    if not isinstance(answer.get("body", ""), str):
        problems.append({"field": "body", "message": "must be a string"})
    return problems


def _hub_failure(exc: vramcalc.hub.HubError) -> dict[str, str]:
    return {"status": exc.status, "message": exc.explain("page")}


def _problem(message: str) -> dict[str, Any]:
    return {"error": {"problems": [{"field": "", "message": message}]}}


def _internal(exc: BaseException) -> dict[str, Any]:
    return _problem(INTERNAL_ERROR.format(kind=type(exc).__name__))


def _dumps(result: dict[str, Any],
           shape: Callable[[dict[str, Any]], dict[str, Any]] = lambda error: error) -> str:
    """`result` as JSON, or the error shape (placed by `shape`) when it cannot be: too deep
    (json.dumps recurses once per level), NaN (JavaScript's JSON.parse refuses it), or not
    JSON at all."""
    try:
        if not vramcalc.jsonin.depth_ok(result, _OUT_DEPTH):
            return json.dumps(shape(_problem(
                f"the answer is nested more than {_OUT_DEPTH} levels deep")))
        return json.dumps(result, allow_nan=False)
    except Exception as exc:
        return json.dumps(shape(_internal(exc)))


__export__ = ["compute", "series", "fit_changes", "hub_request", "hub_answer"]
