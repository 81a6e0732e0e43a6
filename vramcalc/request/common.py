"""What every request has: mode, model, GPUs, overheads, and the tensor-parallel check."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .. import architecture, catalogs, ollama
from ..catalogs import GPU
from ..errors import show
from ..jsonable import HIDDEN, OMIT_EMPTY, OMIT_NONE
from ..sizes import MiB

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping

    from ..architecture import ModelSpec
    from ..errors import Fields

MODES = ("inference", "training")
COMMON_KEYS = frozenset({"mode", "model", "gpu", "fit_gpus", "overheads"})

# A GPU the catalog lacks, described in the request (docs/api.md, "A GPU of your own"):
# its fit row and `fit.selected` use this id.
CUSTOM_GPU_ID = "custom"
CUSTOM_GPU_KEYS = ("name", "memory_bytes", "usable_fraction", "bandwidth_gb_s", "bf16_tflops",
                   "fp16_tflops", "compute_capability", "vendor", "kind")
VENDORS = ("nvidia", "amd", "intel", "apple", "other")
GPU_KINDS = ("discrete", "unified")
_COMPUTE_CAPABILITY = re.compile(r"[1-9][0-9]?\.[0-9]")


@dataclass(frozen=True, kw_only=True, slots=True)
class ModelRef:
    """Which model: a catalog preset, a pasted config.json with an optional name, or an Ollama
    model name (vramcalc/ollama.py: a preset's shapes and the tag's GGUF file)."""

    preset: str | None = field(metadata=OMIT_NONE)
    config: dict[str, Any] | None = field(metadata=OMIT_NONE)  # None for a preset
    name: str = field(metadata=OMIT_EMPTY)  # the user's name for a pasted config
    label: str = field(metadata=HIDDEN)  # what the answer calls the model
    source_config: Mapping[str, Any] = field(metadata=HIDDEN)  # the config.json read
    # the checkpoint's weight bytes as the Hub stores them (safetensors), for a cross-check
    checkpoint_bytes: int | None = field(default=None, metadata=OMIT_NONE)
    ollama: str | None = field(default=None, metadata=OMIT_NONE)  # an Ollama model name
    tag_format: str | None = field(default=None, metadata=HIDDEN)  # the Ollama tag's file
    tag_context: int | None = field(default=None, metadata=HIDDEN)  # its GGUF context length


@dataclass(frozen=True, kw_only=True, slots=True)
class Overheads:
    """Memory outside the framework's tensors: the CUDA context and the allocator's slack."""

    cuda_context_bytes: int
    allocator_reserve_fraction: float


@dataclass(frozen=True, kw_only=True, slots=True)
class Common:
    mode: str
    model: ModelRef
    spec: ModelSpec = field(metadata=HIDDEN)
    gpu: str | dict[str, Any] | None  # as echoed: a catalog id, or a GPU's normalized fields
    fit_gpus: tuple[str, ...]
    device: GPU | None = field(default=None, metadata=HIDDEN)  # the selected GPU
    # the GPUs that get a fit row: those of fit_gpus, then the selected one if not among them
    fit_devices: tuple[GPU, ...] = field(default=(), metadata=HIDDEN)

    @property
    def gpu_id(self) -> str | None:
        """The selected GPU's id (`CUSTOM_GPU_ID` for one the request describes)."""
        return None if self.device is None else self.device.id


def parse_common(f: Fields) -> Common | None:
    """mode, model, gpu and fit_gpus; None when the model cannot be read."""
    mode = f.choice("mode", MODES, default=None)
    model = _parse_model(f)
    gpus = catalogs.gpus()
    echo, device = parse_gpu(f)
    fit_raw = f.get("fit_gpus")
    fit_gpus: tuple[str, ...] = tuple(gpus)
    if fit_raw == "all" or fit_raw is None:
        pass
    elif isinstance(fit_raw, list) and all(isinstance(x, str) for x in fit_raw):
        unknown = [x for x in fit_raw if x not in gpus]
        if unknown:
            hint = did_you_mean(unknown[0], gpus) if len(unknown) == 1 else ""
            f.add("fit_gpus", "unknown GPU ids: " + ", ".join(x[:60] for x in unknown[:8])
                  + hint)
        fit_gpus = tuple(x for x in fit_raw if x in gpus)
    else:
        f.add("fit_gpus", "must be \"all\" or a list of GPU ids")
    if model is None:
        return None
    ref, spec = model
    devices = tuple(gpus[g] for g in fit_gpus)
    if device is not None and device.id not in fit_gpus:
        devices += (device,)
    return Common(mode=mode, model=ref, spec=spec, gpu=echo, fit_gpus=fit_gpus, device=device,
                  fit_devices=devices)


def did_you_mean(value: str, choices: Iterable[str]) -> str:
    """" (did you mean 'x' or 'y'?)" for the closest of `choices` (difflib, ignoring case),
    or "" when none is close."""
    import difflib  # imported on demand: only a bad name needs it

    by_lower: dict[str, str] = {}
    for choice in choices:
        by_lower.setdefault(choice.lower(), choice)
    close = difflib.get_close_matches(value.lower()[:100], by_lower, n=3, cutoff=0.6)
    if not close:
        return ""
    names = [repr(by_lower[c]) for c in close]
    return " (did you mean " + (" or ".join(names) if len(names) < 3
                                 else f"{names[0]}, {names[1]} or {names[2]}") + "?)"


def parse_gpu(f: Fields) -> tuple[str | dict[str, Any] | None, GPU | None]:
    """`gpu`: a catalog id, or an object describing a GPU the catalog lacks. Returns what
    the answer echoes and the GPU (None when absent or bad)."""
    raw = f.get("gpu")
    if raw is None:
        return None, None
    gpus = catalogs.gpus()
    if isinstance(raw, str):
        if raw in gpus:
            return raw, gpus[raw]
        f.add("gpu", f"unknown GPU id {show(raw)}{did_you_mean(raw, gpus)}; another GPU: "
              "describe it as an object {\"name\": ..., \"memory_bytes\": ...}")
        return None, None
    if not isinstance(raw, dict):
        f.add("gpu", "must be a GPU id from the catalog (e.g. 'rtx-4090') or an object "
              f"{{\"name\": ..., \"memory_bytes\": ...}}, got {show(raw)}")
        return None, None
    return _parse_custom_gpu(f.sub("gpu"))


def _parse_custom_gpu(g: Fields) -> tuple[dict[str, Any] | None, GPU | None]:
    """A GPU described field by field; every problem is named. Throughput fields are
    optional (the speed bound needs the bandwidth and one of them); bf16 and fp16 run at
    the same tensor rate on every GPU with bf16, so either one gives the other, except on
    NVIDIA GPUs below compute capability 8.0, which have no bf16."""
    g.unknown_keys(CUSTOM_GPU_KEYS)
    limit = catalogs.request_limit
    name = g.text("name", default="Custom GPU")
    if len(name) > 60:
        g.add("name", f"must be at most 60 characters, got {len(name)}")
        name = name[:60]
    memory = g.integer("memory_bytes", minimum=MiB, maximum=limit("gpu.memory_bytes"))
    usable = g.number("usable_fraction", default=1.0, maximum=1.0, exclusive_minimum=True)
    vendor = g.choice("vendor", VENDORS, default="nvidia")
    kind = g.choice("kind", GPU_KINDS, default="discrete")
    figures: dict[str, float | None] = {}
    for key in ("bandwidth_gb_s", "bf16_tflops", "fp16_tflops"):
        figures[key] = g.number(key, default=0.0, exclusive_minimum=True,
                                maximum=limit(f"gpu.{key}")) if g.has(key) else None
    cc = g.get("compute_capability")
    sm = 0
    if cc is not None:
        if not isinstance(cc, str) or not _COMPUTE_CAPABILITY.fullmatch(cc):
            g.add("compute_capability", "must be CUDA's \"major.minor\" as a string such as "
                  f"\"8.9\", got {show(cc)}")
            cc = None
        elif vendor != "nvidia":
            g.add("compute_capability", f"is CUDA's (vendor \"nvidia\"), but vendor is {vendor!r}")
            cc = None
        else:
            major, minor = cc.split(".")
            sm = 10 * int(major) + int(minor)
    bf16, fp16 = figures["bf16_tflops"], figures["fp16_tflops"]
    if sm and sm < 80 and bf16 is not None:
        g.add("bf16_tflops", f"compute capability {cc} has no bf16 (it needs 8.0): give "
              "fp16_tflops")
    if g.failed():
        return None, None
    if fp16 is None:
        fp16 = bf16
    if bf16 is None and not (sm and sm < 80):
        bf16 = fp16
    device = GPU(id=CUSTOM_GPU_ID, name=name, vendor=vendor, kind=kind, memory_bytes=memory,
                 usable_fraction=usable, bandwidth_gb_s=figures["bandwidth_gb_s"],
                 bf16_tflops=bf16, fp16_tflops=fp16, source="the request's gpu",
                 compute_capability=cc)
    echo = {"name": name, "memory_bytes": memory, "usable_fraction": usable,
            "bandwidth_gb_s": device.bandwidth_gb_s, "bf16_tflops": bf16, "fp16_tflops": fp16,
            "compute_capability": cc, "vendor": vendor, "kind": kind}
    return echo, device


def _parse_model(f: Fields) -> tuple[ModelRef, ModelSpec] | None:
    raw = f.get("model")
    if raw is None:
        f.add("model", "is required: {\"preset\": \"<id>\"} or {\"config\": {...config.json...}}")
        return None
    if not isinstance(raw, dict):
        f.add("model", f"must be an object, got {show(raw)}")
        return None
    m = f.sub("model")
    m.unknown_keys(("preset", "config", "name", "ollama", "checkpoint_bytes"))
    checkpoint_bytes = m.optional_integer("checkpoint_bytes",
                                          maximum=catalogs.bound("bytes"))
    kinds = [k for k in ("preset", "config", "ollama") if m.has(k)]
    if len(kinds) != 1:
        f.add("model", "must have exactly one of \"preset\", \"config\" or \"ollama\"")
        return None
    if kinds == ["ollama"]:
        return _parse_ollama_model(f, m, raw["ollama"])
    has_preset = kinds == ["preset"]
    name = raw.get("name")
    if name is None:
        name = ""
    elif not isinstance(name, str):
        m.add("name", f"must be a string, got {show(name)}")
        name = ""
    if has_preset:
        preset = raw["preset"]
        entry = catalogs.presets().get(preset) if isinstance(preset, str) else None
        if entry is None:
            close = did_you_mean(preset, catalogs.presets()) if isinstance(preset, str) else ""
            m.add("preset", f"unknown model preset {show(preset)}{close}; another model: give "
                  "its config.json as {\"config\": {...}}")
            return None
        label = str(entry.get("name") or preset)
        spec = architecture.preset_spec(preset, entry["config"], f.collector, name=label)
        ref = ModelRef(preset=preset, config=None, name="", label=label,
                       source_config=entry["config"], checkpoint_bytes=checkpoint_bytes)
    else:
        config = raw["config"]
        spec = architecture.from_config_cached(config, f.collector, path="model.config",
                                               name=name)
        source = config if isinstance(config, dict) else {}
        ref = ModelRef(preset=None, config=source, name=name, label=name, source_config=source,
                       checkpoint_bytes=checkpoint_bytes)
    if spec is None:
        return None
    return ref, spec


def _parse_ollama_model(f: Fields, m: Fields, tag: Any) -> tuple[ModelRef, ModelSpec] | None:
    """An Ollama model name: the preset with its shapes, the tag's file and context."""
    if not isinstance(tag, str):
        m.add("ollama", f"must be an Ollama model name such as 'llama3.1:8b', got {show(tag)}")
        return None
    model, weight_format, problem = ollama.lookup(tag)
    if model is None:
        m.add("ollama", problem)
        return None
    if model.preset is None:
        m.add("ollama", f"{model.name} ({model.hub}) has no preset in vramcalc's catalog: give "
              f"its config.json as model.config, with weight_format {model.weight_format}")
        return None
    entry = catalogs.presets()[model.preset]
    label = f"{tag} ({model.hub})"
    spec = architecture.from_config_cached(entry["config"], f.collector, path="model.ollama",
                                           name=label)
    if spec is None:
        return None
    ref = ModelRef(preset=None, config=None, name="", label=label, source_config=entry["config"],
                   ollama=tag, tag_format=weight_format, tag_context=model.context_length)
    return ref, spec


# Metal (Apple GPUs) has no CUDA context: no memory is held before the first buffer.
APPLE_CONTEXT_BYTES = 0


def measured_context(device: GPU | None, default: int) -> int:
    """The CUDA context measured on the selected GPU (the catalog's cuda_context_bytes), else
    `default`. Only the H200's is measured so far; other GPUs and drivers differ (a bare
    context, before any kernel: 256 MiB on an RTX 3090 with CUDA 12.8, invoke-ai/InvokeAI
    #9413; 426 MiB on an RTX 6000 Ada with CUDA 13.0, unslothai/unsloth-zoo#1053)."""
    if device is not None and device.cuda_context_bytes is not None:
        return device.cuda_context_bytes
    return default


def parse_overheads(f: Fields, *, context: int, reserve: float,
                    device: GPU | None = None) -> Overheads:
    """`overheads`, with the engine's or the mode's defaults; on an Apple GPU the CUDA
    context's default is 0 (`APPLE_CONTEXT_BYTES`)."""
    if device is not None and device.vendor == "apple":
        context = APPLE_CONTEXT_BYTES
    o = f.sub("overheads")
    o.unknown_keys(("cuda_context_bytes", "allocator_reserve_fraction"))
    return Overheads(
        cuda_context_bytes=o.integer("cuda_context_bytes", default=context, minimum=0,
                                     maximum=catalogs.request_limit("overheads.cuda_context_bytes")),
        allocator_reserve_fraction=o.number("allocator_reserve_fraction", default=reserve,
                                            minimum=0.0, maximum=1.0),
    )


def check_tensor_parallel(f: Fields, key: str, spec: ModelSpec, tp: int) -> None:
    """Tensor parallelism splits attention heads: TP must divide the query heads, and the
    KV heads too unless there are fewer KV heads than GPUs (then they are replicated)."""
    if tp > 1 and spec.num_kv_heads % tp and spec.num_kv_heads >= tp:
        f.add(key, f"must divide the number of KV heads ({spec.num_kv_heads})")
    if tp > 1 and spec.num_heads % tp:
        f.add(key, f"must divide the number of attention heads ({spec.num_heads})")
