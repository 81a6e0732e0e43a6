"""KV cache geometry and bytes (kv_cache.py), with the published cross-checks."""

from __future__ import annotations

import pytest
from conftest import estimate, preset_config, spec_of
from test_architecture import tiny_deepseek, tiny_llama

from vramcalc import kv_cache

GiB = 1 << 30
MiB = 1 << 20


def per_token_bf16(model_id: str) -> int:
    return int(kv_cache.bytes_per_token(kv_cache.geometry(spec_of(preset_config(model_id))), 16))


def test_tiny_gqa_by_hand() -> None:
    # 2 (K and V) x 2 layers x 1 KV head x head_dim 4 x 2 bytes = 32 B per token
    geo = kv_cache.geometry(spec_of(tiny_llama()))
    assert kv_cache.bytes_per_token(geo, 16) == 32
    # 3 sequences of 5 tokens: 32 * 15
    assert kv_cache.cache_bytes(geo, bits=16, sequences=3, tokens=5) == 480


def test_tiny_mla_caches_the_latent() -> None:
    # 2 layers x (kv_lora_rank 4 + rope 2) x 2 bytes = 24 B per token (one latent "head")
    geo = kv_cache.geometry(spec_of(tiny_deepseek()))
    assert kv_cache.bytes_per_token(geo, 16) == 24


def test_sliding_window_layers_hold_at_most_the_window() -> None:
    config = tiny_llama(layer_types=["sliding_attention", "full_attention"], sliding_window=4)
    geo = kv_cache.geometry(spec_of(config))
    # each layer: 2 x 1 x 4 = 8 elements per token; 10 tokens: full layer 10, window layer 4
    assert kv_cache.cache_bytes(geo, bits=16, sequences=1, tokens=10) == (10 + 4) * 8 * 2
    assert kv_cache.cache_bytes(geo, bits=16, sequences=1, tokens=10,
                                windows_hold_all=True) == 20 * 8 * 2


# Per-token KV at bf16, as vLLM's page size gives it (vllm/v1/kv_cache_interface.py:
# block_size · kv_heads · (head_size + head_size_v) · dtype bytes per layer; the rows and the
# source's URL are in tests/data/published_serving.json "vllm_kv_bytes_per_token").
CROSS_CHECKS = [
    ("meta-llama/Llama-3.1-8B", 131_072),  # 2 * 32 layers * 8 heads * 128 * 2 B
    ("Qwen/Qwen3-8B", 147_456),  # 2 * 36 * 8 * 128 * 2
    ("Qwen/Qwen2.5-14B", 196_608),  # 2 * 48 * 8 * 128 * 2
    ("meta-llama/Meta-Llama-3-70B", 327_680),  # 2 * 80 * 8 * 128 * 2
    ("deepseek-ai/DeepSeek-V3", 70_272),  # 61 * (512 + 64) * 2 (MLA latent)
]


@pytest.mark.parametrize(("model_id", "expected"), CROSS_CHECKS)
def test_kv_per_token_cross_checks(model_id: str, expected: int) -> None:
    assert per_token_bf16(model_id) == expected


def test_qwen3_8b_32k_tokens_is_4_5_gib_as_vllm_reports() -> None:
    response = estimate(model={"preset": "Qwen/Qwen3-8B"}, context_length=32768)
    kv = next(c for c in response["components"] if c["name"] == "kv_cache")
    assert kv["bytes"] == int(4.5 * GiB)


def _llama_cpp_rows() -> list[tuple[int, int, int, int]]:
    """llama.cpp 'llama_kv_cache' log lines: f16 K+V size for n layers x n_ctx cells
    (tests/data/published_serving.json "llama_cpp_kv_log": the line llama.cpp's
    src/llama-kv-cache.cpp prints)."""
    return [
        # (layers, kv_heads * head_dim, cells, logged MiB)
        (80, 8 * 128, 4096, 1280),  # Llama-3-70B class
        (32, 32 * 96, 4096, 1536),  # Phi-3-mini class, MHA 3072
        (36, 8 * 128, 131072, 18432),  # Qwen3-8B class
        (16, 8 * 64, 4096, 128),  # Llama-3.2-1B class
        (28, 8 * 128, 1024, 112),  # Llama-3.2-3B class
    ]


@pytest.mark.parametrize(("layers", "width", "cells", "mib"), _llama_cpp_rows())
def test_llama_cpp_logged_f16_sizes(layers: int, width: int, cells: int, mib: int) -> None:
    heads, head_dim = (width // 128, 128) if width % 128 == 0 else (32, 96)
    if width == 8 * 64:
        heads, head_dim = 8, 64
    config = tiny_llama(num_hidden_layers=layers, num_attention_heads=heads,
                        num_key_value_heads=heads, head_dim=head_dim, hidden_size=heads * head_dim)
    geo = kv_cache.geometry(spec_of(config))
    assert kv_cache.cache_bytes(geo, bits=16, sequences=1, tokens=cells) == mib * MiB


def test_gemma3_windows_cut_long_context_kv() -> None:
    spec = spec_of(preset_config("google/gemma-3-27b-it"))
    geo = kv_cache.geometry(spec)
    assert geo.windowed == ((1024, geo.windowed[0][1]),)
    full = kv_cache.cache_bytes(geo, bits=16, sequences=1, tokens=131072, windows_hold_all=True)
    windowed = kv_cache.cache_bytes(geo, bits=16, sequences=1, tokens=131072)
    # 10 of 62 layers are global: at 128k tokens the windowed cache is ~5-6x smaller
    assert 5 < full / windowed < 6.2
