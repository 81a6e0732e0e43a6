"""How serving engines allocate GPU memory: vLLM and llama.cpp (Ollama runs llama.cpp).

Versions followed: vLLM v0.33.0 (V1 engine) and llama.cpp as vendored by llama-cpp-python
0.3.36 (2026-10). Each function names the engine file and function it mirrors; the code
is written from reading them, not copied.

vLLM pre-allocates: it takes `gpu_memory_utilization` of the GPU, subtracts what a
profiling run used (weights, the activation peak, non-torch memory, CUDA graphs) and
fills the rest with KV-cache blocks. Its memory use therefore does not grow with load;
what the configuration decides is how many tokens the pool holds.

llama.cpp allocates exactly: weights per layer on the device they are offloaded to, a
KV cache of `n_ctx` cells per layer on the same device, and one compute buffer per device
sized by reserving the worst-case graph of one micro-batch (`n_ubatch` tokens).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from . import formats, inference, kv_cache
from .components import Component, Phase

if TYPE_CHECKING:
    from .architecture import ModelSpec
    from .request import InferenceRequest

GiB = 1 << 30
MiB = 1 << 20

# ----------------------------------------------------------------------------------------
# vLLM

VLLM_VERSION = "0.33.0"
# Bytes vLLM's sampler warm-up holds per (request x vocabulary entry) at its peak:
# gpu_model_runner.py `_dummy_sampler_run` runs top-k + top-p sampling over fp32 logits of
# min(max_num_seqs, max_num_batched_tokens) dummy requests (sorted values, int64 indices,
# probabilities, masks: about 9.6 fp32 copies). Fitted to the "peak activation" of five
# llm-d H100 logs (Llama-3.1-8B 4.76 GiB, Llama-3.3-70B TP2 4.84, Qwen3-0.6B 5.56,
# Qwen3-32B 5.64, gpt-oss-20b 7.38 at max_num_seqs 1024): 9.56 to 9.64 copies.
VLLM_SAMPLER_BYTES_PER_LOGIT = 38.4
# vLLM's CUDA-graph profiler counts at least 1 MiB per captured graph
# (gpu_model_runner.py profile_cudagraph_memory, "driver overhead").
VLLM_BYTES_PER_CUDA_GRAPH = MiB
_VLLM_SRC = f"vLLM v{VLLM_VERSION}"


def _cdiv(a: int, b: int) -> int:
    return -(-a // b)


@dataclass(frozen=True, kw_only=True, slots=True)
class KVBucket:
    """Layers that share one KV-cache spec in vLLM: full attention (window 0) or one
    sliding window; `page_bytes` is one block of one layer on one GPU."""

    window: int
    layers: int
    page_bytes: int


@dataclass(frozen=True, kw_only=True, slots=True)
class VLLMBudget:
    """vLLM's memory plan on one GPU (all sizes per GPU)."""

    device_memory: int
    requested: int
    max_num_seqs: int
    max_num_batched_tokens: int
    activation: int
    forward_peak: int
    sampler_peak: int
    non_torch: int
    cuda_graphs: int
    kv_pool: int
    bytes_per_block: int
    num_blocks: int
    blocks_per_request: int
    needed_one: int  # KV bytes one max_model_len request needs (vLLM's check)
    startup_ok: bool
    fits: bool
    max_concurrency: float
    kv_tokens: int
    max_model_len_estimate: int  # vLLM's own estimate, at most max_model_len
    max_model_len_that_fits: int  # the same search up to the model's max positions

    @property
    def total(self) -> int:
        """Bytes vLLM takes inside its budget: all of it when one request fits, otherwise
        what the configuration would need (non-KV memory + one request's blocks)."""
        spent = self.requested - self.kv_pool
        return spent + self.kv_cache_bytes

    @property
    def kv_cache_bytes(self) -> int:
        if self.fits:
            return self.kv_pool
        return max(self.kv_pool, self.needed_one + self.bytes_per_block)


@dataclass(frozen=True, kw_only=True, slots=True)
class VLLMPlan:
    """Everything about a vLLM request that does not depend on the GPU."""

    weights: int
    buckets: tuple[KVBucket, ...]
    group_layers: int  # layers per KV-cache group (vLLM's hybrid allocator)
    groups: tuple[int, ...]  # bucket index of each group
    block_size: int
    utilization: float
    max_model_len: int
    max_positions: int
    max_num_seqs: int | None
    max_num_batched_tokens: int | None
    layer_elements: int  # forward temporaries per token (one layer)
    hidden: int
    vocab: int
    tp: int
    enforce_eager: bool
    cuda_graph_bytes: int | None
    non_torch: int
    context: int
    device_memory_override: int | None

    def kv_needed(self, model_len: int, in_flight: int) -> int:
        """Bytes one request of `model_len` tokens needs, summed over layers
        (kv_cache_planning.py max_memory_usage_bytes: FullAttentionSpec and
        SlidingWindowSpec.max_memory_usage_bytes)."""
        return sum(
            b.layers * self._blocks(b, model_len, in_flight) * b.page_bytes for b in self.buckets
        )

    def _blocks(self, bucket: KVBucket, model_len: int, in_flight: int) -> int:
        if bucket.window == 0:
            return _cdiv(model_len, self.block_size)
        # the last W-1 computed tokens plus the tokens in flight; +1 as the window may
        # start inside a block (SlidingWindowSpec.max_admission_blocks_per_request)
        tokens = min(bucket.window - 1 + in_flight, model_len)
        return _cdiv(tokens, self.block_size) + 1

    def budget(self, gpu: dict[str, object], *, selected: bool) -> VLLMBudget:
        """vLLM's numbers on `gpu` (gpu_worker.py Worker.determine_available_memory,
        kv_cache_planning.py get_kv_cache_configs / check_enough_kv_cache_memory,
        kv_cache_utils.py get_max_concurrency_for_kv_cache_config)."""
        from .request import vllm_batch_defaults

        memory = int(gpu["memory_bytes"])  # type: ignore[call-overload]
        if selected and self.device_memory_override is not None:
            memory = self.device_memory_override
        seqs, tokens = vllm_batch_defaults({"memory_bytes": memory, "id": gpu["id"]})
        seqs = self.max_num_seqs or seqs
        tokens = self.max_num_batched_tokens or tokens
        # worker/utils.py request_memory: ceil(total x utilization)
        requested = int(-(-memory * self.utilization // 1))
        forward, sampler, activation = self.activation(seqs, tokens)
        graphs = self.cuda_graphs(seqs, tokens)
        pool = requested - self.weights - activation - self.non_torch - graphs
        per_block = self.group_layers * max(b.page_bytes for b in self.buckets)
        in_flight = 2 * tokens  # async scheduling: two batches in flight (max_in_flight_tokens)
        needed = self.kv_needed(self.max_model_len, in_flight)
        per_request = sum(
            self._blocks(self.buckets[i], self.max_model_len, in_flight) for i in self.groups
        )
        blocks = max(pool // per_block, 0)
        check = pool - per_block  # the null block the block pool holds back
        startup_ok = memory - self.context >= requested
        fits = startup_ok and pool > 0 and needed <= check
        concurrency = blocks / per_request if per_request else 0.0
        return VLLMBudget(
            device_memory=memory, requested=requested, max_num_seqs=seqs,
            max_num_batched_tokens=tokens, activation=activation, forward_peak=forward,
            sampler_peak=sampler, non_torch=self.non_torch, cuda_graphs=graphs, kv_pool=pool,
            bytes_per_block=per_block, num_blocks=blocks, blocks_per_request=per_request,
            needed_one=needed, startup_ok=startup_ok, fits=fits,
            max_concurrency=concurrency, kv_tokens=int(concurrency * self.max_model_len),
            max_model_len_estimate=self._longest(check, in_flight, self.max_model_len),
            max_model_len_that_fits=self._longest(check, in_flight, self.max_positions)
            if startup_ok else 0,
        )

    def _longest(self, available: int, in_flight: int, limit: int) -> int:
        """kv_cache_planning.py estimate_max_model_len: binary search in [1, limit]."""
        if available <= 0 or self.kv_needed(1, in_flight) > available:
            return 0
        low, high = 1, limit
        while low < high:
            mid = (low + high + 1) // 2
            if self.kv_needed(mid, in_flight) <= available:
                low = mid
            else:
                high = mid - 1
        return low

    def activation(self, seqs: int, tokens: int) -> tuple[int, int, int]:
        """(forward peak, sampler peak, activation reserve) of vLLM's profiling run
        (gpu_model_runner.py profile_run: `_dummy_run(max_num_tokens)`, then
        `_dummy_sampler_run` on min(max_num_seqs, tokens) rows while the forward's hidden
        states stay alive)."""
        forward = tokens * self.layer_elements * 2 // self.tp  # bf16 temporaries of one layer
        sampler = int(VLLM_SAMPLER_BYTES_PER_LOGIT * min(seqs, tokens) * self.vocab)
        hidden = tokens * self.hidden * 2  # hidden states kept for the sampler run
        return forward, sampler, max(forward, sampler) + hidden

    def cuda_graphs(self, seqs: int, tokens: int) -> int:
        """CUDA-graph memory vLLM profiles and (since v0.21) takes from the KV budget:
        the graph pool at the largest capture size plus `VLLM_BYTES_PER_CUDA_GRAPH` per
        graph, for piecewise and full decode graphs (gpu_model_runner.py
        profile_cudagraph_memory; capture sizes from config/vllm.py: [1, 2, 4, 8..248 step
        8, 256.. step 16] up to min(2 x max_num_seqs, 512))."""
        if self.enforce_eager:
            return 0
        if self.cuda_graph_bytes is not None:
            return self.cuda_graph_bytes
        largest = min(2 * seqs, 512, tokens)
        sizes = [s for s in (1, 2, 4, *range(8, 256, 8), *range(256, 513, 16)) if s <= largest]
        full = [s for s in sizes if s <= seqs]  # FULL graphs: uniform decode batches
        pool = largest * self.layer_elements * 2 // self.tp
        return pool + (len(sizes) + len(full)) * VLLM_BYTES_PER_CUDA_GRAPH


def vllm_buckets(spec: ModelSpec, kv_bits: float, block: int, tp: int) -> tuple[KVBucket, ...]:
    """Per-layer page sizes (kv_cache_interface.py AttentionSpec.page_size_bytes:
    block x KV heads on this GPU x (d_k + d_v) x dtype bytes; MLAAttentionSpec: one
    576-wide latent, replicated over TP)."""
    counts: dict[tuple[int, int], int] = {}
    heads = max(spec.num_kv_heads, 1)
    per_gpu = max(1, heads // tp)  # vLLM replicates KV heads when TP > KV heads
    for layer in spec.attention:
        if layer.kind == "none":
            continue
        if spec.mla:
            width = layer.latent_width
        else:
            width = (layer.k_width + layer.v_width) * per_gpu // heads
        page = int(block * width * kv_bits / 8)
        window = layer.window if layer.kind in ("sliding", "chunked") else 0
        counts[(window, page)] = counts.get((window, page), 0) + 1
    return tuple(KVBucket(window=w, layers=n, page_bytes=p) for (w, p), n in counts.items())


def vllm_groups(buckets: tuple[KVBucket, ...]) -> tuple[int, tuple[int, ...]]:
    """(layers per group, bucket of each group): kv_cache_planning.py
    `_get_kv_cache_groups_uniform_page_size`: the smallest bucket sets the group size
    (the largest if all are within 1.5x), and every bucket is cut into groups of it."""
    if len(buckets) == 1:
        return buckets[0].layers, (0,)
    sizes = [b.layers for b in buckets]
    size = max(sizes) if max(sizes) < min(sizes) * 1.5 else min(sizes)
    groups: list[int] = []
    for i, b in enumerate(buckets):
        groups.extend([i] * _cdiv(b.layers, size))
    return size, tuple(groups)


def vllm_plan(req: InferenceRequest, weights: int) -> VLLMPlan:
    opts = req.vllm
    assert opts is not None
    spec = req.common.spec
    buckets = vllm_buckets(spec, req.kv_cache_dtype.bits, opts.block_size, req.tensor_parallel)
    size, groups = vllm_groups(buckets)
    return VLLMPlan(
        weights=weights, buckets=buckets, group_layers=size, groups=groups,
        block_size=opts.block_size, utilization=opts.gpu_memory_utilization,
        max_model_len=opts.max_model_len, max_positions=spec.max_position_embeddings,
        max_num_seqs=opts.max_num_seqs, max_num_batched_tokens=opts.max_num_batched_tokens,
        layer_elements=inference.layer_elements(spec), hidden=spec.hidden_size,
        vocab=spec.vocab_size, tp=req.tensor_parallel, enforce_eager=opts.enforce_eager,
        cuda_graph_bytes=opts.cuda_graph_bytes, non_torch=opts.non_torch_bytes,
        context=req.overheads.cuda_context_bytes,
        device_memory_override=opts.device_memory_bytes,
    )


def vllm_error(plan: VLLMPlan, b: VLLMBudget) -> str | None:
    """The message vLLM v0.33.0 stops with, or None when it starts (worker/utils.py
    request_memory; kv_cache_planning.py _check_enough_kv_cache_memory)."""
    if not b.startup_ok:
        free = b.device_memory - plan.context
        return (f"Free memory on device ({_gib(free)}/{_gib(b.device_memory)} GiB) on startup "
                f"is less than desired GPU memory utilization ({plan.utilization}, "
                f"{_gib(b.requested)} GiB). Decrease GPU memory utilization or reduce GPU "
                "memory used by other processes.")
    if b.kv_pool <= 0:
        return ("No available memory for the cache blocks. Try increasing "
                "`gpu_memory_utilization` when initializing the engine.")
    if b.fits:
        return None
    estimate = ""
    if b.max_model_len_estimate > 0:
        estimate = ("Based on the available memory, the estimated maximum model length is "
                    f"{b.max_model_len_estimate}. ")
    return (f"To serve at least one request with the model's max seq len "
            f"({plan.max_model_len}), ({_gib(b.needed_one)} GiB KV cache is needed, which is "
            f"larger than the available KV cache memory "
            f"({_gib(b.kv_pool - b.bytes_per_block)} GiB). {estimate}Try increasing "
            "`gpu_memory_utilization` or decreasing `max_model_len` when initializing the "
            "engine.")


def _gib(n: int) -> str:
    """vLLM's utils/mem_utils.py format_gib: round(bytes / GiB, 2)."""
    return f"{round(n / GiB, 2)}"


# ----------------------------------------------------------------------------------------
# llama.cpp

LLAMA_CPP_VERSION = "llama.cpp 2026-10 (as vendored by llama-cpp-python 0.3.36)"
_KV_PAD = 256  # llama-context.cpp: n_ctx = GGML_PAD(n_ctx, 256); the SWA cache too


@dataclass(frozen=True, kw_only=True, slots=True)
class LlamaCppSplit:
    """Bytes on each side for one `-ngl` value."""

    n_gpu_layers: int
    gpu_weights: int
    cpu_weights: int
    gpu_kv: int
    cpu_kv: int
    gpu_compute: int
    cpu_compute: int
    context: int

    @property
    def gpu_total(self) -> int:
        return self.gpu_weights + self.gpu_kv + self.gpu_compute + self.context

    @property
    def cpu_total(self) -> int:
        return self.cpu_weights + self.cpu_kv + self.cpu_compute


@dataclass(frozen=True, kw_only=True, slots=True)
class LlamaCppPlan:
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
    kv_suffix: tuple[tuple[int, tuple[float, ...]], ...]  # per window: row bytes of layers i..

    @property
    def n_layer(self) -> int:
        return len(self.layer_weights)

    def cells(self, n_ctx: int, window: int) -> int:
        """KV cells of one layer (llama-kv-cache-iswa.cpp: SWA layers keep
        GGML_PAD(min(n_ctx, n_swa + n_ubatch), 256) cells)."""
        full = _pad(n_ctx)
        if window == 0:
            return full
        return _pad(min(full, window + self.n_ubatch))

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

    def split(self, n_gpu_layers: int, n_ctx: int | None = None) -> LlamaCppSplit:
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
        gpu_compute = self.compute_buffer(ctx, with_output=True) if ngl else 0
        cpu_compute = 0
        if ngl <= n:  # something stays on the CPU: it gets its own compute buffer
            cpu_compute = self.compute_buffer(ctx, with_output=ngl == 0)
        return LlamaCppSplit(
            n_gpu_layers=ngl, gpu_weights=gpu_w, cpu_weights=cpu_w, gpu_kv=gpu_kv,
            cpu_kv=cpu_kv, gpu_compute=gpu_compute, cpu_compute=cpu_compute,
            context=self.context if ngl else 0,
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
    return _cdiv(n, to) * to


def _row_bytes(type_id: str, elements: int) -> float:
    """ggml_row_size: whole blocks of the cache type."""
    name = {"fp32": "F32", "fp16": "F16", "bf16": "BF16"}.get(type_id, type_id.upper())
    size, block = formats.ggml_types()[name]
    return _cdiv(elements, block) * size


def llama_cpp_plan(req: InferenceRequest) -> LlamaCppPlan:
    opts = req.llama_cpp
    assert opts is not None and req.kv_cache_dtype_v is not None
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
    return LlamaCppPlan(
        layer_weights=tuple(layers), output_weights=out, input_weights=inp,
        kv_row_bytes=tuple(rows), n_ctx=opts.n_ctx, n_ubatch=opts.n_ubatch,
        flash_attn=opts.flash_attn, heads=spec.num_heads,
        head_dim_v=first.v_width // max(spec.num_kv_heads, 1) if first else spec.head_dim,
        kv_width=max(widths), q_width=spec.num_heads * spec.head_dim, ffn_width=ffn,
        hidden=spec.hidden_size, vocab=spec.vocab_size,
        context=req.overheads.cuda_context_bytes, tied_duplicate=tied,
        weights_suffix=_suffix([float(x) for x in layers], int),
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


def kv_bytes_per_token(geo: kv_cache.KVGeometry, bits: float) -> int:
    return int(kv_cache.bytes_per_token(geo, bits))


# ----------------------------------------------------------------------------------------
# Components and details (bytes only; formatting is the front ends' job)


def vllm_phase(req: InferenceRequest, plan: VLLMPlan, b: VLLMBudget) -> Phase:
    """What `nvidia-smi` shows once vLLM has started on the selected GPU: its budget
    (gpu_memory_utilization x memory) plus what the process held before (CUDA context)."""
    util = plan.utilization
    kv_label = "KV cache (pre-allocated pool)" if b.fits else "KV cache (one max_model_len request)"
    kv_formula = (
        f"{util:g} × {b.device_memory:,} B − weights − activations − non-torch − CUDA graphs"
        f" = {b.num_blocks:,} blocks × {b.bytes_per_block:,} B (+ remainder)"
        if b.fits else
        f"⌈max_model_len / block⌉ blocks × page size per layer, summed over layers, + the "
        f"null block (needed: {b.needed_one:,} B; the budget leaves {b.kv_pool:,} B)"
    )
    components = (
        Component(name="weights", label="Weights", bytes=plan.weights, kind="tensor",
                  formula=f"{req.weight_format.id} weights / TP {plan.tp}",
                  source=req.weight_format.source + f"; {_VLLM_SRC} 'Model loading took'"),
        Component(name="activations", label="Activation reserve (profiling peak)",
                  bytes=b.activation, kind="tensor",
                  formula=(f"max(forward of {b.max_num_batched_tokens:,} tokens: "
                           f"{b.forward_peak:,} B, sampler warm-up of "
                           f"{min(b.max_num_seqs, b.max_num_batched_tokens):,} requests × V × "
                           f"{VLLM_SAMPLER_BYTES_PER_LOGIT:g} B: {b.sampler_peak:,} B) + "
                           "hidden states (tokens × h × 2 B)"),
                  source=f"{_VLLM_SRC} gpu_model_runner.py profile_run, _dummy_sampler_run; "
                  "sampler constant fitted to llm-d H100 logs"),
        Component(name="non_torch", label="Non-torch memory (cuBLAS, NCCL)",
                  bytes=b.non_torch, kind="overhead", formula="vllm.non_torch_bytes",
                  source=f"{_VLLM_SRC} utils/mem_utils.py memory_profiling non_torch_increase; "
                  "default from llm-d H100 logs (0.13 GiB TP=1, 0.55 GiB TP=2)"),
        Component(name="cuda_graphs", label="CUDA graphs", bytes=b.cuda_graphs,
                  kind="overhead",
                  formula="0 (enforce_eager)" if plan.enforce_eager else (
                      "vllm.cuda_graph_bytes" if plan.cuda_graph_bytes is not None else
                      "graph pool at the largest capture size + 1 MiB per captured graph"),
                  source=f"{_VLLM_SRC} gpu_worker.py determine_available_memory: "
                  "profile_cudagraph_memory, subtracted from the KV budget since v0.21"),
        Component(name="kv_cache", label=kv_label, bytes=b.kv_cache_bytes, kind="tensor",
                  formula=kv_formula,
                  source=f"{_VLLM_SRC} kv_cache_planning.py get_kv_cache_configs; "
                  "kv_cache_interface.py page_size_bytes"),
        Component(name="cuda_context", label="CUDA context (outside the budget)",
                  bytes=plan.context, kind="overhead", formula="overheads.cuda_context_bytes",
                  source="held before vLLM's startup memory snapshot (CUDA context, PyTorch, "
                  "NCCL): 79.18 − 78.57 GiB free on an H100 in llm-d's logs"),
    )
    return Phase(name="serving", components=components)


def vllm_details(plan: VLLMPlan, b: VLLMBudget) -> dict[str, Any]:
    return {
        "version": VLLM_VERSION,
        "device_memory_bytes": b.device_memory,
        "requested_memory_bytes": b.requested,
        "gpu_memory_utilization": plan.utilization,
        "max_model_len": plan.max_model_len,
        "max_num_seqs": b.max_num_seqs,
        "max_num_batched_tokens": b.max_num_batched_tokens,
        "block_size": plan.block_size,
        "kv_cache_groups": len(plan.groups),
        "page_size_bytes": max(x.page_bytes for x in plan.buckets),
        "bytes_per_block": b.bytes_per_block,
        "available_kv_cache_bytes": b.kv_pool,
        "num_gpu_blocks": b.num_blocks,
        "kv_cache_tokens": b.kv_tokens,
        "max_concurrency": round(b.max_concurrency, 4),
        "kv_cache_needed_bytes": b.needed_one,
        "fits": b.fits,
        "max_model_len_that_fits": b.max_model_len_that_fits,
        "max_model_len_estimate": b.max_model_len_estimate,
        "activation_bytes": b.activation,
        "cuda_graph_bytes": b.cuda_graphs,
        "error": vllm_error(plan, b),
    }


def llama_cpp_phase(req: InferenceRequest, plan: LlamaCppPlan, s: LlamaCppSplit) -> Phase:
    """The GPU side of a llama.cpp run with `-ngl s.n_gpu_layers`."""
    opts = req.llama_cpp
    assert opts is not None
    n = plan.n_layer
    where = f"{min(s.n_gpu_layers, n + 1)} of {n + 1} layers (incl. output) on the GPU"
    fa = ("flash attention" if plan.flash_attn
          else "no flash attention: n_kv × n_ubatch × heads × 4 B scores")
    components = (
        Component(name="weights", label="Weights (GPU layers)", bytes=s.gpu_weights,
                  kind="tensor", formula=f"GGUF {req.weight_format.id} tensors of {where}; "
                  "token_embd stays on the CPU",
                  source=req.weight_format.source + "; llama-model.cpp load_tensors"),
        Component(name="kv_cache", label="KV cache (GPU layers)", bytes=s.gpu_kv, kind="tensor",
                  formula=(f"per layer: {_pad(plan.n_ctx):,} cells × (row(K {opts.cache_type_k})"
                           f" + row(V {opts.cache_type_v})); SWA layers "
                           "pad(min(n_ctx, W + n_ubatch), 256) cells"),
                  source=f"{LLAMA_CPP_VERSION}: llama-kv-cache.cpp, llama-kv-cache-iswa.cpp, "
                  "llama-context.cpp (n_ctx padded to 256)"),
        Component(name="compute_buffer", label="Compute buffer", bytes=s.gpu_compute,
                  kind="tensor", formula=f"worst-case graph of n_ubatch={plan.n_ubatch} "
                  f"tokens over {_pad(plan.n_ctx):,} KV cells ({fa}) + logits",
                  source=f"{LLAMA_CPP_VERSION}: llama-context.cpp graph_reserve "
                  "(ggml-alloc.c gallocr)"),
        Component(name="cuda_context", label="CUDA context", bytes=s.context, kind="overhead",
                  formula="overheads.cuda_context_bytes",
                  source="CUDA driver context, cuBLAS handle and ggml-cuda kernels"),
    )
    return Phase(name="serving", components=components)


def llama_cpp_details(plan: LlamaCppPlan, s: LlamaCppSplit, max_ngl: int | None) -> dict[str, Any]:
    kv = plan.kv_layer_bytes(plan.n_ctx)
    return {
        "version": LLAMA_CPP_VERSION,
        "n_ctx": _pad(plan.n_ctx),
        "n_ubatch": plan.n_ubatch,
        "flash_attn": plan.flash_attn,
        "n_layer": plan.n_layer,
        "n_gpu_layers": s.n_gpu_layers,
        "max_n_gpu_layers": max_ngl,
        "gpu_bytes": s.gpu_total,
        "cpu_bytes": s.cpu_total,
        "gpu": {"weights": s.gpu_weights, "kv_cache": s.gpu_kv, "compute_buffer": s.gpu_compute,
                "cuda_context": s.context},
        "cpu": {"weights": s.cpu_weights, "kv_cache": s.cpu_kv, "compute_buffer": s.cpu_compute},
        "kv_cache_bytes": sum(kv),
        "model_file_bytes": sum(plan.layer_weights) + plan.input_weights + plan.output_weights
        - plan.tied_duplicate,
    }
