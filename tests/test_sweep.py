"""vramcalc.sweep: one request field varied (the page's chart), never raising."""

from __future__ import annotations

import itertools
import json
from typing import Any

import pytest
from _models import TINY

import vramcalc
from vramcalc import api

LLAMA = {"mode": "inference", "model": {"preset": "meta-llama/Llama-3.1-8B"}, "gpu": "rtx-4090"}
TRAIN = {"mode": "training", "model": {"preset": "meta-llama/Llama-3.1-8B"}, "method": "lora"}


def tiny(**fields: Any) -> dict[str, Any]:
    return {"mode": "inference", "model": {"config": TINY, "name": "tiny"}, **fields}


def totals(result: dict[str, Any]) -> list[int | None]:
    return [p["total_bytes"] for p in result["points"]]


def test_points_are_the_estimates_of_each_value() -> None:
    result = vramcalc.sweep(tiny(), "context_length", [1024, 2048])
    assert result["field"] == "context_length"
    for point, value in zip(result["points"], [1024, 2048], strict=True):
        answer = vramcalc.estimate(tiny(context_length=value))
        assert point == {"value": value, "total_bytes": answer["total_bytes"],
                         "peak_phase": answer["peak_phase"], "problems": []}
    # the KV cache alone grows by 2 layers · 2 (K and V) · 2 KV heads · head_dim 8 · 2 bytes
    # (bf16) · 1024 more tokens = 131,072 bytes; activations grow too
    low, high = totals(result)
    assert low is not None and high is not None and high - low >= 131_072


def test_training_fields_and_nested_fields() -> None:
    result = vramcalc.sweep(TRAIN, "lora.rank", [8, 64])
    for point, value in zip(result["points"], [8, 64], strict=True):
        answer = vramcalc.estimate({**TRAIN, "lora": {"rank": value}})
        assert (point["total_bytes"], point["peak_phase"]) == (answer["total_bytes"],
                                                               answer["peak_phase"])
    caches = vramcalc.sweep(tiny(), "transformers.cache", ["dynamic", "static"])
    assert [p["problems"] for p in caches["points"]] == [[], []]


def test_order_and_repeats_are_kept() -> None:
    result = vramcalc.sweep(tiny(), "batch_size", [4, 1, 4])
    assert [p["value"] for p in result["points"]] == [4, 1, 4]
    first, _, last = totals(result)
    assert first == last


def test_a_value_the_request_refuses_is_a_point_with_problems() -> None:
    result = vramcalc.sweep(tiny(), "context_length", [0, "long", 512])
    assert result["points"][:2] == [
        {"value": 0, "total_bytes": None, "peak_phase": None,
         "problems": [{"field": "context_length", "message": "must be an integer >= 1, got 0"}]},
        {"value": "long", "total_bytes": None, "peak_phase": None,
         "problems": [{"field": "context_length", "message": "must be an integer, got 'long'"}]},
    ]
    assert result["points"][2]["problems"] == []


@pytest.mark.parametrize(("req", "field", "values", "problems"), [
    ([1], "batch_size", [1], [("", "the request must be a JSON object")]),
    (LLAMA, "", [1], [("sweep.field", "must be a dotted request field such as "
                                      "context_length, got ''")]),
    (LLAMA, "a..b", [1], [("sweep.field", "must be a dotted request field such as "
                                          "context_length, got 'a..b'")]),
    (LLAMA, None, [1], [("sweep.field", "must be a dotted request field such as "
                                        "context_length, got null")]),
    (LLAMA, "batch_size", "1,2", [("sweep.values", "must be a list of values, got '1,2'")]),
    (LLAMA, "batch_size", list(range(1, 258)), [("sweep.values", "must hold at most 256 "
                                                                 "values, got 257")]),
    (LLAMA, "model.preset.size", [1], [("model.preset", "must be an object")]),
    ("x", 3, None, [("", "the request must be a JSON object"),
                    ("sweep.field", "must be a dotted request field such as context_length, "
                                    "got 3"),
                    ("sweep.values", "must be a list of values, got null")]),
])
def test_bad_arguments(req: Any, field: Any, values: Any,
                       problems: list[tuple[str, str]]) -> None:
    assert vramcalc.sweep(req, field, values) == {"error": {"problems": [
        {"field": f, "message": m} for f, m in problems]}}


def test_the_bound_on_values_is_inclusive() -> None:
    assert len(vramcalc.sweep(tiny(), "batch_size", list(range(1, 257)))["points"]) == 256


def test_deep_and_cyclic_input_is_refused() -> None:
    deep: Any = 1
    for _ in range(100):
        deep = {"a": deep}
    assert vramcalc.sweep({**LLAMA, "x": deep}, "batch_size", [1]) == {"error": {"problems": [
        {"field": "", "message": "the request is nested more than 64 levels deep"}]}}
    assert vramcalc.sweep(LLAMA, "batch_size", [deep]) == {"error": {"problems": [
        {"field": "sweep.values", "message": "is nested more than 64 levels deep"}]}}
    cyclic: dict[str, Any] = dict(LLAMA)
    cyclic["self"] = cyclic
    assert "error" in vramcalc.sweep(cyclic, "batch_size", [1])


def test_an_exception_inside_becomes_a_problem(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(req: Any) -> Any:
        raise ZeroDivisionError("secret detail")

    monkeypatch.setattr(api, "_peak", broken)
    assert vramcalc.sweep(LLAMA, "batch_size", [1])["points"] == [{
        "value": 1, "total_bytes": None, "peak_phase": None,
        "problems": [{"field": "", "message": "internal error (ZeroDivisionError); the "
                      "request was not computed: please report this"}]}]


def test_never_raises() -> None:
    """Property: any combination of odd arguments gives a dict with points or problems."""
    deep: Any = 0
    for _ in range(10_000):
        deep = [deep]
    requests = [None, 1, "x", [], {}, {"mode": "inference"}, tiny(), {"model": object()},
                {"x": deep}, {"batch_size": float("nan")}]
    fields = [None, "", ".", "a..b", "context_length", 3, "model.config", "model.name.x",
              "fit_gpus"]
    values = [None, [], [object()], "abc", (1, 2), [deep], [float("inf"), -1, True, None]]
    for req, field, vals in itertools.product(requests, fields, values):
        result = vramcalc.sweep(req, field, vals)
        assert set(result) in ({"error"}, {"field", "points"}), (req, field, vals)
        if "points" in result:
            assert len(result["points"]) == len(vals)


@pytest.mark.parametrize(("req", "field", "values"), [
    (LLAMA, "context_length", [512, 1024, 4096, 16384, 65536, 131072]),
    (LLAMA, "batch_size", [1, 2, 4, 8, 16, 32]),
    ({**LLAMA, "engine": "llama.cpp"}, "context_length", [512, 4096, 32768]),
    (TRAIN, "micro_batch_size", [1, 2, 4, 8]),
    (TRAIN, "sequence_length", [512, 2048, 8192]),
])
def test_totals_grow_with_batch_and_length(req: dict[str, Any], field: str,
                                           values: list[int]) -> None:
    found = totals(vramcalc.sweep(req, field, values))
    assert None not in found and found == sorted(found), found
    assert json.loads(json.dumps(found)) == found  # plain integers, JSON as they are
