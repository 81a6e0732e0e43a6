"""Weight formats and KV-cache dtypes, described in bits (data in `data/formats.json`).

Three kinds of weight format:
- `dense`: every tensor in one dtype (fp32, bf16, fp16), as `from_pretrained(dtype=...)`;
- `linear` / `experts`: weight-only quantization of the 2-D projection weights (all of them,
  or only the MoE experts for gpt-oss's MXFP4); embeddings, lm_head, norms, biases and routers
  stay in the dense dtype, as bitsandbytes, GPTQ, AWQ, FP8 and MXFP4 loaders keep them, unless
  the format quantizes lm_head too; a checkpoint's `ignore` list (vramcalc/checkpoint.py) keeps
  the modules it names dense, matched by name (vramcalc/modules.py);
- `gguf`: llama.cpp file types (Q4_K_M, ...): a base ggml type with per-tensor upgrades chosen
  by llama.cpp's quantizer, 1-D tensors in F32.

A quantized matrix is counted exactly, scales included: `matrix_bits`.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from . import memo, modules
from .architecture import LINEAR_ROLES
from .catalogs import WeightFormat, ggml_types, gguf_recipes
from .sizes import cdiv

if TYPE_CHECKING:
    from .architecture import ModelSpec, TensorGroup

_EXPERT_ROLES = frozenset(
    {"ffn_gate_exps", "ffn_up_exps", "ffn_down_exps", "ffn_gate_up_exps"}
)
_WITH_OUTPUT = LINEAR_ROLES | {"output"}


def _ceil_bytes(bits: float) -> int:
    whole = int(bits)
    return cdiv(whole + (1 if bits > whole else 0), 8)  # whole bits, then whole bytes


def matrix_bits(fmt: WeightFormat, rows: int, cols: int) -> float:
    """Bits of one `rows` x `cols` (output x input) matrix stored in quantized `fmt`:
    values + group scales (+ zero points) + second-level scales + per-row scales + per-input
    indices + block scales + per-matrix constants. Groups run along each row's inputs
    (GPTQ/AWQ/compressed-tensors `group` strategy: ceil(cols / group) of them)."""
    if fmt.pack_values and fmt.pack_down:
        # HQQ packs the (numel / group) x group view down its rows (bitpack.py pack_3bit_32)
        width = fmt.group_size or cols
        bits: float = cdiv(rows * cols // width, fmt.pack_values) * width * 32
    elif fmt.pack_values:  # e.g. 3-bit values ten to an int32 word: 3.2 bits each
        bits = rows * cdiv(cols, fmt.pack_values) * 32
    else:
        bits = rows * cols * fmt.bits
    if fmt.group_size:
        groups = rows * cdiv(cols, fmt.group_size)
        bits += groups * fmt.group_bits
        if fmt.second_level_group:  # x: second-level scales over the first-level ones
            bits += cdiv(groups, fmt.second_level_group // fmt.group_size) * fmt.second_level_bits
    bits += rows * fmt.scale_bits_per_row + cols * fmt.index_bits_per_input
    if fmt.block_rows:
        bits += cdiv(rows, fmt.block_rows) * cdiv(cols, fmt.block_cols) * fmt.block_bits
    return bits + fmt.tensor_bits


def quantized_roles(fmt: WeightFormat) -> frozenset[str]:
    """The tensor roles `fmt` may quantize (before its ignore list)."""
    if fmt.kind == "experts":
        return _EXPERT_ROLES
    return _WITH_OUTPUT if fmt.quantize_output else LINEAR_ROLES


def tensor_bytes(fmt: WeightFormat, group: TensorGroup, spec: ModelSpec, dense_bits: int) -> int:
    """Bytes of every tensor in `group` stored in `fmt`; tensors a format keeps unquantized
    take `dense_bits` (16 for bf16/fp16 checkpoints)."""
    if fmt.kind == "dense":
        return _ceil_bytes(group.total * fmt.bits)
    if fmt.kind == "gguf":
        return _gguf_group_bytes(fmt.id, group, spec)
    if group.role not in quantized_roles(fmt) or not group.in_features:
        return _ceil_bytes(group.total * dense_bits)
    rows, cols = group.out_features, group.in_features
    if not fmt.resolves_names:
        # x experts: a stacked expert tensor holds one matrix per expert
        return _ceil_bytes(group.count * group.experts * matrix_bits(fmt, rows, cols))
    per_scheme = _assignments(spec, fmt).get(_key(group), {})
    schemes = (fmt, *fmt.schemes)
    bits = 0.0
    for layer in group.layers or (-1,):
        counts = per_scheme.get(layer, ())
        for index, matrices in enumerate(counts[:-1]):
            bits += matrices * matrix_bits(schemes[index], rows, cols)
        if counts:
            bits += counts[-1] * rows * cols * dense_bits
    return _ceil_bytes(bits)


def _key(group: TensorGroup) -> tuple[str, int, int, int]:
    return group.role, group.in_features, group.out_features, group.experts


@memo.by_first(16)  # a search tries several formats on one model
def _assignments(spec: ModelSpec, fmt: WeightFormat) -> dict[
        tuple[str, int, int, int], dict[int, tuple[int, ...]]]:
    """Per tensor group and layer: how many matrices each scheme of `fmt` quantizes, and (the
    last count) how many its ignore list or targets leave dense. A module takes the first
    scheme whose targets name it exactly, else by pattern, else by class (`Linear`), as
    compressed-tensors' `match_targets` orders them."""
    schemes = (fmt, *fmt.schemes)
    ignore = modules.matcher(fmt.ignore, fmt.ignore_syntax) if fmt.ignore else None
    roles = quantized_roles(fmt)
    out: dict[tuple[str, int, int, int], dict[int, tuple[int, ...]]] = {}
    for group in spec.tensors:
        if group.role not in roles or not group.in_features:
            continue
        per_layer: dict[int, list[int]] = {}
        for layer, name, matrices in modules.group_names(spec, group):
            counts = per_layer.setdefault(layer, [0] * (len(schemes) + 1))
            index = -1 if ignore is not None and ignore.match(name) else _scheme(schemes, name)
            counts[index] += matrices
        if not per_layer and group.role in roles:  # a role without a known name: quantized
            per_layer = {layer: [group.experts] + [0] * len(schemes)
                         for layer in group.layers or (-1,)}
        out[_key(group)] = {layer: tuple(c) for layer, c in per_layer.items()}
    return out


def _scheme(schemes: tuple[WeightFormat, ...], name: str) -> int:
    """The index of the scheme that covers module `name`, -1 (dense) for none."""
    for rank in ("exact", "regex", "class"):
        for index, scheme in enumerate(schemes):
            if not scheme.targets:
                if rank == "class":
                    return index
                continue
            m = modules.matcher(scheme.targets, scheme.ignore_syntax or "compressed-tensors")
            hit = {"exact": name in m.exact,
                   "regex": m.regex is not None and m.regex.match(name) is not None,
                   "class": "Linear" in m.classes}[rank]
            if hit:
                return index
    return -1


def weights_bytes(fmt: WeightFormat, spec: ModelSpec, dense_bits: int = 16) -> int:
    """Resident bytes of all weights of `spec` stored in `fmt`."""
    if fmt.kind == "gguf":  # per-tensor, per-layer type choices: worth remembering
        return _gguf_weights_bytes(spec, fmt.id)
    return _weights_bytes(spec, fmt, dense_bits)


@memo.by_spec
def _weights_bytes(spec: ModelSpec, fmt: WeightFormat, dense_bits: int) -> int:
    return sum(tensor_bytes(fmt, group, spec, dense_bits) for group in spec.tensors)


@memo.by_first(64)  # fit_changes tries every GGUF recipe on one model
def _gguf_weights_bytes(spec: ModelSpec, recipe: str) -> int:
    return sum(_gguf_group_bytes(recipe, group, spec) for group in spec.tensors)


# ----------------------------------------------------------------------------------------
# GGUF: which ggml type each tensor gets. Mirrors llama.cpp src/llama-quant.cpp
# (llama_tensor_get_type, b6xxx-era), for the file types in data/formats.json.

_K_FALLBACK = {
    "Q2_K": "IQ4_NL", "Q3_K": "IQ4_NL", "IQ4_XS": "IQ4_NL", "IQ2_XXS": "IQ4_NL",
    "IQ2_XS": "IQ4_NL", "IQ2_S": "IQ4_NL", "IQ3_XXS": "IQ4_NL", "IQ3_S": "IQ4_NL",
    "IQ1_S": "IQ4_NL", "IQ1_M": "IQ4_NL", "Q4_K": "Q5_0", "Q5_K": "Q5_1", "Q6_K": "Q8_0",
    "TQ1_0": "Q4_0", "TQ2_0": "Q4_0",
}
_IQ_LOW = frozenset({"IQ2_XXS", "IQ2_XS", "IQ2_S", "IQ2_M", "IQ1_S", "IQ1_M"})
_GGUF_ROLE_NAMES = {
    "attn_q": "attn_q", "attn_k": "attn_k", "attn_v": "attn_v", "attn_qkv": "attn_qkv",
    "attn_output": "attn_output", "ffn_gate": "ffn_gate", "ffn_up": "ffn_up",
    "ffn_gate_up": "ffn_up", "ffn_down": "ffn_down", "ffn_gate_exps": "ffn_gate",
    "ffn_up_exps": "ffn_up", "ffn_gate_up_exps": "ffn_up", "ffn_down_exps": "ffn_down",
    "ffn_gate_shexp": "ffn_gate", "ffn_up_shexp": "ffn_up", "ffn_down_shexp": "ffn_down",
}


def _more_bits(i: int, n: int) -> bool:
    """llama.cpp's use_more_bits: the first and last eighth, and every third layer between."""
    return i < n // 8 or i >= 7 * n // 8 or (i - n // 8) % 3 == 2


@dataclass(frozen=True, kw_only=True, slots=True)
class _GGUFContext:
    recipe: str
    base: str
    n_layers: int
    n_gqa: int
    n_expert: int
    n_ffn_down: int
    n_attention_wv: int
    is_70b: bool
    falcon: bool


def _gguf_context(recipe: str, spec: ModelSpec) -> _GGUFContext:
    data = gguf_recipes()
    n_ffn_down = sum(
        group.count for group in spec.tensors if _GGUF_ROLE_NAMES.get(group.role) == "ffn_down"
    )
    n_wv = sum(group.count for group in spec.tensors if group.role == "attn_v")
    return _GGUFContext(
        recipe=recipe,
        base=data[recipe],
        n_layers=spec.num_layers,
        n_gqa=spec.num_heads // max(spec.num_kv_heads, 1),
        n_expert=spec.moe.num_experts if spec.moe else 0,
        n_ffn_down=n_ffn_down,
        n_attention_wv=n_wv,
        # llama.cpp's LLM_TYPE_70B: the 80-layer Llama 2/3 70B models
        is_70b=spec.num_layers == 80 and spec.hidden_size == 8192,
        falcon=spec.family == "falcon",
    )


def _gguf_output_type(ctx: _GGUFContext, in_features: int) -> str:
    _, block = ggml_types()[ctx.base]
    if ctx.falcon or in_features % block:
        return "Q8_0"
    if ctx.recipe in _IQ_LOW or ctx.recipe == "IQ3_XXS":
        return "Q5_K"
    return ctx.base if ctx.base == "Q8_0" else "Q6_K"


def _gguf_layer_type(ctx: _GGUFContext, name: str, layer: int, wv_index: int) -> str:
    """The type of one per-layer 2-D tensor (`name` as in GGUF: attn_v, ffn_down, ...)."""
    r, t = ctx.recipe, ctx.base
    if r in _IQ_LOW:
        if name == "attn_v":
            if ctx.n_gqa >= 4 or ctx.n_expert >= 4:
                return "Q4_K"
            return "IQ3_S" if r in ("IQ2_S", "IQ2_M") else "Q2_K"
        if name == "attn_k" and ctx.n_expert == 8:
            return "Q4_K"
        if name == "ffn_down" and layer < ctx.n_ffn_down // 8:
            return "IQ3_S" if r in ("IQ2_S", "IQ2_M") else "Q2_K"
        if name == "attn_output":
            if ctx.n_expert == 8:
                return "Q5_K"
            if r in ("IQ1_S", "IQ1_M"):
                return "IQ2_XXS"
            if r in ("IQ2_S", "IQ2_M"):
                return "IQ3_S"
        return t
    if name == "attn_v":
        t = _gguf_attn_v(ctx, wv_index)
        if ctx.is_70b and t in ("Q3_K", "Q4_K"):
            t = "Q5_K"
        return "Q8_0" if ctx.n_expert == 8 else t
    if name in ("attn_k", "attn_q"):
        if name == "attn_k" and ctx.n_expert == 8:
            return "Q8_0"
        return {"IQ3_XS": "IQ3_XXS", "IQ3_XXS": "IQ2_S"}.get(r, t)
    if name == "ffn_down":
        return _gguf_ffn_down(ctx, layer)
    if name == "attn_output":
        if ctx.falcon:
            return "Q4_K" if r == "Q3_K_L" else t
        if ctx.n_expert == 8:
            eight = ("Q2_K", "IQ3_XS", "IQ3_XXS", "Q3_K_S", "Q3_K_M", "IQ4_NL", "Q4_K_S", "Q4_K_M",
                     "IQ3_S", "IQ3_M", "IQ4_XS")
            return "Q5_K" if r in eight else t
        return {"Q2_K": "Q3_K", "IQ3_XXS": "IQ3_S", "Q3_K_M": "Q4_K", "Q3_K_L": "Q5_K",
                "IQ3_M": "Q4_K"}.get(r, t)
    if name == "attn_qkv":
        return {"Q3_K_M": "Q4_K", "Q3_K_L": "Q4_K", "IQ3_M": "Q4_K", "Q4_K_M": "Q5_K",
                "Q5_K_M": "Q6_K"}.get(r, t)
    if name in ("ffn_gate", "ffn_up") and r == "IQ3_XS":
        n = ctx.n_layers
        return "IQ3_XXS" if n // 8 <= layer < 7 * n // 8 else t
    return t


def _gguf_attn_v(ctx: _GGUFContext, i: int) -> str:
    r, t, gqa = ctx.recipe, ctx.base, ctx.n_gqa
    if r == "Q2_K":
        return "Q4_K" if gqa >= 4 else "Q3_K"
    if r == "Q2_K_S" and gqa >= 4:
        return "Q4_K"
    if r == "IQ3_XXS":  # IQ3_XXS is quantized with an importance matrix
        return "Q4_K" if gqa >= 4 else "IQ3_XXS"
    if r in ("IQ3_XS", "IQ3_S") and gqa >= 4:
        return "Q4_K"
    if r == "IQ3_M":
        return "Q4_K"
    if r == "Q3_K_M":
        return "Q5_K" if i < 2 else "Q4_K"
    if r == "Q3_K_L":
        return "Q5_K"
    if r in ("IQ4_NL", "IQ4_XS") and gqa >= 4:
        return "Q5_K"
    if r in ("Q4_K_M", "Q5_K_M") and _more_bits(i, ctx.n_attention_wv):
        return "Q6_K"
    if r == "Q4_K_S" and i < 4:
        return "Q5_K"
    return t


def _gguf_ffn_down(ctx: _GGUFContext, layer: int) -> str:
    r, t = ctx.recipe, ctx.base
    # dense models count ffn_down tensors; MoE models parse the block index but divide by
    # the number of ffn_down tensors (llama-quant.cpp layer_info)
    n = ctx.n_ffn_down
    i = layer
    if r == "Q2_K":
        return "Q3_K"
    if r == "Q2_K_S":
        return "Q4_K" if i < n // 8 else t
    if r == "Q3_K_M":
        if i < n // 16:
            return "Q5_K"
        return "Q4_K" if (not ctx.falcon or _more_bits(i, n)) else "Q3_K"
    if r == "IQ3_M" and (i < n // 8 or (ctx.n_expert == 8 and _more_bits(i, n))):
        return "Q4_K"
    if r == "Q3_K_L":
        return "Q4_K" if ctx.falcon else "Q5_K"
    if r == "Q4_K_M":
        if ctx.falcon:
            return "Q6_K" if i < n // 16 else ("Q5_K" if _more_bits(i, n) else "Q4_K")
        return "Q6_K" if _more_bits(i, n) else t
    if i < n // 8 and r in ("IQ4_NL", "IQ4_XS"):
        return "Q5_K"
    if r == "Q5_K_M" and _more_bits(i, n):
        return "Q6_K"
    if r == "Q4_K_S" and not ctx.falcon and i < n // 8:
        return "Q5_K"
    return t


def _gguf_fit(type_name: str, in_features: int) -> str:
    """Row lengths that are not a multiple of the block size get a compatible type."""
    _, block = ggml_types()[type_name]
    if in_features % block == 0:
        return type_name
    fallback = _K_FALLBACK.get(type_name, "F16")
    _, fallback_block = ggml_types()[fallback]
    return fallback if in_features % fallback_block == 0 else "F16"


def _gguf_bytes(type_name: str, numel: int) -> int:
    size, block = ggml_types()[type_name]
    return cdiv(numel, block) * size


def _gguf_group_bytes(recipe: str, group: TensorGroup, spec: ModelSpec) -> int:
    ctx = _gguf_context(recipe, spec)
    if ctx.base in ("F16", "BF16", "F32"):
        two_d = group.in_features > 0
        return _gguf_bytes(ctx.base if two_d else "F32", group.total)
    role = group.role
    if group.in_features == 0 or role == "ffn_gate_inp":
        return _gguf_bytes("F32", group.total)  # norms, biases, router: F32
    if role == "output" or (role == "token_embd" and spec.tie_word_embeddings):
        name = _gguf_fit(_gguf_output_type(ctx, group.in_features), group.in_features)
        return _gguf_bytes(name, group.total)
    if role == "token_embd":
        embd = {"IQ2_XXS": "Q2_K", "IQ2_XS": "Q2_K", "IQ1_S": "Q2_K", "IQ1_M": "Q2_K",
                "IQ2_S": "IQ3_S", "IQ2_M": "IQ3_S", "IQ3_XXS": "IQ3_S", "TQ1_0": "Q4_K",
                "TQ2_0": "Q4_K"}.get(recipe, ctx.base)
        return _gguf_bytes(_gguf_fit(embd, group.in_features), group.total)
    name = _GGUF_ROLE_NAMES.get(role, "other")
    total = 0
    wv_layers = _attn_v_order(spec) if name == "attn_v" else {}
    for layer in group.layers:
        chosen = _gguf_layer_type(ctx, name, layer, wv_layers.get(layer, layer))
        total += _gguf_bytes(_gguf_fit(chosen, group.in_features), group.numel)
    return total


def _attn_v_order(spec: ModelSpec) -> dict[int, int]:
    layers = sorted(layer for g in spec.tensors if g.role == "attn_v" for layer in g.layers)
    return {layer: i for i, layer in enumerate(layers)}


def weights_by_layer(fmt: WeightFormat, spec: ModelSpec, dense_bits: int = 16) -> tuple[
        list[int], dict[str, int]]:
    """Bytes of each layer's tensors, and of each tensor outside the layer stack by role
    (what an engine that places layers on devices, like llama.cpp, needs)."""
    per_layer = [0] * spec.num_layers
    outside: dict[str, int] = {}
    gguf = _gguf_context(fmt.id, spec) if fmt.kind == "gguf" else None
    wv_order = _attn_v_order(spec) if gguf is not None else {}
    for group in spec.tensors:
        if not group.layers:
            outside[group.role] = outside.get(group.role, 0) + tensor_bytes(
                fmt, group, spec, dense_bits)
            continue
        if fmt.resolves_names:  # an ignore list may keep some layers dense
            for layer in group.layers:
                per_layer[layer] += tensor_bytes(fmt, replace(group, layers=(layer,)), spec,
                                                 dense_bits)
            continue
        if gguf is None or gguf.base in ("F16", "BF16", "F32") or group.in_features == 0 \
                or group.role == "ffn_gate_inp":
            one = tensor_bytes(fmt, replace(group, layers=(group.layers[0],)), spec, dense_bits)
            for layer in group.layers:
                per_layer[layer] += one
            continue
        name = _GGUF_ROLE_NAMES.get(group.role, "other")
        for layer in group.layers:
            chosen = _gguf_layer_type(gguf, name, layer, wv_order.get(layer, layer))
            per_layer[layer] += _gguf_bytes(_gguf_fit(chosen, group.in_features), group.numel)
    return per_layer, outside
