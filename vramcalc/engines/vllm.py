"""vLLM (V1 engine, v0.33.0): how `vllm serve` budgets GPU memory.

vLLM pre-allocates: it takes `gpu_memory_utilization` of the GPU, subtracts what a
profiling run used (weights, the activation peak, non-torch memory, CUDA graphs) and
fills the rest with KV-cache blocks. Its memory use therefore does not grow with load;
what the configuration decides is how many tokens the pool holds. Each function names the
vLLM file and function it mirrors; the code is written from reading them, not copied.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from .. import catalogs, fit, formats, host, recurrent_state
from ..catalogs import request_limit
from ..components import Component, EngineResult, Phase, Warning, cuda_context
from ..sizes import GiB, MiB, cdiv
from .common import (
    bits_per_parameter,
    image_warnings,
    kv_bytes_per_token,
    speed,
    vision_bytes,
    vision_component,
)
from .transformers import layer_elements

if TYPE_CHECKING:
    from ..architecture import ModelSpec
    from ..catalogs import GPU
    from ..errors import Fields
    from ..request import InferenceRequest
    from ..request.inference import Context

NAME = "vllm"
OPTIONS_KEY = "vllm"
RUNS_GGUF = False
KV_DEFAULT = None  # the model's compute dtype
SINGLE_GPU = None
# Options whose defaults follow the parallel layout (non-torch memory: NCCL and custom
# all-reduce buffers at TP > 1): a layout of another size derives them again.
LAYOUT_DERIVED = ("non_torch_bytes",)
PIPELINE_PARALLEL = True  # parallel.pipeline: stages of layers on further GPUs
VERSION = "0.33.0"
_SRC = f"vLLM v{VERSION}"

# Defaults (v0.33.0). gpu_memory_utilization: vllm/config/cache.py CacheConfig (0.92;
# 0.9 before). block_size: CacheConfig.DEFAULT_BLOCK_SIZE. max_num_seqs and
# max_num_batched_tokens depend on the GPU: EngineArgs.get_batch_defaults, `vllm serve`
# (UsageContext.OPENAI_API_SERVER) column; see `batch_defaults`.
DEFAULT_UTILIZATION = 0.92
DEFAULT_BLOCK_SIZE = 16
BLOCK_SIZES = (8, 16, 32, 64, 128, 256)
# What the vLLM worker process holds before its memory snapshot (CUDA context, PyTorch,
# NCCL): outside gpu_memory_utilization's budget. 79.18 - 78.57 GiB free at startup on an
# H100 (llm-d/llm-d-benchmark, config_explorer/empirical-vllm-memory-results.md).
CUDA_CONTEXT_BYTES = 625 * MiB
ALLOCATOR_RESERVE_FRACTION = 0.0  # vLLM's budget already holds the allocator's blocks
# Non-torch memory that appears during vLLM's profiling (cuBLAS workspaces, NCCL/custom
# all-reduce buffers): 0.13 GiB at TP=1, 0.55 GiB at TP=2 in the same llm-d logs.
DEFAULT_NON_TORCH_BYTES = (int(0.13 * GiB), int(0.55 * GiB))
# Bytes vLLM's sampler warm-up holds per (request x vocabulary entry) at its peak:
# gpu_model_runner.py `_dummy_sampler_run` runs top-k + top-p sampling over fp32 logits of
# min(max_num_seqs, max_num_batched_tokens) dummy requests (sorted values, int64 indices,
# probabilities, masks: about 9.6 fp32 copies). Fitted to the "peak activation" of five
# llm-d H100 logs (Llama-3.1-8B 4.76 GiB, Llama-3.3-70B TP2 4.84, Qwen3-0.6B 5.56,
# Qwen3-32B 5.64, gpt-oss-20b 7.38 at max_num_seqs 1024): 9.56 to 9.64 copies.
SAMPLER_BYTES_PER_LOGIT = 38.4
# vLLM's CUDA-graph profiler counts at least 1 MiB per captured graph
# (gpu_model_runner.py profile_cudagraph_memory, "driver overhead").
BYTES_PER_CUDA_GRAPH = MiB


# Where each figure that is not read from vLLM's code comes from, and the vLLM it was seen
# with (shown in `details.vllm.constants`). llm-d's H100 logs are of vLLM V1 builds of 2025
# that did not yet take CUDA graphs from the KV budget (config_explorer/
# empirical-vllm-memory-results.md at 259334868c5075da530cc6c90b43fceb11b6e6a7).
CONSTANTS = (
    {"name": "sampler_bytes_per_logit", "value": SAMPLER_BYTES_PER_LOGIT,
     "source": "fitted to five llm-d H100 logs (vLLM V1, 2025): 9.56 to 9.64 fp32 copies"},
    {"name": "non_torch_bytes", "value": list(DEFAULT_NON_TORCH_BYTES),
     "source": "llm-d H100 logs (vLLM V1, 2025): 0.13 GiB at TP 1, 0.55 GiB at TP 2 (NCCL and "
     "custom all-reduce buffers); TP > 2 and pipeline parallelism were not logged and take the "
     "TP 2 figure"},
    {"name": "cuda_context_bytes", "value": CUDA_CONTEXT_BYTES,
     "source": "llm-d H100 logs (vLLM V1, 2025): 79.18 - 78.57 GiB free at startup"},
    {"name": "bytes_per_cuda_graph", "value": BYTES_PER_CUDA_GRAPH,
     "source": f"vLLM v{VERSION} gpu_model_runner.py profile_cudagraph_memory"},
)


@dataclass(frozen=True, kw_only=True, slots=True)
class Options:
    """`vllm serve` engine arguments that change memory (v0.33.0 names).

    `max_num_seqs` / `max_num_batched_tokens` None: vLLM's default for each GPU
    (`batch_defaults`). `cuda_graph_bytes` None: estimated. `device_memory_bytes`
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


def parse_options(f: Fields, ctx: Context) -> Options:
    f.unknown_keys(Options.__slots__)
    if ctx.common.gpu is None:
        f.collector.add("gpu", "is required with engine \"vllm\": vLLM takes "
                        "gpu_memory_utilization of the GPU's memory, so its total depends on "
                        "the GPU")
    return Options(
        gpu_memory_utilization=f.number("gpu_memory_utilization", default=DEFAULT_UTILIZATION,
                                        maximum=1.0, exclusive_minimum=True),
        max_model_len=f.integer("max_model_len", default=ctx.context_length,
                                maximum=request_limit("vllm.max_model_len")),
        max_num_seqs=f.optional_integer("max_num_seqs", maximum=request_limit("vllm.max_num_seqs")),
        max_num_batched_tokens=f.optional_integer(
            "max_num_batched_tokens", maximum=request_limit("vllm.max_num_batched_tokens")),
        block_size=_block_size(f),
        enforce_eager=f.boolean("enforce_eager", default=False),
        cuda_graph_bytes=f.optional_integer(
            "cuda_graph_bytes", minimum=0, maximum=request_limit("vllm.cuda_graph_bytes")),
        non_torch_bytes=f.integer("non_torch_bytes",
                                  default=DEFAULT_NON_TORCH_BYTES[
                                      ctx.tensor_parallel * ctx.pipeline_parallel > 1],
                                  minimum=0, maximum=request_limit("vllm.non_torch_bytes")),
        device_memory_bytes=f.optional_integer(
            "device_memory_bytes", minimum=MiB, maximum=request_limit("vllm.device_memory_bytes")),
    )


def _block_size(f: Fields) -> int:
    block = f.integer("block_size", default=DEFAULT_BLOCK_SIZE)
    if block not in BLOCK_SIZES:
        f.add("block_size", "must be one of 8, 16, 32, 64, 128, 256 (vLLM --block-size), "
              f"got {block}")
        return DEFAULT_BLOCK_SIZE
    return block


def cache_dtypes(options: Options) -> tuple[str, str] | None:
    return None


def batch_defaults(memory_bytes: int, gpu_id: str) -> tuple[int, int]:
    """(max_num_seqs, max_num_batched_tokens) that `vllm serve` picks on a GPU of
    `memory_bytes` (v0.33.0, vllm/engine/arg_utils.py EngineArgs.get_batch_defaults):
    >= 160 GiB: 1024 and 16384; >= 70 GiB and not an A100: 1024 and 8192; otherwise 256
    and 2048."""
    if memory_bytes >= 160 * GiB:
        return 1024, 16384
    if memory_bytes >= 70 * GiB and "a100" not in gpu_id:
        return 1024, 8192
    return 256, 2048


def catalog_defaults() -> dict[str, Any]:
    return {
        "version": VERSION,
        "gpu_memory_utilization": DEFAULT_UTILIZATION,
        "max_model_len": None,  # = context_length
        "max_num_seqs": None,  # vLLM's default for the GPU
        "max_num_batched_tokens": None,  # vLLM's default for the GPU
        "block_size": DEFAULT_BLOCK_SIZE,
        "enforce_eager": False,
        "cuda_graph_bytes": None,  # estimated
        "non_torch_bytes": None,  # 0.13 GiB at TP=1, 0.55 GiB at TP>1
        "device_memory_bytes": None,  # the GPU's catalog memory
        "overheads": {"cuda_context_bytes": CUDA_CONTEXT_BYTES,
                      "allocator_reserve_fraction": ALLOCATOR_RESERVE_FRACTION},
        "batch_defaults_by_gpu": {
            gpu.id: dict(zip(("max_num_seqs", "max_num_batched_tokens"),
                             batch_defaults(gpu.memory_bytes, gpu.id), strict=True))
            for gpu in catalogs.gpus().values()
        },
    }

@dataclass(frozen=True, kw_only=True, slots=True)
class MXFP4Experts:
    """gpt-oss's MXFP4 experts, as vLLM's `Mxfp4MoEMethod` lays them out on one GPU
    (vllm/model_executor/layers/quantization/mxfp4.py create_weights and
    process_weights_after_loading; vllm/model_executor/layers/quantization/utils/
    mxfp4_utils.py _swizzle_mxfp4): `formula_bytes` is what the checkpoint's format gives
    them (4.25 bits a weight, 16-bit biases), replaced by `bytes_on(gpu)`."""

    layers: int
    experts: int
    hidden: int
    intermediate: int  # per GPU (the experts' width split over tensor parallelism)
    formula_bytes: int  # per GPU

    def backend(self, gpu: GPU) -> str:
        """The MoE kernel vLLM picks (get_mxfp4_backend): Triton on Hopper, FlashInfer on
        data-centre Blackwell, Triton with AMD's padding on ROCm, Marlin elsewhere."""
        if gpu.vendor == "amd":
            return "triton-rocm"
        if gpu.sm == 90:
            return "triton-hopper"
        if gpu.sm in (100, 103):
            return "flashinfer-sm100"
        return "marlin"

    def bytes_on(self, gpu: GPU) -> int:
        """Weights, block scales (one byte per 32 weights) and biases of every expert."""
        h, i = self.hidden, self.intermediate
        backend = self.backend(gpu)
        bias = 2  # bf16 biases; the Triton and FlashInfer paths turn them to fp32
        if backend == "triton-hopper":
            # create_weights pads the width to 64; the Hopper value layout then pads the
            # packed (K/2) axis to 64 and the other to 256, the scale layout its rows to
            # 2 · num_warps(8) · 2 · 8 = 256 and its columns to 2 (triton_kernels
            # tensor_details/layout_details/hopper_value.py, hopper_scale.py)
            i = _round_up(i, 64)
            values = (_round_up(h // 2, 64) * _round_up(2 * i, 256)
                      + _round_up(i // 2, 64) * _round_up(h, 256))
            scales = (_round_up(2 * i, 256) * _round_up(cdiv(h, 32), 2)
                      + _round_up(h, 256) * _round_up(cdiv(i, 32), 2))
            bias = 4
        else:
            if backend == "flashinfer-sm100":  # width and hidden to multiples of 256
                i, h, bias = _round_up(i, 256), _round_up(h, 256), 4
            elif backend == "triton-rocm":  # get_padding_alignment: 128 (256 on gfx950)
                i, h, bias = _round_up(i, 128), _round_up(h, 128), 4
            else:  # Marlin: n % 256 == 0 and k % 128 == 0 for each matmul
                i, h = _round_up(i, 128), _round_up(h, 256)
            values = 2 * i * h // 2 + h * i // 2
            scales = 2 * i * cdiv(h, 32) + h * cdiv(i, 32)
        biases = (2 * i + h) * bias
        return self.layers * self.experts * (values + scales + biases)


def _round_up(n: int, to: int) -> int:
    return cdiv(n, to) * to


def mxfp4_experts(req: InferenceRequest, layers: tuple[int, int] | None = None
                  ) -> MXFP4Experts | None:
    """The MXFP4 experts vLLM lays out itself, or None (another format, or no MoE); with
    `layers`, those of one pipeline stage's layers [start, end)."""
    spec, fmt, tp = req.spec, req.weight_format, req.tensor_parallel
    if fmt.id != "mxfp4" or spec.moe is None:
        return None
    groups = [g for g in spec.tensors if g.role in _MXFP4_ROLES]
    if layers is not None:
        start, end = layers
        groups = [replace(g, layers=tuple(x for x in g.layers if start <= x < end))
                  for g in groups]
        groups = [g for g in groups if g.layers]
    formula = sum(formats.tensor_bytes(fmt, g, spec, 16) for g in groups)
    moe_layers = max((g.count for g in groups), default=0) if layers is not None \
        else spec.moe.moe_layers
    return MXFP4Experts(layers=moe_layers, experts=spec.moe.num_experts,
                        hidden=spec.hidden_size,
                        intermediate=spec.moe.expert_intermediate_size // tp,
                        formula_bytes=cdiv(formula, tp))


_MXFP4_ROLES = frozenset({"ffn_gate_up_exps", "ffn_gate_exps", "ffn_up_exps", "ffn_down_exps",
                          "ffn_exps_bias"})


@dataclass(frozen=True, kw_only=True, slots=True)
class KVBucket:
    """Layers that share one KV-cache spec in vLLM: full attention (window 0) or one
    sliding window; `page_bytes` is one block of one layer on one GPU."""

    window: int
    layers: int
    page_bytes: int


@dataclass(frozen=True, kw_only=True, slots=True)
class Budget:
    """vLLM's memory plan on one GPU (all sizes per GPU)."""

    device_memory: int
    requested: int
    weights: int  # as this GPU holds them (MXFP4 experts padded for its MoE kernel)
    mxfp4_backend: str | None
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
class Plan:
    """Everything about a vLLM request that does not depend on the GPU."""

    weights: int  # per GPU, as the checkpoint's format gives them
    mxfp4: MXFP4Experts | None  # experts whose layout depends on the GPU's MoE kernel
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
    sampler: bool = True  # the last pipeline stage samples (gpu_model_runner.py profile_run)
    stage: tuple[int, int] | None = None  # this stage's layers [start, end) (None: all)

    def kv_needed(self, model_len: int, in_flight: int) -> int:
        """Bytes one request of `model_len` tokens needs, summed over layers
        (kv_cache_planning.py max_memory_usage_bytes: FullAttentionSpec and
        SlidingWindowSpec.max_memory_usage_bytes)."""
        return sum(
            b.layers * self._blocks(b, model_len, in_flight) * b.page_bytes for b in self.buckets
        )

    def _blocks(self, bucket: KVBucket, model_len: int, in_flight: int) -> int:
        if bucket.window == STATE_WINDOW:  # a recurrent layer: one page per sequence
            return 1
        if bucket.window == 0:
            return cdiv(model_len, self.block_size)
        # the last W-1 computed tokens plus the tokens in flight; +1 as the window may
        # start inside a block (SlidingWindowSpec.max_admission_blocks_per_request)
        tokens = min(bucket.window - 1 + in_flight, model_len)
        return cdiv(tokens, self.block_size) + 1

    def budget(self, gpu: GPU, *, selected: bool) -> Budget:
        """vLLM's numbers on `gpu` (gpu_worker.py Worker.determine_available_memory,
        kv_cache_planning.py get_kv_cache_configs / check_enough_kv_cache_memory,
        kv_cache_utils.py get_max_concurrency_for_kv_cache_config)."""
        memory = gpu.cuda_total_bytes  # vLLM reads torch.cuda.mem_get_info()
        if selected and self.device_memory_override is not None:
            memory = self.device_memory_override
        seqs, tokens = batch_defaults(memory, gpu.id)
        seqs = self.max_num_seqs or seqs
        tokens = self.max_num_batched_tokens or tokens
        # worker/utils.py request_memory: ceil(total x utilization)
        requested = int(-(-memory * self.utilization // 1))  # ceil of a float product
        forward, sampler, activation = self.activation(seqs, tokens)
        graphs = self.cuda_graphs(seqs, tokens)
        weights, backend = self.weights, None
        if self.mxfp4 is not None:
            backend = self.mxfp4.backend(gpu)
            weights += self.mxfp4.bytes_on(gpu) - self.mxfp4.formula_bytes
        pool = requested - weights - activation - self.non_torch - graphs
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
        return Budget(
            device_memory=memory, requested=requested, weights=weights,
            mxfp4_backend=backend, max_num_seqs=seqs,
            max_num_batched_tokens=tokens, activation=activation, forward_peak=forward,
            sampler_peak=sampler, non_torch=self.non_torch, cuda_graphs=graphs, kv_pool=pool,
            bytes_per_block=per_block, num_blocks=blocks,
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
        sampler = int(SAMPLER_BYTES_PER_LOGIT * min(seqs, tokens) * self.vocab) \
            if self.sampler else 0
        hidden = tokens * self.hidden * 2  # hidden states kept for the sampler run
        return forward, sampler, max(forward, sampler) + hidden

    def cuda_graphs(self, seqs: int, tokens: int) -> int:
        """CUDA-graph memory vLLM profiles and (since v0.21) takes from the KV budget:
        the graph pool at the largest capture size plus `BYTES_PER_CUDA_GRAPH` per
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
        return pool + (len(sizes) + len(full)) * BYTES_PER_CUDA_GRAPH


STATE_WINDOW = -1  # KVBucket.window of recurrent layers (Mamba, Gated DeltaNet)


def kv_buckets(spec: ModelSpec, kv_bits: float, block: int, tp: int,
               layers: tuple[int, int] | None = None,
               model_bytes: float = 2) -> tuple[tuple[KVBucket, ...], int]:
    """Per-layer page sizes, of every layer or of `layers` [start, end), and the block size
    vLLM uses (kv_cache_interface.py AttentionSpec.page_size_bytes: block x KV heads on this
    GPU x (d_k + d_v) x dtype bytes; MLAAttentionSpec: one 576-wide latent, replicated over
    TP). A hybrid model's recurrent layers keep one page of state per sequence (MambaSpec);
    vLLM raises the attention block size until one attention page holds a state page, then
    pads the state page to it (vllm/platforms/interface.py `_align_hybrid_block_size`: block
    = align · ⌈state page / (align · attention page of one token)⌉, align = max(16,
    block_size))."""
    per_token: dict[int, list[float]] = {}
    heads = max(spec.num_kv_heads, 1)
    per_gpu = max(1, heads // tp)  # vLLM replicates KV heads when TP > KV heads
    for index, layer in enumerate(spec.attention):
        if layer.kind == "none" or (layers is not None
                                    and not layers[0] <= index < layers[1]):
            continue
        if spec.mla:
            width = layer.latent_width
        else:
            width = (layer.k_width + layer.v_width) * per_gpu // heads
        window = layer.window if layer.kind in ("sliding", "chunked") else 0
        per_token.setdefault(window, []).append(width * kv_bits / 8)
    states = [recurrent_state.vllm_page_bytes(layer, model_bytes, tp)
              for index, layer in enumerate(spec.recurrent) if layer is not None
              and (layers is None or layers[0] <= index < layers[1])]
    one_token = max((max(v) for v in per_token.values()), default=0.0)
    if states and per_token:
        align = max(16, block)
        block = align * cdiv(max(states), int(align * one_token))
    counts: dict[tuple[int, int], int] = {}
    for window, widths in per_token.items():
        for w in widths:
            key = (window, int(block * w))
            counts[key] = counts.get(key, 0) + 1
    if states:  # padded to the attention page; as they are without attention layers
        page = int(block * one_token) if per_token else max(states)
        counts[(STATE_WINDOW, page)] = len(states)
    buckets = tuple(KVBucket(window=w, layers=n, page_bytes=p) for (w, p), n in counts.items())
    return buckets, block


def kv_groups(buckets: tuple[KVBucket, ...]) -> tuple[int, tuple[int, ...]]:
    """(layers per group, bucket of each group): kv_cache_planning.py
    `_get_kv_cache_groups_uniform_page_size`: the smallest bucket sets the group size
    (the largest if all are within 1.5x), and every bucket is cut into groups of it."""
    if len(buckets) == 1:
        return buckets[0].layers, (0,)
    sizes = [b.layers for b in buckets]
    size = max(sizes) if max(sizes) < min(sizes) * 1.5 else min(sizes)
    groups: list[int] = []
    for i, b in enumerate(buckets):
        groups.extend([i] * cdiv(b.layers, size))
    return size, tuple(groups)


def stage_layers(layers: int, stages: int) -> list[tuple[int, int]]:
    """Each pipeline stage's layers [start, end), as vLLM splits them
    (vllm/distributed/utils.py get_pp_indices): evenly, the remainder one layer each to the
    stages before the last, from the back (the last holds the final norm and lm_head)."""
    partitions = [layers // stages] * stages
    for i in range(2, layers % stages + 2):
        partitions[-i] += 1
    starts = [sum(partitions[:i]) for i in range(stages)]
    return [(start, start + n) for start, n in zip(starts, partitions, strict=True)]


def stage_weights(req: InferenceRequest) -> list[tuple[tuple[int, int] | None, int]]:
    """(layers, weight bytes per GPU) of each pipeline stage: its layers, the embedding on
    the first stage, the final norm and lm_head on the last (a tied lm_head is the
    embedding, loaded on the last stage too: vLLM's LlamaModel keeps embed_tokens there),
    over tensor parallelism. A multimodal model's vision tower is on the first stage."""
    spec, tp, pp = req.spec, req.tensor_parallel, req.pipeline_parallel
    vision = vision_bytes(req)
    if pp == 1:
        return [(None, cdiv(formats.weights_bytes(req.weight_format, spec) + vision, tp))]
    per_layer, outside = formats.weights_by_layer(req.weight_format, spec)
    embed = outside.get("token_embd", 0) + outside.get("pos_embd", 0)
    head = sum(outside.values()) - embed
    if spec.tie_word_embeddings:
        head += outside.get("token_embd", 0)
    out: list[tuple[tuple[int, int] | None, int]] = []
    for i, (start, end) in enumerate(stage_layers(spec.num_layers, pp)):
        size = sum(per_layer[start:end]) + (embed + vision if i == 0 else 0) + (
            head if i == pp - 1 else 0)
        out.append(((start, end), cdiv(size, tp)))
    return out


def plans(req: InferenceRequest) -> list[Plan]:
    """One plan per pipeline stage (one without pipeline parallelism)."""
    stages = stage_weights(req)
    return [plan(req, weights, layers=layers, last=i == len(stages) - 1)
            for i, (layers, weights) in enumerate(stages)]


def plan(req: InferenceRequest, weights: int, *, layers: tuple[int, int] | None = None,
         last: bool = True) -> Plan:
    opts: Options = req.options
    spec = req.common.spec
    model_bytes = req.weight_format.bits / 8 if req.weight_format.kind == "dense" else 2
    buckets, block = kv_buckets(spec, req.kv_cache_dtype.bits, opts.block_size,
                                req.tensor_parallel, layers, model_bytes)
    size, groups = kv_groups(buckets)
    return Plan(
        weights=weights, buckets=buckets, group_layers=size, groups=groups,
        block_size=block, utilization=opts.gpu_memory_utilization,
        max_model_len=opts.max_model_len, max_positions=spec.max_position_embeddings,
        max_num_seqs=opts.max_num_seqs, max_num_batched_tokens=opts.max_num_batched_tokens,
        layer_elements=layer_elements(spec), hidden=spec.hidden_size,
        vocab=spec.vocab_size, tp=req.tensor_parallel, enforce_eager=opts.enforce_eager,
        cuda_graph_bytes=opts.cuda_graph_bytes, non_torch=opts.non_torch_bytes,
        context=req.overheads.cuda_context_bytes,
        device_memory_override=opts.device_memory_bytes, mxfp4=mxfp4_experts(req, layers),
        sampler=last, stage=layers,
    )


def error(plan: Plan, b: Budget) -> str | None:
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


def phase(req: InferenceRequest, plan: Plan, b: Budget) -> Phase:
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
    # the vision tower sits on the first pipeline stage (split over tensor parallelism)
    vision = cdiv(vision_bytes(req), plan.tp) if plan.stage is None or plan.stage[0] == 0 \
        else 0
    components = (
        Component(name="weights", label="Weights", bytes=b.weights - vision, kind="tensor",
                  formula=f"{req.weight_format.id} weights / TP {plan.tp}" + (
                      f", layers {plan.stage[0]}-{plan.stage[1] - 1} of pipeline stage"
                      if plan.stage is not None else "") + (
                      f"; MXFP4 experts as vLLM's {b.mxfp4_backend} MoE kernel lays them out "
                      "(padded, fp32 biases)" if b.mxfp4_backend else ""),
                  source=req.weight_format.source + f"; {_SRC} 'Model loading took'"),
        *vision_component(vision),
        Component(name="activations", label="Activation reserve (profiling peak)",
                  bytes=b.activation, kind="tensor",
                  formula=(f"max(forward of {b.max_num_batched_tokens:,} tokens: "
                           f"{b.forward_peak:,} B, sampler warm-up of "
                           f"{min(b.max_num_seqs, b.max_num_batched_tokens):,} requests × V × "
                           f"{SAMPLER_BYTES_PER_LOGIT:g} B: {b.sampler_peak:,} B) + "
                           "hidden states (tokens × h × 2 B)"),
                  source=f"{_SRC} gpu_model_runner.py profile_run, _dummy_sampler_run; "
                  "sampler constant fitted to llm-d H100 logs"),
        Component(name="non_torch", label="Non-torch memory (cuBLAS, NCCL)",
                  bytes=b.non_torch, kind="overhead", formula="vllm.non_torch_bytes",
                  source=f"{_SRC} utils/mem_utils.py memory_profiling non_torch_increase; "
                  "default from llm-d H100 logs (0.13 GiB TP=1, 0.55 GiB TP=2)"),
        Component(name="cuda_graphs", label="CUDA graphs", bytes=b.cuda_graphs,
                  kind="overhead",
                  formula="0 (enforce_eager)" if plan.enforce_eager else (
                      "vllm.cuda_graph_bytes" if plan.cuda_graph_bytes is not None else
                      "graph pool at the largest capture size + 1 MiB per captured graph"),
                  source=f"{_SRC} gpu_worker.py determine_available_memory: "
                  "profile_cudagraph_memory, subtracted from the KV budget since v0.21"),
        Component(name="kv_cache", label=kv_label, bytes=b.kv_cache_bytes, kind="tensor",
                  formula=kv_formula,
                  source=f"{_SRC} kv_cache_planning.py get_kv_cache_configs; "
                  "kv_cache_interface.py page_size_bytes"),
        cuda_context(plan.context, label="CUDA context (outside the budget)",
                     source="held before vLLM's startup memory snapshot (CUDA context, "
                     "PyTorch, NCCL): 79.18 − 78.57 GiB free on an H100 in llm-d's logs"),
    )
    return Phase(name="serving", components=components)


def details(plan: Plan, b: Budget) -> dict[str, Any]:
    return {
        "version": VERSION,
        "device_memory_bytes": b.device_memory,
        "weights_bytes": b.weights,
        "mxfp4_moe_backend": b.mxfp4_backend,
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
        "error": error(plan, b),
        "constants": [dict(c) for c in CONSTANTS],
    }



def binding(stages: list[Plan], gpu: GPU, *, selected: bool) -> tuple[Budget, int, int]:
    """The budget of the stage that binds on `gpu`, its index, and the weights of every
    stage (one GPU's tensor-parallel share of each). vLLM gives every pipeline stage the
    fewest KV blocks any stage has (kv_cache_utils.py get_kv_cache_configs: "the smallest
    among all ranks"), and starts only if every stage passes its own check: the binding
    stage is the first that fails, else the one with the fewest blocks; the longest
    max_model_len is the shortest any stage allows."""
    budgets = [s.budget(gpu, selected=selected) for s in stages]
    weights = sum(b.weights for b in budgets)
    if len(budgets) == 1:
        return budgets[0], 0, weights
    index = min(range(len(budgets)), key=lambda i: (budgets[i].fits, budgets[i].num_blocks))
    longest = min(b.max_model_len_that_fits for b in budgets)
    return replace(budgets[index], max_model_len_that_fits=longest), index, weights


def respond(req: InferenceRequest) -> EngineResult:
    """vLLM's budget on the selected GPU, and on each GPU of the fit table (with pipeline
    parallelism, of the stage that binds)."""
    spec = req.spec
    opts: Options = req.options
    device = req.common.device
    assert device is not None  # the parser requires a GPU for vLLM
    stages = plans(req)
    selected, index, weights = binding(stages, device, selected=True)
    p = stages[index]
    rows = []
    for gpu in req.common.fit_devices:
        b, _, _ = (selected, index, weights) if gpu.id == device.id else binding(
            stages, gpu, selected=False)
        rows.append(fit.FitRow(
            gpu=gpu.id, name=gpu.name, memory_bytes=gpu.memory_bytes,
            usable_bytes=b.requested, fits=b.fits,
            # spare KV: the pool beyond one max_model_len request and the null block
            headroom_bytes=b.kv_pool - b.bytes_per_block - b.needed_one,
            max_batch_size=int(b.max_concurrency) if b.fits else 0,
            max_context_length=b.max_model_len_that_fits,
            gpus_for_weights=max(1, cdiv(weights * req.tensor_parallel, max(b.requested, 1))),
        ))
    peak = phase(req, p, selected)
    in_flight = 2 * selected.max_num_batched_tokens
    kv_one = sum(s.kv_needed(opts.max_model_len, in_flight) for s in stages)
    vllm = details(p, selected)
    if len(stages) > 1:
        vllm["pipeline"] = {"stages": [list(s.stage or ()) for s in stages], "stage": index}
    out: dict[str, Any] = {
        "kv_cache_bytes_per_token": kv_bytes_per_token(req),
        "weights_bits_per_parameter": bits_per_parameter(weights * req.tensor_parallel, req),
        "vllm": vllm,
        # a token passes the stages one after another: their weights and KV are read in
        # turn; a decode step reads the language model, not the vision tower
        "speed": speed(req, weights=weights - cdiv(vision_bytes(req), req.tensor_parallel),
                       kv=min(kv_one * req.batch_size, max(selected.kv_pool, 0) * len(stages)),
                       context=opts.max_model_len),
        "host_memory": host.checkpoint_memory(req.common.model.source_config, spec,
                                              engine=NAME),
    }
    warnings: list[Warning] = list(image_warnings(req))
    if req.images is not None and req.images.tokens >= opts.max_model_len:
        warnings.append(Warning(
            code="images_beyond_max_model_len",
            message=f"the images' {req.images.tokens:,} tokens do not fit max_model_len "
            f"({opts.max_model_len:,}), which counts every token of a request"))
    if vllm["error"]:
        warnings.append(Warning(code="vllm_will_not_start", message=vllm["error"]))
    elif selected.max_concurrency < req.batch_size:
        warnings.append(Warning(
            code="vllm_concurrency",
            message=f"the KV cache holds {selected.max_concurrency:.2f} requests of "
            f"{opts.max_model_len:,} tokens, fewer than batch_size {req.batch_size}: vLLM "
            "queues or preempts the rest"))
    return EngineResult(peak=peak, phases=(peak,), fit_rows=tuple(rows), details=out,
                        length_field="context_length", length=opts.max_model_len,
                        warnings=tuple(warnings))
