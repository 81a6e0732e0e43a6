"""Multi-head latent attention (DeepSeek-V2/V3 and the models built like them)."""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

from ..modelspec import (
    Builder,
    ModelSpec,
    deepseek_moe,
    full_attention,
    make_spec,
    read_sizes,
)

if TYPE_CHECKING:
    from ..errors import Fields


def read_deepseek(fields: Fields, family: str) -> ModelSpec | None:
    """DeepSeek-V2/V3 (and R1, Kimi K2): multi-head latent attention, first dense layers,
    routed + shared experts (modeling_deepseek_v3.py). Multi-token-prediction layers
    (`num_nextn_predict_layers`) are not instantiated by transformers and not counted."""
    c = fields
    s = read_sizes(c, heads=False)
    heads = c.integer("num_attention_heads")
    dense_width = c.integer("intermediate_size")
    q_rank = c.optional_integer("q_lora_rank")
    kv_rank = c.integer("kv_lora_rank")
    rope = c.integer("qk_rope_head_dim")
    nope = c.integer("qk_nope_head_dim")
    v_dim = c.integer("v_head_dim")
    dense_only = family == "minicpm3"  # MiniCPM3: MLA with a dense MLP in every layer
    moe = None if dense_only else deepseek_moe(c, s.layers)
    bias = c.boolean("attention_bias", default=False)
    tie = c.boolean("tie_word_embeddings", default=dense_only)
    index_heads = index_dim = 0
    if family == "deepseek_v32":  # the lightning indexer of DeepSeek Sparse Attention
        index_heads = c.integer("index_n_heads")
        index_dim = c.integer("index_head_dim")
        if q_rank is None:
            c.add("q_lora_rank", "is required for deepseek_v32 (the indexer reads the "
                  "compressed query)")
    if c.failed():
        return None
    qk_dim = nope + rope
    b = Builder.new(s.vocab, s.hidden)
    moe_layers: set[int] = set(moe.layers) if moe is not None else set()
    for i in range(s.layers):
        if q_rank is None:
            b.layer("attn_q", i, s.hidden, heads * qk_dim)
        else:
            b.layer("attn_q_a", i, s.hidden, q_rank, bias=bias)
            b.vector("norm", i, q_rank)
            b.layer("attn_q_b", i, q_rank, heads * qk_dim)
        b.layer("attn_kv_a", i, s.hidden, kv_rank + rope, bias=bias)
        b.vector("norm", i, kv_rank)
        b.layer("attn_kv_b", i, kv_rank, heads * (nope + v_dim))
        b.layer("attn_output", i, heads * v_dim, s.hidden, bias=bias)
        if index_heads and q_rank is not None:
            # modeling_deepseek_v32.py DeepseekV32Indexer: wq_b, wk, k_norm (LayerNorm with
            # bias), weights_proj
            b.layer("attn_indexer", i, q_rank, index_heads * index_dim)
            b.layer("attn_indexer", i, s.hidden, index_dim)
            b.vector("norm", i, 2 * index_dim)
            b.layer("attn_indexer", i, s.hidden, index_heads)
        if moe is not None and i in moe_layers:
            # router; DeepSeek-V3's e_score_correction_bias (E floats per layer) is a
            # buffer, not a parameter, in transformers 5, and is left out (59 KiB in all)
            b.layer("ffn_gate_inp", i, s.hidden, moe.experts)
            b.mlp(i, s.hidden, moe.expert_width, suffix="_exps", experts=moe.experts)
            if moe.shared_width:
                b.mlp(i, s.hidden, moe.shared_width, suffix="_shexp")
        else:
            b.mlp(i, s.hidden, dense_width)
        b.norms(i, s.hidden)
    b.head(tie=tie, norm=s.hidden)
    notes: list[str] = []
    if c.optional_integer("num_nextn_predict_layers", minimum=0):
        notes.append(
            "the multi-token-prediction layer in the checkpoint is not counted "
            "(transformers does not load it; engines load it only for speculative decoding)"
        )
    return make_spec(
        c, family, b, replace(s, heads=heads, kv_heads=heads, head_dim=qk_dim),
        width=dense_width, tie=tie,
        attention=full_attention(s.layers, heads * qk_dim, heads * v_dim, latent=kv_rank + rope),
        mla=True,
        moe=moe.spec() if moe is not None else None,
        dense_layer_widths=tuple(0 if i in moe_layers else dense_width for i in range(s.layers)),
        notes=tuple(notes),
    )

