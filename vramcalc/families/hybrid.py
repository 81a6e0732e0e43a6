"""Recurrent and hybrid models: Mamba, Mamba-2, and the hybrids that mix their layers (or
Gated DeltaNet linear attention, or short convolutions) with attention. Each recurrent layer
gets a `RecurrentLayer` (its per-sequence state) and an attention entry of kind "none" (no
KV cache); Falcon-H1 runs attention and Mamba-2 side by side in every layer, so its layers
have both. Module layouts follow transformers v5 (models/<family>/modeling_<family>.py)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from ..modelspec import (
    AttentionLayer,
    Builder,
    ModelSpec,
    MoESpec,
    RecurrentLayer,
    Sizes,
    full_attention,
    layer_indices,
    make_spec,
    read_sizes,
)

if TYPE_CHECKING:
    from collections.abc import Callable

    from ..errors import Fields


@dataclass(frozen=True, kw_only=True, slots=True)
class _Mamba2:
    """A Mamba-2 mixer's sizes: `inner` = heads x head_dim, conv over inner + 2·groups·state."""

    heads: int
    head_dim: int
    groups: int
    state: int
    kernel: int
    conv_bias: bool
    proj_bias: bool
    gated_norm: bool  # the RMSNorm over `inner` before out_proj
    state_dtype: str
    stated_inner: int | None = None  # heads x head_dim as the config restates it (Falcon-H1)

    @property
    def inner(self) -> int:
        return self.heads * self.head_dim

    @property
    def conv_channels(self) -> int:
        return self.inner + 2 * self.groups * self.state

    def add(self, b: Builder, i: int, hidden: int) -> RecurrentLayer:
        """The mixer's tensors (modeling_mamba2.py Mamba2Mixer) and its state."""
        # in_proj: gate z (inner) + conv input x·B·C (conv_channels) + dt (heads)
        b.layer("ssm_in", i, hidden, self.inner + self.conv_channels + self.heads,
                bias=self.proj_bias)
        b.vector("ssm_conv", i, self.conv_channels * self.kernel)  # depthwise conv1d
        if self.conv_bias:
            b.vector("ssm_conv", i, self.conv_channels)
        b.vector("ssm_param", i, 3 * self.heads)  # dt_bias, A_log, D
        if self.gated_norm:
            b.vector("norm", i, self.inner)
        b.layer("ssm_out", i, self.inner, hidden, bias=self.proj_bias)
        return RecurrentLayer(kind="mamba2", conv_channels=self.conv_channels,
                              conv_kernel=self.kernel, state_heads=self.heads,
                              state_head_dim=self.head_dim, state_size=self.state,
                              state_dtype=self.state_dtype)


@dataclass(frozen=True, kw_only=True, slots=True)
class _Mamba2Keys:
    """The keys a config class gives a Mamba-2 mixer's sizes under, and the defaults of the
    three whose default differs between classes (None: required). Every class defaults to one
    group, a kernel of 4, a conv bias and no projection bias."""

    heads: str
    head_dim: str
    groups: str
    state: str
    kernel: str
    conv_bias: str
    proj_bias: str
    heads_default: int | None = None
    head_dim_default: int | None = None
    state_default: int | None = None
    gated_norm: str = ""  # the key that switches the gated RMSNorm ("": always there)
    inner: str = ""  # a key restating heads x head_dim ("": none)

    def read(self, c: Fields) -> _Mamba2:
        """The mixer's sizes, read in one order (the order their problems are listed in)."""
        heads = c.integer(self.heads, default=self.heads_default)
        stated_inner = c.optional_integer(self.inner) if self.inner else None
        return _Mamba2(
            heads=heads, head_dim=c.integer(self.head_dim, default=self.head_dim_default),
            groups=c.integer(self.groups, default=1),
            state=c.integer(self.state, default=self.state_default),
            kernel=c.integer(self.kernel, default=4),
            conv_bias=c.boolean(self.conv_bias, default=True),
            proj_bias=c.boolean(self.proj_bias, default=False),
            gated_norm=c.boolean(self.gated_norm, default=False) if self.gated_norm else True,
            state_dtype=_cache_dtype(c), stated_inner=stated_inner)


# Mamba2Config, NemotronHConfig, FalconH1Config and GraniteMoeHybridConfig (v5)
_MAMBA2_KEYS = _Mamba2Keys(
    heads="num_heads", head_dim="head_dim", groups="n_groups", state="state_size",
    kernel="conv_kernel", conv_bias="use_conv_bias", proj_bias="use_bias", head_dim_default=64,
    state_default=128)
_NEMOTRON_H_KEYS = _Mamba2Keys(
    heads="mamba_num_heads", head_dim="mamba_head_dim", groups="n_groups",
    state="ssm_state_size", kernel="conv_kernel", conv_bias="use_conv_bias",
    proj_bias="mamba_proj_bias")
_FALCON_H1_KEYS = _Mamba2Keys(
    heads="mamba_n_heads", head_dim="mamba_d_head", groups="mamba_n_groups",
    state="mamba_d_state", kernel="mamba_d_conv", conv_bias="mamba_conv_bias",
    proj_bias="mamba_proj_bias", gated_norm="mamba_rms_norm", inner="mamba_d_ssm")
_GRANITE_KEYS = _Mamba2Keys(
    heads="mamba_n_heads", head_dim="mamba_d_head", groups="mamba_n_groups",
    state="mamba_d_state", kernel="mamba_d_conv", conv_bias="mamba_conv_bias",
    proj_bias="mamba_proj_bias", heads_default=128, head_dim_default=64, state_default=256)


def _cache_dtype(c: Fields) -> str:
    """`mamba_ssm_cache_dtype` (Nemotron-H: float32) or the model's dtype."""
    value = c.get("mamba_ssm_cache_dtype")
    return "fp32" if value == "float32" else "model"


def _mamba1(
    b: Builder, i: int, hidden: int, inner: int, state: int, rank: int, kernel: int, *,
    conv_bias: bool, proj_bias: bool, dtype: str,
) -> RecurrentLayer:
    """A Mamba-1 mixer (modeling_mamba.py MambaMixer; Jamba's JambaMambaMixer)."""
    b.layer("ssm_in", i, hidden, 2 * inner, bias=proj_bias)  # x and the gate z
    b.vector("ssm_conv", i, inner * kernel)
    if conv_bias:
        b.vector("ssm_conv", i, inner)
    b.layer("ssm_x", i, inner, rank + 2 * state)  # x_proj -> dt, B, C
    b.layer("ssm_dt", i, rank, inner, bias=True)  # dt_proj
    b.vector("ssm_param", i, inner * state + inner)  # A_log, D
    b.layer("ssm_out", i, inner, hidden, bias=proj_bias)
    return RecurrentLayer(kind="mamba", conv_channels=inner, conv_kernel=kernel,
                          state_heads=inner, state_head_dim=1, state_size=state,
                          state_dtype=dtype)


def _dt_rank(c: Fields, key: str, hidden: int) -> int:
    """`time_step_rank` / `mamba_dt_rank`: "auto" is ceil(hidden / 16) (configuration_mamba.py)."""
    if c.get(key) in (None, "auto"):
        return math.ceil(hidden / 16)
    return c.integer(key)


@dataclass(frozen=True, slots=True)
class _Mixers:
    """Each layer's token mixer as the estimators see it, layer by layer: its KV cache
    (`attention`) and its recurrent state (`recurrent`, None for an attention layer)."""

    s: Sizes
    attention: list[AttentionLayer] = field(default_factory=list)
    recurrent: list[RecurrentLayer | None] = field(default_factory=list)

    def add_attention(self) -> None:
        """An attention layer: full attention over the model's kv heads, no state."""
        self.attention.append(
            AttentionLayer(kind="full", k_width=self.s.kv_width, v_width=self.s.kv_width))
        self.recurrent.append(None)

    def add_recurrent(self, state: RecurrentLayer | None) -> None:
        """A layer without a KV cache: its recurrent `state` (None for an MLP-only layer)."""
        self.attention.append(AttentionLayer(kind="none"))
        self.recurrent.append(state)


def read_mamba(fields: Fields, family: str) -> ModelSpec | None:
    """Mamba-1 (MambaForCausalLM): embeddings, one RMSNorm + mixer per layer, tied head.
    MambaConfig sets intermediate_size = expand x hidden_size whatever the file says."""
    c = fields
    s = read_sizes(c, hidden=("hidden_size", "d_model"), layers=("num_hidden_layers", "n_layer"),
                   heads=False)
    state = c.integer("state_size", "d_state", default=16)
    kernel = c.integer("conv_kernel", "d_conv", default=4)
    expand = c.integer("expand", default=2)
    conv_bias = c.boolean("use_conv_bias", default=True)
    proj_bias = c.boolean("use_bias", default=False)
    tie = c.boolean("tie_word_embeddings", default=True)
    rank = _dt_rank(c, "time_step_rank", s.hidden)
    inner = expand * s.hidden
    return _recurrent_stack(
        c, family, s, tie,
        lambda b, i, hidden: _mamba1(b, i, hidden, inner, state, rank, kernel,
                                     conv_bias=conv_bias, proj_bias=proj_bias, dtype="model"))


def read_mamba2(fields: Fields, family: str) -> ModelSpec | None:
    """Mamba-2 (Mamba2ForCausalLM): embeddings, one RMSNorm + Mamba-2 mixer per layer."""
    c = fields
    s = read_sizes(c, heads=False)
    mixer = _MAMBA2_KEYS.read(c)
    tie = c.boolean("tie_word_embeddings", default=False)
    return _recurrent_stack(c, family, s, tie, mixer.add)


def _recurrent_stack(
    c: Fields, family: str, s: Sizes, tie: bool,
    mixer: Callable[[Builder, int, int], RecurrentLayer],
) -> ModelSpec | None:
    """A model of recurrent layers only (Mamba, Mamba-2): the embeddings, one RMSNorm and one
    `mixer` (layer, hidden) per layer, the final norm and the head; None when a read failed."""
    if c.failed():
        return None
    b = Builder.new(s.vocab, s.hidden)
    mixers = _Mixers(s)
    for i in range(s.layers):
        b.vector("norm", i, s.hidden)
        mixers.add_recurrent(mixer(b, i, s.hidden))
    b.head(tie=tie, norm=s.hidden)
    return make_spec(
        c, family, b, s, width=0, tie=tie, positions_default=1 << 20,
        attention=tuple(mixers.attention), dense_layer_widths=(0,) * s.layers,
        recurrent=tuple(mixers.recurrent),
    )


def _moe_spec(experts: int, top_k: int, width: int, shared: int, layers: int) -> MoESpec:
    return MoESpec(num_experts=experts, experts_per_token=top_k, expert_intermediate_size=width,
                   shared_intermediate_size=shared, moe_layers=layers)


def read_jamba(fields: Fields, family: str) -> ModelSpec | None:
    """Jamba: Mamba-1 layers with attention every `attn_layer_period` layers (at
    `attn_layer_offset`) and MoE every `expert_layer_period` (at `expert_layer_offset`);
    the Mamba mixer normalises dt, B and C (modeling_jamba.py)."""
    c = fields
    s = read_sizes(c)
    width = c.integer("intermediate_size")
    experts = c.integer("num_experts", default=16)
    top_k = c.integer("num_experts_per_tok", default=2)
    expert_period = c.integer("expert_layer_period", default=2)
    expert_offset = c.integer("expert_layer_offset", default=1, minimum=0)
    attn_period = c.integer("attn_layer_period", default=8)
    attn_offset = c.integer("attn_layer_offset", default=4, minimum=0)
    state = c.integer("mamba_d_state", default=16)
    kernel = c.integer("mamba_d_conv", default=4)
    expand = c.integer("mamba_expand", default=2)
    conv_bias = c.boolean("mamba_conv_bias", default=True)
    proj_bias = c.boolean("mamba_proj_bias", default=False)
    rank = _dt_rank(c, "mamba_dt_rank", s.hidden)
    tie = c.boolean("tie_word_embeddings", default=False)
    if c.failed():
        return None
    inner = expand * s.hidden
    b = Builder.new(s.vocab, s.hidden)
    mixers = _Mixers(s)
    moe_layers = [i for i in range(s.layers) if i % expert_period == expert_offset]
    for i in range(s.layers):
        if i % attn_period == attn_offset:
            b.attention(i, s.hidden, s.q_width, s.kv_width)
            mixers.add_attention()
        else:
            mixers.add_recurrent(_mamba1(b, i, s.hidden, inner, state, rank, kernel,
                                         conv_bias=conv_bias, proj_bias=proj_bias, dtype="model"))
            b.vector("norm", i, rank + 2 * state)  # dt_layernorm, b_layernorm, c_layernorm
        if i in moe_layers:
            b.layer("ffn_gate_inp", i, s.hidden, experts)
            b.mlp(i, s.hidden, width, fused=True, suffix="_exps", experts=experts)
        else:
            b.mlp(i, s.hidden, width)
        b.norms(i, s.hidden)  # input_layernorm, pre_ff_layernorm
    b.head(tie=tie, norm=s.hidden)
    return make_spec(
        c, family, b, s, width=width, tie=tie, positions_default=262144,
        attention=tuple(mixers.attention), recurrent=tuple(mixers.recurrent),
        moe=_moe_spec(experts, top_k, width, 0, len(moe_layers)) if moe_layers else None,
        dense_layer_widths=tuple(0 if i in moe_layers else width for i in range(s.layers)),
    )


def _block_types(c: Fields, layers: int, key: str, pattern_key: str,
                 names: dict[str, str]) -> list[str]:
    """Per-layer block types from a list (`layers_block_type` / `layer_types`) or a pattern
    string (`hybrid_override_pattern`: M = Mamba, * = attention, - = MLP, E = MoE), mapped to
    "mamba" / "attention" / "mlp" / "moe" through `names`."""
    raw = c.get(key)
    if isinstance(raw, str) and pattern_key == key:
        raw = list(raw)
    if raw is None and c.has(pattern_key):
        pattern = c.get(pattern_key)
        raw = list(pattern) if isinstance(pattern, str) else pattern
    if not isinstance(raw, list) or len(raw) != layers:
        c.add(key if c.has(key) or not c.has(pattern_key) else pattern_key,
              f"must give one block type per layer ({layers})")
        return ["attention"] * layers
    out = []
    for i, kind in enumerate(raw):
        if kind not in names:
            c.add(f"{key}[{i}]", f"unsupported block type {kind!r}")
            out.append("attention")
        else:
            out.append(names[kind])
    return out


_NEMOTRON_BLOCKS = {
    "M": "mamba", "*": "attention", "-": "mlp", "E": "moe", "mamba": "mamba",
    "attention": "attention", "mlp": "mlp", "moe": "moe", "linear_attention": "mamba",
    "full_attention": "attention",
}


def read_nemotron_h(fields: Fields, family: str) -> ModelSpec | None:
    """Nemotron-H: each layer is one RMSNorm and one mixer: Mamba-2, attention, a ReLU²
    MLP, or an MoE of ReLU² experts with a shared expert (modeling_nemotron_h.py); the
    layout is `hybrid_override_pattern` (M * - E) or `layers_block_type`."""
    c = fields
    # transformers v5 writes layers_block_type and derives num_hidden_layers from it
    pattern = c.get("layers_block_type") or c.get("hybrid_override_pattern")
    length = len(pattern) if isinstance(pattern, (list, str)) else 0
    most = 10000  # data/limits.json's bound on num_hidden_layers
    s = read_sizes(c, layers_default=length if 0 < length <= most else None)
    blocks = _block_types(c, s.layers, "layers_block_type", "hybrid_override_pattern",
                          _NEMOTRON_BLOCKS)
    attn_bias = c.boolean("attention_bias", default=False)
    mlp_bias = c.boolean("mlp_bias", default=False)
    width = c.integer("intermediate_size") if "mlp" in blocks else 0
    mixer = _NEMOTRON_H_KEYS.read(c)
    experts = top_k = expert_width = shared = 0
    if "moe" in blocks:
        experts = c.integer("n_routed_experts")
        top_k = c.integer("num_experts_per_tok")
        expert_width = c.integer("moe_intermediate_size")
        shared = c.integer("n_shared_experts", default=1, minimum=0) * c.integer(
            "moe_shared_expert_intermediate_size", default=expert_width)
        if c.get("moe_latent_size") is not None:
            c.add("moe_latent_size", "latent MoE projections are not supported")
    tie = c.boolean("tie_word_embeddings", default=False)
    if c.failed():
        return None
    b = Builder.new(s.vocab, s.hidden)
    mixers = _Mixers(s)
    widths: list[int] = []
    for i, block in enumerate(blocks):
        b.vector("norm", i, s.hidden)
        if block == "attention":
            mixers.add_attention()
        else:
            mixers.add_recurrent(mixer.add(b, i, s.hidden) if block == "mamba" else None)
        widths.append(width if block == "mlp" else 0)
        if block == "attention":
            b.attention(i, s.hidden, s.q_width, s.kv_width, bias=attn_bias)
        elif block == "mlp":  # up_proj, down_proj (ReLU², not gated)
            b.mlp(i, s.hidden, width, gated=False, bias=mlp_bias)
        elif block == "moe":  # router (its e_score_correction_bias is a buffer), experts
            b.layer("ffn_gate_inp", i, s.hidden, experts)
            b.mlp(i, s.hidden, expert_width, gated=False, suffix="_exps", experts=experts)
            if shared:
                b.mlp(i, s.hidden, shared, gated=False, suffix="_shexp")
    b.head(tie=tie, norm=s.hidden)
    moe_count = blocks.count("moe")
    return make_spec(
        c, family, b, s, width=width, tie=tie, gated_mlp=False,
        attention=tuple(mixers.attention), recurrent=tuple(mixers.recurrent),
        dense_layer_widths=tuple(widths),
        moe=_moe_spec(experts, top_k, expert_width, shared, moe_count) if moe_count else None,
    )


def read_falcon_h1(fields: Fields, family: str) -> ModelSpec | None:
    """Falcon-H1: every layer runs attention and a Mamba-2 mixer in parallel, then a gated
    MLP (modeling_falcon_h1.py); both a KV cache and a recurrent state in every layer."""
    c = fields
    s = read_sizes(c)
    width = c.integer("intermediate_size")
    attn_bias = c.boolean("attention_bias", default=False)
    mlp_bias = c.boolean("mlp_bias", default=False)
    mixer = _FALCON_H1_KEYS.read(c)
    out_bias = c.boolean("projectors_bias", default=False)
    tie = c.boolean("tie_word_embeddings", default=False)
    if mixer.stated_inner is not None and mixer.stated_inner != mixer.inner:
        c.add("mamba_d_ssm", f"must equal mamba_n_heads x mamba_d_head ({mixer.inner})")
    if c.failed():
        return None
    b = Builder.new(s.vocab, s.hidden)
    recurrent: list[RecurrentLayer | None] = []
    for i in range(s.layers):
        b.mlp(i, s.hidden, width, bias=mlp_bias)
        state = mixer.add(b, i, s.hidden)
        recurrent.append(state)
        b.attention(i, s.hidden, s.q_width, s.kv_width, bias=attn_bias)
        b.norms(i, s.hidden)  # input_layernorm, pre_ff_layernorm
    if out_bias != mixer.proj_bias:
        c.add("projectors_bias", "must equal mamba_proj_bias")
        return None
    b.head(tie=tie, norm=s.hidden)
    return make_spec(
        c, family, b, s, width=width, tie=tie,
        attention=full_attention(s.layers, s.kv_width, s.kv_width),
        recurrent=tuple(recurrent),
    )


_GRANITE_BLOCKS = {"mamba": "mamba", "attention": "attention", "linear_attention": "mamba",
                   "full_attention": "attention"}


def read_granitemoehybrid(fields: Fields, family: str) -> ModelSpec | None:
    """Granite 4.0: Mamba-2 or attention mixers by `layer_types`, an MoE block when
    `num_local_experts` > 0, and a shared gated MLP in every layer
    (modeling_granitemoehybrid.py)."""
    c = fields
    s = read_sizes(c)
    blocks = _block_types(c, s.layers, "layer_types", "layers_block_type", _GRANITE_BLOCKS)
    attn_bias = c.boolean("attention_bias", default=False)
    experts = c.integer("num_local_experts", default=0, minimum=0)
    top_k = c.integer("num_experts_per_tok", default=0, minimum=0)
    width = c.integer("intermediate_size") if experts else 0
    shared = c.integer("shared_intermediate_size", default=0, minimum=0)
    mixer = _GRANITE_KEYS.read(c)
    tie = c.boolean("tie_word_embeddings", default=False)
    if c.failed():
        return None
    b = Builder.new(s.vocab, s.hidden)
    mixers = _Mixers(s)
    for i, block in enumerate(blocks):
        b.norms(i, s.hidden)
        if experts:
            b.layer("ffn_gate_inp", i, s.hidden, experts)
            b.mlp(i, s.hidden, width, fused=True, suffix="_exps", experts=experts)
        if shared:  # shared_mlp: input_linear (gate and up), output_linear
            b.mlp(i, s.hidden, shared, fused=True, suffix="_shexp" if experts else "")
        if block == "mamba":
            mixers.add_recurrent(mixer.add(b, i, s.hidden))
        else:
            b.attention(i, s.hidden, s.q_width, s.kv_width, bias=attn_bias)
            mixers.add_attention()
    b.head(tie=tie, norm=s.hidden)
    return make_spec(
        c, family, b, s, width=0 if experts else shared, tie=tie,
        attention=tuple(mixers.attention),
        recurrent=tuple(mixers.recurrent) if any(mixers.recurrent) else (),
        moe=_moe_spec(experts, top_k, width, shared, s.layers) if experts else None,
        dense_layer_widths=(0 if experts else shared,) * s.layers,
    )


def read_lfm2(fields: Fields, family: str) -> ModelSpec | None:
    """LFM2: gated short-convolution layers and GQA attention layers (q/k layernorms), each
    with a SwiGLU MLP whose width LFM2 adjusts (Lfm2MLP), tied head (modeling_lfm2.py)."""
    c = fields
    s = read_sizes(c, hidden=("hidden_size", "block_dim"))
    width = c.integer("intermediate_size", "block_ff_dim")
    kernel = c.integer("conv_L_cache", default=3)
    conv_bias = c.boolean("conv_bias", default=False)
    # LFM2's own config.json names it tie_embedding (Lfm2Config reads either)
    tie = c.boolean("tie_word_embeddings", default=c.boolean("tie_embedding", default=True))
    if c.boolean("block_auto_adjust_ff_dim", default=True):
        # Lfm2MLP: 2/3 of intermediate_size, times block_ffn_dim_multiplier (1.0 when the
        # file leaves it out, skipped when it is null), rounded up to block_multiple_of
        width = int(2 * width / 3)
        if "block_ffn_dim_multiplier" not in c.data or c.has("block_ffn_dim_multiplier"):
            multiplier = c.number("block_ffn_dim_multiplier", default=1.0)
            multiple = c.integer("block_multiple_of", default=256)
            width = int(multiplier * width)
            width = multiple * ((width + multiple - 1) // multiple)
    types = c.get("layer_types")
    if isinstance(types, list) and len(types) == s.layers:
        attn = [t == "full_attention" for t in types]
    else:
        idxs = c.get("full_attn_idxs")
        full = set(idxs) if isinstance(idxs, list) else set()
        attn = [i in full for i in range(s.layers)]
    if c.failed():
        return None
    b = Builder.new(s.vocab, s.hidden)
    mixers = _Mixers(s)
    for i in range(s.layers):
        if attn[i]:
            b.attention(i, s.hidden, s.q_width, s.kv_width)
            b.norms(i, s.head_dim)  # q_layernorm, k_layernorm
            mixers.add_attention()
        else:  # Lfm2ShortConv: in_proj (B, C, x), depthwise conv, out_proj
            b.layer("ssm_in", i, s.hidden, 3 * s.hidden, bias=conv_bias)
            b.vector("ssm_conv", i, s.hidden * kernel + (s.hidden if conv_bias else 0))
            b.layer("ssm_out", i, s.hidden, s.hidden, bias=conv_bias)
            mixers.add_recurrent(RecurrentLayer(kind="short_conv", conv_channels=s.hidden,
                                                conv_kernel=kernel))
        b.mlp(i, s.hidden, width)
        b.norms(i, s.hidden)  # operator_norm, ffn_norm
    b.head(tie=tie, norm=s.hidden)  # embedding_norm, at the end
    return make_spec(
        c, family, b, s, width=width, tie=tie,
        attention=tuple(mixers.attention), recurrent=tuple(mixers.recurrent),
    )


def read_qwen3_next(fields: Fields, family: str) -> ModelSpec | None:
    """Qwen3-Next and Qwen3.5: Gated DeltaNet linear attention on three of every four layers
    (`layer_types` / `full_attention_interval`), gated attention (q_proj doubled for the
    output gate) with q/k norms on the rest, MoE with a gated shared expert or a dense MLP
    (modeling_qwen3_next.py, modeling_qwen3_5.py, modeling_qwen3_5_moe.py)."""
    c = fields
    s = read_sizes(c)
    key_heads = c.integer("linear_num_key_heads")
    value_heads = c.integer("linear_num_value_heads")
    key_dim = c.integer("linear_key_head_dim")
    value_dim = c.integer("linear_value_head_dim")
    kernel = c.integer("linear_conv_kernel_dim", default=4)
    tie = c.boolean("tie_word_embeddings", default=False)
    types = c.get("layer_types")
    if isinstance(types, list):
        if len(types) != s.layers or not set(types) <= {"linear_attention", "full_attention"}:
            c.add("layer_types", f"must list linear_attention or full_attention for each of "
                  f"the {s.layers} layers")
            types = ["full_attention"] * s.layers
    else:
        interval = c.integer("full_attention_interval", default=4)
        types = ["full_attention" if (i + 1) % interval == 0 else "linear_attention"
                 for i in range(s.layers)]
    moe = family != "qwen3_5_text" and c.has("num_experts")
    experts = top_k = expert_width = shared = 0
    moe_layers: tuple[int, ...] = ()
    if moe:
        experts = c.integer("num_experts")
        top_k = c.integer("num_experts_per_tok")
        expert_width = c.integer("moe_intermediate_size")
        shared = c.integer("shared_expert_intermediate_size", default=0, minimum=0)
        step = c.integer("decoder_sparse_step", default=1)
        only = set(layer_indices(c, "mlp_only_layers", s.layers))
        moe_layers = tuple(i for i in range(s.layers)
                           if i not in only and (i + 1) % step == 0)
    width = c.integer("intermediate_size") if len(moe_layers) < s.layers else 0
    if c.failed():
        return None
    k_all, v_all = key_heads * key_dim, value_heads * value_dim
    conv = 2 * k_all + v_all  # q, k, v pass through the depthwise conv
    b = Builder.new(s.vocab, s.hidden)
    mixers = _Mixers(s)
    for i, kind in enumerate(types):
        if kind == "linear_attention":
            # in_proj_qkvz + in_proj_ba (Qwen3-Next) = in_proj_qkv, _z, _b, _a (Qwen3.5)
            b.layer("ssm_in", i, s.hidden, conv + v_all + 2 * value_heads)
            b.vector("ssm_conv", i, conv * kernel)  # conv1d, no bias
            b.vector("ssm_param", i, 2 * value_heads)  # dt_bias, A_log
            b.vector("norm", i, value_dim)  # gated RMSNorm over one value head
            b.layer("ssm_out", i, v_all, s.hidden)
            mixers.add_recurrent(RecurrentLayer(
                kind="gated_deltanet", conv_channels=conv, conv_kernel=kernel,
                state_heads=value_heads, state_head_dim=value_dim, state_size=key_dim,
                state_dtype="fp32"))
        else:
            b.attention(i, s.hidden, s.q_width, s.kv_width, gated_query=True)
            b.norms(i, s.head_dim)  # q_norm, k_norm
            mixers.add_attention()
        if i in moe_layers:
            b.layer("ffn_gate_inp", i, s.hidden, experts)
            b.mlp(i, s.hidden, expert_width, fused=True, suffix="_exps", experts=experts)
            if shared:
                b.mlp(i, s.hidden, shared, suffix="_shexp")
                b.layer("ffn_gate_inp_shexp", i, s.hidden, 1)
        else:
            b.mlp(i, s.hidden, width)
        b.norms(i, s.hidden)
    b.head(tie=tie, norm=s.hidden)
    notes: tuple[str, ...] = ()
    if c.optional_integer("num_nextn_predict_layers", minimum=0) or c.optional_integer(
            "mtp_num_hidden_layers", minimum=0):
        notes = ("the multi-token-prediction layer in the checkpoint is not counted "
                 "(transformers does not load it)",)
    return make_spec(
        c, family, b, s, width=width, tie=tie, positions_default=32768,
        attention=tuple(mixers.attention), recurrent=tuple(mixers.recurrent),
        moe=_moe_spec(experts, top_k, expert_width, shared, len(moe_layers)) if moe else None,
        dense_layer_widths=tuple(0 if i in moe_layers else width for i in range(s.layers)),
        notes=notes,
    )
