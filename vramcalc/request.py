"""Request dicts -> frozen, validated specs, with every problem reported at once.

The request format is documented in docs/api.md. Each reader returns a usable value even
when a field is bad (and records the problem), so one pass finds every problem.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from . import _data, architecture, formats
from .errors import Collector

if TYPE_CHECKING:
    from collections.abc import Mapping

    from .architecture import ModelSpec
    from .formats import KVDtype, WeightFormat

MODES = ("inference", "training")
ENGINES = ("transformers",)
INFERENCE_ATTENTION = ("sdpa", "eager")
MiB = 1 << 20

# Overhead defaults. The CUDA context is what a PyTorch process holds on the device before
# any tensor: driver context, loaded kernels, cuBLAS/cuDNN handles (CUDA >= 11.7 loads
# modules lazily). The allocator reserve is the caching allocator's slack: reserved minus
# allocated at the peak, as a fraction of the allocated peak.
DEFAULT_CUDA_CONTEXT_BYTES = 512 * MiB
DEFAULT_INFERENCE_RESERVE_FRACTION = 0.05

_COMMON_KEYS = frozenset({"mode", "model", "gpu", "fit_gpus", "overheads"})
_INFERENCE_KEYS = frozenset(
    {"batch_size", "context_length", "weight_format", "kv_cache_dtype", "engine", "attention",
     "parallel"}
)


@dataclass(frozen=True, kw_only=True, slots=True)
class ModelRef:
    """Which model: a catalog preset or a pasted config.json."""

    preset: str | None
    config: dict[str, Any]
    name: str

    def to_dict(self) -> dict[str, Any]:
        if self.preset is not None:
            return {"preset": self.preset}
        out: dict[str, Any] = {"config": self.config}
        if self.name:
            out["name"] = self.name
        return out


@dataclass(frozen=True, kw_only=True, slots=True)
class Overheads:
    cuda_context_bytes: int
    allocator_reserve_fraction: float


@dataclass(frozen=True, kw_only=True, slots=True)
class Common:
    mode: str
    model: ModelRef
    spec: ModelSpec
    gpu: str | None
    fit_gpus: tuple[str, ...]


@dataclass(frozen=True, kw_only=True, slots=True)
class InferenceRequest:
    common: Common
    batch_size: int
    context_length: int
    weight_format: WeightFormat
    kv_cache_dtype: KVDtype
    engine: str
    attention: str
    tensor_parallel: int
    overheads: Overheads

    def to_dict(self) -> dict[str, Any]:
        return {
            "mode": "inference",
            "model": self.common.model.to_dict(),
            "gpu": self.common.gpu,
            "fit_gpus": list(self.common.fit_gpus),
            "batch_size": self.batch_size,
            "context_length": self.context_length,
            "weight_format": self.weight_format.id,
            "kv_cache_dtype": self.kv_cache_dtype.id,
            "engine": self.engine,
            "attention": self.attention,
            "parallel": {"tensor": self.tensor_parallel},
            "overheads": {
                "cuda_context_bytes": self.overheads.cuda_context_bytes,
                "allocator_reserve_fraction": self.overheads.allocator_reserve_fraction,
            },
        }


def presets() -> dict[str, dict[str, Any]]:
    """Catalog model id -> entry (data/models.json)."""
    return {entry["id"]: entry for entry in _data.load("models.json")["models"]}


def gpu_catalog() -> dict[str, dict[str, Any]]:
    return {entry["id"]: entry for entry in _data.load("gpus.json")["gpus"]}


def parse_common(data: Mapping[str, Any], c: Collector) -> Common | None:
    """mode, model, gpu and fit_gpus; None when the model cannot be read."""
    mode = c.choice(data, "mode", "mode", MODES, default=None)
    model = _parse_model(data, c)
    gpus = gpu_catalog()
    gpu = data.get("gpu")
    if gpu is not None and (not isinstance(gpu, str) or gpu not in gpus):
        c.add("gpu", f"must be a GPU id from the catalog (e.g. 'rtx-4090'), got {gpu!r}")
        gpu = None
    fit_raw = data.get("fit_gpus", "all")
    fit_gpus: tuple[str, ...] = tuple(gpus)
    if fit_raw == "all" or fit_raw is None:
        pass
    elif isinstance(fit_raw, list) and all(isinstance(x, str) for x in fit_raw):
        unknown = [x for x in fit_raw if x not in gpus]
        if unknown:
            c.add("fit_gpus", f"unknown GPU ids: {', '.join(unknown)}")
        fit_gpus = tuple(x for x in fit_raw if x in gpus)
    else:
        c.add("fit_gpus", "must be \"all\" or a list of GPU ids")
    if model is None:
        return None
    ref, spec = model
    return Common(mode=mode, model=ref, spec=spec, gpu=gpu, fit_gpus=fit_gpus)


def _parse_model(data: Mapping[str, Any], c: Collector) -> tuple[ModelRef, ModelSpec] | None:
    raw = data.get("model")
    if raw is None:
        c.add("model", "is required: {\"preset\": \"<id>\"} or {\"config\": {...config.json...}}")
        return None
    if not isinstance(raw, dict):
        c.add("model", f"must be an object, got {raw!r}"[:120])
        return None
    c.unknown_keys(raw, frozenset({"preset", "config", "name"}), "model")
    has_preset, has_config = raw.get("preset") is not None, raw.get("config") is not None
    if has_preset == has_config:
        c.add("model", "must have exactly one of \"preset\" or \"config\"")
        return None
    name = raw.get("name") or ""
    if not isinstance(name, str):
        c.add("model.name", "must be a string")
        name = ""
    if has_preset:
        preset = raw["preset"]
        entry = presets().get(preset) if isinstance(preset, str) else None
        if entry is None:
            c.add("model.preset", f"unknown model preset {preset!r}; see vramcalc.catalog()")
            return None
        label = str(entry.get("name") or preset)
        spec = architecture.from_config_cached(entry["config"], c, path="model.preset",
                                               name=label)
        ref = ModelRef(preset=preset, config=entry["config"], name=label)
    else:
        config = raw["config"]
        spec = architecture.from_config_cached(config, c, path="model.config", name=name)
        ref = ModelRef(preset=None, config=config if isinstance(config, dict) else {}, name=name)
    if spec is None:
        return None
    return ref, spec


def parse_overheads(
    data: Mapping[str, Any], c: Collector, *, context: int, reserve: float
) -> Overheads:
    raw = c.mapping(data, "overheads", "overheads")
    c.unknown_keys(raw, frozenset({"cuda_context_bytes", "allocator_reserve_fraction"}),
                   "overheads")
    return Overheads(
        cuda_context_bytes=c.integer(raw, "cuda_context_bytes", "overheads.cuda_context_bytes",
                                     default=context, minimum=0),
        allocator_reserve_fraction=c.number(
            raw, "allocator_reserve_fraction", "overheads.allocator_reserve_fraction",
            default=reserve, minimum=0.0, maximum=1.0,
        ),
    )


def default_weight_format(spec: ModelSpec, config: Mapping[str, Any]) -> str:
    """The checkpoint's own format: its `quantization_config` (gpt-oss: MXFP4 experts;
    DeepSeek-V3: FP8 with 128x128 blocks; AWQ/GPTQ 4-bit), else its dtype; fp32
    checkpoints are loaded in bf16 (as vLLM does, and transformers users ask for)."""
    quant = config.get("quantization_config")
    if not isinstance(quant, dict) and isinstance(config.get("text_config"), dict):
        quant = config["text_config"].get("quantization_config")
    if isinstance(quant, dict):
        method = quant.get("quant_method")
        bits = quant.get("bits", 4)
        if method == "mxfp4":
            return "mxfp4"
        if method == "fp8":
            return "fp8-block" if quant.get("weight_block_size") else "fp8"
        if method == "awq" and bits == 4:
            return "awq-int4"
        if method == "gptq" and bits in (4, 8):
            return f"gptq-int{bits}"
        if method == "bitsandbytes":
            return "nf4" if quant.get("load_in_4bit") else "bnb-int8"
    return "fp16" if spec.torch_dtype == "fp16" else "bf16"


def parse_inference(data: Mapping[str, Any], common: Common, c: Collector) -> InferenceRequest:
    c.unknown_keys(data, _COMMON_KEYS | _INFERENCE_KEYS, "")
    spec = common.spec
    fmts = formats.weight_formats()
    fmt_id = data.get("weight_format") or default_weight_format(spec, common.model.config)
    if not isinstance(fmt_id, str) or fmt_id not in fmts:
        c.add("weight_format", f"unknown weight format {fmt_id!r}; one of: "
              + ", ".join(sorted(fmts)))
        fmt_id = "bf16"
    fmt = fmts[fmt_id]
    kvs = formats.kv_dtypes()
    engine = c.choice(data, "engine", "engine", ENGINES, default="transformers")
    compute = "fp16" if fmt_id == "fp16" or spec.torch_dtype == "fp16" else "bf16"
    kv_id = data.get("kv_cache_dtype") or compute
    if not isinstance(kv_id, str) or kv_id not in kvs:
        c.add("kv_cache_dtype", f"unknown KV cache dtype {kv_id!r}; one of: "
              + ", ".join(kvs))
        kv_id = compute
    elif engine not in kvs[kv_id].engines:
        c.add("kv_cache_dtype", f"{kv_id} is not a KV cache dtype of {engine}; it supports: "
              + ", ".join(k for k, v in kvs.items() if engine in v.engines))
    parallel = c.mapping(data, "parallel", "parallel")
    c.unknown_keys(parallel, frozenset({"tensor"}), "parallel")
    tp = c.integer(parallel, "tensor", "parallel.tensor", default=1, maximum=64)
    if tp > 1 and spec.num_kv_heads % tp and spec.num_kv_heads >= tp:
        c.add("parallel.tensor", f"must divide the number of KV heads ({spec.num_kv_heads})")
    if tp > 1 and spec.num_heads % tp:
        c.add("parallel.tensor", f"must divide the number of attention heads ({spec.num_heads})")
    return InferenceRequest(
        common=common,
        batch_size=c.integer(data, "batch_size", "batch_size", default=1, maximum=1 << 20),
        context_length=c.integer(data, "context_length", "context_length", default=4096,
                                 maximum=1 << 24),
        weight_format=fmt,
        kv_cache_dtype=kvs[kv_id],
        engine=engine,
        attention=c.choice(data, "attention", "attention", INFERENCE_ATTENTION, default="sdpa"),
        tensor_parallel=tp,
        overheads=parse_overheads(data, c, context=DEFAULT_CUDA_CONTEXT_BYTES,
                                  reserve=DEFAULT_INFERENCE_RESERVE_FRACTION),
    )
