"""Serving estimates against engine figures: the serving section of docs/accuracy.md.

    python tools/accuracy.py          # regenerates docs/accuracy.md (this section included)
    python tools/accuracy_serving.py  # prints this section alone

Each row compares like with like (the engine's own log or tool figure against the same
quantity here) and gives the signed error. Sources: tests/data/published_measurements.jsonl
ids, measured.md rows (I17, I18, I20) and tests/data/llamacpp_buffers.json.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

from _models import GiB, MiB, request  # noqa: E402
from test_engines_llamacpp import GGUF_BPW, GGUF_BPW_IMATRIX  # noqa: E402
from test_engines_vllm import LLM_D, llm_d_request  # noqa: E402

import vramcalc  # noqa: E402

ROWS: list[tuple[str, str, str, str, str, str]] = []


def row(section: str, what: str, engine: float, ours: float, unit: str, source: str) -> None:
    err = "exact" if engine == ours else f"{100 * (ours - engine) / engine:+.2f} %"
    fmt = "{:,.0f}" if unit in ("B", "tokens", "MiB") else "{:.4f}" if unit == "bpw" else \
        "{:.2f}"
    ROWS.append((section, what, fmt.format(engine) + f" {unit}", fmt.format(ours) + f" {unit}",
                 err, source))


def est(model: str, **fields: object) -> dict:
    return vramcalc.estimate_or_raise(request(model, **fields))


def vllm_rows() -> None:
    for model, per_token in (("meta-llama/Llama-3.1-8B-Instruct", 131_072),
                             ("Qwen/Qwen3-8B", 147_456), ("Qwen/Qwen2.5-14B", 196_608),
                             ("meta-llama/Meta-Llama-3-70B", 327_680),
                             ("deepseek-ai/DeepSeek-V3", 70_272)):
        ours = est(model, engine="vllm", gpu="h200")["details"]["vllm"]["bytes_per_block"] / 16
        row("vLLM KV", f"{model}: KV bytes per token (bf16)", per_token, ours, "B",
            "vLLM page size / 16 (measured.md cross-checks)")
    v = est("Qwen/Qwen3-8B", engine="vllm", gpu="h200",
            vllm={"max_model_len": 32768})["details"]["vllm"]
    row("vLLM KV", "Qwen3-8B: 32,768 tokens", 4.50, v["kv_cache_needed_bytes"] / GiB, "GiB",
        "measured.md I17")
    v = est("deepseek-ai/DeepSeek-V2-Lite", engine="vllm", gpu="rtx-4090",
            vllm={"max_model_len": 32768})["details"]["vllm"]
    row("vLLM KV", "DeepSeek-V2-Lite: 'KV cache is needed' at 32,768 (MLA)", 0.95,
        round(v["kv_cache_needed_bytes"] / GiB, 2), "GiB", "pub35 (vllm#15871)")
    for model, tp, fmt, weights, act, non_torch, kv in LLM_D:
        r = vramcalc.estimate_or_raise(llm_d_request(model, tp, fmt, non_torch))
        c = {x["name"]: x["bytes"] for x in r["components"]}
        src = "llm-d empirical-vllm-memory-results.md (H100)"
        row("vLLM budget", f"{model} TP{tp} {fmt}: model loading", weights,
            c["weights"] / GiB, "GiB", src)
        row("vLLM budget", f"{model} TP{tp}: peak activation", act, c["activations"] / GiB,
            "GiB", src)
        row("vLLM budget", f"{model} TP{tp}: available KV cache", kv,
            r["details"]["vllm"]["available_kv_cache_bytes"] / GiB, "GiB", src)
    r = est("meta-llama/Meta-Llama-3-8B", engine="vllm", gpu="h100-sxm")
    c = {x["name"]: x["bytes"] for x in r["components"]}
    row("vLLM budget", "Meta-Llama-3-8B: model weights", 14.96, c["weights"] / GiB, "GiB",
        "pub31 (vllm PR #10511)")


def llama_rows() -> None:
    for model, cells, mib in (("meta-llama/Meta-Llama-3-70B", 4096, 1280),
                              ("microsoft/Phi-3-mini-4k-instruct", 4096, 1536),
                              ("Qwen/Qwen3-8B", 131072, 18432),
                              ("meta-llama/Llama-3.2-1B-Instruct", 4096, 128),
                              ("meta-llama/Llama-3.2-3B", 1024, 112)):
        d = est(model, engine="llama.cpp", llama_cpp={"n_ctx": cells})["details"]["llama_cpp"]
        row("llama.cpp KV", f"{model}: f16 KV, {cells:,} cells", mib,
            d["kv_cache_bytes"] / MiB, "MiB", "measured.md I18 (log lines)")
    data = json.loads((ROOT / "tests/data/llamacpp_buffers.json").read_text(encoding="utf-8"))
    for r in data["rows"]:
        d = est(r["model"], engine="llama.cpp", llama_cpp={
            "n_ctx": r["n_ctx"], "flash_attn": r["flash_attn"], "n_gpu_layers": 0,
        })["details"]["llama_cpp"]["cpu"]
        fa = "FA on" if r["flash_attn"] else "FA off"
        row("llama.cpp buffers", f"{r['model']}: compute buffer, {r['n_ctx']:,} ctx, {fa}",
            r["compute_mib"], d["compute_buffer"] // MiB, "MiB", "llama-fit-params (CPU)")
    d = est("Qwen/Qwen3-8B", engine="llama.cpp",
            llama_cpp={"n_ctx": 131072, "flash_attn": False})["details"]["llama_cpp"]
    row("llama.cpp buffers", "Qwen3-8B-class: CUDA compute buffer, 131,072 ctx, FA off", 9240,
        d["gpu"]["compute_buffer"] // MiB, "MiB", "field-notes 3.14 (CUDA log)")
    for recipe, bpw in sorted({**GGUF_BPW, **GGUF_BPW_IMATRIX}.items()):
        r = est("meta-llama/Llama-3.1-8B-Instruct", engine="llama.cpp", weight_format=recipe)
        ours = 8 * r["details"]["llama_cpp"]["model_file_bytes"] / r["parameters"]["total"]
        note = " (imatrix recipe)" if recipe in GGUF_BPW_IMATRIX else ""
        row("GGUF files", f"Llama-3.1-8B {recipe}: bits per weight{note}", bpw,
            round(ours, 4), "bpw", "measured.md I20 (tools/quantize/README.md)")


def render() -> str:
    """The section as markdown (rows recomputed on every call)."""
    ROWS.clear()
    vllm_rows()
    llama_rows()
    lines = [
        "# Serving estimates against engine figures", "",
        "Each row compares the same quantity: an engine's log line or tool output against "
        "vramcalc's figure for the same model and settings. Engine versions followed: vLLM "
        f"{vramcalc.engines.vllm.VERSION}, {vramcalc.engines.llama_cpp.VERSION}. "
        "Approximations are listed in docs/serving.md.", "",
        "| section | quantity | engine | vramcalc | error | source |",
        "|---|---|---|---|---|---|",
    ]
    lines += ["| " + " | ".join(r) + " |" for r in ROWS]
    exact = sum(1 for r in ROWS if r[4] == "exact")
    lines += ["", f"{exact} of {len(ROWS)} rows exact.", ""]
    return "\n".join(lines)


def main() -> None:
    sys.stdout.write(render())


if __name__ == "__main__":
    main()
