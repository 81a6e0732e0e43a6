"""Optimizer state and step temporaries, per parameter.

States are what an optimizer keeps between steps; temporaries are what its `step()`
allocates on top of them while it runs, which is what raises the peak of the optimizer
phase. Both depend on the implementation, not only on the algorithm:

- torch AdamW `foreach` (the default on CUDA when not fused, torch/optim/adamw.py
  `_multi_tensor_adam`): `torch._foreach_sqrt(exp_avg_sqs)` builds a new tensor for every
  parameter of a param group at once, so the step peaks at one extra copy of the group;
- `fused` (`torch._fused_adamw_`, HF Trainer's default `adamw_torch_fused` with torch >= 2.8):
  updates in place, no temporaries;
- `forloop` (`_single_tensor_adam`): `exp_avg_sq.sqrt() / bias_correction2_sqrt` makes two
  temporaries of one parameter at a time: twice the largest parameter.

States are created lazily by the first `step()`: the figures here are those of the second
and later steps, which is what a run sustains.
"""

from __future__ import annotations

from dataclasses import dataclass

from .sizes import cdiv

OPTIMIZERS = ("adamw", "adamw_8bit", "paged_adamw_8bit", "adafactor", "sgd", "lion")
IMPLEMENTATIONS = ("foreach", "fused", "forloop")

# bitsandbytes 8-bit optimizers (bitsandbytes/optim/optimizer.py, Dettmers et al. 2022,
# "8-bit Optimizers via Block-wise Quantization"): one byte per state element plus one fp32
# absmax per block of 256 elements (blocksize in `optimizer_update_8bit_blockwise`);
# tensors with fewer than `min_8bit_size` = 4096 elements keep 32-bit states.
_BNB_BLOCK = 256
_BNB_MIN_8BIT = 4096


@dataclass(frozen=True, kw_only=True, slots=True)
class OptimizerCost:
    """Bytes of optimizer state and step temporaries for a set of parameters."""

    state_bytes: int
    temporary_bytes: int
    state_formula: str
    temporary_formula: str
    paged: bool  # bitsandbytes paged optimizers: CUDA unified memory, evicted to the host
    source: str


def cost(
    optimizer: str,
    implementation: str,
    *,
    sizes: tuple[int, ...],
    group_numel: int,
    state_bytes: int,
    momentum: float,
) -> OptimizerCost:
    """State and temporaries for parameters of element counts `sizes`.

    `group_numel`: elements in the largest param group (HF Trainer: the weight-decay group,
    every 2-D weight); `state_bytes`: bytes of one 32- or 16-bit state element (the
    parameter's dtype for torch optimizers).
    """
    total = sum(sizes)
    largest = max(sizes, default=0)
    if optimizer == "adamw":
        return _adamw(implementation, total, largest, group_numel, state_bytes)
    if optimizer in ("adamw_8bit", "paged_adamw_8bit"):
        return _adamw_8bit(sizes, paged=optimizer == "paged_adamw_8bit")
    if optimizer == "adafactor":
        raise ValueError("adafactor needs tensor shapes: use adafactor_cost")
    if optimizer == "sgd":
        states = total * state_bytes if momentum > 0 else 0
        return OptimizerCost(
            state_bytes=states, temporary_bytes=0,
            state_formula=("P_trainable · B_state (momentum buffer)" if momentum
                           else "0 (no momentum: SGD keeps no state)"),
            temporary_formula="0 (in-place foreach updates without weight decay)",
            paged=False, source="torch/optim/sgd.py (_multi_tensor_sgd)",
        )
    # lion (lion-pytorch / Chen et al. 2023): one momentum; the step builds the signed
    # update from a clone of it: two temporaries of one parameter at a time
    return OptimizerCost(
        state_bytes=total * state_bytes, temporary_bytes=2 * largest * state_bytes,
        state_formula="P_trainable · B_state (exp_avg)",
        temporary_formula="2 · largest parameter · B_state (update = exp_avg.clone()...sign_())",
        paged=False, source="Chen et al. 2023 (Lion, Algorithm 2); lucidrains/lion-pytorch",
    )


def _adamw(
    implementation: str, total: int, largest: int, group_numel: int, state_bytes: int
) -> OptimizerCost:
    states = 2 * total * state_bytes  # x2: exp_avg and exp_avg_sq
    if implementation == "foreach":
        temporary = group_numel * state_bytes
        temp_formula = ("P_group · B_state: torch._foreach_sqrt(exp_avg_sqs) makes one new "
                        "tensor per parameter of the largest param group at once")
    elif implementation == "forloop":
        temporary = 2 * largest * state_bytes
        temp_formula = "2 · largest parameter · B_state (sqrt, then the division)"
    else:
        temporary = 0
        temp_formula = "0 (torch._fused_adamw_ updates in place)"
    return OptimizerCost(
        state_bytes=states, temporary_bytes=temporary,
        state_formula="2 · P_trainable · B_state (exp_avg, exp_avg_sq)",
        temporary_formula=temp_formula, paged=False,
        source=f"torch/optim/adamw.py ({implementation}); Loshchilov & Hutter 2019",
    )


def _adamw_8bit(sizes: tuple[int, ...], *, paged: bool) -> OptimizerCost:
    states = 0
    for n in sizes:
        if n < _BNB_MIN_8BIT:
            states += 2 * n * 4  # small tensors keep fp32 states
        else:
            blocks = cdiv(n, _BNB_BLOCK)
            states += 2 * (n + 4 * blocks)  # x2 states: 1 byte each + fp32 absmax per block
    return OptimizerCost(
        state_bytes=states, temporary_bytes=0,
        state_formula=("2 · P_trainable · (1 B + 4 B / 256) (8-bit blockwise states; "
                       "tensors under 4096 elements keep fp32 states)"),
        temporary_formula="0 (bitsandbytes updates in place)",
        paged=paged,
        source="bitsandbytes optim/optimizer.py (Optimizer2State, blockwise 8-bit); "
        "Dettmers et al. 2022",
    )


def adafactor_cost(shapes: tuple[tuple[int, int, int], ...], largest: int) -> OptimizerCost:
    """Adafactor without first moment (HF `Adafactor`, beta1=None): a factored second
    moment, one row and one column vector per matrix, a full one for vectors
    (Shazeer & Stern 2018, Algorithm 4). `shapes`: (rows, cols, count) per group, cols 0
    for a vector. The step makes `grad**2 + eps`, the approximated `v` and the update,
    one parameter at a time: three fp32 temporaries of the largest parameter."""
    states = 0
    for rows, cols, count in shapes:
        states += 4 * count * ((rows + cols) if cols else rows)
    return OptimizerCost(
        state_bytes=states, temporary_bytes=3 * largest * 4,
        state_formula="Σ matrices (rows + cols) · 4 B + Σ vectors · 4 B (factored second moment)",
        temporary_formula="3 · largest parameter · 4 B (grad², v̂, update; one tensor at a time)",
        paged=False,
        source="Shazeer & Stern 2018 (Adafactor); transformers optimization.py Adafactor",
    )
