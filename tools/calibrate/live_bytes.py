"""Count the bytes of live tensor storages, with a peak per phase.

A TorchDispatchMode sees every ATen op's outputs after autograd (the same place
torch.distributed._tools.mem_tracker.MemTracker hooks in). Each new storage is counted
once, rounded up to the CUDA caching allocator's 512-byte blocks, and uncounted when
Python frees it (a weakref callback on the storage, whose Python object PyTorch keeps
alive for as long as the storage lives). Under FakeTensorMode nothing is allocated, so
this gives the tensor-level peak of a GPU run without a GPU. It cannot see scratch
buffers a kernel allocates internally, nor the allocator's caching (reserved memory).
"""

from __future__ import annotations

import functools
import math
import weakref
from typing import TYPE_CHECKING, Any

import torch
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_map_only

if TYPE_CHECKING:
    from collections.abc import Iterable

CUDA_BLOCK_BYTES = 512  # c10/cuda/CUDACachingAllocator.cpp: kMinBlockSize, every block a multiple


def block_bytes(nbytes: int, block: int) -> int:
    """Bytes an allocation of `nbytes` takes in blocks of `block` bytes (0 stays 0)."""
    if nbytes <= 0 or block <= 1:
        return max(nbytes, 0)
    return math.ceil(nbytes / block) * block


class LiveBytes(TorchDispatchMode):
    """Current and peak bytes of live storages; `phase(name)` starts a new per-phase peak."""

    def __init__(self, *, block: int = CUDA_BLOCK_BYTES) -> None:
        super().__init__()
        self.block = block
        self.current = 0
        self.peak = 0
        self.phase_name = "setup"
        self.phase_peaks: dict[str, int] = {"setup": 0}
        self._live: dict[int, tuple[int, weakref.ref[Any]]] = {}

    def phase(self, name: str) -> None:
        """Start phase `name`: its peak begins at what is live now."""
        self.phase_name = name
        self.phase_peaks[name] = self.current

    def track(self, tensors: Iterable[torch.Tensor]) -> None:
        """Count tensors created outside the mode (parameters made before it was entered)."""
        for tensor in tensors:
            self._add(tensor)

    def _add(self, tensor: torch.Tensor) -> None:
        storage = tensor.untyped_storage()
        key = id(storage)
        entry = self._live.get(key)
        nbytes = block_bytes(storage.nbytes(), self.block)
        if entry is not None:
            if entry[0] != nbytes:  # resized in place (resize_, set_)
                self.current += nbytes - entry[0]
                self._live[key] = (nbytes, entry[1])
                self._note_peak()
            return
        self._live[key] = (nbytes, weakref.ref(storage, functools.partial(self._free, key)))
        self.current += nbytes
        self._note_peak()

    def _free(self, key: int, _ref: object) -> None:
        entry = self._live.pop(key, None)
        if entry is not None:
            self.current -= entry[0]

    def _note_peak(self) -> None:
        self.peak = max(self.peak, self.current)
        if self.current > self.phase_peaks[self.phase_name]:
            self.phase_peaks[self.phase_name] = self.current

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):  # type: ignore[no-untyped-def]
        out = func(*args, **(kwargs or {}))
        tree_map_only(torch.Tensor, self._add, out)
        return out
