"""The one contract every front end uses: `estimate(request) -> response` (docs/api.md).

parse (vramcalc.request) -> the engine's or the training planner's `respond` -> the
response (vramcalc.response). Nothing inside the package imports this module.
"""

from __future__ import annotations

from functools import cache
from typing import TYPE_CHECKING, Any

from . import architecture, catalogs, engines, request, response
from ._version import __version__
from .errors import Collector, Problem, RequestError

if TYPE_CHECKING:
    from .components import EngineResult


def estimate(req: Any) -> dict[str, Any]:
    """Estimate memory for a request dict; bad input gives `{"error": {"problems": [...]}}`.
    Never raises."""
    try:
        return estimate_or_raise(req)
    except RequestError as exc:
        return exc.to_dict()
    except Exception as exc:  # the contract: an answer, never a traceback
        # a defect, not a user error: say so rather than fail the page or a batch job
        return RequestError([Problem(field="request", message="vramcalc could not estimate "
                                     f"this request ({type(exc).__name__}); please report it "
                                     "with the request")]).to_dict()


def estimate_or_raise(req: Any) -> dict[str, Any]:
    """Like `estimate`, but raises `RequestError` (with `.problems`) on bad input."""
    parsed = request.parse(req, engines.NAMES, engines.profile)
    if isinstance(parsed, request.TrainingRequest):
        from . import training  # imported on demand: the page opens in inference mode

        result = training.respond(parsed)
    else:
        result = engines.module(parsed.engine).respond(parsed)
    _check_bytes(result)
    return response.build(parsed, result)


def _check_bytes(result: EngineResult) -> None:
    """Every figure of the answer below 2^53 bytes, the largest integer the page's
    JavaScript holds exactly (data/limits.json): beyond it no GPU setup exists anyway."""
    most = catalogs.bound("bytes")
    largest = max((p.total for p in result.phases), default=0)
    if largest > most:
        raise RequestError([Problem(
            field=result.length_field,
            message=f"the estimate ({largest:,} bytes) exceeds 2^53 bytes (8 PiB), beyond any "
            "GPU setup: lower the batch, the sequence length or the model's sizes")])


@cache
def _preset_counts() -> dict[str, tuple[int, int]]:
    """Preset id -> (total, active) parameters, read from each preset's config once."""
    out = {}
    for preset, entry in catalogs.presets().items():
        c = Collector()
        spec = architecture.from_config(entry["config"], c, path="model.preset")
        if spec is None:  # the catalog tests keep every preset readable
            raise RequestError(c.problems)
        out[preset] = (spec.total_parameters, spec.active_parameters)
    return out


def catalog() -> dict[str, Any]:
    """What a front end needs to build its forms: presets, GPUs, formats and choices."""
    from .request import inference, training

    counts = _preset_counts()
    train = training.catalog_entries()
    transformers = engines.module("transformers")
    return {
        "vramcalc_version": __version__,
        "presets": [
            {"id": entry["id"], "name": entry.get("name", entry["id"]),
             "family": entry.get("family", ""),
             "gated": bool(entry.get("gated", False)),
             "parameters": counts[entry["id"]][0],
             "active_parameters": counts[entry["id"]][1]}
            for entry in catalogs.presets().values()
        ],
        "gpus": [gpu.summary() for gpu in catalogs.gpus().values()],
        "weight_formats": [
            {"id": f.id, "label": f.label, "kind": f.kind,
             "bits_per_weight": round(f.effective_bits(), 4)}
            for f in catalogs.weight_formats().values()
        ],
        "kv_cache_dtypes": [
            {"id": k.id, "label": k.label, "bits": k.bits, "engines": list(k.engines)}
            for k in catalogs.kv_dtypes().values()
        ],
        "choices": {
            "mode": list(request.common.MODES),
            "engine": list(engines.NAMES),
            "attention": list(inference.ATTENTION),
            "transformers.cache": list(transformers.CACHES),
            "vllm.block_size": list(engines.module("vllm").BLOCK_SIZES),
            "llama_cpp.cache_type": list(engines.module("llama.cpp").CACHE_TYPES),
            "hub_status": list(catalogs.hub_messages()["messages"]),
            "training": train["choices"],
        },
        "frameworks": train["frameworks"],
        "defaults": {
            "inference": {
                "batch_size": 1,
                "context_length": inference.DEFAULT_CONTEXT_LENGTH,
                "engine": engines.NAMES[0],
                "attention": inference.ATTENTION[0],
                "parallel": {"tensor": 1},
                "overheads": {
                    "cuda_context_bytes": transformers.CUDA_CONTEXT_BYTES,
                    "allocator_reserve_fraction": transformers.ALLOCATOR_RESERVE_FRACTION,
                },
                **{engines.module(name).OPTIONS_KEY: engines.module(name).catalog_defaults()
                   for name in engines.NAMES},
            },
            "training": train["defaults"],
        },
    }
