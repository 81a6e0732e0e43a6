"""site/worker.py, the page's Python side, run here in CPython as build.py runs it."""

from __future__ import annotations

import importlib.util
import json
import re
from pathlib import Path
from typing import Any

import pytest

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


@pytest.fixture
def worker() -> Any:
    spec = importlib.util.spec_from_file_location("page_worker", ROOT / "site" / "worker.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def expected_points(request: dict[str, Any], field: str, values: list[int]) -> list[Any]:
    points = []
    for value in sorted({*values, request[field]}):
        answer = vramcalc.estimate({**request, "fit_gpus": [], field: value})
        points.append({"value": value, "total_bytes": answer["total_bytes"]})
    return points


def test_compute_is_estimate_plus_a_series(worker: Any) -> None:
    result = json.loads(worker.compute(json.dumps(REQUEST), json.dumps(SERIES)))
    assert result["response"] == vramcalc.estimate(REQUEST)
    normalized = result["response"]["request"]
    assert result["series"] == {
        "field": "context_length",
        "points": expected_points(normalized, "context_length", SERIES["values"]),
    }
    assert [p["value"] for p in result["series"]["points"]] == [1024, 4096, 8192, 16384, 65536]


@pytest.mark.parametrize(
    "change", [{"context_length": 12000}, {"batch_size": 3}, {"weight_format": "nf4"}]
)
def test_series_stays_exact_when_inputs_change(worker: Any, change: dict[str, Any]) -> None:
    worker.compute_dict(REQUEST, SERIES)  # fills the cache of the last series
    changed = {**REQUEST, **change}
    result = worker.compute_dict(changed, SERIES)
    normalized = result["response"]["request"]
    assert result["series"]["points"] == expected_points(
        normalized, "context_length", SERIES["values"]
    )


def test_bad_request_gives_problems_and_no_series(worker: Any) -> None:
    result = worker.compute_dict({**REQUEST, "batch_size": 0}, SERIES)
    assert result == {"response": vramcalc.estimate({**REQUEST, "batch_size": 0}), "series": None}
    assert result["response"]["error"]["problems"][0]["field"] == "batch_size"


def test_an_engine_exception_becomes_a_problem(
    worker: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(request: Any) -> Any:
        raise ZeroDivisionError("secret detail")

    monkeypatch.setattr(vramcalc, "estimate", broken)
    result = worker.compute_dict(REQUEST, SERIES)
    message = "internal error (ZeroDivisionError); the request was not computed: please report this"
    assert result == {
        "response": {"error": {"problems": [{"field": "", "message": message}]}},
        "series": None,
    }


def test_hub_request(worker: Any) -> None:
    assert json.loads(worker.hub_request("Qwen/Qwen3-8B")) == {
        "url": "https://huggingface.co/Qwen/Qwen3-8B/resolve/main/config.json"
    }
    assert json.loads(worker.hub_request("not an id")) == {
        "status": "invalid_id",
        "message": vramcalc.hub.explain("invalid_id", "not an id", audience="page"),
    }


@pytest.mark.parametrize(
    ("status", "error_code", "body", "expected"),
    [
        (401, "GatedRepo", "", "gated"),
        (401, "", "", "not_found"),  # without a token the Hub hides private and unknown repos
        (404, "RepoNotFound", "", "not_found"),
        (404, "EntryNotFound", "", "no_config"),
        (429, "", "", "rate_limited"),
        (503, "", "", "server_error"),
        (None, "", "", "offline"),
        (200, "", "[1, 2]", "invalid_config"),
        (200, "", '{"model_type": "bert"}', "unsupported"),
    ],
)
def test_hub_answer_failures(
    worker: Any, status: int | None, error_code: str, body: str, expected: str
) -> None:
    answer = {"status": status, "error_code": error_code, "body": body}
    result = json.loads(worker.hub_answer("org/model", json.dumps(answer)))
    assert result["status"] == expected
    message = vramcalc.hub.explain(expected, "org/model", audience="page")
    assert result["message"].startswith(message[:40])


def test_hub_answer_config(worker: Any) -> None:
    preset = vramcalc.estimate(REQUEST)["model"]  # Llama 3.1 8B's shape, as a config.json
    body = {
        "model_type": "llama",
        "hidden_size": preset["hidden_size"],
        "num_hidden_layers": preset["layers"],
        "num_attention_heads": preset["attention_heads"],
        "num_key_value_heads": preset["kv_heads"],
        "intermediate_size": preset["intermediate_size"],
        "vocab_size": preset["vocab_size"],
        "max_position_embeddings": preset["max_position_embeddings"],
    }
    answer = {"status": 200, "error_code": "", "body": json.dumps(body)}
    assert json.loads(worker.hub_answer("org/model", json.dumps(answer))) == {"config": body}


def test_worker_imports_nothing_of_pyscript() -> None:
    text = (ROOT / "site" / "worker.py").read_text()
    # plain Python, so that CPython runs it too
    assert not re.search(r"^\s*(import|from)\s+(pyscript|js)\b", text, re.M)
