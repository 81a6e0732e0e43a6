"""A model's shape from its Hugging Face `config.json`, and its exact parameter counts.

Each family's reader mirrors the module layout of the matching `transformers` model file
(`src/transformers/models/<family>/modeling_<family>.py`, v5): the counts it yields equal
`sum(p.numel() for p in model.parameters())` for the instantiated model (tied weights once),
which `tests/data/param_counts.json` pins for every supported family.

The model is described as a tensor inventory (`TensorGroup`s: a role such as `attn_q` or
`ffn_down_exps`, the element count of one tensor, the layers it occurs in) plus the attention
geometry of every layer. Weights, adapters, optimizer states and KV cache are all computed
from that one description.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from . import catalogs
from .errors import Collector, Fields, count, show
from .families import classic, hybrid, llama, mla, vision
from .modelspec import (
    CATEGORIES as CATEGORIES,
)
from .modelspec import (
    LINEAR_ROLES as LINEAR_ROLES,
)
from .modelspec import (
    AttentionLayer as AttentionLayer,
)
from .modelspec import (
    ModelSpec as ModelSpec,
)
from .modelspec import (
    MoESpec as MoESpec,
)
from .modelspec import (
    TensorGroup as TensorGroup,
)
from .modelspec import (
    with_changes,
)

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

# LlavaConfig builds its text model from LlamaConfig's defaults (configuration_llama.py)
_LLAMA_DEFAULTS = {
    "vocab_size": 32000, "hidden_size": 4096, "intermediate_size": 11008,
    "num_hidden_layers": 32, "num_attention_heads": 32, "max_position_embeddings": 2048,
}
_TEXT_CONFIG_DEFAULTS: dict[str, dict[str, Any]] = {
    "llava": _LLAMA_DEFAULTS,
    "gemma3": {
        "vocab_size": 262208,
        "hidden_size": 2304,
        "intermediate_size": 9216,
        "num_hidden_layers": 26,
        "num_attention_heads": 8,
        "num_key_value_heads": 4,
        "head_dim": 256,
        "max_position_embeddings": 131072,
        "sliding_window": 4096,
        "tie_word_embeddings": True,
    },
}

# model_type -> reader, for every family read exactly (counts pinned against transformers in
# tests/data/param_counts.json). Families that keep transformers' Llama layout share
# `llama.read_llama_like`, which branches on the family's named traits.
_LLAMA_LIKE = (
    "llama", "mistral", "mixtral", "qwen2", "qwen2_moe", "qwen3", "qwen3_moe", "gemma",
    "gemma2", "gemma3_text", "olmo", "olmo2", "llama4_text", "cohere", "cohere2", "glm",
    "glm4", "glm4_moe", "dots1", "smollm3", "seed_oss", "ernie4_5", "ernie4_5_moe",
    "granite", "granitemoe", "granitemoeshared", "exaone4", "hunyuan_v1_dense",
    "hunyuan_v1_moe", "olmoe", "phimoe", "minimax_m2", "internlm", "internlm2", "minicpm",
    "stablelm", "orion", "deepseek",
)
_READERS: dict[str, Callable[[Fields, str], ModelSpec | None]] = {
    **dict.fromkeys(_LLAMA_LIKE, llama.read_llama_like),
    "phi3": llama.read_phi3,
    "gpt_oss": llama.read_gpt_oss,
    "gpt2": classic.read_gpt2,
    "gpt_bigcode": classic.read_gpt2,
    "gpt_neox": classic.read_gpt_neox,
    "falcon": classic.read_falcon,
    "opt": classic.read_opt,
    "bloom": classic.read_bloom,
    "gptj": classic.read_gptj,
    "mpt": classic.read_mpt,
    "phi": classic.read_phi,
    "starcoder2": classic.read_starcoder2,
    "qwen": classic.read_qwen,
    "chatglm": classic.read_chatglm,
    "exaone": classic.read_exaone,
    "deepseek_v2": mla.read_deepseek,
    "deepseek_v3": mla.read_deepseek,
    "deepseek_v32": mla.read_deepseek,
    "minicpm3": mla.read_deepseek,
    "mamba": hybrid.read_mamba,
    "mamba2": hybrid.read_mamba2,
    "jamba": hybrid.read_jamba,
    "nemotron_h": hybrid.read_nemotron_h,
    "falcon_h1": hybrid.read_falcon_h1,
    "granitemoehybrid": hybrid.read_granitemoehybrid,
    "lfm2": hybrid.read_lfm2,
    "qwen3_next": hybrid.read_qwen3_next,
    "qwen3_5_text": hybrid.read_qwen3_next,
    "qwen3_5_moe_text": hybrid.read_qwen3_next,
}

# model_type spellings that name a family above: older or hub-specific names, and models
# whose config.json says its own model_type but whose architecture is a known family
# (each as its config.json and transformers' auto classes have it).
_MODEL_TYPE_ALIASES = {
    "RefinedWebModel": "falcon",  # Falcon-7B's first config.json (modeling_RW.py)
    "RefinedWeb": "falcon",  # Falcon-40B's first config.json
    "kimi_k2": "deepseek_v3",  # Kimi-K2: architectures DeepseekV3ForCausalLM
    "chatglm": "chatglm",
    "internlm2": "internlm2",
    "minicpm": "minicpm",
    "qwen": "qwen",
    "phi-msft": "phi",  # phi-1.5 and phi-2's first config.json (remote code)
    # the language models of multimodal wrappers (their text_config model_type, v5)
    "qwen2_vl_text": "qwen2",
    "qwen2_5_vl_text": "qwen2",
    "qwen3_vl_text": "qwen3",
    "qwen3_vl_moe_text": "qwen3_moe",
    "ministral3": "mistral",
}

# architectures[0] -> family, for a config whose model_type is unknown or absent
_ARCHITECTURES = {
    "LlamaForCausalLM": "llama",
    "MistralForCausalLM": "mistral",
    "MixtralForCausalLM": "mixtral",
    "Qwen2ForCausalLM": "qwen2",
    "Qwen3ForCausalLM": "qwen3",
    "Qwen3MoeForCausalLM": "qwen3_moe",
    "DeepseekV2ForCausalLM": "deepseek_v2",
    "DeepseekV3ForCausalLM": "deepseek_v3",
    "DeepseekV32ForCausalLM": "deepseek_v32",
    "RWForCausalLM": "falcon",
    "FalconForCausalLM": "falcon",
    "MPTForCausalLM": "mpt",
    "GPTJForCausalLM": "gptj",
    "BloomForCausalLM": "bloom",
    "OPTForCausalLM": "opt",
    "PhiForCausalLM": "phi",
    "QWenLMHeadModel": "qwen",
    "ChatGLMModel": "chatglm",
    "ChatGLMForConditionalGeneration": "chatglm",
    "InternLM2ForCausalLM": "internlm2",
    "MiniCPMForCausalLM": "minicpm",
    "MiniCPM3ForCausalLM": "minicpm3",
    "ExaoneForCausalLM": "exaone",
    "GPTNeoXForCausalLM": "gpt_neox",
    "GPT2LMHeadModel": "gpt2",
}

# Wrappers whose language model is a nested config (multimodal models), the key it is
# under, and the text model_type when the nested config leaves it out.
_NESTED_KEYS = ("text_config", "llm_config", "language_config")
_WRAPPER_TEXT_TYPES = {
    "gemma3": "gemma3_text",
    "llama4": "llama4_text",
    "mistral3": "mistral",
    "llava": "llama",
    "qwen2_5_vl": "qwen2",
    "qwen2_vl": "qwen2",
    "qwen3_vl": "qwen3",
    "qwen3_vl_moe": "qwen3_moe",
    "qwen3_5": "qwen3_5_text",
    "qwen3_5_moe": "qwen3_5_moe_text",
}

# the wrapper classes' tie_word_embeddings default (configuration_<wrapper>.py, v5)
_WRAPPER_TIED = {
    "gemma3": True, "mistral3": True, "llama4": False, "llava": False, "qwen2_vl": False,
    "qwen2_5_vl": False, "qwen3_vl": False, "qwen3_vl_moe": False, "qwen3_5": False,
    "qwen3_5_moe": False,
}
_FORWARDS_TEXT_TIE = frozenset({"llava", "qwen2_vl", "qwen2_5_vl"})

# Families vramcalc knows and refuses by name: transformers builds them differently from
# any reader here, and a count from another family's reader would be silently wrong.
_REFUSED = {
    "gemma3n": "Gemma 3n (per-layer embeddings, AltUp and LAuReL blocks, KV sharing across "
    "layers, and its audio and vision towers)",
    "gemma3n_text": "Gemma 3n's language model (per-layer embeddings, AltUp, LAuReL, KV sharing)",
    "falcon_mamba": "Falcon Mamba",
    "zamba": "Zamba (a shared attention block over Mamba layers)",
    "zamba2": "Zamba 2 (shared attention blocks with LoRA adapters over Mamba-2 layers)",
    "bamba": "Bamba (Mamba-2 hybrid)",
    "rwkv": "RWKV",
    "recurrent_gemma": "RecurrentGemma (Griffin)",
    "xlstm": "xLSTM",
    "kimi_linear": "Kimi Linear (KDA linear attention)",
    "minimax": "MiniMax-Text-01 (lightning attention)",
    "lfm2_moe": "LFM2-MoE",
    "baichuan": "Baichuan (remote code)",
    "rwkv5": "RWKV-5 (remote code)",
    "rwkv6": "RWKV-6 (remote code)",
    "phi3_v": "Phi-3 vision (remote code; a CLIP tower inside the decoder)",
    "t5": "T5 (an encoder-decoder)",
    "bart": "BART (an encoder-decoder)",
    "whisper": "Whisper (speech encoder-decoder)",
    "bert": "BERT (an encoder)",
}

# Keys a Llama-style reading cannot interpret: a config of an unknown model_type that has
# any of them describes experts, latent attention, recurrent layers, a different block
# layout or naming, and is refused rather than counted as a dense Llama.
_UNINTERPRETABLE = (
    "num_experts", "num_local_experts", "n_routed_experts", "moe_num_experts",
    "moe_intermediate_size", "num_experts_per_tok", "moe_topk", "moe_k",
    "kv_lora_rank", "q_lora_rank", "qk_rope_head_dim",
    "layers_block_type", "hybrid_override_pattern", "attn_layer_period", "full_attn_idxs",
    "linear_num_value_heads", "linear_key_head_dim", "full_attention_interval",
    "ssm_state_size", "state_size", "mamba_d_state", "mamba_n_heads", "conv_kernel",
    "d_model", "n_embd", "n_layer", "n_layers", "num_layers", "n_head", "n_heads",
    "ffn_dim", "ffn_hidden_size", "n_inner", "multi_query", "multi_query_group_num",
    "parallel_attn", "vision_config", "audio_config", "encoder_layers", "decoder_layers",
    "num_kv_shared_layers", "altup_num_inputs", "hidden_size_per_layer_input",
)


def from_config(
    config: Mapping[str, Any], collector: Collector, *, path: str = "model.config", name: str = ""
) -> ModelSpec | None:
    """Read a config.json dict into a ModelSpec; problems go to `collector`.

    The family is resolved from `model_type`, then `architectures`, then a nested
    `text_config` / `llm_config` / `language_config` (multimodal wrappers, whose vision
    tower is counted when vramcalc knows it). Returns None when the config cannot describe
    a model (the problems say why).
    """
    if not isinstance(config, dict):
        collector.add(path, "must be an object (the model's config.json)")
        return None
    if not _within_limits(config, collector, path):
        return None
    model_type = config.get("model_type")
    if model_type is not None and not isinstance(model_type, str):
        collector.add(f"{path}.model_type", f"must be a string, got {show(model_type)}")
        return None
    family = _family(config, model_type)
    if family is None and model_type in _REFUSED:
        collector.add(path, f"model_type {model_type!r} ({_REFUSED[model_type]}) is not "
                      "supported: its parameter count cannot be read from config.json yet")
        return None
    if family is None and (model_type in _WRAPPER_TEXT_TYPES or _nested_key(config)):
        return _read_wrapper(config, collector, path, name, model_type)
    notes: list[str] = []
    if family is None:
        family = "generic"
        if not _generic_readable(config, collector, path, model_type):
            return None
        notes.append(
            f"model_type {show(model_type)} is not one of the supported families; it is read as a "
            "generic Llama-style decoder (RMSNorm, gated MLP, separate q/k/v/o projections), "
            "so its counts may be off"
        )
    fields = Fields(config, collector, path)
    before = len(collector.problems)
    reader = _READERS.get(family, llama.read_llama_like)
    spec = reader(fields, family)
    if spec is None or len(collector.problems) > before:
        return None
    most = catalogs.bound("parameters")
    if spec.total_parameters > most:
        collector.add(path, f"describes {spec.total_parameters:,} parameters, more than "
                      f"{most:,}: no real model is that large; check its sizes")
        return None
    return with_changes(
        spec, name=name or str(config.get("_name_or_path") or model_type or "model"),
        model_type=str(model_type or "unknown"), notes=(*notes, *spec.notes))


def _family(config: Mapping[str, Any], model_type: str | None) -> str | None:
    """The reader's family: by model_type, then by architectures[0]; None if neither."""
    if model_type in _READERS:
        return model_type
    if model_type in _MODEL_TYPE_ALIASES:
        return _MODEL_TYPE_ALIASES[model_type]
    architectures = config.get("architectures")
    if isinstance(architectures, list) and architectures:
        return _ARCHITECTURES.get(str(architectures[0]))
    return None


def _nested_key(config: Mapping[str, Any]) -> str | None:
    return next((k for k in _NESTED_KEYS if isinstance(config.get(k), dict)), None)


def _generic_readable(
    config: Mapping[str, Any], collector: Collector, path: str, model_type: object
) -> bool:
    """Whether an unknown model_type's config can be read as a Llama-style decoder: no field
    that reading cannot interpret. Otherwise one problem names the type and the fields."""
    seen = [key for key in _UNINTERPRETABLE if config.get(key) is not None]
    types = config.get("layer_types")
    if isinstance(types, list):
        odd = sorted({str(t) for t in types} - {"full_attention", "sliding_attention",
                                                 "attention", "chunked_attention"})
        if odd:
            more = f", {len(odd) - 3:,} more" if len(odd) > 3 else ""
            cut = [t if len(t) <= 40 else t[:37] + "..." for t in odd[:3]]
            seen.append(f"layer_types ({', '.join(cut)}{more})")
    if not seen:
        return True
    collector.add(path, f"model_type {show(model_type)} is not a supported family, and its config "
                  f"has fields a Llama-style reading cannot interpret ({', '.join(seen)}): "
                  "refused rather than counted as a dense Llama")
    return False


def _read_wrapper(
    config: Mapping[str, Any], collector: Collector, path: str, name: str, model_type: object
) -> ModelSpec | None:
    """A multimodal wrapper: the language model from its nested config, the vision tower
    from `vision_config` (vision.py) where vramcalc knows it."""
    key = _nested_key(config) or "text_config"
    text = config.get(key)
    if not isinstance(text, dict):
        collector.add(f"{path}.{key}", "is required for a multimodal config")
        return None
    inner_type = text.get("model_type") or _WRAPPER_TEXT_TYPES.get(str(model_type), "llama")
    # Gemma 3's published multimodal configs leave out text_config fields equal to
    # Gemma3TextConfig's defaults (gemma-3-4b-it has no vocab_size or head counts):
    # fill them in as transformers does (configuration_gemma3.py, v5).
    # The outer config's dtype and tying apply unless the text config sets its own.
    outer = {k: config[k] for k in ("torch_dtype", "dtype", "tie_word_embeddings")
             if k in config}
    merged = {**_TEXT_CONFIG_DEFAULTS.get(str(model_type), {}), **outer, **text}
    merged["model_type"] = inner_type
    if model_type in _WRAPPER_TIED:
        # transformers v5 ties a wrapper's embeddings by the outer config (the wrapper
        # class's default where it is silent); LLaVA and Qwen2(.5)-VL also forward a
        # text_config that ties ("pre-v5 saves placed tie_word_embeddings inside
        # text_config", configuration_qwen2_5_vl.py / configuration_llava.py)
        tie = config.get("tie_word_embeddings", _WRAPPER_TIED[str(model_type)])
        if model_type in _FORWARDS_TEXT_TIE:
            tie = tie or text.get("tie_word_embeddings") is True
        merged["tie_word_embeddings"] = tie
    spec = from_config(merged, collector, path=f"{path}.{key}", name=name)
    if spec is None:
        return None
    tower = vision.read_vision(config, spec, collector, path)
    if tower is None and collector.problems:
        return None
    if tower is not None:
        note = (f"{model_type} is multimodal: its vision encoder and projector "
                f"({tower.parameters:,} parameters) are in the weights, outside the language "
                "model's parameter count; images (request field `images`) add their tokens")
    else:
        note = (f"{model_type} is multimodal: only its language model ({key}) is counted; "
                "its vision tower is not described in the config")
    return with_changes(spec, model_type=str(model_type), vision=tower,
                        notes=(note, *spec.notes))


def _within_limits(config: Mapping[str, Any], collector: Collector, path: str) -> bool:
    """Every count and size of the config below its bound (data/limits.json), checked
    before any work, so that the cost of reading a config is bounded whatever it says."""
    ok = True
    for key, limit in catalogs.limits()["config"].items():
        for name in (key, *limit.get("aliases", ())):
            value = config.get(name)
            if isinstance(value, int) and not isinstance(value, bool) and value > limit["max"]:
                collector.add(f"{path}.{name}",
                              f"at most {limit['max']:,} ({limit['why']}); got {count(value)}")
                ok = False
    return ok


_CACHE: dict[str, ModelSpec] = {}
_CACHE_SIZE = 32


def from_config_cached(
    config: Mapping[str, Any], collector: Collector, *, path: str = "model.config", name: str = ""
) -> ModelSpec | None:
    """`from_config`, remembering the last few successful reads by the config's canonical
    JSON (a page recomputes the same pasted config on every keystroke)."""
    try:
        key = json.dumps([config, path, name], sort_keys=True)
    except (TypeError, ValueError, RecursionError):
        return from_config(config, collector, path=path, name=name)
    spec = _CACHE.get(key)
    if spec is not None:
        return spec
    spec = from_config(config, collector, path=path, name=name)
    if spec is not None:
        if len(_CACHE) >= _CACHE_SIZE:
            _CACHE.pop(next(iter(_CACHE)))
        _CACHE[key] = spec
    return spec


_PRESETS: dict[str, ModelSpec] = {}  # by preset id: a catalog config is read-only


def preset_spec(preset: str, config: Mapping[str, Any], collector: Collector, *,
                name: str) -> ModelSpec | None:
    """`from_config_cached` for a catalog preset, remembered by its id (no key to build)."""
    spec = _PRESETS.get(preset)
    if spec is None:
        spec = from_config_cached(config, collector, path="model.preset", name=name)
        if spec is not None:
            _PRESETS[preset] = spec
    return spec
