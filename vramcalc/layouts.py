"""The fewest GPUs of each kind that run a whole request, and their parallel layout.

"GPUs for weights" counts the weights alone; this counts the whole workload. For each row of
the fit table, the request is estimated again with more GPUs, through `estimate` (the
package's own answer for that layout, never a rule of thumb), in order of GPU count; a row
takes the first layout whose answer says it fits that GPU:

- transformers inference: tensor parallel over 2, 4, 8, ... 64 GPUs (`tp_plan="auto"`); a
  size must divide the attention heads, and the KV heads unless there are fewer (the
  request's own check refuses the others);
- vLLM: tensor parallel over 2, 4, 8 GPUs, one node (`--tensor-parallel-size`), then
  pipeline parallel over 2, 4, 8 such nodes (`--pipeline-parallel-size`), up to 64 GPUs;
- llama.cpp: one GPU (its split of layers over several GPUs is not modelled); Apple GPUs
  too (Metal has no multi-GPU parallelism in these engines);
- training: the framework's own multi-GPU levers (data/levers.json, `hardware` class): data
  parallel with its ZeRO stage (FSDP / DeepSpeed ZeRO-3 for the Hugging Face Trainer,
  DeepSpeed and torchtune; Megatron's distributed optimizer, stage 1), the micro batch per GPU
  unchanged, and tensor parallel (Megatron); at equal counts the data-parallel layout first.

As vramcalc.fit_changes does, a vLLM row runs the request when its KV cache holds
`batch_size` requests of `max_model_len` at once. Elsewhere a row fits when the answer's
total is within the GPU's usable bytes (vramcalc/fit.py), so those layouts ask for the total
alone, not a whole answer with its fit table. The work is bounded: at most `MAX_ESTIMATES`
estimates per request, each asking only for the rows still open.
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING, Any

from . import catalogs, engines
from .jsonable import with_fields
from .parallel import ParallelSpec

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

    from .components import EngineResult
    from .errors import RequestError
    from .fit import FitRow
    from .request import InferenceRequest, TrainingRequest

    Estimate = Callable[[Any], dict[str, Any]]
    Peak = Callable[[Any], tuple[int, str] | RequestError]

NODE_GPUS = 8  # vLLM's tensor parallelism stays in one NVLink node
TRANSFORMERS_MOST = 64  # data/limits.json parallel.tensor
VLLM_MOST = 64  # pipeline stages: up to 8 nodes of 8 GPUs
TRAINING_MOST = 1024  # data-parallel GPUs tried at most for training
MAX_ESTIMATES = 24  # per request: 10 counts x 2 layouts for training, fewer for inference


def annotate(req: InferenceRequest | TrainingRequest, raw: Mapping[str, Any],
             result: EngineResult, estimate: Estimate, peak: Peak) -> EngineResult:
    """`result` with `gpus_needed` and `layout` filled in on every fit row. `raw` is the
    request as given (its defaults are derived again for each layout); `estimate` answers
    a request dict without this pass, `peak` gives its peak total alone (or its error)."""
    rows = result.fit_rows
    if not rows:
        return result
    current, layout = _current(req)
    batch = getattr(req, "batch_size", 1)
    vllm = getattr(req, "engine", "") == "vllm"
    found: dict[str, tuple[int, dict[str, Any]]] = {
        row.gpu: (current, layout) for row in rows
        if row.fits and (not vllm or row.max_batch_size >= batch)}
    # Metal has no multi-GPU tensor or data parallelism in these engines: a Mac is one GPU
    apple = {g.id for g in req.common.fit_devices if g.vendor == "apple"}
    open_ids = [row.gpu for row in rows if row.gpu not in found and row.gpu not in apple]
    devices = {g.id: g for g in req.common.fit_devices}
    spent = 0
    for gpus, fields, shape in _candidates(req, current):
        if not open_ids or spent >= MAX_ESTIMATES:
            break
        spent += 1
        if vllm:
            catalog = [g for g in open_ids if g in catalogs.gpus()]
            answer = estimate(with_fields(raw, {**fields, "fit_gpus": catalog}))
            if "error" in answer:
                continue  # a size the model refuses (heads not divisible): the next one
            fitting = [row["gpu"] for row in answer["fit"]["gpus"]
                       if row["fits"] and row["max_batch_size"] >= batch]
        else:
            total = peak(with_fields(raw, fields))
            if not isinstance(total, tuple):
                continue  # as above
            fitting = [g for g in open_ids if total[0] <= devices[g].usable_bytes]
        for gpu in fitting:
            if gpu in open_ids:
                found[gpu] = (gpus, shape)
                open_ids.remove(gpu)
    return replace(result, fit_rows=tuple(_filled(row, found) for row in rows))


def _filled(row: FitRow, found: dict[str, tuple[int, dict[str, Any]]]) -> FitRow:
    if row.gpu not in found:
        return row
    gpus, layout = found[row.gpu]
    return replace(row, gpus_needed=gpus, layout=layout)


def _current(req: InferenceRequest | TrainingRequest) -> tuple[int, dict[str, Any]]:
    """The request's own GPU count and layout."""
    par = req.parallel
    if isinstance(par, ParallelSpec):
        return par.gpus, _training_layout(par.data, par.tensor, par.pipeline, par.zero_stage)
    pipeline = par.pipeline or 1
    return par.tensor * pipeline, _inference_layout(par.tensor, pipeline)


def _inference_layout(tensor: int, pipeline: int) -> dict[str, Any]:
    return {"tensor": tensor, "pipeline": pipeline} if pipeline > 1 else {"tensor": tensor}


def _training_layout(data: int, tensor: int, pipeline: int, zero: int) -> dict[str, Any]:
    return {"data": data, "tensor": tensor, "pipeline": pipeline, "zero_stage": zero}


Candidate = tuple[int, dict[str, Any], dict[str, Any]]  # GPUs, request fields, layout


def _candidates(req: InferenceRequest | TrainingRequest, current: int) -> list[Candidate]:
    """The layouts to try, fewest GPUs first."""
    par = req.parallel
    if not isinstance(par, ParallelSpec):
        engine = getattr(req, "engine", "")
        if not _levers("inference", "tensor_parallel").get("engines", {}).get(engine):
            return []  # llama.cpp: one GPU
        t, p = par.tensor, par.pipeline or 1
        # serving engines keep tensor parallelism in a node, then add pipeline stages (where
        # their profile models them: PIPELINE_PARALLEL)
        most = TRANSFORMERS_MOST if engine == "transformers" else NODE_GPUS
        module = engines.module(engine)
        stages = bool(getattr(module, "PIPELINE_PARALLEL", False))
        # options whose defaults follow the layout are derived again for each one, whether
        # the request left them out or echoes a normalized request's value for its own layout
        derived = {f"{module.OPTIONS_KEY}.{name}": None
                   for name in getattr(module, "LAYOUT_DERIVED", ())}
        found: list[Candidate] = []
        while 2 * t <= most:
            t *= 2
            found.append((t * p, {**derived, "parallel.tensor": t}, _inference_layout(t, p)))
        while stages and 2 * t * p <= VLLM_MOST:
            p *= 2
            found.append((t * p, {**derived, "parallel.tensor": t, "parallel.pipeline": p},
                          _inference_layout(t, p)))
        return found
    fw = getattr(getattr(req, "framework", None), "id", "")
    stage = _levers("training", "data_parallel").get("frameworks", {}).get(fw)
    tensor = _levers("training", "tensor_parallel").get("frameworks", {}).get(fw)
    out: list[Candidate] = []
    k = 2
    while current * k <= TRAINING_MOST:
        if stage is not None:
            zero, data = max(par.zero_stage, int(stage)), par.data * k
            out.append((current * k, {"parallel.data": data, "parallel.zero_stage": zero},
                        _training_layout(data, par.tensor, par.pipeline, zero)))
        if tensor and par.tensor * k <= TRANSFORMERS_MOST:
            t = par.tensor * k
            out.append((current * k, {"parallel.tensor": t},
                        _training_layout(par.data, t, par.pipeline, par.zero_stage)))
        k *= 2
    return out


def _levers(mode: str, lever: str) -> dict[str, Any]:
    """One lever of data/levers.json ({} when absent)."""
    for entry in catalogs.load("levers.json")[mode]:
        if entry["id"] == lever:
            found: dict[str, Any] = entry
            return found
    return {}


