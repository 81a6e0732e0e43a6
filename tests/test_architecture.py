"""Parameter counts and shapes from config.json (architecture.py)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from conftest import DATA, preset_config, problems, spec_of

from vramcalc import catalogs, kv_cache


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
            document = json.loads((DATA.parent.parent / row["config_file"]).read_text())
            config = document["config"] if "config" in document else next(
                e["config"] for e in document["configs"] if e["id"] == model_id)
        if "total" in row:  # refused configs and remote-code families have no count
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
    if "multimodal" in row:  # Gemma 3's SigLIP tower and projector
        assert spec.vision is not None
        assert spec.total_parameters + spec.vision.parameters == row["multimodal"]["total"]


def test_families_required_by_the_engine_are_all_pinned() -> None:
    types = {spec_of(config).family for _, config, _ in COUNTED}
    assert types >= {
        "llama", "mistral", "mixtral", "qwen2", "qwen2_moe", "qwen3", "qwen3_moe", "gemma",
        "gemma2", "gemma3_text", "phi3", "gpt2", "gpt_neox", "falcon", "deepseek_v2",
        "deepseek_v3", "gpt_oss", "olmo", "olmo2", "llama4_text", "gpt_bigcode",
        # families read exactly since the families issue (tests/data/family_configs.json)
        "opt", "bloom", "gptj", "mpt", "phi", "starcoder2", "exaone", "cohere", "cohere2",
        "glm", "glm4", "glm4_moe", "dots1", "smollm3", "seed_oss", "ernie4_5", "ernie4_5_moe",
        "granite", "granitemoe", "granitemoeshared", "granitemoehybrid", "exaone4",
        "hunyuan_v1_dense", "hunyuan_v1_moe", "olmoe", "phimoe", "minimax_m2", "minicpm3",
        "deepseek_v32", "stablelm", "mamba", "mamba2", "jamba", "nemotron_h", "falcon_h1",
        "lfm2", "qwen3_next", "qwen3_5_text", "qwen3_5_moe_text",
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


# --- 4. model identity: model_type, its aliases, architectures, nested configs ------------

def test_kimi_k2_is_read_as_deepseek_v3() -> None:
    config = {**tiny_deepseek(), "model_type": "kimi_k2",
              "architectures": ["DeepseekV3ForCausalLM"]}
    spec = spec_of(config)
    assert (spec.family, spec.model_type) == ("deepseek_v3", "kimi_k2")
    assert spec.total_parameters == 1168  # the hand count of test_deepseek_mla_counted_by_hand


def test_unknown_model_type_resolves_by_architectures() -> None:
    config = tiny_llama(model_type="my_finetune", architectures=["Qwen2ForCausalLM"])
    assert spec_of(config).family == "qwen2"
    assert spec_of(config).total_parameters == 1192  # as test_qwen2_has_qkv_biases


def test_nested_llm_config_is_the_language_model() -> None:
    # InternVL-style wrappers keep the language model under llm_config
    spec = spec_of({"model_type": "internvl_chat", "llm_config": tiny_llama()})
    assert spec.total_parameters == 1160
    assert spec.model_type == "internvl_chat"
    assert any("only its language model (llm_config) is counted" in n for n in spec.notes)


def test_refinedweb_keys_are_falcon() -> None:
    # Falcon-7B's first config.json: n_head, n_layer, multi_query, parallel_attn
    config = {"model_type": "RefinedWebModel", "hidden_size": 8, "n_head": 2, "n_layer": 1,
              "vocab_size": 10, "multi_query": True, "parallel_attn": True, "bias": False}
    spec = spec_of(config)
    # embed 80; query_key_value 8*(8 + 2*4) = 128; dense 64; MLP 8*32 + 32*8 = 512;
    # one LayerNorm (parallel attention) 16; ln_f 16; tied head -> 816
    assert spec.family == "falcon"
    assert spec.num_kv_heads == 1
    assert spec.total_parameters == 80 + 128 + 64 + 512 + 16 + 16


def test_phi_msft_keys_are_phi() -> None:
    config = {"model_type": "phi-msft", "architectures": ["PhiForCausalLM"], "n_embd": 8,
              "n_layer": 1, "n_head": 2, "vocab_size": 10}
    spec = spec_of(config)
    # embed 80; q/k/v/dense 4*(64+8) = 288; fc1 8*32+32 = 288, fc2 32*8+8 = 264; one
    # LayerNorm 16; final LayerNorm 16; lm_head 80 + bias 10 -> 1042
    assert spec.family == "phi"
    assert spec.total_parameters == 80 + 288 + 288 + 264 + 16 + 16 + 90


# --- 5. never silently wrong: one named refusal --------------------------------------------

def test_unknown_type_with_experts_is_refused_once_by_name() -> None:
    config = tiny_llama(model_type="brand_new_moe", num_experts=8, num_experts_per_tok=2,
                        moe_intermediate_size=4)
    assert problems({"mode": "inference", "model": {"config": config}}) == [
        ("model.config", "model_type 'brand_new_moe' is not a supported family, and its config "
         "has fields a Llama-style reading cannot interpret (num_experts, "
         "moe_intermediate_size, num_experts_per_tok): refused rather than counted as a dense "
         "Llama"),
    ]


def test_unknown_hybrid_is_refused_once_not_per_layer() -> None:
    config = tiny_llama(model_type="brand_new_hybrid", num_hidden_layers=48,
                        layer_types=["linear_attention", "full_attention"] * 24)
    assert problems({"mode": "inference", "model": {"config": config}}) == [
        ("model.config", "model_type 'brand_new_hybrid' is not a supported family, and its "
         "config has fields a Llama-style reading cannot interpret (layer_types "
         "(linear_attention)): refused rather than counted as a dense Llama"),
    ]


def test_an_unknown_family_is_named_briefly() -> None:
    """A model_type or layer types of any length: the problem stays a sentence."""
    config = tiny_llama(model_type="x" * 5000, num_local_experts=8,
                        layer_types=[f"kind{i}" + "y" * 300 for i in range(20)],
                        num_hidden_layers=20)
    (found,) = problems({"mode": "inference", "model": {"config": config}})
    assert found[0] == "model.config" and len(found[1]) < 400, found
    assert "'xxxxxxxx" in found[1] and "17 more" in found[1]


def test_known_unsupported_family_is_refused_by_name() -> None:
    assert problems({"mode": "inference", "model": {"config": {"model_type": "zamba2"}}}) == [
        ("model.config", "model_type 'zamba2' (Zamba 2 (shared attention blocks with LoRA "
         "adapters over Mamba-2 layers)) is not supported: its parameter count cannot be read "
         "from config.json yet"),
    ]


def test_dense_family_with_experts_is_refused() -> None:
    config = tiny_llama(num_local_experts=8)
    assert problems({"mode": "inference", "model": {"config": config}}) == [
        ("model.config.num_local_experts", "llama is read as a dense model, but this config "
         "has 8 experts: refused rather than counted without them"),
    ]


# --- 6. hybrid and recurrent layers ---------------------------------------------------------

def tiny_mamba() -> dict[str, Any]:
    return {"model_type": "mamba", "vocab_size": 10, "hidden_size": 4, "num_hidden_layers": 1,
            "state_size": 2, "expand": 2, "conv_kernel": 3, "time_step_rank": 1}


def test_mamba_counted_by_hand() -> None:
    spec = spec_of(tiny_mamba())
    # inner = expand * hidden = 8; embed 10*4 = 40 (tied head); layer norm 4;
    # in_proj 4 -> 16: 64; conv1d 8*3 + bias 8 = 32; x_proj 8 -> 1 + 2*2: 40;
    # dt_proj 1 -> 8 + bias 8 = 16; A_log 8*2 + D 8 = 24; out_proj 8 -> 4: 32; final norm 4
    assert spec.total_parameters == 40 + 4 + 64 + 32 + 40 + 16 + 24 + 32 + 4
    state = spec.recurrent[0]
    assert state is not None
    assert (state.kind, state.conv_channels, state.conv_kernel) == ("mamba", 8, 3)
    assert state.conv_elements == (3 - 1) * 8  # vLLM keeps kernel - 1 columns
    assert state.state_elements == 8 * 1 * 2  # channels x 1 x d_state
    assert [layer.kind for layer in spec.attention] == ["none"]
    assert kv_cache.geometry(spec).elements_per_token == 0


def test_qwen3_next_caches_kv_only_on_full_attention_layers() -> None:
    config = {
        "model_type": "qwen3_next", "vocab_size": 10, "hidden_size": 8, "num_hidden_layers": 4,
        "num_attention_heads": 2, "num_key_value_heads": 1, "head_dim": 4,
        "linear_num_key_heads": 1, "linear_num_value_heads": 2, "linear_key_head_dim": 2,
        "linear_value_head_dim": 3, "linear_conv_kernel_dim": 4, "intermediate_size": 6,
        "num_experts": 2, "num_experts_per_tok": 1, "moe_intermediate_size": 2,
        "shared_expert_intermediate_size": 2,
    }
    spec = spec_of(config)
    assert [layer.kind for layer in spec.attention] == ["none", "none", "none", "full"]
    geo = kv_cache.geometry(spec)
    assert (geo.full_layers, geo.elements_per_token) == (1, 2 * 1 * 4)  # K and V of one layer
    delta = spec.recurrent[0]
    assert delta is not None and spec.recurrent[3] is None
    # conv over q, k (1 head x 2 each) and v (2 heads x 3): 2 + 2 + 6 = 10 channels
    assert (delta.kind, delta.conv_channels) == ("gated_deltanet", 10)
    # one key-dim x value-dim matrix per value head: 2 x 3 x 2, kept in float32
    assert (delta.state_elements, delta.state_dtype) == (12, "fp32")
    assert spec.summary()["recurrent_layers"] == {"gated_deltanet": 3}


def test_falcon_h1_layers_have_kv_and_state() -> None:
    config = {
        "model_type": "falcon_h1", "vocab_size": 10, "hidden_size": 8, "num_hidden_layers": 2,
        "num_attention_heads": 2, "num_key_value_heads": 1, "intermediate_size": 6,
        "mamba_n_heads": 2, "mamba_d_head": 4, "mamba_d_ssm": 8, "mamba_n_groups": 1,
        "mamba_d_state": 3, "mamba_d_conv": 4,
    }
    spec = spec_of(config)
    assert [layer.kind for layer in spec.attention] == ["full", "full"]
    state = spec.recurrent[1]
    assert state is not None
    # conv over x, B, C: 8 + 2*1*3 = 14 channels; state: 2 heads x 4 x 3
    assert (state.kind, state.conv_channels, state.state_elements) == ("mamba2", 14, 24)


def test_nemotron_h_pattern_sets_each_layer() -> None:
    config = {
        "model_type": "nemotron_h", "vocab_size": 10, "hidden_size": 8, "num_hidden_layers": 4,
        "hybrid_override_pattern": "M-*E", "num_attention_heads": 2, "num_key_value_heads": 1,
        "head_dim": 4, "intermediate_size": 6, "mamba_num_heads": 2, "mamba_head_dim": 4,
        "ssm_state_size": 2, "n_groups": 1, "n_routed_experts": 2, "num_experts_per_tok": 1,
        "moe_intermediate_size": 3, "moe_shared_expert_intermediate_size": 3,
        "mamba_ssm_cache_dtype": "float32",
    }
    spec = spec_of(config)
    assert [layer.kind for layer in spec.attention] == ["none", "none", "full", "none"]
    assert [s.kind if s else None for s in spec.recurrent] == ["mamba2", None, None, None]
    assert spec.recurrent[0] is not None and spec.recurrent[0].state_dtype == "fp32"
    assert spec.moe is not None and spec.moe.moe_layers == 1


# --- 7. vision towers -----------------------------------------------------------------------

def _llava(**vision: Any) -> dict[str, Any]:
    return {"model_type": "llava", "text_config": tiny_llama(),
            "vision_config": {"model_type": "clip_vision_model", "hidden_size": 4,
                              "intermediate_size": 6, "num_hidden_layers": 1,
                              "num_attention_heads": 2, "image_size": 4, "patch_size": 2,
                              **vision}}


def test_clip_tower_counted_by_hand() -> None:
    spec = spec_of(_llava())
    vision = spec.vision
    assert vision is not None
    # CLIP, h = 4, 4 patches of 2x2x3: class embedding 4, patch conv 4*3*2*2 = 48 (no bias),
    # positions (4 + 1)*4 = 20, pre/post LayerNorms 2*8 = 16 -> 88
    # layer: q/k/v/o 4*(16 + 4) = 80, fc1 4*6 + 6 = 30, fc2 6*4 + 4 = 28, two LayerNorms 16
    #        -> 154
    assert vision.encoder_parameters == 88 + 154
    # projector: linear_1 4 -> 8 (text hidden) + bias = 40, linear_2 8 -> 8 + bias = 72
    assert vision.projector_parameters == 40 + 72
    assert vision.tokens_per_image(336, 336) == 4  # "default" drops the class token
    assert spec.total_parameters == 1160  # the language model alone, as before
    assert any("its vision encoder and projector (354 parameters) are in the weights" in n
               for n in spec.notes)


def test_qwen_vl_tokens_follow_the_resized_grid() -> None:
    config = {"model_type": "qwen2_5_vl", "text_config": tiny_llama(model_type="qwen2"),
              "vision_config": {"model_type": "qwen2_5_vl", "hidden_size": 4, "depth": 1,
                                "intermediate_size": 6, "num_heads": 2, "patch_size": 14,
                                "spatial_merge_size": 2, "out_hidden_size": 8}}
    vision = spec_of(config).vision
    assert vision is not None
    # Qwen2VLImageProcessor: sides are multiples of patch x merge = 28; one token per 2x2
    # patches: a 448 x 644 image is 16 x 23 tokens
    assert vision.tokens_per_image(448, 644) == 16 * 23


def test_pixtral_tokens_add_a_break_per_row() -> None:
    config = {"model_type": "mistral3", "text_config": tiny_llama(model_type="mistral"),
              "vision_config": {"model_type": "pixtral", "hidden_size": 4,
                                "intermediate_size": 6, "num_hidden_layers": 1,
                                "num_attention_heads": 2, "head_dim": 2, "image_size": 1540,
                                "patch_size": 14}, "spatial_merge_size": 2}
    vision = spec_of(config).vision
    assert vision is not None
    # 1540 x 1540 (the largest): 110 patches a side, 55 merged tokens a side, plus one
    # [IMG_BREAK] / [IMG_END] per row: 55 x 56; a 3080 px side is scaled down to 1540
    assert vision.tokens_per_image(1540, 1540) == 55 * 56
    assert vision.tokens_per_image(3080, 3080) == 55 * 56


def test_unknown_vision_tower_is_noted_not_counted() -> None:
    spec = spec_of(_llava(model_type="brand_new_vit"))
    assert spec.vision is None
    assert spec.total_parameters == 1160


_HYBRID_BASE = {"vocab_size": 10, "hidden_size": 8, "num_hidden_layers": 2,
                "num_attention_heads": 2, "num_key_value_heads": 1}


@pytest.mark.parametrize(("config", "expected"), [
    ({"model_type": "mpt", "d_model": 8, "n_layers": 1, "n_heads": 2, "vocab_size": 10,
      "expansion_ratio": 3},
     [("model.config.expansion_ratio", "must be 4: transformers' MptForCausalLM builds a "
       "4 x d_model MLP whatever the config says")]),
    ({"model_type": "mpt", "d_model": 8, "n_layers": 1, "n_heads": 2, "vocab_size": 10,
      "no_bias": False},
     [("model.config.no_bias", "must be true: transformers' MptForCausalLM builds no biases")]),
    ({**_HYBRID_BASE, "model_type": "hunyuan_v1_moe", "intermediate_size": 4,
      "num_experts": 4, "moe_topk": [2, 1]},
     [("model.config.moe_topk", "must be one integer for every layer; per-layer expert "
       "counts that differ are not supported")]),
    ({**_HYBRID_BASE, "model_type": "nemotron_h", "hybrid_override_pattern": "M*X",
      "num_hidden_layers": 3, "mamba_num_heads": 2, "mamba_head_dim": 4, "ssm_state_size": 2},
     [("model.config.layers_block_type[2]", "unsupported block type 'X'")]),
    ({**_HYBRID_BASE, "model_type": "nemotron_h", "hybrid_override_pattern": "M*",
      "num_hidden_layers": 3, "mamba_num_heads": 2, "mamba_head_dim": 4, "ssm_state_size": 2},
     [("model.config.hybrid_override_pattern", "must give one block type per layer (3)")]),
    ({**_HYBRID_BASE, "model_type": "qwen3_next", "linear_num_key_heads": 1,
      "linear_num_value_heads": 1, "linear_key_head_dim": 2, "linear_value_head_dim": 2,
      "intermediate_size": 4, "layer_types": ["linear_attention", "mamba"]},
     [("model.config.layer_types", "must list linear_attention or full_attention for each of "
       "the 2 layers")]),
    ({**tiny_deepseek(), "model_type": "deepseek_v32", "index_n_heads": 2,
      "index_head_dim": 2},
     [("model.config.q_lora_rank", "is required for deepseek_v32 (the indexer reads the "
       "compressed query)")]),
    ({**_HYBRID_BASE, "model_type": "falcon_h1", "intermediate_size": 4, "mamba_n_heads": 2,
      "mamba_d_head": 4, "mamba_d_ssm": 6, "mamba_d_state": 2},
     [("model.config.mamba_d_ssm", "must equal mamba_n_heads x mamba_d_head (8)")]),
])
def test_hybrid_and_family_problems_are_named(config: dict[str, Any],
                                              expected: list[tuple[str, str]]) -> None:
    assert problems({"mode": "inference", "model": {"config": config}}) == expected
