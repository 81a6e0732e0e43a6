"""Training accuracy against measured training steps: the training section of docs/accuracy.md.

    python tools/accuracy.py                     # regenerates docs/accuracy.md
    python tools/accuracy_training.py --check    # prints the figures; fails unless the targets hold

Two sources, compared like with like:

1. The project's calibration rows (tests/data/calibration/*.jsonl, written by
   tools/calibrate/measure.py): each row carries the vramcalc request that describes the run
   and the measured tensor-level peak (`allocated_peak_bytes`), compared with the estimate's
   `allocated_bytes`. Rows measured on the CPU without the harness's CUDA dropout
   emulation (no `cuda_emulation.dropout`) keep PyTorch's CPU dropout noise in the
   activation dtype (4 bytes per element in fp32 adapters) where CUDA's fused kernel keeps
   a 1-byte mask; the "CPU dropout" column adds that difference to the estimate so that both
   sides count the same tensors, and the raw error is shown too.
2. Published real-GPU figures (tests/data/published_measurements.jsonl), each with the
   metric it reports: `max_memory_allocated` is compared with `allocated_bytes`,
   `max_memory_reserved` with allocated + allocator reserve, nvidia-smi with `total_bytes`.
   The original calculator's rule of thumb (10 B/param for Adam, activations
   b·s·L·h·bytes·k, ×1.15) is shown beside each row.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import vramcalc  # noqa: E402
from vramcalc import architecture, lora  # noqa: E402
from vramcalc.errors import Collector  # noqa: E402

CALIBRATION = ROOT / "tests" / "data" / "calibration"
PUBLISHED = ROOT / "tests" / "data" / "published_measurements.jsonl"
TARGET_MEDIAN, TARGET_WORST = 5.0, 15.0
GiB = 1 << 30

# Hugging Face config.json values of the models the published rows name (public files).
_LLAMA2 = {"model_type": "llama", "vocab_size": 32000, "max_position_embeddings": 4096,
           "rms_norm_eps": 1e-5, "tie_word_embeddings": False, "torch_dtype": "float16"}
CONFIGS: dict[str, dict[str, Any]] = {
    "meta-llama/Llama-2-7b-hf": {**_LLAMA2, "hidden_size": 4096, "intermediate_size": 11008,
                                 "num_hidden_layers": 32, "num_attention_heads": 32,
                                 "num_key_value_heads": 32},
    "meta-llama/Llama-2-13b-hf": {**_LLAMA2, "hidden_size": 5120, "intermediate_size": 13824,
                                  "num_hidden_layers": 40, "num_attention_heads": 40,
                                  "num_key_value_heads": 40},
    "meta-llama/Meta-Llama-3-8B": {"model_type": "llama", "hidden_size": 4096,
                                   "intermediate_size": 14336, "num_hidden_layers": 32,
                                   "num_attention_heads": 32, "num_key_value_heads": 8,
                                   "vocab_size": 128256, "max_position_embeddings": 8192,
                                   "tie_word_embeddings": False, "torch_dtype": "bfloat16"},
    "TinyLlama/TinyLlama-1.1B-intermediate-step-1431k-3T": {
        "model_type": "llama", "hidden_size": 2048, "intermediate_size": 5632,
        "num_hidden_layers": 22, "num_attention_heads": 32, "num_key_value_heads": 4,
        "vocab_size": 32000, "max_position_embeddings": 2048, "tie_word_embeddings": False,
        "torch_dtype": "float32"},
}
_LLAMA31 = {"preset": "meta-llama/Llama-3.1-8B"}

# How each published training row maps to a request; the assumptions are printed with it.
# litgpt (finetune/lora.py, bf16-true): the whole model and its adapters in bf16, torch
# AdamW (foreach on CUDA), no checkpointing, logits and loss in chunks of 128 tokens
# (litgpt chunked_cross_entropy: the log-softmax of every chunk is kept, as torchtune's).
_LITGPT = {"framework": "torchtune", "precision": "bf16", "optimizer": "adamw",
           "optimizer_implementation": "foreach", "gradient_checkpointing": "none",
           "loss": "chunked"}
PUBLISHED_REQUESTS: dict[str, tuple[dict[str, Any], str]] = {
    "pub04": ({**_LITGPT, "model": {"config": CONFIGS["meta-llama/Llama-2-7b-hf"]},
               "method": "lora", "micro_batch_size": 1, "sequence_length": 1304,
               "lora": {"rank": 8, "alpha": 16, "dropout": 0.05,
                        "target_modules": ["q_proj", "v_proj"]}},
              "s = 1304 (longest Alpaca sample: the peak batch)"),
    "pub06": ({**_LITGPT, "model": {"config": CONFIGS["meta-llama/Llama-2-7b-hf"]},
               "method": "qlora", "micro_batch_size": 1, "sequence_length": 1304,
               "qlora": {"quant_type": "nf4", "double_quant": False},
               "lora": {"rank": 8, "alpha": 16, "dropout": 0.05,
                        "target_modules": ["q_proj", "v_proj"]}},
              "s = 1304; bnb.nf4 without double quantization"),
    "pub08": ({**_LITGPT, "model": {"config": CONFIGS["meta-llama/Llama-2-13b-hf"]},
               "method": "lora", "micro_batch_size": 1, "sequence_length": 1304,
               "lora": {"rank": 8, "alpha": 16, "dropout": 0.05,
                        "target_modules": ["q_proj", "v_proj"]}},
              "s = 1304"),
    "pub15": ({**_LITGPT, "model": {"config": CONFIGS["meta-llama/Meta-Llama-3-8B"]},
               "method": "lora", "micro_batch_size": 1, "sequence_length": 512,
               "lora": {"rank": 32, "alpha": 16, "dropout": 0.05,
                        "target_modules": ["q_proj", "v_proj"]}},
              "s = 512 (max_seq_length)"),
    "pub17": ({**_LITGPT, "model": {"config": CONFIGS["meta-llama/Llama-2-7b-hf"]},
               "method": "lora", "micro_batch_size": 2, "sequence_length": 512,
               "lora": {"rank": 32, "alpha": 16, "dropout": 0.05,
                        "target_modules": ["q_proj", "v_proj"]}},
              "s = 512 (max_seq_length)"),
    "pub19": ({**_LITGPT, "model": {"config": CONFIGS[
        "TinyLlama/TinyLlama-1.1B-intermediate-step-1431k-3T"]},
               "method": "full", "micro_batch_size": 4, "sequence_length": 512},
              "s = 512 (max_seq_length)"),
    # torchtune README (early 2024): recipes/configs/llama2/7B_*_single_device.yaml; the
    # batch size 2 and Alpaca sequences up to 512 tokens are assumed, not re-read
    "pub22": ({"framework": "torchtune", "model": {"config": CONFIGS["meta-llama/Llama-2-7b-hf"]},
               "method": "qlora", "micro_batch_size": 2, "sequence_length": 512,
               "loss": "standard",
               "lora": {"rank": 8, "alpha": 16, "dropout": 0.0, "target_modules": [
                   "q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj",
                   "down_proj"]}},
              "b = 2, s = 512 assumed; LoRA r=8 on attention and MLP"),
    "pub23": ({"framework": "torchtune", "model": {"config": CONFIGS["meta-llama/Llama-2-7b-hf"]},
               "method": "lora", "micro_batch_size": 2, "sequence_length": 512,
               "loss": "standard",
               "lora": {"rank": 8, "alpha": 16, "dropout": 0.0,
                        "target_modules": ["q_proj", "v_proj"]}},
              "b = 2, s = 512 assumed; LoRA r=8 on q, v"),
    "pub25": ({"framework": "torchtune", "model": {"config": CONFIGS["meta-llama/Llama-2-7b-hf"]},
               "method": "full", "micro_batch_size": 2, "sequence_length": 512,
               "loss": "standard", "optimizer": "paged_adamw_8bit",
               "optimizer_in_backward": True},
              "b = 2, s = 512 assumed; paged 8-bit AdamW stepped inside the backward"),
}
# Unsloth's README: the longest sequence Hugging Face + FA2 (QLoRA r=32 on every linear
# layer, batch 1) trains in a card of the size named, and Unsloth's own in 80 GB.
_UNSLOTH_HF = {"framework": "hf_trainer", "model": _LLAMA31, "method": "qlora",
               "micro_batch_size": 1, "attention": "flash", "optimizer": "adamw_8bit",
               "lora": {"rank": 32, "alpha": 32, "dropout": 0.0, "target_modules": "all-linear"}}
MAX_LENGTH_REQUESTS: dict[str, tuple[dict[str, Any], str]] = {
    "pub37": (_UNSLOTH_HF, "HF Trainer profile (PEFT k-bit preparation: checkpointing on)"),
    "pub39": (_UNSLOTH_HF, "as pub37"),
    "pub41": (_UNSLOTH_HF, "as pub37"),
    "pub43": ({**_UNSLOTH_HF, "framework": "unsloth"},
              "Unsloth profile: offloaded checkpointing, fused cross-entropy"),
}
NOT_COMPARABLE = {
    "pub03": "bert-large is an encoder (sequence classification), not a decoder LM",
    "pub27": "T0_3B is an encoder-decoder model; batch, length and precision not stated",
    "pub28": "T0_3B is an encoder-decoder model; batch, length and precision not stated",
}


# ----------------------------------------------------------------------------------------
# the original calculator's rule of thumb (field notes, section 1)


def seed_rule(req: dict[str, Any], spec: architecture.ModelSpec) -> float:
    """SaehwanPark/llm_vram_calc's fine-tuning tab: base weights P·B (QLoRA 0.5 B), Adam
    10 B per trainable parameter, LoRA = 4 matrices · 2r·(h + h) per layer, gradients
    2 B per trainable parameter (P·B for full), activations b·s·L·h·B·(1.5 full, 0.5
    LoRA), QLoRA +5 % P, all ×1.15."""
    p, h, n = spec.total_parameters, spec.hidden_size, spec.num_layers
    b, s = req.get("micro_batch_size", 1), req.get("sequence_length", 2048)
    method = req.get("method", "full")
    byte = 0.5 if method == "qlora" else (4 if req.get("precision") == "fp32" else 2)
    if method == "full":
        trainable, grads, factor, extra = p, p * byte, 1.5, 0.0
    else:
        rank = req.get("lora", {}).get("rank", 16)
        trainable = 4 * (2 * rank * (h + h)) * n
        grads, factor = trainable * 2, 0.5
        extra = 0.05 * p if method == "qlora" else 0.0
    acts = b * s * n * h * byte * factor
    return (p * byte + 10 * trainable + grads + acts + extra) * 1.15


# ----------------------------------------------------------------------------------------


def _estimate(req: dict[str, Any]) -> dict[str, Any]:
    return vramcalc.estimate_or_raise({"mode": "training", "fit_gpus": [], **req})


def cpu_dropout_bytes(row: dict[str, Any]) -> int:
    """Bytes the CPU keeps beyond CUDA for LoRA dropout: fp32 noise (4 B) instead of a
    1-byte mask, for every adapted input element, at the backward's start."""
    req = row["request"]
    if row.get("device") == "cuda" or req.get("method") not in ("lora", "qlora"):
        return 0
    if "dropout" in (row.get("cuda_emulation") or {}):  # the harness ran CUDA's kernel
        return 0
    cfg = req.get("lora", {})
    if not cfg.get("dropout"):
        return 0
    spec = architecture.from_config(req["model"]["config"], Collector())
    assert spec is not None
    targets = cfg.get("target_modules", ["q_proj", "v_proj"])
    targets = targets if isinstance(targets, str) else tuple(targets)
    inputs = sum(a.in_features * a.modules for a in lora.adapters(spec, targets, 1))
    return 3 * inputs * req["micro_batch_size"] * req["sequence_length"]


def calibration_rows(paths: list[Path]) -> list[dict[str, Any]]:
    rows = []
    for path in paths:
        for line in path.read_text(encoding="utf-8").splitlines():
            row = json.loads(line) if line.strip() else None
            if row and row.get("kind") == "training" and row.get("status") == "ok":
                row["_file"] = path.name
                rows.append(row)
    return rows


def compare_calibration(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out = []
    for row in rows:
        resp = _estimate(dict(row["request"]))
        measured = row["allocated_peak_bytes"]
        adjust = cpu_dropout_bytes(row)
        phases = row.get("phase_peaks") or {}
        out.append({
            "id": row["id"], "file": row["_file"], "device": row["device"],
            "measured": measured, "estimate": resp["allocated_bytes"], "adjust": adjust,
            "raw_error": 100 * (resp["allocated_bytes"] - measured) / measured,
            "error": 100 * (resp["allocated_bytes"] + adjust - measured) / measured,
            "measured_phase": max(phases, key=phases.get) if phases else "",
            "estimated_phase": resp["peak_phase"],
        })
    return out


def compare_published() -> list[dict[str, Any]]:
    out = []
    for line in PUBLISHED.read_text(encoding="utf-8").splitlines():
        row = json.loads(line)
        pid = row["id"]
        base = {"id": pid, "model": row.get("model") or "", "what": row.get("what", ""),
                "metric": row["metric"], "value": row["value_bytes"]}
        if pid in NOT_COMPARABLE:
            out.append({**base, "note": NOT_COMPARABLE[pid]})
        elif pid in PUBLISHED_REQUESTS:
            req, note = PUBLISHED_REQUESTS[pid]
            out.append({**base, **_like_with_like(row, req), "note": note})
        elif pid in MAX_LENGTH_REQUESTS:
            req, note = MAX_LENGTH_REQUESTS[pid]
            out.append({**base, **_max_length(row, req), "note": note})
    return out


def _like_with_like(row: dict[str, Any], req: dict[str, Any]) -> dict[str, Any]:
    resp = _estimate(req)
    metric = row["metric"].lower()
    reserve = next(c["bytes"] for c in resp["components"] if c["name"] == "runtime_reserve")
    if "reserved" in metric:
        estimate, kind = resp["allocated_bytes"] + reserve, "reserved"
    elif "nvml" in metric or "nvidia-smi" in metric:
        estimate, kind = resp["total_bytes"], "nvidia-smi"
    else:
        estimate, kind = resp["allocated_bytes"], "allocated"
    spec = architecture.from_config(
        req["model"]["config"] if "config" in req["model"]
        else vramcalc.catalogs.presets()[req["model"]["preset"]]["config"], Collector())
    assert spec is not None
    seed = seed_rule(req, spec)
    value = row["value_bytes"]
    return {"kind": kind, "estimate": estimate, "error": 100 * (estimate - value) / value,
            "seed": seed, "seed_error": 100 * (seed - value) / value,
            "peak_phase": resp["peak_phase"]}


def _max_length(row: dict[str, Any], req: dict[str, Any]) -> dict[str, Any]:
    """Longest sequence that fits in a card of `value` GB (GiB-sized, as sold), against the
    sequence the benchmark reports."""
    budget = int(row["value"]) << 30
    reported = int(row["seq_len"])
    low, high = 1, 1 << 22

    def total(s: int) -> int:
        return int(_estimate({**req, "sequence_length": s})["total_bytes"])
    while high - low > 1:
        mid = (low + high) // 2
        low, high = (mid, high) if total(mid) <= budget else (low, mid)
    spec = architecture.from_config(
        vramcalc.catalogs.presets()[req["model"]["preset"]]["config"], Collector())
    assert spec is not None
    seed_low, seed_high = 0, 1 << 24
    while seed_high - seed_low > 1:
        mid = (seed_low + seed_high) // 2
        fits = seed_rule({**req, "sequence_length": mid}, spec) <= budget
        seed_low, seed_high = (mid, seed_high) if fits else (seed_low, mid)
    return {"kind": "max sequence", "estimate": low, "reported_length": reported,
            "error": 100 * (low - reported) / reported, "seed": seed_low,
            "seed_error": 100 * (seed_low - reported) / reported, "peak_phase": ""}


# ----------------------------------------------------------------------------------------


def _gib(n: float) -> str:
    return f"{n / GiB:.2f}"


def render(cal: list[dict[str, Any]], pub: list[dict[str, Any]]) -> str:
    lines = ["# Training accuracy", ""]
    lines += ["## Against the project's measured training steps", ""]
    if not cal:
        lines += ["No calibration rows found in `tests/data/calibration/`.", ""]
    else:
        errs = [abs(r["error"]) for r in cal]
        raw = [abs(r["raw_error"]) for r in cal]
        phases = sum(r["measured_phase"] == r["estimated_phase"] for r in cal)
        lines += [
            f"{len(cal)} rows from {', '.join(sorted({r['file'] for r in cal}))}: "
            f"median absolute error of the tensor-level peak **{statistics.median(errs):.2f} %**, "
            f"worst **{max(errs):.2f} %** (targets: {TARGET_MEDIAN:g} % and {TARGET_WORST:g} %); "
            f"without the CPU dropout adjustment {statistics.median(raw):.2f} % and "
            f"{max(raw):.2f} %. The phase that sets the peak agrees in {phases} of {len(cal)}.",
            "",
            "Measured is `allocated_peak_bytes` (CUDA: `torch.cuda.max_memory_allocated` over "
            "step 2; CPU rows: live tensor storages); the estimate is `allocated_bytes`. CPU "
            "rows keep LoRA dropout noise in fp32 where CUDA keeps a 1-byte mask; the "
            "adjustment adds that difference (3 B per adapted input element) to the estimate.",
            "",
            "| run | device | measured GiB | estimate GiB | CPU dropout GiB | error | raw error "
            "| peak phase (measured / estimated) |",
            "|---|---|---:|---:|---:|---:|---:|---|",
        ]
        for r in sorted(cal, key=lambda r: r["id"]):
            lines.append(
                f"| `{r['id']}` | {r['device']} | {_gib(r['measured'])} | {_gib(r['estimate'])} "
                f"| {_gib(r['adjust'])} | {r['error']:+.2f} % | {r['raw_error']:+.2f} % "
                f"| {r['measured_phase']} / {r['estimated_phase']} |")
        lines.append("")
    lines += [
        "## Against published real-GPU figures", "",
        "Each row is compared with the quantity its source reports: `max_memory_allocated` "
        "with `allocated_bytes`, `max_memory_reserved` with allocated + allocator reserve, "
        "nvidia-smi with `total_bytes`; the Unsloth rows give the longest sequence that "
        "fits a card. \"Rule of thumb\" is the original calculator's fine-tuning formula "
        "(10 B/param for Adam, activations b·s·L·h·bytes·k, ×1.15). Sizes in GB (10^9 B) "
        "as the sources print them.", "",
        "| id | model | what | metric | measured | vramcalc | error | rule of thumb | error "
        "| assumptions |",
        "|---|---|---|---|---:|---:|---:|---:|---:|---|",
    ]
    for r in pub:
        if "estimate" not in r:
            lines.append(f"| {r['id']} | {r['model']} | {r['what'][:60]} | {r['metric'][:40]} "
                         f"| {r['value'] / 1e9:.2f} GB | — | — | — | — | not comparable: "
                         f"{r['note']} |")
            continue
        if r["kind"] == "max sequence":
            measured = f"s = {r['reported_length']:,}"
            est, seed = f"s = {r['estimate']:,}", f"s = {r['seed']:,}"
        else:
            measured = f"{r['value'] / 1e9:.2f} GB"
            est, seed = f"{r['estimate'] / 1e9:.2f} GB", f"{r['seed'] / 1e9:.2f} GB"
        lines.append(f"| {r['id']} | {r['model']} | {r['what'][:60]} | {r['kind']} "
                     f"| {measured} | {est} | {r['error']:+.1f} % | {seed} "
                     f"| {r['seed_error']:+.1f} % | {r['note']} |")
    comparable = [abs(r["error"]) for r in pub if "estimate" in r]
    seeds = [abs(r["seed_error"]) for r in pub if "estimate" in r]
    if comparable:
        lines += ["", f"Median absolute error over the {len(comparable)} comparable rows: "
                  f"vramcalc {statistics.median(comparable):.1f} %, rule of thumb "
                  f"{statistics.median(seeds):.1f} %.", ""]
    return "\n".join(lines) + "\n"


def section() -> str:
    """This section of docs/accuracy.md, from every calibration file and published row."""
    cal = compare_calibration(calibration_rows(sorted(CALIBRATION.glob("*.jsonl"))))
    return render(cal, compare_published())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=Path, nargs="*",
                        help="calibration JSONL files (default: tests/data/calibration/*.jsonl)")
    parser.add_argument("--check", action="store_true",
                        help="exit 1 unless median <= 5 %% and worst <= 15 %%")
    args = parser.parse_args(argv)
    paths = args.rows if args.rows is not None else sorted(CALIBRATION.glob("*.jsonl"))
    cal = compare_calibration(calibration_rows(paths))
    if cal:
        errs = [abs(r["error"]) for r in cal]
        print(f"{len(cal)} calibration rows: median {statistics.median(errs):.2f} %, "
              f"worst {max(errs):.2f} %")
        if args.check and (statistics.median(errs) > TARGET_MEDIAN or max(errs) > TARGET_WORST):
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
