"""Training requests: method, batch, precision, optimizer, LoRA / QLoRA, parallelism, with
the framework profile's defaults (data/frameworks.json) filling what the user left out."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .. import activations, catalogs, lora, optimizers, parallel
from ..catalogs import request_limit
from ..jsonable import FLATTEN, ID, OMIT_NONE, as_json
from ..sizes import MiB
from .common import (
    COMMON_KEYS,
    Common,
    Overheads,
    check_tensor_parallel,
    measured_context,
    parse_overheads,
)

if TYPE_CHECKING:
    from ..architecture import ModelSpec
    from ..catalogs import Framework
    from ..errors import Fields

METHODS = ("full", "lora", "qlora")
PRECISIONS = ("fp32", "mixed_bf16", "bf16", "mixed_fp16")
CHECKPOINTING = ("none", "full", "selective", "offloaded")
ATTENTION = ("sdpa", "flash", "eager")
QUANT_TYPES = ("nf4", "fp4")

# The caching allocator's slack in training: reserved minus allocated at the peak, as a
# fraction of the allocated peak. Fixed-shape steps (packed or padded batches) reuse their
# blocks and stay near 5-10 %; 0.10 covers the block rounding of large allocations
# (c10/cuda/CUDACachingAllocator.cpp rounds blocks over 1 MiB to 2 MiB and carves them
# from 20 MiB segments) without modelling variable-length fragmentation.
DEFAULT_RESERVE_FRACTION = 0.10

# What a training process holds on the device before and beside its tensors: driver
# context, loaded kernels, cuBLAS/cuDNN handles. Measured on an H200 (driver 580.159,
# torch 2.11 + CUDA 13.0, lazy module loading): NVML's used memory minus
# max_memory_reserved was 758-762 MiB over 11 training runs
# (tests/data/calibration/cuda_h200_train.jsonl); NCCL adds more with several GPUs.
DEFAULT_CUDA_CONTEXT_BYTES = 768 * MiB

DEFAULTS: dict[str, Any] = {
    "method": "full",
    "micro_batch_size": 1,
    "sequence_length": 2048,
    "gradient_accumulation_steps": 1,
    "momentum": 0.0,
    "framework": "hf_trainer",
    "lora": {"rank": 16, "alpha": 32, "dropout": 0.05},
    "qlora": {"quant_type": "nf4", "double_quant": True, "saves_linear_inputs": False},
    "parallel": {"data": 1, "tensor": 1, "pipeline": 1, "zero_stage": 0,
                 "offload_optimizer": False, "offload_parameters": False,
                 "sequence_parallel": False},
}
FRAMEWORK_FIELDS = ("precision", "optimizer", "optimizer_implementation",
                    "gradient_checkpointing", "attention", "loss", "optimizer_in_backward")
_CHOICES: dict[str, tuple[str, ...]] = {
    "precision": PRECISIONS,
    "optimizer": optimizers.OPTIMIZERS,
    "optimizer_implementation": optimizers.IMPLEMENTATIONS,
    "gradient_checkpointing": CHECKPOINTING,
    "attention": ATTENTION,
    "loss": activations.LOSSES,
}
_TRAINING_KEYS = frozenset({
    "method", "micro_batch_size", "sequence_length", "gradient_accumulation_steps",
    "momentum", "lora", "qlora", "parallel", "framework", *FRAMEWORK_FIELDS,
})


@dataclass(frozen=True, kw_only=True, slots=True)
class LoraSpec:
    rank: int
    alpha: float
    dropout: float
    target_modules: tuple[str, ...] | str  # module names, or "all-linear"


@dataclass(frozen=True, kw_only=True, slots=True)
class QLoraSpec:
    quant_type: str
    double_quant: bool
    saves_linear_inputs: bool  # bitsandbytes <= 0.43.1 kept each 4-bit linear's input


@dataclass(frozen=True, kw_only=True, slots=True)
class TrainingRequest:
    common: Common = field(metadata=FLATTEN)
    framework: Framework = field(metadata=ID)
    method: str
    micro_batch_size: int
    sequence_length: int
    gradient_accumulation_steps: int
    precision: str
    optimizer: str
    optimizer_implementation: str
    momentum: float
    gradient_checkpointing: str
    attention: str
    loss: str
    optimizer_in_backward: bool
    parallel: parallel.ParallelSpec
    overheads: Overheads
    lora: LoraSpec | None = field(metadata=OMIT_NONE)
    qlora: QLoraSpec | None = field(metadata=OMIT_NONE)

    @property
    def spec(self) -> ModelSpec:
        return self.common.spec

    def to_dict(self) -> dict[str, Any]:
        """The normalized request: sent back, it gives the same answer."""
        out: dict[str, Any] = as_json(self)
        return out


def parse_training(f: Fields, common: Common) -> TrainingRequest:
    """Validate a training request; framework defaults fill what the user left out."""
    f.unknown_keys(COMMON_KEYS | _TRAINING_KEYS)
    spec = common.spec
    fws = catalogs.frameworks()
    fw = fws[f.choice("framework", tuple(fws), default=DEFAULTS["framework"])]
    method = f.choice("method", METHODS, default=DEFAULTS["method"])
    defaults = {**fw.defaults, **fw.method_defaults.get(method, {})}
    picked: dict[str, Any] = {}
    for key in FRAMEWORK_FIELDS:
        if not f.has(key):
            picked[key] = defaults[key]
        elif key == "optimizer_in_backward":
            picked[key] = f.boolean(key, default=defaults[key])
        else:
            picked[key] = f.choice(key, _CHOICES[key], default=defaults[key])
    lora_spec = _parse_lora(f, method, spec)
    qlora_spec = _parse_qlora(f, method)
    par = _parse_parallel(f, spec, fw)
    ga = f.integer("gradient_accumulation_steps",
                   default=DEFAULTS["gradient_accumulation_steps"],
                   maximum=request_limit("gradient_accumulation_steps"))
    if picked["optimizer_in_backward"] and ga > 1:
        f.add("optimizer_in_backward", "cannot be combined with gradient_accumulation_steps > 1 "
              "(each parameter is updated as soon as its gradient exists)")
    if picked["optimizer_in_backward"] and par.zero_stage:
        f.add("optimizer_in_backward", "is a single-process technique; it cannot be combined "
              "with parallel.zero_stage > 0")
    return TrainingRequest(
        common=common, framework=fw, method=method,
        micro_batch_size=f.integer("micro_batch_size", default=DEFAULTS["micro_batch_size"],
                                   maximum=request_limit("micro_batch_size")),
        sequence_length=f.integer("sequence_length", default=DEFAULTS["sequence_length"],
                                  maximum=request_limit("sequence_length")),
        gradient_accumulation_steps=ga,
        precision=picked["precision"], optimizer=picked["optimizer"],
        optimizer_implementation=picked["optimizer_implementation"],
        momentum=f.number("momentum", default=DEFAULTS["momentum"], maximum=1.0),
        gradient_checkpointing=picked["gradient_checkpointing"],
        attention=picked["attention"], loss=picked["loss"],
        optimizer_in_backward=picked["optimizer_in_backward"],
        lora=lora_spec, qlora=qlora_spec, parallel=par,
        overheads=parse_overheads(f, context=measured_context(common.device,
                                                              DEFAULT_CUDA_CONTEXT_BYTES),
                                  reserve=DEFAULT_RESERVE_FRACTION, device=common.device),
    )


def _parse_lora(f: Fields, method: str, spec: ModelSpec) -> LoraSpec | None:
    if method == "full":
        if f.has("lora"):
            f.add("lora", "is only used with method lora or qlora")
        return None
    raw = f.sub("lora")
    raw.unknown_keys(("rank", "alpha", "dropout", "target_modules"))
    d = DEFAULTS["lora"]
    targets: tuple[str, ...] | str = lora.default_targets(spec)
    given = raw.get("target_modules")
    if given == lora.ALL_LINEAR:
        targets = lora.ALL_LINEAR
    elif isinstance(given, list) and given and all(isinstance(x, str) for x in given):
        unknown = [x for x in given if x not in lora.MODULE_ROLES]
        missing = lora.unmatched(spec, tuple(given))
        if unknown:
            raw.add("target_modules", f"unknown module names: {', '.join(unknown)}; "
                    + _own_modules(spec, "this model's"))
        elif missing:
            raw.add("target_modules", f"this model has no {', '.join(missing)} layers; "
                    + _own_modules(spec, "its"))
        # a set of modules: echoed once each, in the model's order, whatever the order given
        targets = tuple(name for name in lora.module_names(spec) if name in given)
    elif given is not None:
        raw.add("target_modules", "must be a non-empty list of module names or \"all-linear\"")
    return LoraSpec(
        rank=raw.integer("rank", default=d["rank"], maximum=request_limit("lora.rank")),
        alpha=raw.number("alpha", default=d["alpha"], maximum=request_limit("lora.alpha")),
        dropout=raw.number("dropout", default=d["dropout"], maximum=0.99),
        target_modules=targets,
    )


def _own_modules(spec: ModelSpec, whose: str) -> str:
    """What `target_modules` may name for this model (lora.module_names)."""
    names = lora.module_names(spec)
    if not names:
        return f"{whose} modules have no name LoRA targets here: use \"all-linear\""
    return f"{whose} modules: {', '.join(names)}, or \"all-linear\""


def _parse_qlora(f: Fields, method: str) -> QLoraSpec | None:
    if method != "qlora":
        if f.has("qlora"):
            f.add("qlora", "is only used with method qlora")
        return None
    raw = f.sub("qlora")
    raw.unknown_keys(DEFAULTS["qlora"])
    d = DEFAULTS["qlora"]
    return QLoraSpec(
        quant_type=raw.choice("quant_type", QUANT_TYPES, default=d["quant_type"]),
        double_quant=raw.boolean("double_quant", default=d["double_quant"]),
        saves_linear_inputs=raw.boolean("saves_linear_inputs",
                                        default=d["saves_linear_inputs"]),
    )


def _parse_parallel(f: Fields, spec: ModelSpec, fw: Framework) -> parallel.ParallelSpec:
    raw = f.sub("parallel")
    raw.unknown_keys(DEFAULTS["parallel"])
    tp = raw.integer("tensor", default=1, maximum=request_limit("parallel.tensor"))
    d = {**DEFAULTS["parallel"], **fw.parallel_defaults}
    d["sequence_parallel"] = bool(d["sequence_parallel"]) and tp > 1
    pp = raw.integer("pipeline", default=d["pipeline"],
                     maximum=request_limit("parallel.pipeline"))
    zero = raw.integer("zero_stage", default=d["zero_stage"], minimum=0, maximum=3)
    out = parallel.ParallelSpec(
        data=raw.integer("data", default=d["data"], maximum=request_limit("parallel.data")),
        tensor=tp, pipeline=pp, zero_stage=zero,
        offload_optimizer=raw.boolean("offload_optimizer", default=d["offload_optimizer"]),
        offload_parameters=raw.boolean("offload_parameters", default=d["offload_parameters"]),
        sequence_parallel=raw.boolean("sequence_parallel", default=d["sequence_parallel"]),
    )
    check_tensor_parallel(raw, "tensor", spec, tp)
    if pp > spec.num_layers:
        raw.add("pipeline", f"must be at most the number of layers ({spec.num_layers})")
    if out.offload_optimizer and zero < 1:
        raw.add("offload_optimizer", "needs zero_stage 1, 2 or 3 (ZeRO-Offload)")
    if out.offload_parameters and zero < 3:
        raw.add("offload_parameters", "needs zero_stage 3")
    if out.sequence_parallel and tp == 1:
        raw.add("sequence_parallel", "needs tensor > 1 (it splits what TP replicates)")
    return out


def catalog_entries() -> dict[str, Any]:
    """Choices, defaults and framework profiles for `vramcalc.catalog()`."""
    fw = catalogs.frameworks()
    return {
        "choices": {
            "method": list(METHODS),
            "precision": list(PRECISIONS),
            "optimizer": list(optimizers.OPTIMIZERS),
            "optimizer_implementation": list(optimizers.IMPLEMENTATIONS),
            "gradient_checkpointing": list(CHECKPOINTING),
            "attention": list(ATTENTION),
            "loss": list(activations.LOSSES),
            "framework": list(fw),
            "lora_target_modules": [*lora.known_modules(), lora.ALL_LINEAR],
            "qlora_quant_type": list(QUANT_TYPES),
        },
        "defaults": {
            **{k: v for k, v in DEFAULTS.items() if k != "lora"},
            **fw[DEFAULTS["framework"]].defaults,
            "lora": {**DEFAULTS["lora"], "target_modules": ["q_proj", "v_proj"]},
            "overheads": {
                "cuda_context_bytes": DEFAULT_CUDA_CONTEXT_BYTES,
                "allocator_reserve_fraction": DEFAULT_RESERVE_FRACTION,
            },
        },
        "frameworks": [
            {"id": f.id, "name": f.name, "defaults": {**f.defaults},
             "method_defaults": f.method_defaults, "memory_report": f.memory_report}
            for f in fw.values()
        ],
    }
