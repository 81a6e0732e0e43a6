"""The JSON contract (docs/api.md): shape, invariants and every error message."""

from __future__ import annotations

import json

import pytest
from conftest import estimate, problems

import vramcalc

STABLE = {"weights", "kv_cache", "activations", "gradients", "optimizer_states",
          "master_weights", "logits", "adapters", "cuda_context", "runtime_reserve"}


def test_response_shape_and_invariants() -> None:
    r = estimate(context_length=8192, gpu="rtx-4090")
    assert set(r) == {"vramcalc_version", "mode", "total_bytes", "allocated_bytes",
                      "components", "peak_phase", "phases", "parameters", "model", "details",
                      "fit", "warnings", "request"}
    assert sum(c["bytes"] for c in r["components"]) == r["total_bytes"]
    assert sum(c["bytes"] for c in r["components"] if c["kind"] == "tensor") == \
        r["allocated_bytes"]
    assert {c["name"] for c in r["components"]} <= STABLE
    for c in r["components"]:
        assert c["formula"] and c["source"] and c["label"]
    assert max(p["bytes"] for p in r["phases"]) == r["total_bytes"]
    assert r["parameters"]["total"] == 8_030_261_248
    assert r["fit"]["selected"] == "rtx-4090"
    json.dumps(r)  # JSON all the way


@pytest.mark.parametrize("req", [
    {"mode": "inference", "model": {"preset": "Qwen/Qwen3-8B"}, "batch_size": 3},
    {"mode": "inference", "model": {"preset": "Qwen/Qwen3-8B"}, "engine": "vllm",
     "gpu": "l40s"},
    {"mode": "inference", "model": {"preset": "Qwen/Qwen3-8B"}, "engine": "llama.cpp"},
    {"mode": "training", "model": {"preset": "Qwen/Qwen3-8B"}, "method": "qlora"},
    {"mode": "training", "model": {"preset": "Qwen/Qwen3-8B"}, "framework": "deepspeed",
     "parallel": {"data": 8}},
])
def test_normalized_request_reproduces_the_response(req: dict) -> None:
    first = vramcalc.estimate_or_raise(req)
    again = vramcalc.estimate(json.loads(json.dumps(first["request"])))
    assert again == first
    assert len(json.dumps(first["request"])) > len(json.dumps(req))  # defaults filled in


def test_raising_variant_carries_the_same_problems() -> None:
    with pytest.raises(vramcalc.RequestError) as info:
        vramcalc.estimate_or_raise({"mode": "inference"})
    assert [(p.field, p.message) for p in info.value.problems] == [
        ("model", 'is required: {"preset": "<id>"} or {"config": {...config.json...}}'),
    ]


LLAMA = {"preset": "meta-llama/Llama-3.1-8B"}


@pytest.mark.parametrize(("req", "expected"), [
    ([], [("", "the request must be a JSON object")]),
    ({"model": LLAMA}, [("mode", "is required")]),
    ({"mode": "serve", "model": LLAMA},
     [("mode", "must be one of inference, training; got 'serve'")]),
    ({"mode": "inference", "model": {"preset": "nope/nope"}},
     [("model.preset", "unknown model preset 'nope/nope'; another model: give its config.json "
       "as {\"config\": {...}}")]),
    ({"mode": "inference", "model": {"preset": "meta-llama/llama-3.1-8b-instruct"}},
     [("model.preset", "unknown model preset 'meta-llama/llama-3.1-8b-instruct' (did you "
       "mean 'meta-llama/Llama-3.1-8B-Instruct', 'meta-llama/Llama-3.1-70B-Instruct' or "
       "'meta-llama/Llama-3.2-3B-Instruct'?); another model: give its config.json as "
       "{\"config\": {...}}")]),
    ({"mode": "inference", "model": {"preset": "x", "config": {}}},
     [("model", 'must have exactly one of "preset", "config" or "ollama"')]),
    ({"mode": "inference", "model": LLAMA, "batch_size": 0},
     [("batch_size", "must be an integer >= 1, got 0")]),
    ({"mode": "inference", "model": LLAMA, "batch_size": True},
     [("batch_size", "must be an integer, got true")]),
    ({"mode": "inference", "model": LLAMA, "context_length": "8k"},
     [("context_length", "must be an integer, got '8k'")]),
    ({"mode": "inference", "model": LLAMA, "context_length": 2.5},
     [("context_length", "must be an integer, got 2.5")]),
    ({"mode": "inference", "model": LLAMA, "kv_cache_dtype": "q8_0"},
     [("kv_cache_dtype", "q8_0 is not a KV cache dtype of transformers; it supports: "
       "fp32, bf16, fp16")]),
    ({"mode": "inference", "model": LLAMA, "gpu": "gtx-9999"},
     [("gpu", "unknown GPU id 'gtx-9999'; another GPU: describe it as an object "
       "{\"name\": ..., \"memory_bytes\": ...}")]),
    ({"mode": "inference", "model": LLAMA, "gpu": "rtx4090"},
     [("gpu", "unknown GPU id 'rtx4090' (did you mean 'rtx-4090', 'rtx-5090' or "
       "'rtx-4060'?); another GPU: describe it as an object {\"name\": ..., "
       "\"memory_bytes\": ...}")]),
    ({"mode": "inference", "model": LLAMA, "overheads": {"allocator_reserve_fraction": -1}},
     [("overheads.allocator_reserve_fraction", "must be a number >= 0, got -1")]),
    ({"mode": "inference", "model": LLAMA, "overheads": {"allocator_reserve_fraction":
                                                          float("nan")}},
     [("overheads.allocator_reserve_fraction", "must be a finite number, got nan")]),
    ({"mode": "inference", "model": LLAMA, "fit_gpus": ["h100-sxm", "nope"]},
     [("fit_gpus", "unknown GPU ids: nope")]),
    ({"mode": "inference", "model": LLAMA, "fit_gpus": ["h100"]},
     [("fit_gpus", "unknown GPU ids: h100 (did you mean 'h200', 'h100-sxm' or "
                   "'h100-nvl'?)")]),
    ({"mode": "inference", "model": LLAMA, "batchsize": 4},
     [("batchsize", "is not a known field")]),
    ({"mode": "inference", "model": LLAMA, "parallel": {"tensor": 3}},
     [("parallel.tensor", "must divide the number of KV heads (8)"),
      ("parallel.tensor", "must divide the number of attention heads (32)")]),
])
def test_every_bad_input_names_its_field(req: object, expected: list[tuple[str, str]]) -> None:
    assert problems(req) == expected  # type: ignore[arg-type]


def test_all_problems_are_reported_together() -> None:
    got = problems({"mode": "inference", "model": LLAMA, "batch_size": -1,
                    "context_length": 0, "weight_format": "int3", "engine": "tgi"})
    assert sorted(field for field, _ in got) == ["batch_size", "context_length", "engine",
                                                 "weight_format"]


def test_catalog_lists_what_forms_need() -> None:
    cat = vramcalc.catalog()
    assert len(cat["presets"]) >= 60
    assert {g["id"] for g in cat["gpus"]} >= {"t4", "rtx-3060-12gb", "rtx-4090", "a100-80gb",
                                              "h100-sxm", "b200", "mi300x", "m4-max-128gb"}
    assert {"nf4", "Q4_K_M", "awq-int4", "mxfp4", "fp8"} <= \
        {f["id"] for f in cat["weight_formats"]}
    json.dumps(cat)
