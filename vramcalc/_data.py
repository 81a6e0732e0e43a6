"""Reading the package's JSON data files (catalogs of GPUs, formats, models)."""

from __future__ import annotations

import json
import os
from functools import cache
from typing import Any

# os.path rather than pathlib: one import less on every page load in Pyodide
_DATA_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data")


@cache
def load(name: str) -> Any:
    """The parsed contents of `vramcalc/data/<name>` (cached: data files never change)."""
    with open(os.path.join(_DATA_DIR, name), encoding="utf-8") as handle:
        return json.load(handle)
