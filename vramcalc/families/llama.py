"""Llama-style decoders: separate q/k/v/o, gated MLP or MoE, RMSNorm (modeling_llama.py and
the families that copy it), Phi-3's fused variant and gpt-oss."""

from __future__ import annotations

from ..errors import Fields
from ..modelspec import (
    Builder,
    ModelSpec,
    MoEFields,
    MoESpec,
    attention_layers,
    deepseek_moe,
    layer_indices,
    layer_kinds,
    make_spec,
    read_heads,
    read_sizes,
)

# Family traits of the Llama-style decoders, from each family's modeling_<family>.py (v5).
# Query/key norms: "head" normalises one head (Qwen3, Gemma 3), "full" the whole projection
# (OLMo 2, OLMoE, MiniMax-M2; Cohere's per-head LayerNorm has the same heads x head_dim size).
_QK_NORM = {
    "qwen3": "head", "qwen3_moe": "head", "gemma3_text": "head", "exaone4": "head",
    "hunyuan_v1_dense": "head", "hunyuan_v1_moe": "head", "dots1": "head",
    "olmo2": "full", "olmoe": "full", "minimax_m2": "full",
}
# StableLM's optional per-head q/k LayerNorms (StableLmLayerNormPerHead) hold heads x head_dim
_OPTIONAL_QK_NORM = {"cohere": ("use_qk_norm", "full"), "glm4_moe": ("use_qk_norm", "head"),
                     "stablelm": ("qk_layernorm", "full")}
# Norms in each layer: "pre" input + post-attention (Llama), "sandwich" four (Gemma 2/3),
# "post" post-attention + post-feedforward (OLMo 2, EXAONE 4), "glm4" pre + post of both
# blocks, "parallel" one input norm for parallel attention and MLP (Cohere), "none" (OLMo).
_LAYER_NORMS = {
    "gemma2": ("sandwich", 4), "gemma3_text": ("sandwich", 4), "olmo2": ("post", 2),
    "exaone4": ("post", 2), "glm4": ("glm4", 4), "cohere": ("parallel", 1),
    "cohere2": ("parallel", 1), "olmo": ("none", 0),
}
# keys that turn on a parallel attention + MLP block with one input norm
_PARALLEL_KEYS = {"stablelm": "use_parallel_residual"}
_TIED_BY_DEFAULT = frozenset({
    "gemma", "gemma2", "gemma3_text", "cohere", "cohere2", "smollm3", "ernie4_5",
    "ernie4_5_moe", "minicpm", "minicpm3",
})
# LayerNorm with a bias (weight + bias: 2 x hidden per norm) instead of RMSNorm
_LAYERNORM_BIAS = frozenset({"phimoe", "stablelm", "orion"})
# fused gate_up_proj (GLM): the same count, one tensor
_FUSED_GATE_UP = frozenset({"glm", "glm4"})


def read_llama_like(fields: Fields, family: str) -> ModelSpec | None:
    """Llama, Mistral, Qwen2/3, Gemma 1/2/3, OLMo 1/2, Mixtral, Qwen MoE, Llama 4 text, and
    the decoders built like them (Cohere, GLM, Granite, SmolLM3, Seed-OSS, ERNIE 4.5,
    EXAONE, Hunyuan, InternLM2, MiniCPM, OLMoE, PhiMoE, MiniMax-M2, ...): embeddings,
    per-layer q/k/v/o + MLP or MoE, RMSNorm, lm_head."""
    c = fields
    s = read_sizes(c)
    tie = c.boolean("tie_word_embeddings", default=family in _TIED_BY_DEFAULT)
    qkv_bias, out_bias = _attention_biases(c, family)
    mlp_bias = c.boolean("use_bias" if family.startswith("ernie4_5") else "mlp_bias",
                         default=False)
    head_bias = (family == "phimoe" and c.boolean("lm_head_bias", default=False)) or (
        family == "ernie4_5_moe" and mlp_bias)
    qk_norm = _QK_NORM.get(family)
    if family in _OPTIONAL_QK_NORM:
        key, kind = _OPTIONAL_QK_NORM[family]
        if c.boolean(key, default=False):
            qk_norm = kind
    moe_fields = _moe_fields(c, family, s.layers)
    if moe_fields is None:
        _refuse_unread_experts(c, family)
    dense_width = 0
    if moe_fields is None or len(moe_fields.layers) < s.layers:
        key = "intermediate_size_mlp" if family == "llama4_text" else "intermediate_size"
        dense_width = c.integer(key)
    if c.failed():
        return None
    norm_kind, norms_per_layer = _LAYER_NORMS.get(family, ("pre", 2))
    if family in _PARALLEL_KEYS and c.boolean(_PARALLEL_KEYS[family], default=False):
        norm_kind, norms_per_layer = "parallel", 1
    norm_width = 2 * s.hidden if family in _LAYERNORM_BIAS else s.hidden
    b = Builder.new(s.vocab, s.hidden)
    kinds = layer_kinds(c, family, s.layers)
    moe_layers: set[int] = set(moe_fields.layers) if moe_fields else set()
    for i in range(s.layers):
        b.attention(i, s.hidden, s.q_width, s.kv_width, bias=qkv_bias, out_bias=out_bias)
        if qk_norm == "head":  # q_norm / k_norm over one head (Qwen3, Gemma 3)
            b.norms(i, s.head_dim)
        elif qk_norm == "full":  # over the whole q and k projections (OLMo 2)
            b.vector("norm", i, s.q_width)
            b.vector("norm", i, s.kv_width)
        if i in moe_layers and moe_fields is not None:
            _moe_block(b, c, family, i, s.hidden, moe_fields)
        elif family in _FUSED_GATE_UP:
            b.mlp(i, s.hidden, dense_width, fused=True)
        else:
            b.mlp(i, s.hidden, dense_width, bias=mlp_bias)
        b.norms(i, norm_width, norms_per_layer)
    # OLMo's final LayerNorm has no parameters
    b.head(tie=tie, norm=0 if family == "olmo" else norm_width, bias=head_bias)
    notes: tuple[str, ...] = ()
    if family == "llama4_text":
        notes = ("Llama 4 uses chunked local attention on 3 of every 4 layers",)
    return make_spec(
        c, family, b, s, width=dense_width, tie=tie,
        norm={"none": "none"}.get(norm_kind, "layer" if family in _LAYERNORM_BIAS else "rms"),
        attention=attention_layers(kinds, s.kv_width, s.kv_width),
        moe=None if moe_fields is None else moe_fields.spec(),
        dense_layer_widths=tuple(0 if i in moe_layers else dense_width
                                 for i in range(s.layers)),
        notes=notes,
    )


def _refuse_unread_experts(c: Fields, family: str) -> None:
    """A dense family's config that names experts would be counted without them: refuse."""
    for key in ("num_experts", "num_local_experts", "n_routed_experts", "moe_num_experts"):
        value = c.get(key)
        if isinstance(value, int) and not isinstance(value, bool) and value > 1:
            c.add(key, f"{family} is read as a dense model, but this config has {value} "
                  "experts: refused rather than counted without them")
            return


def _attention_biases(c: Fields, family: str) -> tuple[bool, bool]:
    """(q/k/v bias, o_proj bias). Llama's `attention_bias` covers all four; Qwen2 always
    biases q/k/v; GLM, GLM-4-MoE and Seed-OSS bias q/k/v only (Seed-OSS: o_proj by
    `attention_out_bias`); ERNIE 4.5 `use_bias`; InternLM2 `bias` on wqkv and wo."""
    if family == "qwen2":
        return True, c.boolean("attention_bias", default=False)
    if family == "qwen2_moe":
        bias = c.boolean("attention_bias", default=False)
        return c.boolean("qkv_bias", default=True) or bias, bias
    if family in ("glm", "glm4", "glm4_moe"):
        return c.boolean("attention_bias", default=family != "glm4_moe"), False
    if family == "seed_oss":
        return (c.boolean("attention_bias", default=True),
                c.boolean("attention_out_bias", default=False))
    if family.startswith("ernie4_5"):
        bias = c.boolean("use_bias", default=False)
        return bias, bias
    if family in ("internlm", "internlm2"):
        bias = c.boolean("bias", default=True)
        return bias, bias
    if family == "stablelm":
        return c.boolean("use_qkv_bias", default=False), False
    bias = c.boolean("attention_bias", default=False)
    return bias, bias


def _moe_fields(c: Fields, family: str, layers: int) -> MoEFields | None:
    """The experts of Mixtral, Qwen MoE and Llama 4; None for a dense family."""
    if family == "mixtral":
        return _mixtral_moe(c, "num_local_experts", layers)
    if family in ("qwen2_moe", "qwen3_moe"):
        # Qwen3-VL-MoE's text config names them num_local_experts
        experts = c.integer("num_experts", "num_local_experts")
        top_k = c.integer("num_experts_per_tok")
        width = c.integer("moe_intermediate_size")
        step = c.integer("decoder_sparse_step", default=1)
        only = set(layer_indices(c, "mlp_only_layers", layers))
        which = tuple(i for i in range(layers) if i not in only and (i + 1) % step == 0)
        shared = c.integer("shared_expert_intermediate_size") if family == "qwen2_moe" else 0
        return MoEFields(experts=experts, top_k=top_k, expert_width=width, shared_width=shared,
                         layers=which)
    if family == "llama4_text":
        experts = c.integer("num_local_experts")
        top_k = c.integer("num_experts_per_tok", default=1)
        step = c.integer("interleave_moe_layer_step", default=1)
        if c.has("moe_layers"):
            which = layer_indices(c, "moe_layers", layers)
        else:
            which = tuple(range(step - 1, layers, step))
        width = c.integer("intermediate_size")
        return MoEFields(experts=experts, top_k=top_k, expert_width=width, shared_width=width,
                         layers=which)
    if family in ("olmoe", "phimoe", "granitemoe", "granitemoeshared", "minimax_m2",
                  "hunyuan_v1_moe"):
        # every layer is MoE, experts as wide as intermediate_size (modeling_olmoe.py,
        # modeling_phimoe.py, modeling_granitemoe.py, modeling_minimax_m2.py,
        # modeling_hunyuan_v1_moe.py: `num_experts` / `moe_topk`, the same in every layer)
        experts = _per_layer_int(c, "num_local_experts", "num_experts")
        top_k = _per_layer_int(c, "num_experts_per_tok", "moe_topk")
        width = c.integer("intermediate_size")
        shared = 0
        if family == "granitemoeshared":
            shared = c.integer("shared_intermediate_size", default=0, minimum=0)
        if family == "hunyuan_v1_moe":
            shared = width  # shared_mlp: one dense MLP of intermediate_size
        return MoEFields(experts=experts, top_k=top_k, expert_width=width, shared_width=shared,
                         layers=tuple(range(layers)))
    if family == "ernie4_5_moe":
        # MoE from moe_layer_start_index to moe_layer_end_index every moe_layer_interval
        # layers (modeling_ernie4_5_moe.py Ernie4_5_MoeDecoderLayer)
        experts = c.integer("moe_num_experts", "num_experts")
        top_k = c.integer("moe_k", "num_experts_per_tok")
        width = c.integer("moe_intermediate_size")
        shared = c.integer("moe_num_shared_experts", default=0, minimum=0) * width
        start = c.integer("moe_layer_start_index", default=0, minimum=0)
        end = c.integer("moe_layer_end_index", default=layers - 1, minimum=-1)
        if end < 0:
            end = layers - 1
        step = c.integer("moe_layer_interval", default=1)
        which = tuple(i for i in range(layers) if (i + 1) % step == 0 and start <= i <= end)
        return MoEFields(experts=experts, top_k=top_k, expert_width=width, shared_width=shared,
                         layers=which)
    if family == "minicpm" and (c.get("num_experts") or 0) > 1:
        # MiniCPM-MoE-8x2B (modeling_minicpm.py, remote code): Mixtral-style experts
        return _mixtral_moe(c, "num_experts", layers)
    if family == "deepseek":
        # DeepSeekMoE 16B (model_type deepseek, modeling_deepseek.py, remote code): routed
        # + shared experts in every moe_layer_freq-th layer after the dense ones
        return deepseek_moe(c, layers, layer_freq=True)
    if family in ("glm4_moe", "dots1"):
        # DeepSeek-V3's MoE under GQA attention (modeling_glm4_moe.py, modeling_dots1.py)
        return deepseek_moe(c, layers)
    return None


def _mixtral_moe(c: Fields, experts_key: str, layers: int) -> MoEFields:
    """Mixtral's experts: in every layer, as wide as intermediate_size, none shared."""
    experts = c.integer(experts_key)
    top_k = c.integer("num_experts_per_tok")
    return MoEFields(experts=experts, top_k=top_k, expert_width=c.integer("intermediate_size"),
                     shared_width=0, layers=tuple(range(layers)))


def _per_layer_int(c: Fields, key: str, alias: str) -> int:
    """An integer, or a per-layer list of one repeated integer (Hunyuan-A13B's `moe_topk`)."""
    name = key if c.has(key) else alias
    raw = c.get(name)
    if isinstance(raw, list) and raw and all(v == raw[0] for v in raw):
        return Fields({name: raw[0]}, c.collector, c.path).integer(name)
    if isinstance(raw, list):
        c.add(name, "must be one integer for every layer; per-layer expert counts that differ "
              "are not supported")
        return 1
    return c.integer(key, alias)


def _moe_block(
    b: Builder, c: Fields, family: str, i: int, hidden: int, moe: MoEFields
) -> None:
    experts, width, shared = moe.experts, moe.expert_width, moe.shared_width
    b.layer("ffn_gate_inp", i, hidden, experts)  # router
    if family == "ernie4_5_moe":  # a learned e_score_correction_bias per expert
        b.vector("ffn_gate_inp_bias", i, experts)
    # Llama 4 stores its experts fused: gate_up_proj [E, h, 2f], down_proj [E, f, h]
    b.mlp(i, hidden, width, fused=family == "llama4_text", suffix="_exps", experts=experts)
    if shared:  # Granite's shared_mlp is fused: input_linear, output_linear
        b.mlp(i, hidden, shared, fused=family == "granitemoeshared", suffix="_shexp")
        if family == "qwen2_moe":  # a sigmoid gate on the shared expert's output
            b.layer("ffn_gate_inp_shexp", i, hidden, 1)


def read_phi3(fields: Fields, family: str) -> ModelSpec | None:
    """Phi-3 / 3.5 / 4: fused qkv_proj and gate_up_proj, no biases (modeling_phi3.py)."""
    c = fields
    s = read_sizes(c, heads=False)
    width = c.integer("intermediate_size")  # read before the heads: problems keep their order
    s = read_heads(c, s)
    tie = c.boolean("tie_word_embeddings", default=False)
    if c.failed():
        return None
    b = Builder.new(s.vocab, s.hidden)
    for i in range(s.layers):
        b.attention(i, s.hidden, s.q_width, s.kv_width, fused=True)
        b.mlp(i, s.hidden, width, fused=True)
        b.norms(i, s.hidden)
    b.head(tie=tie, norm=s.hidden)
    kinds = layer_kinds(c, family, s.layers)
    return make_spec(c, family, b, s, width=width, tie=tie,
                     attention=attention_layers(kinds, s.kv_width, s.kv_width))


def read_gpt_oss(fields: Fields, family: str) -> ModelSpec | None:
    """gpt-oss: alternating sliding-window (128) and full attention with sinks, biased
    projections, MoE with fused biased experts (modeling_gpt_oss.py)."""
    c = fields
    s = read_sizes(c)
    experts = c.integer("num_local_experts")
    top_k = c.integer("num_experts_per_tok", "experts_per_token")
    width = c.integer("intermediate_size")
    tie = c.boolean("tie_word_embeddings", default=False)
    if c.failed():
        return None
    b = Builder.new(s.vocab, s.hidden)
    for i in range(s.layers):
        b.attention(i, s.hidden, s.q_width, s.kv_width, bias=True)
        b.vector("attn_sinks", i, s.heads)
        b.layer("ffn_gate_inp", i, s.hidden, experts, bias=True)
        b.mlp(i, s.hidden, width, fused=True, suffix="_exps", experts=experts, bias=True)
        b.norms(i, s.hidden)
    b.head(tie=tie, norm=s.hidden)
    kinds = layer_kinds(c, family, s.layers)
    return make_spec(
        c, family, b, s, width=0, tie=tie, positions_default=131072,
        attention=attention_layers(kinds, s.kv_width, s.kv_width),
        moe=MoESpec(num_experts=experts, experts_per_token=top_k,
                    expert_intermediate_size=width, shared_intermediate_size=0,
                    moe_layers=s.layers),
    )

