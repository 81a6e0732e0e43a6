"""Serving estimates against engine figures: the serving section of docs/accuracy.md.

    python tools/accuracy.py          # regenerates docs/accuracy.md (this section included)
    python tools/accuracy_serving.py  # prints this section alone

Each row compares like with like (the engine's own log or tool figure against the same
quantity here) and gives the signed error. The figures and their public sources are data:
tests/data/published_serving.json (each row names its source) and
tests/data/llamacpp_buffers.json (this project's llama-fit-params runs). Model configs are
the recorded Hub answers in tests/data/hub/.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import vramcalc  # noqa: E402
from vramcalc.engines import llama_cpp, vllm  # noqa: E402
from vramcalc.sizes import GiB, MiB  # noqa: E402

DATA = ROOT / "tests" / "data"
PUBLISHED = json.loads((DATA / "published_serving.json").read_text(encoding="utf-8"))
ROWS: list[tuple[str, str, str, str, str, str]] = []


def request(model: str, **fields: Any) -> dict[str, Any]:
    """An inference request for a model whose config.json is recorded in tests/data/hub."""
    config = json.loads((DATA / "hub" / model / "config.json").read_text(encoding="utf-8"))
    return {"mode": "inference", "model": {"config": config, "name": model}, **fields}


def llm_d_request(row: dict[str, Any]) -> dict[str, Any]:
    """The vLLM request of one llm-d H100 row (setup in published_serving.json)."""
    return request(row["model"], engine="vllm", gpu="h100-sxm", weight_format=row["weight_format"],
                   parallel={"tensor": row["tensor_parallel"]}, context_length=16000,
                   vllm={"gpu_memory_utilization": 0.9, "block_size": 128,
                         "cuda_graph_bytes": 0, "device_memory_bytes": round(79.18 * GiB),
                         "non_torch_bytes": round(row["non_torch_gib"] * GiB)})


def source(key: str) -> str:
    """A source of published_serving.json as a markdown link (its label alone without a URL)."""
    entry = PUBLISHED["sources"][key]
    return f"[{entry['label']}]({entry['url']})" if entry["url"] else entry["label"]


def row(section: str, what: str, engine: float, ours: float, unit: str, cited: str) -> None:
    err = "exact" if engine == ours else f"{100 * (ours - engine) / engine:+.2f} %"
    fmt = "{:,.0f}" if unit in ("B", "tokens", "MiB") else "{:.4f}" if unit == "bpw" else \
        "{:.2f}"
    ROWS.append((section, what, fmt.format(engine) + f" {unit}", fmt.format(ours) + f" {unit}",
                 err, cited))


def est(model: str, **fields: Any) -> dict[str, Any]:
    response: dict[str, Any] = vramcalc.estimate_or_raise(request(model, **fields))
    return response


def vllm_rows() -> None:
    table = PUBLISHED["vllm_kv_bytes_per_token"]
    for r in table["rows"]:
        ours = est(r["model"], engine="vllm", gpu="h200")["details"]["vllm"]["bytes_per_block"]
        row("vLLM KV", f"{r['model']}: KV bytes per token (bf16)", r["bytes"], ours / 16, "B",
            source(table["source"]))
    for r in PUBLISHED["vllm_kv_needed"]:
        v = est(r["model"], engine="vllm", gpu=r["gpu"],
                vllm={"max_model_len": r["max_model_len"]})["details"]["vllm"]
        row("vLLM KV", f"{r['model']}: 'KV cache is needed' at {r['max_model_len']:,}", r["gib"],
            round(v["kv_cache_needed_bytes"] / GiB, 2), "GiB", source(r["source"]))
    llm_d = PUBLISHED["llm_d_h100"]
    for r in llm_d["rows"]:
        resp = vramcalc.estimate_or_raise(llm_d_request(r))
        c = {x["name"]: x["bytes"] for x in resp["components"]}
        cited, name = source(llm_d["source"]), f"{r['model']} TP{r['tensor_parallel']}"
        row("vLLM budget", f"{name} {r['weight_format']}: model loading", r["weights_gib"],
            c["weights"] / GiB, "GiB", cited)
        row("vLLM budget", f"{name}: peak activation", r["activation_gib"],
            c["activations"] / GiB, "GiB", cited)
        row("vLLM budget", f"{name}: available KV cache", r["kv_cache_gib"],
            resp["details"]["vllm"]["available_kv_cache_bytes"] / GiB, "GiB", cited)
    for r in PUBLISHED["vllm_weights"]:
        c = {x["name"]: x["bytes"] for x in est(r["model"], engine="vllm", gpu=r["gpu"])[
            "components"]}
        row("vLLM budget", f"{r['model']}: model weights", r["gib"], c["weights"] / GiB, "GiB",
            source(r["source"]))


def llama_rows() -> None:
    logs = PUBLISHED["llama_cpp_kv_log"]
    for r in logs["rows"]:
        d = est(r["model"], engine="llama.cpp",
                llama_cpp={"n_ctx": r["n_ctx"]})["details"]["llama_cpp"]
        row("llama.cpp KV", f"{r['model']}: f16 KV, {r['n_ctx']:,} cells", r["mib"],
            d["kv_cache_bytes"] / MiB, "MiB", source(logs["source"]))
    data = json.loads((DATA / "llamacpp_buffers.json").read_text(encoding="utf-8"))
    for r in data["rows"]:
        d = est(r["model"], engine="llama.cpp", llama_cpp={
            "n_ctx": r["n_ctx"], "flash_attn": r["flash_attn"], "n_gpu_layers": 0,
        })["details"]["llama_cpp"]["cpu"]
        fa = "FA on" if r["flash_attn"] else "FA off"
        row("llama.cpp buffers", f"{r['model']}: compute buffer, {r['n_ctx']:,} ctx, {fa}",
            r["compute_mib"], d["compute_buffer"] // MiB, "MiB",
            "llama-fit-params, CPU (tests/data/llamacpp_buffers.json)")
    cuda = PUBLISHED["llama_cpp_cuda_compute_buffer"]
    d = est(cuda["model"], engine="llama.cpp",
            llama_cpp={"n_ctx": cuda["n_ctx"], "flash_attn": cuda["flash_attn"]})["details"][
        "llama_cpp"]
    row("llama.cpp buffers",
        f"{cuda['model'].split('/')[-1]}-class: CUDA compute buffer, {cuda['n_ctx']:,} ctx, FA off",
        cuda["mib"], d["gpu"]["compute_buffer"] // MiB, "MiB", source(cuda["source"]))
    gguf = PUBLISHED["gguf_bits_per_weight"]
    for recipe, bpw in sorted({**gguf["rows"], **gguf["imatrix_rows"]}.items()):
        r = est("meta-llama/Llama-3.1-8B-Instruct", engine="llama.cpp", weight_format=recipe)
        ours = 8 * r["details"]["llama_cpp"]["model_file_bytes"] / r["parameters"]["total"]
        note = " (imatrix recipe)" if recipe in gguf["imatrix_rows"] else ""
        row("GGUF files", f"Llama-3.1-8B {recipe}: bits per weight{note}", bpw,
            round(ours, 4), "bpw", source(gguf["source"]))


def render() -> str:
    """The section as markdown (rows recomputed on every call)."""
    ROWS.clear()
    vllm_rows()
    llama_rows()
    lines = [
        "# Serving estimates against engine figures", "",
        "Each row compares the same quantity: an engine's log line or tool output against "
        "vramcalc's figure for the same model and settings. Engine versions followed: vLLM "
        f"{vllm.VERSION}, {llama_cpp.VERSION}. "
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
