"""SGLang (v0.5.23): how `python -m sglang.launch_server` sizes its memory pools.

SGLang measures the free memory once its CUDA context and process groups exist
(`pre_model_load_memory`), loads the weights, and gives the token pool what is left of
`mem_fraction_static` of that measure: `rest = free_after_load - pre x (1 - f)`. The pool
holds `rest // cell_size` tokens (K and V of every layer), shared by every running request
and by the radix (prefix) cache, which therefore costs nothing extra. The other
`1 - f` of the measure is left for what comes later: the request-to-token table, CUDA graphs
and activations. Each function names the SGLang file it mirrors (python/sglang/srt/...,
read in the v0.5.23 wheel from PyPI); the code is written from reading them, not copied.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .. import catalogs, fit, formats
from ..catalogs import request_limit
from ..components import Component, EngineResult, Phase, Warning, cuda_context
from ..sizes import GiB, MiB, cdiv
from .common import bits_per_parameter, kv_bytes_per_token, speed
from .transformers import layer_elements

if TYPE_CHECKING:
    from collections.abc import Mapping

    from ..architecture import ModelSpec
    from ..catalogs import GPU
    from ..errors import Fields
    from ..request import InferenceRequest
    from ..request.inference import Context

NAME = "sglang"
OPTIONS_KEY = "sglang"
RUNS_GGUF = False
KV_DEFAULT = None  # --kv-cache-dtype auto: the model's dtype
SINGLE_GPU = None
# Options whose defaults follow the parallel layout (torch.distributed's buffers at TP > 1):
# a layout of another size derives them again.
LAYOUT_DERIVED = ("distributed_bytes",)
VERSION = "0.5.23"
_SRC = f"SGLang v{VERSION}"

# What the scheduler process holds before SGLang takes its baseline (CUDA context, PyTorch,
# cuBLAS): 79.18 GiB (an H100's CUDA total) - 78.43 GiB "Load weight begin. avail mem" in
# sgl-project/sglang docs/advanced_features/lora.ipynb (executed 2026-02-09, H100, TP 1).
CUDA_CONTEXT_BYTES = 768 * MiB
ALLOCATOR_RESERVE_FRACTION = 0.0  # the unused 1 - mem_fraction_static is SGLang's own slack
# Process-group buffers (NCCL, custom all-reduce) at TP > 1, also before the baseline:
# "Init torch distributed ends. mem usage=2.01 GB" at TP 8 on H200s (sgl-project/sglang
# PR #11716 log) against 0.09 GB at TP 1 (the lora.ipynb run above).
DEFAULT_DISTRIBUTED_BYTES = (0, int(1.92 * GiB))
DEFAULT_PAGE_SIZE = 1  # arg_groups/overrides.py _page_size_default (CUDA)
DEFAULT_SWA_FULL_TOKENS_RATIO = 0.8  # arg_groups/fields/schedule.py swa_full_tokens_ratio
DEFAULT_MAX_PREFILL_TOKENS = 16384  # arg_groups/fields/schedule.py max_prefill_tokens
# ReqToTokenPool rows hold context_len + 4 int32 slots (mem_cache/allocation_sizing.py
# get_req_to_token_extra_context_len, no speculative decoding)
_REQ_TO_TOKEN_EXTRA = 4
# Architectures whose sliding-window layers get their own, smaller pool
# (configs/model_config.py is_hybrid_swa_model); other windowed models (Gemma 2/3, Mistral)
# keep every layer's K and V for every token.
_HYBRID_SWA_ARCHS = frozenset({"GptOssForCausalLM", "Llama4ForConditionalGeneration"})
_TORCH_DTYPES = {"bf16": "torch.bfloat16", "fp16": "torch.float16",
                 "fp8": "torch.float8_e4m3fn", "fp8_e5m2": "torch.float8_e5m2"}


@dataclass(frozen=True, kw_only=True, slots=True)
class Options:
    """`sglang.launch_server` arguments that change memory (v0.5.23 names). None: SGLang's
    default, which depends on the GPU (`server_defaults`). `context_length` is SGLang's
    `--context-length` (its own default is the model's; here the request's
    `context_length`). `device_memory_bytes`: the total PyTorch reports (default: the GPU's
    catalog figure)."""

    mem_fraction_static: float | None
    context_length: int
    max_running_requests: int | None
    max_total_tokens: int | None
    chunked_prefill_size: int | None
    cuda_graph_max_bs: int | None
    disable_cuda_graph: bool
    disable_prefill_cuda_graph: bool
    page_size: int
    swa_full_tokens_ratio: float
    disable_hybrid_swa_memory: bool
    disable_radix_cache: bool
    distributed_bytes: int
    device_memory_bytes: int | None


def parse_options(f: Fields, ctx: Context) -> Options:
    f.unknown_keys(Options.__slots__)
    if ctx.common.gpu is None:
        f.collector.add("gpu", "is required with engine \"sglang\": SGLang's "
                        "mem_fraction_static, chunked prefill and CUDA-graph defaults depend "
                        "on the GPU's memory")
    elif ctx.common.device is not None and ctx.common.device.vendor == "apple":
        f.collector.add("gpu", "SGLang serves on NVIDIA (CUDA) and AMD (ROCm) GPUs; pick one "
                        "of those, or engine \"llama.cpp\" or \"ollama\" on Apple silicon")
    return Options(
        mem_fraction_static=_fraction(f, "mem_fraction_static"),
        context_length=f.integer("context_length", default=ctx.context_length,
                                 maximum=request_limit("context_length")),
        max_running_requests=f.optional_integer(
            "max_running_requests", maximum=request_limit("sglang.max_running_requests")),
        max_total_tokens=f.optional_integer(
            "max_total_tokens", maximum=request_limit("sglang.max_total_tokens")),
        chunked_prefill_size=f.optional_integer(
            "chunked_prefill_size", maximum=request_limit("sglang.chunked_prefill_size")),
        cuda_graph_max_bs=f.optional_integer(
            "cuda_graph_max_bs", maximum=request_limit("sglang.cuda_graph_max_bs")),
        disable_cuda_graph=f.boolean("disable_cuda_graph", default=False),
        disable_prefill_cuda_graph=f.boolean("disable_prefill_cuda_graph", default=False),
        page_size=f.integer("page_size", default=DEFAULT_PAGE_SIZE,
                            maximum=request_limit("sglang.page_size")),
        swa_full_tokens_ratio=f.number("swa_full_tokens_ratio",
                                       default=DEFAULT_SWA_FULL_TOKENS_RATIO, maximum=1.0,
                                       exclusive_minimum=True),
        disable_hybrid_swa_memory=f.boolean("disable_hybrid_swa_memory", default=False),
        disable_radix_cache=f.boolean("disable_radix_cache", default=False),
        distributed_bytes=f.integer(
            "distributed_bytes", default=DEFAULT_DISTRIBUTED_BYTES[ctx.tensor_parallel > 1],
            minimum=0, maximum=request_limit("sglang.distributed_bytes")),
        device_memory_bytes=f.optional_integer(
            "device_memory_bytes", minimum=MiB,
            maximum=request_limit("sglang.device_memory_bytes")),
    )


def _fraction(f: Fields, key: str) -> float | None:
    if not f.has(key):
        return None
    return f.number(key, default=0.9, maximum=1.0, exclusive_minimum=True)


def cache_dtypes(options: Options) -> tuple[str, str] | None:
    return None


def catalog_defaults() -> dict[str, Any]:
    return {
        "version": VERSION,
        "mem_fraction_static": None,  # SGLang's default for the GPU
        "context_length": None,  # = context_length
        "max_running_requests": None,  # from the pool (resolve_max_num_reqs)
        "max_total_tokens": None,
        "chunked_prefill_size": None,  # by GPU memory
        "cuda_graph_max_bs": None,  # by GPU memory and TP
        "disable_cuda_graph": False,
        "disable_prefill_cuda_graph": False,
        "page_size": DEFAULT_PAGE_SIZE,
        "swa_full_tokens_ratio": DEFAULT_SWA_FULL_TOKENS_RATIO,
        "disable_hybrid_swa_memory": False,
        "disable_radix_cache": False,
        "distributed_bytes": None,  # 0 at TP=1, 1.92 GiB at TP>1
        "device_memory_bytes": None,  # the GPU's catalog memory
        "overheads": {"cuda_context_bytes": CUDA_CONTEXT_BYTES,
                      "allocator_reserve_fraction": ALLOCATOR_RESERVE_FRACTION},
        "defaults_by_gpu": {
            gpu.id: _catalog_row(gpu) for gpu in catalogs.gpus().values()
            if gpu.vendor != "apple"
        },
    }


def _catalog_row(gpu: GPU) -> dict[str, Any]:
    d = server_defaults(_gpu_mem_mib(gpu), tp=1, cuda=gpu.vendor == "nvidia")
    return {"chunked_prefill_size": d.chunked_prefill_size,
            "cuda_graph_max_bs": d.cuda_graph_max_bs}


# ----------------------------------------------------------------------------------------
# Server defaults: arg_groups/memory_hook.py handle_gpu_memory_settings


@dataclass(frozen=True, kw_only=True, slots=True)
class ServerDefaults:
    chunked_prefill_size: int
    cuda_graph_max_bs: int


def _gpu_mem_mib(gpu: GPU) -> float:
    """What SGLang calls gpu_mem: nvidia-smi's memory.total in MiB (utils/common.py
    get_nvgpu_memory_capacity; rocm-smi's on AMD)."""
    return gpu.memory_bytes / MiB


def server_defaults(gpu_mem: float, *, tp: int, cuda: bool) -> ServerDefaults:
    """chunked_prefill_size and the decode CUDA-graph max_bs by GPU memory (MiB) and TP:
    < 20 GiB 2048/8; < 35 GiB 4096/48 (160 at TP >= 4); < 60 GiB 4096/32 (160); < 90 GiB
    8192/256 (512); < 160 GiB 8192/256 (512); otherwise 16384/512."""
    del cuda  # the NVIDIA and AMD buckets are the same; NPU ones are not modelled
    if gpu_mem < 20 * 1024:
        return ServerDefaults(chunked_prefill_size=2048, cuda_graph_max_bs=8)
    if gpu_mem < 35 * 1024:
        return ServerDefaults(chunked_prefill_size=4096,
                              cuda_graph_max_bs=48 if tp < 4 else 160)
    if gpu_mem < 60 * 1024:
        return ServerDefaults(chunked_prefill_size=4096,
                              cuda_graph_max_bs=32 if tp < 4 else 160)
    if gpu_mem < 160 * 1024:
        return ServerDefaults(chunked_prefill_size=8192,
                              cuda_graph_max_bs=256 if tp < 4 else 512)
    return ServerDefaults(chunked_prefill_size=16384, cuda_graph_max_bs=512)


def decode_graph_sizes(max_bs: int) -> list[int]:
    """arg_groups/cuda_graph_hook.py generate_decode_cuda_graph_batch_sizes (no
    speculative decoding): [1, 2, 4, 8, 12, 16..256 step 8, 272..496 step 16, 512.. step 32],
    up to max_bs, and max_bs itself."""
    sizes = [1, 2, 4, 8, 12, *range(16, 257, 8), *range(272, 512, 16),
             *range(512, max_bs + 1, 32)]
    sizes = [s for s in sizes if s <= max_bs]
    if max_bs not in sizes:
        sizes.append(max_bs)
    return sizes


def prefill_graph_sizes(max_tokens: int) -> list[int]:
    """arg_groups/cuda_graph_hook.py generate_prefill_cuda_graph_batch_sizes: token counts
    4..32 step 4, 48..256 step 16, 288..512 step 32, 576..1024 step 64, 1280..4096 step 256,
    4608.. step 512, up to max_tokens."""
    sizes = [*range(4, 33, 4), *range(48, 257, 16), *range(288, 513, 32),
             *range(576, 1025, 64), *range(1280, 4097, 256), *range(4608, max_tokens + 1, 512)]
    return [s for s in sizes if s <= max_tokens]


@dataclass(frozen=True, kw_only=True, slots=True)
class Reserve:
    """SGLang's own estimate (MiB) of what it leaves outside mem_fraction_static."""

    activation_mib: float  # 512 + 1.5 per chunked-prefill token (at least 2048 tokens)
    parallel_mib: float  # tp/8 GiB
    graph_mib: float  # reserve_for_graph_mb
    floor_applied: bool  # >= 10 GiB on GPUs above 60 GiB

    @property
    def total_mib(self) -> float:
        total = self.activation_mib + self.parallel_mib + self.graph_mib
        return max(total, 10 * 1024) if self.floor_applied else total


def reserve(gpu_mem: float, *, chunked: int, decode_max_bs: int, prefill_sizes: int,
            decode_graphs: bool, prefill_graphs: bool, mla: bool, tp: int) -> Reserve:
    """memory_hook.py handle_gpu_memory_settings / reserve_for_graph_mb: 512 MiB of
    metadata + 1.5 MiB per token of max(chunked_prefill_size, 2048) + tp/8 GiB + decode
    graphs (2 MiB per batch size up to max_bs) + prefill graphs (8 MiB per captured size;
    1.5 GiB with an MLA backend); at least 10 GiB on GPUs above 60 GiB."""
    graph = float(decode_max_bs * 2) if decode_graphs else 0.0
    if prefill_graphs:
        graph += 1.5 * 1024 if mla else prefill_sizes * 8
    return Reserve(activation_mib=512 + max(chunked, 2048) * 1.5, parallel_mib=tp / 8 * 1024,
                   graph_mib=graph, floor_applied=gpu_mem > 60 * 1024)


def default_fraction(gpu_mem: float, r: Reserve) -> float:
    """mem_fraction_static = round((gpu_mem - reserved) / gpu_mem, 3)."""
    return round((gpu_mem - r.total_mib) / gpu_mem, 3)


# ----------------------------------------------------------------------------------------
# The token pool: mem_cache/kv_cache_configurator.py, model_executor/pool_configurator.py


@dataclass(frozen=True, kw_only=True, slots=True)
class Pool:
    """Bytes per token of the pool's layers on one GPU. `swa_per_token` is 0 unless the
    model gets SGLang's hybrid sliding-window pool (then `window` is its window)."""

    full_per_token: int  # all full-attention layers (every layer without a hybrid pool)
    swa_per_token: int  # all sliding-window layers of a hybrid pool
    full_layers: int
    swa_layers: int
    window: int
    mla: bool

    def cell_size(self, ratio: float) -> float:
        """Bytes per pool token: the full layers plus `ratio` of a token in every
        sliding-window layer (HybridSWAPoolConfigurator._recompute_cell_size)."""
        return self.full_per_token + ratio * self.swa_per_token


def pool_geometry(spec: ModelSpec, config: Mapping[str, Any], kv_bits: float, tp: int,
                  *, hybrid_allowed: bool) -> Pool:
    """MHA: kv heads on this GPU (max(1, heads // tp)) x (head_dim + v_head_dim) x dtype
    bytes per layer (DefaultPoolConfigurator._compute_cell_size); MLA: one latent of
    kv_lora_rank + qk_rope_head_dim per layer, replicated over TP."""
    heads = max(spec.num_kv_heads, 1)
    per_gpu = max(1, heads // tp)  # ModelConfig.get_num_kv_heads
    hybrid = hybrid_allowed and bool(_HYBRID_SWA_ARCHS & set(_architectures(config)))
    full = swa = full_layers = swa_layers = window = 0
    for layer in spec.attention:
        if layer.kind == "none":
            continue
        if spec.mla:
            width = layer.latent_width
        else:
            width = (layer.k_width + layer.v_width) * per_gpu // heads
        per_token = int(width * kv_bits / 8)
        if hybrid and layer.kind in ("sliding", "chunked"):
            swa, swa_layers, window = swa + per_token, swa_layers + 1, layer.window
        else:
            full, full_layers = full + per_token, full_layers + 1
    return Pool(full_per_token=full, swa_per_token=swa, full_layers=full_layers,
                swa_layers=swa_layers, window=window, mla=spec.mla)


def _architectures(config: Mapping[str, Any]) -> list[str]:
    archs = config.get("architectures")
    return [a for a in archs if isinstance(a, str)] if isinstance(archs, list) else []


def rope_cache_bytes(spec: ModelSpec, config: Mapping[str, Any]) -> int:
    """The rotary cos/sin cache SGLang keeps in fp32: max positions x rotary width x 4 B,
    one per model (layers/rotary_embedding/base.py _compute_cos_sin_cache; get_rope
    shares it). Rotary width: head_dim x partial_rotary_factor, qk_rope_head_dim for MLA;
    none for learned positions (GPT-2)."""
    if spec.model_type in ("gpt2",):
        return 0
    width = spec.head_dim
    rope = config.get("qk_rope_head_dim")
    if spec.mla and isinstance(rope, int) and rope > 0:
        width = rope
    factor = config.get("partial_rotary_factor", config.get("rotary_pct", 1.0))
    if isinstance(factor, (int, float)) and 0 < factor < 1:
        width = int(width * factor)
    return spec.max_position_embeddings * width * 4


def max_running_requests(tokens: int, context_len: int, requested: int | None) -> int:
    """kv_cache_configurator.py resolve_max_num_reqs: without --max-running-requests,
    clamp(int(tokens / context_len x 512), 2048, 4096); at most tokens // 2."""
    if requested is not None:
        return max(0, min(requested, tokens // 2))
    estimated = max(min(int(tokens / context_len * 512), 4096), 2048)
    return max(0, min(estimated, tokens // 2))


@dataclass(frozen=True, kw_only=True, slots=True)
class Budget:
    """SGLang's numbers on one GPU (all sizes per GPU)."""

    device_memory: int
    gpu_mem_mib: float
    chunked_prefill_size: int
    cuda_graph_max_bs: int
    decode_graph_sizes: int
    prefill_graph_sizes: int
    reserve: Reserve
    fraction: float
    fraction_is_default: bool
    pre_model_load: int
    weights: int
    rope_cache: int
    rest: int  # bytes of the pool's budget (may be <= 0)
    full_tokens: int  # max_total_num_tokens (full layers, hybrid pools)
    swa_tokens: int
    max_running_requests: int
    kv_bytes: int  # K and V buffers as allocated (+ one page per layer)
    req_to_token: int
    cuda_graphs: int
    activations: int
    error: str | None

    @property
    def started(self) -> bool:
        return self.error is None

    @property
    def static_bytes(self) -> int:
        """What SGLang lets weights and the pool take: mem_fraction_static x the baseline."""
        return int(self.pre_model_load * self.fraction)


@dataclass(frozen=True, kw_only=True, slots=True)
class Plan:
    """Everything about an SGLang request that does not depend on the GPU."""

    weights: int  # per GPU
    rope_cache: int
    pool: Pool
    kv_bits: float
    opts: Options
    tp: int
    context: int  # CUDA context before the baseline
    layer_elements: int
    hidden: int
    vocab: int
    max_positions: int

    def budget(self, gpu: GPU, *, selected: bool) -> Budget:
        """The pool SGLang sizes on `gpu` (kv_cache_configurator.py _profile_available_bytes,
        config_from_budget, resolve_max_num_reqs)."""
        opts = self.opts
        memory = gpu.cuda_total_bytes  # what torch.cuda.mem_get_info() reports
        if selected and opts.device_memory_bytes is not None:
            memory = opts.device_memory_bytes
        gpu_mem = _gpu_mem_mib(gpu)
        d = server_defaults(gpu_mem, tp=self.tp, cuda=gpu.vendor == "nvidia")
        chunked = opts.chunked_prefill_size or d.chunked_prefill_size
        max_bs = opts.cuda_graph_max_bs or d.cuda_graph_max_bs
        if opts.cuda_graph_max_bs is None and opts.max_running_requests is not None:
            max_bs = min(max_bs, opts.max_running_requests)  # the decode graphs' default cap
        decode = decode_graph_sizes(max_bs)
        # prefill graphs default to "breakable" on CUDA only (cuda_graph_config.py
        # default_prefill_backend); their largest size is chunked_prefill_size (8192 at
        # most with MLA)
        prefill_on = gpu.vendor == "nvidia" and not (opts.disable_cuda_graph
                                                     or opts.disable_prefill_cuda_graph)
        prefill = prefill_graph_sizes(min(chunked, 8192) if self.pool.mla else chunked)
        r = reserve(gpu_mem, chunked=chunked, decode_max_bs=max_bs,
                    prefill_sizes=len(prefill) if prefill_on else 0,
                    decode_graphs=not opts.disable_cuda_graph, prefill_graphs=prefill_on,
                    mla=self.pool.mla, tp=self.tp)
        fraction = opts.mem_fraction_static
        if fraction is None:
            fraction = default_fraction(gpu_mem, r)
        pre = memory - self.context - opts.distributed_bytes
        loaded = self.weights + self.rope_cache
        after = pre - loaded
        rest = after - int(pre * (1 - fraction))
        full, swa, error = self._tokens(rest, pre, after, fraction)
        reqs = max_running_requests(full, opts.context_length, opts.max_running_requests)
        graphs = int(r.graph_mib * MiB)
        return Budget(
            device_memory=memory, gpu_mem_mib=gpu_mem, chunked_prefill_size=chunked,
            cuda_graph_max_bs=max_bs, decode_graph_sizes=len(decode),
            prefill_graph_sizes=len(prefill) if prefill_on else 0, reserve=r,
            fraction=fraction, fraction_is_default=opts.mem_fraction_static is None,
            pre_model_load=pre, weights=self.weights, rope_cache=self.rope_cache, rest=rest,
            full_tokens=full, swa_tokens=swa, max_running_requests=reqs,
            kv_bytes=self.kv_bytes(full, swa) if error is None else 0,
            req_to_token=(reqs + 1) * (opts.context_length + _REQ_TO_TOKEN_EXTRA) * 4
            if error is None else 0,
            cuda_graphs=graphs if error is None else 0,
            activations=self.activations(chunked, max_bs) if error is None else 0,
            error=error,
        )

    def _tokens(self, rest: int, pre: int, after: int, fraction: float
                ) -> tuple[int, int, str | None]:
        """(max_total_num_tokens, SWA pool tokens, SGLang's error or None)."""
        opts, pool, page = self.opts, self.pool, self.opts.page_size
        if rest <= 0:
            return 0, 0, _no_room_error(fraction, after, pre)
        hybrid = pool.swa_layers > 0 and not opts.disable_hybrid_swa_memory
        ratio = opts.swa_full_tokens_ratio if hybrid else 0.0
        per_token = pool.cell_size(ratio) if hybrid else pool.full_per_token + pool.swa_per_token
        tokens = int(rest // per_token) // page * page if per_token else 0
        if opts.max_total_tokens is not None:
            tokens = min(tokens, opts.max_total_tokens // page * page)
        if tokens <= 0:
            return 0, 0, ("Not enough memory. Please try to increase --mem-fraction-static. "
                          f"Current value: mem_fraction_static={fraction}")
        if not hybrid:
            return tokens, 0, None
        swa = int(tokens * ratio) // page * page
        if pool.window + page >= swa:  # MemoryPoolConfigurator.validate_swa_pool_size
            return tokens, swa, (
                f"SWA pool ({swa} tokens) cannot hold even one request: the prefill admission "
                f"floor is sliding_window_size ({pool.window}) + page_size ({page}). Increase "
                "--swa-full-tokens-ratio or the total KV budget.")
        return tokens, swa, None

    def kv_bytes(self, full: int, swa: int) -> int:
        """K and V buffers as memory_pool.py allocates them: size + page_size rows per layer
        (MHATokenToKVPool, MLATokenToKVPool; SWA layers in their own pool)."""
        page, pool = self.opts.page_size, self.pool
        if swa or (pool.swa_layers and not self.opts.disable_hybrid_swa_memory):
            return (full + page) * pool.full_per_token + (swa + page) * pool.swa_per_token
        return (full + page) * (pool.full_per_token + pool.swa_per_token)

    def activations(self, chunked: int, max_bs: int) -> int:
        """The working set of a prefill chunk (one layer's temporaries, bf16, as the other
        engines cost a forward) with its hidden states, or of a decode batch's fp32 logits,
        whichever is larger. An approximation: SGLang itself reserves 1.5 MiB per chunk
        token for it."""
        forward = chunked * self.layer_elements * 2 // self.tp + chunked * self.hidden * 2
        logits = max_bs * self.vocab * 4
        return max(forward, logits)


def _no_room_error(fraction: float, after: int, pre: int) -> str:
    """kv_cache_configurator.py _profile_available_bytes: weights beyond the static share."""
    available, before = after / GiB, pre / GiB
    minimum = 1 - available / before if before > 0 else 1.0
    suggested = math.ceil(minimum * 1000) / 1000
    return (f"Loaded weights leave no GPU memory for the KV cache under "
            f"--mem-fraction-static={fraction}. Raise --mem-fraction-static above "
            f"{suggested:.3f} (minimum viable = 1 - available/pre = {minimum:.4f}). If using "
            "speculative decoding, draft weights are now counted.")


def plan(req: InferenceRequest) -> Plan:
    opts: Options = req.options
    spec = req.spec
    config = req.common.model.source_config
    tp = req.tensor_parallel
    return Plan(
        weights=cdiv(formats.weights_bytes(req.weight_format, spec), tp),
        rope_cache=rope_cache_bytes(spec, config),
        pool=pool_geometry(spec, config, req.kv_cache_dtype.bits, tp, hybrid_allowed=True),
        kv_bits=req.kv_cache_dtype.bits, opts=opts, tp=tp,
        context=req.overheads.cuda_context_bytes, layer_elements=layer_elements(spec),
        hidden=spec.hidden_size, vocab=spec.vocab_size,
        max_positions=spec.max_position_embeddings,
    )


# ----------------------------------------------------------------------------------------
# The answer


def kv_log_line(req: InferenceRequest, p: Plan, b: Budget) -> str:
    """memory_pool.py KVCache._finalize_allocation_log (sizes in GiB, "GB" as SGLang
    prints them); a hybrid pool logs its "Full" and "SWA" pools (swa_memory_pool.py)."""
    dtype = _TORCH_DTYPES.get(req.kv_cache_dtype.id, req.kv_cache_dtype.id)
    page = p.opts.page_size

    def line(label: str, tokens: int, per_token: int) -> str:
        size = (tokens + page) * per_token / GiB
        if p.pool.mla:
            return (f"{label}KV Cache is allocated. dtype: {dtype}, #tokens: {tokens}, "
                    f"KV size: {size:.2f} GB")
        return (f"{label}KV Cache is allocated. dtype: {dtype}, #tokens: {tokens}, "
                f"K size: {size / 2:.2f} GB, V size: {size / 2:.2f} GB")

    if b.swa_tokens:
        return "\n".join((line("Full ", b.full_tokens, p.pool.full_per_token),
                          line("SWA ", b.swa_tokens, p.pool.swa_per_token)))
    return line("", b.full_tokens, p.pool.full_per_token + p.pool.swa_per_token)


def scheduler_log_line(p: Plan, b: Budget) -> str:
    """managers/scheduler.py: the line logged once the server is up (less the free memory
    SGLang measures then)."""
    return (f"max_total_num_tokens={b.full_tokens}, "
            f"chunked_prefill_size={b.chunked_prefill_size}, "
            f"max_prefill_tokens={DEFAULT_MAX_PREFILL_TOKENS}, "
            f"max_running_requests={b.max_running_requests}, "
            f"context_len={p.opts.context_length}")


def pool_warning(p: Plan, b: Budget) -> str | None:
    """managers/tp_worker.py get_worker_info: a pool shorter than one full-length request."""
    if not b.started or b.full_tokens >= p.opts.context_length:
        return None
    return (f"KV pool holds {b.full_tokens} tokens, fewer than --context-length "
            f"{p.opts.context_length}. One full-length request cannot fit, so long requests "
            "will be refused or truncated at serving time. Lower --context-length, raise "
            "--mem-fraction-static, or free memory taken before the pool is sized.")


def total_bytes(p: Plan, b: Budget) -> int:
    if not b.started:  # SGLang stops after loading the weights
        return p.context + p.opts.distributed_bytes + b.weights + b.rope_cache
    return (p.context + p.opts.distributed_bytes + b.weights + b.rope_cache + b.kv_bytes
            + b.req_to_token + b.cuda_graphs + b.activations)


def phase(req: InferenceRequest, p: Plan, b: Budget) -> Phase:
    """What `nvidia-smi` shows while SGLang serves on the selected GPU."""
    frac = f"{b.fraction:g}" + (" (SGLang's default for this GPU)" if b.fraction_is_default
                                else "")
    hybrid = b.swa_tokens > 0
    kv_formula = (
        f"(max_total_num_tokens {b.full_tokens:,} + page) × {p.pool.full_per_token:,} B"
        + (f" + (SWA tokens {b.swa_tokens:,} + page) × {p.pool.swa_per_token:,} B"
           if hybrid else "")
        + f"; tokens = (free after weights − baseline × (1 − {frac})) // cell size"
    )
    components = (
        Component(name="weights", label="Weights", bytes=b.weights, kind="tensor",
                  formula=f"{req.weight_format.id} weights / TP {p.tp}",
                  source=req.weight_format.source + f"; {_SRC} 'Load weight end'"),
        Component(name="rope_cache", label="Rotary cos/sin cache", bytes=b.rope_cache,
                  kind="tensor", formula="max positions × rotary width × 4 B (fp32)",
                  source=f"{_SRC} layers/rotary_embedding/base.py _compute_cos_sin_cache"),
        Component(name="kv_cache", label="KV cache (token pool, shared by the radix cache)",
                  bytes=b.kv_bytes, kind="tensor", formula=kv_formula,
                  source=f"{_SRC} mem_cache/kv_cache_configurator.py "
                  "_profile_available_bytes; model_executor/pool_configurator.py; "
                  "mem_cache/memory_pool.py MHATokenToKVPool / MLATokenToKVPool"),
        Component(name="req_to_token", label="Request-to-token table", bytes=b.req_to_token,
                  kind="tensor", formula=f"({b.max_running_requests:,} requests + 1) × "
                  f"(context_len {p.opts.context_length:,} + 4) × 4 B",
                  source=f"{_SRC} mem_cache/memory_pool.py ReqToTokenPool"),
        Component(name="cuda_graphs", label="CUDA graphs", bytes=b.cuda_graphs,
                  kind="overhead",
                  formula="0 (disable_cuda_graph)" if p.opts.disable_cuda_graph else (
                      f"SGLang's reserve: 2 MiB × decode max_bs {b.cuda_graph_max_bs} + "
                      + ("1.5 GiB (MLA prefill graphs)" if p.pool.mla and
                         b.prefill_graph_sizes else
                         f"8 MiB × {b.prefill_graph_sizes} prefill graph sizes")),
                  source=f"{_SRC} arg_groups/memory_hook.py reserve_for_graph_mb"),
        Component(name="activations", label="Activations (prefill chunk or decode logits)",
                  bytes=b.activations, kind="tensor",
                  formula=f"max(chunk of {b.chunked_prefill_size:,} tokens × one layer's "
                  "temporaries × 2 B + hidden states, decode max_bs × V × 4 B)",
                  source="approximation (SGLang reserves 1.5 MiB per chunk token: "
                  "arg_groups/memory_hook.py)"),
        Component(name="distributed", label="Process groups (NCCL, custom all-reduce)",
                  bytes=p.opts.distributed_bytes, kind="overhead",
                  formula="sglang.distributed_bytes",
                  source="'Init torch distributed ends. mem usage=2.01 GB' at TP 8 "
                  "(sgl-project/sglang PR #11716)"),
        cuda_context(p.context, label="CUDA context (before the baseline)",
                     source="79.18 GiB - 78.43 GiB 'Load weight begin. avail mem' on an H100 "
                     "(sgl-project/sglang docs/advanced_features/lora.ipynb)"),
    )
    return Phase(name="serving", components=components)


def details(req: InferenceRequest, p: Plan, b: Budget) -> dict[str, Any]:
    return {
        "version": VERSION,
        "device_memory_bytes": b.device_memory,
        "gpu_memory_mib": round(b.gpu_mem_mib, 2),
        "mem_fraction_static": b.fraction,
        "mem_fraction_static_is_default": b.fraction_is_default,
        "reserved_mem_mib": round(b.reserve.total_mib, 2),
        "chunked_prefill_size": b.chunked_prefill_size,
        "max_prefill_tokens": DEFAULT_MAX_PREFILL_TOKENS,
        "cuda_graph_max_bs": b.cuda_graph_max_bs,
        "decode_cuda_graph_sizes": b.decode_graph_sizes if not p.opts.disable_cuda_graph else 0,
        "prefill_cuda_graph_sizes": b.prefill_graph_sizes,
        "page_size": p.opts.page_size,
        "context_length": p.opts.context_length,
        "pre_model_load_bytes": b.pre_model_load,
        "static_bytes": b.static_bytes,
        "weights_bytes": b.weights,
        "available_kv_bytes": b.rest,
        "cell_size_bytes": p.pool.full_per_token + p.pool.swa_per_token,
        "max_total_num_tokens": b.full_tokens,
        "swa_max_total_num_tokens": b.swa_tokens if b.swa_tokens else None,
        "max_running_requests": b.max_running_requests,
        "kv_cache_bytes": b.kv_bytes,
        "req_to_token_bytes": b.req_to_token,
        "max_full_length_requests": b.full_tokens // p.opts.context_length,
        "radix_cache": "off" if p.opts.disable_radix_cache else
        "on: cached prefixes live in the same token pool (no extra memory)",
        "log": {"kv_cache": kv_log_line(req, p, b) if b.started else None,
                "scheduler": scheduler_log_line(p, b) if b.started else None},
        "fits": b.started and b.full_tokens >= p.opts.context_length,
        "error": b.error,
        "warning": pool_warning(p, b),
    }


def respond(req: InferenceRequest) -> EngineResult:
    """SGLang's pool on the selected GPU, and on each GPU of the fit table."""
    opts: Options = req.options
    device = req.common.device
    assert device is not None  # the parser requires a GPU for SGLang
    p = plan(req)
    selected = p.budget(device, selected=True)
    rows = []
    for gpu in req.common.fit_devices:
        rows.append(_fit_row(p, gpu, selected if gpu.id == device.id else None,
                             req.tensor_parallel))
    out: dict[str, Any] = {
        "kv_cache_bytes_per_token": kv_bytes_per_token(req),
        "weights_bits_per_parameter": bits_per_parameter(selected.weights * req.tensor_parallel,
                                                         req),
        "sglang": details(req, p, selected),
        "speed": speed(req, weights=selected.weights,
                       kv=min(selected.kv_bytes, (p.pool.full_per_token + p.pool.swa_per_token)
                              * opts.context_length * req.batch_size),
                       context=opts.context_length),
    }
    warnings: list[Warning] = []
    if selected.error:
        warnings.append(Warning(code="sglang_will_not_start", message=selected.error))
    elif (message := pool_warning(p, selected)) is not None:
        warnings.append(Warning(code="sglang_pool_shorter_than_context", message=message))
    elif selected.full_tokens // opts.context_length < req.batch_size:
        warnings.append(Warning(
            code="sglang_concurrency",
            message=f"the token pool holds {selected.full_tokens:,} tokens: "
            f"{selected.full_tokens // opts.context_length} requests of "
            f"{opts.context_length:,} tokens, fewer than batch_size {req.batch_size}; SGLang "
            "queues or retracts the rest"))
    peak = phase(req, p, selected)
    return EngineResult(peak=peak, phases=(peak,), fit_rows=tuple(rows), details=out,
                        length_field="sglang.context_length", length=opts.context_length,
                        warnings=tuple(warnings))


def _fit_row(p: Plan, gpu: GPU, b: Budget | None, tp: int) -> fit.FitRow:
    """SGLang with its defaults for each GPU (the selected one with the request's own).
    Headroom: the pool beyond one full-length request, or the memory left, whichever is
    smaller; negative when it does not fit (what the pool lacks when SGLang stops)."""
    if gpu.vendor == "apple":  # no CUDA or ROCm: SGLang does not serve there
        return fit.FitRow(gpu=gpu.id, name=gpu.name, memory_bytes=gpu.memory_bytes,
                          usable_bytes=0, fits=False, headroom_bytes=-p.weights,
                          max_batch_size=0, max_context_length=0, gpus_for_weights=1)
    b = b or p.budget(gpu, selected=False)
    length = p.opts.context_length
    cell = p.pool.full_per_token + p.pool.swa_per_token
    if b.started:
        headroom = min((b.full_tokens - length) * cell, b.device_memory - total_bytes(p, b))
    else:
        headroom = min(b.rest - length * cell, -1)
    fits = headroom >= 0
    return fit.FitRow(
        gpu=gpu.id, name=gpu.name, memory_bytes=gpu.memory_bytes,
        usable_bytes=b.static_bytes, fits=fits, headroom_bytes=headroom,
        max_batch_size=min(b.full_tokens // length, b.max_running_requests) if fits else 0,
        max_context_length=min(b.full_tokens, p.max_positions) if b.started else 0,
        gpus_for_weights=max(1, cdiv(b.weights * tp, max(b.static_bytes, 1))),
    )
