"""Whole responses against the golden pairs of tests/data/estimates/ (written by
`python tools/golden.py`; a change that moves a number rewrites its pair on purpose)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import vramcalc

CASES = sorted((Path(__file__).parent / "data" / "estimates").glob("*.request.json"))


def test_the_golden_set_is_there() -> None:
    assert len(CASES) >= 40
    modes = {json.loads(p.read_text(encoding="utf-8")).get("mode") for p in CASES
             if isinstance(json.loads(p.read_text(encoding="utf-8")), dict)}
    assert {"inference", "training"} <= modes


@pytest.mark.parametrize("path", CASES, ids=lambda p: p.name.removesuffix(".request.json"))
def test_response_is_unchanged(path: Path) -> None:
    request = json.loads(path.read_text(encoding="utf-8"))
    expected_path = path.with_name(path.name.replace(".request.", ".response."))
    expected = json.loads(expected_path.read_text(encoding="utf-8"))
    # round-tripped through JSON, as a front end sees it
    actual = json.loads(json.dumps(vramcalc.estimate(request)))
    assert actual == expected
