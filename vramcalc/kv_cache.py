"""KV-cache bytes from the per-layer attention geometry.

Per layer and token, an attention layer that stores every KV head caches
`(g·d_k + g·d_v)` elements (x2 for K and V when d_k = d_v: `2·g·d`), at the KV dtype's width.
MLA layers (DeepSeek-V2/V3) cache the compressed latent instead: `kv_lora_rank +
qk_rope_head_dim` elements per token (576 for DeepSeek-V3), as vLLM (MLAAttentionSpec),
llama.cpp (GGUFs with `key_length_mla`) and transformers v5 (DeepseekV3Attention caches
`kv_nope` and `k_rot` before expansion) all do.
Sliding-window and chunked layers hold at most their window; how many tokens an engine
actually keeps for them is engine behaviour and is decided by the caller (`window_tokens`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .architecture import ModelSpec


@dataclass(frozen=True, kw_only=True, slots=True)
class KVGeometry:
    """Elements cached per token, summed over layers: `full` for layers that keep every
    token, and one entry per distinct window for the windowed layers."""

    full_elements: int
    windowed: tuple[tuple[int, int], ...]  # (window tokens, elements per token summed)
    full_layers: int
    windowed_layers: int

    @property
    def elements_per_token(self) -> int:
        """Elements per token when every layer still holds the token (short contexts)."""
        return self.full_elements + sum(elements for _, elements in self.windowed)


def geometry(spec: ModelSpec) -> KVGeometry:
    """Sum the per-layer cached widths of `spec` (latent width for MLA)."""
    full = 0
    windows: dict[int, int] = {}
    full_layers = windowed_layers = 0
    for layer in spec.attention:
        if layer.kind == "none":
            continue
        width = layer.latent_width if spec.mla else layer.k_width + layer.v_width  # K and V
        if layer.kind == "full" or not layer.window:
            full += width
            full_layers += 1
        else:
            windows[layer.window] = windows.get(layer.window, 0) + width
            windowed_layers += 1
    return KVGeometry(
        full_elements=full,
        windowed=tuple(sorted(windows.items())),
        full_layers=full_layers,
        windowed_layers=windowed_layers,
    )


def cache_bytes(
    geo: KVGeometry, *, bits: float, sequences: int, tokens: int, window_slack: int = 0,
    windows_hold_all: bool = False,
) -> int:
    """Bytes of K and V for `sequences` sequences of `tokens` tokens each.

    A windowed layer holds `min(tokens, window + window_slack)` tokens per sequence
    (`windows_hold_all`: the whole sequence, for engines that keep it until later).
    """
    elements = geo.full_elements * tokens
    for window, per_token in geo.windowed:
        held = tokens if windows_hold_all else min(tokens, window + window_slack)
        elements += per_token * held
    total_bits = elements * sequences * bits
    return math.ceil(total_bits / 8)  # bits may be fractional (q4_0: 4.5): a float ceiling


def bytes_per_token(geo: KVGeometry, bits: float) -> float:
    """Bytes one token adds while every layer still holds it (short contexts)."""
    return geo.elements_per_token * bits / 8
