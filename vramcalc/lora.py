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

from . import memo, modules

if TYPE_CHECKING:
    from .architecture import ModelSpec, TensorGroup

ALL_LINEAR = "all-linear"
EXPERTS = "experts"

# Module names as they appear in transformers' model files -> the tensor roles
# (architecture.py) each can name. A model's own names come from its checkpoint's module
# names (modules.py): `c_proj` is GPT-2's attention output and MLP down projection, but
# only StarCoder2's MLP down projection, so a name is read per model (`target_roles`).
MODULE_ROLES: dict[str, tuple[str, ...]] = {
    "q_proj": ("attn_q",),
    "k_proj": ("attn_k",),
    "v_proj": ("attn_v",),
    "o_proj": ("attn_output",),
    "qkv_proj": ("attn_qkv",),  # Phi-3
    "c_attn": ("attn_qkv",),  # GPT-2, Qwen (v1)
    "query_key_value": ("attn_qkv",),  # GPT-NeoX, Falcon, BLOOM, ChatGLM
    "Wqkv": ("attn_qkv",),  # MPT
    "dense": ("attn_output",),  # GPT-NeoX, Falcon, BLOOM, ChatGLM, Phi
    "out_proj": ("attn_output",),  # OPT, GPT-J, MPT
    "c_proj": ("attn_output", "ffn_down"),  # GPT-2, Qwen (v1): both; StarCoder2: MLP only
    "q_a_proj": ("attn_q_a",),  # DeepSeek MLA
    "q_b_proj": ("attn_q_b",),
    "kv_a_proj_with_mqa": ("attn_kv_a",),
    "kv_b_proj": ("attn_kv_b",),
    "gate_proj": ("ffn_gate", "ffn_gate_shexp"),
    "up_proj": ("ffn_up", "ffn_up_shexp"),
    "down_proj": ("ffn_down", "ffn_down_shexp"),
    "gate_up_proj": ("ffn_gate_up",),  # Phi-3
    "w2": ("ffn_gate",),  # Qwen (v1)
    "w1": ("ffn_up",),
    "c_fc": ("ffn_up",),  # GPT-2, StarCoder2
    "fc1": ("ffn_up",),  # OPT, Phi
    "fc2": ("ffn_down",),
    "fc_in": ("ffn_up",),  # GPT-J
    "fc_out": ("ffn_down",),
    "dense_h_to_4h": ("ffn_up", "ffn_gate_up"),  # GPT-NeoX, Falcon, BLOOM; ChatGLM: gate+up
    "dense_4h_to_h": ("ffn_down",),
    EXPERTS: ("ffn_gate_exps", "ffn_up_exps", "ffn_down_exps", "ffn_gate_up_exps"),
    "lm_head": ("output",),
    "embed_tokens": ("token_embd",),
}

# The order `module_names` lists a model's names in: a layer's (attention, then the MLP, its
# shared and routed experts), then the output layer and the embedding.
_ROLE_ORDER = (
    "attn_q", "attn_k", "attn_v", "attn_qkv", "attn_q_a", "attn_q_b", "attn_kv_a", "attn_kv_b",
    "attn_output", "ffn_gate", "ffn_up", "ffn_gate_up", "ffn_down", "ffn_gate_shexp",
    "ffn_up_shexp", "ffn_down_shexp", "ffn_gate_exps", "ffn_up_exps", "ffn_gate_up_exps",
    "ffn_down_exps", "output", "token_embd",
)

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


def _target_name(spec: ModelSpec, role: str) -> str | None:
    """The name `target_modules` gives a `role` tensor of this model: the last part of its
    module's name in the checkpoint (modules.py), `experts` for the stacked expert tensors
    (transformers v5), or None when LoRA cannot name it here (a router, an SSM projection,
    GPT-2's `wte`)."""
    if role in MODULE_ROLES[EXPERTS]:
        return EXPERTS
    if role in ("output", "token_embd"):
        module = modules.outer_module(spec, role)
    else:
        module = modules.layer_module(spec, role)
    if module is None:
        return None
    name = module.rsplit(".", 1)[-1]
    return name if role in MODULE_ROLES.get(name, ()) else None


@memo.by_spec
def _named_roles(spec: ModelSpec) -> dict[str, frozenset[str]]:
    """This model's target names -> the roles of its tensors each one adapts (read, never
    changed: the answer is remembered)."""
    out: dict[str, set[str]] = {}
    for group in spec.tensors:
        name = _target_name(spec, group.role)
        if name is not None:
            out.setdefault(name, set()).add(group.role)
    return {name: frozenset(roles) for name, roles in out.items()}


def module_names(spec: ModelSpec) -> list[str]:
    """The names `target_modules` can list for this model, in a layer's order: Llama's
    `q_proj` ... `down_proj`, GPT-2's `c_attn`, `c_proj`, `c_fc`; `experts` only with MoE
    experts, MLA's `kv_a_proj_with_mqa` only with MLA; then `lm_head` and `embed_tokens`
    where the model has modules of those names (an untied head, a Llama-style embedding)."""
    named = _named_roles(spec)
    return sorted(named, key=lambda name: min(_ROLE_ORDER.index(r) for r in named[name]))


def target_roles(spec: ModelSpec, targets: tuple[str, ...] | str) -> frozenset[str]:
    """Tensor roles of `spec` named by a target list (its `module_names`) or "all-linear"."""
    if targets == ALL_LINEAR:
        return _ALL_LINEAR_ROLES
    named = _named_roles(spec)
    return frozenset(role for name in targets for role in named.get(name, ()))


def adapters(
    spec: ModelSpec, targets: tuple[str, ...] | str, rank: int, *, dora: bool = False
) -> tuple[AdapterGroup, ...]:
    """One AdapterGroup per targeted TensorGroup of `spec`, with its exact parameter count."""
    roles = target_roles(spec, targets)
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
    """Target names that name no module of this model (another family's name: `c_attn` on
    Llama, `experts` on a dense model)."""
    named = _named_roles(spec)
    return [name for name in targets if name not in named]


def default_targets(spec: ModelSpec) -> tuple[str, ...]:
    """PEFT's default LoRA targets for the family (peft/utils/constants.py
    TRANSFORMERS_MODELS_TO_LORA_TARGET_MODULES_MAPPING): q and v, MLA's q_b (or q) and kv_b,
    or the model's own name for its fused qkv (`c_attn`, `query_key_value`, `Wqkv`,
    `qkv_proj`)."""
    roles = {group.role for group in spec.tensors}
    if {"attn_q", "attn_v"} <= roles:
        return ("q_proj", "v_proj")
    if spec.mla:
        return ("q_b_proj" if "attn_q_b" in roles else "q_proj", "kv_b_proj")
    fused = _target_name(spec, "attn_qkv")
    return (fused,) if fused is not None and "attn_qkv" in roles else ()
