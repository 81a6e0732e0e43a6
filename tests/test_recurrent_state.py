"""The per-sequence state of recurrent layers (recurrent_state.py), in every engine."""

from __future__ import annotations

import json
from typing import Any

from conftest import DATA

import vramcalc


def config(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((DATA / "configs" / f"{name}.json").read_text("utf-8"))
    return data["config"]


def answer(name: str, **fields: Any) -> dict[str, Any]:
    r = vramcalc.estimate({"mode": "inference", "model": {"config": config(name)},
                           "fit_gpus": ["h200"], **fields})
    assert "error" not in r, r
    return r


def parts(r: dict[str, Any]) -> dict[str, int]:
    return {c["name"]: c["bytes"] for c in r["components"]}


def test_transformers_keeps_the_convolution_window_and_the_state() -> None:
    # mamba-2.8b: 64 Mamba layers, 5,120 channels, kernel 4, d_state 16, bf16: per sequence
    # 64 x (4 x 5,120 x 2 B + 5,120 x 16 x 2 B) = 64 x 204,800 B; two sequences
    r = answer("mamba-2.8b-hf", batch_size=2)
    assert parts(r)["recurrent_state"] == 2 * 64 * (4 * 5120 * 2 + 5120 * 16 * 2)
    assert parts(r)["kv_cache"] == 0
    assert "recurrent_activations" in {w["code"] for w in r["warnings"]}


def test_llama_cpp_keeps_the_state_in_f32_per_slot() -> None:
    # llama-memory-recurrent.cpp: (kernel - 1) columns and the state, F32: 64 x 4 B x
    # (3 x 5,120 + 5,120 x 16)
    r = answer("mamba-2.8b-hf", engine="llama.cpp", context_length=4096)
    assert parts(r)["recurrent_state"] == 64 * 4 * (3 * 5120 + 5120 * 16)


def test_vllm_raises_the_attention_block_to_hold_a_state_page() -> None:
    # Qwen3-Next: 12 attention layers with 2 KV heads of 256 (bf16: 2 x 512 x 2 = 2,048 B a
    # token), 36 Gated DeltaNet layers: 3 x 8,192 conv columns in bf16 + 32 x 128 x 128 fp32
    # state = 49,152 + 2,097,152 = 2,146,304 B; block 16 x ceil(2,146,304 / (16 x 2,048))
    # = 1,056; the state page padded to 1,056 x 2,048 = 2,162,688 B
    r = answer("Qwen3-Next-80B-A3B-Instruct", engine="vllm", gpu="h200",
               parallel={"tensor": 1})
    v = r["details"]["vllm"]
    assert (v["block_size"], v["page_size_bytes"]) == (1056, 2_162_688)


def test_vllm_serves_a_model_without_attention() -> None:
    # mamba-2.8b under vLLM: (3 x 5,120 + 5,120 x 16) x 2 B = 194,560 B a layer and sequence
    r = answer("mamba-2.8b-hf", engine="vllm", gpu="h200", context_length=32768)
    v = r["details"]["vllm"]
    assert v["page_size_bytes"] == (3 * 5120 + 5120 * 16) * 2
    assert v["error"] is None and v["max_concurrency"] > 1
