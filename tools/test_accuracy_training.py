"""Tests of tools/accuracy_training.py itself: its CPU dropout adjustment and the table's
claim that vramcalc beats the original calculator's rule of thumb on the published rows.

The package's accuracy is tested in tests/test_training_calibration.py; these test what the
tool adds to it. pytest puts tools/ on sys.path for this file (tools/ has no __init__.py).
"""

from __future__ import annotations

import statistics
from typing import Any

import accuracy_training as acc

PUBLISHED = {r["id"]: r for r in acc.compare_published()}


def test_cpu_rows_get_the_dropout_adjustment() -> None:
    row: dict[str, Any] = {"device": "cpu-fake", "request": {
        "method": "lora", "micro_batch_size": 2, "sequence_length": 8,
        "model": {"config": {"model_type": "llama", "hidden_size": 64, "num_hidden_layers": 2,
                             "num_attention_heads": 4, "num_key_value_heads": 2,
                             "intermediate_size": 128, "vocab_size": 100}},
        "lora": {"rank": 4, "dropout": 0.1, "target_modules": ["q_proj", "v_proj"]}}}
    # q and v read h = 64 inputs in each of 2 layers: 3 B · 256 elements · 16 tokens
    assert acc.cpu_dropout_bytes(row) == 3 * 256 * 16
    assert acc.cpu_dropout_bytes({**row, "device": "cuda"}) == 0
    assert acc.cpu_dropout_bytes({**row, "cuda_emulation": {"dropout": "1-byte mask"}}) == 0


def test_every_mapped_published_row_is_in_the_table() -> None:
    assert set(PUBLISHED) == set(acc.MAPPING)
    not_comparable = {pid for pid, m in acc.MAPPING.items() if m["kind"] == "not_comparable"}
    assert {pid for pid, r in PUBLISHED.items() if "estimate" not in r} == not_comparable


def test_vramcalc_beats_the_rule_of_thumb_on_published_rows() -> None:
    rows = [r for r in PUBLISHED.values() if "estimate" in r]
    assert len(rows) >= 10
    ours = statistics.median(abs(r["error"]) for r in rows)
    seed = statistics.median(abs(r["seed_error"]) for r in rows)
    assert ours < seed / 2


def test_published_rows_median_within_7_percent() -> None:
    """The accuracy target for the published rows (docs/accuracy.md): median absolute error
    at most 7 % over the comparable rows."""
    rows = [r for r in PUBLISHED.values() if "estimate" in r]
    assert statistics.median(abs(r["error"]) for r in rows) <= 7
