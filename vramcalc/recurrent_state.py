"""Per-sequence state of recurrent layers (Mamba, Mamba-2, Gated DeltaNet, short
convolutions), as each engine keeps it. Unlike a KV cache it does not grow with the
context: one convolution window and one recurrent state per layer and sequence.

- transformers v5 (cache_utils.py, `LinearAttentionLayer`): `conv_kernel` columns of the
  convolution input, in the model's dtype; the recurrent state in fp32 where the model keeps
  it so (`RecurrentLayer.state_dtype`), else in the model's dtype.
- vLLM (model_executor/layers/mamba/mamba_utils.py `MambaStateShapeCalculator`): `conv_kernel
  - 1` columns, both split over tensor parallelism; one page per sequence and layer.
- llama.cpp (llama-memory-recurrent.cpp): `conv_kernel - 1` columns and the state, in F32, per
  sequence slot (`n_seq_max`), on the device of their layer.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .modelspec import ModelSpec, RecurrentLayer


def _state_bytes(layer: RecurrentLayer, model_bytes: float) -> float:
    return layer.state_elements * (4 if layer.state_dtype == "fp32" else model_bytes)


def transformers_bytes(spec: ModelSpec, model_bytes: float) -> int:
    """Bytes per sequence of every recurrent layer in a transformers cache."""
    return int(sum(layer.conv_kernel * layer.conv_channels * model_bytes
                   + _state_bytes(layer, model_bytes)
                   for layer in spec.recurrent if layer is not None))


def vllm_page_bytes(layer: RecurrentLayer, model_bytes: float, tp: int) -> int:
    """Bytes of one layer's state for one sequence on one GPU, before vLLM pads it to the
    attention page (vllm/platforms/interface.py `_align_hybrid_block_size`)."""
    return int((layer.conv_elements * model_bytes + _state_bytes(layer, model_bytes)) // tp)


def llama_cpp_layer_bytes(spec: ModelSpec) -> list[int]:
    """Bytes per sequence slot of each layer's recurrent state in llama.cpp (0 for attention
    layers): the r (convolution) and s (state) tensors, F32."""
    return [0 if layer is None else 4 * (layer.conv_elements + layer.state_elements)
            for layer in (spec.recurrent or (None,) * spec.num_layers)]
