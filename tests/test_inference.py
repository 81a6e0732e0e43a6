"""Inference memory with transformers' generate() (inference.py)."""

from __future__ import annotations

import math
import random

import pytest
from conftest import estimate
from test_architecture import tiny_llama

import vramcalc

NO_OVERHEAD = {"cuda_context_bytes": 0, "allocator_reserve_fraction": 0.0}


def parts(response: dict) -> dict[str, int]:
    return {c["name"]: c["bytes"] for c in response["components"]}


def test_tiny_model_by_hand() -> None:
    r = vramcalc.estimate({"mode": "inference", "model": {"config": tiny_llama()},
                           "batch_size": 2, "context_length": 10, "overheads": NO_OVERHEAD})
    # weights: 21 tensors (embedding, 2 x (q, k, v, o, gate, up, down, 2 norms), final
    # norm, lm_head), each under 512 B in bf16: the caching allocator's 512-byte minimum
    # block -> 21 x 512
    # KV: 2 (K,V) x 2 layers x 1 head x 4 dims x 2 B = 32 B/token, x 2 x 10 tokens
    # activations (prefill): b*s tokens x (the widest layer peak + 2h held by the forward)
    #   x 2 B + the 32 MiB cuBLAS workspace; layer peaks per token:
    #   MLP 2h + 3f = 16 + 36 = 52; attention 2h + 4*q + k+v + h = 16 + 32 + 8 + 8 = 64;
    #   RMSNorm 5h = 40  -> 64 elements, + 2h = 80
    # logits: b x V x (2 + 4) = 2 x 10 x 6
    workspace = 32 << 20
    assert parts(r) == {
        "weights": 21 * 512, "kv_cache": 640, "activations": 2 * 10 * 80 * 2 + workspace,
        "logits": 120, "runtime_reserve": 0, "cuda_context": 0,
    }
    assert r["peak_phase"] == "prefill"
    # decode: one token per sequence (2 x 80 x 2 B) + the K copy torch.cat makes for one
    # layer (2 x 10 tokens x 4 x 2 B)
    decode = next(p for p in r["phases"] if p["name"] == "decode")
    assert decode["bytes"] == 21 * 512 + 640 + (2 * 80 * 2 + 160 + workspace) + 120


def test_reserve_and_context_are_named_inputs() -> None:
    r = estimate(context_length=1024, overheads={"cuda_context_bytes": 1000,
                                                 "allocator_reserve_fraction": 0.1})
    p = parts(r)
    assert p["cuda_context"] == 1000
    assert p["runtime_reserve"] == math.ceil(0.1 * r["allocated_bytes"])


def test_eager_attention_adds_the_s_squared_scores() -> None:
    sdpa = parts(estimate(context_length=4096))["activations"]
    eager = parts(estimate(context_length=4096, attention="eager"))["activations"]
    # b * s^2 * (10 B x 32 heads + 2 B mask)
    assert eager - sdpa == 4096 * 4096 * (10 * 32 + 2)


def test_sliding_window_prefill_keeps_the_whole_prompt() -> None:
    r = estimate(model={"preset": "google/gemma-2-9b-it"}, context_length=8192)
    phases = {p["name"]: p["bytes"] for p in r["phases"]}
    assert r["peak_phase"] == "prefill"
    assert phases["prefill"] > phases["decode"]
    assert "sliding-window layers" in next(
        c["formula"] for c in r["components"] if c["name"] == "kv_cache")


def test_kv_dtype_is_independent_of_weights() -> None:
    # an int4 model still caches K and V in bf16 unless asked otherwise
    r = estimate(weight_format="awq-int4", context_length=8192)
    assert r["request"]["kv_cache_dtype"] == "bf16"
    assert parts(r)["kv_cache"] == 8192 * 131072


def test_quantized_checkpoints_default_to_their_format() -> None:
    r = estimate(model={"preset": "openai/gpt-oss-20b"})
    assert r["request"]["weight_format"] == "mxfp4"


def test_tensor_parallel_splits_weights_and_kv_heads() -> None:
    one = parts(estimate(context_length=8192))
    two = parts(estimate(context_length=8192, parallel={"tensor": 2}))
    assert two["weights"] == math.ceil(one["weights"] / 2)
    assert two["kv_cache"] == one["kv_cache"] // 2


# --- properties ----------------------------------------------------------------------------

MODELS = ["meta-llama/Llama-3.1-8B", "Qwen/Qwen3-30B-A3B", "google/gemma-3-4b-it",
          "deepseek-ai/DeepSeek-V2-Lite", "openai/gpt-oss-20b", "microsoft/Phi-3-mini-4k-instruct"]


@pytest.mark.parametrize("model", MODELS)
def test_monotone_and_finite(model: str) -> None:
    rng = random.Random(model)
    for _ in range(10):
        b, s = rng.randint(1, 16), rng.randint(1, 4096)
        base = estimate(model={"preset": model}, batch_size=b, context_length=s)
        more_b = estimate(model={"preset": model}, batch_size=b + 1, context_length=s)
        more_s = estimate(model={"preset": model}, batch_size=b, context_length=s + 1)
        assert more_b["total_bytes"] >= base["total_bytes"]
        assert more_s["total_bytes"] >= base["total_bytes"]
        for c in base["components"]:
            assert isinstance(c["bytes"], int) and c["bytes"] >= 0


def test_wider_formats_never_use_less() -> None:
    totals = [estimate(weight_format=f)["total_bytes"]
              for f in ("nf4", "awq-int4", "fp8", "gptq-int8", "bf16", "fp32")]
    assert totals == sorted(totals)
    gguf = [estimate(weight_format=f, engine="llama.cpp")["total_bytes"]
            for f in ("Q2_K", "Q3_K_M", "Q4_K_M", "Q5_K_M", "Q6_K", "Q8_0", "F16")]
    assert gguf == sorted(gguf)
    kv = [parts(estimate(kv_cache_dtype=k, context_length=8192))["kv_cache"]
          for k in ("bf16", "fp32")]
    assert kv == sorted(kv)
