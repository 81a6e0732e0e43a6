"""LoRA adapter parameter counts (vramcalc/lora.py)."""

from __future__ import annotations

import pytest

from vramcalc import architecture, catalogs, lora
from vramcalc.errors import Collector


def _spec(config: dict[str, object]) -> architecture.ModelSpec:
    spec = architecture.from_config(config, Collector())
    assert spec is not None
    return spec


def _llama_31_8b() -> architecture.ModelSpec:
    return _spec(catalogs.presets()["meta-llama/Llama-3.1-8B"]["config"])


def _count(spec: architecture.ModelSpec, targets: tuple[str, ...] | str, rank: int,
           dora: bool = False) -> int:
    return sum(a.parameters for a in lora.adapters(spec, targets, rank, dora=dora))


def test_tiny_gqa_counts() -> None:
    # h=256, q 8·64=512, k/v 2·64=128, 2 layers, r=4:
    # q: 4·(256 + 512) = 3072, v: 4·(256 + 128) = 1536 per layer -> (3072 + 1536)·2 = 9216
    spec = _spec({"model_type": "llama", "hidden_size": 256, "num_hidden_layers": 2,
                  "num_attention_heads": 8, "num_key_value_heads": 2, "head_dim": 64,
                  "intermediate_size": 704, "vocab_size": 1000})
    assert _count(spec, ("q_proj", "v_proj"), 4) == 9216
    # DoRA adds one magnitude per output feature: (512 + 128) · 2 = 1280
    assert _count(spec, ("q_proj", "v_proj"), 4, dora=True) == 9216 + 1280


@pytest.mark.parametrize(
    ("targets", "rank", "expected"),
    [
        # PEFT print_trainable_parameters() for Llama-3-8B (same shapes as 3.1):
        # q: 16·(4096+4096)·32 = 4,194,304; v: 16·(4096+1024)·32 = 2,621,440
        (("q_proj", "v_proj"), 16, 6_815_744),
        # all-linear r=16: per layer 16·(8192 + 5120 + 5120 + 8192 + 3·(4096+14336)) = 1,310,720
        ("all-linear", 16, 41_943_040),
        (("q_proj", "k_proj", "v_proj", "o_proj"), 8, 8 * (8192 + 5120 + 5120 + 8192) * 32),
    ],
)
def test_llama_31_8b(targets: tuple[str, ...] | str, rank: int, expected: int) -> None:
    assert _count(_llama_31_8b(), targets, rank) == expected


def test_all_linear_excludes_lm_head_and_embeddings() -> None:
    roles = lora.target_roles("all-linear")
    assert "output" not in roles and "token_embd" not in roles
    assert _count(_llama_31_8b(), ("lm_head",), 8) == 8 * (4096 + 128256)


def test_fused_projections_of_other_families() -> None:
    gpt2 = _spec({"model_type": "gpt2", "n_embd": 64, "n_layer": 2, "n_head": 4,
                  "vocab_size": 100, "n_positions": 128})
    # c_attn: 64 -> 192, r=2: 2·(64+192)·2 layers = 1024; c_proj is attention out and MLP down
    assert _count(gpt2, ("c_attn",), 2) == 1024
    assert _count(gpt2, ("c_proj",), 2) == 2 * ((64 + 64) + (256 + 64)) * 2


def test_moe_experts_get_one_adapter_each() -> None:
    mixtral = _spec({"model_type": "mixtral", "hidden_size": 64, "num_hidden_layers": 1,
                     "num_attention_heads": 4, "num_key_value_heads": 2,
                     "intermediate_size": 96, "vocab_size": 100, "num_local_experts": 4,
                     "num_experts_per_tok": 2})
    # gate, up: 64 -> 96, down: 96 -> 64, 4 experts, r=2: 3 · 2·160 · 4 = 3840
    assert _count(mixtral, ("experts",), 2) == 3840
    assert _count(mixtral, "all-linear", 2) == _count(
        mixtral, ("q_proj", "k_proj", "v_proj", "o_proj"), 2)  # experts are not nn.Linear


def test_unmatched_names() -> None:
    assert lora.unmatched(_llama_31_8b(), ("q_proj", "c_attn")) == ["c_attn"]
