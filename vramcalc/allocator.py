"""PyTorch's CUDA caching allocator: how many bytes a tensor counts as allocated.

Rules from c10/cuda/CUDACachingAllocator.cpp (PyTorch 2.x):
- every request is rounded up to a multiple of 512 bytes (kMinBlockSize);
- a request over 1 MiB (kSmallSize) is served from the large pool; a new segment for it is
  20 MiB (kLargeBuffer) below 10 MiB (kMinLargeAlloc), else the request rounded up to 2 MiB
  (kRoundLarge);
- a large block is split only when more than 1 MiB would remain; otherwise the caller gets
  the whole block and `torch.cuda.memory_allocated()` counts all of it.

So a tensor of 10 MiB or more that lands in a fresh segment counts as the segment when the
rounding leaves 1 MiB or less over: a 13.5 MiB weight counts 14 MiB. Loading a checkpoint
allocates each large weight this way (measured on an H200: the excess over the raw bytes is
108.5 MiB for Qwen2.5-3B, 0 for Llama-3.1-8B, whose matrices are whole multiples of 2 MiB).
"""

from __future__ import annotations

from .sizes import cdiv

_MIN_BLOCK = 512
_SMALL = 1 << 20
_MIN_LARGE_ALLOC = 10 << 20
_ROUND_LARGE = 2 << 20


def block_bytes(nbytes: int) -> int:
    """Bytes `memory_allocated()` counts for one tensor of `nbytes` in a fresh segment."""
    size = max(_MIN_BLOCK, cdiv(nbytes, _MIN_BLOCK) * _MIN_BLOCK)
    if size < _MIN_LARGE_ALLOC:
        return size  # carved from a shared 2 MiB / 20 MiB segment: split to size
    segment = cdiv(size, _ROUND_LARGE) * _ROUND_LARGE
    return segment if segment - size <= _SMALL else size
