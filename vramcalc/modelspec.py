"""The shape of a model as vramcalc describes it: tensor groups, per-layer attention and
recurrent state, experts, a vision tower; and the small helpers every family reader shares
(its sizes and heads, the tensor builder and its blocks, layer kinds, MoE layouts). The
readers live in `vramcalc/families/`; `architecture.from_config` chooses one.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .errors import Fields

CATEGORIES = (
    "embeddings",
    "attention",
    "mlp",
    "routed_experts",
    "shared_experts",
    "router",
    "norms",
    "lm_head",
)

# Tensor roles (GGUF-like names) -> category. `LINEAR_ROLES` are the 2-D projection weights
# that weight-only quantizers (bitsandbytes, GPTQ, AWQ, GGUF) compress.
_ROLE_CATEGORY = {
    "token_embd": "embeddings",
    "pos_embd": "embeddings",
    "output": "lm_head",
    "output_bias": "lm_head",
    "norm": "norms",
    "attn_q": "attention",
    "attn_k": "attention",
    "attn_v": "attention",
    "attn_qkv": "attention",
    "attn_output": "attention",
    "attn_q_a": "attention",
    "attn_q_b": "attention",
    "attn_kv_a": "attention",
    "attn_kv_b": "attention",
    "attn_bias": "attention",
    "attn_sinks": "attention",
    "ffn_gate": "mlp",
    "ffn_up": "mlp",
    "ffn_down": "mlp",
    "ffn_gate_up": "mlp",
    "ffn_bias": "mlp",
    "ffn_gate_exps": "routed_experts",
    "ffn_up_exps": "routed_experts",
    "ffn_down_exps": "routed_experts",
    "ffn_gate_up_exps": "routed_experts",
    "ffn_exps_bias": "routed_experts",
    "ffn_gate_shexp": "shared_experts",
    "ffn_up_shexp": "shared_experts",
    "ffn_down_shexp": "shared_experts",
    "ffn_gate_inp_shexp": "shared_experts",
    "ffn_gate_up_shexp": "shared_experts",
    # recurrent token mixers (Mamba, Mamba-2, Gated DeltaNet, LFM2's short convolution) are
    # counted with attention: they are the layer's token mixer
    "ssm_in": "attention",
    "ssm_out": "attention",
    "ssm_x": "attention",
    "ssm_dt": "attention",
    "ssm_conv": "attention",
    "ssm_param": "attention",
    "attn_indexer": "attention",
    "ffn_gate_inp": "router",
    "ffn_gate_inp_bias": "router",
}
LINEAR_ROLES = frozenset(
    {
        "attn_q",
        "attn_k",
        "attn_v",
        "attn_qkv",
        "attn_output",
        "attn_q_a",
        "attn_q_b",
        "attn_kv_a",
        "attn_kv_b",
        "ffn_gate",
        "ffn_up",
        "ffn_down",
        "ffn_gate_up",
        "ffn_gate_exps",
        "ffn_up_exps",
        "ffn_down_exps",
        "ffn_gate_up_exps",
        "ffn_gate_shexp",
        "ffn_up_shexp",
        "ffn_down_shexp",
        "ffn_gate_up_shexp",
        "ssm_in",
        "ssm_out",
        "ssm_x",
        "ssm_dt",
        "attn_indexer",
    }
)


@dataclass(frozen=True, kw_only=True, slots=True)
class TensorGroup:
    """Tensors of one role and size: `numel` elements each, one per layer in `layers`
    (`layers == ()` for a tensor outside the layer stack, counted once).
    `in_features` is the input width of a linear weight (LoRA adds `r·(in + out)`)."""

    role: str
    numel: int
    layers: tuple[int, ...] = ()
    in_features: int = 0
    out_features: int = 0
    experts: int = 1  # a stacked expert tensor holds this many matrices of in x out

    @property
    def count(self) -> int:
        return len(self.layers) if self.layers else 1

    @property
    def total(self) -> int:
        return self.numel * self.count

    @property
    def category(self) -> str:
        return _ROLE_CATEGORY[self.role]


@dataclass(frozen=True, kw_only=True, slots=True)
class AttentionLayer:
    """What one layer keeps in the KV cache.

    `kind`: "full" (grows with the context), "sliding" (at most `window` tokens),
    "chunked" (Llama 4 local attention: at most `window` tokens) or "none".
    `k_width`/`v_width`: elements per token cached for K and V when every head is stored
    (`g·d_k` and `g·d_v`). For MLA, `latent_width` is what an engine that caches the
    compressed latent stores per token (`kv_lora_rank + qk_rope_head_dim`, one "head").
    """

    kind: str
    window: int = 0
    k_width: int = 0
    v_width: int = 0
    latent_width: int = 0


@dataclass(frozen=True, kw_only=True, slots=True)
class RecurrentLayer:
    """What one recurrent layer (a layer with no KV cache) keeps per sequence instead.

    `kind`: "mamba" (Mamba-1 selective scan), "mamba2" (Mamba-2 SSD), "gated_deltanet"
    (Qwen3-Next / Qwen3.5 linear attention) or "short_conv" (LFM2's gated convolution).
    The convolution state holds the last inputs of a depthwise causal convolution over
    `conv_channels` channels: vLLM keeps `conv_kernel - 1` columns per sequence
    (mamba_utils.py `MambaStateShapeCalculator`), transformers keeps `conv_kernel`
    (cache_utils.py `LinearAttentionLayer`, v5). The recurrent state is
    `state_heads x state_head_dim x state_size` elements per sequence: Mamba-1
    `intermediate x 1 x d_state`, Mamba-2 `heads x head_dim x d_state`, Gated DeltaNet
    `value heads x value head_dim x key head_dim`; LFM2 has none.
    `state_dtype` is what transformers stores it in: "fp32" where the model keeps it in
    float32 (`mamba_ssm_cache_dtype`, the torch scan's float state), else "model" (the
    weights' dtype).
    """

    kind: str
    conv_channels: int
    conv_kernel: int
    state_heads: int = 0
    state_head_dim: int = 0
    state_size: int = 0
    state_dtype: str = "model"

    @property
    def conv_elements(self) -> int:
        """Convolution state elements per sequence as vLLM keeps it: (kernel - 1) x channels."""
        return (self.conv_kernel - 1) * self.conv_channels

    @property
    def state_elements(self) -> int:
        """Recurrent (SSM / delta-rule) state elements per sequence."""
        return self.state_heads * self.state_head_dim * self.state_size


@dataclass(frozen=True, kw_only=True, slots=True)
class VisionSpec:
    """A multimodal model's vision encoder and projector: their weights (counted exactly as
    transformers builds them, outside `ModelSpec.tensors`) and what sets the number of image
    tokens. `tokens_per_image(height, width)` follows the model's processor."""

    model_type: str
    parameters: int
    encoder_parameters: int
    projector_parameters: int
    hidden_size: int
    num_layers: int
    patch_size: int
    image_size: int  # the fixed input resolution (0 when the encoder takes any resolution)
    merge_size: int  # patches merged into one token per side (spatial_merge_size; 1 for none)
    fixed_tokens: int  # tokens per image (per tile for Llama 4) when the size does not matter
    temporal_patch_size: int = 1  # frames per patch (Qwen-VL: 2; an image is repeated)
    token_rule: str = "fixed"  # "fixed", "grid" (Qwen-VL) or "pixtral" (Mistral 3)

    def tokens_per_image(self, height: int, width: int) -> int:
        """Image tokens one `height` x `width` image (already resized by the processor)
        becomes in the text stream.

        fixed: `fixed_tokens` (LLaVA-1.5: (336/14)² = 576; Gemma 3: mm_tokens_per_image,
        256; Llama 4: per 336 px tile, (336/14)² x 0.5² = 144).
        grid (Qwen2/2.5/3-VL, Qwen2VLImageProcessor smart_resize): sides rounded to a
        multiple of patch x merge, then one token per merge x merge patches.
        pixtral (PixtralImageProcessor + Mistral3Processor): the longest side at most
        image_size, ceil(side / patch) patches, merge x merge patches per token, plus one
        [IMG_BREAK] / [IMG_END] token per row.
        """
        if self.token_rule == "fixed":
            return self.fixed_tokens
        if self.token_rule == "grid":
            unit = self.patch_size * self.merge_size
            return max(1, round(height / unit)) * max(1, round(width / unit))
        scale = max(height / self.image_size, width / self.image_size, 1.0)
        rows = math.ceil(int(height / scale) / self.patch_size) // self.merge_size
        cols = math.ceil(int(width / scale) / self.patch_size) // self.merge_size
        return max(1, rows) * (max(1, cols) + 1)


@dataclass(frozen=True, kw_only=True, slots=True)
class MoESpec:
    num_experts: int
    experts_per_token: int
    expert_intermediate_size: int
    shared_intermediate_size: int  # 0 when the model has no shared expert
    moe_layers: int


@dataclass(frozen=True, kw_only=True, slots=True)
class ModelSpec:
    """Everything the estimators need to know about a decoder-only model."""

    name: str
    model_type: str
    family: str  # the reader used
    vocab_size: int
    hidden_size: int
    num_layers: int
    num_heads: int
    num_kv_heads: int
    head_dim: int
    intermediate_size: int  # dense MLP width (0 when every layer is MoE)
    gated_mlp: bool  # SwiGLU/GeGLU (3 matrices) vs a plain 2-matrix MLP
    norm: str  # "rms", "layer" or "none" (OLMo's parameter-free LayerNorm)
    tie_word_embeddings: bool
    max_position_embeddings: int
    torch_dtype: str
    tensors: tuple[TensorGroup, ...]
    attention: tuple[AttentionLayer, ...]
    mla: bool
    moe: MoESpec | None
    dense_layer_widths: tuple[int, ...]  # per layer: dense MLP width, 0 for an MoE layer
    dropout: float  # attention/hidden dropout used in training (0.0 for most LLMs)
    notes: tuple[str, ...]  # model quirks worth telling the user
    # per layer: its recurrent state (None for an attention layer); () when every layer is
    # attention. A recurrent layer's `attention` entry has kind "none" (no KV cache).
    recurrent: tuple[RecurrentLayer | None, ...] = ()
    vision: VisionSpec | None = None  # the vision tower of a multimodal config
    mlp_activation: str = "silu"  # config's activation name (hidden_act, activation_function)
    residual_dropout: float = 0.0  # dropout on each block's output (GPT-2 resid_pdrop)
    embedding_dropout: float = 0.0  # dropout on the embeddings (GPT-2 embd_pdrop)

    @property
    def parameters_by_category(self) -> dict[str, int]:
        counts = dict.fromkeys(CATEGORIES, 0)
        for group in self.tensors:
            counts[group.category] += group.total
        return counts

    @property
    def total_parameters(self) -> int:
        return sum(group.total for group in self.tensors)

    @property
    def active_parameters(self) -> int:
        """Parameters one token touches: routed experts scaled by top-k / experts."""
        total = self.total_parameters
        if self.moe is None:
            return total
        routed = self.parameters_by_category["routed_experts"]
        used = routed * self.moe.experts_per_token // self.moe.num_experts
        return total - routed + used

    def _hybrid_summary(self) -> dict[str, Any]:
        """Summary keys only hybrid models have (other models keep their summary's shape)."""
        out: dict[str, Any] = {}
        kinds = [layer.kind for layer in self.recurrent if layer is not None]
        if kinds:
            out["recurrent_layers"] = {kind: kinds.count(kind) for kind in sorted(set(kinds))}
        return out

    def summary(self) -> dict[str, Any]:
        kinds = [layer.kind for layer in self.attention]
        windows = sorted({layer.window for layer in self.attention if layer.window})
        return {
            "name": self.name,
            "model_type": self.model_type,
            "family": self.family,
            "layers": self.num_layers,
            "hidden_size": self.hidden_size,
            "attention_heads": self.num_heads,
            "kv_heads": self.num_kv_heads,
            "head_dim": self.head_dim,
            "intermediate_size": self.intermediate_size,
            "vocab_size": self.vocab_size,
            "tie_word_embeddings": self.tie_word_embeddings,
            "max_position_embeddings": self.max_position_embeddings,
            "torch_dtype": self.torch_dtype,
            "attention": "mla" if self.mla else _attention_name(self.num_heads, self.num_kv_heads),
            "full_attention_layers": kinds.count("full"),
            "sliding_window_layers": kinds.count("sliding") + kinds.count("chunked"),
            "sliding_windows": windows,
            **self._hybrid_summary(),
            "moe": None
            if self.moe is None
            else {
                "experts": self.moe.num_experts,
                "experts_per_token": self.moe.experts_per_token,
                "expert_intermediate_size": self.moe.expert_intermediate_size,
                "shared_intermediate_size": self.moe.shared_intermediate_size,
                "moe_layers": self.moe.moe_layers,
            },
        }


def _attention_name(heads: int, kv_heads: int) -> str:
    if kv_heads == heads:
        return "mha"
    return "mqa" if kv_heads == 1 else "gqa"


# ----------------------------------------------------------------------------------------
# Reading config.json


@dataclass(frozen=True, kw_only=True, slots=True)
class Sizes:
    """The sizes a reader reads first and uses throughout: the hidden size, the layer count,
    the vocabulary and the attention heads (1, 1, 1 for a model without attention)."""

    hidden: int
    layers: int
    vocab: int
    heads: int = 1
    kv_heads: int = 1
    head_dim: int = 1

    @property
    def q_width(self) -> int:
        """heads x head_dim: the query projection's width (and the output projection's input)."""
        return self.heads * self.head_dim

    @property
    def kv_width(self) -> int:
        """kv_heads x head_dim: the key (and the value) projection's width."""
        return self.kv_heads * self.head_dim


@dataclass(slots=True)
class Builder:
    """Accumulates tensor groups layer by layer, after the token embedding (`vocab` x
    `embed_width`, the shape an untied lm_head has too)."""

    vocab: int
    embed_width: int
    groups: dict[tuple[str, int, int, int, int], list[int]]
    globals_: list[TensorGroup]

    @classmethod
    def new(cls, vocab: int, embed_width: int) -> Builder:
        """A builder that holds the token embedding, `vocab` x `embed_width`."""
        b = cls(vocab=vocab, embed_width=embed_width, groups={}, globals_=[])
        b.single("token_embd", vocab * embed_width, embed_width, vocab)
        return b

    def layer(
        self, role: str, layer: int, in_f: int, out_f: int, *, experts: int = 1, bias: bool = False
    ) -> None:
        numel = in_f * out_f * experts
        self.groups.setdefault((role, numel, in_f, out_f, experts), []).append(layer)
        if bias:
            bias_role = {
                "ffn_gate_exps": "ffn_exps_bias",
                "ffn_up_exps": "ffn_exps_bias",
                "ffn_down_exps": "ffn_exps_bias",
                "ffn_gate_up_exps": "ffn_exps_bias",
                "ffn_gate_inp": "ffn_gate_inp_bias",
            }.get(role, "attn_bias" if role.startswith("attn") else
                  "ssm_param" if role.startswith("ssm") else
                  "output_bias" if role == "output" else "ffn_bias")
            self.groups.setdefault((bias_role, out_f * experts, 0, 0, 1), []).append(layer)

    def attention(
        self, i: int, hidden: int, q_width: int, kv_width: int, *, bias: bool = False,
        out_bias: bool | None = None, fused: bool = False, gated_query: bool = False,
    ) -> None:
        """The q/k/v projections and the output projection of layer `i`: q and the output's
        input `q_width` wide (heads x head_dim), k and v `kv_width` (kv_heads x head_dim).
        Separate q/k/v as modeling_llama.py LlamaAttention, or one `fused` qkv tensor (GPT-2
        c_attn, GPT-NeoX query_key_value, Phi-3 qkv_proj). `out_bias` is the output's bias
        where it differs from q/k/v's (Qwen2 biases q/k/v only); `gated_query` doubles q_proj
        for the output gate (Qwen3-Next)."""
        if fused:
            self.layer("attn_qkv", i, hidden, q_width + 2 * kv_width, bias=bias)
        else:
            self.layer("attn_q", i, hidden, 2 * q_width if gated_query else q_width, bias=bias)
            self.layer("attn_k", i, hidden, kv_width, bias=bias)
            self.layer("attn_v", i, hidden, kv_width, bias=bias)
        self.layer("attn_output", i, q_width, hidden, bias=bias if out_bias is None else out_bias)

    def mlp(
        self, i: int, hidden: int, width: int, *, gated: bool = True, fused: bool = False,
        suffix: str = "", experts: int = 1, bias: bool = False,
    ) -> None:
        """The MLP of layer `i`: gate and up (hidden -> width; one `fused` gate_up tensor as
        GLM's and Phi-3's gate_up_proj), or up alone in a plain 2-matrix MLP (`gated=False`:
        GPT-2's c_fc), then down (width -> hidden). `suffix` names experts: "_exps" for
        `experts` routed experts stacked in each tensor, "_shexp" for a shared expert."""
        if fused:
            self.layer(f"ffn_gate_up{suffix}", i, hidden, 2 * width, experts=experts, bias=bias)
        else:
            if gated:
                self.layer(f"ffn_gate{suffix}", i, hidden, width, experts=experts, bias=bias)
            self.layer(f"ffn_up{suffix}", i, hidden, width, experts=experts, bias=bias)
        self.layer(f"ffn_down{suffix}", i, width, hidden, experts=experts, bias=bias)

    def vector(self, role: str, layer: int, size: int) -> None:
        self.groups.setdefault((role, size, 0, 0, 1), []).append(layer)

    def norms(self, i: int, width: int, count: int = 2) -> None:
        """`count` norms in layer `i` of `width` elements each (an RMSNorm's weight, or a
        LayerNorm's weight and bias: 2 x its size)."""
        for _ in range(count):
            self.vector("norm", i, width)

    def single(self, role: str, numel: int, in_f: int = 0, out_f: int = 0) -> None:
        self.globals_.append(
            TensorGroup(role=role, numel=numel, in_features=in_f, out_features=out_f)
        )

    def head(self, *, tie: bool, norm: int, bias: bool = False) -> None:
        """The final norm (`norm` elements, 0 for none), the lm_head unless tied, and the
        lm_head's `bias` (GPT-J, Phi; counted whether or not the head is tied)."""
        if norm:
            self.single("norm", norm)
        if not tie:
            self.single("output", self.vocab * self.embed_width, self.embed_width, self.vocab)
        if bias:
            self.single("output_bias", self.vocab)

    def build(self) -> tuple[TensorGroup, ...]:
        layered = [
            TensorGroup(
                role=role,
                numel=numel,
                layers=tuple(layers),
                in_features=in_f,
                out_features=out_f,
                experts=experts,
            )
            for (role, numel, in_f, out_f, experts), layers in self.groups.items()
        ]
        return (*self.globals_, *layered)


def with_changes(spec: ModelSpec, **changes: Any) -> ModelSpec:
    return replace(spec, **changes)


def checkpoint_dtype(fields: Fields) -> str:
    """The checkpoint dtype: `torch_dtype` (transformers < 5) or `dtype` (v5 configs)."""
    value = fields.data.get("torch_dtype") or fields.data.get("dtype") or "bfloat16"
    return {"bfloat16": "bf16", "float16": "fp16", "float32": "fp32", "half": "fp16"}.get(
        str(value), "bf16"
    )


def head_width(fields: Fields, hidden: int, heads: int) -> int:
    """hidden_size // heads, the head size where the config gives none; a config whose heads
    outnumber its hidden size would build zero-width heads, and is refused."""
    if heads > hidden:
        fields.add("num_attention_heads", f"must be at most hidden_size ({hidden:,}) when "
                   f"head_dim is not given (head_dim = hidden_size // heads), got {heads:,}")
        return 1
    return hidden // heads


def read_sizes(
    fields: Fields, *, hidden: tuple[str, ...] = ("hidden_size",),
    layers: tuple[str, ...] = ("num_hidden_layers",), layers_default: int | None = None,
    heads: bool = True,
) -> Sizes:
    """The sizes every reader starts with, read in this order (the order their problems are
    listed in): the hidden size and the layer count under the keys the family's config names
    them by (`hidden`, `layers`: the key, then its aliases), `vocab_size`, then the heads
    (`read_heads`) unless the family reads them later or has none (`heads=False`)."""
    hidden_size = fields.integer(hidden[0], *hidden[1:])
    num_layers = fields.integer(layers[0], *layers[1:], default=layers_default)
    sizes = Sizes(hidden=hidden_size, layers=num_layers, vocab=fields.integer("vocab_size"))
    return read_heads(fields, sizes) if heads else sizes


def read_heads(fields: Fields, sizes: Sizes) -> Sizes:
    """`sizes` with its query heads, kv heads and head_dim. `head_dim` is explicit in Qwen3,
    Gemma, Mistral Nemo; otherwise hidden/heads. Missing `num_key_value_heads` means MHA
    (transformers' default)."""
    heads = fields.integer("num_attention_heads", "n_head")
    kv_heads = fields.integer("num_key_value_heads", default=heads)
    head_dim = fields.optional_integer("head_dim") or head_width(fields, sizes.hidden, heads)
    if heads and kv_heads and heads % kv_heads:
        fields.collector.add(
            f"{fields.path}.num_key_value_heads",
            f"must divide num_attention_heads ({heads}), got {kv_heads}",
        )
    return replace(sizes, heads=heads, kv_heads=kv_heads, head_dim=head_dim)


def layer_kinds(fields: Fields, family: str, layers: int) -> list[tuple[str, int]]:
    """(kind, window) per layer from `layer_types`, `sliding_window_pattern` or the family's
    fixed pattern, following transformers' config classes (v5)."""
    window = fields.optional_integer("sliding_window") or 0
    types = fields.data.get("layer_types")
    if isinstance(types, list):
        if len(types) != layers:
            fields.collector.add(
                f"{fields.path}.layer_types",
                f"must list one type per layer ({layers}), got {len(types)}",
            )
            return [("full", 0)] * layers
        out = []
        chunk = fields.optional_integer("attention_chunk_size") or 0
        for i, kind in enumerate(types):
            if kind in ("sliding_attention",):
                out.append(("sliding", window))
            elif kind == "chunked_attention":
                out.append(("chunked", chunk))
            elif kind in ("full_attention", "attention"):
                out.append(("full", 0))
            else:
                fields.collector.add(
                    f"{fields.path}.layer_types[{i}]", f"unsupported layer type {kind!r}"
                )
                out.append(("full", 0))
        return out
    if family == "gemma2" or family == "gpt_oss":
        # even layers use the sliding window (Gemma 2: W=4096; gpt-oss: W=128)
        return [("sliding", window) if (i + 1) % 2 else ("full", 0) for i in range(layers)]
    if family == "llama4_text":
        # chunked local attention on RoPE layers; every 4th layer is global without RoPE
        chunk = fields.integer("attention_chunk_size", default=8192)
        interval = fields.integer("no_rope_layer_interval", default=4)
        return [("chunked", chunk) if (i + 1) % interval else ("full", 0) for i in range(layers)]
    if family == "gemma3_text":
        pattern = fields.integer("sliding_window_pattern", default=6)
        return [("sliding", window) if (i + 1) % pattern else ("full", 0) for i in range(layers)]
    if family in ("qwen2", "qwen2_moe", "qwen3", "qwen3_moe"):
        # Qwen: the window applies only with use_sliding_window, from max_window_layers on
        if fields.boolean("use_sliding_window", default=False) and window:
            first = fields.integer("max_window_layers", default=layers, minimum=0)
            return [("sliding", window) if i >= first else ("full", 0) for i in range(layers)]
        return [("full", 0)] * layers
    if family in ("mistral", "mixtral", "phi3", "generic", "llama", "starcoder2", "phimoe",
                  "minimax_m2") and window:
        # Mistral-7B-v0.1 (W=4096) and Phi-3-mini (W=2047) slide on every layer
        return [("sliding", window)] * layers
    return [("full", 0)] * layers


def attention_layers(
    kinds: list[tuple[str, int]], k_width: int, v_width: int, latent: int = 0
) -> tuple[AttentionLayer, ...]:
    return tuple(
        AttentionLayer(kind=kind, window=window, k_width=k_width, v_width=v_width,
                       latent_width=latent)
        for kind, window in kinds
    )


def full_attention(
    layers: int, k_width: int, v_width: int, latent: int = 0
) -> tuple[AttentionLayer, ...]:
    """Full attention (no window) in every one of `layers` layers."""
    return attention_layers([("full", 0)] * layers, k_width, v_width, latent)


def make_spec(
    c: Fields, family: str, b: Builder, s: Sizes, *, width: int, tie: bool,
    attention: tuple[AttentionLayer, ...],
    gated_mlp: bool = True, norm: str = "rms", positions: int = 0,
    positions_default: int = 4096, dropout_key: str = "attention_dropout",
    dropout_default: float = 0.0, mla: bool = False, moe: MoESpec | None = None,
    dense_layer_widths: tuple[int, ...] | None = None, notes: tuple[str, ...] = (),
    recurrent: tuple[RecurrentLayer | None, ...] = (),
    activation: str = "silu", residual_dropout: float = 0.0, embedding_dropout: float = 0.0,
) -> ModelSpec:
    """The ModelSpec every reader ends with, of the sizes `s`. What the readers share is read
    here, in one order: `max_position_embeddings` (unless the reader read `positions`
    itself), the checkpoint dtype, then the dropout. `width` is the dense MLP width; every
    layer has it unless `dense_layer_widths` says otherwise (0 for an MoE layer)."""
    return ModelSpec(
        name="", model_type=family, family=family, vocab_size=s.vocab, hidden_size=s.hidden,
        num_layers=s.layers, num_heads=s.heads, num_kv_heads=s.kv_heads, head_dim=s.head_dim,
        intermediate_size=width, gated_mlp=gated_mlp, norm=norm, tie_word_embeddings=tie,
        max_position_embeddings=positions
        or c.integer("max_position_embeddings", default=positions_default),
        torch_dtype=checkpoint_dtype(c), tensors=b.build(), attention=attention, mla=mla, moe=moe,
        dense_layer_widths=(width,) * s.layers if dense_layer_widths is None
        else dense_layer_widths,
        dropout=c.number(dropout_key, default=dropout_default, maximum=1.0), notes=notes,
        recurrent=recurrent, mlp_activation=activation, residual_dropout=residual_dropout,
        embedding_dropout=embedding_dropout,
    )


# transformers' ACT2FN names (activations.py) a GPT-2-style config may give
ACTIVATIONS = ("gelu_new", "gelu", "gelu_fast", "gelu_pytorch_tanh", "gelu_python", "relu",
               "silu", "swish", "quick_gelu", "tanh")


@dataclass(frozen=True, kw_only=True, slots=True)
class MoEFields:
    """What an MoE config says about its experts, read before the layers are."""

    experts: int
    top_k: int
    expert_width: int
    shared_width: int  # 0 without a shared expert
    layers: tuple[int, ...]  # indices of the MoE layers

    def spec(self) -> MoESpec:
        return MoESpec(num_experts=self.experts, experts_per_token=self.top_k,
                       expert_intermediate_size=self.expert_width,
                       shared_intermediate_size=self.shared_width, moe_layers=len(self.layers))


def deepseek_moe(c: Fields, layers: int, *, layer_freq: bool = False) -> MoEFields:
    """DeepSeek's MoE (DeepSeek-V2/V3, and GLM-4-MoE, dots.llm1 that copy it): dense
    `first_k_dense_replace` layers, then routed experts and `n_shared_experts` shared ones,
    each `moe_intermediate_size` wide. DeepSeekMoE 16B routes only every `moe_layer_freq`-th
    of those layers (`layer_freq`)."""
    experts = c.integer("n_routed_experts")
    top_k = c.integer("num_experts_per_tok")
    width = c.integer("moe_intermediate_size")
    shared = c.integer("n_shared_experts", default=0, minimum=0) * width
    first = c.integer("first_k_dense_replace", default=0, minimum=0)
    freq = c.integer("moe_layer_freq", default=1) if layer_freq else 1
    return MoEFields(experts=experts, top_k=top_k, expert_width=width, shared_width=shared,
                     layers=tuple(i for i in range(first, layers) if i % freq == 0))


def layer_indices(c: Fields, key: str, layers: int) -> tuple[int, ...]:
    """A list of distinct layer indices in [0, layers) (Llama 4's moe_layers, Qwen MoE's
    mlp_only_layers)."""
    raw = c.get(key)
    if raw is None:
        return ()
    good = isinstance(raw, list) and all(
        isinstance(i, int) and not isinstance(i, bool) and 0 <= i < layers for i in raw)
    if not good:
        c.add(key, f"must be a list of layer indices from 0 to {layers - 1}")
        return ()
    return tuple(sorted(set(raw)))

