"""LoRA adapters: which weights a `target_modules` list names, and how many parameters the
adapters add, counted exactly from the model's tensor inventory.

A LoRA adapter on a linear weight `W` (out x in) adds `A` (r x in) and `B` (out x r):
`r · (in + out)` parameters (Hu et al. 2021, eq. 3; PEFT `lora/layer.py` `update_layer`).
Grouped-query attention makes `k_proj`/`v_proj` narrower (`out = g·d`), and their adapters
with them. A stacked MoE expert tensor holds one matrix per expert; PEFT's
`target_parameters` puts one adapter on each (`r · (in + out) · experts`). DoRA adds one
magnitude per output feature of each adapted weight (Liu et al. 2024, eq. 5).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .architecture import ModelSpec, TensorGroup

ALL_LINEAR = "all-linear"

# Module names as they appear in transformers' model files -> tensor roles
# (architecture.py). `c_proj` is GPT-2's name for both the attention output and the MLP
# down projection, and `dense` is NeoX's attention output, so one name can mean two roles.
MODULE_ROLES: dict[str, tuple[str, ...]] = {
    "q_proj": ("attn_q",),
    "k_proj": ("attn_k",),
    "v_proj": ("attn_v",),
    "o_proj": ("attn_output",),
    "qkv_proj": ("attn_qkv",),  # Phi-3
    "c_attn": ("attn_qkv",),  # GPT-2
    "query_key_value": ("attn_qkv",),  # GPT-NeoX, Falcon
    "dense": ("attn_output",),  # GPT-NeoX, Falcon
    "c_proj": ("attn_output", "ffn_down"),  # GPT-2
    "q_a_proj": ("attn_q_a",),  # DeepSeek MLA
    "q_b_proj": ("attn_q_b",),
    "kv_a_proj_with_mqa": ("attn_kv_a",),
    "kv_b_proj": ("attn_kv_b",),
    "gate_proj": ("ffn_gate", "ffn_gate_shexp"),
    "up_proj": ("ffn_up", "ffn_up_shexp"),
    "down_proj": ("ffn_down", "ffn_down_shexp"),
    "gate_up_proj": ("ffn_gate_up",),  # Phi-3
    "c_fc": ("ffn_up",),  # GPT-2
    "dense_h_to_4h": ("ffn_up",),  # GPT-NeoX, Falcon
    "dense_4h_to_h": ("ffn_down",),
    "experts": ("ffn_gate_exps", "ffn_up_exps", "ffn_down_exps", "ffn_gate_up_exps"),
    "lm_head": ("output",),
    "embed_tokens": ("token_embd",),
}

# PEFT's "all-linear": every nn.Linear except the output layer (peft/tuners/tuners_utils.py
# `_maybe_include_all_linear_layers`). transformers v5 stores MoE experts as stacked
# parameters, not nn.Linear, and its routers are not nn.Linear either: neither is included.
_ALL_LINEAR_ROLES = frozenset({
    "attn_q", "attn_k", "attn_v", "attn_qkv", "attn_output", "attn_q_a", "attn_q_b",
    "attn_kv_a", "attn_kv_b", "ffn_gate", "ffn_up", "ffn_down", "ffn_gate_up",
    "ffn_gate_shexp", "ffn_up_shexp", "ffn_down_shexp",
})


@dataclass(frozen=True, kw_only=True, slots=True)
class AdapterGroup:
    """Adapters on every tensor of one TensorGroup."""

    role: str
    in_features: int
    out_features: int
    modules: int  # adapted matrices: tensors x experts
    parameters: int  # r·(in + out) per matrix (+ out for DoRA)


def known_modules() -> list[str]:
    return sorted(MODULE_ROLES)


def target_roles(targets: tuple[str, ...] | str) -> frozenset[str]:
    """Tensor roles named by a target list (names from MODULE_ROLES) or "all-linear"."""
    if targets == ALL_LINEAR:
        return _ALL_LINEAR_ROLES
    roles: set[str] = set()
    for name in targets:
        roles.update(MODULE_ROLES.get(name, ()))
    return frozenset(roles)


def adapters(
    spec: ModelSpec, targets: tuple[str, ...] | str, rank: int, *, dora: bool = False
) -> tuple[AdapterGroup, ...]:
    """One AdapterGroup per targeted TensorGroup of `spec`, with its exact parameter count."""
    roles = target_roles(targets)
    out = []
    for group in spec.tensors:
        if group.role not in roles or group.in_features == 0:
            continue
        out.append(_adapter_group(group, rank, dora))
    return tuple(out)


def _adapter_group(group: TensorGroup, rank: int, dora: bool) -> AdapterGroup:
    modules = group.count * group.experts
    per_matrix = rank * (group.in_features + group.out_features)  # A: r x in, B: out x r
    if dora:
        per_matrix += group.out_features  # magnitude vector m
    return AdapterGroup(
        role=group.role,
        in_features=group.in_features,
        out_features=group.out_features,
        modules=modules,
        parameters=per_matrix * modules,
    )


def unmatched(spec: ModelSpec, targets: tuple[str, ...]) -> list[str]:
    """Target names that name no tensor of this model (a typo, or another family's name)."""
    present = {group.role for group in spec.tensors}
    return [name for name in targets if not present & set(MODULE_ROLES.get(name, ()))]
