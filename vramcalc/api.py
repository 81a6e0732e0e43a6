"""The one contract every front end uses: `estimate(request) -> response` (docs/api.md)."""

from __future__ import annotations

from functools import lru_cache
from typing import TYPE_CHECKING, Any

from . import __version__, _data, architecture, fit, formats, inference, kv_cache, request
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
    if req.engine == "vllm":
        return _vllm_response(req)
    if req.engine == "llama.cpp":
        return _llama_cpp_response(req)
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
    details: dict[str, Any] = {
        "kv_cache_bytes_per_token": _kv_per_token(req),
        "weights_bits_per_parameter": round(8 * plan.weights * req.tensor_parallel
                                            / spec.total_parameters, 4),
        "transformers": {"cache": req.transformers.cache, "attention": req.attention},
        "speed": _speed(req, weights=plan.stored_weights,
                        kv=plan.kv_bytes(b, s, prefill=False)),
    }
    return _respond(req, peak, phases, details, rows, _context_warnings(req, s))


def _kv_per_token(req: request.InferenceRequest) -> int:
    geo = kv_cache.geometry(req.common.spec)
    return int(kv_cache.bytes_per_token(geo, req.kv_cache_dtype.bits))


def _context_warnings(req: request.InferenceRequest, length: int) -> list[dict[str, str]]:
    warnings = _model_warnings(req.common)
    limit = req.common.spec.max_position_embeddings
    if length > limit:
        warnings.append({
            "code": "context_beyond_model",
            "message": f"context_length {length:,} exceeds the model's max_position_embeddings "
            f"({limit:,})",
        })
    return warnings


def _respond(
    req: request.InferenceRequest,
    peak: Phase,
    phases: list[Phase],
    details: dict[str, Any],
    rows: list[fit.FitRow],
    warnings: list[dict[str, str]],
) -> dict[str, Any]:
    spec = req.common.spec
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
        details=details,
        fit_rows=rows,
        warnings=warnings,
        normalized=req.to_dict(),
    )


def _speed(
    req: request.InferenceRequest, *, weights: int, kv: int, cpu_weights: int = 0,
    cpu_kv: int = 0, cpu_bandwidth: float = 0.0, context: int | None = None,
) -> dict[str, Any] | None:
    """The roofline speed bound on the selected GPU (None without one)."""
    if req.common.gpu is None:
        return None
    from . import speed  # imported on demand, like the engines and training
    work = speed.Workload(
        weights_bytes=weights, routed_fraction=speed.routed_fraction(req.common.spec),
        kv_bytes=kv, batch=req.batch_size,
        context=req.context_length if context is None else context,
        tp=req.tensor_parallel, cpu_weights_bytes=cpu_weights, cpu_kv_bytes=cpu_kv,
        cpu_bandwidth_gb_s=cpu_bandwidth,
    )
    return speed.roofline(req.common.spec, request.gpu_catalog()[req.common.gpu], work)


def _vllm_response(req: request.InferenceRequest) -> dict[str, Any]:
    from . import engines  # imported on demand: the page opens on transformers
    spec = req.common.spec
    opts = req.vllm
    assert opts is not None and req.common.gpu is not None
    weights = -(-formats.weights_bytes(req.weight_format, spec) // req.tensor_parallel)
    plan = engines.vllm_plan(req, weights)
    gpus = request.gpu_catalog()
    selected = plan.budget(gpus[req.common.gpu], selected=True)
    rows = []
    for gpu_id in req.common.fit_gpus:
        gpu = gpus[gpu_id]
        b = selected if gpu_id == req.common.gpu else plan.budget(gpu, selected=False)
        rows.append(fit.FitRow(
            gpu=gpu_id, name=gpu["name"], memory_bytes=gpu["memory_bytes"],
            usable_bytes=b.requested, fits=b.fits,
            # spare KV: the pool beyond one max_model_len request and the null block
            headroom_bytes=b.kv_pool - b.bytes_per_block - b.needed_one,
            max_batch_size=int(b.max_concurrency) if b.fits else 0,
            max_context_length=b.max_model_len_that_fits,
            gpus_for_weights=max(1, -(-weights * req.tensor_parallel // max(b.requested, 1))),
        ))
    peak = engines.vllm_phase(req, plan, selected)
    kv_one = plan.kv_needed(opts.max_model_len, 2 * selected.max_num_batched_tokens)
    details: dict[str, Any] = {
        "kv_cache_bytes_per_token": _kv_per_token(req),
        "weights_bits_per_parameter": round(8 * weights * req.tensor_parallel
                                            / spec.total_parameters, 4),
        "vllm": engines.vllm_details(plan, selected),
        "speed": _speed(req, weights=weights, kv=min(
            kv_one * req.batch_size, max(selected.kv_pool, 0)), context=opts.max_model_len),
    }
    warnings = _context_warnings(req, opts.max_model_len)
    error = details["vllm"]["error"]
    if error:
        warnings.append({"code": "vllm_will_not_start", "message": error})
    elif selected.max_concurrency < req.batch_size:
        warnings.append({
            "code": "vllm_concurrency",
            "message": f"the KV cache holds {selected.max_concurrency:.2f} requests of "
            f"{opts.max_model_len:,} tokens, fewer than batch_size {req.batch_size}: vLLM "
            "queues or preempts the rest",
        })
    return _respond(req, peak, [peak], details, rows, warnings)


def _llama_cpp_response(req: request.InferenceRequest) -> dict[str, Any]:
    from . import engines
    opts = req.llama_cpp
    assert opts is not None
    plan = engines.llama_cpp_plan(req)
    split = plan.split(opts.n_gpu_layers)
    gpus = request.gpu_catalog()
    budgets = [fit.usable_bytes(gpus[g]) for g in req.common.fit_gpus]
    ngl, n_ctx = opts.n_gpu_layers, opts.n_ctx
    # parallel slots of n_ctx tokens each (llama-server -np N -c N*n_ctx)
    slots = fit.largest(lambda k: plan.gpu_total(ngl, k * n_ctx), budgets, 1 << 10)
    lengths = fit.largest(lambda c: plan.gpu_total(ngl, 256 * c), budgets,
                          max(1, req.common.spec.max_position_embeddings // 256))
    rows = []
    for gpu_id, budget in zip(req.common.fit_gpus, budgets, strict=True):
        gpu = gpus[gpu_id]
        rows.append(fit.FitRow(
            gpu=gpu_id, name=gpu["name"], memory_bytes=gpu["memory_bytes"],
            usable_bytes=budget, fits=split.gpu_total <= budget,
            headroom_bytes=budget - split.gpu_total,
            max_batch_size=slots[budget],
            max_context_length=256 * lengths[budget],
            gpus_for_weights=max(1, -(-(split.gpu_weights + split.cpu_weights) // budget)),
        ))
    selected = gpus.get(req.common.gpu or "")
    max_ngl = plan.max_gpu_layers(fit.usable_bytes(selected)) if selected else None
    peak = engines.llama_cpp_phase(req, plan, split)
    details: dict[str, Any] = {
        "kv_cache_bytes_per_token": _kv_per_token(req),
        "weights_bits_per_parameter": round(
            8 * (split.gpu_weights + split.cpu_weights) / req.common.spec.total_parameters, 4),
        "llama_cpp": engines.llama_cpp_details(plan, split, max_ngl),
        "speed": _speed(req, weights=split.gpu_weights, kv=split.gpu_kv,
                        cpu_weights=split.cpu_weights, cpu_kv=split.cpu_kv,
                        cpu_bandwidth=opts.cpu_bandwidth_gb_s, context=opts.n_ctx),
    }
    return _respond(req, peak, [peak], details, rows, _context_warnings(req, opts.n_ctx))


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


@lru_cache(maxsize=1)
def _preset_counts() -> dict[str, tuple[int, int]]:
    """Preset id -> (total, active) parameters, read from each preset's config once."""
    out = {}
    for preset, entry in request.presets().items():
        c = Collector()
        spec = architecture.from_config(entry["config"], c, path="model.preset")
        if spec is None:  # the catalog tests keep every preset readable
            raise RequestError(c.problems)
        out[preset] = (spec.total_parameters, spec.active_parameters)
    return out


def catalog() -> dict[str, Any]:
    """What a front end needs to build its forms: presets, GPUs, formats and choices."""
    from . import engines, training  # imported on demand: the page opens on transformers

    models = request.presets()
    counts = _preset_counts()
    train = training.catalog_entries()
    return {
        "vramcalc_version": __version__,
        "presets": [
            {"id": entry["id"], "name": entry.get("name", entry["id"]),
             "family": entry.get("family", ""),
             "gated": bool(entry.get("gated", False)),
             "parameters": counts[entry["id"]][0],
             "active_parameters": counts[entry["id"]][1]}
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
            "transformers.cache": list(request.TRANSFORMERS_CACHES),
            "vllm.block_size": list(request.VLLM_BLOCK_SIZES),
            "llama_cpp.cache_type": list(request.LLAMA_CPP_CACHE_TYPES),
            "hub_status": list(_data.load("hub_messages.json")["messages"]),
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
                "transformers": {"cache": "dynamic"},
                "vllm": {
                    "version": engines.VLLM_VERSION,
                    "gpu_memory_utilization": request.VLLM_DEFAULT_UTILIZATION,
                    "max_model_len": None,  # = context_length
                    "max_num_seqs": None,  # vLLM's default for the GPU
                    "max_num_batched_tokens": None,  # vLLM's default for the GPU
                    "block_size": request.VLLM_DEFAULT_BLOCK_SIZE,
                    "enforce_eager": False,
                    "cuda_graph_bytes": None,  # estimated
                    "non_torch_bytes": None,  # 0.13 GiB at TP=1, 0.55 GiB at TP>1
                    "device_memory_bytes": None,  # the GPU's catalog memory
                    "overheads": {"cuda_context_bytes": request.VLLM_DEFAULT_CONTEXT_BYTES,
                                  "allocator_reserve_fraction": 0.0},
                    "batch_defaults_by_gpu": {
                        gpu_id: dict(zip(("max_num_seqs", "max_num_batched_tokens"),
                                         request.vllm_batch_defaults(gpu), strict=True))
                        for gpu_id, gpu in request.gpu_catalog().items()
                    },
                },
                "llama_cpp": {
                    "version": engines.LLAMA_CPP_VERSION,
                    "weight_format": "Q4_K_M",
                    "n_ctx": None,  # = context_length
                    "n_batch": request.LLAMA_CPP_DEFAULT_N_BATCH,
                    "n_ubatch": request.LLAMA_CPP_DEFAULT_N_UBATCH,
                    "cache_type_k": "f16",
                    "cache_type_v": "f16",
                    "flash_attn": True,
                    "n_gpu_layers": -1,  # all
                    "cpu_bandwidth_gb_s": request.LLAMA_CPP_DEFAULT_CPU_BANDWIDTH_GB_S,
                    "overheads": {"cuda_context_bytes": request.LLAMA_CPP_DEFAULT_CONTEXT_BYTES,
                                  "allocator_reserve_fraction": 0.0},
                },
            },
            "training": train["defaults"],
        },
    }
