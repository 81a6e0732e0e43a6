"""A checkpoint's own weight format (vramcalc/checkpoint.py): every quantization method's
config read into its exact stored bytes, ignore lists, the dtype default per engine."""

from __future__ import annotations

from typing import Any

import pytest
from conftest import load_json, preset_config, problems, spec_of

import vramcalc
from vramcalc import catalogs, checkpoint, formats, modules
from vramcalc.components import Warning
from vramcalc.errors import Collector

# tests/data/quantization_configs.json: each config with where it comes from
CONFIGS = {entry["id"]: entry for entry in load_json("quantization_configs.json")["configs"]}

# A tiny Llama: hidden 256, 2 layers, 4 heads of 64, 2 KV heads, MLP 512, vocab 1,000, untied.
# Per layer (rows = outputs x cols = inputs): q 256x256, k 128x256, v 128x256, o 256x256,
# gate 512x256, up 512x256, down 256x512: 589,824 weights, 2,048 rows, 2,048 inputs, 7
# matrices; two layers: LINEAR 1,179,648 weights, 4,096 rows, 4,096 inputs, 14 matrices.
# Groups of 128 inputs: 2 per row (4 for down): 9,216; of 64: 18,432; of 16: 73,728.
# Dense rest: embeddings 256,000 + lm_head 256,000 + norms 1,280 = 513,280 weights, in
# bf16 1,026,560 bytes. All bf16: 1,692,928 weights, 3,385,856 bytes.
TINY: dict[str, Any] = {
    "model_type": "llama", "hidden_size": 256, "intermediate_size": 512,
    "num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 2,
    "vocab_size": 1000, "max_position_embeddings": 4096, "tie_word_embeddings": False,
    "torch_dtype": "bfloat16",
}
LINEAR, ROWS, INPUTS, MATRICES = 1_179_648, 4_096, 4_096, 14
REST_BYTES = 1_026_560

# A tiny DeepSeek-V3 (MLA, layer 0 dense, layer 1 MoE with 4 experts of 128 and one shared)
TINY_DEEPSEEK: dict[str, Any] = {
    "model_type": "deepseek_v3", "hidden_size": 256, "intermediate_size": 512,
    "moe_intermediate_size": 128, "num_hidden_layers": 2, "num_attention_heads": 2,
    "num_key_value_heads": 2, "kv_lora_rank": 128, "q_lora_rank": 128,
    "qk_nope_head_dim": 64, "qk_rope_head_dim": 64, "v_head_dim": 64, "n_routed_experts": 4,
    "n_shared_experts": 1, "num_experts_per_tok": 2, "first_k_dense_replace": 1,
    "vocab_size": 1000, "max_position_embeddings": 4096, "tie_word_embeddings": False,
    "torch_dtype": "bfloat16",
}
# A tiny Qwen3-MoE: 2 layers of attention (as TINY) and 4 experts of 128
TINY_QWEN3_MOE: dict[str, Any] = {
    "model_type": "qwen3_moe", "hidden_size": 256, "intermediate_size": 512,
    "moe_intermediate_size": 128, "num_hidden_layers": 2, "num_attention_heads": 4,
    "num_key_value_heads": 2, "head_dim": 64, "num_experts": 4, "num_experts_per_tok": 2,
    "vocab_size": 1000, "max_position_embeddings": 4096, "tie_word_embeddings": False,
    "torch_dtype": "bfloat16",
}


def _bytes(linear_bits: float) -> int:
    """Quantized linear bits of TINY, in bytes, plus its dense rest."""
    assert linear_bits % 8 == 0
    return int(linear_bits) // 8 + REST_BYTES


def read(quant: dict[str, Any], model: dict[str, Any] | None = None, *,
         engine: str = "transformers", gpu: str | None = None
         ) -> tuple[catalogs.WeightFormat, int, list[str], list[tuple[str, str]]]:
    """(format, weight bytes, warning codes, problems) of a model with `quant`."""
    config = {**(model or TINY), "quantization_config": quant}
    collector = Collector()
    spec = spec_of(config)
    fmt, warnings = checkpoint.resolve(config, spec, collector, path="model.config",
                                       engine=engine, gpu=gpu)
    return (fmt, formats.weights_bytes(fmt, spec), [w.code for w in warnings],
            [(p.field, p.message) for p in collector.problems])


def test_the_tiny_model_is_what_the_comments_say() -> None:
    spec = spec_of(TINY)
    linear = [g for g in spec.tensors if g.role in formats.LINEAR_ROLES]
    assert sum(g.total for g in linear) == LINEAR
    assert sum(g.count * g.out_features for g in linear) == ROWS
    assert sum(g.count * g.in_features for g in linear) == INPUTS
    assert sum(g.count for g in linear) == MATRICES
    assert 2 * (spec.total_parameters - LINEAR) == REST_BYTES
    assert formats.weights_bytes(catalogs.weight_formats()["bf16"], spec) == 3_385_856


def test_every_config_names_where_it_comes_from() -> None:
    assert len(CONFIGS) == 26
    for entry in CONFIGS.values():
        assert entry["provenance"] in ("copy", "library"), entry["id"]
        assert entry.get("source_copy" if entry["provenance"] == "copy"
                         else "provenance_note"), entry["id"]
        assert isinstance(entry["quantization_config"], dict)


# (config id, format id, weight bytes of TINY) -- the bits of the quantized linears, by hand
TINY_CASES = [
    # NF4 + double quant: 4 bits, an 8-bit absmax per 64 (18,432 blocks), an fp32 scale per
    # 256 blocks (per matrix: q 4, k 2, v 2, o 4, gate 8, up 8, down 8 = 36 a layer -> 72)
    ("bnb-nf4-double-quant", "nf4", _bytes(LINEAR * 4 + 18_432 * 8 + 72 * 32)),
    # transformers' 4-bit defaults: fp4, no double quant: an fp32 absmax per 64
    ("bnb-fp4-defaults", "fp4-no-dq", _bytes(LINEAR * 4 + 18_432 * 32)),
    # GPTQ 4-bit, group 128: per group an fp16 scale + a 4-bit zero (20 bits); an int32 g_idx
    # per input (stored with or without desc_act)
    ("gptq-4bit-desc-act", "gptq-int4", _bytes(LINEAR * 4 + 9_216 * 20 + INPUTS * 32)),
    ("gptq-3bit-group64", "gptq-int3", _bytes(LINEAR * 3 + 18_432 * 19 + INPUTS * 32)),
    # group -1: one fp16 scale + one 8-bit zero per row
    ("gptq-8bit-per-row", "gptq-int8", _bytes(LINEAR * 8 + ROWS * 24 + INPUTS * 32)),
    ("gptq-2bit", "gptq-int2", _bytes(LINEAR * 2 + 18_432 * 18 + INPUTS * 32)),
    # AWQ GEMM: fp16 scale + packed 4-bit zero per group of 128, no g_idx
    ("awq-gemm", "awq-int4", _bytes(LINEAR * 4 + 9_216 * 20)),
    # compressed-tensors W4A16: bf16 scale per group (symmetric: no zero point) and an
    # int64[2] weight_shape per matrix
    ("ct-w4a16", "w4a16", _bytes(LINEAR * 4 + 9_216 * 16 + MATRICES * 128)),
    # FP8 dynamic: fp8 weights, a bf16 scale per row
    ("ct-fp8-dynamic", "fp8", _bytes(LINEAR * 8 + ROWS * 16)),
    ("ct-w8a8-int8", "int8", _bytes(LINEAR * 8 + ROWS * 16)),
    # NVFP4: 4 bits + an fp8 scale per 16 + fp32 weight and input global scales per matrix
    ("ct-nvfp4", "nvfp4", _bytes(LINEAR * 4 + 73_728 * 8 + MATRICES * 64)),
    # ModelOpt NVFP4: the same stored bits (weight_scale fp8, weight_scale_2, input_scale)
    ("modelopt-nvfp4-qwen3-32b", "nvfp4", _bytes(LINEAR * 4 + 73_728 * 8 + MATRICES * 64)),
    # ModelOpt FP8: fp32 weight_scale and input_scale per matrix
    ("modelopt-fp8", "fp8-tensor", _bytes(LINEAR * 8 + MATRICES * 64)),
    # FBGEMM FP8: an fp32 scale per row, an fp32 input_scale_ub per matrix
    ("fbgemm-fp8", "fbgemm-fp8", _bytes(LINEAR * 8 + ROWS * 32 + MATRICES * 32)),
    # DeepSeek-V3's fp8 block config: an fp32 scale per 128x128 block; blocks per layer:
    # q 2x2, k 1x2, v 1x2, o 2x2, gate 4x2, up 4x2, down 2x4 = 36 -> 72
    ("fp8-block-deepseek-v3", "fp8-block", _bytes(LINEAR * 8 + 72 * 32)),
    # torchao int4: bf16 scale + bf16 zero point per group of 128
    ("torchao-int4", "int4", _bytes(LINEAR * 4 + 9_216 * 32)),
    # torchao float8 dynamic, default granularity: one fp32 scale per matrix
    ("torchao-float8-dynamic", "fp8-tensor", _bytes(LINEAR * 8 + MATRICES * 32)),
    # HQQ 4-bit, group 64: 16-bit scale + 16-bit zero per group
    ("hqq-4bit", "hqq-int4", _bytes(LINEAR * 4 + 18_432 * 32)),
    # HQQ 3-bit: ten values to an int32, packed down the (groups x 64) view: per matrix
    # ceil(groups / 10) * 64 words; q 1,024 groups -> 103, k 512 -> 52, gate/up/down 2,048
    # -> 205: (2*103 + 2*52 + 3*205) * 64 * 32 bits a layer
    ("hqq-3bit", "hqq-int3", _bytes(2 * (2 * 103 + 2 * 52 + 3 * 205) * 64 * 32
                                    + 18_432 * 32)),
    # Quanto int4: 16-bit scale + 16-bit shift per group of 128, two 16-bit activation
    # scales per module
    ("quanto-int4", "quanto-int4", _bytes(LINEAR * 4 + 9_216 * 32 + MATRICES * 32)),
]


@pytest.mark.parametrize(("config_id", "fmt_id", "expected"), TINY_CASES)
def test_each_method_reads_to_its_exact_bytes(config_id: str, fmt_id: str, expected: int
                                              ) -> None:
    fmt, weight_bytes, warnings, found = read(CONFIGS[config_id]["quantization_config"])
    assert (fmt.id, weight_bytes, warnings, found) == (fmt_id, expected, [], [])


def test_every_tiny_case_is_a_config_of_the_data_file() -> None:
    covered = {case[0] for case in TINY_CASES}
    assert covered <= set(CONFIGS)
    methods = {CONFIGS[c]["method"] for c in covered}
    assert methods == {"bitsandbytes", "gptq", "awq", "compressed-tensors", "modelopt",
                       "fbgemm_fp8", "fp8", "torchao", "hqq", "quanto"}


def test_an_explicit_bnb_skip_list_replaces_transformers_default_lm_head() -> None:
    # llm_int8_skip_modules ['model.layers.0.mlp']: layer 0's gate/up/down (393,216 weights)
    # stay bf16 and lm_head (1,000 x 256) is quantized (transformers drops its default skip)
    fmt, weight_bytes, _, _ = read(CONFIGS["bnb-int8-skip"]["quantization_config"])
    int8 = LINEAR - 393_216 + 256_000  # 1,042,432 weights, int8
    rows = 768 + 2_048 + 1_000  # layer 0 attention, layer 1, lm_head: an fp32 SCB each
    dense = 256_000 + 1_280 + 393_216  # embeddings, norms, layer 0's MLP
    assert fmt.id == "bnb-int8"
    assert weight_bytes == (int8 * 8 + rows * 32) // 8 + dense * 2 == 2_358_688


def test_a_compressed_tensors_ignore_list_keeps_lm_head_and_one_layers_projections() -> None:
    # ignore lm_head and layer 0's q/k/v/o by exact name: 196,608 weights (768 rows, 1,536
    # groups of 128, 4 matrices) stay bf16; the other 10 matrices are W4A16
    fmt, weight_bytes, warnings, _ = read(
        CONFIGS["ct-w4a16-ignore-layer"]["quantization_config"])
    kept = 196_608
    quantized_bits = (LINEAR - kept) * 4 + (9_216 - 1_536) * 16 + 10 * 128
    assert fmt.id == "w4a16"
    assert weight_bytes == quantized_bits // 8 + REST_BYTES + kept * 2 == 1_926_816
    assert warnings == []


def test_kimi_k25_quantizes_only_the_routed_experts() -> None:
    # Kimi K2.5's own config (a verbatim copy): int4, group 32, ignore lm_head, attention,
    # shared experts and the dense MLP by `re:` pattern. On a tiny DeepSeek-V3 only layer 1's
    # 4 experts x (gate 128x256, up 128x256, down 256x128) are quantized: 393,216 weights,
    # 12 matrices, groups of 32: per expert 128*8 + 128*8 + 256*4 = 3,072 -> 12,288
    fmt, weight_bytes, warnings, _ = read(CONFIGS["ct-kimi-k2.5"]["quantization_config"],
                                          TINY_DEEPSEEK)
    experts = 393_216
    dense = spec_of(TINY_DEEPSEEK).total_parameters - experts
    assert dense == 1_366_784
    assert fmt.id == "w4a16" and fmt.group_size == 32
    assert weight_bytes == (experts * 4 + 12_288 * 16 + 12 * 128) // 8 + dense * 2
    assert weight_bytes == 2_954_944
    assert warnings == []


def test_the_kimi_config_is_read_from_text_config_too() -> None:
    quant = CONFIGS["ct-kimi-k2.5"]["quantization_config"]
    config = {"model_type": "kimi_k25", "text_config": {"quantization_config": quant}}
    ckpt = checkpoint.read(config, Collector())
    assert ckpt.format is not None and ckpt.format.ignore == tuple(quant["ignore"])


def test_deepseek_v3_fp8_blocks_count_a_partial_block() -> None:
    # kv_a_proj_with_mqa is 192 x 256 in the tiny model: ceil(192 / 128) = 2 row blocks.
    # Blocks: attention per layer q_a 1x2 + q_b 2x1 + kv_a 2x2 + kv_b 2x1 + o 2x1 = 12 (x2);
    # layer 0 MLP gate 4x2 + up 4x2 + down 2x4 = 24; 4 experts x (2 + 2 + 2) = 24; shared 6
    fmt, weight_bytes, _, _ = read(CONFIGS["fp8-block-deepseek-v3"]["quantization_config"],
                                   TINY_DEEPSEEK)
    quantized = 2 * 180_224 + 393_216 + 393_216 + 98_304
    dense = spec_of(TINY_DEEPSEEK).total_parameters - quantized
    blocks = 2 * 12 + 24 + 24 + 6
    assert weight_bytes == (quantized * 8 + blocks * 32) // 8 + dense * 2 == 2_275_128
    # DeepSeek-V3 itself: kv_a_proj_with_mqa 576 x 7168 has 5 x 56 blocks, not 576*7168/16384
    assert formats.matrix_bits(fmt, 576, 7168) == 576 * 7168 * 8 + 5 * 56 * 32


def test_modelopt_exclude_list_with_routers_on_a_small_moe() -> None:
    # nvidia/Qwen3-30B-A3B-NVFP4's exclude list: 48 routers and lm_head. Every linear but
    # lm_head is NVFP4: attention 393,216 + experts 2 x 393,216 weights, 8 + 24 matrices;
    # the routers stay bf16 anyway. Layers 2..47 do not exist here: 46 entries name nothing
    fmt, weight_bytes, warnings, _ = read(
        CONFIGS["modelopt-nvfp4-qwen3-30b-a3b"]["quantization_config"], TINY_QWEN3_MOE)
    assert fmt.id == "nvfp4" and fmt.ignore_syntax == "fnmatch"
    quantized = 393_216 + 786_432
    dense = spec_of(TINY_QWEN3_MOE).total_parameters - quantized
    assert weight_bytes == (quantized * 4 + quantized // 16 * 8 + 32 * 64) // 8 + dense * 2
    assert weight_bytes == 1_694_976
    assert warnings == ["quantization_ignore_unmatched"]


def test_the_unmatched_warning_names_the_entries() -> None:
    quant = CONFIGS["modelopt-nvfp4-qwen3-30b-a3b"]["quantization_config"]
    config = {**TINY_QWEN3_MOE, "quantization_config": quant}
    _, warnings = checkpoint.resolve(config, spec_of(config), Collector(), path="model.config",
                                     engine="vllm", gpu=None)
    assert [w.message for w in warnings] == [
        "46 of the quantization config's ignore entries name no module vramcalc counts "
        "('model.layers.10.mlp.gate', 'model.layers.11.mlp.gate', 'model.layers.12.mlp.gate', "
        "'model.layers.13.mlp.gate', ...); the modules they mean are costed as quantized"]


def test_gpt_oss_mxfp4_quantizes_only_the_experts() -> None:
    config = load_json("hub/openai/gpt-oss-20b/config.json")
    assert config["quantization_config"] == CONFIGS["mxfp4-gpt-oss"]["quantization_config"]
    spec = spec_of(config)
    fmt, warnings = checkpoint.resolve(config, spec, Collector(), path="model.config",
                                       engine="transformers", gpu=None)
    experts = sum(g.total for g in spec.tensors if g.role.endswith("_exps"))
    # 32 e2m1 values + one E8M0 scale = 4.25 bits; the rest (and the expert biases) bf16
    assert fmt.id == "mxfp4" and warnings == ()
    assert formats.weights_bytes(fmt, spec) == (experts * 17 // 4 + (
        spec.total_parameters - experts) * 16) // 8


def test_deepseek_v3_preset_defaults_to_its_fp8_blocks() -> None:
    config = preset_config("deepseek-ai/DeepSeek-V3")
    assert config["quantization_config"] == \
        CONFIGS["fp8-block-deepseek-v3"]["quantization_config"]
    assert checkpoint.checkpoint_format(config) == ("fp8-block", ())


def test_mixed_compressed_tensors_groups_pick_by_name_before_class() -> None:
    # group_0 fp8 per channel for Linear, group_1 W4A16 for the MLP by pattern: the pattern
    # wins for gate/up/down (3 a layer: 786,432 weights, 2 x (1024 + 2 * 1024 / ...) groups)
    fp8 = {"targets": ["Linear"], "weights": {"num_bits": 8, "type": "float",
                                              "strategy": "channel"}, "format": "float-quantized"}
    int4 = {"targets": ["re:.*mlp\\.(gate|up|down)_proj$"],
            "weights": {"num_bits": 4, "type": "int", "strategy": "group", "group_size": 128},
            "format": "pack-quantized"}
    quant = {"quant_method": "compressed-tensors", "format": "mixed-precision",
             "config_groups": {"group_0": fp8, "group_1": int4}, "ignore": ["lm_head"]}
    fmt, weight_bytes, warnings, _ = read(quant)
    attention, mlp = 393_216, 786_432
    # attention: fp8 + bf16 scale per row (768 rows a layer); MLP: int4 + bf16 scale per
    # group (gate/up 512 rows x 2 groups, down 256 x 4: 3,072 a layer) + weight_shape
    bits = attention * 8 + 2 * 768 * 16 + mlp * 4 + 2 * 3_072 * 16 + 6 * 128
    assert (fmt.id, [s.id for s in fmt.schemes]) == ("fp8", ["w4a16"])
    assert weight_bytes == _bytes(bits)
    assert warnings == []


def test_a_preset_scheme_name_maps_to_its_targets() -> None:
    quant = {"quant_method": "compressed-tensors", "format": "pack-quantized",
             "config_groups": {"W4A16": ["Linear"]}, "ignore": ["lm_head"]}
    fmt, weight_bytes, _, _ = read(quant)
    assert fmt.id == "w4a16"
    assert weight_bytes == _bytes(LINEAR * 4 + 9_216 * 16 + MATRICES * 128)


def test_asymmetric_pack_quantized_stores_packed_zero_points() -> None:
    quant = {"quant_method": "compressed-tensors", "format": "pack-quantized",
             "config_groups": {"W4A16_ASYM": ["Linear"]}, "ignore": ["lm_head"]}
    _, weight_bytes, _, _ = read(quant)
    # + a 4-bit zero point per group next to each bf16 scale
    assert weight_bytes == _bytes(LINEAR * 4 + 9_216 * 20 + MATRICES * 128)


# --- the unknown method, the dtype defaults --------------------------------------------


def test_an_unknown_method_is_costed_dense_with_a_warning_that_says_so() -> None:
    quant = CONFIGS["aqlm-unknown"]["quantization_config"]
    config = {**TINY, "quantization_config": quant}
    fmt, warnings = checkpoint.resolve(config, spec_of(config), Collector(),
                                       path="model.config", engine="transformers", gpu=None)
    assert fmt.id == "bf16"
    assert [(w.code, w.message) for w in warnings] == [(
        "quantization_unknown",
        "quantization_config.quant_method 'aqlm' is not a format vramcalc reads; the weights "
        "are costed as the checkpoint's dense dtype (bf16, 16 bits per weight), more than a "
        "quantized checkpoint holds: set weight_format to the closest format")]


FP32_TRANSFORMERS = (
    "the checkpoint is fp32 (config dtype float32): transformers loads it in fp32, 4 bytes "
    "per weight; set weight_format \"bf16\" for from_pretrained(dtype=torch.bfloat16)")


def test_an_fp32_checkpoint_is_fp32_in_transformers_and_bf16_in_vllm() -> None:
    config = {**TINY, "torch_dtype": "float32"}
    assert checkpoint.dense_default("fp32", engine="transformers", gpu=None) == (
        "fp32", (Warning(code="checkpoint_fp32",
                         message=FP32_TRANSFORMERS),))
    fmt_id, warnings = checkpoint.dense_default("fp32", engine="vllm",
                                                 gpu=catalogs.gpus()["h100-sxm"])
    assert fmt_id == "bf16"
    assert [w.message for w in warnings] == [
        "the checkpoint is fp32 (config dtype float32); vLLM's dtype \"auto\" loads it in "
        "bf16 (2 bytes per weight): set weight_format \"fp32\" for --dtype float32"]
    # a GPU without bf16: vLLM's first supported dtype is fp16
    assert checkpoint.dense_default("fp32", engine="vllm", gpu=catalogs.gpus()["t4"])[0] == "fp16"
    assert checkpoint.checkpoint_format(config)[0] == "fp32"


def test_an_fp32_request_costs_4_bytes_per_weight_and_an_fp32_kv_cache() -> None:
    config = {**TINY, "torch_dtype": "float32"}
    answer = vramcalc.estimate({"mode": "inference", "model": {"config": config}})
    assert answer["request"]["weight_format"] == "fp32"
    assert answer["request"]["kv_cache_dtype"] == "fp32"
    assert answer["details"]["kv_cache_bytes_per_token"] == 2 * 2 * 128 * 4  # L·2·g·d·4 B
    assert [w["message"] for w in answer["warnings"]] == [FP32_TRANSFORMERS]
    vllm = vramcalc.estimate({"mode": "inference", "model": {"config": config},
                              "engine": "vllm", "gpu": "h100-sxm"})
    assert (vllm["request"]["weight_format"], vllm["request"]["kv_cache_dtype"]) == (
        "bf16", "bf16")
    assert [w["code"] for w in vllm["warnings"]] == ["checkpoint_fp32_downcast"]


def test_a_config_without_a_dtype_warns_in_transformers_only() -> None:
    config = {k: v for k, v in TINY.items() if k != "torch_dtype"}
    answer = vramcalc.estimate({"mode": "inference", "model": {"config": config}})
    assert answer["request"]["weight_format"] == "bf16"
    assert [w["message"] for w in answer["warnings"]] == [
        "config.json names no dtype (torch_dtype / dtype): the weights are costed as bf16 "
        "(2 bytes per weight); transformers loads them in the dtype they were saved in, fp32 "
        "for older checkpoints such as GPT-2 (4 bytes): set weight_format to match"]
    vllm = vramcalc.estimate({"mode": "inference", "model": {"config": config},
                              "engine": "vllm", "gpu": "h100-sxm"})
    assert vllm["warnings"] == []


def test_llama_cpp_keeps_its_gguf_default() -> None:
    config = {**TINY, "torch_dtype": "float32"}
    answer = vramcalc.estimate({"mode": "inference", "model": {"config": config},
                                "engine": "llama.cpp"})
    assert answer["request"]["weight_format"] == "Q4_K_M"
    assert answer["warnings"] == []


def test_a_quantized_checkpoint_is_the_default_and_its_echo_gives_the_same_answer() -> None:
    config = {**TINY, "quantization_config": CONFIGS["ct-nvfp4"]["quantization_config"]}
    req = {"mode": "inference", "model": {"config": config}, "engine": "vllm",
           "gpu": "h100-sxm"}
    answer = vramcalc.estimate(req)
    assert answer["request"]["weight_format"] == "nvfp4"
    weights = next(c for c in answer["components"] if c["name"] == "weights")
    assert weights["bytes"] == _bytes(LINEAR * 4 + 73_728 * 8 + MATRICES * 64)
    assert vramcalc.estimate(answer["request"]) == answer


def test_a_catalog_format_overrides_the_checkpoints() -> None:
    config = {**TINY, "quantization_config": CONFIGS["ct-nvfp4"]["quantization_config"]}
    answer = vramcalc.estimate({"mode": "inference", "model": {"config": config},
                                "weight_format": "bf16"})
    weights = next(c for c in answer["components"] if c["name"] == "weights")
    assert answer["request"]["weight_format"] == "bf16"
    assert weights["bytes"] >= 3_385_856


# --- problems -----------------------------------------------------------------------------


@pytest.mark.parametrize(("quant", "field", "message"), [
    ({"quant_method": "gptq", "bits": 5}, "model.config.quantization_config.bits",
     "must be 2, 3, 4 or 8 (the widths GPTQ packs), got 5"),
    ({"quant_method": "gptq"}, "model.config.quantization_config.bits",
     "is required: the width GPTQ packs (2, 3, 4 or 8)"),
    ({"quant_method": "gptq", "bits": 4, "group_size": 0},
     "model.config.quantization_config.group_size",
     "must be -1 (one group per row) or a positive integer, got 0"),
    ({"quant_method": "bitsandbytes", "load_in_4bit": False},
     "model.config.quantization_config.load_in_4bit",
     "exactly one of load_in_4bit and load_in_8bit must be true"),
    ({"quant_method": "compressed-tensors", "config_groups": {}},
     "model.config.quantization_config.config_groups",
     "must name at least one quantization scheme"),
    ({"quant_method": "compressed-tensors", "ignore": ["re:(lm_head"],
      "config_groups": {"W4A16": ["Linear"]}},
     "model.config.quantization_config.ignore[0]",
     "'re:(lm_head' is not a valid regular expression (missing ), unterminated subpattern at "
     "position 0)"),
    ({"quant_method": "compressed-tensors", "ignore": ["re:(.*)*_proj"],
      "config_groups": {"W4A16": ["Linear"]}},
     "model.config.quantization_config.ignore[0]",
     "'re:(.*)*_proj' repeats a group that repeats ((a+)+): such a pattern can take "
     "exponential time, and no quantizer writes one"),
    ({"quant_method": "compressed-tensors",
      "config_groups": {f"group_{i}": {"targets": ["Linear"]} for i in range(65)}},
     "model.config.quantization_config.config_groups", "at most 64 schemes, got 65"),
    ({"quant_method": "hqq", "quant_config": {"weight_quant_params": {"nbits": 7}}},
     "model.config.quantization_config.quant_config.weight_quant_params.nbits",
     "must be one of 8, 6, 5, 4, 3, 2, 1.58, 1 (hqq's SUPPORTED_BITS), got 7"),
    ({"quant_method": "fp8", "weight_block_size": [128]},
     "model.config.quantization_config.weight_block_size",
     "must be [rows, cols], got a list of 1 items"),
    ("fp8", "model.config.quantization_config", "must be an object, got 'fp8'"),
])
def test_a_config_its_quantizer_could_not_have_written_is_a_problem(
        quant: Any, field: str, message: str) -> None:
    config = {**TINY, "quantization_config": quant}
    assert problems({"mode": "inference", "model": {"config": config}}) == [(field, message)]


# --- module names and the three matching rules --------------------------------------------


def test_names_follow_the_checkpoints() -> None:
    spec = spec_of(TINY_DEEPSEEK)
    names = {name for g in spec.tensors for _, name, _ in modules.group_names(spec, g)}
    assert {"lm_head", "model.embed_tokens", "model.layers.0.self_attn.kv_a_proj_with_mqa",
            "model.layers.0.mlp.down_proj", "model.layers.1.mlp.experts.3.up_proj",
            "model.layers.1.mlp.shared_experts.gate_proj", "model.layers.1.mlp.gate"} <= names


@pytest.mark.parametrize(("entries", "syntax", "name", "hit"), [
    # transformers: a regex from the start, or a suffix
    (("lm_head",), "transformers", "lm_head", True),
    (("mlp.gate",), "transformers", "model.layers.0.mlp.gate", True),
    (("mlp.gate",), "transformers", "model.layers.0.mlp.gate_proj", False),
    (("model.layers.*.self_attn",), "transformers", "model.layers.3.self_attn.q_proj", True),
    # compressed-tensors: exact names or re: from the start
    (("model.layers.0.mlp",), "compressed-tensors", "model.layers.0.mlp.up_proj", False),
    (("re:.*mlp\\.(gate|up)_proj.*",), "compressed-tensors", "model.layers.1.mlp.up_proj",
     True),
    (("re:.*mlp\\.(gate|up)_proj.*",), "compressed-tensors",
     "model.layers.1.mlp.experts.0.up_proj", False),
    (("Linear",), "compressed-tensors", "model.layers.1.mlp.up_proj", True),
    # ModelOpt: shell wildcards, the module or one under it
    (("model.layers.0.self_attn*",), "fnmatch", "model.layers.0.self_attn.o_proj", True),
    (("model.layers.1",), "fnmatch", "model.layers.1.mlp.up_proj", True),
    (("model.layers.1",), "fnmatch", "model.layers.10.mlp.up_proj", False),
])
def test_matching_rules(entries: tuple[str, ...], syntax: str, name: str, hit: bool) -> None:
    assert modules.matcher(entries, syntax).match(name) is hit


# --- properties ---------------------------------------------------------------------------


def test_more_bits_and_smaller_groups_cost_more() -> None:
    def gptq(bits: int, group: int) -> int:
        return read({"quant_method": "gptq", "bits": bits, "group_size": group})[1]

    by_bits = [gptq(bits, 128) for bits in (2, 3, 4, 8)]
    assert by_bits == sorted(by_bits) and len(set(by_bits)) == 4
    by_group = [gptq(4, group) for group in (32, 64, 128, -1)]
    assert by_group == sorted(by_group, reverse=True) and len(set(by_group)) == 4
    assert all(b < 3_385_856 for b in by_bits + by_group)  # all below bf16


def test_ignoring_more_modules_never_costs_less() -> None:
    base = CONFIGS["ct-w4a16"]["quantization_config"]
    ignores = [["lm_head"], ["lm_head", "re:.*self_attn.*"],
               ["lm_head", "re:.*self_attn.*", "re:.*mlp.down_proj"], ["re:.*"]]
    costs = [read({**base, "ignore": ignore})[1] for ignore in ignores]
    assert costs == sorted(costs) and len(set(costs)) == 4
    assert costs[-1] == 3_385_856  # everything ignored: all bf16
