"""A roofline bound on generation speed: the fastest the GPU's memory bandwidth and peak
compute allow, never a promise (real engines reach roughly half to four fifths of it).

Decode produces one token per sequence per step, and each step must read every weight a
token uses (for MoE: the shared part plus the experts the batch routes to) and each
sequence's KV cache; the step takes at least bytes / bandwidth and flops / peak, whichever
is longer (Williams et al. 2009, "Roofline"; the LLM form follows LLM-Viewer,
hahnyuan/LLM-Viewer model_analyzer.py). Prefill is one pass over the prompt: 2 flops per
active parameter per token plus causal attention, against the GPU's dense 16-bit tensor
peak in the dtype the model computes in (fp16 on GPUs without bf16: T4, V100).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .architecture import ModelSpec
    from .catalogs import GPU

ASSUMPTIONS = (
    "roofline upper bound: full memory bandwidth and the dense 16-bit tensor peak (bf16, or "
    "fp16 on GPUs without bf16) from the GPU's datasheet, no kernel or scheduling overhead, "
    "no communication between GPUs"
)


@dataclass(frozen=True, kw_only=True, slots=True)
class Workload:
    """What one decode step and one prefill touch, per GPU."""

    weights_bytes: int  # resident weights on this GPU (as stored)
    routed_fraction: float  # share of the weight bytes in routed experts (0 for dense)
    kv_bytes: int  # KV cache of the whole batch at `context` tokens, on this GPU
    batch: int
    context: int
    tp: int
    cpu_weights_bytes: int = 0  # llama.cpp layers left on the CPU
    cpu_kv_bytes: int = 0
    cpu_bandwidth_gb_s: float = 0.0
    compute_dtype: str = "bf16"  # the dtype whose tensor throughput bounds the compute


def experts_touched(experts: int, top_k: int, tokens: int) -> float:
    """Expected share of a layer's experts that `tokens` tokens route to, each picking
    `top_k` of `experts` uniformly: 1 - (1 - k/E)^tokens."""
    if experts <= 0:
        return 1.0
    return 1.0 - (1.0 - top_k / experts) ** tokens


def _attention_flops(spec: ModelSpec, tokens_q: int, tokens_kv: float) -> float:
    """Q·K and P·V: 2 x 2 x heads x head_dim per (query, key) pair and layer."""
    layers = sum(1 for layer in spec.attention if layer.kind != "none")
    return 4.0 * layers * spec.num_heads * spec.head_dim * tokens_q * tokens_kv


def roofline(spec: ModelSpec, gpu: GPU, w: Workload) -> dict[str, Any]:
    """Decode and prefill speed bounds for `w` on `gpu`, which must give its bandwidth and
    its tensor throughput in `w.compute_dtype` (bf16, or fp16 on GPUs without bf16)."""
    tflops = gpu.tensor_tflops(w.compute_dtype)
    if gpu.bandwidth_gb_s is None or tflops is None:
        raise ValueError(f"GPU {gpu.id} gives no bandwidth or {w.compute_dtype} throughput")
    bandwidth = float(gpu.bandwidth_gb_s) * 1e9
    peak = float(tflops) * 1e12
    moe = spec.moe
    touched = 1.0
    if moe is not None:
        touched = experts_touched(moe.num_experts, moe.experts_per_token, w.batch)
    # bytes read per decode step: the non-expert weights, the experts the batch routes to,
    # and every sequence's KV cache
    share = (1.0 - w.routed_fraction) + w.routed_fraction * touched
    gpu_bytes = w.weights_bytes * share + w.kv_bytes
    cpu_bytes = (w.cpu_weights_bytes * share + w.cpu_kv_bytes) if w.cpu_bandwidth_gb_s else 0.0
    memory_time = gpu_bytes / bandwidth
    if cpu_bytes:
        memory_time += cpu_bytes / (w.cpu_bandwidth_gb_s * 1e9)
    flops = (2.0 * spec.active_parameters * w.batch
             + _attention_flops(spec, w.batch, w.context)) / w.tp
    compute_time = flops / peak
    step = max(memory_time, compute_time)
    prompt = w.batch * w.context
    prefill_flops = (2.0 * spec.active_parameters * prompt
                     + _attention_flops(spec, prompt, (w.context + 1) / 2)) / w.tp
    prefill_compute = prefill_flops / peak
    prefill_memory = (w.weights_bytes + w.kv_bytes) / bandwidth + (
        (w.cpu_weights_bytes + w.cpu_kv_bytes) / (w.cpu_bandwidth_gb_s * 1e9)
        if w.cpu_bandwidth_gb_s else 0.0)
    prefill = max(prefill_compute, prefill_memory)
    return {
        "bound": "roofline",
        "gpu": gpu.id,
        "compute": {"dtype": w.compute_dtype, "tflops": tflops,
                    "bandwidth_gb_s": gpu.bandwidth_gb_s},
        "batch_size": w.batch,
        "context_length": w.context,
        "decode": {
            "tokens_per_s_per_sequence": round(1.0 / step, 2),
            "tokens_per_s_total": round(w.batch / step, 2),
            "bytes_per_step": int(gpu_bytes + cpu_bytes),
            "flops_per_step": int(flops),
            "limited_by": "memory bandwidth" if memory_time >= compute_time else "compute",
        },
        "prefill": {
            "tokens_per_s": round(prompt / prefill, 1),
            "time_to_first_token_s": round(prefill, 4),
            "flops": int(prefill_flops),
            "limited_by": "compute" if prefill_compute >= prefill_memory
            else "memory bandwidth",
        },
        "assumptions": ASSUMPTIONS,
    }


def routed_fraction(spec: ModelSpec) -> float:
    """Share of the parameters in routed experts (their bytes are read only when used)."""
    total = spec.total_parameters
    return spec.parameters_by_category["routed_experts"] / total if total else 0.0
