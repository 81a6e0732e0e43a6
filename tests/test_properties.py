"""The contract as a property: generated requests, valid and hostile, never raise, and every
answer keeps the contract's invariants (docs/api.md). Metamorphic checks: more batch,
context, bits or rank never lowers the total; the KV cache is linear in the context.

CI runs a few hundred examples per property; the long run is documented in docs/api.md:
    HYPOTHESIS_PROFILE=long python -m pytest tests/test_properties.py -p no:playwright
"""

from __future__ import annotations

import json
import os
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import vramcalc
from vramcalc import catalogs, ollama

settings.register_profile("ci", max_examples=150, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("long", max_examples=20000, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow])
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

PRESETS = sorted(catalogs.presets())
FORMATS = sorted(catalogs.weight_formats())
KV = sorted(catalogs.kv_dtypes())
GPUS = sorted(catalogs.gpus())
OLLAMA_NAMES = sorted(ollama.models())
LIMIT = catalogs.bound("bytes")

# values a hostile client sends: wrong types, huge and tiny numbers, deep and long values
junk = st.one_of(
    st.none(), st.booleans(), st.integers(min_value=-(2**70), max_value=2**70),
    st.sampled_from([0, -1, 2**63, 10**400, 1e308, -1e-9, 0.5]),
    st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=8),
    st.just("x" * 5000), st.just([[[[[[[1]]]]]]]), st.lists(st.integers(), max_size=3),
    st.dictionaries(st.text(max_size=4), st.integers(), max_size=2),
)
small_int = st.integers(min_value=-4, max_value=70000)
count = st.one_of(st.integers(min_value=1, max_value=64), small_int, junk)


def sometimes(strategy: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """A field's value: usually a plausible one (7 in 8), sometimes junk."""
    return st.one_of(*[strategy] * 7, junk)


def _base_configs() -> list[dict[str, Any]]:
    picks = ["meta-llama/Llama-3.2-1B-Instruct", "Qwen/Qwen3-0.6B",
             "deepseek-ai/DeepSeek-V2-Lite", "Qwen/Qwen3-30B-A3B", "google/gemma-2-2b-it",
             "openai/gpt-oss-20b", "openai-community/gpt2", "tiiuae/falcon-7b",
             "meta-llama/Llama-4-Scout-17B-16E-Instruct"]
    return [catalogs.presets()[p]["config"] for p in picks]


CONFIG_KEYS = ["hidden_size", "num_hidden_layers", "num_attention_heads", "num_key_value_heads",
               "head_dim", "intermediate_size", "vocab_size", "max_position_embeddings",
               "sliding_window", "num_experts", "num_local_experts", "num_experts_per_tok",
               "kv_lora_rank", "moe_layers", "layer_types", "text_config", "n_embd",
               "quantization_config", "tie_word_embeddings", "torch_dtype", "model_type"]


@st.composite
def configs(draw: st.DrawFn) -> dict[str, Any]:
    config = dict(draw(st.sampled_from(_base_configs())))
    for key in draw(st.lists(st.sampled_from(CONFIG_KEYS), max_size=3)):
        config[key] = draw(st.one_of(count, junk))
    return config


@st.composite
def models(draw: st.DrawFn) -> Any:
    kind = draw(st.integers(0, 19))
    if kind < 15:
        return {"preset": draw(st.sampled_from(PRESETS))}
    if kind < 19:
        return {"config": draw(configs())}
    return draw(junk)


@st.composite
def inference_requests(draw: st.DrawFn) -> dict[str, Any]:
    req: dict[str, Any] = {"mode": "inference", "model": draw(models()),
                           "fit_gpus": draw(st.lists(st.sampled_from(GPUS), min_size=1,
                                                     max_size=3))}
    engine = draw(st.sampled_from(["transformers", "vllm", "llama.cpp", "sglang", "ollama"]))
    req["engine"] = engine
    if engine in ("vllm", "sglang") and draw(st.integers(0, 9)):  # they need a GPU: usually
        req["gpu"] = draw(st.sampled_from(GPUS))
    if engine == "ollama" and draw(st.integers(0, 3)) == 0:  # an Ollama model name
        req["model"] = {"ollama": draw(st.sampled_from(OLLAMA_NAMES))}
    optional = {
        "gpu": sometimes(st.sampled_from(GPUS)),
        "batch_size": sometimes(st.integers(1, 512)),
        "context_length": sometimes(st.integers(1, 1 << 18)),
        "weight_format": sometimes(st.sampled_from(FORMATS)),
        "kv_cache_dtype": sometimes(st.sampled_from(KV)),
        "attention": sometimes(st.sampled_from(["sdpa", "eager"])),
        "parallel": sometimes(st.fixed_dictionaries({"tensor": st.sampled_from([1, 2, 4, 8])})),
        "overheads": sometimes(st.fixed_dictionaries({
            "cuda_context_bytes": sometimes(st.integers(0, 1 << 32)),
            "allocator_reserve_fraction": sometimes(st.floats(0, 1))})),
        "transformers": sometimes(st.fixed_dictionaries(
            {"cache": sometimes(st.sampled_from(["dynamic", "static"]))})),
        "vllm": sometimes(st.fixed_dictionaries({}, optional={
            "gpu_memory_utilization": sometimes(st.floats(0.05, 1.0)),
            "max_model_len": sometimes(st.integers(1, 1 << 18)),
            "max_num_seqs": sometimes(st.integers(1, 2048)),
            "max_num_batched_tokens": sometimes(st.integers(1, 65536)),
            "block_size": sometimes(st.sampled_from([8, 16, 32, 64, 128, 256])),
            "enforce_eager": sometimes(st.booleans()),
            "cuda_graph_bytes": sometimes(st.integers(0, 1 << 32)),
            "device_memory_bytes": sometimes(st.integers(1 << 20, 1 << 40))})),
        "llama_cpp": sometimes(st.fixed_dictionaries({}, optional={
            "n_ctx": sometimes(st.integers(1, 1 << 18)),
            "n_batch": sometimes(st.integers(1, 8192)),
            "n_ubatch": sometimes(st.integers(1, 8192)),
            "cache_type_k": sometimes(st.sampled_from(["f16", "q8_0", "q4_0"])),
            "cache_type_v": sometimes(st.sampled_from(["f16", "q8_0", "q4_0"])),
            "flash_attn": sometimes(st.booleans()),
            "n_gpu_layers": sometimes(st.integers(-1, 200))})),
        "sglang": sometimes(st.fixed_dictionaries({}, optional={
            "mem_fraction_static": sometimes(st.floats(0.05, 1.0)),
            "context_length": sometimes(st.integers(1, 1 << 18)),
            "max_running_requests": sometimes(st.integers(1, 4096)),
            "max_total_tokens": sometimes(st.integers(1, 1 << 22)),
            "chunked_prefill_size": sometimes(st.integers(1, 65536)),
            "cuda_graph_max_bs": sometimes(st.integers(1, 1024)),
            "disable_cuda_graph": sometimes(st.booleans()),
            "page_size": sometimes(st.sampled_from([1, 16, 64])),
            "swa_full_tokens_ratio": sometimes(st.floats(0.01, 1.0)),
            "disable_hybrid_swa_memory": sometimes(st.booleans()),
            "device_memory_bytes": sometimes(st.integers(1 << 20, 1 << 40))})),
        "ollama": sometimes(st.fixed_dictionaries({}, optional={
            "num_ctx": sometimes(st.integers(1, 1 << 18)),
            "num_parallel": sometimes(st.integers(1, 8)),
            "kv_cache_type": sometimes(st.sampled_from(["f16", "q8_0", "q4_0"])),
            "flash_attention": sometimes(st.booleans()),
            "num_batch": sometimes(st.integers(1, 4096)),
            "num_gpu": sometimes(st.integers(-1, 200)),
            "gpu_overhead_bytes": sometimes(st.integers(0, 1 << 34))})),
        junk_key(): junk,
    }
    # mostly the chosen engine's own options (another engine's are a named problem)
    own = {"transformers": "transformers", "vllm": "vllm", "llama.cpp": "llama_cpp",
           "sglang": "sglang", "ollama": "ollama"}[engine]
    others = {"transformers", "vllm", "llama_cpp", "sglang", "ollama", "unknown_field"} - {own}
    keys = sorted(k for k in optional if k not in others or draw(st.integers(0, 19)) == 0)
    for key in draw(st.lists(st.sampled_from(keys), unique=True, max_size=6)):
        req[key] = draw(optional[key])
    return req


def junk_key() -> str:
    return "unknown_field"


@st.composite
def training_requests(draw: st.DrawFn) -> dict[str, Any]:
    req: dict[str, Any] = {"mode": "training", "model": draw(models()),
                           "fit_gpus": draw(st.lists(st.sampled_from(GPUS), min_size=1,
                                                     max_size=3))}
    method = draw(st.sampled_from(["full", "lora", "qlora"]))
    req["method"] = method
    optional = {
        "gpu": sometimes(st.sampled_from(GPUS)),
        "framework": sometimes(st.sampled_from(sorted(catalogs.frameworks()))),
        "micro_batch_size": sometimes(st.integers(1, 64)),
        "sequence_length": sometimes(st.integers(1, 32768)),
        "gradient_accumulation_steps": sometimes(st.integers(1, 64)),
        "precision": sometimes(st.sampled_from(["fp32", "mixed_bf16", "bf16", "mixed_fp16"])),
        "optimizer": sometimes(st.sampled_from(
            ["adamw", "adamw_8bit", "paged_adamw_8bit", "adafactor", "sgd", "lion"])),
        "gradient_checkpointing": sometimes(st.sampled_from(
            ["none", "full", "selective", "offloaded"])),
        "attention": sometimes(st.sampled_from(["sdpa", "flash", "eager"])),
        "loss": sometimes(st.sampled_from(["standard", "chunked", "fused"])),
        "lora": sometimes(st.fixed_dictionaries({}, optional={
            "rank": sometimes(st.integers(1, 512)),
            "target_modules": sometimes(st.sampled_from(
                ["all-linear", ["q_proj", "v_proj"], ["c_attn"], []]))})),
        "qlora": sometimes(st.fixed_dictionaries({}, optional={
            "double_quant": sometimes(st.booleans()),
            "quant_type": sometimes(st.sampled_from(["nf4", "fp4"]))})),
        "parallel": sometimes(st.fixed_dictionaries({}, optional={
            "data": sometimes(st.sampled_from([1, 2, 8])),
            "tensor": sometimes(st.sampled_from([1, 2, 4])),
            "pipeline": sometimes(st.sampled_from([1, 2, 4])),
            "zero_stage": sometimes(st.integers(0, 3)),
            "offload_optimizer": sometimes(st.booleans())})),
    }
    # LoRA options only with LoRA methods, mostly (otherwise a named problem)
    unused = {"full": {"lora", "qlora"}, "lora": {"qlora"}, "qlora": set()}[method]
    keys = sorted(k for k in optional if k not in unused or draw(st.integers(0, 19)) == 0)
    for key in draw(st.lists(st.sampled_from(keys), unique=True, max_size=7)):
        req[key] = draw(optional[key])
    return req


any_request = st.one_of(*[inference_requests(), training_requests()] * 4, junk)


def check_contract(req: Any, response: dict[str, Any]) -> None:
    """The invariants of docs/api.md, for any request."""
    text = json.dumps(response, allow_nan=False)  # JSON without NaN or infinities
    assert json.loads(text) == response
    if "error" in response:
        assert set(response) == {"error"}
        problems = response["error"]["problems"]
        assert problems
        for p in problems:
            assert set(p) == {"field", "message"}
            assert isinstance(p["message"], str) and p["message"]
            assert len(p["message"]) < 2000
            # "" is reserved for a request that is not an object
            assert (p["field"] == "") == (not isinstance(req, dict))
            assert p["field"] != "request", p  # the defect guard never fires
        return
    components = response["components"]
    assert response["total_bytes"] == sum(c["bytes"] for c in components)
    assert response["allocated_bytes"] == sum(c["bytes"] for c in components
                                              if c["kind"] == "tensor")
    assert 0 <= response["total_bytes"] < LIMIT
    for c in components:
        assert isinstance(c["bytes"], int) and c["bytes"] >= 0, c
    assert response["peak_phase"] in {p["name"] for p in response["phases"]}
    assert max(p["bytes"] for p in response["phases"]) == response["total_bytes"]
    for row in response["fit"]["gpus"]:
        assert row["max_batch_size"] >= 0 and row["max_context_length"] >= 0
        assert row["gpus_for_weights"] >= 1
        assert row["fits"] == (row["headroom_bytes"] >= 0) or response["request"].get(
            "engine") == "vllm"
    # the normalized request gives the same answer
    again = vramcalc.estimate(response["request"])
    assert again == response


@given(any_request)
def test_any_request_gets_an_answer_that_keeps_the_contract(req: Any) -> None:
    check_contract(req, vramcalc.estimate(req))


def _total(**fields: Any) -> int:
    req = {"mode": "inference", "model": {"preset": fields.pop("preset")}, "fit_gpus": ["h100-sxm"],
           **fields}
    response = vramcalc.estimate(req)
    assert "error" not in response, response
    total: int = response["total_bytes"]
    return total


@given(preset=st.sampled_from(PRESETS), batch=st.integers(1, 64), context=st.integers(1, 65536),
       more=st.integers(1, 4096), engine=st.sampled_from(["transformers", "llama.cpp"]))
def test_more_batch_or_context_never_lowers_the_total(
        preset: str, batch: int, context: int, more: int, engine: str) -> None:
    base = _total(preset=preset, batch_size=batch, context_length=context, engine=engine)
    assert _total(preset=preset, batch_size=batch + 1, context_length=context,
                  engine=engine) >= base
    assert _total(preset=preset, batch_size=batch, context_length=context + more,
                  engine=engine) >= base


BITS_ORDER = ["int4", "int8", "bf16", "fp32"]


@given(preset=st.sampled_from(PRESETS), i=st.integers(0, len(BITS_ORDER) - 2))
def test_more_weight_bits_never_lower_the_total(preset: str, i: int) -> None:
    low = _total(preset=preset, weight_format=BITS_ORDER[i], context_length=2048)
    high = _total(preset=preset, weight_format=BITS_ORDER[i + 1], context_length=2048)
    assert high >= low


@given(preset=st.sampled_from(PRESETS), rank=st.integers(1, 256))
def test_a_larger_lora_rank_never_lowers_the_total(preset: str, rank: int) -> None:
    def total(r: int) -> int:
        response = vramcalc.estimate({"mode": "training", "model": {"preset": preset},
                                      "method": "lora", "lora": {"rank": r},
                                      "fit_gpus": ["h100-sxm"], "sequence_length": 512})
        assert "error" not in response, response
        return int(response["total_bytes"])
    assert total(rank + 1) >= total(rank)


@given(preset=st.sampled_from(PRESETS), blocks=st.integers(1, 64), batch=st.integers(1, 8))
def test_the_kv_cache_is_linear_in_the_context(preset: str, blocks: int, batch: int) -> None:
    def kv(context: int) -> int:
        response = vramcalc.estimate({
            "mode": "inference", "model": {"preset": preset}, "fit_gpus": ["h100-sxm"],
            "batch_size": batch, "context_length": context, "transformers": {"cache": "static"}})
        assert "error" not in response, response
        windows = [w for w in response["model"].get("sliding_windows", []) if w]
        part = next(c["bytes"] for c in response["components"] if c["name"] == "kv_cache")
        return int(part) if not windows else -1
    one, two = kv(256 * blocks), kv(512 * blocks)
    if one >= 0:
        # per token: the cache holds b · s tokens of a fixed width
        assert two == 2 * one
