"""Reading the package's JSON data files (catalogs of GPUs, formats, models)."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

_DATA_DIR = Path(__file__).resolve().parent / "data"


@cache
def load(name: str) -> Any:
    """The parsed contents of `vramcalc/data/<name>` (cached: data files never change)."""
    with (_DATA_DIR / name).open(encoding="utf-8") as handle:
        return json.load(handle)
