"""Training estimates against measured training steps and published figures.

Calibration rows (tests/data/calibration/*.jsonl) come from tools/calibrate/measure.py; each
carries the request describing its run and the measured tensor-level peak. Published rows
(tests/data/published_measurements.jsonl) are mapped to requests, with their assumptions, in
tests/data/published_training.json. docs/accuracy.md tabulates the same comparisons.
"""

from __future__ import annotations

import json
import statistics
from pathlib import Path
from typing import Any

import pytest

import vramcalc

DATA = Path(__file__).parent / "data"
TARGET_MEDIAN, TARGET_WORST = 5.0, 15.0  # % of the measured tensor-level peak


def _estimate(request: dict[str, Any]) -> dict[str, Any]:
    response: dict[str, Any] = vramcalc.estimate_or_raise({**request, "fit_gpus": []})
    return response


def _error(estimate: int, measured: int) -> float:
    return 100 * (estimate - measured) / measured


ROWS = [
    row
    for path in sorted((DATA / "calibration").glob("*.jsonl"))
    for row in map(json.loads, path.read_text(encoding="utf-8").splitlines())
    if row.get("kind") == "training" and row.get("status") == "ok"
]
RESULTS = [
    {"id": row["id"], "error": _error(response["allocated_bytes"], row["allocated_peak_bytes"]),
     "measured_phase": max(row["phase_peaks"], key=row["phase_peaks"].get),
     "estimated_phase": response["peak_phase"]}
    for row in ROWS
    for response in [_estimate({"mode": "training", **row["request"]})]
]


def test_rows_exist() -> None:
    assert len(ROWS) >= 100, "training rows in tests/data/calibration/"
    assert {r["request"]["method"] for r in ROWS} >= {"full", "lora"}


def test_cpu_rows_ran_cudas_dropout() -> None:
    # CPU LoRA rows with dropout were measured with the harness's CUDA dropout emulation
    # (a 1-byte mask, as CUDA's fused kernel keeps), so they compare with the estimate as is
    for row in ROWS:
        if row["device"] != "cuda" and (row["request"].get("lora") or {}).get("dropout"):
            assert "dropout" in (row.get("cuda_emulation") or {}), row["id"]


@pytest.mark.parametrize("result", RESULTS, ids=[r["id"] for r in RESULTS])
def test_each_row_within_15_percent(result: dict[str, Any]) -> None:
    assert abs(result["error"]) <= TARGET_WORST


def test_median_within_5_percent() -> None:
    assert statistics.median(abs(r["error"]) for r in RESULTS) <= TARGET_MEDIAN


def test_peak_phase_agrees_on_most_rows() -> None:
    agree = sum(r["measured_phase"] == r["estimated_phase"] for r in RESULTS)
    assert agree >= 0.8 * len(RESULTS)


# published figures whose setup is stated in their source (litgpt's tables: the script's
# max_memory_allocated, sequence length set by the longest sample)
PUBLISHED = {
    row["id"]: row
    for row in map(json.loads,
                   (DATA / "published_measurements.jsonl").read_text(encoding="utf-8").splitlines())
}
MAPPED = json.loads((DATA / "published_training.json").read_text(encoding="utf-8"))["rows"]


def test_every_mapped_row_is_a_published_row() -> None:
    assert set(MAPPED) <= set(PUBLISHED)
    assert {m["kind"] for m in MAPPED.values()} == {
        "like_with_like", "max_sequence", "not_comparable"}


@pytest.mark.parametrize("pid", ["pub04", "pub08", "pub15", "pub17"])
def test_litgpt_lora_rows_within_2_percent(pid: str) -> None:
    # litgpt's own model keeps its fused qkv through v's view and zero_pad's source
    assert MAPPED[pid]["request"]["framework"] == "litgpt"
    assert "max_memory_allocated" in PUBLISHED[pid]["metric"]
    response = _estimate(MAPPED[pid]["request"])
    assert abs(_error(response["allocated_bytes"], PUBLISHED[pid]["value_bytes"])) <= 2
    # as transformers + PEFT would run it (torchtune's profile, the same fields), 2-5 % low
    apart = _estimate({**MAPPED[pid]["request"], "framework": "torchtune"})
    assert _error(apart["allocated_bytes"], PUBLISHED[pid]["value_bytes"]) < -2


@pytest.mark.parametrize("pid", ["pub06"])
def test_litgpt_qlora_row_with_its_bitsandbytes_within_2_percent(pid: str) -> None:
    # bitsandbytes 0.41.1 (the table's version) kept each 4-bit linear's input
    assert MAPPED[pid]["request"]["qlora"]["saves_linear_inputs"] is True
    response = _estimate(MAPPED[pid]["request"])
    assert abs(_error(response["allocated_bytes"], PUBLISHED[pid]["value_bytes"])) <= 2


def test_rows_off_by_more_than_15_percent_say_why() -> None:
    # docs/accuracy.md: every published row vramcalc misses by more than 15 % states a reason
    from conftest import DATA as data

    doc = (data.parent.parent / "docs" / "accuracy.md").read_text(encoding="utf-8")
    for line in doc.splitlines():
        if line.startswith("| pub") and "not comparable" not in line:
            error = float(line.split(" | ")[6].removesuffix(" %"))
            if abs(error) > 15:
                assert "why the gap:" in line, line[:40]
