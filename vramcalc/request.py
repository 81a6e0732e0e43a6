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
ENGINES = ("transformers", "vllm", "llama.cpp")
INFERENCE_ATTENTION = ("sdpa", "eager")
TRANSFORMERS_CACHES = ("dynamic", "static")
# llama.cpp --cache-type-k/-v names (common/arg.cpp kv_cache_types) -> KV dtype ids
LLAMA_CPP_CACHE_TYPES = {
    "f32": "fp32", "f16": "fp16", "bf16": "bf16", "q8_0": "q8_0", "q4_0": "q4_0",
    "q4_1": "q4_1", "iq4_nl": "iq4_nl", "q5_0": "q5_0", "q5_1": "q5_1",
}
MiB = 1 << 20

# Overhead defaults. The CUDA context is what a PyTorch process holds on the device before
# any tensor: driver context, loaded kernels, cuBLAS/cuDNN handles (CUDA >= 11.7 loads
# modules lazily). The allocator reserve is the caching allocator's slack: reserved minus
# allocated at the peak, as a fraction of the allocated peak.
# Measured on an H200 (driver 580.159, torch 2.11 + CUDA 13.0): NVML's used memory minus
# max_memory_reserved was 758-782 MiB over 16 inference runs, and reserved/allocated had a
# median of 1.08 (tests/data/calibration/cuda_h200.jsonl). Older GPUs and CUDA versions
# load smaller contexts.
DEFAULT_CUDA_CONTEXT_BYTES = 768 * MiB
DEFAULT_INFERENCE_RESERVE_FRACTION = 0.08

_COMMON_KEYS = frozenset({"mode", "model", "gpu", "fit_gpus", "overheads"})
_INFERENCE_KEYS = frozenset(
    {"batch_size", "context_length", "weight_format", "kv_cache_dtype", "engine", "attention",
     "parallel", "transformers", "vllm", "llama_cpp"}
)

# vLLM defaults (v0.33.0). gpu_memory_utilization: vllm/config/cache.py CacheConfig (0.92;
# 0.9 before). block_size: CacheConfig.DEFAULT_BLOCK_SIZE. max_num_seqs and
# max_num_batched_tokens depend on the GPU: EngineArgs.get_batch_defaults, `vllm serve`
# (UsageContext.OPENAI_API_SERVER) column; see `vllm_batch_defaults`.
VLLM_DEFAULT_UTILIZATION = 0.92
VLLM_DEFAULT_BLOCK_SIZE = 16
VLLM_BLOCK_SIZES = (8, 16, 32, 64, 128, 256)
# What the vLLM worker process holds before its memory snapshot (CUDA context, PyTorch,
# NCCL): outside gpu_memory_utilization's budget. 79.18 - 78.57 GiB free at startup on an
# H100 (llm-d config_explorer/empirical-vllm-memory-results.md).
VLLM_DEFAULT_CONTEXT_BYTES = 625 * MiB
# Non-torch memory that appears during vLLM's profiling (cuBLAS workspaces, NCCL/custom
# all-reduce buffers): 0.13 GiB at TP=1, 0.55 GiB at TP=2 in the same llm-d logs.
VLLM_DEFAULT_NON_TORCH_BYTES = (int(0.13 * (1 << 30)), int(0.55 * (1 << 30)))

# llama.cpp defaults (common/common.h, b6xxx-b7xxx era): -b 2048, -ub 512, f16 KV cache.
LLAMA_CPP_DEFAULT_N_BATCH = 2048
LLAMA_CPP_DEFAULT_N_UBATCH = 512
# The CUDA backend's context, cuBLAS handle and kernels, outside llama.cpp's buffers.
LLAMA_CPP_DEFAULT_CONTEXT_BYTES = 300 * MiB
# Host memory bandwidth for the layers left on the CPU (speed estimate only):
# dual-channel DDR5-4800, 2 x 38.4 GB/s.
LLAMA_CPP_DEFAULT_CPU_BANDWIDTH_GB_S = 76.8


def vllm_batch_defaults(gpu: Mapping[str, Any]) -> tuple[int, int]:
    """(max_num_seqs, max_num_batched_tokens) that `vllm serve` picks on `gpu` (v0.33.0,
    vllm/engine/arg_utils.py EngineArgs.get_batch_defaults): >= 160 GiB: 1024 and 16384;
    >= 70 GiB and not an A100: 1024 and 8192; otherwise 256 and 2048."""
    memory = int(gpu["memory_bytes"])
    if memory >= 160 << 30:
        return 1024, 16384
    if memory >= 70 << 30 and "a100" not in str(gpu["id"]):
        return 1024, 8192
    return 256, 2048


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
class TransformersOptions:
    """`generate()` with a `DynamicCache` (grows by `torch.cat`) or a `StaticCache`
    (pre-allocated to the context length)."""

    cache: str

    def to_dict(self) -> dict[str, Any]:
        return {"cache": self.cache}


@dataclass(frozen=True, kw_only=True, slots=True)
class VLLMOptions:
    """`vllm serve` engine arguments that change memory (v0.33.0 names).

    `max_num_seqs` / `max_num_batched_tokens` None: vLLM's default for each GPU
    (`vllm_batch_defaults`). `cuda_graph_bytes` None: estimated. `device_memory_bytes`
    None: the selected GPU's catalog memory; set it to the total PyTorch reports
    (`torch.cuda.mem_get_info()[1]`), which vLLM multiplies by the utilization.
    """

    gpu_memory_utilization: float
    max_model_len: int
    max_num_seqs: int | None
    max_num_batched_tokens: int | None
    block_size: int
    enforce_eager: bool
    cuda_graph_bytes: int | None
    non_torch_bytes: int
    device_memory_bytes: int | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "gpu_memory_utilization": self.gpu_memory_utilization,
            "max_model_len": self.max_model_len,
            "max_num_seqs": self.max_num_seqs,
            "max_num_batched_tokens": self.max_num_batched_tokens,
            "block_size": self.block_size,
            "enforce_eager": self.enforce_eager,
            "cuda_graph_bytes": self.cuda_graph_bytes,
            "non_torch_bytes": self.non_torch_bytes,
            "device_memory_bytes": self.device_memory_bytes,
        }


@dataclass(frozen=True, kw_only=True, slots=True)
class LlamaCppOptions:
    """llama.cpp context and offload arguments (`-c`, `-b`, `-ub`, `-ctk`, `-ctv`, `-fa`,
    `-ngl`). `n_gpu_layers` -1 offloads everything (like `-ngl 999`)."""

    n_ctx: int
    n_batch: int
    n_ubatch: int
    cache_type_k: str
    cache_type_v: str
    flash_attn: bool
    n_gpu_layers: int
    cpu_bandwidth_gb_s: float

    def to_dict(self) -> dict[str, Any]:
        return {
            "n_ctx": self.n_ctx,
            "n_batch": self.n_batch,
            "n_ubatch": self.n_ubatch,
            "cache_type_k": self.cache_type_k,
            "cache_type_v": self.cache_type_v,
            "flash_attn": self.flash_attn,
            "n_gpu_layers": self.n_gpu_layers,
            "cpu_bandwidth_gb_s": self.cpu_bandwidth_gb_s,
        }


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
    transformers: TransformersOptions
    vllm: VLLMOptions | None = None
    llama_cpp: LlamaCppOptions | None = None
    kv_cache_dtype_v: KVDtype | None = None  # llama.cpp: V may differ from K

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
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
        if self.engine == "transformers":
            out["transformers"] = self.transformers.to_dict()
        if self.vllm is not None:
            out["vllm"] = self.vllm.to_dict()
        if self.llama_cpp is not None:
            out["llama_cpp"] = self.llama_cpp.to_dict()
        return out


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
    engine = c.choice(data, "engine", "engine", ENGINES, default="transformers")
    for other in ("transformers", "vllm", "llama_cpp"):
        if other != engine.replace(".", "_") and data.get(other) is not None:
            c.add(other, f"options for engine {other.replace('_', '.')!r}, but engine is "
                  f"{engine!r}")
    fmt = _parse_weight_format(data, spec, common.model.config, engine, c)
    kvs = formats.kv_dtypes()
    compute = "fp16" if fmt.id in ("fp16", "F16") or spec.torch_dtype == "fp16" else "bf16"
    if engine == "llama.cpp":
        compute = "fp16"  # llama.cpp's default --cache-type-k/v f16
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
    if tp > 1 and engine == "llama.cpp":
        c.add("parallel.tensor", "llama.cpp splits layers, not tensors: use 1 (one GPU)")
    context_length = c.integer(data, "context_length", "context_length", default=4096,
                               maximum=1 << 24)
    context, reserve = {
        "transformers": (DEFAULT_CUDA_CONTEXT_BYTES, DEFAULT_INFERENCE_RESERVE_FRACTION),
        "vllm": (VLLM_DEFAULT_CONTEXT_BYTES, 0.0),
        "llama.cpp": (LLAMA_CPP_DEFAULT_CONTEXT_BYTES, 0.0),
    }[engine]
    raw_tf = c.mapping(data, "transformers", "transformers")
    c.unknown_keys(raw_tf, frozenset({"cache"}), "transformers")
    transformers = TransformersOptions(
        cache=c.choice(raw_tf, "cache", "transformers.cache", TRANSFORMERS_CACHES,
                       default="dynamic"))
    vllm = _parse_vllm(data, common, c, context_length, tp) if engine == "vllm" else None
    llama = _parse_llama_cpp(data, c, context_length, kv_id) if engine == "llama.cpp" else None
    kv_k, kv_v = kvs[kv_id], None
    if llama is not None:
        kv_k = kvs[LLAMA_CPP_CACHE_TYPES[llama.cache_type_k]]
        kv_v = kvs[LLAMA_CPP_CACHE_TYPES[llama.cache_type_v]]
    return InferenceRequest(
        common=common,
        batch_size=c.integer(data, "batch_size", "batch_size", default=1, maximum=1 << 20),
        context_length=context_length,
        weight_format=fmt,
        kv_cache_dtype=kv_k,
        engine=engine,
        attention=c.choice(data, "attention", "attention", INFERENCE_ATTENTION, default="sdpa"),
        tensor_parallel=tp,
        overheads=parse_overheads(data, c, context=context, reserve=reserve),
        transformers=transformers,
        vllm=vllm,
        llama_cpp=llama,
        kv_cache_dtype_v=kv_v,
    )


def _parse_weight_format(
    data: Mapping[str, Any], spec: ModelSpec, config: Mapping[str, Any], engine: str,
    c: Collector,
) -> WeightFormat:
    """The weight format; llama.cpp runs GGUF files (default Q4_K_M, the quantization
    Ollama's library tags point at), vLLM does not load GGUF recipes here."""
    fmts = formats.weight_formats()
    default = "Q4_K_M" if engine == "llama.cpp" else default_weight_format(spec, config)
    fmt_id = data.get("weight_format") or default
    if not isinstance(fmt_id, str) or fmt_id not in fmts:
        c.add("weight_format", f"unknown weight format {fmt_id!r}; one of: "
              + ", ".join(sorted(fmts)))
        return fmts[default]
    fmt = fmts[fmt_id]
    if engine == "llama.cpp" and fmt.kind != "gguf":
        dense = {"fp32": "F32", "fp16": "F16", "bf16": "BF16"}.get(fmt_id)
        if dense is None:
            c.add("weight_format", f"llama.cpp runs GGUF files: use a GGUF type such as "
                  f"Q4_K_M, Q8_0 or F16, got {fmt_id!r}")
            return fmts[default]
        return fmts[dense]
    if engine != "llama.cpp" and fmt.kind == "gguf":
        c.add("weight_format", f"{fmt_id} is a GGUF (llama.cpp) type; use engine "
              "\"llama.cpp\" or a format such as bf16, fp8, awq-int4")
        return fmts[default_weight_format(spec, config)]
    return fmt


def _parse_vllm(
    data: Mapping[str, Any], common: Common, c: Collector, context_length: int, tp: int
) -> VLLMOptions:
    raw = c.mapping(data, "vllm", "vllm")
    c.unknown_keys(raw, frozenset(VLLMOptions.__slots__), "vllm")
    if common.gpu is None:
        c.add("gpu", "is required with engine \"vllm\": vLLM takes gpu_memory_utilization "
              "of the GPU's memory, so its total depends on the GPU")

    def optional(key: str, maximum: int) -> int | None:
        if raw.get(key) is None:
            return None
        return c.integer(raw, key, f"vllm.{key}", maximum=maximum)

    device = None
    if raw.get("device_memory_bytes") is not None:
        device = c.integer(raw, "device_memory_bytes", "vllm.device_memory_bytes",
                           minimum=1 << 20)
    graphs = None
    if raw.get("cuda_graph_bytes") is not None:
        graphs = c.integer(raw, "cuda_graph_bytes", "vllm.cuda_graph_bytes", minimum=0)
    return VLLMOptions(
        gpu_memory_utilization=c.number(
            raw, "gpu_memory_utilization", "vllm.gpu_memory_utilization",
            default=VLLM_DEFAULT_UTILIZATION, maximum=1.0, exclusive_minimum=True),
        max_model_len=c.integer(raw, "max_model_len", "vllm.max_model_len",
                                default=context_length, maximum=1 << 24),
        max_num_seqs=optional("max_num_seqs", 1 << 16),
        max_num_batched_tokens=optional("max_num_batched_tokens", 1 << 22),
        block_size=_block_size(raw, c),
        enforce_eager=c.boolean(raw, "enforce_eager", "vllm.enforce_eager", default=False),
        cuda_graph_bytes=graphs,
        non_torch_bytes=c.integer(raw, "non_torch_bytes", "vllm.non_torch_bytes",
                                  default=VLLM_DEFAULT_NON_TORCH_BYTES[tp > 1], minimum=0),
        device_memory_bytes=device,
    )


def _block_size(raw: Mapping[str, Any], c: Collector) -> int:
    value = c.integer(raw, "block_size", "vllm.block_size", default=VLLM_DEFAULT_BLOCK_SIZE)
    if value not in VLLM_BLOCK_SIZES:
        c.add("vllm.block_size", "must be one of 8, 16, 32, 64, 128, 256 (vLLM --block-size), "
              f"got {value}")
        return VLLM_DEFAULT_BLOCK_SIZE
    return value


def _parse_llama_cpp(
    data: Mapping[str, Any], c: Collector, context_length: int, kv_id: str
) -> LlamaCppOptions:
    raw = c.mapping(data, "llama_cpp", "llama_cpp")
    c.unknown_keys(raw, frozenset(LlamaCppOptions.__slots__), "llama_cpp")
    names = {v: k for k, v in LLAMA_CPP_CACHE_TYPES.items()}
    default_type = names.get(kv_id, "f16")
    types = tuple(LLAMA_CPP_CACHE_TYPES)
    type_k = c.choice(raw, "cache_type_k", "llama_cpp.cache_type_k", types, default=default_type)
    type_v = c.choice(raw, "cache_type_v", "llama_cpp.cache_type_v", types, default=default_type)
    flash = c.boolean(raw, "flash_attn", "llama_cpp.flash_attn", default=True)
    if not flash and type_v not in ("f32", "f16", "bf16"):
        # llama-context.cpp: "quantized V cache was requested, but this requires Flash
        # Attention"
        c.add("llama_cpp.cache_type_v", f"a quantized V cache ({type_v}) requires flash "
              "attention: set llama_cpp.flash_attn to true")
    n_batch = c.integer(raw, "n_batch", "llama_cpp.n_batch", default=LLAMA_CPP_DEFAULT_N_BATCH,
                        maximum=1 << 20)
    n_ubatch = c.integer(raw, "n_ubatch", "llama_cpp.n_ubatch",
                         default=LLAMA_CPP_DEFAULT_N_UBATCH, maximum=1 << 20)
    ngl = c.integer(raw, "n_gpu_layers", "llama_cpp.n_gpu_layers", default=-1, minimum=-1,
                    maximum=10_000)
    return LlamaCppOptions(
        n_ctx=c.integer(raw, "n_ctx", "llama_cpp.n_ctx", default=context_length,
                        maximum=1 << 24),
        n_batch=n_batch,
        # llama-context.cpp: n_ubatch = min(n_batch, n_ubatch)
        n_ubatch=min(n_batch, n_ubatch),
        cache_type_k=type_k,
        cache_type_v=type_v,
        flash_attn=flash,
        n_gpu_layers=ngl,
        cpu_bandwidth_gb_s=c.number(
            raw, "cpu_bandwidth_gb_s", "llama_cpp.cpu_bandwidth_gb_s",
            default=LLAMA_CPP_DEFAULT_CPU_BANDWIDTH_GB_S, exclusive_minimum=True),
    )
