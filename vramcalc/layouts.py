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
alone, not a whole answer with its fit table; and where the layouts only add data-parallel
GPUs, whose totals never grow with their number, each row's first fit is found by bisection
(the most GPUs first), not by trying every count in turn. The work is bounded: at most
`MAX_ESTIMATES` estimates per request, vLLM's asking only for the rows still open.
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
    candidates = _candidates(req, current)
    if vllm:
        spent = 0
        for gpus, fields, shape in candidates:
            if not open_ids or spent >= MAX_ESTIMATES:
                break
            spent += 1
            catalog = [g for g in open_ids if g in catalogs.gpus()]
            answer = estimate(with_fields(raw, {**fields, "fit_gpus": catalog}))
            if "error" in answer:
                continue  # a size the model refuses (heads not divisible): the next one
            for row in answer["fit"]["gpus"]:
                if row["fits"] and row["max_batch_size"] >= batch and row["gpu"] in open_ids:
                    found[row["gpu"]] = (gpus, shape)
                    open_ids.remove(row["gpu"])
    else:
        usable = {g: devices[g].usable_bytes for g in open_ids}
        totals = _Totals(raw, candidates[:MAX_ESTIMATES], peak)
        first = _bisected(totals, usable) if _shards_only(candidates) else None
        if first is None:
            first = _scanned(totals, usable)
        for gpu, index in first.items():
            found[gpu] = candidates[index][0], candidates[index][2]
    return replace(result, fit_rows=tuple(_filled(row, found) for row in rows))


class _Totals:
    """The peak total of each candidate layout (None where the request refuses it), each
    estimated once, when first asked for."""

    def __init__(self, raw: Mapping[str, Any], candidates: list[Candidate], peak: Peak) -> None:
        self.raw, self.candidates, self.peak = raw, candidates, peak
        self._seen: dict[int, int | None] = {}

    def __len__(self) -> int:
        return len(self.candidates)

    def __call__(self, index: int) -> int | None:
        if index not in self._seen:
            got = self.peak(with_fields(self.raw, self.candidates[index][1]))
            self._seen[index] = got[0] if isinstance(got, tuple) else None
        return self._seen[index]


def _scanned(totals: _Totals, usable: Mapping[str, int]) -> dict[str, int]:
    """Each GPU's first candidate whose total fits it, trying them in order."""
    first: dict[str, int] = {}
    for index in range(len(totals)):
        if len(first) == len(usable):
            break
        total = totals(index)
        if total is None:
            continue  # a size the model refuses (heads not divisible): the next one
        first.update({g: index for g, room in usable.items() if g not in first and total <= room})
    return first


def _shards_only(candidates: list[Candidate]) -> bool:
    """Whether the layouts only add data-parallel GPUs, ZeRO sharding states over them: what
    a GPU holds then never grows with their number (the states shrink, the rest stays;
    tests/test_layouts.py checks it on five model families, three methods and three
    frameworks)."""
    return bool(candidates) and all(set(fields) <= {"parallel.data", "parallel.zero_stage"}
                                    for _, fields, _ in candidates)


def _bisected(totals: _Totals, usable: Mapping[str, int]) -> dict[str, int] | None:
    """_scanned's answer for totals that never grow along the candidates, found by bisection
    (the largest count first: a GPU that it does not fit never fits); None when a layout is
    refused, where the order alone decides."""
    first: dict[str, int] = {}
    if not usable:
        return first
    last = len(totals) - 1
    lowest = totals(last)
    if lowest is None:
        return None
    for gpu, room in usable.items():
        if lowest > room:
            continue
        lo, hi = 0, last  # the first fit lies in [lo, hi]; it fits at hi
        while lo < hi:
            mid = (lo + hi) // 2
            total = totals(mid)
            if total is None:
                return None
            if total <= room:
                hi = mid
            else:
                lo = mid + 1
        first[gpu] = hi
    return first


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
            # sequence parallelism follows the tensor size (the framework's default applies
            # only above 1): derived again, whether the request left it out or echoes a
            # normalized request's value for its own size
            out.append((current * k, {"parallel.tensor": t, "parallel.sequence_parallel": None},
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


