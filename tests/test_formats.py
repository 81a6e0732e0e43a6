"""Weight formats in bits, and GGUF recipes against llama.cpp's published file sizes."""

from __future__ import annotations

import pytest
from conftest import load_json, preset_config, spec_of
from test_architecture import tiny_llama

from vramcalc import catalogs, formats


def fmt(name: str) -> catalogs.WeightFormat:
    return catalogs.weight_formats()[name]


def test_widths_in_bits() -> None:
    # QLoRA section 3: 4-bit NF4 + 8-bit absmax per 64 + fp32 per 256 blocks
    assert fmt("nf4").effective_bits() == 4 + 8 / 64 + 32 / (64 * 256)
    assert fmt("nf4-no-dq").effective_bits() == 4.5  # fp32 absmax per 64
    assert fmt("gptq-int4").effective_bits() == 4 + 20 / 128  # fp16 scale + 4-bit zero
    assert fmt("mxfp4").effective_bits() == 4.25  # e2m1 x 32 + one E8M0 scale
    assert fmt("bf16").effective_bits() == 16


@pytest.mark.parametrize(("ggml", "bits"), [
    # ggml block sizes: bytes per block * 8 / elements per block
    ("Q4_0", 4.5), ("Q8_0", 8.5), ("Q2_K", 2.625), ("Q3_K", 3.4375), ("Q4_K", 4.5),
    ("Q5_K", 5.5), ("Q6_K", 6.5625), ("IQ2_XXS", 2.0625), ("IQ2_S", 2.5625),
    ("IQ3_XXS", 3.0625), ("IQ1_S", 1.5625), ("IQ4_XS", 4.25), ("MXFP4", 4.25),
])
def test_ggml_type_widths(ggml: str, bits: float) -> None:
    size, block = formats.ggml_types()[ggml]
    assert 8 * size / block == bits


def test_tiny_model_dense_and_quantized_bytes() -> None:
    spec = spec_of(tiny_llama(hidden_size=64, num_attention_heads=2, intermediate_size=128,
                              vocab_size=100))
    # bf16: 2 bytes per parameter
    assert formats.weights_bytes(fmt("bf16"), spec) == 2 * spec.total_parameters
    linear = sum(g.total for g in spec.tensors if g.role in formats.LINEAR_ROLES)
    rest = spec.total_parameters - linear
    assert (linear, rest) == (73_728, 13_120)
    # int4 (torchao, group 128): 4 bits per linear weight + 32 bits (bf16 scale and zero) per
    # group; no row is longer than 128 inputs, so each of the 2 x 512 rows (q 64, k 32, v 32,
    # o 64, gate 128, up 128, down 64 per layer) is one group: 73,728 * 4 + 1,024 * 32 bits;
    # the rest 16-bit: 13,120 * 16 bits. (294,912 + 32,768 + 209,920) / 8 = 67,200
    assert formats.weights_bytes(fmt("int4"), spec) == 67_200


# llama.cpp tools/quantize/README.md: whole-file bits per weight for Llama-3.1-8B
# (file size x 8 / parameters; metadata included, hence the 0.02% tolerance); the table and
# its source are in tests/data/published_serving.json
_GGUF = load_json("published_serving.json")["gguf_bits_per_weight"]
LLAMA_31_8B_BPW = {**_GGUF["rows"], **_GGUF["imatrix_rows"]}


def test_the_published_table_has_every_recipe() -> None:
    assert len(LLAMA_31_8B_BPW) == 23


@pytest.mark.parametrize(("recipe", "bpw"), sorted(LLAMA_31_8B_BPW.items()))
def test_gguf_recipes_match_llama_cpp_file_sizes(recipe: str, bpw: float) -> None:
    spec = spec_of(preset_config("meta-llama/Llama-3.1-8B"))
    ours = 8 * formats.weights_bytes(fmt(recipe), spec) / spec.total_parameters
    assert ours == pytest.approx(bpw, rel=2e-4)


def test_quantized_formats_keep_embeddings_and_head_in_16_bit() -> None:
    spec = spec_of(preset_config("meta-llama/Llama-3.1-8B"))
    by_cat = spec.parameters_by_category
    floor = (by_cat["embeddings"] + by_cat["lm_head"] + by_cat["norms"]) * 2
    for name in ("nf4", "gptq-int4", "awq-int4", "fp8", "bnb-int8"):
        assert formats.weights_bytes(fmt(name), spec) > floor


def test_mxfp4_quantizes_only_the_experts() -> None:
    spec = spec_of(preset_config("openai/gpt-oss-20b"))
    experts = spec.parameters_by_category["routed_experts"]
    expert_weights = sum(g.total for g in spec.tensors if g.role.endswith("_exps"))
    rest = spec.total_parameters - expert_weights
    assert expert_weights <= experts
    assert formats.weights_bytes(fmt("mxfp4"), spec) == (expert_weights * 4.25 + rest * 16) / 8
