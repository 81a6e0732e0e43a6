"""Ranked changes that make a request fit a GPU: `vramcalc.fit_changes` (docs/api.md).

The candidates are the request's own levers, per training framework or inference engine
(data/levers.json: who offers each lever and with which values, its cost class and its cost
in words, each with a source). Every candidate is sent through `estimate`, the ground truth:
a change is suggested only when the target GPU's fit row of the changed request says it
fits. Nothing here computes memory: the levers that are sizes (micro batch, sequence or
context length, batch, -ngl, max_model_len) take their values from the fit table and the
engines' details of an answer. The work is bounded by `max_evaluations` estimates.

Search: each lever alone, its values tried from the strongest (does anything fit?) and
bisected down to the mildest that fits; then the sizes the base answer allows; then pairs
of levers that did not fit alone (a lever with a size, or two levers), the cheapest and the
most promising first, until the evaluations run out.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from itertools import combinations
from typing import TYPE_CHECKING, Any

from . import catalogs
from ._version import __version__
from .errors import Problem, RequestError, show
from .jsonable import with_fields
from .units import natural_size

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Mapping

    Estimate = Callable[[Any], dict[str, Any]]

MAX_EVALUATIONS = 60  # estimates per call, the base request's included
EVALUATIONS_LIMIT = 500  # the most a caller may allow
# Without a `gpus` count, suggestions add GPUs up to one node of 8 for inference (DGX/HGX
# boxes: tensor parallelism wants NVLink), and for training up to 8 times the request's GPUs
# (at least one node; data parallelism spans nodes).
NODE_GPUS = 8
GPU_COUNTS = (2, 4, 8, 16, 32, 64)
SUGGESTIONS = 10  # the most suggestions returned
CLOSEST = 5  # near misses returned when nothing fits
LENGTH_STEP = 64  # suggested sequence and context lengths are rounded down to a multiple
# A pair of a lever and a size is listed only if the size it allows differs by at least this
# fraction from what the size alone allows (a longer context, more layers on the GPU).
MIN_SIZE_GAIN = 0.10
CLASSES = ("free", "speed", "quality", "workload", "hardware")
RANKING = ("cost class first (free, speed, quality, workload, hardware; a pair takes the "
           "class of its costlier change), then single changes before pairs, then the levers "
           "in a fixed order from the mildest to the costliest (a pair by its costlier lever), "
           "then the most headroom on the target GPU; each lever is offered at its mildest "
           "value that fits")
# pairs the frameworks refuse: optimizer_in_backward needs one micro-step and no ZeRO; the
# AdamW implementation means nothing for bitsandbytes' 8-bit optimizers
_EXCLUSIVE = frozenset({
    frozenset({"optimizer_in_backward", "micro_batch"}),
    frozenset({"optimizer_in_backward", "zero"}),
    frozenset({"optimizer_in_backward", "offload"}),
    frozenset({"optimizer_in_backward", "data_parallel"}),
    frozenset({"optimizer_implementation", "optimizer_8bit"}),
})


@dataclass(frozen=True, kw_only=True, slots=True)
class Change:
    """One lever at one value: the request fields it sets (dotted paths) and its cost."""

    lever: str
    value: Any  # the lever's value (a size for the size levers)
    fields: tuple[tuple[str, Any], ...]
    label: str
    cost_class: str
    cost: str
    how: str
    position: int  # the lever's place in data/levers.json (mildest first within a class)
    strength: int = 0  # the value's place in its lever's ladder (0: the mildest)


@dataclass(frozen=True, kw_only=True, slots=True)
class Lever:
    """A lever's values from the mildest to the strongest, or (`size`) a rule that reads
    its value from an answer's fit row or details."""

    id: str
    cost_class: str
    values: tuple[Change, ...] = ()
    size: Callable[[dict[str, Any]], Change | None] | None = None


@dataclass(frozen=True, kw_only=True, slots=True)
class Outcome:
    """A set of changes and what `estimate` answered for it on the target GPU."""

    changes: tuple[Change, ...]
    response: dict[str, Any]
    fits: bool
    total: int
    headroom: int

    @property
    def levers(self) -> frozenset[str]:
        return frozenset(c.lever for c in self.changes)

    @property
    def cost_class(self) -> str:
        return max((c.cost_class for c in self.changes), key=CLASSES.index, default="free")

    def rank_key(self) -> tuple[Any, ...]:
        """RANKING: class, single before pair, the levers' places (the costliest first),
        headroom, and the fields themselves so that no two outcomes tie."""
        return (CLASSES.index(self.cost_class), len(self.changes),
                tuple(sorted(((c.position, c.strength) for c in self.changes), reverse=True)),
                -self.headroom, _key(_fields(self.changes)))


def fit_changes(
    request: Any, *, gpu: Any, gpus: Any, max_evaluations: Any, estimate: Estimate,
) -> dict[str, Any]:
    """The changes that make `request` fit on `gpu` (default: the request's own), ranked;
    bad input gives `{"error": {"problems": [...]}}` (docs/api.md)."""
    budget = MAX_EVALUATIONS if max_evaluations is None else max_evaluations
    problems = _check_arguments(gpu, gpus, budget)
    if problems:
        return RequestError(problems).to_dict()
    if not isinstance(request, dict):
        return estimate(request)  # the contract's own message for a request that is no object
    target = gpu if gpu is not None else request.get("gpu")
    if target is None:
        return RequestError([Problem(field="gpu", message="is required: the GPU the request "
                                     "should fit (give gpu, or set the request's gpu)")]).to_dict()
    raw = dict(request, gpu=target)
    if isinstance(raw.get("fit_gpus"), list) and target not in raw["fit_gpus"]:
        raw["fit_gpus"] = [*raw["fit_gpus"], target]
    runner = _Runner(raw, target, estimate, budget)
    base = runner.run(())
    if base is None:
        return runner.error or {}
    ctx = _context(raw, base, gpus)
    if ctx.current_gpus > ctx.gpu_cap and gpus is not None:
        return RequestError([Problem(field="gpus", message=f"the request already uses "
                                     f"{ctx.current_gpus} GPUs; give at least that many, or "
                                     "lower its parallel sizes")]).to_dict()
    found: list[Outcome] = []
    closest: list[Outcome] = []
    bigger: list[Outcome] = []
    if base.fits:
        bigger = _bigger(ctx, runner)
    else:
        found, closest = _search(ctx, _levers(ctx), runner)
    return _answer(ctx, base, runner, found, closest, bigger)


def _check_arguments(gpu: Any, gpus: Any, budget: Any) -> list[Problem]:
    out = []
    if gpu is not None and (not isinstance(gpu, str) or gpu not in catalogs.gpus()):
        out.append(Problem(field="gpu", message="must be a GPU id from the catalog (e.g. "
                           f"'rtx-4090'), got {show(gpu)}"))
    most = GPU_COUNTS[-1]
    if gpus is not None and (isinstance(gpus, bool) or not isinstance(gpus, int)
                             or not 1 <= gpus <= most):
        out.append(Problem(field="gpus", message=f"must be an integer from 1 to {most}, got "
                           f"{show(gpus)}"))
    if isinstance(budget, bool) or not isinstance(budget, int) or not 1 <= budget <= \
            EVALUATIONS_LIMIT:
        out.append(Problem(field="max_evaluations", message="must be an integer from 1 to "
                           f"{EVALUATIONS_LIMIT}, got {show(budget)}"))
    return out


# ----------------------------------------------------------------------------------------
# Evaluating candidates


def _fields(changes: Iterable[Change]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for change in changes:
        out.update(change.fields)
    return out


def _key(fields: Mapping[str, Any]) -> str:
    return json.dumps(sorted(fields.items()), default=str)


class _Runner:
    """Sends candidates through `estimate` on the target GPU, at most `budget` times;
    answers are kept by their fields, so no request is estimated twice."""

    def __init__(self, raw: dict[str, Any], target: Any, estimate: Estimate,
                 budget: int) -> None:
        # a catalog id, or the request's own GPU object (its row is always in the answer)
        self.raw, self.target, self.estimate, self.budget = raw, target, estimate, budget
        self.fit_gpus = [target] if isinstance(target, str) else []
        self.count = 0
        self.error: dict[str, Any] | None = None  # the base request's problems
        self._seen: dict[str, Outcome | None] = {}

    @property
    def exhausted(self) -> bool:
        return self.count >= self.budget

    def run(self, changes: tuple[Change, ...]) -> Outcome | None:
        """The outcome of `changes`; None when the request is refused or the budget is
        spent. Changes that set one field to two values are never sent."""
        fields: dict[str, Any] = {}
        for change in changes:
            for path, value in change.fields:
                if fields.get(path, value) != value:
                    return None
                fields[path] = value
        key = _key(fields)
        if key in self._seen:
            seen = self._seen[key]
            return None if seen is None else Outcome(
                changes=changes, response=seen.response, fits=seen.fits, total=seen.total,
                headroom=seen.headroom)
        if self.exhausted:
            return None
        self.count += 1
        # only the target's fit row is needed: the other rows do not change it
        response = self.estimate(with_fields(self.raw, {**fields, "fit_gpus": self.fit_gpus}))
        outcome = None
        if "error" in response:
            if not changes:
                self.error = response
        else:
            fits, headroom = _fits(response)
            outcome = Outcome(changes=changes, response=response, fits=fits,
                              total=int(response["total_bytes"]), headroom=headroom)
        self._seen[key] = outcome
        return outcome


def _fits(response: dict[str, Any]) -> tuple[bool, int]:
    """(fits, headroom) on the target: its fit row's. vLLM's row fits when vLLM starts with
    one max_model_len request: here its pool must also hold batch_size of them at once
    (the row's max_batch_size), and each request beyond the first takes its KV bytes
    (details.vllm.kv_cache_needed_bytes) from the headroom."""
    row = response["fit"]["gpus"][0]
    fits, headroom = bool(row["fits"]), int(row["headroom_bytes"])
    vllm = response["details"].get("vllm")
    if vllm is not None:
        batch = int(response["request"]["batch_size"])
        fits = fits and row["max_batch_size"] >= batch
        headroom -= (batch - 1) * int(vllm["kv_cache_needed_bytes"])
    return fits, headroom


# ----------------------------------------------------------------------------------------
# The request's levers


@dataclass(frozen=True, kw_only=True, slots=True)
class _Context:
    raw: dict[str, Any]  # the request as given, with the target GPU
    base: Outcome
    mode: str
    kind: str  # the framework (training) or the engine (inference)
    gpu_cap: int  # the most GPUs a suggestion may use
    gpus_given: bool
    current_gpus: int
    sm: int  # the target's CUDA compute capability x10 (0: not an NVIDIA GPU)

    @property
    def echo(self) -> dict[str, Any]:
        echo: dict[str, Any] = self.base.response["request"]
        return echo

    def get(self, path: str, response: dict[str, Any] | None = None) -> Any:
        """A field of the normalized request (of the base answer, or of `response`)."""
        node: Any = (response or self.base.response)["request"]
        for part in path.split("."):
            node = node.get(part) if isinstance(node, dict) else None
        return node

    def given(self, path: str) -> bool:
        """Whether the caller's request sets `path` (not null)."""
        node: Any = self.raw
        for part in path.split("."):
            node = node.get(part) if isinstance(node, dict) else None
        return node is not None


def _context(raw: dict[str, Any], base: Outcome, gpus: int | None) -> _Context:
    echo = base.response["request"]
    mode = echo["mode"]
    if mode == "training":
        kind, current = echo["framework"], int(base.response["details"]["gpus"])
    else:
        kind = echo["engine"]
        current = int(echo["parallel"]["tensor"]) * int(echo["parallel"].get("pipeline", 1))
    most = NODE_GPUS * current if mode == "training" else max(NODE_GPUS, current)
    return _Context(raw=raw, base=base, mode=mode, kind=kind,
                    gpu_cap=gpus if gpus is not None else min(most, GPU_COUNTS[-1]),
                    gpus_given=gpus is not None, current_gpus=current,
                    sm=_sm(echo["gpu"]))


def _sm(gpu: Any) -> int:
    """The compute capability x10 of the echoed `gpu`: a catalog id or a GPU's fields."""
    if isinstance(gpu, str):
        return catalogs.gpus()[gpu].sm
    major, _, minor = str(gpu.get("compute_capability") or "0.0").partition(".")
    return 10 * int(major) + int(minor or 0)


@dataclass(frozen=True, kw_only=True, slots=True)
class _Entry:
    """One lever of data/levers.json, as offered by the request's framework or engine."""

    data: Mapping[str, Any]
    position: int
    offer: Any  # the values the framework or engine offers (or true, or a ZeRO stage)
    kind: str

    @property
    def id(self) -> str:
        lever_id: str = self.data["id"]
        return lever_id

    def change(self, value: Any, fields: Mapping[str, Any], *, cost_class: str | None = None,
               **words: Any) -> Change:
        """The change that sets `fields`; its texts are those of `value` in the data, with
        {placeholders} filled from `value` and `words`."""
        text = self.data.get("values", {}).get(_text(value), {})
        how = text.get("how") or self.data.get("how", {}).get(self.kind, "")
        filled = {"value": value, **words}
        return Change(lever=self.id, value=value, fields=tuple(sorted(fields.items())),
                      label=_fill(text.get("label") or self.data["label"], filled),
                      cost=_fill(text.get("cost") or self.data["cost"], filled),
                      how=_fill(how, filled), cost_class=cost_class or self.data["class"],
                      position=self.position)


def _text(value: Any) -> str:
    return json.dumps(value) if isinstance(value, bool) else str(value)


def _fill(template: str, words: Mapping[str, Any]) -> str:
    """`template` with each {name} replaced (not str.format: the texts quote JSON)."""
    for name, value in words.items():
        template = template.replace("{" + name + "}", _text(value))
    return template


def _levers(ctx: _Context) -> list[Lever]:
    """Every lever the request's framework or engine offers, in data/levers.json order."""
    out = []
    offers = "frameworks" if ctx.mode == "training" else "engines"
    for position, data in enumerate(catalogs.load("levers.json")[ctx.mode]):
        offer = data[offers].get(ctx.kind)
        if offer is None:
            continue
        entry = _Entry(data=data, position=position, offer=offer, kind=ctx.kind)
        lever = _BUILDERS[data["id"]](ctx, entry)
        if lever is not None and (lever.values or lever.size is not None):
            out.append(lever)
    return out


def _ladder(entry: _Entry, changes: Iterable[Change]) -> Lever:
    """A lever whose values are `changes`, from the mildest to the strongest."""
    return Lever(id=entry.id, cost_class=entry.data["class"],
                 values=tuple(replace(c, strength=i) for i, c in enumerate(changes)))


def _choice(ctx: _Context, entry: _Entry, keep: Callable[[Any, Any], bool]) -> Lever:
    """A lever that sets one field to one of the offered values (those `keep` accepts
    given the current value), in the data's order."""
    field = entry.data["field"]
    current = ctx.get(field)
    order = entry.data.get("order")
    values = [v for v in entry.offer if v != current and keep(v, current)
              and _runs_on(ctx, entry, v)]
    if order is not None:
        values = [v for v in values if current in order and order.index(v) > order.index(current)]
    return _ladder(entry, (entry.change(v, {field: v}) for v in values))


def _runs_on(ctx: _Context, entry: _Entry, value: Any) -> bool:
    """Whether the target GPU has the compute capability the value's kernels need."""
    least = entry.data.get("values", {}).get(_text(value), {}).get("min_sm", 0)
    return not ctx.sm or ctx.sm >= least


def _any(value: Any, current: Any) -> bool:
    return True


def _simple(ctx: _Context, entry: _Entry) -> Lever:
    return _choice(ctx, entry, _any)


def _adamw_only(ctx: _Context, entry: _Entry) -> Lever | None:
    return _choice(ctx, entry, _any) if ctx.get("optimizer") == "adamw" else None


def _in_backward(ctx: _Context, entry: _Entry) -> Lever | None:
    if ctx.get("gradient_accumulation_steps") != 1 or ctx.get("parallel.zero_stage"):
        return None
    return _choice(ctx, entry, _any)


def _higher(ctx: _Context, entry: _Entry) -> Lever:
    return _choice(ctx, entry, lambda v, current: v > current)


def _lower(ctx: _Context, entry: _Entry) -> Lever:
    return _choice(ctx, entry, lambda v, current: v < current)


def _weight_format(ctx: _Context, entry: _Entry) -> Lever:
    formats = catalogs.weight_formats()
    bits = formats[ctx.get("weight_format")].effective_bits()
    return _choice(ctx, entry, lambda v, _: formats[v].effective_bits() < bits)


def _kv_cache_dtype(ctx: _Context, entry: _Entry) -> Lever:
    kvs = catalogs.kv_dtypes()
    if ctx.kind != "llama.cpp":
        bits = kvs[ctx.get("kv_cache_dtype")].bits
        return _choice(ctx, entry, lambda v, _: kvs[v].bits < bits)
    # llama.cpp: -ctk and -ctv, named as llama-server names them; a quantized V needs -fa
    from .engines.llama_cpp import CACHE_TYPES  # name -> KV dtype id

    names = {kv_id: name for name, kv_id in CACHE_TYPES.items()}
    bits = max(kvs[CACHE_TYPES[ctx.get(f"llama_cpp.cache_type_{x}")]].bits for x in "kv")
    changes = []
    for v in entry.offer:
        if kvs[v].bits < bits:
            fields: dict[str, Any] = {"llama_cpp.cache_type_k": names[v],
                                      "llama_cpp.cache_type_v": names[v]}
            if not ctx.get("llama_cpp.flash_attn"):
                fields["llama_cpp.flash_attn"] = True
            changes.append(entry.change(v, fields))
    return _ladder(entry, changes)


def _halvings(ctx: _Context, entry: _Entry, current: int, floor: int) -> Lever:
    field = entry.data["field"]
    values = [current // 2, current // 4, current // 8]
    return _ladder(entry, (entry.change(v, {field: v}) for v in values if floor <= v < current))


def _max_num_seqs(ctx: _Context, entry: _Entry) -> Lever:
    vllm = ctx.base.response["details"]["vllm"]
    return _halvings(ctx, entry, vllm["max_num_seqs"], max(1, ctx.get("batch_size")))


def _max_num_batched_tokens(ctx: _Context, entry: _Entry) -> Lever:
    vllm = ctx.base.response["details"]["vllm"]
    # vLLM refuses max_num_batched_tokens below max_num_seqs
    return _halvings(ctx, entry, vllm["max_num_batched_tokens"], vllm["max_num_seqs"])


def _zero(ctx: _Context, entry: _Entry) -> Lever | None:
    data, stage = ctx.get("parallel.data"), ctx.get("parallel.zero_stage")
    if data < 2:
        return None  # nothing to shard over
    return _ladder(entry, (entry.change(s, {"parallel.zero_stage": s}, stage=s, gpus=data)
                           for s in entry.offer if s > stage))


def _offload(ctx: _Context, entry: _Entry) -> Lever:
    stage = ctx.get("parallel.zero_stage")
    changes = []
    if "optimizer" in entry.offer and not ctx.get("parallel.offload_optimizer"):
        changes.append(entry.change("optimizer", {
            "parallel.zero_stage": max(stage, 2), "parallel.offload_optimizer": True}))
    if "optimizer_and_parameters" in entry.offer and not ctx.get("parallel.offload_parameters"):
        changes.append(entry.change("optimizer_and_parameters", {
            "parallel.zero_stage": 3, "parallel.offload_optimizer": True,
            "parallel.offload_parameters": True}))
    return _ladder(entry, changes)


def _gpu_class(ctx: _Context) -> str:
    """More GPUs cost hardware, unless the caller said they have them (then: speed)."""
    return "speed" if ctx.gpus_given else "hardware"


def _data_parallel(ctx: _Context, entry: _Entry) -> Lever:
    data = ctx.get("parallel.data")
    others = ctx.current_gpus // data  # tensor x pipeline
    stage = max(ctx.get("parallel.zero_stage"), entry.offer)
    return _ladder(entry, (
        entry.change(n, {"parallel.data": n, "parallel.zero_stage": stage},
                     cost_class=_gpu_class(ctx), gpus=n, stage=stage)
        for n in GPU_COUNTS if n > data and n * others <= ctx.gpu_cap))


def _tensor_parallel(ctx: _Context, entry: _Entry) -> Lever:
    tp = ctx.get("parallel.tensor")
    others = ctx.current_gpus // tp
    model = ctx.base.response["model"]
    return _ladder(entry, (
        entry.change(n, {"parallel.tensor": n}, cost_class=_gpu_class(ctx), gpus=n)
        for n in GPU_COUNTS
        if n > tp and n * others <= ctx.gpu_cap and _splits(model, n)))


def _splits(model: Mapping[str, Any], tp: int) -> bool:
    """Tensor parallelism divides the query heads, and the KV heads unless there are fewer
    of them than GPUs (the parser's check_tensor_parallel)."""
    heads, kv = int(model["attention_heads"]), int(model["kv_heads"])
    return heads % tp == 0 and (kv % tp == 0 or kv < tp)


def _row(response: dict[str, Any]) -> dict[str, Any]:
    row: dict[str, Any] = response["fit"]["gpus"][0]
    return row


def _round_length(n: int) -> int:
    return n // LENGTH_STEP * LENGTH_STEP if n >= LENGTH_STEP else n


def _micro_batch(ctx: _Context, entry: _Entry) -> Lever:
    def size(response: dict[str, Any]) -> Change | None:
        if ctx.get("optimizer_in_backward", response):
            return None  # one micro-step per optimizer step
        micro = ctx.get("micro_batch_size", response)
        per_step = micro * ctx.get("gradient_accumulation_steps", response)
        most = min(_row(response)["max_batch_size"], micro - 1)
        smaller = [d for d in range(most, 0, -1) if per_step % d == 0]
        if not smaller:
            return None
        d = smaller[0]
        tokens = per_step * ctx.get("sequence_length", response)
        return entry.change(d, {"micro_batch_size": d, "gradient_accumulation_steps":
                                per_step // d}, micro=d, steps=per_step // d,
                            tokens=f"{tokens:,}")
    return Lever(id=entry.id, cost_class=entry.data["class"], size=size)


def _length_lever(entry: _Entry, field: str, longest: Callable[[dict[str, Any]], int],
                  current: Callable[[dict[str, Any]], int]) -> Lever:
    def size(response: dict[str, Any]) -> Change | None:
        value = _round_length(longest(response))
        if not 0 < value < current(response):
            return None
        return entry.change(value, {field: value}, length=value)
    return Lever(id=entry.id, cost_class=entry.data["class"], size=size)


def _sequence_length(ctx: _Context, entry: _Entry) -> Lever:
    return _length_lever(entry, "sequence_length", lambda r: _row(r)["max_context_length"],
                         lambda r: ctx.get("sequence_length", r))


def _context_field(ctx: _Context) -> tuple[str, str]:
    """(the field a shorter context sets, the normalized field that holds the context):
    the engine's own option where the request sets it, else context_length."""
    own = {"vllm": "vllm.max_model_len", "llama.cpp": "llama_cpp.n_ctx"}.get(ctx.kind)
    if own is None:
        return "context_length", "context_length"
    return (own if ctx.given(own) else "context_length"), own


def _context_longest(ctx: _Context, response: dict[str, Any]) -> int:
    """The longest context the answer allows: the fit row's; vLLM's largest max_model_len,
    or for batch_size > 1 the tokens its KV pool holds shared by the batch (verified)."""
    if ctx.kind != "vllm":
        return int(_row(response)["max_context_length"])
    vllm = response["details"]["vllm"]
    batch = int(response["request"]["batch_size"])
    longest = int(vllm["max_model_len_that_fits"])
    return longest if batch == 1 else min(longest, int(vllm["kv_cache_tokens"]) // batch)


def _context_length(ctx: _Context, entry: _Entry) -> Lever:
    field, holder = _context_field(ctx)
    return _length_lever(entry, field, lambda r: _context_longest(ctx, r),
                         lambda r: ctx.get(holder, r))


def _batch_size(ctx: _Context, entry: _Entry) -> Lever:
    def size(response: dict[str, Any]) -> Change | None:
        value = _row(response)["max_batch_size"]
        if not 0 < value < ctx.get("batch_size", response):
            return None
        return entry.change(value, {"batch_size": value})
    return Lever(id=entry.id, cost_class=entry.data["class"], size=size)


def _n_gpu_layers(ctx: _Context, entry: _Entry) -> Lever:
    def size(response: dict[str, Any]) -> Change | None:
        llama = response["details"]["llama_cpp"]
        value, layers = llama["max_n_gpu_layers"], llama["n_layer"] + 1
        if value is None or not 0 < value < llama["n_gpu_layers"]:
            return None
        return entry.change(value, {"llama_cpp.n_gpu_layers": value}, layers=layers)
    return Lever(id=entry.id, cost_class=entry.data["class"], size=size)


_BUILDERS: dict[str, Callable[[_Context, _Entry], Lever | None]] = {
    "loss": _simple,
    "optimizer_implementation": _adamw_only,
    "optimizer_in_backward": _in_backward,
    "gradient_checkpointing": _simple,
    "micro_batch": _micro_batch,
    "zero": _zero,
    "offload": _offload,
    "method": _simple,
    "optimizer_8bit": _adamw_only,
    "sequence_length": _sequence_length,
    "data_parallel": _data_parallel,
    "tensor_parallel": _tensor_parallel,
    "attention": _simple,
    "static_cache": _simple,
    "flash_attn": _simple,
    "gpu_memory_utilization": _higher,
    "max_num_seqs": _max_num_seqs,
    "max_num_batched_tokens": _max_num_batched_tokens,
    "enforce_eager": _simple,
    "n_ubatch": _lower,
    "n_gpu_layers": _n_gpu_layers,
    "weight_format": _weight_format,
    "kv_cache_dtype": _kv_cache_dtype,
    "context_length": _context_length,
    "batch_size": _batch_size,
}


# ----------------------------------------------------------------------------------------
# The search


def _mildest(runner: _Runner, fixed: tuple[Change, ...], values: tuple[Change, ...],
             ) -> tuple[Outcome | None, Outcome | None]:
    """(the mildest value that fits beside `fixed`, or None; the strongest value tried that
    does not fit, or None). Values are ordered by strength: the strongest is tried first
    (does any fit?), then a bisection finds the mildest."""
    strongest = runner.run((*fixed, values[-1]))
    if strongest is None or not strongest.fits:
        return None, strongest
    best, miss, lo, hi = strongest, None, 0, len(values) - 1
    while lo < hi and not runner.exhausted:
        mid = (lo + hi) // 2
        out = runner.run((*fixed, values[mid]))
        if out is not None and out.fits:
            best, hi = out, mid
        else:
            miss, lo = out, mid + 1
    return best, miss


def _sized(runner: _Runner, fixed: tuple[Change, ...], lever: Lever,
           response: dict[str, Any]) -> Outcome | None:
    """`fixed` plus the size `lever` reads from `response`; when that misses (more
    accumulation steps keep the gradients), once more from the miss's own answer."""
    assert lever.size is not None
    change = lever.size(response)
    if change is None:
        return None
    out = runner.run((*fixed, change))
    if out is not None and not out.fits:
        again = lever.size(out.response)
        if again is not None and again != change:
            out = runner.run((*fixed, again)) or out
    return out


def _compatible(a: Outcome, b: Outcome | Lever) -> bool:
    levers_b = b.levers if isinstance(b, Outcome) else frozenset({b.id})
    if a.levers & levers_b or any(frozenset({x, y}) in _EXCLUSIVE
                                  for x in a.levers for y in levers_b):
        return False
    if isinstance(b, Outcome):
        return not set(_fields(a.changes)) & set(_fields(b.changes))
    return True


def _search(ctx: _Context, levers: list[Lever],
            runner: _Runner) -> tuple[list[Outcome], list[Outcome]]:
    """(the fitting outcomes, ranked; the closest misses when none fits)."""
    by_id = {lever.id: lever for lever in levers}
    sizes = [lever for lever in levers if lever.size is not None]
    fitting: list[Outcome] = []
    misses: list[Outcome] = []
    # 1. each lever alone: its mildest value that fits, and its strongest miss (for the pairs)
    near: list[Outcome] = []
    size_alone: dict[str, Any] = {}
    for lever in levers:
        if lever.values:
            best, miss = _mildest(runner, (), lever.values)
        else:
            out = _sized(runner, (), lever, ctx.base.response)
            best, miss = (out, None) if out is not None and out.fits else (None, out)
            if best is not None:
                size_alone[lever.id] = best.changes[-1].value
        if best is not None:
            fitting.append(best)
        if miss is not None:
            misses.append(miss)
            if miss.headroom > ctx.base.headroom and lever.values:
                near.append(miss)
    # 2. pairs: a lever that saves something, with a size read from its answer or with
    # another such lever; the cheapest class first, then the likeliest to fit
    plans: list[tuple[tuple[Any, ...], Outcome, Outcome | Lever]] = []
    for a in near:
        for size in sizes:
            if _compatible(a, size):
                worst = max(CLASSES.index(a.cost_class), CLASSES.index(size.cost_class))
                plans.append(((worst, 0, 0, a.rank_key()), a, size))
    for a, b in combinations(near, 2):
        if _compatible(a, b):
            guess = a.headroom + b.headroom - ctx.base.headroom  # savings taken as additive
            worst = max(CLASSES.index(a.cost_class), CLASSES.index(b.cost_class))
            plans.append(((worst, int(guess < 0), -guess, a.rank_key(), b.rank_key()), a, b))
    plans.sort(key=lambda plan: plan[0])
    for (worst, *_), first, second in plans:
        if runner.exhausted or _settled(fitting, worst):
            break
        if isinstance(second, Lever) and not _may_gain(first, second, size_alone.get(second.id)):
            continue  # whatever it answers, the pair would allow too little: not estimated
        out = (_sized_pair(runner, by_id, first, second) if isinstance(second, Lever)
               else _pair(runner, by_id, first, second))
        if out is None:
            continue
        if not out.fits:
            misses.append(out)
        elif isinstance(second, Lever) and not _gains(out.changes[-1].value,
                                                      size_alone.get(second.id)):
            continue  # hardly more than the size alone allows: not worth the other change
        else:
            fitting.append(out)
    ranked = _rank(fitting)
    return ranked, [] if ranked else _closest(misses)


def _settled(fitting: list[Outcome], worst: int) -> bool:
    """Whether the list is full of outcomes of a cheaper class than `worst`: the plans left
    are of that class or costlier (they are sorted by it), so none of them could enter the
    list, whatever it answers."""
    cheaper = [out for out in fitting if CLASSES.index(out.cost_class) < worst]
    # the ranking puts every cheaper outcome first: the list is full of them if enough
    # remain once _rank has dropped repeats
    return len(cheaper) >= SUGGESTIONS and len(_rank(cheaper)) == SUGGESTIONS


def _gains(value: int, alone: int | None) -> bool:
    """Whether a size allowed by a pair is MIN_SIZE_GAIN above the size alone (a pair that
    allows less than the size alone is worse than it: one change more, a smaller size)."""
    return alone is None or value >= (1 + MIN_SIZE_GAIN) * alone


def _may_gain(a: Outcome, size: Lever, alone: int | None) -> bool:
    """Whether `a` with `size` can gain: the size read from a's answer is the largest the
    pair tries (after a miss, _sized reads a smaller one from the miss: every size rule
    answers less than the request's own value), so when it does not gain, none will."""
    assert size.size is not None
    change = size.size(a.response)
    return change is not None and _gains(change.value, alone)


def _pair(runner: _Runner, by_id: Mapping[str, Lever], a: Outcome,
          b: Outcome) -> Outcome | None:
    """Both levers at their strongest; if that fits, each relaxed to its mildest value."""
    both = runner.run((*a.changes, *b.changes))
    if both is None or not both.fits:
        return both
    (change_a,), (change_b,) = a.changes, b.changes
    milder_a, _ = _mildest(runner, (change_b,), _upto(by_id[change_a.lever], change_a))
    change_a = milder_a.changes[-1] if milder_a is not None else change_a
    milder_b, _ = _mildest(runner, (change_a,), _upto(by_id[change_b.lever], change_b))
    return milder_b or milder_a or both


def _sized_pair(runner: _Runner, by_id: Mapping[str, Lever], a: Outcome,
                size: Lever) -> Outcome | None:
    """A lever at its strongest with the size its answer allows; if that fits, the lever
    relaxed to its mildest value that still fits beside that size."""
    out = _sized(runner, a.changes, size, a.response)
    if out is None or not out.fits:
        return out
    (change,), sized = a.changes, out.changes[-1]
    milder, _ = _mildest(runner, (sized,), _upto(by_id[change.lever], change))
    return (replace(milder, changes=(milder.changes[-1], sized)) if milder is not None
            else out)


def _upto(lever: Lever, change: Change) -> tuple[Change, ...]:
    return lever.values[:lever.values.index(change) + 1]


def _rank(fitting: list[Outcome]) -> list[Outcome]:
    """Distinct fitting outcomes, without pairs that hold a change that fits alone (at the
    same value), ranked (RANKING)."""
    unique: dict[str, Outcome] = {}
    for out in sorted(fitting, key=Outcome.rank_key):
        unique.setdefault(_key(_fields(out.changes)), out)
    alone = {out.changes[0] for out in unique.values() if len(out.changes) == 1}
    kept = [out for out in unique.values()
            if len(out.changes) == 1 or not alone.intersection(out.changes)]
    return kept[:SUGGESTIONS]


def _closest(misses: list[Outcome]) -> list[Outcome]:
    unique: dict[str, Outcome] = {}
    for out in sorted(misses, key=lambda o: (-o.headroom, o.rank_key())):
        unique.setdefault(_key(_fields(out.changes)), out)
    return list(unique.values())[:CLOSEST]


_BIGGER_WORDS = {
    "micro_batch_size": "micro batch", "batch_size": "batch", "sequence_length":
    "sequence length", "context_length": "context", "vllm.max_model_len": "max_model_len",
    "llama_cpp.n_ctx": "n_ctx", "llama_cpp.n_gpu_layers": "-ngl",
}


def _bigger(ctx: _Context, runner: _Runner) -> list[Outcome]:
    """When the request fits: the largest batch and the longest context of the fit table
    (each with everything else unchanged, and verified), and llama.cpp's largest -ngl."""
    response, echo = ctx.base.response, ctx.echo
    row = _row(response)
    batch = "micro_batch_size" if ctx.mode == "training" else "batch_size"
    length, holder = (("sequence_length", "sequence_length") if ctx.mode == "training"
                      else _context_field(ctx))
    longest = row["max_context_length"] if ctx.kind != "vllm" else _context_longest(ctx, response)
    candidates = [(batch, row["max_batch_size"], echo[batch]),
                  (length, _round_length(longest), ctx.get(holder))]
    if ctx.kind == "llama.cpp":
        llama = response["details"]["llama_cpp"]
        most, current = llama["max_n_gpu_layers"], llama["n_gpu_layers"]
        if most is not None and current < most:
            every = most == llama["n_layer"] + 1  # -ngl -1: every layer, the output included
            candidates.append(("llama_cpp.n_gpu_layers", -1 if every else most, current))
    out = []
    for position, (field, value, current) in enumerate(candidates):
        more = value > current or (field == "llama_cpp.n_gpu_layers" and value == -1)
        if not more:
            continue
        words = _BIGGER_WORDS[field]
        gain = (f"the largest {words} that fits, from {current}" if value != -1 else
                f"every layer on the GPU, from {current}: faster decoding")
        change = Change(lever=field, value=value, fields=((field, value),),
                        label=f"{words} {value}",
                        cost_class="free", cost=gain, how="", position=position)
        found = runner.run((change,))
        if found is not None and found.fits:
            out.append(found)
    return out


# ----------------------------------------------------------------------------------------
# The answer


def _flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    if not isinstance(value, dict):
        return {prefix: value}
    out: dict[str, Any] = {}
    for key, child in value.items():
        if not prefix and key in ("model", "gpu", "fit_gpus"):
            continue
        out.update(_flatten(child, f"{prefix}.{key}" if prefix else key))
    return out


def _implied(before: dict[str, Any], after: dict[str, Any],
             fields: Mapping[str, Any]) -> dict[str, Any]:
    """Normalized fields that changed without being set: a framework's defaults for the new
    method, an engine's defaults for more GPUs, an engine option that follows a field."""
    old, new = _flatten(before), _flatten(after)
    return {path: value for path, value in new.items()
            if path in old and old[path] != value and path not in fields}


def _figures(response: dict[str, Any]) -> dict[str, Any]:
    """The numbers a change may cost or gain, where the answer has them."""
    details, echo = response["details"], response["request"]
    speed = details.get("speed")
    llama = details.get("llama_cpp")
    training = response["mode"] == "training"
    return {
        "tokens_per_optimizer_step": details.get("tokens_per_optimizer_step"),
        "trainable_parameters": response["parameters"]["trainable"] if training else None,
        "gpus": details["gpus"] if training else echo["parallel"]["tensor"],
        "cpu_memory_bytes": sum(details["cpu_memory_bytes"].values()) if training
        else llama["cpu_bytes"] if llama else None,
        "decode_tokens_per_s": speed["decode"]["tokens_per_s_per_sequence"] if speed else None,
        "decode_tokens_per_s_total": speed["decode"]["tokens_per_s_total"] if speed else None,
        "weights_bits_per_parameter": details.get("weights_bits_per_parameter"),
        "kv_cache_bytes_per_token": details.get("kv_cache_bytes_per_token"),
        "max_concurrency": details["vllm"]["max_concurrency"] if "vllm" in details else None,
    }


def _effects(base: dict[str, Any], response: dict[str, Any]) -> dict[str, dict[str, Any]]:
    before, after = _figures(base), _figures(response)
    return {name: {"before": before[name], "after": value} for name, value in after.items()
            if value is not None and before[name] is not None and value != before[name]}


def _effect_words(effects: Mapping[str, Mapping[str, Any]]) -> list[str]:
    words = []
    decode = effects.get("decode_tokens_per_s")
    total = effects.get("decode_tokens_per_s_total")
    if decode and abs(decode["after"] - decode["before"]) >= 0.01 * decode["before"]:
        words.append(f"decode bound {decode['before']:,} → {decode['after']:,} tokens/s per "
                     "sequence" + (f" ({total['before']:,} → {total['after']:,} in all)"
                                   if total and total != decode else ""))
    tokens = effects.get("tokens_per_optimizer_step")
    if tokens:
        words.append(f"{tokens['before']:,} → {tokens['after']:,} tokens per optimizer step")
    trainable = effects.get("trainable_parameters")
    if trainable:
        words.append(f"{trainable['before']:,} → {trainable['after']:,} trainable parameters")
    cpu = effects.get("cpu_memory_bytes")
    if cpu and cpu["after"] > cpu["before"]:
        words.append(f"{natural_size(cpu['after'])} in CPU memory")
    return words


def _suggestion(ctx: _Context, out: Outcome, *, bigger: bool = False) -> dict[str, Any]:
    """One change (or pair) as the answer lists it (docs/api.md); `bigger`: a gain, with no
    cost class."""
    fields = _fields(out.changes)
    effects = _effects(ctx.base.response, out.response)
    words = "; ".join([c.cost for c in out.changes] + _effect_words(effects))
    described: dict[str, Any] = {"gain": words} if bigger else {
        "cost_class": out.cost_class, "cost": words,
        "how": "; ".join(c.how for c in out.changes if c.how)}
    return {
        "changes": fields,
        "implied": _implied(ctx.echo, out.response["request"], fields),
        "levers": [c.lever for c in out.changes],
        "label": " + ".join(c.label for c in out.changes),
        **described,
        "effects": effects,
        "total_bytes": out.total,
        "saved_bytes": ctx.base.total - out.total,
        "headroom_bytes": out.headroom,
        "fits": out.fits,
        "request": with_fields(ctx.raw, fields),
    }


def _answer(ctx: _Context, base: Outcome, runner: _Runner, found: list[Outcome],
            closest: list[Outcome], bigger: list[Outcome]) -> dict[str, Any]:
    row = _row(base.response)
    outcome = "fits" if base.fits else "changes" if found else "nothing_fits"
    return {
        "vramcalc_version": __version__,
        "outcome": outcome,
        "mode": base.response["mode"],
        "model": base.response["model"]["name"],
        "fits": base.fits,
        "target": {"gpu": row["gpu"], "name": row["name"], "memory_bytes": row["memory_bytes"],
                   "usable_bytes": row["usable_bytes"],
                   "gpus": ctx.gpu_cap if ctx.gpus_given else None},
        "current": {"total_bytes": base.total, "headroom_bytes": base.headroom,
                    "fits": base.fits, "gpus": ctx.current_gpus},
        "suggestions": [_suggestion(ctx, out) for out in found],
        "closest": [_suggestion(ctx, out) for out in closest],
        "bigger": [_suggestion(ctx, out, bigger=True) for out in bigger],
        "evaluations": runner.count,
        "max_evaluations": runner.budget,
        "ranking": RANKING,
    }
