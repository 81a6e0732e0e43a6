"""Optimizer states and step temporaries (vramcalc/optimizers.py)."""

from __future__ import annotations

import pytest

from vramcalc import optimizers

SIZES = (1000, 4000, 10000)  # three parameters


def _cost(optimizer: str, implementation: str = "foreach", state_bytes: int = 4,
          momentum: float = 0.0) -> optimizers.OptimizerCost:
    return optimizers.cost(optimizer, implementation, sizes=SIZES, group_numel=14000,
                           state_bytes=state_bytes, momentum=momentum)


@pytest.mark.parametrize(
    ("implementation", "temporary"),
    [
        ("foreach", 14000 * 4),  # _foreach_sqrt over the whole decay group
        ("fused", 0),  # _fused_adamw_ in place
        ("forloop", 2 * 10000 * 4),  # sqrt and division of the largest parameter
    ],
)
def test_adamw(implementation: str, temporary: int) -> None:
    cost = _cost("adamw", implementation)
    assert cost.state_bytes == 2 * 15000 * 4  # exp_avg + exp_avg_sq in fp32
    assert cost.temporary_bytes == temporary


def test_adamw_states_follow_the_parameter_dtype() -> None:
    assert _cost("adamw", state_bytes=2).state_bytes == 2 * 15000 * 2


def test_adamw_8bit_blockwise() -> None:
    # 1000 elements < 4096 keep fp32 states: 2·1000·4 = 8000
    # 4000 < 4096 too: 32000; 10000: 2·(10000 + 4·ceil(10000/256)=160) = 20320
    cost = _cost("adamw_8bit")
    assert cost.state_bytes == 8000 + 32000 + 20320
    assert not cost.paged and _cost("paged_adamw_8bit").paged


def test_sgd() -> None:
    assert _cost("sgd").state_bytes == 0
    assert _cost("sgd", momentum=0.9).state_bytes == 15000 * 4


def test_lion() -> None:
    cost = _cost("lion")
    assert (cost.state_bytes, cost.temporary_bytes) == (15000 * 4, 2 * 10000 * 4)


def test_adafactor_factored_second_moment() -> None:
    # a 100x200 matrix keeps 100 + 200 fp32 values; a 50-vector keeps 50
    cost = optimizers.adafactor_cost(((100, 200, 2), (50, 0, 3)), largest=20000)
    assert cost.state_bytes == 4 * (2 * 300 + 3 * 50)
    assert cost.temporary_bytes == 3 * 20000 * 4


def test_8bit_is_smaller_than_32bit() -> None:
    big = (1 << 20,)
    eight = optimizers.cost("adamw_8bit", "fused", sizes=big, group_numel=1 << 20,
                            state_bytes=4, momentum=0)
    full = optimizers.cost("adamw", "fused", sizes=big, group_numel=1 << 20,
                           state_bytes=4, momentum=0)
    assert eight.state_bytes < full.state_bytes / 3
