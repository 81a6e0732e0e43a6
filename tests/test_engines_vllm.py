"""vLLM v0.33 engine profile: hand-derived, against engine logs, and properties."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest
from _models import TINY, GiB, MiB, request

import vramcalc
from vramcalc.engines import vllm

TINY_VLLM = {
    "mode": "inference", "model": {"config": TINY, "name": "tiny"}, "engine": "vllm",
    "gpu": "rtx-4090", "fit_gpus": ["rtx-4090"], "context_length": 64,
    "overheads": {"cuda_context_bytes": MiB},
    "vllm": {"device_memory_bytes": 64 * MiB, "gpu_memory_utilization": 0.5,
             "max_num_seqs": 2, "max_num_batched_tokens": 32, "enforce_eager": True,
             "non_torch_bytes": MiB},
}


def _components(response: dict) -> dict[str, int]:
    return {c["name"]: c["bytes"] for c in response["components"]}


# 1. Tiny model, arithmetic by hand -------------------------------------------------------


def test_tiny_budget_by_hand() -> None:
    r = vramcalc.estimate_or_raise(TINY_VLLM)
    c = _components(r)
    # weights: embed 100·32 + lm_head 100·32 + 2 layers · (q 1024 + k 512 + v 512 + o 1024
    # + gate/up/down 3·2048 + 2 norms of 32) + final norm 32 = 24,992 params · 2 B
    assert c["weights"] == 49_984
    # forward of 32 tokens · 256 elements (one layer's temporaries) · 2 B = 16,384 beats the
    # sampler (38.4 B · 2 requests · 100 = 7,680); + hidden states 32 · 32 · 2 = 2,048
    assert c["activations"] == 18_432
    assert c["cuda_graphs"] == 0  # enforce_eager
    # requested = ceil(64 MiB · 0.5) = 33,554,432; pool = requested - weights - act - 1 MiB
    assert c["kv_cache"] == 33_554_432 - 49_984 - 18_432 - MiB == 32_437_440
    assert r["total_bytes"] == MiB + 33_554_432  # context outside the budget + the budget
    v = r["details"]["vllm"]
    # page: 16 tokens · 2 KV heads · (8 + 8) · 2 B = 1,024 B per layer; 2 layers per block
    assert (v["page_size_bytes"], v["bytes_per_block"]) == (1024, 2048)
    assert v["num_gpu_blocks"] == 32_437_440 // 2048 == 15_838
    # 64 tokens = 4 blocks per request: 15,838 / 4 = 3,959.5 requests, 253,408 tokens
    assert v["max_concurrency"] == 3959.5
    assert v["kv_cache_tokens"] == 253_408
    assert v["kv_cache_needed_bytes"] == 2 * 4 * 1024
    assert v["error"] is None


def test_tiny_does_not_fit_gives_vllms_message() -> None:
    req = {**TINY_VLLM, "vllm": {**TINY_VLLM["vllm"], "device_memory_bytes": 8 * MiB,
                                 "gpu_memory_utilization": 0.17, "max_model_len": 4096}}
    r = vramcalc.estimate_or_raise(req)
    v = r["details"]["vllm"]
    # requested = ceil(8 MiB · 0.17) = 1,426,064; pool = 309,072; minus the null block
    # 307,024 < 2 layers · 256 blocks · 1,024 B = 524,288
    assert v["available_kv_cache_bytes"] == 309_072
    assert not v["fits"]
    # the longest fitting length: 149 blocks of 16 (2 · 149 · 1,024 <= 307,024)
    assert v["max_model_len_estimate"] == 149 * 16 == 2384
    assert v["error"] == (
        "To serve at least one request with the model's max seq len (4096), (0.0 GiB KV "
        "cache is needed, which is larger than the available KV cache memory (0.0 GiB). "
        "Based on the available memory, the estimated maximum model length is 2384. Try "
        "increasing `gpu_memory_utilization` or decreasing `max_model_len` when "
        "initializing the engine.")
    assert r["warnings"][-1]["code"] == "vllm_will_not_start"
    c = _components(r)
    assert c["kv_cache"] == 524_288 + 2048  # one request + the null block
    assert r["total_bytes"] == sum(c.values())
    assert r["fit"]["gpus"][0]["fits"] is False


def test_utilization_above_free_memory_stops_at_startup() -> None:
    req = {**TINY_VLLM, "overheads": {"cuda_context_bytes": 40 * MiB}}
    v = vramcalc.estimate_or_raise(req)["details"]["vllm"]
    assert v["error"] == (
        "Free memory on device (0.02/0.06 GiB) on startup is less than desired GPU memory "
        "utilization (0.5, 0.03 GiB). Decrease GPU memory utilization or reduce GPU memory "
        "used by other processes.")


def test_sliding_window_groups_and_blocks() -> None:
    # 4 layers: 2 full, 2 sliding (W=32): two groups of 2 layers; a 64-token request needs
    # 4 blocks (full) + cdiv(min(32 - 1 + 2·32, 64), 16) + 1 = 5 blocks (sliding)
    cfg = {**TINY, "num_hidden_layers": 4, "sliding_window": 32,
           "layer_types": ["full_attention", "sliding_attention"] * 2}
    req = {**TINY_VLLM, "model": {"config": cfg, "name": "tiny-swa"}}
    v = vramcalc.estimate_or_raise(req)["details"]["vllm"]
    assert v["kv_cache_groups"] == 2
    assert v["bytes_per_block"] == 2 * 1024
    assert v["kv_cache_needed_bytes"] == 2 * 4 * 1024 + 2 * 5 * 1024
    assert v["max_concurrency"] == round(v["num_gpu_blocks"] / 9, 4)


# 2. Real models against vLLM's own figures -------------------------------------------------


# vLLM's page size (vllm/v1/kv_cache_interface.py: block_size · kv_heads · (head_size +
# head_size_v) · dtype bytes per layer; MLAAttentionSpec: one latent "head")
@pytest.mark.parametrize(("model", "per_token"), [
    ("meta-llama/Llama-3.1-8B-Instruct", 131_072),  # 32 · 2 · 8 · 128 · 2
    ("Qwen/Qwen3-8B", 147_456),  # 36 · 2 · 8 · 128 · 2
    ("Qwen/Qwen2.5-14B", 196_608),  # 48 · 2 · 8 · 128 · 2
    ("meta-llama/Meta-Llama-3-70B", 327_680),  # 80 · 2 · 8 · 128 · 2
    ("deepseek-ai/DeepSeek-V3", 70_272),  # MLA: 61 · (512 + 64) · 2
])
def test_kv_bytes_per_token_exact(model: str, per_token: int) -> None:
    r = vramcalc.estimate_or_raise(request(model, engine="vllm", gpu="h200"))
    assert r["details"]["kv_cache_bytes_per_token"] == per_token
    # vLLM's page: 16 tokens of every layer (DeepSeek-V3: one latent "head")
    assert r["details"]["vllm"]["bytes_per_block"] == 16 * per_token


def test_qwen3_8b_32k_tokens_is_4_50_gib() -> None:
    # vLLM's check_enough_kv_cache_memory error for Qwen3-8B at max_model_len 32,768:
    # "(4.50 GiB KV cache is needed, ..." (vllm/v1/core/kv_cache_utils.py)
    r = vramcalc.estimate_or_raise(request(
        "Qwen/Qwen3-8B", engine="vllm", gpu="h200", vllm={"max_model_len": 32768}))
    assert r["details"]["vllm"]["kv_cache_needed_bytes"] == 32768 * 147_456
    assert r["details"]["vllm"]["kv_cache_needed_bytes"] / GiB == 4.5


def test_deepseek_v2_lite_kv_needed_matches_vllm_error() -> None:
    # vllm#15871 (v0.8.3): "(0.95 GiB KV cache is needed ..." at max_model_len 32768
    req = request("deepseek-ai/DeepSeek-V2-Lite", engine="vllm", gpu="rtx-4090",
                  vllm={"max_model_len": 32768})
    v = vramcalc.estimate_or_raise(req)["details"]["vllm"]
    assert v["kv_cache_needed_bytes"] == 27 * 576 * 2 * 32768 == 1_019_215_872
    assert f"{round(v['kv_cache_needed_bytes'] / GiB, 2)}" == "0.95"


def test_llama31_8b_l40s_block_rounding() -> None:
    # vllm PR #17122 log (L40S): "GPU KV cache size: 158,656 tokens", "Maximum concurrency
    # for 32,768 tokens per request: 4.84x": whole 16-token blocks, tokens = concurrency x len
    blocks = 158_656 // 16
    assert blocks * 16 == 158_656
    assert round(blocks / (32768 // 16), 2) == 4.84
    req = request("meta-llama/Llama-3.1-8B-Instruct", engine="vllm", gpu="l40s",
                  vllm={"max_model_len": 32768})
    v = vramcalc.estimate_or_raise(req)["details"]["vllm"]
    assert v["kv_cache_tokens"] == v["num_gpu_blocks"] * 16
    assert v["max_concurrency"] == round(v["num_gpu_blocks"] / 2048, 4)


# llm-d-benchmark config_explorer/empirical-vllm-memory-results.md (the setup and the
# source's URL are in tests/data/published_serving.json): H100 (79.18 GiB as PyTorch
# reports it), gpu_memory_utilization 0.9, max_model_len 16000, block size 128, `vllm serve`
# defaults (max_num_seqs 1024, max_num_batched_tokens 8192). Those vLLM versions did not
# take CUDA graphs from the KV budget, so cuda_graph_bytes is 0 here.
LLM_D = json.loads((Path(__file__).parent / "data" / "published_serving.json").read_text(
    encoding="utf-8"))["llm_d_h100"]["rows"]


def llm_d_request(row: dict[str, Any]) -> dict[str, Any]:
    return request(row["model"], engine="vllm", gpu="h100-sxm", weight_format=row["weight_format"],
                   parallel={"tensor": row["tensor_parallel"]}, context_length=16000,
                   vllm={"gpu_memory_utilization": 0.9, "block_size": 128,
                         "cuda_graph_bytes": 0, "device_memory_bytes": round(79.18 * GiB),
                         "non_torch_bytes": round(row["non_torch_gib"] * GiB)})


def test_llm_d_rows_exist() -> None:
    assert len(LLM_D) == 5


@pytest.mark.parametrize("row", LLM_D, ids=lambda r: f"{r['model']}-tp{r['tensor_parallel']}")
def test_llm_d_h100_logs(row: dict[str, Any]) -> None:
    r = vramcalc.estimate_or_raise(llm_d_request(row))
    c = _components(r)
    assert c["activations"] / GiB == pytest.approx(row["activation_gib"], rel=0.01)
    # gpt-oss: the MXFP4 experts as Triton's Hopper layouts pad them, within 1 %; for the
    # others vLLM's loading figure adds at most 0.035 GiB of buffers (rotary cache, ...)
    gpt_oss = "gpt-oss" in row["model"]
    if gpt_oss:
        assert c["weights"] / GiB == pytest.approx(row["weights_gib"], rel=0.01)
    else:
        assert c["weights"] / GiB == pytest.approx(row["weights_gib"], abs=0.035)
    pool = r["details"]["vllm"]["available_kv_cache_bytes"] / GiB
    assert pool == pytest.approx(row["kv_cache_gib"], rel=0.005 if gpt_oss else 0.0, abs=0.05)


def test_gpt_oss_120b_loads_what_vllm_logged_on_an_h100() -> None:
    data = Path(__file__).parent / "data" / "published_serving.json"
    rows = json.loads(data.read_text(encoding="utf-8"))["vllm_weights"]
    row = next(r for r in rows if r["model"] == "openai/gpt-oss-120b")
    r = vramcalc.estimate_or_raise({"mode": "inference", "engine": "vllm", "gpu": row["gpu"],
                                    "model": {"preset": row["model"]}, "fit_gpus": []})
    assert r["details"]["vllm"]["weights_bytes"] / GiB == pytest.approx(row["gib"], rel=0.01)


# 3. Properties ------------------------------------------------------------------------------


def _vllm(**opts: object) -> dict:
    return vramcalc.estimate_or_raise(request(
        "meta-llama/Llama-3.1-8B-Instruct", engine="vllm", gpu="rtx-4090",
        fit_gpus=["rtx-4090", "l40s"], vllm=opts))


def test_more_utilization_never_lowers_capacity() -> None:
    last_tokens = last_len = -1
    for util in [0.6 + 0.01 * i for i in range(35)]:
        v = _vllm(gpu_memory_utilization=round(util, 2))["details"]["vllm"]
        assert v["kv_cache_tokens"] >= last_tokens
        assert v["max_model_len_that_fits"] >= last_len
        last_tokens, last_len = v["kv_cache_tokens"], v["max_model_len_that_fits"]


def test_smaller_kv_dtype_never_lowers_max_context() -> None:
    for model in ("meta-llama/Llama-3.1-8B-Instruct", "openai/gpt-oss-20b",
                  "deepseek-ai/DeepSeek-V2-Lite"):
        lengths = []
        for dtype in ("bf16", "fp8"):
            r = vramcalc.estimate_or_raise(request(
                model, engine="vllm", gpu="rtx-4090", kv_cache_dtype=dtype))
            lengths.append(r["details"]["vllm"]["max_model_len_that_fits"])
            assert all(row["max_context_length"] >= 0 for row in r["fit"]["gpus"])
        assert lengths[1] >= lengths[0]


@pytest.mark.parametrize("model", ["meta-llama/Llama-3.1-8B-Instruct", "openai/gpt-oss-20b",
                                   "deepseek-ai/DeepSeek-V2-Lite"])
def test_components_sum_and_fit_rows_are_sane(model: str) -> None:
    r = vramcalc.estimate_or_raise(request(model, engine="vllm", gpu="h100-sxm"))
    assert sum(c["bytes"] for c in r["components"]) == r["total_bytes"]
    names = [c["name"] for c in r["components"]]
    assert names == ["weights", "activations", "non_torch", "cuda_graphs", "kv_cache",
                     "cuda_context"]
    for row in r["fit"]["gpus"]:
        assert row["max_batch_size"] >= 0 and row["max_context_length"] >= 0
        if row["fits"]:
            assert row["max_batch_size"] >= 1 and row["headroom_bytes"] >= 0
    v = r["details"]["vllm"]
    assert math.isfinite(v["max_concurrency"])
    # the requested share of the card, plus the context that sits outside it
    assert r["total_bytes"] == v["requested_memory_bytes"] + 625 * MiB


def test_more_batched_tokens_never_lowers_activation_reserve() -> None:
    last = 0
    for tokens in (512, 2048, 8192, 32768):
        act = _components(_vllm(max_num_batched_tokens=tokens))["activations"]
        assert act >= last
        last = act


def test_vllm_defaults_follow_the_gpu() -> None:
    small = _vllm()["details"]["vllm"]
    assert (small["max_num_seqs"], small["max_num_batched_tokens"]) == (256, 2048)
    big = vramcalc.estimate_or_raise(request(
        "meta-llama/Llama-3.1-8B-Instruct", engine="vllm", gpu="h100-sxm"))["details"]["vllm"]
    assert (big["max_num_seqs"], big["max_num_batched_tokens"]) == (1024, 8192)
    a100 = vramcalc.estimate_or_raise(request(
        "meta-llama/Llama-3.1-8B-Instruct", engine="vllm", gpu="a100-80gb"))["details"]["vllm"]
    assert (a100["max_num_seqs"], a100["max_num_batched_tokens"]) == (256, 2048)


def test_bad_vllm_requests_list_every_problem() -> None:
    r = vramcalc.estimate(request(
        "meta-llama/Llama-3.1-8B-Instruct", engine="vllm", weight_format="Q4_K_M",
        kv_cache_dtype="q8_0", llama_cpp={"n_ctx": 4},
        vllm={"gpu_memory_utilization": 1.5, "block_size": 12, "speed": 1}))
    assert r["error"]["problems"] == [
        {"field": "llama_cpp", "message": "options for engine 'llama.cpp', but engine is "
         "'vllm'"},
        {"field": "weight_format", "message": "Q4_K_M is a GGUF (llama.cpp) type; use engine "
         "\"llama.cpp\" or a format such as bf16, fp8, awq-int4"},
        {"field": "kv_cache_dtype", "message": "q8_0 is not a KV cache dtype of vllm; it "
         "supports: bf16, fp16, fp8, fp8_e5m2"},
        {"field": "vllm.speed", "message": "is not a known field"},
        {"field": "gpu", "message": "is required with engine \"vllm\": vLLM takes "
         "gpu_memory_utilization of the GPU's memory, so its total depends on the GPU"},
        {"field": "vllm.gpu_memory_utilization", "message": "must be a number <= 1, got 1.5"},
        {"field": "vllm.block_size", "message": "must be one of 8, 16, 32, 64, 128, 256 "
         "(vLLM --block-size), got 12"},
    ]


def test_mxfp4_experts_are_laid_out_as_the_gpus_moe_kernel_needs() -> None:
    # gpt-oss-20b: 24 layers x 32 experts, hidden 2880, expert width 2880
    from vramcalc import catalogs
    from vramcalc.engines import vllm

    experts = vllm.MXFP4Experts(layers=24, experts=32, hidden=2880, intermediate=2880,
                                formula_bytes=0)
    gpus = catalogs.gpus()
    # Hopper (Triton): w13 values round_up(1440, 64) x round_up(5760, 256) = 1472 x 5888,
    # w2 1472 x round_up(2880, 256) = 1472 x 3072; scales 5888 x 90 and 3072 x 90;
    # fp32 biases (5760 + 2880) x 4
    per_expert = 1472 * 5888 + 1472 * 3072 + 5888 * 90 + 3072 * 90 + (5760 + 2880) * 4
    assert per_expert == 14_030_080
    assert experts.backend(gpus["h100-sxm"]) == "triton-hopper"
    assert experts.bytes_on(gpus["h100-sxm"]) == 24 * 32 * per_expert
    # Ada (Marlin): width to 2944, hidden to 3072; one scale byte per 32; bf16 biases
    marlin = 2944 * 3072 + 3072 * 2944 // 2 + 2 * 2944 * 96 + 3072 * 92 + (2 * 2944 + 3072) * 2
    assert experts.backend(gpus["rtx-4090"]) == "marlin"
    assert experts.bytes_on(gpus["rtx-4090"]) == 24 * 32 * marlin


def test_gpt_oss_loads_what_vllm_logged_on_an_h100() -> None:
    # llm-d's H100 log: "Model loading took 13.47 GiB" (gpt-oss-20b, TP 1); within 1 %
    r = vramcalc.estimate({"mode": "inference", "model": {"preset": "openai/gpt-oss-20b"},
                           "engine": "vllm", "gpu": "h100-sxm", "fit_gpus": ["h100-sxm"]})
    weights = r["details"]["vllm"]["weights_bytes"] / 2**30
    assert abs(weights - 13.47) / 13.47 < 0.01
    assert r["details"]["vllm"]["mxfp4_moe_backend"] == "triton-hopper"


def test_vllm_budgets_from_the_memory_cuda_reports() -> None:
    # an H100 80GB: nvidia-smi 79.65 GiB, CUDA 79.18 GiB (the catalog's cuda_memory_bytes)
    r = vramcalc.estimate({"mode": "inference", "model": {"preset": "Qwen/Qwen3-0.6B"},
                           "engine": "vllm", "gpu": "h100-sxm", "fit_gpus": ["h100-sxm"]})
    assert r["details"]["vllm"]["device_memory_bytes"] == 85_018_877_624
    assert r["details"]["vllm"]["requested_memory_bytes"] == -(-85_018_877_624 * 92 // 100)


# --- pipeline parallelism (parallel.pipeline) ------------------------------------------------

@pytest.mark.parametrize(("layers", "stages", "expected"), [
    # vllm/distributed/utils.py get_pp_indices: even, the remainder to the stages before the
    # last, from the back
    (32, 2, [(0, 16), (16, 32)]),
    (32, 3, [(0, 11), (11, 22), (22, 32)]),  # 10 each + 2: stages -2 and -3
    (30, 4, [(0, 7), (7, 15), (15, 23), (23, 30)]),  # 7 each + 2: stages -2 and -3
    (126, 4, [(0, 31), (31, 63), (63, 95), (95, 126)]),  # 31 each + 2
])
def test_stages_split_layers_as_vllm_does(layers: int, stages: int,
                                          expected: list[tuple[int, int]]) -> None:
    assert vllm.stage_layers(layers, stages) == expected


def test_two_stages_hold_half_the_layers_each() -> None:
    req = {"mode": "inference", "model": {"preset": "meta-llama/Llama-3.1-8B"},
           "engine": "vllm", "gpu": "h100-sxm", "fit_gpus": [], "parallel": {"pipeline": 2}}
    r = vramcalc.estimate_or_raise(req)
    # a layer is 436,224,000 B in bf16; the embedding and lm_head 1,050,673,152 B each, the
    # final norm 8,192 B: stage 0 = 16 layers + embedding, stage 1 = 16 layers + norm + lm_head,
    # which also samples: it has the fewer KV blocks and binds
    assert r["details"]["vllm"]["pipeline"] == {"stages": [[0, 16], [16, 32]], "stage": 1}
    assert _components(r)["weights"] == 16 * 436_224_000 + 1_050_673_152 + 8_192
    v = r["details"]["vllm"]
    # a block holds 16 tokens of the stage's 16 layers: 16 · 16 · 2 · 8 · 128 · 2 B
    assert v["bytes_per_block"] == 16 * 16 * 2 * 8 * 128 * 2
    assert v["num_gpu_blocks"] == v["available_kv_cache_bytes"] // v["bytes_per_block"]
    # NCCL between the stages: the multi-GPU non-torch default
    assert r["request"]["vllm"]["non_torch_bytes"] == int(0.55 * GiB)
    one = vramcalc.estimate_or_raise({**req, "parallel": {}})
    assert v["max_concurrency"] > 2 * one["details"]["vllm"]["max_concurrency"]
    # a token passes both stages in turn: the same decode bound as one GPU
    assert r["details"]["speed"]["decode"] == one["details"]["speed"]["decode"]


def test_a_tied_lm_head_is_the_embedding_on_the_last_stage() -> None:
    req = {"mode": "inference", "model": {"preset": "meta-llama/Llama-3.2-1B-Instruct"},
           "engine": "vllm", "gpu": "h100-sxm", "fit_gpus": [], "parallel": {"pipeline": 2}}
    stages = vllm.stage_weights(vramcalc.api.request.parse(req, vramcalc.engines.NAMES,
                                                           vramcalc.engines.profile))
    (_, first), (_, last) = stages
    # 8 layers each, and the 525,336,576 B embedding on both: the last stage holds it as
    # lm_head (tie_word_embeddings), besides the final norm (2,048 · 2 B)
    assert last - first == 2_048 * 2
    layers = vramcalc.formats.weights_by_layer(vramcalc.catalogs.weight_formats()["bf16"],
                                               vramcalc.api.request.parse(
                                                   req, vramcalc.engines.NAMES,
                                                   vramcalc.engines.profile).spec)[0]
    assert first == sum(layers[:8]) + 128_256 * 2_048 * 2


@pytest.mark.parametrize(("fields", "expected"), [
    ({"parallel": {"pipeline": 2}},
     [("parallel.pipeline", "pipeline parallelism is modelled for engine \"vllm\" only, not "
       "'transformers'")]),
    ({"engine": "vllm", "gpu": "h100-sxm", "parallel": {"pipeline": 33}},
     [("parallel.pipeline", "must be at most the number of layers (32)")]),
])
def test_pipeline_problems(fields: dict[str, Any], expected: list[tuple[str, str]]) -> None:
    answer = vramcalc.estimate({"mode": "inference", "model": {
        "preset": "meta-llama/Llama-3.1-8B"}, **fields})
    assert [(p["field"], p["message"]) for p in answer["error"]["problems"]] == expected
