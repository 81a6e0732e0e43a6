"""What the engines share: the KV bytes per token, the bits per parameter and the roofline
speed bound of a request, each a detail of the answer."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .. import catalogs, kv_cache

if TYPE_CHECKING:
    from ..request import InferenceRequest


def kv_bytes_per_token(req: InferenceRequest) -> int:
    geo = kv_cache.geometry(req.spec)
    return int(kv_cache.bytes_per_token(geo, req.kv_cache_dtype.bits))


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
