"""llama.cpp engine profile: hand-derived, against llama.cpp's own figures, and properties."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from _models import TINY, MiB, request

import vramcalc

DATA = Path(__file__).parent / "data"
# llama.cpp's own figures, each with its public source (llama.cpp tools/quantize/README.md,
# llama_kv_cache log lines, a CUDA log)
PUBLISHED = json.loads((DATA / "published_serving.json").read_text(encoding="utf-8"))


def _llama(model: str, **opts: object) -> dict:
    return vramcalc.estimate_or_raise(request(model, engine="llama.cpp", gpu="rtx-3060-12gb",
                                              llama_cpp=opts))


# 1. Tiny model by hand ---------------------------------------------------------------------


def test_tiny_kv_and_compute_by_hand() -> None:
    req = {"mode": "inference", "model": {"config": TINY, "name": "tiny"},
           "engine": "llama.cpp", "weight_format": "F16", "fit_gpus": ["rtx-4090"],
           "llama_cpp": {"n_ctx": 300, "n_ubatch": 8, "flash_attn": False}}
    d = vramcalc.estimate_or_raise(req)["details"]["llama_cpp"]
    # n_ctx 300 is padded to 512 cells; per layer K and V rows: 2 heads · 8 · 2 B = 32 B
    # each: 2 layers · 512 · 64 B
    assert d["n_ctx"] == 512
    assert d["kv_cache_bytes"] == 2 * 512 * 64
    # no flash attention: scores 512 · 8 · 4 heads · 4 B + f32 mask 512 · 8 · 4 B = 81,920,
    # plus 8 tokens · (4·32 + 32 + 32) · 4 B = 6,144 around it; logits 8 · (100 + 64) · 4
    assert d["gpu"]["compute_buffer"] == 81_920 + 6_144
    # -1 = all: 2 layers + the output layer on the GPU; token_embd (100 · 32 · 2 B) stays
    assert d["n_gpu_layers"] == 3
    assert d["cpu"]["weights"] == 6_400


def test_quantized_v_needs_flash_attention() -> None:
    r = vramcalc.estimate(request("meta-llama/Llama-3.1-8B-Instruct", engine="llama.cpp",
                                  llama_cpp={"cache_type_v": "q4_0", "flash_attn": False}))
    assert r["error"]["problems"] == [{
        "field": "llama_cpp.cache_type_v",
        "message": "a quantized V cache (q4_0) requires flash attention: set "
                   "llama_cpp.flash_attn to true",
    }]


def test_llama_cpp_rejects_non_gguf_and_tp() -> None:
    r = vramcalc.estimate(request("meta-llama/Llama-3.1-8B-Instruct", engine="llama.cpp",
                                  weight_format="awq-int4", parallel={"tensor": 2}))
    assert r["error"]["problems"] == [
        {"field": "weight_format", "message": "llama.cpp runs GGUF files: use a GGUF type "
         "such as Q4_K_M, Q8_0 or F16, got 'awq-int4'"},
        {"field": "parallel.tensor", "message": "llama.cpp splits layers, not tensors: use 1 "
         "(one GPU)"},
    ]


# 2. Against llama.cpp ------------------------------------------------------------------------


KV_LOG_LINES = PUBLISHED["llama_cpp_kv_log"]["rows"]  # f16 "llama_kv_cache: size = ..."


@pytest.mark.parametrize("row", KV_LOG_LINES, ids=lambda r: f"{r['model']}-{r['n_ctx']}")
def test_kv_log_lines_exact(row: dict) -> None:
    d = _llama(row["model"], n_ctx=row["n_ctx"])["details"]["llama_cpp"]
    assert d["kv_cache_bytes"] == row["mib"] * MiB


def test_published_rows_exist() -> None:
    assert len(KV_LOG_LINES) == 5
    assert len(GGUF_BPW) == 18 and len(GGUF_BPW_IMATRIX) == 5


ROWS = json.loads((DATA / "llamacpp_buffers.json").read_text(encoding="utf-8"))["rows"]


@pytest.mark.parametrize("row", ROWS, ids=lambda r: f"{r['model']}-{r['n_ctx']}-{r['flash_attn']}")
def test_buffers_match_llama_fit_params(row: dict) -> None:
    d = _llama(row["model"], n_ctx=row["n_ctx"], flash_attn=row["flash_attn"],
               n_gpu_layers=0)["details"]["llama_cpp"]
    cpu = d["cpu"]
    assert cpu["kv_cache"] // MiB == row["kv_mib"]  # exact
    assert cpu["compute_buffer"] / MiB == pytest.approx(row["compute_mib"], abs=1)


def test_compute_buffer_without_flash_attention_cuda_log() -> None:
    # A public CUDA log: "CUDA0 compute buffer size = 9240.00 MiB" at 131,072 ctx, 36 layers
    # (a Qwen3-8B-class model, n_ubatch 512). The same graph on the CPU backend reserves
    # 8,492 MiB (tests/data/llamacpp_buffers.json); the CUDA log is 8.8 % higher.
    cuda = PUBLISHED["llama_cpp_cuda_compute_buffer"]
    d = _llama(cuda["model"], n_ctx=cuda["n_ctx"], flash_attn=cuda["flash_attn"])[
        "details"]["llama_cpp"]
    assert d["gpu"]["compute_buffer"] / MiB == pytest.approx(cuda["mib"], rel=0.10)


# llama.cpp tools/quantize/README.md, Llama-3.1-8B whole-file bits per weight. The imatrix
# recipes were made with an importance matrix, which changes llama-quant.cpp's choices
# (e.g. IQ3_XXS keeps ffn_down in IQ3_XXS); not modelled
GGUF_BPW = PUBLISHED["gguf_bits_per_weight"]["rows"]
GGUF_BPW_IMATRIX = PUBLISHED["gguf_bits_per_weight"]["imatrix_rows"]


@pytest.mark.parametrize(("recipe", "bpw"), sorted(GGUF_BPW.items()))
def test_gguf_file_sizes_exact(recipe: str, bpw: float) -> None:
    r = vramcalc.estimate_or_raise(request(
        "meta-llama/Llama-3.1-8B-Instruct", engine="llama.cpp", weight_format=recipe))
    d = r["details"]["llama_cpp"]
    assert round(8 * d["model_file_bytes"] / r["parameters"]["total"], 4) == bpw


@pytest.mark.parametrize(("recipe", "bpw"), sorted(GGUF_BPW_IMATRIX.items()))
def test_gguf_file_sizes_imatrix_recipes(recipe: str, bpw: float) -> None:
    r = vramcalc.estimate_or_raise(request(
        "meta-llama/Llama-3.1-8B-Instruct", engine="llama.cpp", weight_format=recipe))
    ours = 8 * r["details"]["llama_cpp"]["model_file_bytes"] / r["parameters"]["total"]
    assert ours == pytest.approx(bpw, rel=0.05)


# 3. Properties -------------------------------------------------------------------------------


def test_more_gpu_layers_moves_memory_to_the_gpu() -> None:
    last_gpu, last_cpu = -1, None
    for ngl in range(0, 34):
        d = _llama("meta-llama/Llama-3.1-8B-Instruct", n_gpu_layers=ngl,
                   n_ctx=8192)["details"]["llama_cpp"]
        assert d["gpu_bytes"] >= last_gpu
        if last_cpu is not None:
            assert d["cpu_bytes"] <= last_cpu
        last_gpu, last_cpu = d["gpu_bytes"], d["cpu_bytes"]


def test_largest_ngl_fits_and_one_more_does_not() -> None:
    r = _llama("Qwen/Qwen3-8B", n_ctx=40960, flash_attn=False)
    d = r["details"]["llama_cpp"]
    best = d["max_n_gpu_layers"]
    assert 0 < best < d["n_layer"] + 1
    usable = 12_884_901_888
    assert _llama("Qwen/Qwen3-8B", n_ctx=40960, flash_attn=False, n_gpu_layers=best)[
        "total_bytes"] <= usable
    assert _llama("Qwen/Qwen3-8B", n_ctx=40960, flash_attn=False, n_gpu_layers=best + 1)[
        "total_bytes"] > usable


def test_smaller_cache_type_never_lowers_max_context() -> None:
    lengths = []
    for kind in ("f16", "q8_0", "q4_0"):
        r = _llama("meta-llama/Llama-3.1-8B-Instruct", cache_type_k=kind, cache_type_v=kind)
        row = next(g for g in r["fit"]["gpus"] if g["gpu"] == "rtx-3060-12gb")
        lengths.append(row["max_context_length"])
        assert sum(c["bytes"] for c in r["components"]) == r["total_bytes"]
    assert lengths == sorted(lengths)


def test_flash_attention_never_needs_more() -> None:
    for n_ctx in (512, 4096, 32768):
        on = _llama("Qwen/Qwen3-8B", n_ctx=n_ctx, flash_attn=True)["total_bytes"]
        off = _llama("Qwen/Qwen3-8B", n_ctx=n_ctx, flash_attn=False)["total_bytes"]
        assert on <= off


def test_the_decode_bound_reads_one_row_of_the_cpu_embedding_table() -> None:
    # Llama-3.1-8B Q4_K_M, everything offloaded but token_embd (on the CPU): a decode step
    # reads the GPU weights and KV; of token_embd only one row, so the CPU adds nothing
    import vramcalc

    r = vramcalc.estimate({"mode": "inference", "model": {"preset": "meta-llama/Llama-3.1-8B"},
                           "engine": "llama.cpp", "weight_format": "Q4_K_M", "gpu": "rtx-4090",
                           "fit_gpus": ["rtx-4090"]})
    gpu = r["details"]["llama_cpp"]["gpu"]
    step = r["details"]["speed"]["decode"]["bytes_per_step"]
    assert step == gpu["weights"] + gpu["kv_cache"]
    assert r["details"]["llama_cpp"]["cpu"]["weights"] > 0  # token_embd, not read in full
