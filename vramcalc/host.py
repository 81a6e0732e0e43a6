"""Host (CPU) memory: what stays in RAM while a model runs or trains, the peak while its
checkpoint loads, and the checkpoint's download size.

- Resident: what an engine or a training setup keeps in host memory on purpose: offloaded
  optimizer states, master weights, gradients and weights (ZeRO-Offload), paged optimizer
  states, offloaded activations; llama.cpp's CPU layers, their KV cache and compute buffer.
- Load peak: how the checkpoint reaches the GPU. transformers' `from_pretrained` reads a
  sharded safetensors checkpoint one shard after another (memory-mapped) onto the devices
  of its `device_map`, so at most one shard is in host memory at once; the Hub's shards are
  at most `save_pretrained`'s default `max_shard_size="5GB"`, or one tensor when a tensor is
  larger. vLLM streams the checkpoint one tensor at a time into its GPU parameters. llama.cpp
  memory-maps the whole GGUF file (`use_mmap`, on by default) and unmaps the ranges of the
  tensors it offloaded once they are on the GPU: the file passes through the page cache.
- Download: the checkpoint's weights as stored, in its own format (vramcalc/checkpoint.py:
  its quantization config, else its dtype), or the GGUF file: what the Hub sends, whatever
  format the request runs the weights in (bitsandbytes and FP8 quantize a 16-bit download
  while loading).

Figures are per process (one per GPU in multi-GPU runs). Nothing here is on the GPU.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from . import checkpoint, formats, memo
from .errors import Collector

if TYPE_CHECKING:
    from collections.abc import Mapping

    from .architecture import ModelSpec
    from .catalogs import WeightFormat

SHARD_BYTES = 5 * 10**9  # save_pretrained's max_shard_size="5GB" (10^9 bytes per GB)
SRC_TRANSFORMERS = ("transformers modeling_utils.py: from_pretrained loads a sharded "
                    "checkpoint shard after shard (safetensors, memory-mapped) onto the "
                    "device_map's devices; PreTrainedModel.save_pretrained(max_shard_size="
                    "\"5GB\")")
SRC_VLLM = ("vLLM model_executor/model_loader/weight_utils.py safetensors_weights_iterator: "
            "one tensor at a time from the memory-mapped files, copied into its GPU parameter")
SRC_LLAMA_CPP = ("llama.cpp llama-model-loader.cpp load_all_data: the GGUF file memory-mapped "
                 "(use_mmap, the default); the ranges of offloaded tensors unmapped after "
                 "loading (llama_mmap::unmap_fragment)")


def part(name: str, label: str, size: int, formula: str, source: str) -> dict[str, Any]:
    """One named amount of host memory."""
    return {"name": name, "label": label, "bytes": int(size), "formula": formula,
            "source": source}


def stored_format(config: Mapping[str, Any], spec: ModelSpec) -> WeightFormat:
    """The checkpoint's own format as stored: its quantization config, else its dtype
    (transformers' reading, which keeps fp32; vLLM's downcast happens while loading)."""
    fmt, _ = checkpoint.resolve(config, spec, Collector(), path="model", engine="transformers",
                                gpu=None)
    return fmt


def largest_tensor_bytes(fmt: WeightFormat, spec: ModelSpec) -> int:
    """Bytes of the checkpoint's largest single tensor stored in `fmt` (a stacked expert
    tensor counts as one, an upper bound for checkpoints that store experts one by one)."""
    return _largest_tensor_bytes(spec, fmt)


@memo.by_spec
def _largest_tensor_bytes(spec: ModelSpec, fmt: WeightFormat) -> int:
    return max((formats.tensor_bytes(fmt, g, spec, 16) // g.count for g in spec.tensors),
               default=0)


def memory(*, resident: list[dict[str, Any]], load: dict[str, Any],
           download: dict[str, Any]) -> dict[str, Any]:
    """The `details.host_memory` object (docs/api.md)."""
    return {"resident_bytes": sum(p["bytes"] for p in resident), "resident": resident,
            "load_peak_bytes": load["bytes"], "load": load,
            "download_bytes": download["bytes"], "download": download}


def download(fmt: WeightFormat, spec: ModelSpec) -> dict[str, Any]:
    """The checkpoint's weight files, as stored in its own format."""
    return part("download", "Checkpoint download", formats.weights_bytes(fmt, spec),
                f"weights as stored in the checkpoint's own format ({fmt.id})", fmt.source)


def transformers_load(fmt: WeightFormat, spec: ModelSpec, checkpoint: int) -> dict[str, Any]:
    """One shard at a time: min(checkpoint, max(5 GB, largest tensor))."""
    size = min(checkpoint, max(SHARD_BYTES, largest_tensor_bytes(fmt, spec)))
    return part("load_peak", "One checkpoint shard", size,
                "min(checkpoint, max(5 GB shard, largest tensor)); without a device_map the "
                "whole model is first built in CPU memory", SRC_TRANSFORMERS)


def vllm_load(fmt: WeightFormat, spec: ModelSpec) -> dict[str, Any]:
    """One tensor at a time."""
    return part("load_peak", "One tensor", largest_tensor_bytes(fmt, spec),
                "the checkpoint's largest tensor", SRC_VLLM)


def gguf_load(file_bytes: int) -> dict[str, Any]:
    """The whole file mapped while loading."""
    return part("load_peak", "The GGUF file, mapped", file_bytes,
                "the GGUF file, read through the page cache (reclaimable); the offloaded "
                "layers' ranges are unmapped once on the GPU", SRC_LLAMA_CPP)


def gguf_download(file_bytes: int, recipe: str, source: str) -> dict[str, Any]:
    return part("download", "GGUF file", file_bytes, f"the {recipe} GGUF file's tensors",
                source)


def checkpoint_memory(config: Mapping[str, Any], spec: ModelSpec, *, engine: str,
                      resident: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """`memory` for a safetensors checkpoint loaded by transformers (also under training
    frameworks) or by vLLM."""
    fmt = stored_format(config, spec)
    dl = download(fmt, spec)
    load = (vllm_load(fmt, spec) if engine == "vllm"
            else transformers_load(fmt, spec, dl["bytes"]))
    return memory(resident=resident or [], load=load, download=dl)


_TRAINING_LABELS = {
    "paged_optimizer_states": ("Paged optimizer states (when the GPU is full)",
                               "bitsandbytes paged optimizers: CUDA unified memory, evicted "
                               "to the host under GPU memory pressure"),
    "optimizer_states": ("Optimizer states (offloaded)",
                         "ZeRO-Offload (Ren et al. 2021): DeepSpeed offload_optimizer"),
    "master_weights": ("Master weights (offloaded)", "ZeRO-Offload (Ren et al. 2021)"),
    "fp32_gradients": ("fp32 gradients (offloaded)", "ZeRO-Offload (Ren et al. 2021)"),
    "weights": ("Weights (offloaded)", "ZeRO-Infinity: DeepSpeed offload_param (stage 3)"),
}


def training_resident(cpu: Mapping[str, int], tokens: int) -> list[dict[str, Any]]:
    """The host side of a training step per GPU process: `cpu` is the training plan's
    `details.cpu_memory_bytes`; offloaded activations are per token of the micro-batch."""
    out = []
    for key, size in cpu.items():
        if key == "offloaded_activations_per_token":
            out.append(part("offloaded_activations", "Activations (offloaded checkpoints)",
                            size * tokens, f"{size:,} B per token × {tokens:,} tokens",
                            "torch.autograd.graph.save_on_cpu (offloaded checkpointing)"))
        else:
            label, source = _TRAINING_LABELS.get(key, (key, "training plan"))
            out.append(part(key, label, size, "the training plan's share per GPU", source))
    return out
