"""The unit of every answer: a named amount of memory with its formula and its source."""

from __future__ import annotations

from dataclasses import dataclass

# cuBLAS workspaces come from PyTorch's caching allocator and count as allocated: torch's
# default CUBLAS_WORKSPACE_CONFIG is :4096:8 (32 MiB) on Hopper, :4096:2:16:8 (8.1 MiB)
# before (aten/src/ATen/cuda/CublasHandlePool.cpp); measured 33,554,940 B on an H200.
CUBLAS_WORKSPACE_BYTES = 32 << 20


@dataclass(frozen=True, kw_only=True, slots=True)
class Component:
    """Bytes of one kind of memory. `kind`: "tensor" (handed out by the framework's
    allocator, what `torch.cuda.max_memory_allocated` counts) or "overhead" (CUDA context,
    allocator slack, engine reserve)."""

    name: str
    label: str
    bytes: int
    kind: str
    formula: str
    source: str

    def to_dict(self) -> dict[str, object]:
        return {
            "name": self.name,
            "label": self.label,
            "bytes": self.bytes,
            "kind": self.kind,
            "formula": self.formula,
            "source": self.source,
        }


@dataclass(frozen=True, kw_only=True, slots=True)
class Phase:
    """Memory at the peak of one phase (prefill, decode, forward, backward, optimizer step)."""

    name: str
    components: tuple[Component, ...]

    @property
    def total(self) -> int:
        return sum(c.bytes for c in self.components)
