"""Ollama v0.32.15: model names, its defaults, and the llama-server it starts (by hand, against
the public records of its files, and properties)."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
from _models import GiB, MiB

import vramcalc
from vramcalc import catalogs, ollama
from vramcalc.engines import ollama as engine


def _ollama(name: str, gpu: str | None = "rtx-4090", **fields: Any) -> dict[str, Any]:
    req: dict[str, Any] = {"mode": "inference", "model": {"ollama": name}, "engine": "ollama",
                           "fit_gpus": [], **fields}
    if gpu is not None:
        req["gpu"] = gpu
    return vramcalc.estimate_or_raise(req)


# 1. Names -----------------------------------------------------------------------------------


@pytest.mark.parametrize(("name", "tag", "fmt"), [
    ("llama3.1:8b", "llama3.1:8b", "Q4_K_M"),
    ("llama3.1", "llama3.1:8b", "Q4_K_M"),  # no tag: latest
    ("library/llama3.1:latest", "llama3.1:8b", "Q4_K_M"),
    ("llama3.1:8b-instruct-q8_0", "llama3.1:8b", "Q8_0"),  # variant words, then the quant
    ("qwen3:30b-a3b-q4_K_M", "qwen3:30b-a3b", "Q4_K_M"),
    ("gemma3:12b-it-fp16", "gemma3:12b", "F16"),
    ("llama3.2:1b", "llama3.2:1b", "Q8_0"),  # the 1B tag is Q8_0
    ("gpt-oss:20b", "gpt-oss:20b", "mxfp4"),  # Ollama's own MXFP4 file
    ("deepseek-r1:8b", "deepseek-r1:8b", "Q4_K_M"),
])
def test_names_resolve(name: str, tag: str, fmt: str) -> None:
    model, weight_format, problem = ollama.lookup(name)
    assert problem == "" and model is not None
    assert (model.name, weight_format) == (tag, fmt)


def test_every_entry_names_a_preset_a_format_and_its_page() -> None:
    entries = catalogs.load("ollama.json")["models"]
    assert len(entries) >= 40
    names = [n for e in entries for n in (e["name"], *e["aliases"])]
    assert len(names) == len(set(names))
    presets, formats = catalogs.presets(), catalogs.weight_formats()
    for e in entries:
        assert e["preset"] is None or e["preset"] in presets, e["name"]
        assert e["weight_format"] in formats, e["name"]
        assert e["context_length"] > 0
        assert e["source"] == "https://ollama.com/library/" + e["name"]


def test_the_briefs_names_map_to_presets() -> None:
    expected = {"llama3.1:8b": "meta-llama/Llama-3.1-8B-Instruct",
                "qwen3:30b-a3b-q4_K_M": "Qwen/Qwen3-30B-A3B",
                "gemma3:12b": "google/gemma-3-12b-it",
                "deepseek-r1:8b": "Qwen/Qwen3-8B",  # the 0528 Qwen3-8B distill's shapes
                "gpt-oss:20b": "openai/gpt-oss-20b"}
    for name, preset in expected.items():
        model = ollama.lookup(name)[0]
        assert model is not None and model.preset == preset


def test_unknown_and_presetless_names_are_clear_problems() -> None:
    r = vramcalc.estimate({"mode": "inference", "model": {"ollama": "nope:1b"},
                           "engine": "ollama"})
    [problem] = r["error"]["problems"]
    assert problem["field"] == "model.ollama"
    assert problem["message"].startswith("unknown Ollama model 'nope:1b'; vramcalc knows: "
                                         "deepseek-r1:32b, deepseek-r1:671b, ")
    assert problem["message"].endswith(", smollm2:135m (a tag may add a quantization such "
                                       "as -q8_0)")
    r = vramcalc.estimate({"mode": "inference", "model": {"ollama": "phi4"}, "engine": "ollama"})
    assert r["error"]["problems"] == [{
        "field": "model.ollama", "message": "phi4:14b (microsoft/phi-4) has no preset in "
        "vramcalc's catalog: give its config.json as model.config, with weight_format Q4_K_M"}]
    r = vramcalc.estimate({"mode": "inference", "model": {"ollama": 3}, "engine": "ollama"})
    assert r["error"]["problems"] == [{
        "field": "model.ollama", "message": "must be an Ollama model name such as "
        "'llama3.1:8b', got 3"}]
    r = vramcalc.estimate({"mode": "inference", "model": {"ollama": "qwen3", "preset": "x"}})
    assert r["error"]["problems"] == [{
        "field": "model", "message": "must have exactly one of \"preset\", \"config\" or "
        "\"ollama\""}]


def test_a_name_with_other_engines() -> None:
    # llama.cpp runs the tag's own file; vLLM loads the Hub checkpoint (bf16)
    r = vramcalc.estimate_or_raise({"mode": "inference", "engine": "llama.cpp", "fit_gpus": [],
                                    "model": {"ollama": "llama3.2:1b"}})
    assert r["request"]["weight_format"] == "Q8_0"
    r = vramcalc.estimate_or_raise({"mode": "inference", "engine": "vllm", "gpu": "l4",
                                    "fit_gpus": [], "model": {"ollama": "llama3.2:1b"}})
    assert r["request"]["weight_format"] == "bf16"
    assert r["request"]["model"] == {"ollama": "llama3.2:1b"}


# 2. Ollama's defaults, by hand -------------------------------------------------------------


@pytest.mark.parametrize(("gpu", "overhead", "num_ctx"), [
    ("rtx-4090", 0, 32768),  # 23.99 GiB >= 23 GiB
    ("rtx-4090", 2 * GiB, 4096),  # OLLAMA_GPU_OVERHEAD counts against it
    ("rtx-3060-12gb", 0, 4096),
    ("l40s", 0, 32768),  # 44.99 GiB < 47 GiB
    ("rtx-a6000", 0, 262144),  # 47.99 GiB
    ("h100-sxm", 0, 262144),
    ("m4-max-64gb", 0, 262144),  # Metal's working set: 0.75 · 64 GiB
    ("m4-pro-24gb", 0, 4096),  # 2/3 · 24 GiB = 16 GiB
    (None, 0, 4096),  # no GPU
])
def test_num_ctx_follows_the_vram_tier(gpu: str | None, overhead: int, num_ctx: int) -> None:
    device = catalogs.gpus()[gpu] if gpu else None
    assert engine.default_num_ctx(device, overhead) == num_ctx


def test_defaults_on_a_4090() -> None:
    r = _ollama("llama3.1:8b", fit_gpus=["rtx-4090"])
    d = r["details"]["ollama"]
    assert (d["num_ctx"], d["context_per_request"], d["num_parallel"]) == (32768, 32768, 1)
    assert (d["kv_cache_type"], d["flash_attention"], d["num_gpu"]) == ("f16", True, -1)
    # 32,768 tokens > 4,096: batch 1024, as Ollama's prediction (4.9 GB file + 4 GiB f16 KV)
    # is under 75 % of 23.99 GiB with 768 MiB to spare below 80 %
    assert d["num_batch"] == 1024
    assert d["llama_server_args"] == "-c 32768 -np 1 --flash-attn on -b 1024 -ub 1024"
    assert d["gpu_layers"] == d["layers"] == 33
    assert r["request"]["ollama"]["num_ctx"] is None  # automatic: re-derived when sent back
    assert vramcalc.estimate_or_raise(r["request"])["total_bytes"] == r["total_bytes"]


def test_num_ctx_is_capped_at_the_models_context() -> None:
    r = _ollama("llama3.1:8b", gpu="h100-sxm")  # 262,144 by VRAM, 131,072 in the GGUF
    d = r["details"]["ollama"]
    assert (d["num_ctx"], d["context_per_request"]) == (262144, 131072)
    assert r["warnings"][-1] == {
        "code": "ollama_num_ctx_capped",
        "message": "num_ctx 262,144 exceeds the model's context length 131,072: Ollama uses "
                   "131,072 (llm/server.go \"requested context size too large for model\")"}


def test_kv_cache_by_hand() -> None:
    # llama3.1:8b, num_ctx 8192, q8_0: 8,192 cells · 32 layers · (1,024 K + 1,024 V elements)
    # · 34 B per 32 elements = 570,425,344 B
    r = _ollama("llama3.1:8b", ollama={"num_ctx": 8192, "kv_cache_type": "q8_0"})
    assert r["details"]["llama_cpp"]["kv_cache_bytes"] == 8192 * 32 * 2048 * 34 // 32
    assert r["details"]["ollama"]["llama_server_args"] == (
        "-c 8192 -np 1 --cache-type-k q8_0 --cache-type-v q8_0 --flash-attn on -b 1024 "
        "-ub 1024")
    # Ollama's own estimate: the file + an f16 K and V of 32 layers · 8 heads · 128 per token
    d = r["details"]["ollama"]
    assert d["ollama_predicted_vram_bytes"] - d["file_bytes"] == 2 * 32 * 8 * 128 * 8192 * 2


def test_num_parallel_multiplies_the_context() -> None:
    one = _ollama("llama3.1:8b", ollama={"num_ctx": 8192, "num_batch": 512})
    four = _ollama("llama3.1:8b", ollama={"num_ctx": 8192, "num_batch": 512,
                                          "num_parallel": 4})
    assert four["details"]["ollama"]["llama_server_ctx"] == 32768
    assert (four["details"]["llama_cpp"]["kv_cache_bytes"]
            == 4 * one["details"]["llama_cpp"]["kv_cache_bytes"])


def test_sliding_window_layers_keep_a_window_per_sequence() -> None:
    # gemma3:12b, num_ctx 8192 x 2 sequences, -ub 512: 8 global layers of 16,384 cells; 40
    # sliding layers (window 1024) with 2 streams of pad(min(8192, 1024 + 512), 256) = 1,536
    # cells; 8 heads · 256 · (K + V) · 2 B = 8,192 B per cell and layer
    r = _ollama("gemma3:12b", ollama={"num_ctx": 8192, "num_parallel": 2, "num_batch": 512})
    assert r["details"]["llama_cpp"]["kv_cache_bytes"] == (
        8 * 16384 * 8192 + 40 * 2 * 1536 * 8192)


def test_automatic_batch_by_hand() -> None:
    gpus = catalogs.gpus()
    big = gpus["h100-sxm"]
    assert engine.auto_batch(4096, GiB, 80 * GiB, True, big) == 512
    assert engine.auto_batch(4097, GiB, 80 * GiB, True, big) == 1024
    assert engine.auto_batch(32769, GiB, 80 * GiB, True, big) == 2048
    # 2048 needs the prediction <= 60 % of free memory: 50 of 80 GiB is 62.5 %, so 1024
    assert engine.auto_batch(32769, 50 * GiB, 80 * GiB, True, big) == 1024
    # over 80 %: 512
    assert engine.auto_batch(32769, 65 * GiB, 80 * GiB, True, big) == 512
    # CUDA without flash attention: 512, and 256 above 4k on GPUs of 8 GiB or less
    assert engine.auto_batch(32769, GiB, 80 * GiB, False, big) == 512
    small = dataclasses.replace(gpus["rtx-3060-12gb"], memory_bytes=8 * GiB)
    assert engine.auto_batch(8192, GiB, 8 * GiB, False, small) == 256
    assert engine.auto_batch(4096, GiB, 8 * GiB, False, small) == 512


def test_flash_attention_auto_follows_the_gpu() -> None:
    opts = engine.Options(num_ctx=None, num_parallel=1, kv_cache_type="f16",
                          flash_attention=None, num_batch=None, num_gpu=-1,
                          gpu_overhead_bytes=0, cpu_bandwidth_gb_s=76.8)
    gpus = catalogs.gpus()
    assert engine.flash_attention(opts, gpus["t4"])  # compute 7.5
    assert engine.flash_attention(opts, gpus["m4-max-64gb"])  # Metal
    old = dataclasses.replace(gpus["t4"], compute_capability="5.2")
    assert not engine.flash_attention(opts, old)
    assert not engine.flash_attention(dataclasses.replace(opts, flash_attention=False),
                                      gpus["h100-sxm"])


def test_quantized_cache_needs_flash_attention() -> None:
    r = vramcalc.estimate({"mode": "inference", "model": {"ollama": "llama3.1:8b"},
                           "engine": "ollama", "ollama": {"flash_attention": False,
                                                          "kv_cache_type": "q8_0"}})
    assert r["error"]["problems"] == [{
        "field": "ollama.kv_cache_type", "message": "a quantized KV cache (q8_0) requires "
        "flash attention: set ollama.flash_attention to true (OLLAMA_FLASH_ATTENTION=1) or "
        "leave it unset"}]


def test_too_big_a_model_is_split_by_fit() -> None:
    # llama3.1:70b (42.5 GB) on a 24 GB card: --fit leaves 1 GiB free, the rest on the CPU
    r = _ollama("llama3.1:70b", fit_gpus=["rtx-4090"])
    d = r["details"]["ollama"]
    assert 0 < d["gpu_layers"] < d["layers"] == 81
    gpu_side = r["total_bytes"]
    assert gpu_side <= catalogs.gpus()["rtx-4090"].memory_bytes - engine.FIT_TARGET_BYTES
    assert r["warnings"][-1]["code"] == "ollama_partial_offload"
    assert r["fit"]["gpus"][0]["fits"] is False
    # num_gpu as set: llama-server -ngl 10
    r = _ollama("llama3.1:70b", ollama={"num_gpu": 10})
    assert r["details"]["ollama"]["gpu_layers"] == 10
    assert r["details"]["ollama"]["llama_server_args"].endswith(" -ngl 10")


def test_gpt_oss_keeps_ollamas_mxfp4_file() -> None:
    r = _ollama("gpt-oss:20b")
    assert r["request"]["weight_format"] == "mxfp4"
    assert vramcalc.estimate_or_raise(r["request"])["total_bytes"] == r["total_bytes"]
    # MXFP4 experts and bf16 elsewhere: 13.76 GB, where llama.cpp's MXFP4_MOE recipe (Q8_0
    # elsewhere) gives 11.45 GB
    assert r["details"]["ollama"]["file_bytes"] / 1e9 == pytest.approx(13.76, abs=0.01)
    # another tag cannot borrow a non-GGUF format
    bad = vramcalc.estimate({"mode": "inference", "model": {"ollama": "llama3.1:8b"},
                             "engine": "ollama", "weight_format": "mxfp4"})
    assert bad["error"]["problems"] == [{
        "field": "weight_format", "message": "ollama runs GGUF files: use a GGUF type such as "
        "Q4_K_M, Q8_0 or F16, got 'mxfp4'"}]


# 3. Against the public records of Ollama's files --------------------------------------------


@pytest.mark.parametrize(("name", "file_bytes"), [
    # ollama/ollama docs/api.md, GET /api/tags example: llama3.2:latest (Q4_K_M) 2,019,393,189
    # B; deepseek-r1:latest before the 0528 update (qwen2 7.6B, Q4_K_M) 4,683,075,271 B. Ours
    # count the tensors only: the GGUF's metadata and tokenizer add a few MB (< 0.5 %).
    ("llama3.2", 2_019_393_189),
    ("deepseek-r1:7b", 4_683_075_271),
])
def test_file_sizes_match_ollamas_records(name: str, file_bytes: int) -> None:
    ours = _ollama(name)["details"]["ollama"]["file_bytes"]
    assert ours == pytest.approx(file_bytes, rel=0.005)
    assert ours < file_bytes


# 4. Properties -------------------------------------------------------------------------------


def test_more_context_or_parallel_never_lowers_memory() -> None:
    last = 0
    for num_ctx in (2048, 4096, 8192, 16384, 32768):
        total = _ollama("qwen3:8b", ollama={"num_ctx": num_ctx, "num_batch": 512})[
            "total_bytes"]
        assert total >= last
        last = total
    last = 0
    for parallel in (1, 2, 4, 8):
        total = _ollama("gemma3:4b", ollama={"num_ctx": 4096, "num_parallel": parallel,
                                             "num_batch": 512})["total_bytes"]
        assert total >= last
        last = total


def test_rows_use_each_gpus_own_defaults() -> None:
    r = vramcalc.estimate_or_raise({"mode": "inference", "model": {"ollama": "qwen3:8b"},
                                    "engine": "ollama", "gpu": "rtx-4090"})
    rows = {row["gpu"]: row for row in r["fit"]["gpus"]}
    assert rows["rtx-4090"]["fits"] and rows["rtx-3060-12gb"]["fits"]
    for row in rows.values():
        assert row["usable_bytes"] == (engine.vram(catalogs.gpus()[row["gpu"]])
                                       - engine.FIT_TARGET_BYTES)
        assert row["max_context_length"] <= 40960 and row["gpus_for_weights"] >= 1
    assert sum(c["bytes"] for c in r["components"]) == r["total_bytes"]
    assert r["components"][-1] == {
        "name": "cuda_context", "label": "CUDA context", "bytes": 300 * MiB,
        "kind": "overhead", "formula": "overheads.cuda_context_bytes",
        "source": "CUDA driver context, cuBLAS handle and ggml-cuda kernels"}
