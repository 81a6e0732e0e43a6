"""An engine's (or the training planner's) result -> the response dict of docs/api.md.

The warnings every answer shares (the model's notes, a sequence longer than the model's
positions) are added here; the numbers come from the engine untouched.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from . import catalogs, checkpoint, formats, lora
from ._version import __version__
from .components import Warning
from .units import natural_size

if TYPE_CHECKING:
    from .architecture import ModelSpec
    from .components import EngineResult
    from .request import InferenceRequest, TrainingRequest


def model_warnings(spec: ModelSpec) -> list[Warning]:
    """The reader's notes on the model (a generic decoder, a vision tower left out, ...)."""
    out = [Warning(code="generic_decoder" if "generic" in note else "model_note", message=note)
           for note in spec.notes]
    recurrent = sum(1 for layer in spec.recurrent if layer is not None)
    if recurrent:
        out.append(Warning(
            code="recurrent_activations",
            message=f"{recurrent} of {spec.num_layers} layers are recurrent (Mamba, linear "
            "attention): their state is counted, but the temporaries of their scans are not, "
            "so activations are those of the other layers"))
    return out


def length_warning(spec: ModelSpec, field: str, length: int) -> list[Warning]:
    limit = spec.max_position_embeddings
    if length <= limit:
        return []
    return [Warning(code="context_beyond_model",
                    message=f"{field} {length:,} exceeds the model's max_position_embeddings "
                    f"({limit:,})")]


def checkpoint_check(req: InferenceRequest | TrainingRequest) -> tuple[dict[str, Any] | None,
                                                                    list[Warning]]:
    """The checkpoint's stored bytes (from the Hub) beside what the architecture and the
    checkpoint's own format give (language model and vision tower), with a warning naming
    both when they differ by more than 1 %."""
    stored = req.common.model.checkpoint_bytes
    if stored is None:
        return None, []
    spec = req.spec
    fmt_id, _ = checkpoint.checkpoint_format(req.common.model.source_config)
    fmt = catalogs.weight_formats()[fmt_id]
    vision = spec.vision.parameters * (4 if fmt.id == "fp32" else 2) if spec.vision else 0
    counted = formats.weights_bytes(fmt, spec) + vision
    difference = round(100 * (counted - stored) / stored, 2)
    details = {"stored_bytes": stored, "architecture_bytes": counted, "format": fmt.id,
               "difference_percent": difference}
    warnings = []
    if abs(difference) > 1:
        warnings.append(Warning(
            code="checkpoint_size_differs",
            message=f"the checkpoint stores {stored:,} bytes of tensors; the architecture in "
            f"{fmt.id} gives {counted:,} ({difference:+.2f} %): extra tensors (a "
            "multi-token-prediction layer, an audio or vision encoder vramcalc does not "
            "count) or a format read differently"))
    return details, warnings


def gpu_warnings(req: InferenceRequest | TrainingRequest, result: EngineResult
                 ) -> list[Warning]:
    """What the selected GPU changes: no CUDA context on Apple GPUs; a speed bound for a
    setup or a batch that does not fit; no speed bound for a GPU without the figures."""
    device = req.common.device
    if device is None:
        return []
    out = []
    if device.vendor == "apple" and req.overheads.cuda_context_bytes == 0:
        out.append(Warning(code="no_cuda_context", message=f"{device.name} runs Metal, which has "
                           "no CUDA context: overheads.cuda_context_bytes is 0"))
    if req.common.mode != "inference":
        return out
    speed = result.details.get("speed")
    if speed is None:
        missing = [k for k, v in (("bandwidth_gb_s", device.bandwidth_gb_s),
                                  ("bf16_tflops or fp16_tflops", device.fp16_tflops)) if v is None]
        if missing:
            out.append(Warning(code="speed_unknown", message=f"no speed bound: the GPU gives no "
                               f"{' and no '.join(missing)}"))
        return out
    row = next((r for r in result.fit_rows if r.gpu == device.id), None)
    if row is None:
        return out
    batch: int = getattr(req, "batch_size", 1)
    short = f" ({natural_size(-row.headroom_bytes)} short)" if not row.fits else ""
    if batch > row.max_batch_size >= 1:
        out.append(Warning(code="speed_batch_does_not_fit", message=f"the speed bound is for "
                           f"batch_size {batch:,}, but at most {row.max_batch_size:,} "
                           f"sequences fit {device.name} at this context{short}"))
    elif not row.fits:
        out.append(Warning(code="speed_does_not_fit", message="the speed bound assumes the "
                           f"setup runs, but it does not fit {device.name}{short}"))
    return out


def build(req: InferenceRequest | TrainingRequest, result: EngineResult) -> dict[str, Any]:
    """The response dict shared by every mode and engine (docs/api.md)."""
    spec = req.spec
    peak = result.peak
    assumed: tuple[Warning, ...] = getattr(req, "warnings", ())  # an inference request's defaults
    check, check_warnings = checkpoint_check(req)
    warnings = [*model_warnings(spec), *assumed,
                *length_warning(spec, result.length_field, result.length),
                *gpu_warnings(req, result), *result.warnings, *check_warnings]
    return {
        "vramcalc_version": __version__,
        "mode": req.common.mode,
        "total_bytes": peak.total,
        "allocated_bytes": sum(c.bytes for c in peak.components if c.kind == "tensor"),
        "components": [c.to_dict() for c in peak.components],
        "peak_phase": peak.name,
        "phases": [{"name": p.name, "bytes": p.total} for p in result.phases],
        "parameters": {
            "total": spec.total_parameters,
            "active": spec.active_parameters,
            "trainable": result.trainable_parameters,
            "vision": spec.vision.parameters if spec.vision is not None else 0,
            "by_category": spec.parameters_by_category,
        },
        "model": {**spec.summary(), "lora_target_modules": lora.module_names(spec)},
        "details": {**result.details, **({"checkpoint": check} if check else {})},
        "fit": {"selected": req.common.gpu_id, "gpus": [row.to_dict() for row in result.fit_rows]},
        "warnings": [{"code": w.code, "message": w.message} for w in warnings],
        "request": req.to_dict(),
    }
