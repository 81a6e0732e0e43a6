"""Ollama (v0.32.15): the llama-server Ollama starts for a model, and what it allocates.

Ollama runs llama.cpp: since v0.30 every GGUF model is served by an upstream `llama-server`
subprocess (llm/llama_server.go). What Ollama decides is the command line: the context
(`-c num_ctx x OLLAMA_NUM_PARALLEL`, `-np`), the KV cache type (OLLAMA_KV_CACHE_TYPE), flash
attention (OLLAMA_FLASH_ATTENTION, else auto), the batch (`-b`/`-ub`, chosen from the
context) and, unless num_gpu is set, no `-ngl` at all: llama-server's `--fit` then offloads
as many layers as leave 1 GiB free. The memory is llama.cpp's plan for those flags
(engines/llama_cpp.py). Ollama's own pre-flight estimate (llm/llama_server.go
PredictServerVRAM: file size + an f16 KV cache) is reported beside it, not used. Each
function names the Ollama file it mirrors (ollama/ollama at tag v0.32.15).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from .. import catalogs, fit, ollama
from ..catalogs import request_limit
from ..components import EngineResult, Warning
from ..sizes import GiB, MiB
from . import llama_cpp
from .common import bits_per_parameter, kv_bytes_per_token, speed

if TYPE_CHECKING:
    from ..catalogs import GPU
    from ..errors import Fields
    from ..request import InferenceRequest
    from ..request.inference import Context

NAME = "ollama"
OPTIONS_KEY = "ollama"
RUNS_GGUF = True
KV_DEFAULT = "fp16"  # OLLAMA_KV_CACHE_TYPE unset: llama-server's f16
SINGLE_GPU = "Ollama's llama-server splits layers, not tensors: use 1 (one GPU)"
VERSION = "0.32.15"
CUDA_CONTEXT_BYTES = llama_cpp.CUDA_CONTEXT_BYTES  # the llama-server process's
ALLOCATOR_RESERVE_FRACTION = 0.0  # ggml allocates exact buffers
CACHE_TYPES = llama_cpp.CACHE_TYPES  # passed through as --cache-type-k/-v

# server/routes.go Serve: OLLAMA_CONTEXT_LENGTH unset, num_ctx follows the GPUs' total memory
# (less OLLAMA_GPU_OVERHEAD): >= 47 GiB 262144, >= 23 GiB 32768, else (and without a GPU) 4096
CONTEXT_TIERS = ((47 * GiB, 262144), (23 * GiB, 32768))
DEFAULT_NUM_CTX = 4096
DEFAULT_NUM_PARALLEL = 1  # envconfig/config.go NumParallel
# llama.cpp common/common.h fit_params_target: what --fit leaves free on each device
FIT_TARGET_BYTES = 1024 * MiB


@dataclass(frozen=True, kw_only=True, slots=True)
class Options:
    """Ollama's model options and server environment that change memory. None: Ollama's
    automatic choice (num_ctx by VRAM, num_batch by context, flash attention where the GPU
    supports it). `num_gpu` -1: llama-server's --fit picks the layers."""

    num_ctx: int | None  # the num_ctx option, or OLLAMA_CONTEXT_LENGTH
    num_parallel: int  # OLLAMA_NUM_PARALLEL
    kv_cache_type: str  # OLLAMA_KV_CACHE_TYPE
    flash_attention: bool | None  # OLLAMA_FLASH_ATTENTION
    num_batch: int | None
    num_gpu: int
    gpu_overhead_bytes: int  # OLLAMA_GPU_OVERHEAD
    cpu_bandwidth_gb_s: float


def parse_options(f: Fields, ctx: Context) -> Options:
    f.unknown_keys(Options.__slots__)
    names = {v: k for k, v in CACHE_TYPES.items()}
    kv_type = f.choice("kv_cache_type", tuple(CACHE_TYPES),
                       default=names.get(ctx.kv_cache_dtype, "f16"))
    flash = f.get("flash_attention")
    if flash is not None:
        flash = f.boolean("flash_attention", default=True)
    if flash is False and kv_type not in ("f32", "f16", "bf16"):
        # llama.cpp refuses a quantized V cache without flash attention (llama-context.cpp)
        f.add("kv_cache_type", f"a quantized KV cache ({kv_type}) requires flash attention: "
              "set ollama.flash_attention to true (OLLAMA_FLASH_ATTENTION=1) or leave it "
              "unset")
    return Options(
        num_ctx=f.optional_integer("num_ctx", maximum=request_limit("ollama.num_ctx")),
        num_parallel=f.integer("num_parallel", default=DEFAULT_NUM_PARALLEL,
                               maximum=request_limit("ollama.num_parallel")),
        kv_cache_type=kv_type,
        flash_attention=flash,
        num_batch=f.optional_integer("num_batch", maximum=request_limit("ollama.num_batch")),
        num_gpu=f.integer("num_gpu", default=-1, minimum=-1,
                          maximum=request_limit("ollama.num_gpu")),
        gpu_overhead_bytes=f.integer("gpu_overhead_bytes", default=0, minimum=0,
                                     maximum=request_limit("ollama.gpu_overhead_bytes")),
        cpu_bandwidth_gb_s=f.number("cpu_bandwidth_gb_s",
                                    default=llama_cpp.DEFAULT_CPU_BANDWIDTH_GB_S,
                                    exclusive_minimum=True,
                                    maximum=request_limit("llama_cpp.cpu_bandwidth_gb_s")),
    )


def cache_dtypes(options: Options) -> tuple[str, str] | None:
    """OLLAMA_KV_CACHE_TYPE sets K and V alike (--cache-type-k and --cache-type-v)."""
    kv = CACHE_TYPES[options.kv_cache_type]
    return kv, kv


def catalog_defaults() -> dict[str, Any]:
    return {
        "version": VERSION,
        "num_ctx": None,  # by the GPU's memory: 4096, 32768 (>= 23 GiB), 262144 (>= 47 GiB)
        "num_parallel": DEFAULT_NUM_PARALLEL,
        "kv_cache_type": "f16",
        "flash_attention": None,  # auto: on where the GPU supports it
        "num_batch": None,  # by the context: 512, 1024 (> 4096), 2048 (> 32768)
        "num_gpu": -1,  # llama-server --fit
        "gpu_overhead_bytes": 0,
        "cpu_bandwidth_gb_s": llama_cpp.DEFAULT_CPU_BANDWIDTH_GB_S,
        "overheads": {"cuda_context_bytes": CUDA_CONTEXT_BYTES,
                      "allocator_reserve_fraction": ALLOCATOR_RESERVE_FRACTION},
        "models": sorted({m.name for m in ollama.models().values()}),
        "num_ctx_by_gpu": {gpu.id: default_num_ctx(gpu, 0) for gpu in catalogs.gpus().values()},
    }


# ----------------------------------------------------------------------------------------
# Ollama's choices


def vram(gpu: GPU) -> int:
    """The total Ollama discovers for a GPU: what the driver reports to CUDA, or Metal's
    working-set limit on Apple silicon."""
    return int((gpu.cuda_memory_bytes or gpu.memory_bytes) * gpu.usable_fraction)


def default_num_ctx(gpu: GPU | None, overhead: int) -> int:
    """server/routes.go Serve: the VRAM-tier default context (no GPU: 4096)."""
    total = vram(gpu) - overhead if gpu is not None else 0
    return next((ctx for floor, ctx in CONTEXT_TIERS if total >= floor), DEFAULT_NUM_CTX)


def flash_attention(opts: Options, gpu: GPU | None) -> bool:
    """llm/llama_server.go LlamaServerFlashAttention: the setting if given, else "auto",
    which llama.cpp turns on where ml/device.go FlashAttentionSupported (CUDA compute 6.0+
    except 7.2, Metal, ROCm, the CPU)."""
    if opts.flash_attention is not None:
        return opts.flash_attention
    if gpu is None or gpu.vendor != "nvidia":
        return True
    return gpu.sm >= 60 and gpu.sm != 72


def predicted_vram(file_bytes: int, req: InferenceRequest, ctx: int) -> int:
    """llm/llama_server.go PredictServerVRAM, Ollama's own estimate: the file's size plus
    an f16 K and V of every layer for `ctx` tokens, at the fewest KV heads and
    embedding_length / head_count per head (no compute buffer, no SWA, any cache type)."""
    spec = req.spec
    head_dim = spec.hidden_size // max(spec.num_heads, 1)
    kv_heads = max(spec.num_kv_heads, 1)
    return file_bytes + 2 * spec.num_layers * kv_heads * head_dim * ctx * 2


def auto_batch(ctx: int, predicted: int, available: int, flash: bool, gpu: GPU | None) -> int:
    """server/sched.go automaticGenerationBatch: 2048 above 32k tokens, 1024 above 4k, else
    512, lowered while the prediction leaves too little room (2048 needs it <= 60 % of the
    free memory and 2 GiB more below 80 %; 1024 <= 75 % and 768 MiB); 512 on CUDA without
    flash attention (256 above 4k tokens on GPUs of 8 GiB or less)."""
    if not flash and gpu is not None and gpu.vendor == "nvidia":
        return 256 if ctx > 4096 and gpu.memory_bytes <= 8 * GiB else 512
    batch = 2048 if ctx > 32768 else 1024 if ctx > 4096 else 512
    while batch > 512 and not _batch_fits(batch, predicted, available):
        batch = 1024 if batch > 1024 else 512
    return batch


def _batch_fits(batch: int, predicted: int, available: int) -> bool:
    """server/sched.go generationBatchFits."""
    if predicted == 0 or available == 0:
        return True
    threshold = available * 80 // 100
    if predicted > threshold:
        return False
    share, surcharge = (60, 2 * GiB) if batch >= 2048 else (75, 768 * MiB)
    return predicted <= available * share // 100 and surcharge <= threshold - predicted


@dataclass(frozen=True, kw_only=True, slots=True)
class Launch:
    """The llama-server command line Ollama builds for one GPU (llm/llama_server.go)."""

    num_ctx: int  # num_ctx as set or by VRAM tier, before the model's cap
    context: int  # capped at the model's context length (server/sched.go effectiveContext)
    parallel: int
    flash: bool
    batch: int
    batch_auto: bool
    predicted: int  # Ollama's PredictServerVRAM for context x parallel

    @property
    def n_ctx(self) -> int:
        return self.context * self.parallel

    def args(self, kv_type: str, num_gpu: int) -> str:
        """The flags that change memory, as Ollama passes them."""
        out = f"-c {self.n_ctx} -np {self.parallel}"
        if kv_type != "f16":
            out += f" --cache-type-k {kv_type} --cache-type-v {kv_type}"
        out += f" --flash-attn {'on' if self.flash else 'off'} -b {self.batch} -ub {self.batch}"
        if num_gpu >= 0:
            out += f" -ngl {num_gpu}"
        return out


def train_context(req: InferenceRequest) -> int:
    """The GGUF's context length: the Ollama tag's, else the model's max positions."""
    return req.common.model.tag_context or req.spec.max_position_embeddings


def launch(req: InferenceRequest, gpu: GPU | None, file_bytes: int) -> Launch:
    opts: Options = req.options
    num_ctx = opts.num_ctx or default_num_ctx(gpu, opts.gpu_overhead_bytes)
    context = max(4, min(num_ctx, train_context(req)))  # sched.go getRunner: at least 4
    flash = flash_attention(opts, gpu)
    predicted = predicted_vram(file_bytes, req, context * opts.num_parallel)
    available = vram(gpu) - opts.gpu_overhead_bytes if gpu is not None else 0
    batch = opts.num_batch or auto_batch(context * opts.num_parallel, predicted, available,
                                         flash, gpu)
    return Launch(num_ctx=num_ctx, context=context, parallel=opts.num_parallel, flash=flash,
                  batch=batch, batch_auto=opts.num_batch is None, predicted=predicted)


def _llama_request(req: InferenceRequest, la: Launch, num_gpu: int) -> InferenceRequest:
    """`req` as llama.cpp's engine sees the command line Ollama builds."""
    opts: Options = req.options
    lopts = llama_cpp.Options(n_ctx=la.n_ctx, n_batch=la.batch, n_ubatch=la.batch,
                              cache_type_k=opts.kv_cache_type, cache_type_v=opts.kv_cache_type,
                              flash_attn=la.flash, n_gpu_layers=num_gpu,
                              cpu_bandwidth_gb_s=opts.cpu_bandwidth_gb_s)
    return replace(req, options=lopts, options_key=llama_cpp.OPTIONS_KEY)


def _budget(gpu: GPU, overhead: int) -> int:
    """What llama-server's --fit may fill: the free memory less OLLAMA_GPU_OVERHEAD and
    the 1 GiB it leaves free."""
    return vram(gpu) - overhead - FIT_TARGET_BYTES


def _layers(p: llama_cpp.Plan, gpu: GPU | None, opts: Options) -> int:
    """num_gpu as set, else --fit: every layer if they fit the budget, else the most that
    do (llama.cpp common_fit_params; the layers are llama.cpp's -ngl count)."""
    if opts.num_gpu >= 0:
        return opts.num_gpu
    if gpu is None:
        return p.n_layer + 1
    return p.max_gpu_layers(_budget(gpu, opts.gpu_overhead_bytes))


# ----------------------------------------------------------------------------------------
# The answer


def respond(req: InferenceRequest) -> EngineResult:
    """The llama-server Ollama starts on the selected GPU, and on each GPU of the table."""
    opts: Options = req.options
    gpu = req.common.device
    cache: dict[tuple[int, int, bool], tuple[InferenceRequest, llama_cpp.Plan]] = {}
    probe = llama_cpp.plan(_llama_request(req, launch(req, None, 0), -1))
    file_bytes = _file_bytes(probe)

    def planned(la: Launch) -> tuple[InferenceRequest, llama_cpp.Plan]:
        key = (la.n_ctx, la.batch, la.flash)
        if key not in cache:
            lreq = _llama_request(req, la, -1)
            cache[key] = lreq, llama_cpp.plan(lreq, n_seq=la.parallel)
        return cache[key]

    la = launch(req, gpu, file_bytes)
    lreq, p = planned(la)
    ngl = _layers(p, gpu, opts)
    split = p.split(ngl)
    rows = []
    for row_gpu in req.common.fit_devices:
        row_la = la if row_gpu is gpu else launch(req, row_gpu, file_bytes)
        rows.append(_fit_row(row_gpu, row_la, planned(row_la)[1], opts, train_context(req)))
    lreq = replace(lreq, options=replace(lreq.options, n_gpu_layers=ngl))
    peak = llama_cpp.phase(lreq, p, split)
    max_ngl = p.max_gpu_layers(_budget(gpu, opts.gpu_overhead_bytes)) if gpu else None
    out: dict[str, Any] = {
        "kv_cache_bytes_per_token": kv_bytes_per_token(req),
        "weights_bits_per_parameter": bits_per_parameter(split.gpu_weights + split.cpu_weights,
                                                         req),
        "ollama": details(req, la, p, split, file_bytes),
        "llama_cpp": llama_cpp.details(p, split, max_ngl),
        "speed": speed(lreq, weights=split.gpu_weights, kv=split.gpu_kv,
                       cpu_weights=split.cpu_weights - p.input_weights, cpu_kv=split.cpu_kv,
                       cpu_bandwidth=opts.cpu_bandwidth_gb_s, context=la.context),
    }
    return EngineResult(peak=peak, phases=(peak,), fit_rows=tuple(rows), details=out,
                        length_field="ollama.num_ctx", length=la.context,
                        warnings=tuple(warnings(req, la, p, split)))


def _file_bytes(p: llama_cpp.Plan) -> int:
    """The GGUF's tensors (what Ollama's estimate takes for the file's size)."""
    return sum(p.layer_weights) + p.input_weights + p.output_weights - p.tied_duplicate


def details(req: InferenceRequest, la: Launch, p: llama_cpp.Plan, split: llama_cpp.Split,
            file_bytes: int) -> dict[str, Any]:
    opts: Options = req.options
    model = req.common.model
    return {
        "version": VERSION,
        "model": model.ollama,
        "weight_format": req.weight_format.id,
        "num_ctx": la.num_ctx,
        "num_ctx_is_default": opts.num_ctx is None,
        "model_context_length": train_context(req),
        "context_per_request": la.context,
        "num_parallel": la.parallel,
        "llama_server_ctx": la.n_ctx,
        "kv_cache_type": opts.kv_cache_type,
        "flash_attention": la.flash,
        "num_batch": la.batch,
        "num_batch_is_default": la.batch_auto,
        "num_gpu": opts.num_gpu,
        "gpu_layers": split.n_gpu_layers,
        "layers": p.n_layer + 1,
        "llama_server_args": la.args(opts.kv_cache_type, opts.num_gpu),
        "file_bytes": file_bytes,
        "ollama_predicted_vram_bytes": la.predicted,
        "fit_target_bytes": FIT_TARGET_BYTES,
    }


def warnings(req: InferenceRequest, la: Launch, p: llama_cpp.Plan,
             split: llama_cpp.Split) -> list[Warning]:
    out: list[Warning] = []
    tag = req.common.model.ollama
    model = ollama.lookup(tag)[0] if tag else None
    if model is not None and model.note:
        out.append(Warning(code="ollama_model_note", message=f"{tag}: {model.note}"))
    if la.num_ctx > la.context:
        out.append(Warning(
            code="ollama_num_ctx_capped",
            message=f"num_ctx {la.num_ctx:,} exceeds the model's context length "
            f"{la.context:,}: Ollama uses {la.context:,} (llm/server.go \"requested context "
            "size too large for model\")"))
    if split.n_gpu_layers <= p.n_layer:
        out.append(Warning(
            code="ollama_partial_offload",
            message=f"{split.n_gpu_layers} of {p.n_layer + 1} layers (with the output layer) "
            "on the GPU: the rest run on the CPU, much slower"
            + (" (llama-server --fit leaves 1 GiB free)" if req.options.num_gpu < 0 else "")))
    return out


def _fit_row(gpu: GPU, la: Launch, p: llama_cpp.Plan, opts: Options, limit: int
             ) -> fit.FitRow:
    """Ollama with its defaults for each GPU (num_ctx by its memory): fits when every layer
    goes on the GPU; the most parallel requests of that context, and the longest single
    context up to the model's."""
    budget = _budget(gpu, opts.gpu_overhead_bytes)
    full = p.split(-1)
    ctx = la.context
    slots = fit.largest(lambda k: p.gpu_total(-1, k * ctx), [budget], 1 << 10)[budget]
    longest = fit.largest(lambda c: p.gpu_total(-1, 256 * c), [budget],
                          max(1, limit // 256))[budget]
    return fit.FitRow(
        gpu=gpu.id, name=gpu.name, memory_bytes=gpu.memory_bytes, usable_bytes=budget,
        fits=full.gpu_total <= budget, headroom_bytes=budget - full.gpu_total,
        max_batch_size=slots,
        max_context_length=256 * longest,
        gpus_for_weights=max(1, -(-(full.gpu_weights + full.cpu_weights) // max(budget, 1))),
    )
