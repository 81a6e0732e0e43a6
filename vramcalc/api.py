"""The one contract every front end uses: `estimate(request) -> response` (docs/api.md).

parse (vramcalc.request) -> the engine's or the training planner's `respond` -> the
response (vramcalc.response). Nothing inside the package imports this module.
"""

from __future__ import annotations

from dataclasses import replace
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
    return _estimate(req, layouts=True)


def _estimate(req: Any, *, layouts: bool) -> dict[str, Any]:
    """`estimate`, with or without the fit rows' GPU counts (vramcalc/layouts.py), which
    estimate the request again per layout: the suggestions of fit_changes and those
    estimates themselves go without."""
    try:
        return _estimate_or_raise(req, layouts=layouts)
    except RequestError as exc:
        return exc.to_dict()
    except Exception as exc:  # the contract: an answer, never a traceback
        return _defect(exc).to_dict()


def _defect(exc: Exception) -> RequestError:
    """A defect, not a user error: said as one, rather than failing the page or a batch job."""
    return RequestError([Problem(field="request", message="vramcalc could not estimate this "
                                 f"request ({type(exc).__name__}); please report it with the "
                                 "request")])


def estimate_or_raise(req: Any) -> dict[str, Any]:
    """Like `estimate`, but raises `RequestError` (with `.problems`) on bad input."""
    return _estimate_or_raise(req, layouts=True)


def _estimate_or_raise(req: Any, *, layouts: bool) -> dict[str, Any]:
    parsed = request.parse(req, engines.NAMES, engines.profile)
    result = _respond(parsed)
    _check_bytes(result)
    if layouts and result.fit_rows:
        from . import layouts as counts  # imported on demand: only answers with fit rows

        result = counts.annotate(parsed, req, result, _without_layouts, _peak)
    return response.build(parsed, result)


def _without_layouts(req: Any) -> dict[str, Any]:
    return _estimate(req, layouts=False)


def _respond(parsed: request.InferenceRequest | request.TrainingRequest) -> EngineResult:
    if isinstance(parsed, request.TrainingRequest):
        from . import training  # imported on demand: the page opens in inference mode

        return training.respond(parsed)
    result: EngineResult = engines.module(parsed.engine).respond(parsed)
    return result


def _peak(req: Any) -> tuple[int, str] | RequestError:
    """The total and name of the peak phase of `req`'s answer, or the error `estimate`
    would answer instead: the same answer without a fit table, its GPU counts and the rest
    of the response, for the sweep's points and the layouts' totals."""
    try:
        parsed = request.parse(req, engines.NAMES, engines.profile)
        # no fit rows: their solvers are all but the whole cost of a small answer
        parsed = replace(parsed, common=replace(parsed.common, fit_devices=()))
        result = _respond(parsed)
        _check_bytes(result)
    except RequestError as exc:
        return exc
    except Exception as exc:  # as `estimate`: a defect is reported, never raised
        return _defect(exc)
    return result.peak.total, result.peak.name


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
            "logits": list(inference.LOGITS),
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
                "generated_tokens": 0,
                "logits": inference.LOGITS[0],
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


# ----------------------------------------------------------------------------------------
# sweep: one request field varied, everything else fixed (the page's chart)

SWEEP_MAX_VALUES = 256  # a chart has tens of points; each one is a whole estimate
_SWEEP_INTERNAL = "internal error ({kind}); the request was not computed: please report this"


def sweep(req: Any, field: Any, values: Any) -> dict[str, Any]:
    """The total and the peak phase of `req` for each of `values` of the dotted request
    `field` (`context_length`, `micro_batch_size`, `lora.rank`), everything else unchanged.

    Answers `{"field", "points": [{"value", "total_bytes", "peak_phase", "problems"}]}`, one
    point per value in the order given: a value the request refuses gets `total_bytes` and
    `peak_phase` null and the problems; a good one an empty list. Bad arguments give
    `{"error": {"problems": [...]}}`. Never raises."""
    from . import jsonin
    from .errors import Problem, show

    problems: list[Problem] = []
    if not isinstance(req, dict):
        problems.append(Problem(field="", message="the request must be a JSON object"))
    if not isinstance(field, str) or not all(field.split(".")):
        problems.append(Problem(field="sweep.field", message=(
            f"must be a dotted request field such as context_length, got {show(field)}")))
    if not isinstance(values, (list, tuple)):
        problems.append(Problem(field="sweep.values",
                                message=f"must be a list of values, got {show(values)}"))
    elif len(values) > SWEEP_MAX_VALUES:
        problems.append(Problem(field="sweep.values", message=(
            f"must hold at most {SWEEP_MAX_VALUES} values, got {len(values)}")))
    elif not jsonin.depth_ok(values):
        problems.append(Problem(field="sweep.values", message=(
            f"is nested more than {jsonin.MAX_DEPTH} levels deep")))
    if isinstance(req, dict) and not jsonin.depth_ok(req):
        problems.append(Problem(field="", message=(
            f"the request is nested more than {jsonin.MAX_DEPTH} levels deep")))
    if not problems:
        parent = _sweep_parent(req, field)
        if parent:
            problems.append(Problem(field=parent, message="must be an object"))
    if problems:
        return RequestError(problems).to_dict()
    return {"field": field, "points": [_sweep_point(req, field, v) for v in values]}


def _sweep_parent(req: dict[str, Any], field: str) -> str:
    """The dotted path of the first parent of `field` in `req` that is set but not an
    object, or ""."""
    node: Any = req
    parts = field.split(".")
    for depth, key in enumerate(parts[:-1]):
        node = node.get(key)
        if node is None:
            return ""
        if not isinstance(node, dict):
            return ".".join(parts[:depth + 1])
    return ""


def _sweep_point(req: dict[str, Any], field: str, value: Any) -> dict[str, Any]:
    """One point of a sweep: `req` with `field` set to `value`, estimated."""
    import copy

    try:
        varied = copy.deepcopy(req)
        varied["fit_gpus"] = []  # totals only: the fit table is not drawn per point
        *parents, leaf = field.split(".")
        node = varied
        for key in parents:
            node = node.setdefault(key, {})
        node[leaf] = value
        found = _peak(varied)
    except Exception as exc:  # a bug: reported as a problem of this point, never raised
        found = RequestError([Problem(field="", message=_SWEEP_INTERNAL.format(
            kind=type(exc).__name__))])
    if isinstance(found, RequestError):
        return {"value": value, "total_bytes": None, "peak_phase": None,
                "problems": found.to_dict()["error"]["problems"]}
    total, phase = found
    return {"value": value, "total_bytes": total, "peak_phase": phase, "problems": []}


def fit_changes(req: Any, gpu: Any = None, gpus: Any = None, *,
                max_evaluations: Any = None) -> dict[str, Any]:
    """The changes that make a request fit `gpu` (default: the request's own GPU), ranked,
    each checked by `estimate` (docs/api.md, "Changes that make it fit"). `gpus`: how many
    such GPUs there are (default: suggestions may add GPUs). Bad input gives
    `{"error": {"problems": [...]}}`; never raises."""
    from . import advise  # imported on demand: the page's first view does not use it

    try:
        return advise.fit_changes(req, gpu=gpu, gpus=gpus, max_evaluations=max_evaluations,
                                  estimate=_without_layouts)
    except Exception as exc:  # the contract: an answer, never a traceback
        return RequestError([Problem(field="request", message="vramcalc could not suggest "
                                     f"changes for this request ({type(exc).__name__}); please "
                                     "report it with the request")]).to_dict()
