"""What the engines share: the KV bytes per token, the bits per parameter and the roofline
speed bound of a request, each a detail of the answer."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .. import kv_cache
from ..components import Component, Warning

if TYPE_CHECKING:
    from ..catalogs import GPU
    from ..request import InferenceRequest


def kv_bytes_per_token(req: InferenceRequest) -> int:
    geo = kv_cache.geometry(req.spec)
    return int(kv_cache.bytes_per_token(geo, req.kv_cache_dtype.bits))


def vision_bytes(req: InferenceRequest) -> int:
    """The vision encoder and projector of a multimodal model, in the checkpoint's 16-bit
    dtype (fp32 with fp32 weights): quantized multimodal checkpoints keep the vision tower
    unquantized (llm-compressor and AutoAWQ recipes ignore it)."""
    vision = req.spec.vision
    if vision is None:
        return 0
    width = 4 if req.weight_format.id in ("fp32", "F32") else 2
    return vision.parameters * width


def vision_component(bytes_: int) -> tuple[Component, ...]:
    """The vision tower as its own component (none for a text-only model)."""
    if not bytes_:
        return ()
    return (Component(
        name="vision_tower", label="Vision tower (encoder + projector)", bytes=bytes_,
        kind="tensor", formula="vision parameters · 2 B (kept 16-bit, also in quantized "
        "checkpoints)", source="the config's vision_config, counted as transformers builds it"),)


def image_warnings(req: InferenceRequest) -> tuple[Warning, ...]:
    """What the estimate leaves out of image inputs."""
    if req.images is None:
        return ()
    return (Warning(
        code="vision_activations",
        message=f"{req.images.count} image(s) add {req.images.tokens:,} tokens per sequence "
        "(counted in the KV cache and the prefill); the vision encoder's own activations "
        "while it encodes them are not modelled"),)


def bits_per_parameter(weights_bytes: int, req: InferenceRequest) -> float:
    """Weight bits per parameter of the whole model (`weights_bytes` over all its GPUs)."""
    return round(8 * weights_bytes / req.spec.total_parameters, 4)


def speed(
    req: InferenceRequest, *, weights: int, kv: int, cpu_weights: int = 0,
    cpu_kv: int = 0, cpu_bandwidth: float = 0.0, context: int | None = None,
) -> dict[str, Any] | None:
    """The roofline speed bound on the selected GPU (None without one, or when the GPU a
    request describes gives no bandwidth or no tensor throughput)."""
    gpu = req.common.device
    if gpu is None:
        return None
    dtype = compute_dtype(req, gpu)
    if gpu.bandwidth_gb_s is None or gpu.tensor_tflops(dtype) is None:
        return None
    from .. import speed as roofline  # imported on demand: the page's first view has no GPU

    work = roofline.Workload(
        weights_bytes=weights, routed_fraction=roofline.routed_fraction(req.spec),
        kv_bytes=kv, batch=req.batch_size,
        context=req.context_length if context is None else context,
        tp=req.tensor_parallel, cpu_weights_bytes=cpu_weights, cpu_kv_bytes=cpu_kv,
        cpu_bandwidth_gb_s=cpu_bandwidth, compute_dtype=dtype,
    )
    return roofline.roofline(req.spec, gpu, work)


def compute_dtype(req: InferenceRequest, gpu: GPU) -> str:
    """The 16-bit dtype the matmuls run in: fp16 for fp16 weights or checkpoints, and on
    GPUs without bf16 (Turing, Volta: a bf16 model runs there at best at the fp16 rate);
    bf16 otherwise (quantized weights are dequantized to it)."""
    fp16 = req.weight_format.id in ("fp16", "F16") or req.spec.torch_dtype == "fp16"
    return "fp16" if fp16 or not gpu.bf16 else "bf16"
