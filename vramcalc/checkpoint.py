"""A checkpoint's own weight format, read from its config.json: the `quantization_config` as
the quantizer wrote it, else the dtype it was saved in.

Each quantization method has one reader that turns its config into a `WeightFormat` with the
exact layout of the stored tensors (values, scales, zero points, second-level scales,
indices, per-matrix constants) and the modules it leaves unquantized (its ignore list).
The layouts are the quantizers' own, at the versions named in each reader and in
data/formats.json; a method vramcalc does not read is costed at the checkpoint's dense dtype
with a warning that says so, never silently.

The default weight format of an engine (`resolve`) is the checkpoint's format; for a dense
checkpoint it is its dtype as the engine loads it: transformers keeps it (v5
`from_pretrained(dtype="auto")`: the config's dtype), vLLM loads fp32 checkpoints in bf16
(fp16 on GPUs without bf16) (`_resolve_auto_dtype` in vllm/config/model.py).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from . import catalogs, modules
from .components import Warning
from .errors import Collector, Fields, show

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

    from .architecture import ModelSpec
    from .catalogs import GPU, WeightFormat

_DTYPES = {"float32": "fp32", "float": "fp32", "bfloat16": "bf16", "float16": "fp16",
           "half": "fp16"}
_SRC_TRANSFORMERS = "transformers v5 src/transformers/utils/quantization_config.py"


@dataclass(frozen=True, kw_only=True, slots=True)
class Checkpoint:
    """What config.json says about the stored weights."""

    format: WeightFormat | None  # the quantized layout; None when the weights are dense
    dtype: str | None  # fp32 | bf16 | fp16 from `torch_dtype` / `dtype`; None when absent
    method: str | None  # quantization_config.quant_method as written
    warnings: tuple[Warning, ...]


@dataclass(frozen=True, slots=True)
class _Context:
    """What every reader needs besides its config: the dense dtype's bits (scales stored in
    the weights' dtype) and where to record warnings."""

    dense_bits: int
    warnings: list[Warning]

    def warn(self, code: str, message: str) -> None:
        self.warnings.append(Warning(code=code, message=message))


def read(config: Mapping[str, Any], collector: Collector, path: str = "model.config"
         ) -> Checkpoint:
    """The checkpoint's dtype and quantization; problems in the quantization config (a
    width its quantizer cannot store, a bad pattern) go to `collector` under `path`."""
    text = config.get("text_config")
    dtype = _dtype(config) or (_dtype(text) if isinstance(text, dict) else None)
    where, quant = path, config.get("quantization_config")
    if quant is None and isinstance(text, dict):
        where, quant = f"{path}.text_config", text.get("quantization_config")
    if quant is None:
        return Checkpoint(format=None, dtype=dtype, method=None, warnings=())
    f = Fields({"quantization_config": quant}, collector, where).sub("quantization_config")
    if not isinstance(quant, dict):
        return Checkpoint(format=None, dtype=dtype, method=None, warnings=())
    ctx = _Context(dense_bits=32 if dtype == "fp32" else 16, warnings=[])
    method = _method(quant)
    reader = _READERS.get(method or "")
    fmt = reader(f, ctx) if reader is not None else None
    if reader is None:
        bits = 32 if dtype == "fp32" else 16
        ctx.warn("quantization_unknown",
                 f"quantization_config.quant_method {show(method)} is not a format vramcalc "
                 f"reads; the weights are costed as the checkpoint's dense dtype "
                 f"({dtype or 'bf16'}, {bits} bits per weight), more than a quantized "
                 "checkpoint holds: set weight_format to the closest format")
    return Checkpoint(format=fmt, dtype=dtype, method=method, warnings=tuple(ctx.warnings))


def _dtype(config: Mapping[str, Any]) -> str | None:
    value = config.get("torch_dtype") or config.get("dtype")
    return _DTYPES.get(value) if isinstance(value, str) else None


def _method(quant: Mapping[str, Any]) -> str | None:
    """quant_method; configs written before transformers named it are bitsandbytes
    (load_in_4bit / load_in_8bit) or ModelOpt's hf_quant_config.json ({producer, quantization})."""
    method = quant.get("quant_method")
    if isinstance(method, str):
        return method.lower()
    if quant.get("load_in_4bit") or quant.get("load_in_8bit"):
        return "bitsandbytes"
    producer = quant.get("producer")
    if isinstance(producer, dict) and producer.get("name") == "modelopt":
        return "modelopt"
    return None


def resolve(config: Mapping[str, Any], spec: ModelSpec, collector: Collector, *, path: str,
            engine: str, gpu: GPU | None) -> tuple[WeightFormat, tuple[Warning, ...]]:
    """The weight format `engine` loads this checkpoint in by default, and the warnings that
    say what was assumed."""
    ckpt = read(config, collector, path)
    if ckpt.format is not None:
        return ckpt.format, (*ckpt.warnings, *_unmatched_warning(ckpt.format, spec))
    fmt_id, warnings = dense_default(ckpt.dtype, engine=engine, gpu=gpu,
                                     model_type=spec.model_type)
    return catalogs.weight_formats()[fmt_id], (*ckpt.warnings, *warnings)


def dense_default(dtype: str | None, *, engine: str, gpu: GPU | None, model_type: str = ""
                  ) -> tuple[str, tuple[Warning, ...]]:
    """The dense dtype an engine loads a checkpoint saved in `dtype` in (None: the config
    names none). vLLM's dtype "auto" downcasts float32 to the platform's first supported
    dtype: bf16, or fp16 on GPUs without bf16 (vllm/config/model.py `_resolve_auto_dtype`);
    a config without a dtype is loaded in its weights' dtype, downcast the same way, so 16-bit.
    transformers v5 keeps the config's dtype (`from_pretrained(dtype="auto")`, the default
    since huggingface/transformers#42805) and, without one, the dtype of the checkpoint's
    first floating-point weight, which the config does not say. SGLang: `_sglang_auto_dtype`."""
    if engine == "sglang" and dtype in (None, "fp32"):
        return _sglang_auto_dtype(dtype, model_type)
    if engine == "vllm":
        if dtype != "fp32":
            return dtype or "bf16", ()
        loaded = "bf16" if gpu is None or gpu.bf16 else "fp16"
        return loaded, (Warning(
            code="checkpoint_fp32_downcast",
            message=f"the checkpoint is fp32 (config dtype float32); vLLM's dtype \"auto\" "
            f"loads it in {loaded} (2 bytes per weight): set weight_format \"fp32\" for "
            "--dtype float32"),)
    if dtype is None:
        return "bf16", (Warning(
            code="checkpoint_dtype_unknown",
            message="config.json names no dtype (torch_dtype / dtype): the weights are "
            "costed as bf16 (2 bytes per weight); transformers loads them in the dtype they "
            "were saved in, fp32 for older checkpoints such as GPT-2 (4 bytes): set "
            "weight_format to match"),)
    if dtype == "fp32":
        return "fp32", (Warning(
            code="checkpoint_fp32",
            message="the checkpoint is fp32 (config dtype float32): transformers loads it in "
            "fp32, 4 bytes per weight; set weight_format \"bf16\" for "
            "from_pretrained(dtype=torch.bfloat16)"),)
    return dtype, ()


def _sglang_auto_dtype(dtype: str | None, model_type: str) -> tuple[str, tuple[Warning, ...]]:
    """SGLang's dtype "auto" for a float32 (or dtype-less) config: bf16 for Gemma models, fp16
    for the others (SGLang v0.5.23 configs/model_config.py _get_and_verify_dtype)."""
    loaded = "bf16" if model_type.startswith("gemma") else "fp16"
    said = "float32" if dtype == "fp32" else "no dtype"
    return loaded, (Warning(
        code="checkpoint_fp32_downcast",
        message=f"the config names {said}: SGLang's --dtype auto loads it in {loaded} (2 bytes "
        "per weight); set weight_format \"fp32\" for --dtype float32"),)


def checkpoint_format(config: Mapping[str, Any]) -> tuple[str, tuple[Warning, ...]]:
    """The checkpoint's own format id as transformers loads it, with the warnings; problems
    in the quantization config raise RequestError."""
    collector = Collector()
    ckpt = read(config, collector)
    collector.raise_if_any()
    if ckpt.format is not None:
        return ckpt.format.id, ckpt.warnings
    fmt_id, warnings = dense_default(ckpt.dtype, engine="transformers", gpu=None)
    return fmt_id, (*ckpt.warnings, *warnings)


_NOT_TEXT = re.compile(r"vision|visual|image|audio|speech|projector|mtp|patch", re.IGNORECASE)


def _unmatched_warning(fmt: WeightFormat, spec: ModelSpec) -> tuple[Warning, ...]:
    """Ignore entries that name no module of the language model (other than a vision tower's,
    an audio encoder's or a projector's, which vramcalc does not count) are worth a word: the
    names may follow a layout vramcalc does not know."""
    if not fmt.ignore:
        return ()
    entries = tuple(e for e in fmt.ignore if not _NOT_TEXT.search(e))
    missed = modules.unmatched(spec, entries, fmt.ignore_syntax, spec.tensors)
    if not missed:
        return ()
    shown = ", ".join(show(e) for e in missed[:4]) + (", ..." if len(missed) > 4 else "")
    return (Warning(code="quantization_ignore_unmatched",
                    message=f"{len(missed)} of the quantization config's ignore entries name no "
                    f"module vramcalc counts ({shown}); the modules they mean are costed as "
                    "quantized"),)


# ----------------------------------------------------------------------------------------
# Readers, one per quant_method. Each returns the WeightFormat of the stored weights, or
# None after recording why not.


def _base(fmt_id: str) -> WeightFormat:
    return catalogs.weight_formats()[fmt_id]


def _names(f: Fields, key: str, syntax: str) -> tuple[str, ...] | None:
    """A list of module names / patterns (None when absent); each one checked."""
    value = f.get(key)
    if value is None:
        return None
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        f.add(key, f"must be a list of module names, got {show(value)}")
        return None
    if len(value) > modules.MAX_ENTRIES:
        f.add(key, f"at most {modules.MAX_ENTRIES:,} entries, got {len(value):,}")
        return None
    for i, entry in enumerate(value):
        problem = modules.pattern_problem(entry, syntax)
        if problem is not None:
            f.add(f"{key}[{i}]", problem)
            return None
    return tuple(value)


def _skipping(base: WeightFormat, skip: tuple[str, ...] | None, note: str) -> WeightFormat:
    """transformers' rule for `modules_to_not_convert` / `llm_int8_skip_modules`: without a
    list lm_head is kept (get_keys_to_not_convert); a list replaces that default, so lm_head
    is quantized unless the list names it (quantizers/base.py get_modules_to_not_convert)."""
    if skip is None:
        return base
    return replace(base, ignore=skip, ignore_syntax="transformers", quantize_output=True,
                   note=f"{base.note}; {note}: {len(skip)} entries kept unquantized")


def _bitsandbytes(f: Fields, ctx: _Context) -> WeightFormat | None:
    """bitsandbytes (transformers BitsAndBytesConfig): 4-bit NF4/FP4 in blocks of 64 with an
    fp32 absmax, or an 8-bit absmax quantized again per 256 blocks (double quantization);
    8-bit LLM.int8() with an fp32 scale per row. transformers' defaults: fp4, no double
    quantization."""
    four = f.boolean("load_in_4bit", default=False) or f.boolean("_load_in_4bit", default=False)
    eight = f.boolean("load_in_8bit", default=False) or f.boolean("_load_in_8bit", default=False)
    if four == eight:
        f.add("load_in_4bit", "exactly one of load_in_4bit and load_in_8bit must be true")
        return None
    skip = _names(f, "llm_int8_skip_modules", "transformers")
    if eight:
        return _skipping(_base("bnb-int8"), skip, "llm_int8_skip_modules")
    quant_type = f.choice("bnb_4bit_quant_type", ("nf4", "fp4"), default="fp4")
    double = f.boolean("bnb_4bit_use_double_quant", default=False)
    base = _base(quant_type + ("" if double else "-no-dq"))
    return _skipping(base, skip, "llm_int8_skip_modules")


def _gptq(f: Fields, ctx: _Context) -> WeightFormat | None:
    """GPTQ as GPTQModel / AutoGPTQ store it (GPTQModel nn_modules/qlinear/__init__.py
    `_register_gptq_buffers`): `bits` packed into int32 words, per group of `group_size`
    inputs (-1: one group per row) an fp16 scale and a `bits`-wide packed zero point (stored
    for symmetric checkpoints too), and an int32 g_idx per input, stored whether or not
    desc_act reordered the columns. lm_head only with `lm_head: true`."""
    if not f.has("bits"):
        f.add("bits", "is required: the width GPTQ packs (2, 3, 4 or 8)")
        return None
    bits = f.integer("bits", default=4)
    if bits not in (2, 3, 4, 8):
        f.add("bits", f"must be 2, 3, 4 or 8 (the widths GPTQ packs), got {show(bits)}")
        return None
    group = _group_size(f, "group_size")
    f.boolean("desc_act", default=False)
    f.boolean("sym", default=True)
    lm_head = f.boolean("lm_head", default=False)
    layout = f.get("checkpoint_format") or "gptq"
    if layout not in ("gptq", "gptq_v2"):
        ctx.warn("quantization_partly_read", f"GPTQ checkpoint_format {show(layout)} is read "
                 "as the gptq layout (qweight, qzeros, scales, g_idx)")
    if f.get("dynamic"):
        ctx.warn("quantization_partly_read", "GPTQ's per-module overrides (dynamic) are not "
                 f"read: every module is costed at {bits} bits")
    if group is None:
        return None
    base = _base(f"gptq-int{bits}")
    if group == base.group_size and not lm_head:
        return base
    what = "one group per row" if group == -1 else f"group {group}"
    return replace(
        base, label=f"GPTQ INT{bits} ({what}{', lm_head quantized' if lm_head else ''})",
        group_size=0 if group == -1 else group, group_bits=0 if group == -1 else 16 + bits,
        scale_bits_per_row=16 + bits if group == -1 else 0, quantize_output=lm_head,
        note=f"{bits}-bit weights packed into int32 words; an fp16 scale and a packed "
        f"{bits}-bit zero point per {what}; an int32 g_idx per input channel")


def _group_size(f: Fields, key: str, *aliases: str) -> int | None:
    group = f.integer(key, *aliases, default=128, minimum=-1)
    if group == 0:
        f.add(key, "must be -1 (one group per row) or a positive integer, got 0")
        return None
    return group


def _awq(f: Fields, ctx: _Context) -> WeightFormat | None:
    """AWQ as AutoAWQ's GEMM layout stores it (AutoAWQ 0.2.9 awq/modules/linear/gemm.py
    WQLinear_GEMM): `bits` packed into int32 along the outputs, per group of inputs an fp16
    scale and a packed `bits`-wide zero point (the qzeros buffer exists with or without
    zero_point). AutoAWQ never quantizes lm_head."""
    bits = f.integer("bits", "w_bit", default=4)
    if bits not in (2, 4, 8):
        f.add("bits", f"must be 2, 4 or 8 (a width that packs into int32), got {bits}")
        return None
    group = _group_size(f, "group_size", "q_group_size")
    f.boolean("zero_point", default=True)
    version = str(f.get("version") or "gemm").lower()
    if version != "gemm":
        ctx.warn("quantization_partly_read", f"AWQ version {show(version)} is read as the GEMM "
                 "layout; the GEMV layouts pad each row's scales to a multiple of 8 groups")
    if bits != 4:
        ctx.warn("quantization_partly_read", f"AWQ with {bits} bits: vLLM and AutoAWQ's kernels "
                 "load 4-bit AWQ only")
    skip = _names(f, "modules_to_not_convert", "transformers")
    if group is None:
        return None
    what = "one group per row" if group == -1 else f"group {group}"
    base = _base("awq-int4")
    fmt = base if (bits, group) == (4, 128) else replace(
        base, id=f"awq-int{bits}", label=f"AWQ INT{bits} ({what})", bits=bits,
        group_size=0 if group == -1 else group, group_bits=0 if group == -1 else 16 + bits,
        scale_bits_per_row=16 + bits if group == -1 else 0,
        note=f"packed {bits}-bit weights; an fp16 scale and a packed {bits}-bit zero point "
        f"per {what}")
    if skip is None:
        return fmt
    return replace(fmt, ignore=skip, ignore_syntax="transformers",
                   note=f"{fmt.note}; modules_to_not_convert: {len(skip)} entries kept "
                   "unquantized")


# compressed-tensors: quantization/quant_scheme.py PRESET_SCHEMES (0.12.2), weights only
_CT_PRESETS: dict[str, dict[str, Any]] = {
    "W8A16": {"num_bits": 8, "type": "int", "strategy": "channel"},
    "W4A16": {"num_bits": 4, "type": "int", "strategy": "group", "group_size": 128},
    "W4A16_ASYM": {"num_bits": 4, "type": "int", "strategy": "group", "group_size": 128,
                   "symmetric": False},
    "W8A8": {"num_bits": 8, "type": "int", "strategy": "channel"},
    "INT8": {"num_bits": 8, "type": "int", "strategy": "channel"},
    "W4A8": {"num_bits": 4, "type": "int", "strategy": "group", "group_size": 128},
    "FP8": {"num_bits": 8, "type": "float", "strategy": "tensor"},
    "FP8_DYNAMIC": {"num_bits": 8, "type": "float", "strategy": "channel"},
    "FP8_BLOCK": {"num_bits": 8, "type": "float", "strategy": "block",
                  "block_structure": [128, 128]},
    "NVFP4A16": {"num_bits": 4, "type": "float", "strategy": "tensor_group", "group_size": 16},
    "NVFP4": {"num_bits": 4, "type": "float", "strategy": "tensor_group", "group_size": 16},
}
_CT_STATIC_INPUT = frozenset({"FP8"})  # presets with a static per-tensor input scale
_CT_FORMATS = ("pack-quantized", "int-quantized", "float-quantized", "naive-quantized",
               "nvfp4-pack-quantized", "mxfp4-pack-quantized", "dense", "fakequant",
               "marlin-24", "sparse-24-bitmask", "mixed-precision")
_CT_SRC = ("compressed-tensors 0.12.2: quantization/quant_scheme.py, quant_args.py, "
           "lifecycle/initialize.py (scales in the weights' dtype, fp8 for fp4), "
           "compressors/quantized_compressors/{pack,naive,nvfp4}_quantized.py; vLLM "
           "compressed_tensors/schemes/")


def _compressed_tensors(f: Fields, ctx: _Context) -> WeightFormat | None:
    """compressed-tensors (llm-compressor's checkpoints, most vLLM-ready ones): each config
    group is a scheme (`targets`, `weights` args: num_bits, type int/float, strategy
    tensor/channel/group/tensor_group/block, group_size, block_structure, symmetric,
    actorder) stored in a `format`; `ignore` names the modules left dense (exact names,
    `re:` patterns). Targets "Linear" takes lm_head too unless ignored."""
    top_format = f.get("format") if isinstance(f.get("format"), str) else None
    groups = f.get("config_groups")
    if not isinstance(groups, dict):
        f.add("config_groups", f"must be an object of quantization schemes, got {show(groups)}")
        return None
    if not groups:
        f.add("config_groups", "must name at least one quantization scheme")
        return None
    if len(groups) > modules.MAX_SCHEMES:
        f.add("config_groups", f"at most {modules.MAX_SCHEMES} schemes, got {len(groups):,}")
        return None
    ignore = _names(f, "ignore", "compressed-tensors") or ()
    sparsity = f.get("sparsity_config")
    if isinstance(sparsity, dict) and sparsity.get("format") not in (None, "dense"):
        ctx.warn("quantization_partly_read", f"compressed-tensors sparsity "
                 f"{show(sparsity.get('format'))} is not read: the weights are costed dense "
                 "(no 2:4 savings)")
    gf = f.sub("config_groups")
    schemes: list[WeightFormat] = []
    for name, group in groups.items():
        scheme = _ct_scheme(gf, str(name), group, top_format, ctx)
        if scheme is not None:
            schemes.append(scheme)
    if not schemes:
        if not f.failed():
            ctx.warn("quantization_partly_read", "no compressed-tensors config group quantizes "
                     "weights: the weights are dense")
        return None
    first = schemes[0]
    return replace(first, ignore=ignore, ignore_syntax="compressed-tensors",
                   schemes=tuple(schemes[1:]))


def _ct_scheme(gf: Fields, name: str, group: Any, top_format: str | None,
               ctx: _Context) -> WeightFormat | None:
    """One config group as a WeightFormat (None when it quantizes no weights)."""
    if isinstance(group, list):  # a preset name mapped to its targets
        preset = _CT_PRESETS.get(name.upper())
        if preset is None:
            gf.add(name, f"{show(name)} is not a compressed-tensors preset scheme; one of: "
                   + ", ".join(_CT_PRESETS))
            return None
        group = {"targets": group, "weights": preset,
                 "input_activations": {"dynamic": False, "strategy": "tensor"}
                 if name.upper() in _CT_STATIC_INPUT else None}
    if not isinstance(group, dict):
        gf.add(name, f"must be a quantization scheme object, got {show(group)}")
        return None
    g = Fields(group, gf.collector, gf.at(name))
    targets = _names(g, "targets", "compressed-tensors")
    if targets is None:
        g.add("targets", "is required: the modules the scheme quantizes (e.g. [\"Linear\"])")
        return None
    odd = [t for t in targets if modules.is_class(t, "compressed-tensors") and t != "Linear"]
    if odd:
        ctx.warn("quantization_partly_read", "compressed-tensors targets naming module "
                 f"classes other than Linear are not read: {', '.join(odd[:4])}")
    if g.get("weights") is None:
        return None
    w = g.sub("weights")
    bits = w.integer("num_bits", default=8, maximum=16)
    kind = w.choice("type", ("int", "float"), default="int")
    group_size = w.get("group_size")
    strategy = w.get("strategy")
    if strategy is None:  # quant_args.py validate_model_after infers it
        strategy = "tensor" if group_size is None else ("channel" if group_size == -1
                                                       else "group")
    strategies = ("tensor", "channel", "group", "tensor_group", "block")
    if strategy not in strategies:
        w.add("strategy", f"must be one of {', '.join(strategies)} for weights, got "
              f"{show(strategy)}")
        return None
    size = 0
    if strategy in ("group", "tensor_group"):
        size = w.integer("group_size", default=None)
    block = (0, 0)
    if strategy == "block":
        structure = w.get("block_structure")
        if (not isinstance(structure, list) or len(structure) != 2
                or not all(isinstance(x, int) and not isinstance(x, bool) and x > 0
                           for x in structure)):
            w.add("block_structure", f"must be [rows, cols] for strategy block, got "
                  f"{show(structure)}")
            return None
        block = (structure[0], structure[1])
    symmetric = w.boolean("symmetric", default=True)
    actorder = w.get("actorder")
    scale_bits = _dtype_bits(w.get("scale_dtype"), ctx.dense_bits)
    fmt_name = g.get("format") if isinstance(g.get("format"), str) else top_format
    if fmt_name in (None, "mixed-precision"):
        fmt_name = _ct_inferred_format(bits, kind, size)
    if fmt_name not in _CT_FORMATS:
        ctx.warn("quantization_partly_read", f"compressed-tensors format {show(fmt_name)} is "
                 "not one vramcalc reads; read as its packed layout")
        fmt_name = _ct_inferred_format(bits, kind, size)
    if fmt_name in ("marlin-24", "sparse-24-bitmask"):
        ctx.warn("quantization_partly_read", f"compressed-tensors format {fmt_name} stores "
                 "2:4 sparse weights; they are costed dense (no sparsity savings)")
    inputs = g.get("input_activations")
    scheme = _ct_layout(bits=bits, kind=kind, strategy=strategy, size=size, block=block,
                        symmetric=symmetric, group_order=actorder in (True, "group"),
                        fmt_name=fmt_name, inputs=inputs if isinstance(inputs, dict) else None,
                        scale_bits=scale_bits)
    return replace(scheme, targets=targets, ignore_syntax="compressed-tensors")


def _dtype_bits(value: Any, default: int) -> int:
    """The width of a dtype named in a config (`scale_dtype`, newer compressed-tensors)."""
    if not isinstance(value, str):
        return default
    for name, bits in (("float8", 8), ("float32", 32), ("bfloat16", 16), ("float16", 16)):
        if name in value:
            return bits
    return default


def _ct_inferred_format(bits: int, kind: str, size: int) -> str:
    if kind == "float":
        return "nvfp4-pack-quantized" if bits == 4 and size == 16 else (
            "mxfp4-pack-quantized" if bits == 4 else "float-quantized")
    return "pack-quantized" if bits < 8 else "int-quantized"


def _ct_layout(*, bits: int, kind: str, strategy: str, size: int, block: tuple[int, int],
               symmetric: bool, group_order: bool, fmt_name: str,
               inputs: dict[str, Any] | None, scale_bits: int) -> WeightFormat:
    """The stored tensors of one compressed-tensors weight scheme, in bits.

    Values: pack-quantized packs 32 // bits values into each int32 (pack_to_int32: 3-bit
    values ten to a word) and stores an int64[2] weight_shape; int-/float-/naive-quantized
    store one int8 / float8 per value; nvfp4/mxfp4-pack-quantized two e2m1 values per byte;
    dense / fakequant keep the weights in the checkpoint's dtype.
    Scales (initialize.py): one per tensor / row / group of inputs / block, in the weights'
    dtype, fp8 (e4m3; e8m0 for mxfp4) for fp4; tensor_group adds an fp32 global scale.
    Zero points (asymmetric): packed `bits` wide by pack-quantized (group / channel), else
    one int8 (float8 for float) per scale. actorder "group" stores an int32 g_idx per input.
    A static per-tensor input scale (input_activations not dynamic) is stored too, an fp32
    input global scale for tensor_group (NVFP4) activations."""
    fp4 = kind == "float" and bits == 4
    scale = 8 if fp4 else scale_bits
    word = 0
    tensor = 0.0
    if fmt_name == "pack-quantized":
        value_bits: float = bits
        if 32 % bits:
            word = 32 // bits
        tensor += 128  # weight_shape int64[2]
    elif fmt_name in ("nvfp4-pack-quantized", "mxfp4-pack-quantized"):
        value_bits = 4
    elif fmt_name in ("dense", "fakequant"):
        value_bits = scale_bits
    else:
        value_bits = 8
    zero = 0.0 if symmetric else (
        bits if fmt_name == "pack-quantized" and strategy in ("group", "channel") else 8)
    group_bits = row_bits = block_bits = 0.0
    if strategy == "tensor":
        tensor += scale + zero
    elif strategy == "channel":
        row_bits = scale + zero
    elif strategy in ("group", "tensor_group"):
        group_bits = scale + zero
        if strategy == "tensor_group":
            tensor += 32  # weight_global_scale float32
    else:
        block_bits = scale + zero
    if inputs is not None:
        if inputs.get("strategy") == "tensor_group":
            tensor += 32  # input_global_scale float32
        elif not inputs.get("dynamic") and inputs.get("strategy", "tensor") == "tensor":
            tensor += scale_bits  # input_scale
    name = f"{'fp' if kind == 'float' else 'int'}{bits}"
    what = {"tensor": "per-tensor scale", "channel": "per-channel scales",
            "group": f"group {size}", "tensor_group": f"group {size} + global scale",
            "block": f"{block[0]}x{block[1]} blocks"}[strategy]
    sym = "" if symmetric or fp4 else ", asymmetric"
    fmt_id = _ct_id(kind, bits, strategy, size)
    base = catalogs.weight_formats().get(fmt_id)
    return catalogs.WeightFormat(
        id=fmt_id, label=f"compressed-tensors {name}, {what}{sym} ({fmt_name})",
        kind="linear", bits=value_bits, pack_values=word,
        group_size=size if group_bits else 0, group_bits=group_bits,
        scale_bits_per_row=row_bits, index_bits_per_input=32 if group_order else 0,
        block_rows=block[0] if block_bits else 0, block_cols=block[1] if block_bits else 0,
        block_bits=block_bits, tensor_bits=tensor, quantize_output=True,
        note=f"{name} weights ({fmt_name}), {what}{sym}"
        + (", int32 g_idx per input" if group_order else "")
        + ("" if base is None else f"; the layout of {base.id} ({base.label})"),
        source=_CT_SRC)


def _ct_id(kind: str, bits: int, strategy: str, size: int) -> str:
    """The catalog family of a compressed-tensors scheme (its layout is the config's)."""
    if kind == "float" and bits == 8:
        return {"block": "fp8-block", "tensor": "fp8-tensor"}.get(strategy, "fp8")
    if kind == "float" and bits == 4 and size == 16:
        return "nvfp4"
    if kind == "int" and bits == 8:
        return "int8"
    if kind == "int" and bits == 4:
        return "w4a16"
    return "compressed-tensors"


def _modelopt(f: Fields, ctx: _Context) -> WeightFormat | None:
    """NVIDIA ModelOpt (TensorRT-Model-Optimizer 0.40 modelopt/torch/export): `quant_algo`
    FP8 stores fp8 weights with an fp32 weight_scale and input_scale per matrix; NVFP4 packs
    e2m1 pairs into bytes with an fp8 weight_scale per `group_size` (16) inputs and fp32
    weight_scale_2 and input_scale per matrix; FP8_PER_CHANNEL_PER_TOKEN an fp32 scale per
    row; FP8_PB_WO 128x128 fp32 block scales. `exclude_modules` (hf_quant_config.json,
    nested under `quantization`) or `ignore` (config.json, convert_hf_config.py) name the
    modules left dense, with shell wildcards."""
    inner = f.sub("quantization") if isinstance(f.get("quantization"), dict) else f
    algo = str(inner.get("quant_algo") or "").upper()
    key = "exclude_modules" if inner.has("exclude_modules") else "ignore"
    exclude = _names(inner, key, "fnmatch") or ()
    if algo == "FP8":
        base = _base("fp8-tensor")
    elif algo == "NVFP4":
        size = inner.integer("group_size", default=16)
        base = _base("nvfp4")
        if size != base.group_size:
            base = replace(base, label=f"NVFP4 (group {size})", group_size=size)
    elif algo == "FP8_PER_CHANNEL_PER_TOKEN":
        base = _base("fp8")
    elif algo == "FP8_PB_WO":
        base = _base("fp8-block")
    else:
        ctx.warn("quantization_unknown", f"ModelOpt quant_algo {show(algo or None)} is not one "
                 "vramcalc reads (FP8, NVFP4, FP8_PER_CHANNEL_PER_TOKEN, FP8_PB_WO); the "
                 "weights are costed as the checkpoint's dense dtype")
        return None
    return replace(base, label=f"ModelOpt {base.label}", quantize_output=True,
                   ignore=exclude, ignore_syntax="fnmatch",
                   source="NVIDIA TensorRT-Model-Optimizer 0.40 modelopt/torch/export/"
                   "unified_export_hf.py, quant_utils.py; " + base.source)


def _fbgemm_fp8(f: Fields, ctx: _Context) -> WeightFormat | None:
    """fbgemm_fp8 (transformers FbgemmFp8Config): fp8 weights, an fp32 scale per row and an
    fp32 input_scale_ub per matrix."""
    f.number("activation_scale_ub", default=1200.0)
    skip = _names(f, "modules_to_not_convert", "transformers")
    return _skipping(_base("fbgemm-fp8"), skip, "modules_to_not_convert")


def _fp8(f: Fields, ctx: _Context) -> WeightFormat | None:
    """quant_method "fp8" (transformers FineGrainedFP8Config, vLLM Fp8Config): with
    `weight_block_size` (DeepSeek-V3, Qwen3-FP8) an fp32 weight_scale_inv per block, else one
    fp32 weight scale per matrix and, with activation_scheme "static", an input scale.
    `modules_to_not_convert` (transformers) or `ignored_layers` (vLLM) stay dense."""
    blocks = f.get("weight_block_size")
    key = "modules_to_not_convert" if f.has("modules_to_not_convert") else "ignored_layers"
    skip = _names(f, key, "transformers")
    if blocks is not None:
        if (not isinstance(blocks, list) or len(blocks) != 2
                or not all(isinstance(x, int) and not isinstance(x, bool) and x > 0
                           for x in blocks)):
            f.add("weight_block_size", f"must be [rows, cols], got {show(blocks)}")
            return None
        base = _base("fp8-block")
        if tuple(blocks) != (base.block_rows, base.block_cols):
            base = replace(base, label=f"FP8 (e4m3, {blocks[0]}x{blocks[1]} block scales)",
                           block_rows=blocks[0], block_cols=blocks[1])
    else:
        static = f.choice("activation_scheme", ("dynamic", "static"), default="dynamic")
        base = _base("fp8-tensor")
        if static == "dynamic":
            base = replace(base, label="FP8 (e4m3, per-tensor weight scale)", tensor_bits=32)
    return _skipping(base, skip, key)


def _mxfp4(f: Fields, ctx: _Context) -> WeightFormat | None:
    """gpt-oss's MXFP4: only the MoE experts (blocks of 32 e2m1 values and an E8M0 scale);
    `modules_to_not_convert` names what else stays bf16."""
    skip = _names(f, "modules_to_not_convert", "transformers")
    base = _base("mxfp4")
    return base if skip is None else replace(base, ignore=skip, ignore_syntax="transformers")


_TORCHAO = {
    "int4_weight_only": "int4", "Int4WeightOnlyConfig": "int4",
    "int8_weight_only": "int8", "Int8WeightOnlyConfig": "int8",
    "int8_dynamic_activation_int8_weight": "int8",
    "Int8DynamicActivationInt8WeightConfig": "int8",
    "Float8WeightOnlyConfig": "fp8", "Float8DynamicActivationFloat8WeightConfig": "fp8",
}


def _torchao(f: Fields, ctx: _Context) -> WeightFormat | None:
    """torchao (transformers TorchAoConfig; torchao 0.18 quant_api.py): int4 weight-only
    with a bf16 scale and zero point per `group_size` (128) inputs; int8 weight-only and
    int8 dynamic-activation with a per-row scale in the weights' dtype; float8 weight-only
    with an fp32 per-row scale; float8 dynamic-activation with one fp32 scale per tensor
    (its default granularity) or per row (PerRow)."""
    quant_type = f.get("quant_type")
    kwargs: Any = f.get("quant_type_kwargs") or {}
    if isinstance(quant_type, dict) and isinstance(quant_type.get("default"), dict):
        kwargs = quant_type["default"].get("_data") or {}
        quant_type = quant_type["default"].get("_type")
    family = _TORCHAO.get(quant_type) if isinstance(quant_type, str) else None
    if family is None:
        ctx.warn("quantization_unknown", f"torchao quant_type {show(quant_type)} is not one "
                 "vramcalc reads; the weights are costed as the checkpoint's dense dtype")
        return None
    if f.boolean("include_input_output_embeddings", default=False):
        ctx.warn("quantization_partly_read", "torchao include_input_output_embeddings: the "
                 "embeddings are costed unquantized")
    skip = _names(f, "modules_to_not_convert", "transformers")
    base = _base(family)
    kwargs = kwargs if isinstance(kwargs, dict) else {}
    group = kwargs.get("group_size")
    if family == "int4" and isinstance(group, int) and group > 0 and group != base.group_size:
        base = replace(base, label=f"INT4 weight-only (group {group})", group_size=group)
    if family == "int8" and isinstance(group, int) and group > 0:
        base = replace(base, label=f"INT8 weight-only (group {group})", group_size=group,
                       group_bits=16, scale_bits_per_row=0)
    if quant_type == "Float8DynamicActivationFloat8WeightConfig" \
            and "PerRow" not in repr(kwargs.get("granularity")):
        base = replace(_base("fp8-tensor"), label="FP8 (e4m3, per-tensor weight scale)",
                       tensor_bits=32)
    return _skipping(base, skip, "modules_to_not_convert")


_HQQ_VALUE_BITS: dict[float, tuple[float, int]] = {  # nbits -> (stored bits, values per word)
    8: (8, 0), 6: (8, 0), 5: (8, 0), 4: (4, 0), 3: (3, 10), 2: (2, 0), 1.58: (2, 0), 1: (1, 0),
}


def _hqq(f: Fields, ctx: _Context) -> WeightFormat | None:
    """HQQ (hqq 0.2.8 core/quantize.py, transformers HqqConfig): `nbits` values packed
    (bit_to_packing: 8/6/5-bit in bytes, 4-bit two to a byte, 3-bit ten to an int32, 2 and
    1.58-bit four to a byte, 1-bit eight), a scale and a zero point in the compute dtype per
    `group_size` weights. `quant_config` holds one config (weight_quant_params) or one per
    linear tag (`self_attn.q_proj`, ...); `skip_modules` stay dense (lm_head)."""
    qc = f.sub("quant_config")
    if not isinstance(f.get("quant_config"), dict):
        f.add("quant_config", "is required: HQQ's quantization parameters")
        return None
    skip = _names(f, "skip_modules", "transformers")
    if "weight_quant_params" in qc.data:
        base = _hqq_scheme(qc, ctx)
        if base is None:
            return None
        schemes: tuple[WeightFormat, ...] = ()
    elif len(qc.data) > modules.MAX_SCHEMES:
        f.add("quant_config", f"at most {modules.MAX_SCHEMES} per-layer configs, got "
              f"{len(qc.data):,}")
        return None
    else:  # per linear tag
        parts = []
        for tag in qc.data:
            scheme = _hqq_scheme(qc.sub(tag), ctx)
            if scheme is not None:
                parts.append(replace(scheme, targets=(f"re:.*\\.{re.escape(tag)}$",)))
        if not parts:
            return None
        base, schemes = parts[0], tuple(parts[1:])
    if skip is None:
        skip = ("lm_head",)  # HqqConfig's default skip_modules
    return replace(base, ignore=skip, ignore_syntax="transformers", schemes=schemes,
                   quantize_output=True)


def _hqq_scheme(qc: Fields, ctx: _Context) -> WeightFormat | None:
    w = qc.sub("weight_quant_params")
    nbits = w.get("nbits")
    if nbits not in _HQQ_VALUE_BITS or isinstance(nbits, bool):
        w.add("nbits", f"must be one of 8, 6, 5, 4, 3, 2, 1.58, 1 (hqq's SUPPORTED_BITS), got "
              f"{show(nbits)}")
        return None
    group = w.get("group_size")
    if group is not None:
        group = w.integer("group_size", default=64)
    for meta in ("scale_quant_params", "zero_quant_params"):
        if qc.get(meta):
            ctx.warn("quantization_partly_read", f"HQQ {meta} (quantized metadata, deprecated "
                     "in hqq 0.2) is not read: scales and zero points are costed 16-bit")
    stored, word = _HQQ_VALUE_BITS[nbits]
    shown = f"{nbits:g}"
    base = _base("hqq-int4")
    return replace(
        base, id=f"hqq-int{shown}",
        label=f"HQQ {shown}-bit ({'group ' + str(group) if group else 'one group per row'})",
        bits=stored, pack_values=word, pack_down=bool(word), group_size=group or 0,
        group_bits=32 if group else 0, scale_bits_per_row=0 if group else 32,
        note=f"{shown}-bit weights ({stored:g} bits stored"
        + (f", {word} to an int32 word" if word else "")
        + "), a 16-bit scale and a 16-bit zero point per "
        + (f"group of {group}" if group else "row"))


def _quanto(f: Fields, ctx: _Context) -> WeightFormat | None:
    """optimum-quanto (transformers QuantoConfig): weights int8 / float8 with a per-row
    scale, int4 / int2 with a scale and a shift per group of 128 inputs, in the weights'
    dtype; two scalar activation scales per module. Activations do not change the weights."""
    weights = f.choice("weights", ("int8", "int4", "int2", "float8"), default="int8")
    skip = _names(f, "modules_to_not_convert", "transformers")
    return _skipping(_base(f"quanto-{weights}"), skip, "modules_to_not_convert")


def _eetq(f: Fields, ctx: _Context) -> WeightFormat | None:
    """EETQ (transformers EetqConfig): int8 weights with an fp16 scale per row, the layout of
    int8 weight-only."""
    f.choice("weights", ("int8",), default="int8")
    skip = _names(f, "modules_to_not_convert", "transformers")
    base = replace(_base("int8"), label="EETQ INT8 (per-channel)")
    return _skipping(base, skip, "modules_to_not_convert")


def _auto_round(f: Fields, ctx: _Context) -> WeightFormat | None:
    """AutoRound exports the GPTQ or the AWQ layout (`packing_format`
    auto_round:auto_gptq / auto_round:auto_awq; transformers AutoRoundConfig)."""
    packing = str(f.get("packing_format") or "auto_round:auto_gptq")
    if "awq" in packing:
        return _awq(f, ctx)
    if "gptq" not in packing:
        ctx.warn("quantization_partly_read", f"AutoRound packing_format {show(packing)} is read "
                 "as the GPTQ layout")
    return _gptq(f, ctx)


_READERS: dict[str, Callable[[Fields, _Context], WeightFormat | None]] = {
    "bitsandbytes": _bitsandbytes,
    "gptq": _gptq,
    "awq": _awq,
    "compressed-tensors": _compressed_tensors,
    "modelopt": _modelopt,
    "fbgemm_fp8": _fbgemm_fp8,
    "fp8": _fp8,
    "mxfp4": _mxfp4,
    "torchao": _torchao,
    "hqq": _hqq,
    "quanto": _quanto,
    "eetq": _eetq,
    "auto-round": _auto_round,
}
