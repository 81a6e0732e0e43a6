"""transformers generate(): dynamic vs static cache, eager vs sdpa; CLI engine flags."""

from __future__ import annotations

import json

import pytest
from _models import TINY, request

import vramcalc
from vramcalc import __main__ as cli


def _kv(response: dict, phase: str) -> int:
    assert response["peak_phase"] in ("prefill", "decode")
    return next(c["bytes"] for c in response["components"] if c["name"] == "kv_cache")


def test_static_cache_has_no_append_copy() -> None:
    base = {"mode": "inference", "model": {"config": TINY, "name": "tiny"},
            "context_length": 1024, "fit_gpus": ["rtx-4090"]}
    dynamic = vramcalc.estimate_or_raise(base)
    static = vramcalc.estimate_or_raise({**base, "transformers": {"cache": "static"}})
    # decode: the dynamic cache's torch.cat copies one layer's K: 1,024 tokens · 16 · 2 B
    d_dec = next(p["bytes"] for p in dynamic["phases"] if p["name"] == "decode")
    s_dec = next(p["bytes"] for p in static["phases"] if p["name"] == "decode")
    assert d_dec - s_dec >= 1024 * 16 * 2
    assert static["details"]["transformers"] == {"cache": "static", "attention": "sdpa"}


def test_static_cache_caps_sliding_layers_in_prefill() -> None:
    cfg = {**TINY, "sliding_window": 64, "layer_types": ["sliding_attention"] * 2}
    base = {"mode": "inference", "model": {"config": cfg, "name": "swa"},
            "context_length": 1024, "fit_gpus": ["rtx-4090"]}
    dyn = vramcalc.estimate_or_raise(base)
    sta = vramcalc.estimate_or_raise({**base, "transformers": {"cache": "static"}})
    # static sliding layers hold 64 tokens: 2 layers · 64 · 64 B
    assert _kv(sta, "prefill") == 2 * 64 * 64
    assert _kv(dyn, "prefill") == 2 * 1024 * 64


def test_bad_cache_choice() -> None:
    r = vramcalc.estimate(request("Qwen/Qwen3-8B", transformers={"cache": "paged"}))
    assert r["error"]["problems"] == [
        {"field": "transformers.cache", "message": "must be one of dynamic, static; got "
         "'paged'"}]


@pytest.mark.parametrize(("argv", "path", "value"), [
    (["--engine", "vllm", "--gpu", "rtx-4090", "--gpu-memory-utilization", "0.8",
      "--max-num-seqs", "64", "--enforce-eager", "--tp", "1"],
     ("vllm", "gpu_memory_utilization"), 0.8),
    (["--engine", "llama.cpp", "-ngl", "20", "-fa", "off", "-ctk", "q8_0", "--n-ctx", "8192"],
     ("llama_cpp", "n_gpu_layers"), 20),
    (["--cache", "static", "--attention", "eager"], ("transformers", "cache"), "static"),
])
def test_cli_engine_flags(argv: list[str], path: tuple[str, str], value: object,
                          capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["estimate", "--json", *argv]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["request"][path[0]][path[1]] == value
    assert sum(c["bytes"] for c in out["components"]) == out["total_bytes"]


def test_cli_prints_engine_answers(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["estimate", "--engine", "vllm", "--gpu", "rtx-4090",
                     "--max-model-len", "131072"]) == 0
    text = capsys.readouterr().out
    assert "largest max_model_len that fits:" in text
    assert "vLLM would stop with: To serve at least one request" in text
    assert "roofline bound on rtx-4090" in text


def test_generated_tokens_shorten_the_prompt_of_the_prefill() -> None:
    # Llama-3.1-8B (131,072 B of KV per token), 4,096 tokens of which 1,024 generated: the
    # prefill caches the 3,072-token prompt, the last decode step all 4,096
    from vramcalc import engines, request
    from vramcalc.engines import transformers

    req = request.parse({"mode": "inference", "model": {"preset": "meta-llama/Llama-3.1-8B"},
                         "context_length": 4096, "generated_tokens": 1024},
                        engines.NAMES, engines.profile)
    assert isinstance(req, request.InferenceRequest)
    (prefill, kv_prefill, *_), (decode, kv_decode, *_) = transformers.plan(req).phases(1, 4096)
    assert (prefill, kv_prefill) == ("prefill", 3072 * 131_072)
    assert (decode, kv_decode) == ("decode", 4096 * 131_072)


def test_all_logits_is_a_plain_forward_with_every_positions_logits() -> None:
    # b=4, s=4,096, V=128,256: 4 x 4,096 x 128,256 x 2 B of bf16 logits, and no decode
    import vramcalc

    r = vramcalc.estimate({"mode": "inference", "model": {"preset": "meta-llama/Llama-3.1-8B"},
                           "context_length": 4096, "batch_size": 4, "logits": "all",
                           "fit_gpus": []})
    logits = next(c for c in r["components"] if c["name"] == "logits")
    assert logits["bytes"] == 4 * 4096 * 128_256 * 2
    assert [p["name"] for p in r["phases"]] == ["prefill"]


def test_all_logits_and_generated_tokens_are_checked() -> None:
    from conftest import problems

    base = {"mode": "inference", "model": {"preset": "meta-llama/Llama-3.1-8B"}}
    assert problems({**base, "context_length": 512, "generated_tokens": 512}) == [
        ("generated_tokens", "must be below context_length (512): the prompt takes at least "
         "one token, got 512")]
    assert problems({**base, "engine": "llama.cpp", "logits": "all"}) == [
        ("logits", "\"all\" (every position's logits, a plain forward) is modelled for engine "
         "\"transformers\" only, not 'llama.cpp'")]
    assert problems({**base, "logits": "all", "generated_tokens": 8}) == [
        ("generated_tokens", "must be 0 with logits \"all\": a plain forward generates nothing")]


def test_a_multimodal_model_loads_its_vision_tower_and_images_add_tokens() -> None:
    # gemma-3-12b-it: a 421,290,864-parameter SigLIP tower and projector in bf16 (2 B each);
    # Gemma 3 turns every image into mm_tokens_per_image = 256 tokens
    import vramcalc

    base = {"mode": "inference", "model": {"preset": "google/gemma-3-12b-it"},
            "context_length": 8192, "fit_gpus": [], "transformers": {"cache": "static"}}
    text = vramcalc.estimate(base)
    assert text["parameters"]["vision"] == 421_290_864
    parts = {c["name"]: c["bytes"] for c in text["components"]}
    assert parts["vision_tower"] == 2 * 421_290_864
    assert parts["weights"] >= 2 * text["parameters"]["total"]
    with_images = vramcalc.estimate({**base, "images": {"count": 4}})
    assert with_images["request"]["images"] == {"count": 4, "height": 896, "width": 896}
    kv_text = next(c["bytes"] for c in text["components"] if c["name"] == "kv_cache")
    kv_images = next(c["bytes"] for c in with_images["components"] if c["name"] == "kv_cache")
    per_token = text["details"]["kv_cache_bytes_per_token"]
    assert kv_images - kv_text <= 4 * 256 * per_token  # sliding layers hold at most W
    assert kv_images > kv_text
    assert "vision_activations" in {w["code"] for w in with_images["warnings"]}
