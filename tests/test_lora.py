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
    roles = lora.target_roles(_llama_31_8b(), "all-linear")
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
    # another family's name for a role this model has is still not one of its modules
    assert lora.unmatched(_llama_31_8b(), ("dense", "query_key_value", "experts")) == [
        "dense", "query_key_value", "experts"]


_TINY_LLAMA = {"model_type": "llama", "hidden_size": 64, "num_hidden_layers": 2,
               "num_attention_heads": 4, "num_key_value_heads": 2, "intermediate_size": 96,
               "vocab_size": 100}


@pytest.mark.parametrize(
    ("config", "names"),
    [
        # Llama (modeling_llama.py): self_attn.{q,k,v,o}_proj, mlp.{gate,up,down}_proj, a tied
        # head (no lm_head module of its own) and model.embed_tokens
        ({**_TINY_LLAMA, "tie_word_embeddings": True},
         ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj",
          "embed_tokens"]),
        ({**_TINY_LLAMA, "tie_word_embeddings": False},
         ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj",
          "lm_head", "embed_tokens"]),
        # GPT-2 (modeling_gpt2.py): attn.c_attn, attn.c_proj, mlp.c_fc, mlp.c_proj; the
        # embedding is `wte`, which no target name means
        ({"model_type": "gpt2", "n_embd": 64, "n_layer": 2, "n_head": 4, "vocab_size": 100,
          "n_positions": 128}, ["c_attn", "c_proj", "c_fc"]),
        # DeepSeek-V3 MLA (modeling_deepseek_v3.py): q_a/q_b, kv_a_proj_with_mqa, kv_b, o_proj;
        # layer 0 dense (first_k_dense_replace 1), layer 1 MoE with a shared expert
        ({"model_type": "deepseek_v3", "hidden_size": 64, "num_hidden_layers": 2,
          "num_attention_heads": 4, "num_key_value_heads": 4, "q_lora_rank": 32,
          "kv_lora_rank": 16, "qk_nope_head_dim": 8, "qk_rope_head_dim": 8, "v_head_dim": 8,
          "intermediate_size": 96, "moe_intermediate_size": 32, "n_routed_experts": 4,
          "n_shared_experts": 1, "num_experts_per_tok": 2, "first_k_dense_replace": 1,
          "vocab_size": 100, "tie_word_embeddings": False},
         ["q_a_proj", "q_b_proj", "kv_a_proj_with_mqa", "kv_b_proj", "o_proj", "gate_proj",
          "up_proj", "down_proj", "experts", "lm_head", "embed_tokens"]),
        # StarCoder2 (modeling_starcoder2.py): Llama's attention, mlp.c_fc and mlp.c_proj
        ({"model_type": "starcoder2", "hidden_size": 64, "num_hidden_layers": 2,
          "num_attention_heads": 4, "num_key_value_heads": 2, "intermediate_size": 256,
          "vocab_size": 100},
         ["q_proj", "k_proj", "v_proj", "o_proj", "c_fc", "c_proj", "embed_tokens"]),
        # OPT (modeling_opt.py): self_attn.{q,k,v,out}_proj, fc1, fc2, tied head
        ({"model_type": "opt", "hidden_size": 64, "num_hidden_layers": 2,
          "num_attention_heads": 4, "ffn_dim": 256, "vocab_size": 100},
         ["q_proj", "k_proj", "v_proj", "out_proj", "fc1", "fc2", "embed_tokens"]),
    ],
    ids=["llama tied", "llama untied", "gpt2", "deepseek-v3 mla", "starcoder2", "opt"],
)
def test_module_names_are_the_models_own(config: dict[str, object], names: list[str]) -> None:
    spec = _spec(config)
    assert lora.module_names(spec) == names
    assert lora.unmatched(spec, tuple(names)) == []


def test_a_name_adapts_what_it_means_in_this_model() -> None:
    # c_proj is GPT-2's attention output and MLP down projection, but only StarCoder2's MLP
    # down projection (its attention output is o_proj): h=64, 4h=256, r=2, 2 layers
    starcoder2 = _spec({"model_type": "starcoder2", "hidden_size": 64, "num_hidden_layers": 2,
                        "num_attention_heads": 4, "num_key_value_heads": 2,
                        "intermediate_size": 256, "vocab_size": 100})
    assert lora.target_roles(starcoder2, ("c_proj",)) == {"ffn_down"}
    assert _count(starcoder2, ("c_proj",), 2) == 2 * (256 + 64) * 2
    gpt2 = _spec({"model_type": "gpt2", "n_embd": 64, "n_layer": 2, "n_head": 4,
                  "vocab_size": 100, "n_positions": 128})
    assert lora.target_roles(gpt2, ("c_proj",)) == {"attn_output", "ffn_down"}


@pytest.mark.parametrize(
    ("config", "targets"),
    [
        (_TINY_LLAMA, ("q_proj", "v_proj")),
        ({"model_type": "gpt2", "n_embd": 64, "n_layer": 2, "n_head": 4, "vocab_size": 100,
          "n_positions": 128}, ("c_attn",)),
        ({"model_type": "mpt", "d_model": 64, "n_layers": 2, "n_heads": 4, "vocab_size": 100},
         ("Wqkv",)),
        ({"model_type": "gpt_bigcode", "n_embd": 64, "n_layer": 2, "n_head": 4,
          "vocab_size": 100, "n_positions": 128, "multi_query": True}, ("c_attn",)),
    ],
    ids=["llama", "gpt2", "mpt", "gpt_bigcode"],
)
def test_default_targets_are_names_the_model_has(config: dict[str, object],
                                                 targets: tuple[str, ...]) -> None:
    spec = _spec(config)
    assert lora.default_targets(spec) == targets
    assert lora.unmatched(spec, targets) == []


def test_every_name_and_role_has_a_place() -> None:
    """Every role a name can adapt is ordered, and every checkpoint name of a linear role
    that some family gives is one `target_modules` knows (no model loses a layer)."""
    roles = {role for names in lora.MODULE_ROLES.values() for role in names}
    assert roles <= set(lora._ROLE_ORDER)
    for config in _configs():
        spec = _spec(config)
        named = set(lora.target_roles(spec, tuple(lora.module_names(spec))))
        linear = {g.role for g in spec.tensors} & set(lora.target_roles(spec, "all-linear"))
        assert linear <= named, (spec.family, linear - named)


def _configs() -> list[dict[str, object]]:
    import json
    from pathlib import Path

    configs = [entry["config"] for entry in catalogs.presets().values()]
    for path in sorted((Path(__file__).parent / "data" / "configs").glob("*.json")):
        config = json.loads(path.read_text())["config"]
        if architecture.from_config(config, Collector()) is not None:
            configs.append(config)
    assert len(configs) > 100
    return configs


@pytest.mark.parametrize(
    ("model", "names"),
    [
        ({"preset": "openai-community/gpt2"}, ["c_attn", "c_proj", "c_fc"]),
        ({"config": _TINY_LLAMA},
         ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj",
          "lm_head", "embed_tokens"]),
        ({"preset": "deepseek-ai/DeepSeek-V2-Lite"},
         ["q_proj", "kv_a_proj_with_mqa", "kv_b_proj", "o_proj", "gate_proj", "up_proj",
          "down_proj", "experts", "lm_head", "embed_tokens"]),
    ],
    ids=["gpt2 preset", "pasted llama config", "deepseek-v2-lite mla moe"],
)
def test_every_answer_lists_the_models_target_names(model: dict[str, object],
                                                     names: list[str]) -> None:
    """response.model.lora_target_modules, in both modes: what the page offers as checkboxes
    and what lora.target_modules accepts."""
    import vramcalc

    inference = vramcalc.estimate_or_raise({"mode": "inference", "model": model})
    assert inference["model"]["lora_target_modules"] == names
    # a set of modules: echoed once each, in the model's order, whatever the order given
    training = vramcalc.estimate_or_raise({"mode": "training", "model": model,
                                           "method": "lora",
                                           "lora": {"target_modules": [*names[::-1], names[0]]}})
    assert training["model"]["lora_target_modules"] == names
    assert training["request"]["lora"]["target_modules"] == names
