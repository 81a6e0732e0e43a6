"""Parameter counts and shapes from config.json (architecture.py)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from conftest import DATA, preset_config, problems, spec_of

from vramcalc import catalogs


def tiny_llama(**overrides: Any) -> dict[str, Any]:
    config = {
        "model_type": "llama", "vocab_size": 10, "hidden_size": 8, "intermediate_size": 12,
        "num_hidden_layers": 2, "num_attention_heads": 2, "num_key_value_heads": 1,
        "max_position_embeddings": 64, "tie_word_embeddings": False,
    }
    config.update(overrides)
    return config


# --- 1. tiny configs, counted by hand -------------------------------------------------------

def test_tiny_llama_counted_by_hand() -> None:
    spec = spec_of(tiny_llama())
    # head_dim = 8 / 2 = 4; one KV head
    # embed 10*8 = 80
    # per layer: q 8*8=64, k 8*4=32, v 8*4=32, o 8*8=64 (attention 192)
    #            gate/up/down 3*8*12 = 288, two RMSNorms 2*8 = 16   -> 496 per layer
    # 2 layers = 992, final norm 8, untied lm_head 80 -> 1160
    assert spec.total_parameters == 1160
    assert spec.parameters_by_category == {
        "embeddings": 80, "attention": 384, "mlp": 576, "routed_experts": 0,
        "shared_experts": 0, "router": 0, "norms": 40, "lm_head": 80,
    }
    assert spec.active_parameters == 1160


def test_tied_embeddings_are_counted_once() -> None:
    # the lm_head shares the embedding tensor: 1160 - 80
    assert spec_of(tiny_llama(tie_word_embeddings=True)).total_parameters == 1080


def test_qwen2_has_qkv_biases() -> None:
    # q bias 8 + k bias 4 + v bias 4 per layer, 2 layers: 1160 + 32
    assert spec_of(tiny_llama(model_type="qwen2")).total_parameters == 1192


def test_qwen3_explicit_head_dim_and_qk_norms() -> None:
    spec = spec_of(tiny_llama(model_type="qwen3", head_dim=6))
    # q 8*(2*6)=96, k 8*6=48, v 48, o 12*8=96 -> 288; q_norm + k_norm 6 + 6;
    # mlp 288; norms 16 -> 604 per layer, x2 = 1208; + embed 80 + final norm 8 + lm_head 80
    assert spec.total_parameters == 1376
    assert spec.head_dim == 6


def test_gpt2_learned_positions_and_biases() -> None:
    config = {"model_type": "gpt2", "vocab_size": 10, "n_embd": 8, "n_layer": 1, "n_head": 2,
              "n_positions": 16}
    # wte 80 + wpe 16*8=128; ln_1 16; c_attn 8*24+24 = 216; c_proj 64+8 = 72; ln_2 16;
    # c_fc 8*32+32 = 288; mlp c_proj 32*8+8 = 264 -> layer 872; ln_f 16; tied head
    assert spec_of(config).total_parameters == 80 + 128 + 872 + 16


def test_mixtral_total_and_active() -> None:
    config = tiny_llama(model_type="mixtral", num_hidden_layers=1, intermediate_size=6,
                        num_local_experts=4, num_experts_per_tok=2)
    spec = spec_of(config)
    # embed 80, attention 192, router 8*4 = 32, experts 4 * 3*8*6 = 576, norms 16 + 8,
    # lm_head 80 -> 984; active: 984 - 576 + 576 * 2/4 = 696
    assert spec.total_parameters == 984
    assert spec.active_parameters == 696
    assert spec.parameters_by_category["router"] == 32


def tiny_deepseek() -> dict[str, Any]:
    return {
        "model_type": "deepseek_v3", "vocab_size": 10, "hidden_size": 8,
        "intermediate_size": 12, "moe_intermediate_size": 2, "num_hidden_layers": 2,
        "num_attention_heads": 2, "num_key_value_heads": 2, "q_lora_rank": None,
        "kv_lora_rank": 4, "qk_rope_head_dim": 2, "qk_nope_head_dim": 2, "v_head_dim": 3,
        "n_routed_experts": 4, "num_experts_per_tok": 2, "n_shared_experts": 1,
        "first_k_dense_replace": 1, "max_position_embeddings": 64,
    }


def test_deepseek_mla_counted_by_hand() -> None:
    spec = spec_of(tiny_deepseek())
    # attention per layer: q_proj 8*(2*(2+2)) = 64, kv_a 8*(4+2) = 48, kv_b 4*(2*(2+3)) = 40,
    # o_proj (2*3)*8 = 48 -> 200, plus kv_a_layernorm 4
    # layer 0 dense: 200 + 4 + mlp 3*8*12 = 288 + norms 16 = 508
    # layer 1 MoE: 200 + 4 + router 8*4 = 32 + experts 4*3*8*2 = 192 + shared 3*8*2 = 48
    #              + norms 16 = 492
    # embed 80 + 508 + 492 + final norm 8 + lm_head 80 = 1168; active = 1168 - 192 + 96
    assert spec.total_parameters == 1168
    assert spec.active_parameters == 1072
    assert spec.mla
    assert spec.attention[0].latent_width == 6


# --- 2. real models: exact counts from transformers ---------------------------------------

def _counted_models() -> list[tuple[str, dict[str, Any], dict[str, Any]]]:
    pinned = json.loads((DATA / "param_counts.json").read_text(encoding="utf-8"))["models"]
    presets = catalogs.presets()
    rows = []
    for model_id, row in pinned.items():
        if model_id in presets:
            config = presets[model_id]["config"]
        else:
            config = json.loads((DATA.parent.parent / row["config_file"]).read_text())["config"]
        rows.append((model_id, config, row))
    return rows


COUNTED = _counted_models()


def test_every_catalog_model_has_a_pinned_count() -> None:
    assert len(COUNTED) >= 60
    assert set(catalogs.presets()) <= {model_id for model_id, _, _ in COUNTED}


@pytest.mark.parametrize(("model_id", "config", "row"), COUNTED, ids=[r[0] for r in COUNTED])
def test_counts_equal_transformers(model_id: str, config: dict[str, Any],
                                   row: dict[str, Any]) -> None:
    # tests/data/param_counts.json: `python tools/param_counts.py` (transformers on the meta
    # device, sum(p.numel() for p in model.parameters()))
    spec = spec_of(config)
    assert spec.total_parameters == row["total"]
    assert {k: v for k, v in spec.parameters_by_category.items() if v} == \
        {k: v for k, v in row["by_category"].items() if v}
    if "active" in row:
        assert spec.active_parameters == row["active"]


def test_families_required_by_the_engine_are_all_pinned() -> None:
    types = {spec_of(config).family for _, config, _ in COUNTED}
    assert types >= {
        "llama", "mistral", "mixtral", "qwen2", "qwen2_moe", "qwen3", "qwen3_moe", "gemma",
        "gemma2", "gemma3_text", "phi3", "gpt2", "gpt_neox", "falcon", "deepseek_v2",
        "deepseek_v3", "gpt_oss", "olmo", "olmo2", "llama4_text", "gpt_bigcode",
    }


def _within_published(entry: dict[str, Any], ours: int) -> bool:
    published = entry["published_params"]
    value = float(published["value"])
    if published.get("nominal"):
        return abs(ours - value) <= 0.06 * value  # a size in the model's name, e.g. "70B"
    # cards print a few digits, some rounded (Llama 3.1: 8.03B), some cut (Qwen2.5-14B:
    # 14.77B printed as 14.7B): within one unit of the last printed digit
    return abs(ours - value) < float(published["precision"])


@pytest.mark.parametrize("model_id", sorted(catalogs.presets()))
def test_catalog_counts_match_published(model_id: str) -> None:
    entry = catalogs.presets()[model_id]
    published = entry["published_params"]
    ours = spec_of(entry["config"]).total_parameters
    if "known_difference" in published:
        # the card counts something transformers does not build (vision tower, MTP layer)
        assert published["known_difference"]
        return
    assert _within_published(entry, ours), (ours, published)


# --- 3. quirks and errors ------------------------------------------------------------------

def test_gemma3_multimodal_reads_text_config_with_class_defaults() -> None:
    spec = spec_of(preset_config("google/gemma-3-4b-it"))
    # gemma-3-4b-it's text_config leaves out vocab_size and the head counts (class defaults)
    assert (spec.vocab_size, spec.num_heads, spec.num_kv_heads, spec.head_dim) == \
        (262208, 8, 4, 256)
    assert any("multimodal" in note for note in spec.notes)
    windows = [layer.kind for layer in spec.attention]
    assert windows.count("full") == 34 // 6  # every 6th layer is global


def test_unknown_model_type_is_read_as_generic_decoder_with_a_warning() -> None:
    spec = spec_of(tiny_llama(model_type="brand_new_lm"))
    assert spec.total_parameters == 1160
    assert any("generic" in note for note in spec.notes)


def test_missing_and_bad_fields_are_all_reported() -> None:
    config = tiny_llama(num_attention_heads=-3)
    del config["hidden_size"]
    assert problems({"mode": "inference", "model": {"config": config}}) == [
        ("model.config.hidden_size", "is required"),
        ("model.config.num_attention_heads", "must be an integer >= 1, got -3"),
    ]


def test_kv_heads_must_divide_heads() -> None:
    config = tiny_llama(num_attention_heads=8, num_key_value_heads=3)
    assert problems({"mode": "inference", "model": {"config": config}}) == [
        ("model.config.num_key_value_heads", "must divide num_attention_heads (8), got 3"),
    ]


def test_layer_types_must_match_layers() -> None:
    config = tiny_llama(layer_types=["full_attention"])
    assert problems({"mode": "inference", "model": {"config": config}}) == [
        ("model.config.layer_types", "must list one type per layer (2), got 1"),
    ]


def test_config_must_be_an_object() -> None:
    assert problems({"mode": "inference", "model": {"config": [1, 2]}}) == [
        ("model.config", "must be an object (the model's config.json)"),
    ]
