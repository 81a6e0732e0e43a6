"""What every request has: mode, model, GPUs, overheads, and the tensor-parallel check."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .. import architecture, catalogs, ollama
from ..errors import show
from ..jsonable import HIDDEN, OMIT_EMPTY, OMIT_NONE

if TYPE_CHECKING:
    from collections.abc import Mapping

    from ..architecture import ModelSpec
    from ..errors import Fields

MODES = ("inference", "training")
COMMON_KEYS = frozenset({"mode", "model", "gpu", "fit_gpus", "overheads"})


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
    gpu: str | None
    fit_gpus: tuple[str, ...]


def parse_common(f: Fields) -> Common | None:
    """mode, model, gpu and fit_gpus; None when the model cannot be read."""
    mode = f.choice("mode", MODES, default=None)
    model = _parse_model(f)
    gpus = catalogs.gpus()
    gpu = f.get("gpu")
    if gpu is not None and (not isinstance(gpu, str) or gpu not in gpus):
        f.add("gpu", f"must be a GPU id from the catalog (e.g. 'rtx-4090'), got {show(gpu)}")
        gpu = None
    fit_raw = f.get("fit_gpus")
    fit_gpus: tuple[str, ...] = tuple(gpus)
    if fit_raw == "all" or fit_raw is None:
        pass
    elif isinstance(fit_raw, list) and all(isinstance(x, str) for x in fit_raw):
        unknown = [x for x in fit_raw if x not in gpus]
        if unknown:
            f.add("fit_gpus", "unknown GPU ids: " + ", ".join(x[:60] for x in unknown[:8]))
        fit_gpus = tuple(x for x in fit_raw if x in gpus)
    else:
        f.add("fit_gpus", "must be \"all\" or a list of GPU ids")
    if model is None:
        return None
    ref, spec = model
    return Common(mode=mode, model=ref, spec=spec, gpu=gpu, fit_gpus=fit_gpus)


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
            m.add("preset", f"unknown model preset {show(preset)}; see vramcalc.catalog()")
            return None
        label = str(entry.get("name") or preset)
        spec = architecture.from_config_cached(entry["config"], f.collector,
                                               path="model.preset", name=label)
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


def parse_overheads(f: Fields, *, context: int, reserve: float) -> Overheads:
    """`overheads`, with the engine's or the mode's defaults."""
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
