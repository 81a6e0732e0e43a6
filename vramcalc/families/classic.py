"""GPT-2-era decoders: LayerNorm with biases, learned or rotary positions, plain GELU MLPs,
fused QKV (GPT-2, GPT-BigCode, GPT-NeoX, Falcon, and their relatives)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..modelspec import (
    ACTIVATIONS,
    Builder,
    ModelSpec,
    Sizes,
    attention_layers,
    full_attention,
    head_width,
    layer_kinds,
    make_spec,
    read_sizes,
)

if TYPE_CHECKING:
    from typing import Any

    from ..errors import Fields


def _mha(c: Fields, hidden: int, layers: int, vocab: int, heads: int) -> Sizes:
    """Multi-head attention with heads of hidden // heads (refused when heads > hidden)."""
    return Sizes(hidden=hidden, layers=layers, vocab=vocab, heads=heads, kv_heads=heads,
                 head_dim=head_width(c, hidden, heads))


def _gpt_spec(
    c: Fields, family: str, b: Builder, s: Sizes, *, width: int, tie: bool, kv_width: int,
    **options: Any,
) -> ModelSpec:
    """The ModelSpec of a GPT-2-era decoder: LayerNorms, a plain 2-matrix MLP and full
    attention with K and V `kv_width` wide in every layer; `options` go to make_spec."""
    return make_spec(c, family, b, s, width=width, tie=tie, gated_mlp=False, norm="layer",
                     attention=full_attention(s.layers, kv_width, kv_width), **options)


def read_gpt2(fields: Fields, family: str) -> ModelSpec | None:
    """GPT-2: learned positions, LayerNorm with bias, fused c_attn, GELU MLP (modeling_gpt2.py).
    GPT-BigCode (StarCoder, octocoder) is GPT-2 with multi-query attention: c_attn projects
    to h + 2·head_dim (modeling_gpt_bigcode.py)."""
    c = fields
    hidden = c.integer("n_embd", "hidden_size")
    layers = c.integer("n_layer", "num_hidden_layers")
    heads = c.integer("n_head", "num_attention_heads")
    vocab = c.integer("vocab_size")
    positions = c.integer("n_positions", "max_position_embeddings")
    width = c.optional_integer("n_inner") or 4 * hidden
    tie = c.boolean("tie_word_embeddings", default=True)
    multi_query = family == "gpt_bigcode" and c.boolean("multi_query", default=True)
    # GPT2Config defaults (configuration_gpt2.py): gelu_new, dropout 0.1 everywhere
    activation = c.choice("activation_function", ACTIVATIONS, default="gelu_new")
    resid = c.number("resid_pdrop", default=0.1, maximum=1.0)
    embd = c.number("embd_pdrop", default=0.1, maximum=1.0)
    if c.failed():
        return None
    head_dim = head_width(c, hidden, heads)
    kv_heads = 1 if multi_query else heads
    b = Builder.new(vocab, hidden)
    b.single("pos_embd", positions * hidden)
    for i in range(layers):
        b.vector("norm", i, 2 * hidden)  # ln_1 weight + bias
        b.attention(i, hidden, hidden, kv_heads * head_dim, bias=True, fused=True)
        b.vector("norm", i, 2 * hidden)  # ln_2
        b.mlp(i, hidden, width, gated=False, bias=True)
    b.head(tie=tie, norm=2 * hidden)
    s = Sizes(hidden=hidden, layers=layers, vocab=vocab, heads=heads, kv_heads=kv_heads,
              head_dim=head_dim)
    return _gpt_spec(
        c, family, b, s, width=width, tie=tie, kv_width=s.kv_width, positions=positions,
        dropout_key="attn_pdrop", dropout_default=0.1, activation=activation,
        residual_dropout=resid, embedding_dropout=embd,
    )


def read_gpt_neox(fields: Fields, family: str) -> ModelSpec | None:
    """GPT-NeoX / Pythia: fused query_key_value with bias, LayerNorm, GELU MLP."""
    c = fields
    hidden = c.integer("hidden_size")
    layers = c.integer("num_hidden_layers")
    heads = c.integer("num_attention_heads")
    vocab = c.integer("vocab_size")
    width = c.integer("intermediate_size")
    tie = c.boolean("tie_word_embeddings", default=False)
    bias = c.boolean("attention_bias", default=True)
    if c.failed():
        return None
    b = Builder.new(vocab, hidden)
    for i in range(layers):
        b.norms(i, 2 * hidden)
        b.attention(i, hidden, hidden, hidden, bias=bias, fused=True)
        b.mlp(i, hidden, width, gated=False, bias=True)
    b.head(tie=tie, norm=2 * hidden)
    return _gpt_spec(c, family, b, _mha(c, hidden, layers, vocab, heads), width=width, tie=tie,
                     kv_width=hidden, positions_default=2048)


def read_falcon(fields: Fields, family: str) -> ModelSpec | None:
    """Falcon: MQA (7B) or grouped KV with the new decoder architecture (40B/180B),
    parallel attention + MLP, LayerNorm (modeling_falcon.py)."""
    c = fields
    hidden = c.integer("hidden_size")
    layers = c.integer("num_hidden_layers", "n_layer")
    heads = c.integer("num_attention_heads", "n_head")
    vocab = c.integer("vocab_size")
    # Falcon-40B's first config.json (model_type RefinedWeb) is the new decoder architecture
    # without saying so; Falcon-7B's (RefinedWebModel) the old one (configuration_falcon.py)
    new_arch = c.boolean("new_decoder_architecture",
                         default=c.get("model_type") == "RefinedWeb")
    multi_query = c.boolean("multi_query", default=True)
    parallel = c.boolean("parallel_attn", default=True)
    bias = c.boolean("bias", default=False)
    tie = c.boolean("tie_word_embeddings", default=True)
    width = c.optional_integer("ffn_hidden_size") or 4 * hidden
    kv_cfg = c.optional_integer("num_kv_heads") or c.optional_integer("n_head_kv") or heads
    if c.failed():
        return None
    head_dim = head_width(c, hidden, heads)
    if new_arch:
        kv_heads = kv_cfg
    elif multi_query:
        kv_heads = 1
    else:
        kv_heads = heads
    num_ln = c.optional_integer("num_ln_in_parallel_attn") or (2 if new_arch else 1)
    b = Builder.new(vocab, hidden)
    for i in range(layers):
        # not Builder.attention: dense is hidden x hidden whatever heads x head_dim is
        b.layer("attn_qkv", i, hidden, (heads + 2 * kv_heads) * head_dim, bias=bias)
        b.layer("attn_output", i, hidden, hidden, bias=bias)
        b.mlp(i, hidden, width, gated=False, bias=bias)
        b.norms(i, 2 * hidden, 2 if (not parallel or num_ln == 2) else 1)
    b.head(tie=tie, norm=2 * hidden)
    s = Sizes(hidden=hidden, layers=layers, vocab=vocab, heads=heads, kv_heads=kv_heads,
              head_dim=head_dim)
    return _gpt_spec(c, family, b, s, width=width, tie=tie, kv_width=s.kv_width,
                     positions_default=2048)


def read_opt(fields: Fields, family: str) -> ModelSpec | None:
    """OPT: learned positions (offset by 2), biased q/k/v/out and fc1/fc2, LayerNorms; OPT-350m
    projects a narrower embedding in and out (`word_embed_proj_dim`) and has no final norm
    (`do_layer_norm_before: false`) (modeling_opt.py)."""
    c = fields
    hidden = c.integer("hidden_size")
    layers = c.integer("num_hidden_layers")
    heads = c.integer("num_attention_heads")
    vocab = c.integer("vocab_size")
    width = c.integer("ffn_dim")
    positions = c.integer("max_position_embeddings", default=2048)
    embed = c.integer("word_embed_proj_dim", default=hidden)
    bias = c.boolean("enable_bias", default=True)
    affine = c.boolean("layer_norm_elementwise_affine", default=True)
    pre_norm = c.boolean("do_layer_norm_before", default=True)
    final_norm = pre_norm and not c.boolean("_remove_final_layer_norm", default=False)
    tie = c.boolean("tie_word_embeddings", default=True)
    if c.failed():
        return None
    norm = 2 * hidden if affine else 0
    b = Builder.new(vocab, embed)
    b.single("pos_embd", (positions + 2) * hidden)  # OPTLearnedPositionalEmbedding: offset 2
    if embed != hidden:  # project_in / project_out, no bias
        b.single("token_embd", embed * hidden, embed, hidden)
        b.single("token_embd", hidden * embed, hidden, embed)
    for i in range(layers):
        b.attention(i, hidden, hidden, hidden, bias=bias)  # each hidden x hidden
        b.mlp(i, hidden, width, gated=False, bias=bias)
        if norm:
            b.norms(i, norm)
    b.head(tie=tie, norm=norm if final_norm else 0)
    return _gpt_spec(c, family, b, _mha(c, hidden, layers, vocab, heads), width=width, tie=tie,
                     kv_width=hidden, positions=positions, dropout_key="dropout",
                     dropout_default=0.1)


def read_bloom(fields: Fields, family: str) -> ModelSpec | None:
    """BLOOM: ALiBi (no position table), a LayerNorm after the embeddings, fused biased
    query_key_value, 4h GELU MLP, tied head (modeling_bloom.py; `n_embed` is the old name
    of hidden_size, read by BloomConfig)."""
    c = fields
    hidden = c.integer("hidden_size", "n_embed")
    layers = c.integer("n_layer", "num_hidden_layers")
    heads = c.integer("n_head", "num_attention_heads")
    vocab = c.integer("vocab_size")
    tie = c.boolean("tie_word_embeddings", default=True)
    if c.failed():
        return None
    width = 4 * hidden
    b = Builder.new(vocab, hidden)
    b.single("norm", 2 * hidden)  # word_embeddings_layernorm
    for i in range(layers):
        b.vector("norm", i, 2 * hidden)
        b.attention(i, hidden, hidden, hidden, bias=True, fused=True)
        b.vector("norm", i, 2 * hidden)
        b.mlp(i, hidden, width, gated=False, bias=True)
    b.head(tie=tie, norm=2 * hidden)
    return _gpt_spec(c, family, b, _mha(c, hidden, layers, vocab, heads), width=width, tie=tie,
                     kv_width=hidden, positions_default=2048)


def read_gptj(fields: Fields, family: str) -> ModelSpec | None:
    """GPT-J: rotary, parallel attention + MLP under one LayerNorm, unbiased q/k/v/out,
    biased fc_in/fc_out, untied lm_head with a bias (modeling_gptj.py)."""
    c = fields
    hidden = c.integer("n_embd", "hidden_size")
    layers = c.integer("n_layer", "num_hidden_layers")
    heads = c.integer("n_head", "num_attention_heads")
    vocab = c.integer("vocab_size")
    width = c.optional_integer("n_inner") or 4 * hidden
    positions = c.integer("n_positions", "max_position_embeddings", default=2048)
    tie = c.boolean("tie_word_embeddings", default=False)
    if c.failed():
        return None
    b = Builder.new(vocab, hidden)
    for i in range(layers):
        b.vector("norm", i, 2 * hidden)
        b.attention(i, hidden, hidden, hidden)  # each hidden x hidden
        b.mlp(i, hidden, width, gated=False, bias=True)
    b.head(tie=tie, norm=2 * hidden, bias=True)
    return _gpt_spec(c, family, b, _mha(c, hidden, layers, vocab, heads), width=width, tie=tie,
                     kv_width=hidden, positions=positions, dropout_key="attn_pdrop")


def read_mpt(fields: Fields, family: str) -> ModelSpec | None:
    """MPT: ALiBi, fused Wqkv, a 4 x d_model GELU MLP, no biases, LayerNorms without bias,
    tied head, as transformers' MptForCausalLM builds it (modeling_mpt.py: up_proj is
    4 x hidden and every bias is None whatever `expansion_ratio` and `no_bias` say; MptConfig
    maps d_model, n_heads, n_layers). Every released MPT has expansion_ratio 4 and no_bias
    true; a config asking for other values is refused rather than counted otherwise."""
    c = fields
    hidden = c.integer("d_model", "hidden_size")
    layers = c.integer("n_layers", "num_hidden_layers")
    heads = c.integer("n_heads", "num_attention_heads")
    vocab = c.integer("vocab_size")
    if c.integer("expansion_ratio", default=4) != 4:
        c.add("expansion_ratio", "must be 4: transformers' MptForCausalLM builds a 4 x d_model "
              "MLP whatever the config says")
    if not c.boolean("no_bias", default=True):
        c.add("no_bias", "must be true: transformers' MptForCausalLM builds no biases")
    tie = c.boolean("tie_word_embeddings", default=True)
    positions = c.integer("max_seq_len", "max_position_embeddings", default=2048)
    if c.failed():
        return None
    width = 4 * hidden
    b = Builder.new(vocab, hidden)
    for i in range(layers):
        b.vector("norm", i, hidden)
        b.attention(i, hidden, hidden, hidden, fused=True)
        b.vector("norm", i, hidden)
        b.mlp(i, hidden, width, gated=False)
    b.head(tie=tie, norm=hidden)
    return _gpt_spec(c, family, b, _mha(c, hidden, layers, vocab, heads), width=width, tie=tie,
                     kv_width=hidden, positions=positions)


def read_phi(fields: Fields, family: str) -> ModelSpec | None:
    """Phi-1 / 1.5 / 2: parallel attention + MLP under one LayerNorm, biased q/k/v/dense and
    fc1/fc2, optional per-head q/k LayerNorms, an untied lm_head with a bias
    (modeling_phi.py). The first phi-2 config (model_type phi-msft) names the sizes n_embd,
    n_layer, n_head, n_inner."""
    c = fields
    hidden = c.integer("hidden_size", "n_embd")
    layers = c.integer("num_hidden_layers", "n_layer")
    heads = c.integer("num_attention_heads", "n_head")
    kv_heads = c.integer("num_key_value_heads", default=heads)
    vocab = c.integer("vocab_size")
    width = c.optional_integer("intermediate_size") or c.optional_integer("n_inner") or 4 * hidden
    qk_norm = c.boolean("qk_layernorm", default=False)
    tie = c.boolean("tie_word_embeddings", default=False)
    positions = c.integer("max_position_embeddings", "n_positions", default=2048)
    if c.failed():
        return None
    head_dim = head_width(c, hidden, heads)
    b = Builder.new(vocab, hidden)
    for i in range(layers):
        b.attention(i, hidden, heads * head_dim, kv_heads * head_dim, bias=True)
        if qk_norm:
            b.norms(i, 2 * head_dim)
        b.mlp(i, hidden, width, gated=False, bias=True)
        b.vector("norm", i, 2 * hidden)
    b.head(tie=tie, norm=2 * hidden, bias=True)
    s = Sizes(hidden=hidden, layers=layers, vocab=vocab, heads=heads, kv_heads=kv_heads,
              head_dim=head_dim)
    return _gpt_spec(c, family, b, s, width=width, tie=tie, kv_width=s.kv_width,
                     positions=positions)


def read_starcoder2(fields: Fields, family: str) -> ModelSpec | None:
    """StarCoder2: GQA with biased q/k/v/o (`use_bias`), biased c_fc/c_proj GELU MLP,
    LayerNorms with bias, tied head (modeling_starcoder2.py)."""
    c = fields
    s = read_sizes(c)
    width = c.integer("intermediate_size")
    bias = c.boolean("use_bias", default=True)
    tie = c.boolean("tie_word_embeddings", default=True)
    if c.failed():
        return None
    b = Builder.new(s.vocab, s.hidden)
    for i in range(s.layers):
        b.attention(i, s.hidden, s.q_width, s.kv_width, bias=bias)
        b.mlp(i, s.hidden, width, gated=False, bias=bias)
        b.norms(i, 2 * s.hidden)
    b.head(tie=tie, norm=2 * s.hidden)
    kinds = layer_kinds(c, family, s.layers)
    return make_spec(c, family, b, s, width=width, tie=tie, gated_mlp=False, norm="layer",
                     attention=attention_layers(kinds, s.kv_width, s.kv_width))


def read_qwen(fields: Fields, family: str) -> ModelSpec | None:
    """The first Qwen (model_type qwen, remote code QWenLMHeadModel, modeling_qwen.py in the
    Qwen/Qwen-7B repository): fused c_attn with bias to 3 x kv_channels x heads, c_proj,
    RMSNorms, a SwiGLU MLP whose w1/w2 are intermediate_size // 2 wide, untied lm_head."""
    c = fields
    hidden = c.integer("hidden_size")
    layers = c.integer("num_hidden_layers")
    heads = c.integer("num_attention_heads")
    vocab = c.integer("vocab_size")
    width = c.integer("intermediate_size") // 2  # QWenMLP: ff_dim_in = intermediate_size // 2
    head_dim = c.optional_integer("kv_channels") or head_width(c, hidden, heads)
    bias = not c.boolean("no_bias", default=True)
    tie = c.boolean("tie_word_embeddings", default=False)
    positions = c.integer("max_position_embeddings", "seq_length", default=8192)
    if c.failed():
        return None
    proj = heads * head_dim
    b = Builder.new(vocab, hidden)
    for i in range(layers):
        b.vector("norm", i, hidden)
        b.attention(i, hidden, proj, proj, bias=True, out_bias=bias, fused=True)
        b.vector("norm", i, hidden)
        b.mlp(i, hidden, width, bias=bias)
    b.head(tie=tie, norm=hidden)
    s = Sizes(hidden=hidden, layers=layers, vocab=vocab, heads=heads, kv_heads=heads,
              head_dim=head_dim)
    return make_spec(
        c, family, b, s, width=width, tie=tie, positions=positions,
        attention=full_attention(layers, proj, proj),
        notes=("model_type qwen runs remote code (modeling_qwen.py); counted from that "
               "published file",),
    )


def read_chatglm(fields: Fields, family: str) -> ModelSpec | None:
    """ChatGLM2/3 and GLM-4-9B's first release (model_type chatglm, remote code,
    modeling_chatglm.py in THUDM/chatglm3-6b): fused query_key_value with a q/k/v bias
    (`add_qkv_bias`), multi-query groups, a fused 2 x ffn_hidden_size SwiGLU, RMSNorms, a
    separate output_layer."""
    c = fields
    hidden = c.integer("hidden_size")
    layers = c.integer("num_layers", "num_hidden_layers")
    heads = c.integer("num_attention_heads")
    vocab = c.integer("padded_vocab_size", "vocab_size")
    width = c.integer("ffn_hidden_size", "intermediate_size")
    head_dim = c.optional_integer("kv_channels") or head_width(c, hidden, heads)
    groups = heads
    if c.boolean("multi_query_attention", default=False):
        groups = c.integer("multi_query_group_num", default=1)
    bias = c.boolean("add_bias_linear", default=False)
    qkv_bias = bias or c.boolean("add_qkv_bias", default=False)
    post_norm = c.boolean("post_layer_norm", default=True)
    rms = c.boolean("rmsnorm", default=True)
    positions = c.integer("seq_length", "max_position_embeddings", default=2048)
    if c.failed():
        return None
    proj = heads * head_dim
    norm = hidden if rms else 2 * hidden
    b = Builder.new(vocab, hidden)
    for i in range(layers):
        b.vector("norm", i, norm)
        b.attention(i, hidden, proj, groups * head_dim, bias=qkv_bias, out_bias=bias, fused=True)
        b.vector("norm", i, norm)
        b.mlp(i, hidden, width, fused=True, bias=bias)
    b.head(tie=False, norm=norm if post_norm else 0)
    s = Sizes(hidden=hidden, layers=layers, vocab=vocab, heads=heads, kv_heads=groups,
              head_dim=head_dim)
    return make_spec(
        c, family, b, s, width=width, tie=False, positions=positions,
        norm="rms" if rms else "layer", attention=full_attention(layers, s.kv_width, s.kv_width),
        notes=("model_type chatglm runs remote code (modeling_chatglm.py); counted from that "
               "published file",),
    )


def read_exaone(fields: Fields, family: str) -> ModelSpec | None:
    """EXAONE 3 / 3.5 (model_type exaone): a Llama-style decoder under other key names
    (num_layers; ExaoneConfig's attribute_map), built as LlamaForCausalLM by transformers
    v5 (models/exaone)."""
    c = fields
    s = read_sizes(c, layers=("num_layers", "num_hidden_layers"))
    width = c.integer("intermediate_size")
    tie = c.boolean("tie_word_embeddings", default=False)
    if c.failed():
        return None
    b = Builder.new(s.vocab, s.hidden)
    for i in range(s.layers):
        b.attention(i, s.hidden, s.q_width, s.kv_width)
        b.mlp(i, s.hidden, width)
        b.norms(i, s.hidden)
    b.head(tie=tie, norm=s.hidden)
    return make_spec(c, family, b, s, width=width, tie=tie,
                     attention=full_attention(s.layers, s.kv_width, s.kv_width))
