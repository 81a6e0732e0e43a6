"""SGLang v0.5.23 engine profile: hand-derived, against SGLang's own logs, and properties."""

from __future__ import annotations

from typing import Any

import pytest
from _models import TINY, GiB, MiB, request

import vramcalc
from vramcalc.engines import sglang

TINY_SGLANG: dict[str, Any] = {
    "mode": "inference", "model": {"config": TINY, "name": "tiny"}, "engine": "sglang",
    "gpu": "rtx-4090", "fit_gpus": ["rtx-4090"], "context_length": 64,
    "overheads": {"cuda_context_bytes": MiB},
    "sglang": {"device_memory_bytes": 64 * MiB, "mem_fraction_static": 0.5,
               "disable_cuda_graph": True},
}


def _components(response: dict[str, Any]) -> dict[str, int]:
    return {c["name"]: c["bytes"] for c in response["components"]}


def _sglang(model: str, gpu: str = "h100-sxm", **fields: Any) -> dict[str, Any]:
    return vramcalc.estimate_or_raise({"mode": "inference", "model": {"preset": model},
                                       "engine": "sglang", "gpu": gpu, "fit_gpus": [gpu],
                                       **fields})


# 1. Tiny model, arithmetic by hand -------------------------------------------------------


def test_tiny_pool_by_hand() -> None:
    r = vramcalc.estimate_or_raise(TINY_SGLANG)
    c = _components(r)
    s = r["details"]["sglang"]
    assert c["weights"] == 49_984  # 24,992 params · 2 B (as in the vLLM test)
    assert c["rope_cache"] == 4096 * 8 * 4  # max positions · head_dim · fp32
    # baseline = 64 MiB - 1 MiB context = 66,060,288; after the weights 65,879,232;
    # rest = 65,879,232 - int(66,060,288 · 0.5) = 32,849,088
    assert s["pre_model_load_bytes"] == 66_060_288
    assert s["available_kv_bytes"] == 32_849_088
    # cell: 2 KV heads · (8 + 8) · 2 layers · 2 B = 128 B; 32,849,088 // 128 = 256,633
    assert s["cell_size_bytes"] == 128
    assert s["max_total_num_tokens"] == 256_633
    assert c["kv_cache"] == (256_633 + 1) * 128  # one page more per layer
    # max_running_requests: clamp(int(256,633 / 64 · 512), 2048, 4096) = 4096
    assert s["max_running_requests"] == 4096
    assert c["req_to_token"] == 4097 * (64 + 4) * 4 == 1_114_384
    assert c["cuda_graphs"] == 0  # disable_cuda_graph
    # RTX 4090 (< 35 GiB): chunked prefill 4,096 tokens · 256 elements · 2 B + hidden
    # states 4,096 · 32 · 2 B = 2,359,296 (> decode logits 48 · 100 · 4 B)
    assert c["activations"] == 2_359_296
    assert r["total_bytes"] == sum(c.values())
    assert s["log"] == {
        "kv_cache": "KV Cache is allocated. dtype: torch.bfloat16, #tokens: 256633, "
                    "K size: 0.02 GB, V size: 0.02 GB",
        "scheduler": "max_total_num_tokens=256633, chunked_prefill_size=4096, "
                     "max_prefill_tokens=16384, max_running_requests=4096, context_len=64"}
    assert s["error"] is None and s["fits"]


def test_weights_beyond_the_static_share_give_sglangs_error() -> None:
    # baseline 66,060,288; a fraction of 0.001 keeps 66,060 B, less than the weights: SGLang
    # stops with the minimum viable fraction 1 - 65,879,232 / 66,060,288 = 0.0027
    req = {**TINY_SGLANG, "sglang": {**TINY_SGLANG["sglang"], "mem_fraction_static": 0.001}}
    r = vramcalc.estimate_or_raise(req)
    s = r["details"]["sglang"]
    assert s["error"] == (
        "Loaded weights leave no GPU memory for the KV cache under "
        "--mem-fraction-static=0.001. Raise --mem-fraction-static above 0.003 (minimum "
        "viable = 1 - available/pre = 0.0027). If using speculative decoding, draft weights "
        "are now counted.")
    assert [w["code"] for w in r["warnings"]] == ["speed_does_not_fit", "sglang_will_not_start"]
    assert _components(r)["kv_cache"] == 0 and not r["fit"]["gpus"][0]["fits"]


def test_a_pool_smaller_than_one_page_gives_sglangs_error() -> None:
    req = {**TINY_SGLANG, "sglang": {**TINY_SGLANG["sglang"], "page_size": 4096,
                                     "mem_fraction_static": 0.0028}}
    s = vramcalc.estimate_or_raise(req)["details"]["sglang"]
    # rest = 65,879,232 - int(66,060,288 · 0.9972) = 65,879,232 - 65,875,319 = 3,913 B:
    # 30 tokens of 128 B, fewer than one page of 4,096: none
    assert s["available_kv_bytes"] == 3_913
    assert s["error"] == ("Not enough memory. Please try to increase --mem-fraction-static. "
                          "Current value: mem_fraction_static=0.0028")


def test_pool_shorter_than_the_context_warns_in_sglangs_words() -> None:
    req = {**TINY_SGLANG, "context_length": 4000,
           "sglang": {**TINY_SGLANG["sglang"], "max_total_tokens": 1000}}
    r = vramcalc.estimate_or_raise(req)
    assert r["details"]["sglang"]["max_total_num_tokens"] == 1000
    assert r["warnings"][-1] == {
        "code": "sglang_pool_shorter_than_context",
        "message": "KV pool holds 1000 tokens, fewer than --context-length 4000. One "
                   "full-length request cannot fit, so long requests will be refused or "
                   "truncated at serving time. Lower --context-length, raise "
                   "--mem-fraction-static, or free memory taken before the pool is sized."}
    # max_running_requests: at most half the pool
    assert r["details"]["sglang"]["max_running_requests"] == 500


# 2. SGLang's defaults, from arg_groups/memory_hook.py by hand ------------------------------


@pytest.mark.parametrize(("gpu_mem", "tp", "mla", "cuda", "expected"), [
    # H100 (81,559 MiB): 512 + 8192 · 1.5 + 1/8 GiB + 256 · 2 + 58 prefill sizes · 8 = 13,904
    (81559, 1, False, True, 0.83),
    # RTX 4090 (24,564): 512 + 4096 · 1.5 + 128 + 48 · 2 + 50 · 8 = 7,280 -> 17,284 / 24,564
    (24564, 1, False, True, 0.704),
    # T4 (15,360): 512 + 2048 · 1.5 + 128 + 8 · 2 + 42 · 8 = 4,064
    (15360, 1, False, True, 0.735),
    # H100 TP 4: max_bs 512, 4/8 GiB: 512 + 12,288 + 512 + 1,024 + 464 = 14,800
    (81559, 4, False, True, 0.819),
    # B200 TP 4 (183,359): 512 + 16,384 · 1.5 + 512 + 1,024 + 74 · 8 = 27,216
    (183359, 4, False, True, 0.852),
    # MLA on an H100: prefill graphs cost 1.5 GiB: 512 + 12,288 + 128 + 512 + 1,536
    (81559, 1, True, True, 0.816),
    # AMD, 288 GiB (no prefill graphs off CUDA): 512 + 24,576 + 128 + 1,024 = 26,240;
    # sgl-project/sglang PR #18263 logs mem_fraction_static 0.911 for such a GPU
    (294912, 1, False, False, 0.911),
])
def test_default_mem_fraction_static(gpu_mem: float, tp: int, mla: bool, cuda: bool,
                                     expected: float) -> None:
    d = sglang.server_defaults(gpu_mem, tp=tp, cuda=cuda)
    prefill = sglang.prefill_graph_sizes(min(d.chunked_prefill_size, 8192) if mla
                                         else d.chunked_prefill_size)
    r = sglang.reserve(gpu_mem, chunked=d.chunked_prefill_size,
                       decode_max_bs=d.cuda_graph_max_bs,
                       prefill_sizes=len(prefill) if cuda else 0, decode_graphs=True,
                       prefill_graphs=cuda, mla=mla, tp=tp)
    assert sglang.default_fraction(gpu_mem, r) == expected


def test_graph_batch_sizes_follow_sglang() -> None:
    assert sglang.decode_graph_sizes(8) == [1, 2, 4, 8]
    assert sglang.decode_graph_sizes(48) == [1, 2, 4, 8, 12, 16, 24, 32, 40, 48]
    assert len(sglang.decode_graph_sizes(256)) == 36  # 5 + 16..256 step 8
    assert sglang.decode_graph_sizes(520)[-3:] == [496, 512, 520]  # max_bs itself last
    assert len(sglang.prefill_graph_sizes(8192)) == 58


def test_defaults_follow_the_gpu_and_echo() -> None:
    r = _sglang("meta-llama/Llama-3.1-8B-Instruct")
    s = r["details"]["sglang"]
    assert (s["mem_fraction_static"], s["chunked_prefill_size"], s["cuda_graph_max_bs"]) == (
        0.83, 8192, 256)
    assert s["mem_fraction_static_is_default"]
    assert r["request"]["sglang"]["mem_fraction_static"] is None  # re-derived when sent back
    again = vramcalc.estimate_or_raise(r["request"])
    assert again["total_bytes"] == r["total_bytes"]


def test_explicit_settings_win() -> None:
    s = _sglang("meta-llama/Llama-3.1-8B-Instruct", sglang={
        "mem_fraction_static": 0.9, "chunked_prefill_size": 2048, "cuda_graph_max_bs": 16,
        "max_running_requests": 64})["details"]["sglang"]
    assert (s["mem_fraction_static"], s["chunked_prefill_size"], s["cuda_graph_max_bs"],
            s["max_running_requests"]) == (0.9, 2048, 16, 64)
    # without cuda_graph_max_bs, max_running_requests caps the decode graphs
    s = _sglang("meta-llama/Llama-3.1-8B-Instruct",
                sglang={"max_running_requests": 64})["details"]["sglang"]
    assert s["cuda_graph_max_bs"] == 64


# 3. Pool geometry: MHA, MLA, hybrid sliding window -------------------------------------


def test_mla_caches_one_latent_per_layer() -> None:
    # DeepSeek-V2-Lite: 27 layers · (512 + 64) · 2 B = 31,104 B per token, on every GPU of TP
    s = _sglang("deepseek-ai/DeepSeek-V2-Lite")["details"]["sglang"]
    assert s["cell_size_bytes"] == 27 * 576 * 2
    tokens = s["max_total_num_tokens"]
    assert s["log"]["kv_cache"] == (
        f"KV Cache is allocated. dtype: torch.bfloat16, #tokens: {tokens}, "
        f"KV size: {(tokens + 1) * 31_104 / GiB:.2f} GB")


def test_gpt_oss_gets_a_hybrid_pool_gemma_does_not() -> None:
    # gpt-oss-20b: 12 full + 12 sliding layers of 8 KV heads · (64 + 64) · 2 B = 2,048 B;
    # the SWA pool holds 0.8 of the full pool's tokens (swa_full_tokens_ratio)
    r = _sglang("openai/gpt-oss-20b")
    s = r["details"]["sglang"]
    full = s["max_total_num_tokens"]
    assert int(s["available_kv_bytes"] // (12 * 2048 + 0.8 * 12 * 2048)) == full
    assert s["swa_max_total_num_tokens"] == int(full * 0.8)
    assert _components(r)["kv_cache"] == (full + 1) * 12 * 2048 + (
        s["swa_max_total_num_tokens"] + 1) * 12 * 2048
    assert s["log"]["kv_cache"].startswith("Full KV Cache is allocated.")
    # sgl-project/sglang PR #39310: architectures outside is_hybrid_swa_model's list keep
    # K and V for every layer; Gemma 3 12B: 48 layers · 8 heads · 256 · 2 · 2 B
    g = _sglang("google/gemma-3-12b-it")["details"]["sglang"]
    assert g["cell_size_bytes"] == 48 * 8 * 512 * 2 and g["swa_max_total_num_tokens"] is None
    # disable_hybrid_swa_memory: one pool of every layer
    s = _sglang("openai/gpt-oss-20b", sglang={"disable_hybrid_swa_memory": True})[
        "details"]["sglang"]
    assert s["swa_max_total_num_tokens"] is None
    assert s["max_total_num_tokens"] == s["available_kv_bytes"] // (24 * 2048)


def test_kv_heads_per_gpu_and_fp8() -> None:
    # Llama-3.1-70B at TP 8: one of 8 KV heads per GPU: 80 · 1 · 256 · 2 B = 40,960 B
    s = _sglang("meta-llama/Llama-3.1-70B", parallel={"tensor": 8})["details"]["sglang"]
    assert s["cell_size_bytes"] == 80 * 256 * 2
    s8 = _sglang("meta-llama/Llama-3.1-70B", parallel={"tensor": 8},
                 kv_cache_dtype="fp8")["details"]["sglang"]
    assert s8["cell_size_bytes"] == 80 * 256
    assert "torch.float8_e4m3fn" in s8["log"]["kv_cache"]


# 4. Against SGLang's own logs ------------------------------------------------------------


def test_qwen3_32b_tp4_b200_log() -> None:
    # sgl-project/sglang PR #22537 (2026-04-10), Qwen3ForCausalLM at TP 4 on B200s with the
    # defaults: "Load weight end ... avail mem=160.78 GB, mem usage=15.50 GB", "KV Cache is
    # allocated. #tokens: 2206208, K size: 67.33 GB", "Memory pool end. avail mem=25.37 GB"
    # (25.37 to 25.52 over the ranks). Our defaults: B200 mem_fraction_static 0.852, the
    # catalog's memory, 0.75 GiB context + 1.92 GiB process groups; the weights (15.28 GiB
    # with the rotary cache) are 0.22 GiB under SGLang's, so the pool is 0.26 % over.
    r = _sglang("Qwen/Qwen3-32B", gpu="b200", parallel={"tensor": 4}, context_length=40960)
    s = r["details"]["sglang"]
    assert s["mem_fraction_static"] == 0.852
    assert s["max_total_num_tokens"] == pytest.approx(2_206_208, rel=0.005)
    # K size: (tokens + 1) · 2 heads · 128 · 64 layers · 2 B, in GiB
    k_gib = (s["max_total_num_tokens"] + 1) * 2 * 128 * 64 * 2 / GiB
    assert k_gib == pytest.approx(67.33, rel=0.005)
    assert f"K size: {k_gib:.2f} GB" in s["log"]["kv_cache"]
    # the log's own figures through the pool formula: exact to its 2-decimal rounding
    pre, after = (160.78 + 15.50) * GiB, 160.78 * GiB
    rest = after - pre * (1 - 0.852)
    assert int(rest // 65_536) == pytest.approx(2_206_208, rel=0.0005)
    # the request-to-token table: 4,096 requests · (40,960 + 4) · 4 B = 0.625 GiB; free
    # after the pool: 160.78 - 2 · 67.33 - 0.625 = 25.50 GB (logged 25.37 to 25.52)
    assert s["max_running_requests"] == 4096
    assert s["req_to_token_bytes"] / GiB == pytest.approx(0.625, abs=0.001)
    assert 160.78 - 2 * 67.33 - s["req_to_token_bytes"] / GiB == pytest.approx(25.45, abs=0.1)


def test_qwen3_235b_fp8_tp4_h100_log() -> None:
    # vllm-project/vllm#21348 (2025-07): SGLang serving Qwen3-235B-A22B-FP8 at TP 4 on
    # H100s with --mem-fraction-static 0.93: "KV Cache is allocated. #tokens: 367404, K size:
    # 8.23 GB, V size: 8.23 GB". One of 4 KV heads per GPU: 94 · 128 · 2 B = 24,064 B for K;
    # at the logged count (a pool capped there by max_total_tokens):
    r = _sglang("Qwen/Qwen3-235B-A22B", parallel={"tensor": 4}, weight_format="fp8-block",
                sglang={"mem_fraction_static": 0.95, "max_total_tokens": 367_404})
    assert ("#tokens: 367404, K size: 8.23 GB, V size: 8.23 GB"
            in r["details"]["sglang"]["log"]["kv_cache"])
    # the pool we size ourselves is 2.3 % under (the log gives no free-memory figures: our
    # context and process-group defaults are H100 TP 1 and H200 TP 8 figures)
    s = _sglang("Qwen/Qwen3-235B-A22B", parallel={"tensor": 4}, weight_format="fp8-block",
                sglang={"mem_fraction_static": 0.93})["details"]["sglang"]
    assert s["max_total_num_tokens"] == pytest.approx(367_404, rel=0.03)


def test_qwen3_30b_a3b_available_bytes_log() -> None:
    # sgl-project/sglang PR #18263 (AMD, 2026-07): "Load weight end ... avail mem=230.20 GB,
    # mem usage=56.98 GB", mem_fraction_static 0.911, "initial available_bytes
    # 219721119039": rest = 230.20 - (230.20 + 56.98) · (1 - 0.911) GiB
    rest = (230.20 - (230.20 + 56.98) * (1 - 0.911)) * GiB
    assert rest == pytest.approx(219_721_119_039, rel=1e-4)
    # our weights for Qwen3-30B-A3B bf16 (+ rotary cache): 56.89 GiB against 56.98
    s = _sglang("Qwen/Qwen3-30B-A3B")["details"]["sglang"]
    assert s["weights_bytes"] / GiB + 40960 * 128 * 4 / GiB == pytest.approx(56.98, abs=0.1)


def test_minimum_viable_fraction_matches_sglangs_report() -> None:
    # SemiAnalysisAI/InferenceX#2128: DeepSeek-V4-Pro FP8 at TP 8 on H200s, "avail mem=12.25
    # GB, mem usage=125.65 GB" under --mem-fraction-static 0.88; SGLang reports a minimum
    # viable fraction of 0.9113 (its baseline is taken a moment before "Load weight begin")
    message = sglang._no_room_error(0.88, int(12.25 * GiB), int((12.25 + 125.65) * GiB))
    assert message.startswith("Loaded weights leave no GPU memory for the KV cache under "
                              "--mem-fraction-static=0.88. Raise --mem-fraction-static above "
                              "0.912 (minimum viable = 1 - available/pre = 0.9112).")


def test_llama_weights_match_sglangs_load_log() -> None:
    # sgl-project/sglang docs/advanced_features/lora.ipynb (H100, 2026-02-09):
    # Llama-3.1-8B-Instruct "Load weight end ... mem usage=15.02 GB": 14.96 GiB of bf16
    # weights + the 131,072 x 128 fp32 rotary cache (0.0625 GiB)
    r = _sglang("meta-llama/Llama-3.1-8B-Instruct")
    c = _components(r)
    assert (c["weights"] + c["rope_cache"]) / GiB == pytest.approx(15.02, abs=0.005)


# 5. Properties and problems ----------------------------------------------------------------


def test_more_fraction_never_shrinks_the_pool() -> None:
    last = -1
    for tenths in range(50, 96, 5):
        s = _sglang("meta-llama/Llama-3.1-8B-Instruct",
                    sglang={"mem_fraction_static": tenths / 100})["details"]["sglang"]
        assert s["max_total_num_tokens"] >= last
        last = s["max_total_num_tokens"]


def test_components_sum_and_rows_are_sane() -> None:
    r = vramcalc.estimate_or_raise(request(
        "meta-llama/Llama-3.1-8B-Instruct", engine="sglang", gpu="rtx-4090"))
    assert sum(c["bytes"] for c in r["components"]) == r["total_bytes"]
    assert [c["name"] for c in r["components"]] == [
        "weights", "rope_cache", "kv_cache", "req_to_token", "cuda_graphs", "activations",
        "distributed", "cuda_context"]
    rows = {row["gpu"]: row for row in r["fit"]["gpus"]}
    assert rows["m4-max-64gb"]["fits"] is False  # no CUDA or ROCm
    assert rows["h100-sxm"]["fits"] and rows["h100-sxm"]["max_batch_size"] >= 1
    assert not rows["rtx-3080-10gb"]["fits"]  # 16 GB of weights
    for row in rows.values():
        assert row["max_batch_size"] >= 0 and row["max_context_length"] >= 0
        assert row["gpus_for_weights"] >= 1


def test_radix_cache_costs_nothing() -> None:
    on = _sglang("Qwen/Qwen3-8B")
    off = _sglang("Qwen/Qwen3-8B", sglang={"disable_radix_cache": True})
    assert on["total_bytes"] == off["total_bytes"]
    assert off["details"]["sglang"]["radix_cache"] == "off"


def test_bad_sglang_requests_list_every_problem() -> None:
    r = vramcalc.estimate(request(
        "meta-llama/Llama-3.1-8B-Instruct", engine="sglang", kv_cache_dtype="q8_0",
        weight_format="Q4_K_M",
        sglang={"mem_fraction_static": 1.5, "swa_full_tokens_ratio": 0, "page": 2}))
    assert r["error"]["problems"] == [
        {"field": "weight_format", "message": "Q4_K_M is a GGUF (llama.cpp) type; use engine "
         "\"llama.cpp\" or a format such as bf16, fp8, awq-int4"},
        {"field": "kv_cache_dtype", "message": "q8_0 is not a KV cache dtype of sglang; it "
         "supports: bf16, fp16, fp8, fp8_e5m2"},
        {"field": "sglang.page", "message": "is not a known field"},
        {"field": "gpu", "message": "is required with engine \"sglang\": SGLang's "
         "mem_fraction_static, chunked prefill and CUDA-graph defaults depend on the GPU's "
         "memory"},
        {"field": "sglang.mem_fraction_static", "message": "must be a number <= 1, got 1.5"},
        {"field": "sglang.swa_full_tokens_ratio", "message": "must be a number > 0, got 0"},
    ]
    r = vramcalc.estimate(request("Qwen/Qwen3-8B", engine="sglang", gpu="m4-max-64gb"))
    assert r["error"]["problems"] == [{
        "field": "gpu", "message": "SGLang serves on NVIDIA (CUDA) and AMD (ROCm) GPUs; pick "
        "one of those, or engine \"llama.cpp\" or \"ollama\" on Apple silicon"}]


def test_fp32_checkpoints_load_as_sglang_does() -> None:
    # configs/model_config.py _get_and_verify_dtype: float32 -> fp16, bf16 for Gemma
    r = vramcalc.estimate_or_raise({"mode": "inference", "model": {
        "preset": "openai-community/gpt2"}, "engine": "sglang", "gpu": "l4", "fit_gpus": []})
    assert r["request"]["weight_format"] == "fp16"
    assert r["warnings"][0]["code"] == "checkpoint_fp32_downcast"
