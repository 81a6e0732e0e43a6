"""The unit of every answer: a named amount of memory with its formula and its source, the
phases they add up to, and what an engine or the training planner hands the response."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .jsonable import as_json
from .sizes import MiB

if TYPE_CHECKING:
    from .fit import FitRow

# cuBLAS workspaces come from PyTorch's caching allocator and count as allocated: torch's
# default CUBLAS_WORKSPACE_CONFIG is :4096:8 (32 MiB) on Hopper, :4096:2:16:8 (8.1 MiB)
# before (aten/src/ATen/cuda/CublasHandlePool.cpp); measured 33,554,940 B on an H200.
CUBLAS_WORKSPACE_BYTES = 32 * MiB
CUBLAS_WORKSPACE_TEXT = f"{CUBLAS_WORKSPACE_BYTES // MiB} MiB cuBLAS workspace"


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

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = as_json(self)
        return out


@dataclass(frozen=True, kw_only=True, slots=True)
class Phase:
    """Memory at the peak of one phase (prefill, decode, forward, backward, optimizer step)."""

    name: str
    components: tuple[Component, ...]

    @property
    def total(self) -> int:
        return sum(c.bytes for c in self.components)


@dataclass(frozen=True, kw_only=True, slots=True)
class Warning:
    """Something the user should know about the answer."""

    code: str
    message: str


@dataclass(frozen=True, kw_only=True, slots=True)
class EngineResult:
    """What an engine (or the training planner) answers for a validated request; the
    response adds the model, the parameters and the echoed request."""

    peak: Phase
    phases: tuple[Phase, ...]
    fit_rows: tuple[FitRow, ...]
    details: dict[str, Any]
    length_field: str  # the request field of the sequence length checked against the model
    length: int
    warnings: tuple[Warning, ...] = ()
    trainable_parameters: int = 0


def reserve_bytes(allocated: int, fraction: float) -> int:
    """The caching allocator's slack: `fraction` of the allocated peak, rounded up."""
    return int(allocated * fraction + 0.999999)


def allocator_reserve(allocated: int, fraction: float) -> Component:
    return Component(
        name="runtime_reserve", label="Allocator reserve", kind="overhead",
        bytes=reserve_bytes(allocated, fraction),
        formula=f"{fraction:g} × allocated peak",
        source="PyTorch caching allocator: reserved minus allocated at the peak "
        "(overheads.allocator_reserve_fraction)")


def cuda_context(context_bytes: int, *, label: str = "CUDA context", source: str) -> Component:
    return Component(name="cuda_context", label=label, bytes=context_bytes, kind="overhead",
                     formula="overheads.cuda_context_bytes", source=source)
