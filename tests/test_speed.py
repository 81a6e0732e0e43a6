"""Roofline speed bound: hand-derived, published arithmetic, properties."""

from __future__ import annotations

import pytest
from _models import TINY, request

import vramcalc
from vramcalc import speed


def test_tiny_decode_is_bytes_over_bandwidth() -> None:
    # tiny: 24,992 bf16 params = 49,984 B; KV at 64 tokens: 64 · 2 layers · 64 B = 8,192 B
    # per step on an RTX 4090 (1,008 GB/s): 58,176 B / 1.008e12 B/s
    req = {"mode": "inference", "model": {"config": TINY, "name": "tiny"},
           "gpu": "rtx-4090", "fit_gpus": ["rtx-4090"], "context_length": 64}
    sp = vramcalc.estimate_or_raise(req)["details"]["speed"]
    assert sp["decode"]["bytes_per_step"] == 49_984 + 8_192
    assert sp["decode"]["tokens_per_s_per_sequence"] == round(1.008e12 / 58_176, 2)
    assert sp["bound"] == "roofline"


def test_llama_8b_decode_on_h100_is_about_220_tokens_per_second() -> None:
    # 16.06 GB of bf16 weights + 0.54 GB of KV at 4,096 tokens over 3.35 TB/s
    sp = vramcalc.estimate_or_raise(request(
        "meta-llama/Llama-3.1-8B-Instruct", gpu="h100-sxm"))["details"]["speed"]
    assert sp["decode"]["tokens_per_s_per_sequence"] == pytest.approx(3.35e12 / 16.6e9,
                                                                      rel=0.01)
    assert sp["decode"]["limited_by"] == "memory bandwidth"
    assert sp["prefill"]["limited_by"] == "compute"


def test_experts_touched() -> None:
    assert speed.experts_touched(8, 2, 1) == 0.25
    assert speed.experts_touched(8, 2, 2) == pytest.approx(1 - 0.75 ** 2)
    assert speed.experts_touched(128, 4, 10_000) == pytest.approx(1.0)


def test_moe_decode_reads_fewer_bytes_than_its_size() -> None:
    r = vramcalc.estimate_or_raise(request("openai/gpt-oss-20b", gpu="h100-sxm",
                                           weight_format="mxfp4"))
    weights = next(c["bytes"] for c in r["components"] if c["name"] == "weights")
    assert r["details"]["speed"]["decode"]["bytes_per_step"] < 0.5 * weights


def test_bound_is_monotone() -> None:
    def tps(**fields: object) -> float:
        r = vramcalc.estimate_or_raise(request("Qwen/Qwen3-8B", **fields))
        return r["details"]["speed"]["decode"]["tokens_per_s_total"]

    assert tps(gpu="h100-sxm") > tps(gpu="rtx-4090") > tps(gpu="rtx-3060-12gb")
    assert tps(gpu="h100-sxm", batch_size=8) > tps(gpu="h100-sxm", batch_size=1)
    assert tps(gpu="h100-sxm", context_length=32768) < tps(gpu="h100-sxm")


def test_no_gpu_no_speed() -> None:
    r = vramcalc.estimate_or_raise(request("Qwen/Qwen3-8B"))
    assert r["details"]["speed"] is None


def test_partial_offload_is_slower() -> None:
    def tps(ngl: int) -> float:
        r = vramcalc.estimate_or_raise(request(
            "Qwen/Qwen3-8B", engine="llama.cpp", gpu="rtx-4090",
            llama_cpp={"n_gpu_layers": ngl}))
        return r["details"]["speed"]["decode"]["tokens_per_s_per_sequence"]

    assert tps(-1) > tps(20) > tps(0)
