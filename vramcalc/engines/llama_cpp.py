"""llama.cpp (and Ollama, which runs it): exact allocations per device.

llama.cpp allocates exactly: weights per layer on the device they are offloaded to, a KV
cache of `n_ctx` cells per layer on the same device, and one compute buffer per device sized
by reserving the worst-case graph of one micro-batch (`n_ubatch` tokens). Followed: llama.cpp
as vendored by llama-cpp-python 0.3.36 (2026-10); each function names the file it mirrors.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .. import catalogs, fit, formats, host, recurrent_state
from ..catalogs import request_limit
from ..components import Component, EngineResult, Phase, Warning, cuda_context
from ..sizes import MiB, cdiv
from .common import bits_per_parameter, kv_bytes_per_token, speed

if TYPE_CHECKING:
    from ..errors import Fields
    from ..request import InferenceRequest
    from ..request.inference import Context

NAME = "llama.cpp"
OPTIONS_KEY = "llama_cpp"
RUNS_GGUF = True
KV_DEFAULT = "fp16"  # --cache-type-k/-v f16
SINGLE_GPU = "llama.cpp splits layers, not tensors: use 1 (one GPU)"
VERSION = "llama.cpp 2026-10 (as vendored by llama-cpp-python 0.3.36)"
# --cache-type-k/-v names (common/arg.cpp kv_cache_types) -> KV dtype ids
CACHE_TYPES = {
    "f32": "fp32", "f16": "fp16", "bf16": "bf16", "q8_0": "q8_0", "q4_0": "q4_0",
    "q4_1": "q4_1", "iq4_nl": "iq4_nl", "q5_0": "q5_0", "q5_1": "q5_1",
}
# common/common.h defaults: -b 2048, -ub 512
DEFAULT_N_BATCH = 2048
DEFAULT_N_UBATCH = 512
# The CUDA backend's context, cuBLAS handle and kernels, outside llama.cpp's buffers.
CUDA_CONTEXT_BYTES = 300 * MiB
ALLOCATOR_RESERVE_FRACTION = 0.0  # ggml allocates exact buffers
# Host memory bandwidth for the layers left on the CPU (speed estimate only):
# dual-channel DDR5-4800, 2 x 38.4 GB/s. On unified memory (Apple, Strix Halo, DGX Spark)
# the CPU reads the same memory as the GPU: the default is the chip's bandwidth.
DEFAULT_CPU_BANDWIDTH_GB_S = 76.8


@dataclass(frozen=True, kw_only=True, slots=True)
class Options:
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


def parse_options(f: Fields, ctx: Context) -> Options:
    f.unknown_keys(Options.__slots__)
    names = {v: k for k, v in CACHE_TYPES.items()}
    default_type = names.get(ctx.kv_cache_dtype, "f16")
    types = tuple(CACHE_TYPES)
    type_k = f.choice("cache_type_k", types, default=default_type)
    type_v = f.choice("cache_type_v", types, default=default_type)
    flash = f.boolean("flash_attn", default=True)
    if not flash and type_v not in ("f32", "f16", "bf16"):
        # llama-context.cpp: "quantized V cache was requested, but this requires Flash
        # Attention"
        f.add("cache_type_v", f"a quantized V cache ({type_v}) requires flash "
              "attention: set llama_cpp.flash_attn to true")
    n_batch = f.integer("n_batch", default=DEFAULT_N_BATCH,
                        maximum=request_limit("llama_cpp.n_batch"))
    n_ubatch = f.integer("n_ubatch", default=DEFAULT_N_UBATCH,
                         maximum=request_limit("llama_cpp.n_ubatch"))
    ngl = f.integer("n_gpu_layers", default=-1, minimum=-1,
                    maximum=request_limit("llama_cpp.n_gpu_layers"))
    return Options(
        n_ctx=f.integer("n_ctx", default=ctx.context_length,
                        maximum=request_limit("llama_cpp.n_ctx")),
        n_batch=n_batch,
        n_ubatch=min(n_batch, n_ubatch),  # llama-context.cpp: n_ubatch = min(n_batch, n_ubatch)
        cache_type_k=type_k,
        cache_type_v=type_v,
        flash_attn=flash,
        n_gpu_layers=ngl,
        cpu_bandwidth_gb_s=f.number("cpu_bandwidth_gb_s", default=cpu_bandwidth_default(ctx),
                                    exclusive_minimum=True,
                                    maximum=request_limit("llama_cpp.cpu_bandwidth_gb_s")),
    )


def cpu_bandwidth_default(ctx: Context) -> float:
    """The CPU side's memory bandwidth: the chip's own on unified memory (its CPU reads the
    same memory as its GPU), else `DEFAULT_CPU_BANDWIDTH_GB_S`."""
    device = ctx.common.device
    if device is not None and device.kind == "unified" and device.bandwidth_gb_s:
        return float(device.bandwidth_gb_s)
    return DEFAULT_CPU_BANDWIDTH_GB_S


def cache_dtypes(options: Options) -> tuple[str, str] | None:
    """The KV dtype ids of K and V (they may differ in llama.cpp)."""
    return CACHE_TYPES[options.cache_type_k], CACHE_TYPES[options.cache_type_v]


def catalog_defaults() -> dict[str, Any]:
    return {
        "version": VERSION,
        "weight_format": "Q4_K_M",
        "n_ctx": None,  # = context_length
        "n_batch": DEFAULT_N_BATCH,
        "n_ubatch": DEFAULT_N_UBATCH,
        "cache_type_k": "f16",
        "cache_type_v": "f16",
        "flash_attn": True,
        "n_gpu_layers": -1,  # all
        "cpu_bandwidth_gb_s": DEFAULT_CPU_BANDWIDTH_GB_S,  # unified memory: the chip's
        "overheads": {"cuda_context_bytes": CUDA_CONTEXT_BYTES,
                      "allocator_reserve_fraction": ALLOCATOR_RESERVE_FRACTION},
    }


_KV_PAD = 256  # llama-context.cpp: n_ctx = GGML_PAD(n_ctx, 256); the SWA cache too


@dataclass(frozen=True, kw_only=True, slots=True)
class Split:
    """Bytes on each side for one `-ngl` value."""

    n_gpu_layers: int
    gpu_weights: int
    cpu_weights: int
    gpu_kv: int
    cpu_kv: int
    gpu_compute: int
    cpu_compute: int
    context: int
    gpu_state: int = 0  # recurrent layers' state (one sequence slot)
    cpu_state: int = 0

    @property
    def gpu_total(self) -> int:
        return self.gpu_weights + self.gpu_kv + self.gpu_state + self.gpu_compute + self.context

    @property
    def cpu_total(self) -> int:
        return self.cpu_weights + self.cpu_kv + self.cpu_state + self.cpu_compute


@dataclass(frozen=True, kw_only=True, slots=True)
class Plan:
    """Per-layer weights and KV rows, and the compute-graph shape of one micro-batch."""

    layer_weights: tuple[int, ...]
    output_weights: int  # output.weight + output_norm (on the GPU once -ngl >= 1)
    input_weights: int  # token_embd: always on the CPU
    kv_row_bytes: tuple[tuple[float, int], ...]  # per layer: (bytes per cell, window or 0)
    n_ctx: int
    n_ubatch: int
    flash_attn: bool
    heads: int
    head_dim_v: int
    kv_width: int  # largest per-layer K+V elements per token (k and v of the micro-batch)
    q_width: int  # query heads x head_dim
    ffn_width: int  # widest per-token FFN temporaries (elements)
    hidden: int
    vocab: int
    context: int
    tied_duplicate: int  # bytes of output that are a second copy of token_embd
    weights_suffix: tuple[int, ...]  # weights of layers i.. (n_layer + 1 entries)
    state_suffix: tuple[int, ...]  # recurrent state of layers i.. (one sequence slot)
    kv_suffix: tuple[tuple[int, tuple[float, ...]], ...]  # per window: row bytes of layers i..
    n_seq: int = 1  # sequences (-np); each gets its own SWA window (no --kv-unified)

    @property
    def n_layer(self) -> int:
        return len(self.layer_weights)

    def cells(self, n_ctx: int, window: int) -> int:
        """KV cells of one layer (llama-kv-cache-iswa.cpp: SWA layers keep
        GGML_PAD(min(n_ctx, n_swa + n_ubatch), 256) cells per stream; without
        --kv-unified each of the n_seq sequences is a stream of n_ctx / n_seq cells)."""
        full = _pad(n_ctx)
        if window == 0:
            return full
        return self.n_seq * _pad(min(full // self.n_seq, window + self.n_ubatch))

    def kv_layer_bytes(self, n_ctx: int) -> list[int]:
        return [int(row * self.cells(n_ctx, w)) for row, w in self.kv_row_bytes]

    def kv_from(self, start: int, n_ctx: int) -> int:
        """KV bytes of layers start.. (cheap: suffix sums of the row sizes per window)."""
        return int(sum(rows[start] * self.cells(n_ctx, w) for w, rows in self.kv_suffix))

    def compute_buffer(self, n_ctx: int, *, with_output: bool) -> int:
        """The compute buffer of the worst-case graph (llama-context.cpp graph_reserve with
        n_ubatch tokens and outputs): ggml's allocator reuses memory, so its size is the
        largest set of f32 tensors alive at once, at one of three points:
        - attention: without flash attention the K·Q scores of one layer (n_kv x n_ubatch x
          heads x 4 B) and the f32 mask (n_kv x n_ubatch x 4 B); with it the f16 mask and
          the output; plus the residual, normed input, q, k and v of the micro-batch;
        - the FFN temporaries; - the output layer's logits (n_ubatch x vocab x 4 B).
        Checked against `llama-fit-params --fit-print` (CPU backend) to within 1 MiB + 0.2 %
        (tests/data/llamacpp_buffers.json)."""
        u, n_kv = self.n_ubatch, _pad(n_ctx)
        around = u * (4 * self.hidden + self.q_width + self.kv_width) * 4
        if self.flash_attn:
            attention = n_kv * _pad(u, 64) * 2 + u * self.heads * self.head_dim_v * 4
        else:
            attention = n_kv * u * self.heads * 4 + n_kv * u * 4
        ffn = u * (self.ffn_width + 2 * self.hidden) * 4
        logits = u * (self.vocab + 2 * self.hidden) * 4 if with_output else 0
        return max(attention + around, ffn, logits)

    def split(self, n_gpu_layers: int, n_ctx: int | None = None) -> Split:
        """-ngl N puts the last N-1 layers and the output layer on the GPU
        (llama-model.cpp load_tensors: i_gpu_start = n_layer + 1 - N; the input layer
        always stays on the CPU)."""
        ctx = self.n_ctx if n_ctx is None else n_ctx
        n = self.n_layer
        ngl = n + 1 if n_gpu_layers < 0 else min(n_gpu_layers, n + 1)
        start = min(n + 1 - ngl, n)  # layers start.. on the GPU; -ngl 0: none
        layers_gpu = self.weights_suffix[start]
        gpu_w = layers_gpu + (self.output_weights if ngl >= 1 else 0)
        # a tied output on the CPU is the same mapped tensor as token_embd: no second copy
        cpu_w = self.weights_suffix[0] - layers_gpu + self.input_weights + (
            0 if ngl >= 1 else self.output_weights - self.tied_duplicate)
        gpu_kv = self.kv_from(start, ctx)
        cpu_kv = self.kv_from(0, ctx) - gpu_kv
        # -ngl 0 on a CUDA build: the context exists, and the scheduler still runs matmuls
        # of 32+ tokens on the GPU (ggml-cuda.cu ggml_backend_cuda_device_offload_op,
        # op offload on by default), so the GPU gets a compute buffer as for a full offload
        gpu_compute = self.compute_buffer(ctx, with_output=True)
        cpu_compute = 0
        if ngl <= n:  # something stays on the CPU: it gets its own compute buffer
            cpu_compute = self.compute_buffer(ctx, with_output=ngl == 0)
        gpu_state = self.state_suffix[start]
        return Split(
            n_gpu_layers=ngl, gpu_weights=gpu_w, cpu_weights=cpu_w, gpu_kv=gpu_kv,
            cpu_kv=cpu_kv, gpu_compute=gpu_compute, cpu_compute=cpu_compute,
            context=self.context, gpu_state=gpu_state,
            cpu_state=self.state_suffix[0] - gpu_state,
        )

    def gpu_total(self, n_gpu_layers: int, n_ctx: int) -> int:
        """GPU bytes of `split(n_gpu_layers, n_ctx)`, without building it (fit solvers)."""
        return self.split(n_gpu_layers, n_ctx).gpu_total

    def max_gpu_layers(self, budget: int) -> int:
        """The largest -ngl whose GPU side fits in `budget` (0 when none does)."""
        best = 0
        for ngl in range(self.n_layer + 1, 0, -1):
            if self.split(ngl).gpu_total <= budget:
                best = ngl
                break
        return best


def _pad(n: int, to: int = _KV_PAD) -> int:
    return cdiv(n, to) * to


def _row_bytes(type_id: str, elements: int) -> float:
    """ggml_row_size: whole blocks of the cache type."""
    name = {"fp32": "F32", "fp16": "F16", "bf16": "BF16"}.get(type_id, type_id.upper())
    size, block = catalogs.ggml_types()[name]
    return cdiv(elements, block) * size


def plan(req: InferenceRequest, *, n_seq: int = 1) -> Plan:
    """The plan of `req`; `n_seq` parallel sequences (llama-server -np) share its n_ctx."""
    opts: Options = req.options
    spec = req.common.spec
    layers, outside = formats.weights_by_layer(req.weight_format, spec)
    inp = outside.get("token_embd", 0) + outside.get("pos_embd", 0)
    out = sum(outside.values()) - inp
    tied = outside.get("token_embd", 0) if spec.tie_word_embeddings else 0
    out += tied  # a tied embedding is loaded twice, once as the output (TENSOR_DUPLICATED)
    k_id, v_id = req.kv_cache_dtype.id, req.kv_cache_dtype_v.id
    rows: list[tuple[float, int]] = []
    # Phi-3's sliding_window is ignored by llama.cpp (src/models/phi3.cpp sets swa_type
    # NONE: "fix conversion scripts to correctly populate n_swa"): every layer is full
    ignore_windows = spec.family == "phi3"
    for layer in spec.attention:
        window = layer.window if layer.kind in ("sliding", "chunked") else 0
        if ignore_windows:
            window = 0
        if layer.kind == "none":
            rows.append((0.0, 0))
        elif spec.mla:  # llama-kv-cache.cpp: MLA caches K (the latent) only
            rows.append((_row_bytes(k_id, layer.latent_width), window))
        else:
            rows.append((_row_bytes(k_id, layer.k_width) + _row_bytes(v_id, layer.v_width),
                         window))
    widths = [layer.k_width + layer.v_width for layer in spec.attention] or [0]
    first = spec.attention[0] if spec.attention else None
    moe = spec.moe
    ffn = max((3 * f for f in spec.dense_layer_widths), default=0)
    if moe is not None:
        ffn = max(ffn, 3 * moe.expert_intermediate_size * moe.experts_per_token
                  + moe.num_experts + 3 * moe.shared_intermediate_size)
    return Plan(
        layer_weights=tuple(layers), output_weights=out, input_weights=inp,
        kv_row_bytes=tuple(rows), n_ctx=opts.n_ctx, n_ubatch=opts.n_ubatch,
        flash_attn=opts.flash_attn, heads=spec.num_heads,
        head_dim_v=first.v_width // max(spec.num_kv_heads, 1) if first else spec.head_dim,
        kv_width=max(widths), q_width=spec.num_heads * spec.head_dim, ffn_width=ffn,
        hidden=spec.hidden_size, vocab=spec.vocab_size,
        context=req.overheads.cuda_context_bytes, tied_duplicate=tied, n_seq=n_seq,
        weights_suffix=_suffix([float(x) for x in layers], int),
        state_suffix=_suffix([float(x) for x in recurrent_state.llama_cpp_layer_bytes(spec)],
                             int),
        kv_suffix=tuple(
            (w, _suffix([row if win == w else 0.0 for row, win in rows], float))
            for w in sorted({win for _, win in rows})
        ),
    )


def _suffix(values: list[float], kind: type) -> tuple:  # type: ignore[type-arg]
    out = [kind(0)] * (len(values) + 1)
    for i in range(len(values) - 1, -1, -1):
        out[i] = kind(out[i + 1] + values[i])
    return tuple(out)


def phase(req: InferenceRequest, plan: Plan, s: Split) -> Phase:
    """The GPU side of a llama.cpp run with `-ngl s.n_gpu_layers`."""
    opts: Options = req.options
    n = plan.n_layer
    where = f"{min(s.n_gpu_layers, n + 1)} of {n + 1} layers (incl. output) on the GPU"
    fa = ("flash attention" if plan.flash_attn
          else "no flash attention: n_kv × n_ubatch × heads × 4 B scores")
    state = (Component(
        name="recurrent_state", label="Recurrent state (GPU layers)", bytes=s.gpu_state,
        kind="tensor", formula="per recurrent layer and sequence slot: ((conv_kernel - 1) · "
        "conv channels + state elements) · 4 B (F32 r and s tensors)",
        source=f"{VERSION}: llama-memory-recurrent.cpp"),) if plan.state_suffix[0] else ()
    components = (
        *state,
        Component(name="weights", label="Weights (GPU layers)", bytes=s.gpu_weights,
                  kind="tensor", formula=f"GGUF {req.weight_format.id} tensors of {where}; "
                  "token_embd stays on the CPU",
                  source=req.weight_format.source + "; llama-model.cpp load_tensors"),
        Component(name="kv_cache", label="KV cache (GPU layers)", bytes=s.gpu_kv, kind="tensor",
                  formula=(f"per layer: {_pad(plan.n_ctx):,} cells × (row(K {opts.cache_type_k})"
                           f" + row(V {opts.cache_type_v})); SWA layers "
                           "pad(min(n_ctx, W + n_ubatch), 256) cells"),
                  source=f"{VERSION}: llama-kv-cache.cpp, llama-kv-cache-iswa.cpp, "
                  "llama-context.cpp (n_ctx padded to 256)"),
        Component(name="compute_buffer", label="Compute buffer", bytes=s.gpu_compute,
                  kind="tensor", formula=f"worst-case graph of n_ubatch={plan.n_ubatch} "
                  f"tokens over {_pad(plan.n_ctx):,} KV cells ({fa}) + logits",
                  source=f"{VERSION}: llama-context.cpp graph_reserve "
                  "(ggml-alloc.c gallocr)"),
        cuda_context(s.context, source="CUDA driver context, cuBLAS handle and ggml-cuda "
                     "kernels"),
    )
    return Phase(name="serving", components=components)


def details(plan: Plan, s: Split, max_ngl: int | None) -> dict[str, Any]:
    kv = plan.kv_layer_bytes(plan.n_ctx)
    return {
        "version": VERSION,
        "n_ctx": _pad(plan.n_ctx),
        "n_ubatch": plan.n_ubatch,
        "flash_attn": plan.flash_attn,
        "n_layer": plan.n_layer,
        "n_gpu_layers": s.n_gpu_layers,
        "max_n_gpu_layers": max_ngl,
        "gpu_bytes": s.gpu_total,
        "cpu_bytes": s.cpu_total,
        "gpu": {"weights": s.gpu_weights, "kv_cache": s.gpu_kv, "compute_buffer": s.gpu_compute,
                "cuda_context": s.context,
                **({"recurrent_state": s.gpu_state} if plan.state_suffix[0] else {})},
        "cpu": {"weights": s.cpu_weights, "kv_cache": s.cpu_kv, "compute_buffer": s.cpu_compute,
                **({"recurrent_state": s.cpu_state} if plan.state_suffix[0] else {})},
        "kv_cache_bytes": sum(kv),
        "model_file_bytes": sum(plan.layer_weights) + plan.input_weights + plan.output_weights
        - plan.tied_duplicate,
    }

def host_memory(req: InferenceRequest, plan: Plan, s: Split) -> dict[str, Any]:
    """The CPU side in host memory (the CPU layers stay mapped from the file), the file
    mapped while loading, and the GGUF file as the download."""
    src = f"{VERSION}: llama-model.cpp load_tensors (layers below -ngl stay on the CPU)"
    resident = [
        host.part("weights", "Weights (CPU layers, mapped from the file)", s.cpu_weights,
                  "token_embd and the layers -ngl leaves on the CPU", src),
        host.part("kv_cache", "KV cache (CPU layers)", s.cpu_kv,
                  "the CPU layers' KV cells", src),
        host.part("compute_buffer", "Compute buffer (CPU)", s.cpu_compute,
                  "the CPU backend's worst-case graph", src),
    ]
    file_bytes = (sum(plan.layer_weights) + plan.input_weights + plan.output_weights
                  - plan.tied_duplicate)
    return host.memory(resident=resident, load=host.gguf_load(file_bytes),
                       download=host.gguf_download(file_bytes, req.weight_format.id,
                                                   req.weight_format.source))


def respond(req: InferenceRequest) -> EngineResult:
    """The GPU side of the selected `-ngl`, and per GPU the most slots and context."""
    opts: Options = req.options
    p = plan(req)
    split = p.split(opts.n_gpu_layers)
    devices = req.common.fit_devices
    budgets = [g.usable_bytes for g in devices]
    ngl, n_ctx = opts.n_gpu_layers, opts.n_ctx
    # parallel slots of n_ctx tokens each (llama-server -np N -c N*n_ctx)
    slots = fit.largest(lambda k: p.gpu_total(ngl, k * n_ctx), budgets, 1 << 10)
    lengths = fit.largest(lambda c: p.gpu_total(ngl, 256 * c), budgets,
                          max(1, req.spec.max_position_embeddings // 256))
    rows = []
    for gpu, budget in zip(devices, budgets, strict=True):
        rows.append(fit.FitRow(
            gpu=gpu.id, name=gpu.name, memory_bytes=gpu.memory_bytes,
            usable_bytes=budget, fits=split.gpu_total <= budget,
            headroom_bytes=budget - split.gpu_total,
            max_batch_size=slots[budget],
            max_context_length=256 * lengths[budget],
            gpus_for_weights=max(1, cdiv(split.gpu_weights + split.cpu_weights, budget)),
        ))
    selected = req.common.device
    max_ngl = p.max_gpu_layers(selected.usable_bytes) if selected else None
    peak = phase(req, p, split)
    out: dict[str, Any] = {
        "kv_cache_bytes_per_token": kv_bytes_per_token(req),
        "weights_bits_per_parameter": bits_per_parameter(split.gpu_weights + split.cpu_weights,
                                                         req),
        "llama_cpp": details(p, split, max_ngl),
        # token_embd stays on the CPU, but a token reads one row of it (ggml_get_rows), not
        # the whole table: only the CPU layers (and a CPU output layer) are read in full
        "speed": speed(req, weights=split.gpu_weights, kv=split.gpu_kv,
                       cpu_weights=split.cpu_weights - p.input_weights, cpu_kv=split.cpu_kv,
                       cpu_bandwidth=opts.cpu_bandwidth_gb_s, context=opts.n_ctx),
        "host_memory": host_memory(req, p, split),
    }
    warnings: tuple[Warning, ...] = ()
    if split.n_gpu_layers == 0:
        warnings = (Warning(
            code="llama_cpp_no_layers_offloaded",
            message="with -ngl 0 a CUDA build still creates its context and runs large matmuls "
            "on the GPU (op offload): its compute buffer is estimated as for a full offload; "
            "a CPU-only build uses no GPU memory"),)
    return EngineResult(peak=peak, phases=(peak,), fit_rows=tuple(rows), details=out,
                        length_field="context_length", length=opts.n_ctx, warnings=warnings)
