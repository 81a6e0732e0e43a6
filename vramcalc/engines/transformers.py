"""Inference memory with Hugging Face transformers' `generate()` (the default engine).

`generate()` runs the whole prompt through one forward pass (prefill), then one token per
step (decode), appending K and V to a `DynamicCache`. The peak is the larger of:

- prefill: weights + the cache for the prompt + one layer's temporaries for every prompt
  token + the last position's logits (`logits_to_keep=1`);
- decode: weights + the cache + the copy `torch.cat` makes while appending to one layer +
  one token's temporaries + logits.

The prompt is taken to fill the context (`context_length` tokens), the worst case.
With `transformers.cache = "static"` (`StaticCache`) the cache is pre-allocated to the
context, sliding-window layers hold at most their window, and decode writes in place
(`index_copy_`), so there is no append copy.
Sliding-window layers keep the whole prompt through the prefill and into the first decode
step: transformers' `DynamicSlidingWindowLayer.update` (cache_utils.py, v5) stores a slice
(a view) of the full prompt's K/V, which keeps the whole storage alive until that layer's
next `torch.cat` replaces it, so a layer not yet reached in the first decode step still holds
the whole prompt (measured on an H200: Mistral-7B, W=4096, 8,192-token prompts).
Checked against 16 measured runs (tests/data/calibration/cuda_h200.jsonl): docs/accuracy.md.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .. import allocator, fit, formats, host, kv_cache, recurrent_state
from ..components import (
    CUBLAS_WORKSPACE_BYTES,
    CUBLAS_WORKSPACE_TEXT,
    Component,
    EngineResult,
    Phase,
    allocator_reserve,
    cuda_context,
    reserve_bytes,
)
from ..sizes import MiB, cdiv
from .common import (
    bits_per_parameter,
    image_warnings,
    kv_bytes_per_token,
    speed,
    vision_bytes,
    vision_component,
)

if TYPE_CHECKING:
    from ..architecture import ModelSpec
    from ..catalogs import WeightFormat
    from ..errors import Fields
    from ..request import InferenceRequest
    from ..request.inference import Context

NAME = "transformers"
OPTIONS_KEY = "transformers"
RUNS_GGUF = False
KV_DEFAULT = None  # the model's compute dtype
SINGLE_GPU = None
CACHES = ("dynamic", "static")

# Overhead defaults. The CUDA context is what a PyTorch process holds on the device before
# any tensor: driver context, loaded kernels, cuBLAS/cuDNN handles (CUDA >= 11.7 loads
# modules lazily). The allocator reserve is the caching allocator's slack: reserved minus
# allocated at the peak, as a fraction of the allocated peak.
# Measured on an H200 (driver 580.159, torch 2.11 + CUDA 13.0): NVML's used memory minus
# max_memory_reserved was 758-782 MiB over 16 inference runs, and reserved/allocated had a
# median of 1.08 (tests/data/calibration/cuda_h200.jsonl). Older GPUs and CUDA versions
# load smaller contexts.
CUDA_CONTEXT_BYTES = 768 * MiB
ALLOCATOR_RESERVE_FRACTION = 0.08


@dataclass(frozen=True, kw_only=True, slots=True)
class Options:
    """`generate()` with a `DynamicCache` (grows by `torch.cat`) or a `StaticCache`
    (pre-allocated to the context length)."""

    cache: str


def parse_options(f: Fields, ctx: Context) -> Options:
    f.unknown_keys(("cache",))
    return Options(cache=f.choice("cache", CACHES, default="dynamic"))


def cache_dtypes(options: Options) -> tuple[str, str] | None:
    return None


def catalog_defaults() -> dict[str, Any]:
    return {"cache": "dynamic"}

_ACT_BYTES = 2  # bf16/fp16 activations
_HELD_HIDDEN = 2  # hidden-size tensors per token a transformers forward keeps beside a layer
_SRC_TRANSFORMERS = (
    "transformers v5 generate(): modeling_llama.py (decoder layer), cache_utils.py (DynamicCache)"
)


@dataclass(frozen=True, kw_only=True, slots=True)
class InferencePlan:
    """Everything that does not depend on batch and context, computed once per request so
    that the fit solvers can evaluate totals cheaply."""

    weights: int  # as the allocator counts them (blocks), or as stored (quantized formats)
    stored_weights: int  # bytes as stored: what a decode step reads
    kv: kv_cache.KVGeometry
    kv_bits: float
    tp: int
    kv_shards: int  # GPUs the KV heads are split over (MLA's single latent is replicated)
    layer_elements_per_token: int  # peak temporaries of one layer, per prompt token
    eager_heads: int  # query heads whose s x s scores eager attention materialises (0: sdpa)
    mla_expand_per_token: int  # transformers expands the MLA latent to per-head K/V
    min_window: int  # smallest sliding window (0: none); past it sdpa needs an explicit mask
    largest_layer_kv: int  # elements per token of the largest single layer's K (or V)
    vocab: int
    context: int
    reserve_fraction: float
    static_cache: bool = False  # StaticCache: pre-allocated, windows capped, no append copy
    generated: int = 0  # tokens generated after the prompt (the prompt is the rest)
    image_tokens: int = 0  # tokens the images add to each sequence, on top of the context
    state_per_sequence: int = 0  # recurrent layers' state (Mamba, Gated DeltaNet), per GPU
    all_logits: bool = False  # a plain forward returning every position's logits

    def kv_bytes(self, batch: int, tokens: int) -> int:
        # / kv_shards: each GPU holds its share of the KV heads (at least one head)
        return kv_cache.cache_bytes(
            self.kv, bits=self.kv_bits, sequences=batch, tokens=tokens,
            windows_hold_all=not self.static_cache,
        ) // self.kv_shards

    def prefill_activations(self, batch: int, tokens: int) -> int:
        t = batch * tokens
        elements = t * (self.layer_elements_per_token + self.mla_expand_per_token) // self.tp
        scores = 0
        if self.eager_heads:
            # per head and query/key pair: the masked scores in bf16 (2 B) while softmax
            # (dtype=float32) makes an fp32 copy of its input (4 B) and its fp32 output (4 B);
            # plus the additive bf16 mask (2 B per pair). Measured on an H200: 9.7 B per pair.
            scores = batch * tokens * tokens * (10 * self.eager_heads // self.tp + 2)
        elif self.min_window and tokens > self.min_window:
            # a sliding window is not plain causal: sdpa gets a boolean s x s mask, one for
            # the whole batch (masking_utils.py sliding_window_causal_mask; measured on an
            # H200: 256 MiB for Mistral-7B at 16,384 tokens)
            scores = tokens * tokens
        return elements * _ACT_BYTES + scores + CUBLAS_WORKSPACE_BYTES

    def decode_activations(self, batch: int, tokens: int) -> int:
        step = batch * (self.layer_elements_per_token + self.mla_expand_per_token * tokens)
        # torch.cat while appending: the old and new K (or V) of one layer coexist
        # (a StaticCache writes in place with index_copy_: no copy)
        append_copy = 0.0 if self.static_cache else (
            batch * tokens * self.largest_layer_kv * self.kv_bits / 8)
        scores = batch * tokens * (10 * self.eager_heads // self.tp) if self.eager_heads else 0
        return (step * _ACT_BYTES // self.tp + int(append_copy) // self.tp + scores
                + CUBLAS_WORKSPACE_BYTES)

    def logits(self, batch: int, prompt: int) -> int:
        if self.all_logits:  # lm_head over every position, returned in bf16 (2 B)
            return batch * prompt * self.vocab * 2
        # last position only: lm_head output in bf16 (2 B) + generate()'s fp32 copy (4 B)
        return batch * self.vocab * (2 + 4)

    def prompt(self, tokens: int) -> int:
        """Prompt tokens of a sequence of `tokens` (context): the rest is generated."""
        return max(1, tokens - self.generated) + self.image_tokens

    def phases(self, batch: int, tokens: int) -> tuple[tuple[str, int, int, int, int], ...]:
        """(phase, kv bytes, recurrent state bytes, activation bytes, logits bytes) for
        prefill and decode: the prefill over the prompt, the last decode step with the whole
        context cached. A plain forward (`all_logits`) has no decode."""
        prompt = self.prompt(tokens)
        state = batch * self.state_per_sequence
        prefill = ("prefill", self.kv_bytes(batch, prompt), state,
                   self.prefill_activations(batch, prompt), self.logits(batch, prompt))
        if self.all_logits:
            return (prefill,)
        tokens += self.image_tokens
        return (prefill, ("decode", self.kv_bytes(batch, tokens), state,
                          self.decode_activations(batch, tokens), self.logits(batch, 1)))

    def allocated(self, batch: int, tokens: int) -> int:
        return self.weights + max(sum(parts) for _, *parts in self.phases(batch, tokens))

    def total(self, batch: int, tokens: int) -> int:
        alloc = self.allocated(batch, tokens)
        return alloc + reserve_bytes(alloc, self.reserve_fraction) + self.context


def layer_elements(spec: ModelSpec) -> int:
    """Peak live elements of one decoder layer per token, in inference (no autograd).

    MLP (SwiGLU): residual + normed input + act(gate) + up + their product = 2h + 3f
    (modeling_llama.py LlamaMLP: the gate output is freed once the activation returns).
    GeLU MLP: residual + input + up + activation = 2h + 2f.
    MoE: residual + input + the output accumulator + fp32 router logits (2 bf16 elements
    per expert) + the shared expert + routed experts at twice their average load.
    RMSNorm: bf16 input + two fp32 copies (x.float(), x·rsqrt) = 5h.
    Attention: residual + input + q + k + v + three RoPE temporaries of q + attention output.
    """
    h = spec.hidden_size
    widths = set(spec.dense_layer_widths) - {0}
    mlp = max((2 * h + (3 if spec.gated_mlp else 2) * f for f in widths), default=0)
    if spec.moe is not None:
        moe = spec.moe
        routed = 2 * 3 * moe.expert_intermediate_size * moe.experts_per_token
        routed = -(-routed // moe.num_experts) if moe.num_experts else 0
        mlp = max(mlp, 3 * h + 2 * moe.num_experts + 3 * moe.shared_intermediate_size + routed)
    q = spec.num_heads * spec.head_dim
    kv = 2 * spec.num_kv_heads * spec.head_dim
    attention = 2 * h + 4 * q + kv + h
    return max(mlp, attention, 5 * h)


# Routers whose top-k weights stay fp32 (DeepseekV2/V3TopkRouter multiply fp32 scores by
# routed_scaling_factor without a cast), which turns the weighted expert outputs fp32 too.
_FP32_ROUTING = frozenset({"deepseek_v2", "deepseek_v3"})


def _grouped_moe_elements(spec: ModelSpec) -> int:
    """Peak elements per token of an MoE layer in transformers v5, whose experts run as
    grouped matmuls over all S = tokens · k token-expert pairs at once (integrations/moe.py
    grouped_mm_experts_forward, the default on CUDA). The gathered inputs (k·h) stay alive
    throughout; the peak is either at the gate (gate/up output, activation and product:
    k·(h + 4f)) or at the end (down output, the weighted output and its re-ordered copy:
    k·h · (2 + 2w), w = 2 when the routing weights are fp32, else 1); plus the post-attention
    residual, the normed input and fp32 router logits (2 bf16 elements per expert).
    Measured on an H200: Qwen3-30B-A3B (bf16 routing) and DeepSeek-V2-Lite (fp32) prefill."""
    if spec.moe is None:
        return 0
    h, moe = spec.hidden_size, spec.moe
    k, f = moe.experts_per_token, moe.expert_intermediate_size
    w = 2 if spec.family in _FP32_ROUTING else 1
    routed = max(k * h * (2 + 2 * w), k * (h + 4 * f))
    shared = h + 3 * moe.shared_intermediate_size  # runs after the routed experts
    return 2 * h + 2 * moe.num_experts + max(routed, shared)


def plan(req: InferenceRequest) -> InferencePlan:
    spec = req.common.spec
    geo = kv_cache.geometry(spec)
    weights = stored = formats.weights_bytes(req.weight_format, spec)
    if req.tensor_parallel > 1:
        stored = cdiv(stored, req.tensor_parallel)
    if req.weight_format.kind == "dense" and req.tensor_parallel == 1:
        # each weight is its own allocation: counted as the caching allocator's block
        weights = sum(
            group.count * allocator.block_bytes(int(group.numel * req.weight_format.bits) // 8)
            for group in spec.tensors
        )
    if req.tensor_parallel > 1:
        weights = cdiv(weights, req.tensor_parallel)
    weights += vision_bytes(req)  # the vision tower, replicated on every GPU
    largest = max(
        ((layer.latent_width if spec.mla else layer.k_width) for layer in spec.attention),
        default=0,
    )
    mla_expand = 0
    if spec.mla:
        # DeepseekV3Attention.expand_kv: per-head K (qk_nope + rope) and V for every cached
        # token, plus the concatenated query
        v_width = spec.attention[0].v_width
        mla_expand = spec.attention[0].k_width + v_width
    return InferencePlan(
        weights=weights,
        stored_weights=stored,
        kv=geo,
        kv_bits=req.kv_cache_dtype.bits,
        tp=req.tensor_parallel,
        kv_shards=1 if spec.mla else min(req.tensor_parallel, spec.num_kv_heads),
        # + 2h: transformers' model forward keeps the embedding output (`inputs_embeds`)
        # and each layer's input (held by the caller) alive while the layer runs
        layer_elements_per_token=max(layer_elements(spec), _grouped_moe_elements(spec))
        + _HELD_HIDDEN * spec.hidden_size,
        eager_heads=spec.num_heads if req.attention == "eager" else 0,
        mla_expand_per_token=mla_expand,
        min_window=min((w for w, _ in geo.windowed), default=0),
        largest_layer_kv=largest,
        vocab=spec.vocab_size,
        context=req.overheads.cuda_context_bytes,
        reserve_fraction=req.overheads.allocator_reserve_fraction,
        static_cache=req.options.cache == "static",
        generated=req.generated_tokens,
        image_tokens=req.images.tokens if req.images else 0,
        all_logits=req.logits == "all",
        state_per_sequence=recurrent_state.transformers_bytes(
            spec, req.weight_format.bits / 8 if req.weight_format.kind == "dense" else 2)
        // req.tensor_parallel,
    )


def estimate(req: InferenceRequest, p: InferencePlan) -> tuple[Phase, list[Phase]]:
    """The phases at (batch, context) and the one that sets the peak."""
    spec = req.common.spec
    b, s = req.batch_size, req.context_length
    fmt, kv = req.weight_format, req.kv_cache_dtype
    vision = vision_bytes(req)
    weights = (Component(
        name="weights", label="Weights", bytes=p.weights - vision, kind="tensor",
        formula=_weights_formula(fmt, spec),
        source=fmt.source,
    ), *vision_component(vision))
    phases: list[Phase] = []
    for name, kv_bytes, state, act, logits in p.phases(b, s):
        allocated = p.weights + kv_bytes + state + act + logits
        recurrent = (Component(
            name="recurrent_state", label="Recurrent state (Mamba, linear attention)",
            bytes=state, kind="tensor",
            formula="b · Σ recurrent layers (conv_kernel · conv channels · model bytes + "
            "state heads · head size · state size · state bytes)",
            source="transformers v5 cache_utils.py (LinearAttentionLayer: the convolution "
            "window and the recurrent state per sequence)"),) if p.state_per_sequence else ()
        phases.append(Phase(name=name, components=(
            *weights, *recurrent,
            Component(
                name="kv_cache", label="KV cache", bytes=kv_bytes, kind="tensor",
                formula=_kv_formula(spec, kv.bits, b, p.prompt(s) if name == "prefill" else s,
                                    prefill=name == "prefill" and not p.static_cache),
                source=kv.source + "; " + _SRC_TRANSFORMERS,
            ),
            Component(
                name="activations", label=f"Activations ({name})", bytes=act, kind="tensor",
                formula=_activation_formula(name, req, p),
                source=_SRC_TRANSFORMERS,
            ),
            _logits_component(logits, all_positions=p.all_logits),
            allocator_reserve(allocated, p.reserve_fraction),
            cuda_context(p.context, source="CUDA driver context, kernels and library handles "
                         "of a PyTorch process (lazy module loading, CUDA >= 11.7)"),
        )))
    peak = max(phases, key=lambda phase: phase.total)
    return peak, phases


def _logits_component(logits: int, *, all_positions: bool) -> Component:
    if all_positions:
        return Component(
            name="logits", label="Logits (every position)", bytes=logits, kind="tensor",
            formula="b · s · V · 2: the bf16 lm_head output of every prompt position",
            source="transformers forward with logits_to_keep=0 (evaluation, scoring)")
    return Component(
        name="logits", label="Logits (last position)", bytes=logits, kind="tensor",
        formula="b · V · (2 + 4): bf16 lm_head output + fp32 copy for sampling",
        source="transformers generate(): logits_to_keep=1, logits[:, -1, :].float()")


def _weights_formula(fmt: WeightFormat, spec: ModelSpec) -> str:
    if fmt.kind == "dense":
        return (f"P · {fmt.bits:g} bits  (P = {spec.total_parameters:,}), each tensor rounded "
                "to the caching allocator's block (vramcalc/allocator.py)")
    if fmt.kind == "gguf":
        return (f"Σ tensors · bits of the ggml type llama.cpp's {fmt.id} recipe gives each "
                "tensor; 1-D tensors F32")
    what = "routed-expert weights" if fmt.kind == "experts" else "linear weights"
    return (f"{what} · {fmt.effective_bits():.4g} bits (incl. scales) + the rest "
            "(embeddings, lm_head, norms, biases) · 16 bits")


def _kv_formula(spec: ModelSpec, bits: float, b: int, s: int, *, prefill: bool) -> str:
    geo = kv_cache.geometry(spec)
    if spec.mla:
        width = f"L · (kv_lora_rank + qk_rope_head_dim) = {geo.full_elements:,}"
    else:
        width = (f"Σ layers 2 · g · d = {geo.elements_per_token:,}"
                 if geo.windowed else f"2 · L · g · d = {geo.full_elements:,}")
    text = f"b · s · {width} elements · {bits:g} bits  (b={b}, s={s})"
    if geo.windowed:
        wins = ", ".join(f"W={w}" for w, _ in geo.windowed)
        held = "s (the whole prompt, kept into the first decode step)" if prefill else "min(s, W)"
        text += f"; {geo.windowed_layers} sliding-window layers ({wins}) hold {held} tokens"
    return text


def _activation_formula(phase: str, req: InferenceRequest, p: InferencePlan) -> str:
    per_token = f"{p.layer_elements_per_token:,}"
    if phase == "prefill":
        text = (f"b · s · {per_token} elements · 2 B (one layer's temporaries and the hidden "
                f"states the forward keeps, for the prompt) + {CUBLAS_WORKSPACE_TEXT}")
        if p.mla_expand_per_token:
            text += f" + b · s · {p.mla_expand_per_token:,} · 2 B (MLA latent expanded per head)"
        if p.eager_heads:
            text += " + b · a · s² · 10 B + b · s² · 2 B (eager attention scores, softmax, mask)"
        return text
    text = f"b · {per_token} · 2 B + {CUBLAS_WORKSPACE_TEXT}"
    if not p.static_cache:
        text += " + one layer's K copy while appending (b · s · width)"
    if p.mla_expand_per_token:
        text += " + b · s · a · (d_qk + d_v) · 2 B (latent expanded per head)"
    return text


def respond(req: InferenceRequest) -> EngineResult:
    """The phases, fit table and details of a transformers `generate()` request."""
    spec = req.spec
    p = plan(req)
    peak, phases = estimate(req, p)
    b, s = req.batch_size, req.context_length
    rows = fit.fit_table(
        gpus=req.common.fit_devices,
        total=peak.total,
        weights=p.weights,
        by_batch=lambda x: p.total(x, s),
        by_length=lambda x: p.total(b, x),
        batch_limit=1 << 16,
        length_limit=spec.max_position_embeddings,
    )
    details: dict[str, Any] = {
        "kv_cache_bytes_per_token": kv_bytes_per_token(req),
        "weights_bits_per_parameter": bits_per_parameter(p.weights * req.tensor_parallel, req),
        "transformers": {"cache": req.options.cache, "attention": req.attention},
        "speed": speed(req, weights=p.stored_weights, kv=p.kv_bytes(b, s)),
        "host_memory": host.checkpoint_memory(req.common.model.source_config, spec,
                                              engine=NAME),
    }
    return EngineResult(peak=peak, phases=tuple(phases), fit_rows=tuple(rows), details=details,
                        length_field="context_length", length=s, warnings=image_warnings(req))
