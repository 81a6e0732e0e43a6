"""Shared helpers for the engine tests."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

import vramcalc
from vramcalc import architecture, catalogs
from vramcalc.errors import Collector

DATA = Path(__file__).parent / "data"


def preset_config(model_id: str) -> dict[str, Any]:
    return catalogs.presets()[model_id]["config"]


def spec_of(config: dict[str, Any]) -> architecture.ModelSpec:
    c = Collector()
    spec = architecture.from_config(config, c)
    assert spec is not None, c.problems
    return spec


def estimate(**fields: Any) -> dict[str, Any]:
    """An inference estimate for a preset (default Llama-3.1-8B); fails on any problem."""
    req: dict[str, Any] = {"mode": "inference", "model": {"preset": "meta-llama/Llama-3.1-8B"}}
    req.update(fields)
    response = vramcalc.estimate(req)
    assert "error" not in response, response
    return response


def problems(req: dict[str, Any]) -> list[tuple[str, str]]:
    response = vramcalc.estimate(req)
    assert set(response) == {"error"}, response
    return [(p["field"], p["message"]) for p in response["error"]["problems"]]


def load_json(name: str) -> Any:
    return json.loads((DATA / name).read_text(encoding="utf-8"))


@pytest.fixture(scope="session")
def param_counts() -> dict[str, Any]:
    return load_json("param_counts.json")
