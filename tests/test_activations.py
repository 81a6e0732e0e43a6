"""Saved activations per layer and token (vramcalc/activations.py).

The tiny model below has h=256, 8 query heads and 2 KV heads of d=64 (q width 512, k and v
width 128), SwiGLU f=704. Every figure was derived by hand from the tensors transformers v5
saves, and agrees to the byte with a FakeTensor measurement of one layer (transformers
5.24, torch 2.13; CUDA code paths: no materialised causal mask, 1-byte dropout masks):
the bytes one extra layer adds at the end of the forward, at 128 tokens.
"""

from __future__ import annotations

import pytest

from vramcalc import activations as A
from vramcalc import architecture
from vramcalc.errors import Collector

TINY = {
    "model_type": "llama", "hidden_size": 256, "num_hidden_layers": 3,
    "num_attention_heads": 8, "num_key_value_heads": 2, "head_dim": 64,
    "intermediate_size": 704, "vocab_size": 1000, "tie_word_embeddings": False,
}
QV = [("attn_q", 256, 1), ("attn_v", 256, 1)]


def _shape(config: dict[str, object] = TINY) -> A.LayerShape:
    spec = architecture.from_config(config, Collector())
    assert spec is not None
    return A.layer_shapes(spec)[0]


def _regime(kind: str, *, full: bool = True, attention: str = "sdpa",
            dropout: bool = True) -> A.Regime:
    return A.Regime(kind=kind, trainable_base=full, adapter_bytes=0 if full else 4,
                    lora_dropout=dropout, lora_rank=16, attention=attention)


def test_layer_shape_of_tiny_llama() -> None:
    s = _shape()
    assert (s.hidden, s.q_width, s.k_width, s.v_width, s.heads, s.mlp_width) == (
        256, 512, 128, 128, 8, 704)
    assert (s.attn_consumers, s.mlp_consumers, s.extra_norms, s.qk_norm) == (3, 2, 0, False)
    # q 256·512 + k, v 256·128 + o 512·256 + gate, up, down 256·704
    assert s.weight_numel == 131072 + 2 * 32768 + 131072 + 3 * 180224


@pytest.mark.parametrize(
    ("kind", "per_token", "measured_per_layer"),
    [
        # bf16: 2 norms · (4h fp32 + 2h cast + 2h output + 4 rsqrt) = 4104
        #   + q, k, v, out 2·(512 + 128 + 128 + 512) + lse 4·8 = 2592 + gate/up/act/prod 8·704
        #   = 4104 + 2592 + 5632 = 12328
        ("bf16", 12328, 1577984),
        # fp32: 2 · (12h + 4) + 4·(512+128+128+512) + 32 + 16·704 = 6152 + 5152 + 11264
        ("fp32", 22568, 2888704),
        # autocast: 2 norms · (8h + 4) + casts for q, k, v (3 · 2h) and gate, up (2 · 2h)
        #   = 4104 + 2560 = 6664; + 2592 + 5632 = 14888 (bf16 weight copies counted apart)
        ("autocast", 14888, 1905664),
    ],
)
def test_full_fine_tune_layer(kind: str, per_token: int, measured_per_layer: int) -> None:
    la = A.layer_activations(_regime(kind), _shape(), [])
    assert la.per_token == per_token
    assert la.per_token * 128 == measured_per_layer  # FakeTensor measurement, 128 tokens


def test_autocast_keeps_bf16_weight_copies() -> None:
    la = A.layer_activations(_regime("autocast"), _shape(), [])
    assert la.weight_copies == 2 * 868352  # 2 B per linear weight element of the layer


def test_lora_layer_saves_less_than_full() -> None:
    # frozen bf16 base, PEFT fp32 adapters on q and v with dropout:
    # norms 2 · (4h + 4) = 2056; adapters 2 · ((4 + 1)·256 + 4·16) = 2688;
    # attention 2592; frozen SwiGLU keeps gate, up, act: 6·704 = 4224. Sum 11560.
    la = A.layer_activations(_regime("bf16", full=False), _shape(), QV)
    assert la.per_token == 11560
    assert la.per_token * 128 == 1479680  # measured
    full = A.layer_activations(_regime("bf16"), _shape(), [])
    assert la.per_token < full.per_token


def test_lora_without_dropout_keeps_no_mask() -> None:
    with_mask = A.layer_activations(_regime("bf16", full=False), _shape(), QV)
    without = A.layer_activations(_regime("bf16", full=False, dropout=False), _shape(), QV)
    assert with_mask.per_token - without.per_token == 2 * 256  # 1 B mask per input element


def test_adapter_on_frozen_down_proj_keeps_its_own_copy_of_the_product() -> None:
    # frozen bf16 base, PEFT fp32 adapter on down_proj (in_features f = 704) with dropout.
    # The frozen down_proj saves no input, so the bf16 MLP product is not kept for it;
    # PEFT casts the product to fp32 (4 B), drops it (1-byte mask) and lora_A saves the
    # dropped copy; lora_B saves A's output (r = 16 fp32): (4 + 1)·704 + 4·16 = 3584.
    # The MLP itself still keeps gate, up, act(gate): 6·704 = 4224, as without the adapter.
    bare = A.layer_activations(_regime("bf16", full=False), _shape(), [])
    down = A.layer_activations(_regime("bf16", full=False), _shape(), [("ffn_down", 704, 1)])
    assert down.mlp_per_token == bare.mlp_per_token == 6 * 704
    assert down.per_token - bare.per_token == 3584
    # the product is kept when down_proj's weight trains: 8·704 (gate, up, act, product)
    assert A.layer_activations(_regime("bf16"), _shape(), []).mlp_per_token == 8 * 704


def test_eager_attention_adds_score_terms() -> None:
    sdpa = A.layer_activations(_regime("bf16"), _shape(), [])
    eager = A.layer_activations(_regime("bf16", attention="eager"), _shape(), [])
    # per key: fp32 softmax + its bf16 copy, 6 B per head
    assert eager.per_token_key == 6 * 8
    # q 2·512, K and V repeated to 8 heads 2·2·512, out 2·512 instead of q,k,v,out + lse
    assert eager.per_token - sdpa.per_token == (2 * 512 * 4) - (2 * 1280 + 32)
    assert A.layer_activations(_regime("fp32", attention="eager"), _shape(), []).per_token_key \
        == 4 * 8


def test_qk_norm_adds_per_head_norm_copies() -> None:
    qwen3 = dict(TINY, model_type="qwen3")
    base = A.layer_activations(_regime("bf16"), _shape(), []).per_token
    # q_norm, k_norm: fp32 upcast + bf16 cast, 6 B per element of q (512) and k (128)
    assert A.layer_activations(_regime("bf16"), _shape(qwen3), []).per_token - base \
        == 6 * 640


def test_checkpoint_input_is_the_residual() -> None:
    assert A.layer_activations(_regime("bf16"), _shape(), []).checkpoint_input == 2 * 256
    assert A.layer_activations(_regime("autocast"), _shape(), []).checkpoint_input == 4 * 256


@pytest.mark.parametrize(
    ("loss", "logits_bytes", "forward_saved", "forward_peak", "backward_peak"),
    [
        ("standard", 2, 4000, 10000, 12000),  # V = 1000: 4V saved, 2V + 4V + 4V, 12V
        ("standard", 4, 4000, 8000, 12000),  # fp32 logits are their own upcast
        ("chunked", 2, 4000, 2000 + 4000 + 500, 4000 + 1000 + 250),
        ("fused", 2, 2 * 256, 12 * 256, 2 * 256),
    ],
)
def test_loss_costs(loss: str, logits_bytes: int, forward_saved: int, forward_peak: int,
                    backward_peak: int) -> None:
    cost = A.loss_cost(loss, 1000, 256, logits_bytes)
    assert (cost.forward_saved, cost.forward_peak, cost.backward_peak) == (
        forward_saved, forward_peak, backward_peak)


def test_never_negative() -> None:
    for kind in A.REGIMES:
        for full in (True, False):
            for attention in ("sdpa", "eager"):
                la = A.layer_activations(_regime(kind, full=full, attention=attention),
                                         _shape(), [] if full else QV)
                assert min(la.per_token, la.per_token_key, la.mlp_backward,
                           la.attention_backward, la.weight_copies) >= 0


def _litgpt(fused: bool, *, dropout: bool = True) -> A.Regime:
    """LitGPT's bf16-true LoRA: frozen bf16 base, bf16 adapters."""
    return A.Regime(kind="bf16", trainable_base=False, adapter_bytes=2, lora_dropout=dropout,
                    lora_rank=16, attention="sdpa", fused_qkv=fused)


def test_litgpt_attention_keeps_the_whole_qkv_through_vs_view() -> None:
    # v is a view of the fused qkv output (q 512, k 128, v 128 wide): saving v keeps the q and
    # k parts too, 2 B · (512 + 128) = 1280 B per token more than separate projections
    apart, _ = A.attention_saved(_litgpt(False), _shape())
    fused, _ = A.attention_saved(_litgpt(True), _shape())
    assert fused - apart == 2 * (512 + 128) == 1280


def test_litgpt_lora_on_q_and_v_shares_its_dropout_and_keeps_zero_pads_source() -> None:
    # one dropout and one lora_A for q and v: the bf16 dropped input (2 B) and its mask (1 B)
    # once instead of twice, -(2 + 1)·256; zero_pad's index_copy_ keeps the q and v parts of
    # the update (k is not adapted): 2 B · (512 + 128) = +1280
    assert A.fused_qkv_saved(_litgpt(True), _shape(), QV) == -3 * 256 + 1280 == 512
    assert A.fused_qkv_saved(_litgpt(True, dropout=False), _shape(), QV) == -2 * 256 + 1280
    # q, k and v all adapted: nothing to pad, the input kept once instead of three times
    qkv = [("attn_q", 256, 1), ("attn_k", 256, 1), ("attn_v", 256, 1)]
    assert A.fused_qkv_saved(_litgpt(True), _shape(), qkv) == -2 * 3 * 256
    # adapters elsewhere, or transformers' separate projections: no change
    assert A.fused_qkv_saved(_litgpt(True), _shape(), [("ffn_down", 704, 1)]) == 0
    assert A.fused_qkv_saved(_litgpt(False), _shape(), QV) == 0


def test_litgpt_layer_is_the_sum_of_its_terms() -> None:
    apart = A.layer_activations(_litgpt(False), _shape(), QV)
    fused = A.layer_activations(_litgpt(True), _shape(), QV)
    assert fused.per_token - apart.per_token == 1280 + 512
