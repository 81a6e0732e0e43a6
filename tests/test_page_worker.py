"""site/worker.py, the page's Python side, run here in CPython as build.py runs it."""

from __future__ import annotations

import importlib.util
import json
import re
from pathlib import Path
from typing import Any

import pytest
from _models import HUB

import vramcalc
import vramcalc.hub

ROOT = Path(__file__).resolve().parents[1]
REQUEST = {
    "mode": "inference",
    "model": {"preset": "meta-llama/Llama-3.1-8B"},
    "context_length": 8192,
    "gpu": "rtx-4090",
}
SERIES = {"field": "context_length", "values": [1024, 4096, 16384, 65536]}
INTERNAL = "internal error ({}); the request was not computed: please report this"


@pytest.fixture
def worker() -> Any:
    spec = importlib.util.spec_from_file_location("page_worker", ROOT / "site" / "worker.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def problems(*pairs: tuple[str, str]) -> dict[str, Any]:
    return {"error": {"problems": [{"field": f, "message": m} for f, m in pairs]}}


def no_result(message: str) -> dict[str, Any]:
    return {"response": problems(("", message)), "series": None}


# ----------------------------------------------------------------------------------------
# compute


def test_compute_is_estimate_plus_a_sweep(worker: Any) -> None:
    result = json.loads(worker.compute(json.dumps(REQUEST), json.dumps(SERIES)))
    assert result["response"] == vramcalc.estimate(REQUEST)
    normalized = result["response"]["request"]
    values = [1024, 4096, 8192, 16384, 65536]  # the request's own 8192 among them, ascending
    assert result["series"] == vramcalc.sweep(normalized, "context_length", values)
    assert [p["value"] for p in result["series"]["points"]] == values


@pytest.mark.parametrize(
    "change", [{"context_length": 12000}, {"batch_size": 3}, {"weight_format": "nf4"}]
)
def test_series_stays_exact_when_inputs_change(worker: Any, change: dict[str, Any]) -> None:
    worker.compute_dict(REQUEST, SERIES)
    changed = {**REQUEST, **change}
    result = worker.compute_dict(changed, SERIES)
    normalized = result["response"]["request"]
    values = sorted({*SERIES["values"], normalized["context_length"]})
    assert result["series"] == vramcalc.sweep(normalized, "context_length", values)


def test_series_alone_is_the_sweep_of_compute(worker: Any) -> None:
    """The chart's call: the sweep on the normalized request of an answer, no estimate."""
    result = json.loads(worker.compute(json.dumps(REQUEST), json.dumps(SERIES)))
    alone = json.loads(worker.series(json.dumps(result["response"]["request"]),
                                     json.dumps(SERIES)))
    assert alone == {"series": result["series"]} and alone["series"]["points"]
    for request_json, series_json in [("{", json.dumps(SERIES)), (json.dumps(REQUEST), "[1]"),
                                      ("[" * 10_000 + "]" * 10_000, json.dumps(SERIES)),
                                      (json.dumps({**REQUEST, "batch_size": 0}),
                                       json.dumps({"field": "context_length", "values": "x"}))]:
        assert json.loads(worker.series(request_json, series_json)) == {"series": None}


def test_bad_request_gives_problems_and_no_series(worker: Any) -> None:
    result = worker.compute_dict({**REQUEST, "batch_size": 0}, SERIES)
    assert result == {"response": vramcalc.estimate({**REQUEST, "batch_size": 0}), "series": None}
    assert result["response"]["error"]["problems"][0]["field"] == "batch_size"


def test_a_series_sweep_refuses_draws_nothing(worker: Any) -> None:
    series = {"field": "context_length", "values": list(range(1, 300))}
    assert worker.compute_dict(REQUEST, series)["series"] is None


def test_an_engine_exception_becomes_a_problem(
    worker: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(request: Any) -> Any:
        raise ZeroDivisionError("secret detail")

    monkeypatch.setattr(vramcalc, "estimate", broken)
    assert worker.compute_dict(REQUEST, SERIES) == no_result(INTERNAL.format("ZeroDivisionError"))
    assert json.loads(worker.compute(json.dumps(REQUEST), "null")) == no_result(
        INTERNAL.format("ZeroDivisionError"))


@pytest.mark.parametrize(("request_json", "series_json", "message"), [
    ("[" * 10_000 + "]" * 10_000, "null", "the request is nested more than 64 levels deep"),
    ("{", "null", "the request is not valid JSON (Expecting property name enclosed in double "
     "quotes, line 1 column 2)"),
    ('{"batch_size": NaN}', "null", "the request is not valid JSON (NaN is not a JSON value)"),
    (json.dumps(REQUEST), "[" * 100 + "]" * 100,
     "the chart's series is nested more than 64 levels deep"),
])
def test_compute_refuses_json_out_of_bounds(worker: Any, request_json: str, series_json: str,
                                            message: str) -> None:
    assert json.loads(worker.compute(request_json, series_json)) == no_result(message)


def test_compute_refuses_a_request_too_large(worker: Any) -> None:
    huge = json.dumps({**REQUEST, "x": "a" * (16 << 20)})
    assert json.loads(worker.compute(huge, "null")) == no_result(
        "the request is larger than the limit of 16,777,216 bytes")


def test_compute_dict_refuses_deep_python_values(worker: Any) -> None:
    deep: Any = 1
    for _ in range(100_000):
        deep = [deep]
    assert worker.compute_dict({**REQUEST, "x": deep}, SERIES) == no_result(
        "the request is nested more than 64 levels deep")


def test_an_answer_json_cannot_carry_becomes_the_error_shape(
    worker: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    deep: Any = 1
    for _ in range(100_000):
        deep = [deep]
    monkeypatch.setattr(vramcalc, "estimate", lambda request: {"request": {}, "x": deep})
    assert json.loads(worker.compute(json.dumps(REQUEST), "null")) == no_result(
        "the answer is nested more than 68 levels deep")
    monkeypatch.setattr(vramcalc, "estimate", lambda request: {"total_bytes": float("nan")})
    assert json.loads(worker.compute(json.dumps(REQUEST), "null")) == no_result(
        INTERNAL.format("ValueError"))  # JavaScript's JSON.parse would refuse NaN


# ----------------------------------------------------------------------------------------
# The Hub: the browser fetches, vramcalc.hub's core decides


def page_failure(status: str, model_id: str, detail: str = "") -> dict[str, str]:
    return {"status": status,
            "message": vramcalc.hub.explain(status, model_id, detail=detail, audience="page")}


def test_hub_request(worker: Any) -> None:
    assert json.loads(worker.hub_request("Qwen/Qwen3-8B")) == {
        "url": "https://huggingface.co/Qwen/Qwen3-8B/resolve/main/config.json"
    }
    for bad in ("not an id", "Qwen/Qwen3-8B\n", "../x", None, 3):
        shown = bad if isinstance(bad, str) else repr(bad)
        assert json.loads(worker.hub_request(bad)) == page_failure("invalid_id", shown)
    assert json.loads(worker.hub_request("Qwen/Qwen3-8B\n"))["message"] == (
        "'Qwen/Qwen3-8B\\n' is not a Hugging Face model id: use the form owner/name, e.g. "
        "meta-llama/Llama-3.1-8B.")


def answer(status: int | None, body: str = "", error_code: str = "") -> str:
    return json.dumps({"status": status, "error_code": error_code, "body": body})


@pytest.mark.parametrize(
    ("status", "error_code", "body", "expected"),
    [
        (401, "GatedRepo", "", "gated"),
        (403, "GatedRepo", "", "gated"),
        (401, "", "", "not_found"),  # without a token the Hub hides private and unknown repos
        (404, "RepoNotFound", "", "not_found"),
        (404, "RevisionNotFound", "", "not_found"),
        (404, "EntryNotFound", "", "no_config"),
        (429, "", "", "rate_limited"),
        (503, "", "", "server_error"),
        (None, "", "", "offline"),
        (200, "", "[1, 2]", "invalid_config"),
        (200, "", "<html>", "invalid_config"),
        (200, "", "[" * 10_000 + "]" * 10_000, "invalid_config"),
    ],
)
def test_hub_answer_failures(
    worker: Any, status: int | None, error_code: str, body: str, expected: str
) -> None:
    result = json.loads(worker.hub_answer("org/model", answer(status, body, error_code)))
    assert result == page_failure(expected, "org/model")


def test_hub_answer_unsupported(worker: Any) -> None:
    result = json.loads(worker.hub_answer("org/model", answer(200, '{"model_type": "bert"}')))
    assert result == page_failure("unsupported", "org/model",
                                  "model_type 'bert' is not a decoder-only LLM")
    assert result["message"] == ("'org/model' is not a decoder-only language model that "
                                 "vramcalc can read (model_type 'bert' is not a decoder-only "
                                 "LLM).")


def test_hub_answer_recorded_configs(worker: Any) -> None:
    recorded = sorted(HUB.glob("*/*/config.json"))
    assert recorded
    for path in recorded:
        model_id = str(path.parent.relative_to(HUB))
        body = path.read_text(encoding="utf-8")
        assert json.loads(worker.hub_answer(model_id, answer(200, body))) == {
            "config": json.loads(body)}


def test_hub_answer_checks_the_id(worker: Any) -> None:
    body = (HUB / "Qwen/Qwen3-8B/config.json").read_text(encoding="utf-8")
    assert json.loads(worker.hub_answer("bad id", answer(200, body))) == page_failure(
        "invalid_id", "bad id")


@pytest.mark.parametrize(("answer_json", "expected"), [
    ("[1]", problems(("", "the Hub's answer must be a JSON object"))),
    ("{}", problems(("status", "is required"), ("error_code", "is required"),
                    ("body", "is required"))),
    ('{"status": "200", "error_code": 1, "body": null}',
     problems(("status", "must be an HTTP status (100-599) or null"),
              ("error_code", "must be a string or null"), ("body", "must be a string"))),
    ('{"status": true, "error_code": null, "body": ""}',
     problems(("status", "must be an HTTP status (100-599) or null"))),
    ("{", problems(("", "the Hub's answer is not valid JSON (Expecting property name enclosed "
                        "in double quotes, line 1 column 2)"))),
])
def test_hub_answer_of_the_wrong_shape(worker: Any, answer_json: str,
                                       expected: dict[str, Any]) -> None:
    assert json.loads(worker.hub_answer("org/model", answer_json)) == expected


def test_hub_exceptions_become_the_error_shape(
    worker: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*args: Any, **kwargs: Any) -> Any:
        raise ZeroDivisionError("secret detail")

    monkeypatch.setattr(vramcalc.hub, "read_answer", broken)
    monkeypatch.setattr(vramcalc.hub, "config_url", broken)
    expected = problems(("", INTERNAL.format("ZeroDivisionError")))
    assert json.loads(worker.hub_answer("org/model", answer(200, "{}"))) == expected
    assert json.loads(worker.hub_request("org/model")) == expected


# ----------------------------------------------------------------------------------------
# What the worker is


def test_worker_imports_nothing_of_pyscript() -> None:
    text = (ROOT / "site" / "worker.py").read_text()
    # plain Python, so that CPython runs it too
    assert not re.search(r"^\s*(import|from)\s+(pyscript|js)\b", text, re.M)


def test_worker_only_bridges() -> None:
    """No fetching machinery of its own (vramcalc.hub's core reads the browser's answer) and
    no state kept between calls."""
    text = (ROOT / "site" / "worker.py").read_text()
    assert "urllib" not in text and "fetch_config" not in text
    module_level = re.findall(r"^(_?[a-z]\w*)\s*(?::[^=]*)?=", text, re.M)
    assert module_level == [], module_level  # constants are UPPER_CASE; nothing else
