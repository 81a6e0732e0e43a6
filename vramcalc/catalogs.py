"""Every data file of the package (`vramcalc/data/*.json`), read once and typed.

The catalogs are data, each entry with its source: GPUs, weight formats and KV-cache dtypes
(with llama.cpp's ggml types and GGUF recipes), model presets, training framework profiles
and the Hub's message texts. Nothing here computes memory.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from functools import cache
from typing import Any

# os.path rather than pathlib: one import less on every page load in Pyodide
_DATA_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data")


@cache
def load(name: str) -> Any:
    """The parsed contents of `vramcalc/data/<name>` (cached: data files never change)."""
    with open(os.path.join(_DATA_DIR, name), encoding="utf-8") as handle:
        return json.load(handle)


# ----------------------------------------------------------------------------------------
# GPUs (data/gpus.json)


@dataclass(frozen=True, kw_only=True, slots=True)
class GPU:
    """One device: a catalog entry, or one a request describes (`id` "custom").
    `memory_bytes` is the total the device reports (nvidia-smi); `usable_fraction` the share
    a process may use (unified memory: what the OS gives the GPU, e.g. Apple's Metal
    working-set limit). The throughput figures are dense 16-bit tensor TFLOPS, used only by
    the roofline speed bound; None where the GPU has no bf16 (Turing, Volta) or where a
    request does not give them."""

    id: str
    name: str
    vendor: str  # nvidia | amd | intel | apple | other
    kind: str  # discrete | unified
    memory_bytes: int
    usable_fraction: float
    bandwidth_gb_s: float | None
    bf16_tflops: float | None
    fp16_tflops: float | None
    source: str
    compute_capability: str | None = None  # CUDA's "major.minor" (NVIDIA only)
    cuda_memory_bytes: int | None = None  # the total CUDA reports, where measured or logged
    # what a PyTorch process holds on this GPU before its tensors, where measured
    cuda_context_bytes: int | None = None

    @property
    def bf16(self) -> bool:
        """Whether the GPU computes in bf16: NVIDIA GPUs from compute capability 8.0
        (Ampere); a GPU whose bf16 throughput is unknown but whose fp16 is known is taken
        to lack it only when its compute capability says so."""
        if self.compute_capability:
            return self.sm >= 80
        return self.bf16_tflops is not None or self.fp16_tflops is None

    @property
    def usable_bytes(self) -> int:
        return int(self.memory_bytes * self.usable_fraction)

    @property
    def cuda_total_bytes(self) -> int:
        """What `torch.cuda.mem_get_info()[1]` reports: below nvidia-smi's total by what the
        driver reserves, where known; else the catalog total."""
        return self.cuda_memory_bytes or self.memory_bytes

    @property
    def sm(self) -> int:
        """Compute capability as an integer (9.0 -> 90; 0 when not an NVIDIA GPU)."""
        if not self.compute_capability:
            return 0
        major, _, minor = self.compute_capability.partition(".")
        return 10 * int(major) + int(minor or 0)

    def tensor_tflops(self, dtype: str) -> float | None:
        """Dense tensor TFLOPS for a model computing in `dtype` ("bf16" or "fp16"): a GPU
        without bf16 runs it at best at its fp16 rate (an upper bound). None when unknown."""
        if dtype == "bf16" and self.bf16_tflops is not None:
            return self.bf16_tflops
        return self.fp16_tflops

    def summary(self) -> dict[str, Any]:
        """The fields `vramcalc.catalog()` lists."""
        return {"id": self.id, "name": self.name, "vendor": self.vendor, "kind": self.kind,
                "memory_bytes": self.memory_bytes, "usable_fraction": self.usable_fraction,
                "usable_bytes": self.usable_bytes, "bandwidth_gb_s": self.bandwidth_gb_s,
                "bf16_tflops": self.bf16_tflops, "fp16_tflops": self.fp16_tflops,
                "compute_capability": self.compute_capability}


@cache
def gpus() -> dict[str, GPU]:
    """GPU id -> GPU, in catalog order."""
    return {
        e["id"]: GPU(id=e["id"], name=e["name"], vendor=e["vendor"], kind=e["kind"],
                     memory_bytes=int(e["memory_bytes"]),
                     usable_fraction=float(e.get("usable_fraction", 1.0)),
                     bandwidth_gb_s=e["bandwidth_gb_s"], bf16_tflops=e["bf16_tflops"],
                     fp16_tflops=e["fp16_tflops"], source=e["source"],
                     compute_capability=e.get("compute_capability"),
                     cuda_memory_bytes=e.get("cuda_memory_bytes"),
                     cuda_context_bytes=e.get("cuda_context_bytes"))
        for e in load("gpus.json")["gpus"]
    }


# ----------------------------------------------------------------------------------------
# Model presets (data/models.json)


@cache
def presets() -> dict[str, dict[str, Any]]:
    """Preset id -> catalog entry (its `config` is the model's config.json)."""
    return {entry["id"]: entry for entry in load("models.json")["models"]}


# ----------------------------------------------------------------------------------------
# Weight formats, KV-cache dtypes, ggml types and GGUF recipes (data/formats.json)


@dataclass(frozen=True, kw_only=True, slots=True)
class WeightFormat:
    """How a checkpoint stores its weights, in bits (vramcalc/formats.py computes bytes).

    A quantized matrix of `rows` (output) x `cols` (input) weights holds: its values
    (`bits` each, or `pack_values` per 32-bit word where the packing wastes bits, along each
    row or, `pack_down`, down the rows of the matrix viewed as groups x group), one scale
    (+ zero point) of `group_bits` per `group_size` inputs of each row, `second_level_bits` per
    `second_level_group` weights (bitsandbytes' double quantization), `scale_bits_per_row`,
    `index_bits_per_input` (GPTQ's g_idx), `block_bits` per `block_rows` x `block_cols` block
    and `tensor_bits` of per-matrix constants (per-tensor and global scales, stored shapes).
    What a format quantizes: the 2-D projections (`linear`), only the MoE experts
    (`experts`), lm_head too when `quantize_output`; `ignore` lists the modules kept in the
    dense dtype (names or patterns, in `ignore_syntax`); `targets` and `schemes` say which
    modules each of several schemes covers (compressed-tensors config groups).
    """

    id: str
    label: str
    kind: str  # dense | linear | experts | gguf
    bits: float  # bits per quantized weight, before scales
    pack_values: int = 0  # values per 32-bit word when it holds fewer than 32 / bits
    pack_down: bool = False  # HQQ: words packed down the rows of the (groups x group) view
    group_size: int = 0  # weights sharing one group scale (0: none)
    group_bits: float = 0.0  # bits of scale (+ zero point) per group
    second_level_group: int = 0  # bitsandbytes double quantization: weights per 2nd-level scale
    second_level_bits: float = 0.0
    scale_bits_per_row: float = 0.0  # one scale per output channel
    index_bits_per_input: float = 0.0  # GPTQ's g_idx: one int32 per input channel
    block_rows: int = 0  # 2-D block scales (DeepSeek-V3 FP8: 128 x 128)
    block_cols: int = 0
    block_bits: float = 0.0
    tensor_bits: float = 0.0  # per-matrix constants (per-tensor scales, global scales, shapes)
    quantize_output: bool = False  # lm_head is quantized too (unless ignored)
    ignore: tuple[str, ...] = ()  # modules kept in the dense dtype
    ignore_syntax: str = ""  # how `ignore` and `targets` match: see vramcalc/modules.py
    targets: tuple[str, ...] = ()  # the modules this scheme covers (empty: every linear)
    schemes: tuple[WeightFormat, ...] = ()  # further schemes, for modules their targets name
    note: str = ""
    source: str = ""

    def effective_bits(self) -> float:
        """Bits per quantized weight including its group and block scales (not per-row,
        per-input or per-matrix ones)."""
        bits = 32 / self.pack_values if self.pack_values else self.bits
        if self.group_size:
            bits += self.group_bits / self.group_size
        if self.second_level_group:
            bits += self.second_level_bits / self.second_level_group
        if self.block_rows:
            bits += self.block_bits / (self.block_rows * self.block_cols)
        return bits

    @property
    def resolves_names(self) -> bool:
        """Whether which modules it quantizes depends on their names (ignore lists, targets)."""
        return bool(self.ignore or self.targets or self.schemes)


@dataclass(frozen=True, kw_only=True, slots=True)
class KVDtype:
    id: str
    label: str
    bits: float
    engines: tuple[str, ...]
    source: str


def weight_format(entry: dict[str, Any]) -> WeightFormat:
    """One `weight_formats` entry of data/formats.json as a WeightFormat."""
    def number(key: str) -> int:
        return int(entry.get(key, 0))

    def bits(key: str) -> float:
        return float(entry.get(key, 0))

    return WeightFormat(
        id=entry["id"], label=entry["label"], kind=entry["kind"], bits=float(entry["bits"]),
        pack_values=number("pack_values"), group_size=number("group_size"),
        group_bits=bits("group_bits"), second_level_group=number("second_level_group"),
        second_level_bits=bits("second_level_bits"),
        scale_bits_per_row=bits("scale_bits_per_row"),
        index_bits_per_input=bits("index_bits_per_input"), block_rows=number("block_rows"),
        block_cols=number("block_cols"), block_bits=bits("block_bits"),
        tensor_bits=bits("tensor_bits"), quantize_output=bool(entry.get("quantize_output")),
        note=entry.get("note", ""), source=entry["source"],
    )


@cache
def weight_formats() -> dict[str, WeightFormat]:
    """Every weight format id -> WeightFormat, GGUF file types included."""
    data = load("formats.json")
    out: dict[str, WeightFormat] = {}
    for entry in data["weight_formats"]:
        out[entry["id"]] = weight_format(entry)
    types = data["ggml_types"]["types"]
    for recipe, base in data["gguf_recipes"]["recipes"].items():
        size, block = types[base]
        out[recipe] = WeightFormat(
            id=recipe,
            label=f"GGUF {recipe}",
            kind="gguf",
            bits=8 * size / block,
            note=f"llama.cpp file type {recipe}: {base} for most tensors, "
            "higher types for some (see llama_tensor_get_type), 1-D tensors in F32",
            source=data["gguf_recipes"]["source"],
        )
    return out


@cache
def kv_dtypes() -> dict[str, KVDtype]:
    return {
        entry["id"]: KVDtype(
            id=entry["id"],
            label=entry["label"],
            bits=float(entry["bits"]),
            engines=tuple(entry["engines"]),
            source=entry["source"],
        )
        for entry in load("formats.json")["kv_cache_dtypes"]
    }


@cache
def ggml_types() -> dict[str, tuple[int, int]]:
    """ggml type -> (bytes per block, elements per block)."""
    types = load("formats.json")["ggml_types"]["types"]
    return {name: (int(size), int(block)) for name, (size, block) in types.items()}


def gguf_recipes() -> dict[str, str]:
    """GGUF file type (Q4_K_M, ...) -> its base ggml type."""
    recipes: dict[str, str] = load("formats.json")["gguf_recipes"]["recipes"]
    return recipes


# ----------------------------------------------------------------------------------------
# Training framework profiles (data/frameworks.json)


@dataclass(frozen=True, kw_only=True, slots=True)
class Framework:
    id: str
    name: str
    defaults: dict[str, Any]
    method_defaults: dict[str, dict[str, Any]]
    adapter_dtype: str
    qlora_non_quantized_dtype: str
    mixed_precision: str  # "autocast" (fp32 weights) | "master" (16-bit weights + fp32 copy)
    master_gradient_bytes: int
    ddp_gradient_copy: bool
    parallel_defaults: dict[str, Any]  # sequence_parallel: applies only with tensor > 1
    memory_report: str
    sources: tuple[str, ...]
    # the framework's own model with one fused qkv linear (LitGPT): see activations.Regime
    fused_qkv: bool = False


@cache
def frameworks() -> dict[str, Framework]:
    out = {}
    for entry in load("frameworks.json")["frameworks"]:
        out[entry["id"]] = Framework(
            id=entry["id"], name=entry["name"], defaults=dict(entry["defaults"]),
            method_defaults={k: dict(v) for k, v in entry["method_defaults"].items()},
            adapter_dtype=entry["adapter_dtype"],
            qlora_non_quantized_dtype=entry["qlora_non_quantized_dtype"],
            mixed_precision=entry["mixed_precision"],
            master_gradient_bytes=int(entry["master_gradient_bytes"]),
            ddp_gradient_copy=bool(entry["ddp_gradient_copy"]),
            parallel_defaults=dict(entry.get("parallel_defaults", {})),
            memory_report=entry["memory_report"], sources=tuple(entry["sources"]),
            fused_qkv=bool(entry.get("fused_qkv", False)),
        )
    return out


# ----------------------------------------------------------------------------------------
# Hub message texts (data/hub_messages.json)


def hub_messages() -> dict[str, Any]:
    """{"messages": status -> template, "audiences": audience -> hints}."""
    data: dict[str, Any] = load("hub_messages.json")
    return data


# ----------------------------------------------------------------------------------------
# Limits (data/limits.json): the upper bound of every count and size read


def limits() -> dict[str, Any]:
    data: dict[str, Any] = load("limits.json")
    return data


def request_limit(field: str) -> int:
    """The largest value request field `field` (a dotted path) may take."""
    return int(limits()["request"][field]["max"])


def bound(name: str) -> int:
    """A whole-answer bound: "parameters", "bytes" or "nesting"."""
    return int(limits()[name]["max"])
