"""Multi-GPU training: how data, tensor and pipeline parallelism and ZeRO divide memory.

Per GPU, with `d` data-parallel ranks, `t` tensor-parallel ranks and `p` pipeline stages:

- ZeRO (Rajbhandari et al. 2020, section 5; = PyTorch FSDP): stage 1 shards optimizer states
  (and fp32 master weights) over `d`, stage 2 also gradients (FSDP SHARD_GRAD_OP), stage 3 also
  the weights (FSDP FULL_SHARD), which are all-gathered one layer at a time: the layer in
  use and the one being prefetched are unsharded (DeepSpeed stage3.py
  `estimate_zero3_model_states_mem_needs` counts `4 · largest layer`; FSDP's
  forward/backward prefetch keeps two units).
- Offload (ZeRO-Offload, Ren et al. 2021): optimizer states, master weights and fp32
  gradients move to CPU memory, and with ZeRO-3 the weights too.
- Tensor parallelism (Shoeybi et al. 2019) splits every linear weight and the vocabulary
  over `t`; activations inside attention and MLP split too, the norms' inputs only with
  sequence parallelism (Korthikanti et al. 2022, Table 2).
- Pipeline parallelism with the 1F1B schedule (Narayanan et al. 2021): the first stage
  holds the embedding and `ceil(L/p)` layers, and the activations of `min(p, m)` micro-batches
  in flight (`m` = gradient-accumulation steps), i.e. as many as `L·min(p, m)/p` layers of
  one micro-batch (Korthikanti et al. 2022, section 4.2.3).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .sizes import cdiv

SOURCE = (
    "Rajbhandari et al. 2020 (ZeRO); Ren et al. 2021 (ZeRO-Offload); Shoeybi et al. 2019 "
    "(Megatron TP); Korthikanti et al. 2022 (sequence parallelism, pipeline activations)"
)


@dataclass(frozen=True, kw_only=True, slots=True)
class ParallelSpec:
    data: int
    tensor: int
    pipeline: int
    zero_stage: int
    offload_optimizer: bool
    offload_parameters: bool
    sequence_parallel: bool

    def to_dict(self) -> dict[str, Any]:
        return {
            "data": self.data,
            "tensor": self.tensor,
            "pipeline": self.pipeline,
            "zero_stage": self.zero_stage,
            "offload_optimizer": self.offload_optimizer,
            "offload_parameters": self.offload_parameters,
            "sequence_parallel": self.sequence_parallel,
        }

    @property
    def gpus(self) -> int:
        return self.data * self.tensor * self.pipeline

    def states_shards(self) -> int:
        """Ranks optimizer states and master weights are split over (ZeRO >= 1)."""
        return self.data if self.zero_stage >= 1 else 1

    def gradient_shards(self) -> int:
        return self.data if self.zero_stage >= 2 else 1

    def weight_shards(self) -> int:
        return self.data if self.zero_stage >= 3 else 1


def stage_layers(layers: int, pipeline: int) -> int:
    """Layers on the busiest pipeline stage."""
    return cdiv(layers, pipeline)


def stage_fraction(
    *, layer_params: int, embed_params: int, head_params: int, layers: int, pipeline: int
) -> float:
    """Share of all parameters the busiest pipeline stage holds: the first stage (embedding
    + its layers) or the last (its layers + lm_head and final norm), whichever is larger."""
    total = layer_params + embed_params + head_params
    if pipeline == 1 or total == 0:
        return 1.0
    per_layer = layer_params / layers
    mine = stage_layers(layers, pipeline) * per_layer
    return min(1.0, (mine + max(embed_params, head_params)) / total)


def in_flight_layers(layers: int, pipeline: int, micro_batches: int) -> float:
    """Layers' worth of one micro-batch's activations the first stage holds (1F1B)."""
    return layers * min(pipeline, micro_batches) / pipeline
