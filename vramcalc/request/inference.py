"""Inference requests: the fields every engine shares, and the engine's own options.

Each engine (vramcalc/engines/) describes itself to this parser through an `EngineProfile`:
its defaults (overheads, KV dtype, GGUF or not) and the parser of its options object. The
parser never imports an engine; `api` hands it the registry.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from .. import catalogs, checkpoint
from ..catalogs import request_limit
from ..errors import show
from ..jsonable import FLATTEN, HIDDEN, ID, OMIT_NONE, as_json
from .common import (
    COMMON_KEYS,
    Common,
    Overheads,
    check_tensor_parallel,
    measured_context,
    parse_overheads,
)

if TYPE_CHECKING:
    from collections.abc import Callable

    from ..architecture import ModelSpec
    from ..catalogs import KVDtype, WeightFormat
    from ..components import Warning
    from ..errors import Fields

ATTENTION = ("sdpa", "eager")
INFERENCE_KEYS = frozenset({
    "batch_size", "context_length", "weight_format", "kv_cache_dtype", "engine", "attention",
    "parallel", "generated_tokens", "logits", "images",
})
LOGITS = ("last", "all")
DEFAULT_CONTEXT_LENGTH = 4096


@dataclass(frozen=True, kw_only=True, slots=True)
class Context:
    """What an engine's options parser may depend on."""

    common: Common
    context_length: int
    tensor_parallel: int
    kv_cache_dtype: str
    pipeline_parallel: int = 1


class EngineProfile(Protocol):
    """What the parser needs from an engine module (vramcalc/engines/*.py)."""

    NAME: str  # the `engine` value
    OPTIONS_KEY: str  # the request field of its options
    RUNS_GGUF: bool  # llama.cpp runs GGUF files; the others refuse GGUF recipes
    KV_DEFAULT: str | None  # its default KV dtype (None: the model's compute dtype)
    SINGLE_GPU: str | None  # why tensor parallelism does not apply (None: it does)
    CUDA_CONTEXT_BYTES: int
    ALLOCATOR_RESERVE_FRACTION: float

    def parse_options(self, f: Fields, ctx: Context) -> Any: ...

    def cache_dtypes(self, options: Any) -> tuple[str, str] | None: ...


@dataclass(frozen=True, kw_only=True, slots=True)
class Images:
    """Images per sequence and their size after the processor's resize; `tokens` is what
    they add to the sequence (the model's processor rule, ModelSpec.vision)."""

    count: int
    height: int
    width: int
    tokens: int = field(metadata=HIDDEN)


@dataclass(frozen=True, kw_only=True, slots=True)
class InferenceParallel:
    tensor: int
    # pipeline stages (engines whose profile sets PIPELINE_PARALLEL: vLLM); None = 1, left
    # out of the echo
    pipeline: int | None = field(default=None, metadata=OMIT_NONE)


@dataclass(frozen=True, kw_only=True, slots=True)
class InferenceRequest:
    common: Common = field(metadata=FLATTEN)
    batch_size: int
    context_length: int
    generated_tokens: int  # of context_length: the prompt is the rest
    logits: str  # "last" (generate) or "all" (a plain forward, every position)
    images: Images | None = field(metadata=OMIT_NONE)  # image inputs per sequence
    weight_format: WeightFormat = field(metadata=ID)
    kv_cache_dtype: KVDtype = field(metadata=ID)  # K's dtype where K and V differ
    kv_cache_dtype_v: KVDtype = field(metadata=HIDDEN)
    engine: str
    attention: str
    parallel: InferenceParallel
    overheads: Overheads
    options: Any = field(metadata=HIDDEN)  # the engine's options object
    options_key: str = field(metadata=HIDDEN)
    warnings: tuple[Warning, ...] = field(default=(), metadata=HIDDEN)  # defaults assumed

    @property
    def spec(self) -> ModelSpec:
        return self.common.spec

    @property
    def tensor_parallel(self) -> int:
        return self.parallel.tensor

    @property
    def pipeline_parallel(self) -> int:
        return self.parallel.pipeline or 1

    def to_dict(self) -> dict[str, Any]:
        """The normalized request: sent back, it gives the same answer."""
        out: dict[str, Any] = as_json(self)
        out[self.options_key] = as_json(self.options)
        return out


def parse_inference(
    f: Fields, common: Common, engines: tuple[str, ...],
    profile_of: Callable[[str], EngineProfile],
) -> InferenceRequest:
    """Validate an inference request; `profile_of(name)` gives an engine's profile."""
    option_keys = {e: e.replace(".", "_") for e in engines}
    f.unknown_keys(COMMON_KEYS | INFERENCE_KEYS | set(option_keys.values()))
    spec = common.spec
    engine = f.choice("engine", engines, default=engines[0])
    profile = profile_of(engine)
    for other, key in option_keys.items():
        if other != engine and f.has(key):
            f.add(key, f"options for engine {other!r}, but engine is {engine!r}")
    fmt, warnings = _parse_weight_format(f, common, profile)
    kvs = catalogs.kv_dtypes()
    compute = "fp16" if fmt.id in ("fp16", "F16") or spec.torch_dtype == "fp16" else "bf16"
    if fmt.id in ("fp32", "F32") and engine in kvs["fp32"].engines:
        compute = "fp32"  # an fp32 model computes, and caches K and V, in fp32
    compute = profile.KV_DEFAULT or compute
    kv_id = f.text("kv_cache_dtype", default=compute)
    if kv_id not in kvs:
        f.add("kv_cache_dtype", f"unknown KV cache dtype {show(kv_id)}; one of: "
              + ", ".join(kvs))
        kv_id = compute
    elif engine not in kvs[kv_id].engines:
        f.add("kv_cache_dtype", f"{kv_id} is not a KV cache dtype of {engine}; it supports: "
              + ", ".join(k for k, v in kvs.items() if engine in v.engines))
    par = f.sub("parallel")
    par.unknown_keys(("tensor", "pipeline"))
    tp = par.integer("tensor", default=1, maximum=request_limit("parallel.tensor"))
    check_tensor_parallel(par, "tensor", spec, tp)
    if tp > 1 and profile.SINGLE_GPU:
        par.add("tensor", profile.SINGLE_GPU)
    pp = par.integer("pipeline", default=1, maximum=request_limit("parallel.pipeline"))
    if pp > 1 and not getattr(profile, "PIPELINE_PARALLEL", False):
        par.add("pipeline", f"pipeline parallelism is modelled for engine \"vllm\" only, not "
                f"{engine!r}")
        pp = 1
    elif pp > spec.num_layers:
        par.add("pipeline", f"must be at most the number of layers ({spec.num_layers})")
        pp = 1
    context_length = f.integer("context_length", default=DEFAULT_CONTEXT_LENGTH,
                               maximum=request_limit("context_length"))
    generated = f.integer("generated_tokens", default=0, minimum=0,
                          maximum=request_limit("context_length"))
    if generated >= context_length:
        f.add("generated_tokens", f"must be below context_length ({context_length:,}): the "
              f"prompt takes at least one token, got {generated:,}")
        generated = 0
    logits = f.choice("logits", LOGITS, default="last")
    if logits == "all" and engine != "transformers":
        f.add("logits", "\"all\" (every position's logits, a plain forward) is modelled for "
              f"engine \"transformers\" only, not {engine!r}")
        logits = "last"
    if logits == "all" and generated:
        f.add("generated_tokens", "must be 0 with logits \"all\": a plain forward generates "
              "nothing")
    images = _parse_images(f.sub("images"), spec)
    if images is not None and profile.RUNS_GGUF:
        f.add("images", f"{profile.NAME} loads a vision projector from a separate mmproj file, "
              "which is not modelled: estimate images with engine \"transformers\" or \"vllm\"")
    ctx = Context(common=common, context_length=context_length, tensor_parallel=tp,
                  kv_cache_dtype=kv_id, pipeline_parallel=pp)
    options = profile.parse_options(f.sub(profile.OPTIONS_KEY), ctx)
    kv_k = kv_v = kvs[kv_id]
    cache_types = profile.cache_dtypes(options)
    if cache_types is not None:
        kv_k, kv_v = kvs[cache_types[0]], kvs[cache_types[1]]
    return InferenceRequest(
        common=common,
        batch_size=f.integer("batch_size", default=1, maximum=request_limit("batch_size")),
        context_length=context_length,
        generated_tokens=generated,
        logits=logits,
        images=images,
        weight_format=fmt,
        kv_cache_dtype=kv_k,
        kv_cache_dtype_v=kv_v,
        engine=engine,
        attention=f.choice("attention", ATTENTION, default="sdpa"),
        parallel=InferenceParallel(tensor=tp, pipeline=pp if pp > 1 else None),
        # a PyTorch process's context as measured on the GPU; the serving engines keep their
        # own figures, taken from their logs
        overheads=parse_overheads(f, context=measured_context(common.device,
                                                              profile.CUDA_CONTEXT_BYTES)
                                  if profile.NAME == "transformers" else profile.CUDA_CONTEXT_BYTES,
                                  reserve=profile.ALLOCATOR_RESERVE_FRACTION,
                                  device=common.device),
        options=options,
        options_key=profile.OPTIONS_KEY,
        warnings=warnings,
    )


def _parse_images(f: Fields, spec: ModelSpec) -> Images | None:
    """`images`: how many images each sequence carries, at what size. Their tokens come on
    top of `context_length` (the text)."""
    f.unknown_keys(("count", "height", "width"))
    count = f.integer("count", default=0, minimum=0, maximum=1024)
    side = spec.vision.image_size if spec.vision is not None and spec.vision.image_size else 0
    height = f.integer("height", default=side or 1024, maximum=1 << 15)
    width = f.integer("width", default=side or 1024, maximum=1 << 15)
    tokens = 0
    if count and spec.vision is None:
        f.add("count", "this model has no vision tower in its config (vision_config): it "
              "takes no images")
    elif count and spec.vision is not None:
        tokens = count * spec.vision.tokens_per_image(height, width)
    if not count:
        return None
    return Images(count=count, height=height, width=width, tokens=tokens)


def _parse_weight_format(
    f: Fields, common: Common, profile: EngineProfile,
) -> tuple[WeightFormat, tuple[Warning, ...]]:
    """The weight format, and the warnings of the defaults it assumed. The default is the
    checkpoint's own (vramcalc/checkpoint.py: its quantization_config, else its dtype as the
    engine loads it); llama.cpp runs GGUF files (default Q4_K_M, the quantization Ollama's
    library tags point at; an Ollama model name's own file, vramcalc/ollama.py), the others
    do not load GGUF recipes. A weight_format equal to the checkpoint's format id is the
    checkpoint's layout (its group size, ignore list) and keeps its warnings, so that the
    echoed request gives the same answer."""
    fmts = catalogs.weight_formats()
    path = ("model.config" if common.model.config is not None else
            "model.ollama" if common.model.ollama else "model.preset")
    own, warnings = checkpoint.resolve(common.model.source_config, common.spec, f.collector,
                                       path=path, engine=profile.NAME, gpu=common.device)
    tag = common.model.tag_format  # an Ollama tag's file (gpt-oss: MXFP4 experts, bf16 rest)
    default = (tag or "Q4_K_M") if profile.RUNS_GGUF else own.id
    fmt_id = f.text("weight_format", default=default)
    if fmt_id == own.id and not profile.RUNS_GGUF:
        return own, warnings  # sent back (the echoed request), the same answer
    if fmt_id not in fmts:
        f.add("weight_format", f"unknown weight format {show(fmt_id)}; one of: "
              + ", ".join(sorted(fmts)))
        return fmts.get(default, own), ()
    fmt = fmts[fmt_id]
    if profile.RUNS_GGUF and fmt.kind != "gguf" and fmt_id != tag:
        dense = {"fp32": "F32", "fp16": "F16", "bf16": "BF16"}.get(fmt_id)
        if dense is None:
            f.add("weight_format", f"{profile.NAME} runs GGUF files: use a GGUF type such as "
                  f"Q4_K_M, Q8_0 or F16, got {show(fmt_id)}")
            return fmts[default], ()
        return fmts[dense], ()
    if not profile.RUNS_GGUF and fmt.kind == "gguf":
        f.add("weight_format", f"{fmt_id} is a GGUF (llama.cpp) type; use engine "
              "\"llama.cpp\" or a format such as bf16, fp8, awq-int4")
        return own, ()
    return fmt, ()
