"""The one contract every front end uses: `estimate(request) -> response` (docs/api.md)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from . import __version__, fit, formats, inference, request
from .errors import Collector, RequestError

if TYPE_CHECKING:
    from .components import Phase


def estimate(req: Any) -> dict[str, Any]:
    """Estimate memory for a request dict; bad input gives `{"error": {"problems": [...]}}`."""
    try:
        return estimate_or_raise(req)
    except RequestError as exc:
        return exc.to_dict()


def estimate_or_raise(req: Any) -> dict[str, Any]:
    """Like `estimate`, but raises `RequestError` (with `.problems`) on bad input."""
    c = Collector()
    if not isinstance(req, dict):
        c.add("", "the request must be a JSON object")
        c.raise_if_any()
    common = request.parse_common(req, c)
    if common is None:
        c.raise_if_any()
        raise RequestError([])  # unreachable: no model means a recorded problem
    if common.mode == "inference":
        parsed = request.parse_inference(req, common, c)
        c.raise_if_any()
        return _inference_response(parsed)
    from . import training  # imported on demand: the page opens in inference mode

    train_req = training.parse(req, common, c)
    c.raise_if_any()
    return training.respond(train_req)


def _inference_response(req: request.InferenceRequest) -> dict[str, Any]:
    spec = req.common.spec
    plan = inference.plan(req)
    peak, phases = inference.estimate(req, plan)
    b, s = req.batch_size, req.context_length
    rows = fit.fit_table(
        gpu_ids=req.common.fit_gpus,
        total=peak.total,
        weights=plan.weights,
        by_batch=lambda x: plan.total(x, s),
        by_length=lambda x: plan.total(b, x),
        batch_limit=1 << 16,
        length_limit=spec.max_position_embeddings,
    )
    warnings = _model_warnings(req.common)
    if s > spec.max_position_embeddings:
        warnings.append({
            "code": "context_beyond_model",
            "message": f"context_length {s:,} exceeds the model's max_position_embeddings "
            f"({spec.max_position_embeddings:,})",
        })
    return build_response(
        mode="inference",
        peak=peak,
        phases=phases,
        parameters={
            "total": spec.total_parameters,
            "active": spec.active_parameters,
            "trainable": 0,
            "by_category": spec.parameters_by_category,
        },
        common=req.common,
        details={
            "kv_cache_bytes_per_token": int(
                inference.kv_cache.bytes_per_token(plan.kv, req.kv_cache_dtype.bits)
            ),
            "weights_bits_per_parameter": round(8 * plan.weights / spec.total_parameters, 4),
        },
        fit_rows=rows,
        warnings=warnings,
        normalized=req.to_dict(),
    )


def _model_warnings(common: request.Common) -> list[dict[str, str]]:
    out = []
    for note in common.spec.notes:
        code = "generic_decoder" if "generic" in note else "model_note"
        out.append({"code": code, "message": note})
    return out


def build_response(
    *,
    mode: str,
    peak: Phase,
    phases: list[Phase],
    parameters: dict[str, Any],
    common: request.Common,
    details: dict[str, Any],
    fit_rows: list[fit.FitRow],
    warnings: list[dict[str, str]],
    normalized: dict[str, Any],
) -> dict[str, Any]:
    """The response dict shared by every mode (docs/api.md)."""
    allocated = sum(c.bytes for c in peak.components if c.kind == "tensor")
    return {
        "vramcalc_version": __version__,
        "mode": mode,
        "total_bytes": peak.total,
        "allocated_bytes": allocated,
        "components": [c.to_dict() for c in peak.components],
        "peak_phase": peak.name,
        "phases": [{"name": p.name, "bytes": p.total} for p in phases],
        "parameters": parameters,
        "model": common.spec.summary(),
        "details": details,
        "fit": {"selected": common.gpu, "gpus": [row.to_dict() for row in fit_rows]},
        "warnings": warnings,
        "request": normalized,
    }


def catalog() -> dict[str, Any]:
    """What a front end needs to build its forms: presets, GPUs, formats and choices."""
    from . import training  # imported on demand: the page opens in inference mode

    models = request.presets()
    train = training.catalog_entries()
    return {
        "vramcalc_version": __version__,
        "presets": [
            {"id": entry["id"], "name": entry.get("name", entry["id"]),
             "family": entry.get("family", ""),
             "gated": bool(entry.get("gated", False))}
            for entry in models.values()
        ],
        "gpus": [
            {key: gpu[key] for key in ("id", "name", "vendor", "kind", "memory_bytes",
                                       "usable_fraction", "bandwidth_gb_s", "bf16_tflops")}
            for gpu in request.gpu_catalog().values()
        ],
        "weight_formats": [
            {"id": f.id, "label": f.label, "kind": f.kind,
             "bits_per_weight": round(f.effective_bits(), 4)}
            for f in formats.weight_formats().values()
        ],
        "kv_cache_dtypes": [
            {"id": k.id, "label": k.label, "bits": k.bits, "engines": list(k.engines)}
            for k in formats.kv_dtypes().values()
        ],
        "choices": {
            "mode": list(request.MODES),
            "engine": list(request.ENGINES),
            "attention": list(request.INFERENCE_ATTENTION),
            "training": train["choices"],
        },
        "frameworks": train["frameworks"],
        "defaults": {
            "inference": {
                "batch_size": 1,
                "context_length": 4096,
                "engine": "transformers",
                "attention": "sdpa",
                "parallel": {"tensor": 1},
                "overheads": {
                    "cuda_context_bytes": request.DEFAULT_CUDA_CONTEXT_BYTES,
                    "allocator_reserve_fraction": request.DEFAULT_INFERENCE_RESERVE_FRACTION,
                },
            },
            "training": train["defaults"],
        },
    }
