"""What the engines share: the KV bytes per token, the bits per parameter and the roofline
speed bound of a request, each a detail of the answer."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .. import catalogs, kv_cache
from ..components import Warning

if TYPE_CHECKING:
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
    """The roofline speed bound on the selected GPU (None without one)."""
    if req.common.gpu is None:
        return None
    from .. import speed as roofline  # imported on demand: the page's first view has no GPU

    work = roofline.Workload(
        weights_bytes=weights, routed_fraction=roofline.routed_fraction(req.spec),
        kv_bytes=kv, batch=req.batch_size,
        context=req.context_length if context is None else context,
        tp=req.tensor_parallel, cpu_weights_bytes=cpu_weights, cpu_kv_bytes=cpu_kv,
        cpu_bandwidth_gb_s=cpu_bandwidth,
    )
    return roofline.roofline(req.spec, catalogs.gpus()[req.common.gpu], work)
