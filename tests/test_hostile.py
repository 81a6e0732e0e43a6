"""Hostile and absurd inputs get a named problem (or an honest answer), never a traceback,
a silent default or a number nobody can trust (docs/api.md, Limits)."""

from __future__ import annotations

from typing import Any

import pytest
from conftest import problems

import vramcalc
from vramcalc import catalogs

L8 = {"preset": "meta-llama/Llama-3.1-8B"}


def config(**changes: Any) -> dict[str, Any]:
    """Llama 3.2 1B's config.json with `changes` (None removes a key)."""
    out = dict(catalogs.presets()["meta-llama/Llama-3.2-1B-Instruct"]["config"])
    out.update(changes)
    return {k: v for k, v in out.items() if v is not None}


def inference(**fields: Any) -> dict[str, Any]:
    return {"mode": "inference", "model": L8, "fit_gpus": ["rtx-4090"], **fields}


def nested(depth: int) -> list[Any]:
    value: list[Any] = []
    for _ in range(depth):
        value = [value]
    return value


def test_a_layer_count_beyond_any_model_is_refused_before_any_work() -> None:
    req = {"mode": "inference", "model": {"config": config(num_hidden_layers=100_000_000)}}
    assert problems(req) == [("model.config.num_hidden_layers",
                              "at most 10,000 (the deepest published LLMs have under 200 "
                              "layers); got 100,000,000")]


def test_every_config_limit_names_the_alias_that_was_given() -> None:
    req = {"mode": "inference", "model": {"config": config(hidden_size=None, n_embd=2**63)}}
    assert problems(req) == [("model.config.n_embd",
                              "at most 131,072 (2^17; the widest published LLMs use 16,384 to "
                              "25,600); got 9,223,372,036,854,775,808")]


@pytest.mark.parametrize("depth", [40, 1_000, 10_000])
def test_deep_nesting_is_a_problem_not_a_recursion_error(depth: int) -> None:
    req = {"mode": "inference", "model": {"config": config(extra=nested(depth))}}
    assert problems(req) == [("model", "nests deeper than 32 levels: no request or "
                              "config.json does")]


@pytest.mark.parametrize("value", [["abc"], [None], [99], [True], "3"])
def test_llama4_moe_layers_must_be_layer_indices(value: Any) -> None:
    scout = catalogs.presets()["meta-llama/Llama-4-Scout-17B-16E-Instruct"]["config"]
    text = {**scout["text_config"], "moe_layers": value}
    req = {"mode": "inference", "model": {"config": {**scout, "text_config": text}}}
    assert problems(req) == [("model.config.text_config.moe_layers",
                              "must be a list of layer indices from 0 to 47")]


@pytest.mark.parametrize(("where", "value", "field"), [
    ("moe_layers", [1e999], "model.config.text_config.moe_layers.0"),
    ("num_experts", float("nan"), "model.config.text_config.num_experts"),
    ("unused_key", {"a": [0, float("-inf")]}, "model.config.text_config.unused_key.a.1"),
])
def test_nan_and_infinity_anywhere_are_named(where: str, value: Any, field: str) -> None:
    """JSON has neither, but a Python caller can pass them, even in a key nothing reads:
    refused by path before anything reads the request (the echo would not be JSON)."""
    scout = catalogs.presets()["meta-llama/Llama-4-Scout-17B-16E-Instruct"]["config"]
    text = {**scout["text_config"], where: value}
    req = {"mode": "inference", "model": {"config": {**scout, "text_config": text}}}
    [(got, message)] = problems(req)
    assert got == field
    assert message.startswith("must be a finite number, got ")


def test_integers_too_long_to_print_are_described() -> None:
    assert problems(inference(overheads={"allocator_reserve_fraction": 10**400})) == [
        ("overheads.allocator_reserve_fraction",
         "must be a finite number, got an integer of about 401 digits")]
    req = {"mode": "inference", "model": {"config": config(hidden_size=10**5000)}}
    assert problems(req) == [("model.config.hidden_size",
                              "at most 131,072 (2^17; the widest published LLMs use 16,384 to "
                              "25,600); got an integer of about 5,001 digits")]
    req = inference(engine="vllm", gpu="h100-sxm", vllm={"device_memory_bytes": 10**400})
    assert problems(req) == [("vllm.device_memory_bytes", "must be an integer <= "
                              "17592186044416, got an integer of about 401 digits")]


def test_heads_wider_than_the_hidden_size_are_refused() -> None:
    req = {"mode": "inference", "model": {"config": config(
        hidden_size=16, head_dim=None, num_attention_heads=32, num_key_value_heads=8)}}
    assert problems(req) == [("model.config.num_attention_heads",
                              "must be at most hidden_size (16) when head_dim is not given "
                              "(head_dim = hidden_size // heads), got 32")]


def test_an_answer_beyond_2_53_bytes_is_refused() -> None:
    req = inference(model={"preset": "deepseek-ai/DeepSeek-V3"}, batch_size=1 << 20,
                    context_length=1 << 24)
    [(field, message)] = problems(req)
    assert field == "context_length"
    assert message.endswith("exceeds 2^53 bytes (8 PiB), beyond any GPU setup: lower the batch, "
                            "the sequence length or the model's sizes")


def test_a_model_beyond_any_real_size_is_refused() -> None:
    req = {"mode": "inference", "model": {"config": config(
        hidden_size=131072, intermediate_size=1 << 20, num_hidden_layers=10_000, head_dim=None,
        num_attention_heads=1024, num_key_value_heads=1024)}}
    [(field, message)] = problems(req)
    assert field == "model.config"
    assert message.endswith("parameters, more than 100,000,000,000,000: no real model is that "
                            "large; check its sizes")


@pytest.mark.parametrize(("fields", "expected"), [
    ({"": 1}, [('""', "is not a known field")]),
    ({"a.b": 1}, [("'a.b'", "is not a known field")]),
    ({"weight_format": False}, [("weight_format", "must be a non-empty string, got false")]),
    ({"weight_format": ""}, [("weight_format", "must be a non-empty string, got ''")]),
    ({"weight_format": []}, [("weight_format", "must be a non-empty string, got a list of 0 "
                              "items")]),
    ({"kv_cache_dtype": 0}, [("kv_cache_dtype", "must be a non-empty string, got 0")]),
    ({"model": {**L8, "name": 0}}, [("model.name", "must be a string, got 0")]),
    ({"gpu": "x" * 100_000}, [("gpu", "unknown GPU id '" + "x" * 56 + "...; another GPU: "
                              "describe it as an object {\"name\": ..., \"memory_bytes\": ...}")]),
    ({"gpu": 7}, [("gpu", "must be a GPU id from the catalog (e.g. 'rtx-4090') or an object "
                   "{\"name\": ..., \"memory_bytes\": ...}, got 7")]),
])
def test_wrong_types_are_problems_not_defaults(fields: dict[str, Any],
                                               expected: list[tuple[str, str]]) -> None:
    assert problems(inference(**fields)) == expected


def test_llama_cpp_with_no_layers_offloaded_keeps_its_fixed_costs() -> None:
    r = vramcalc.estimate(inference(engine="llama.cpp", llama_cpp={"n_gpu_layers": 0}))
    parts = {c["name"]: c["bytes"] for c in r["components"]}
    assert parts["weights"] == 0 and parts["kv_cache"] == 0
    assert parts["cuda_context"] == 300 << 20  # llama.cpp's CUDA context default
    assert parts["compute_buffer"] > 0
    assert [w["code"] for w in r["warnings"]] == ["llama_cpp_no_layers_offloaded"]


def test_the_limits_are_documented_data() -> None:
    limits = catalogs.limits()
    for group in ("request", "config"):
        for name, entry in limits[group].items():
            assert entry["max"] > 0 and entry["why"], name
    assert catalogs.bound("bytes") == 2**53 - 1


@pytest.mark.parametrize("value", [3, True, ["x"], [99]])
def test_qwen3_next_mlp_only_layers_must_be_layer_indices(value: Any) -> None:
    import json

    from conftest import DATA

    config = json.loads((DATA / "configs" / "Qwen3-Next-80B-A3B-Instruct.json").read_text(
        encoding="utf-8"))["config"]
    req = {"mode": "inference", "model": {"config": {**config, "mlp_only_layers": value}}}
    assert problems(req) == [("model.config.mlp_only_layers",
                              "must be a list of layer indices from 0 to 47")]


def test_the_pages_json_depth_bound_is_the_packages() -> None:
    """site/js/json.js refuses deep JSON before parsing it, with the package's own bound."""
    import re
    from pathlib import Path

    source = (Path(__file__).resolve().parents[1] / "site" / "js" / "json.js").read_text()
    found = re.search(r"export const MAX_DEPTH = (\d+);", source)
    assert found is not None
    assert int(found.group(1)) == vramcalc.jsonin.MAX_DEPTH
