"""vramcalc: will it fit, and on what? GPU memory for LLM training and inference.

The public API is one JSON-in / JSON-out function and a catalog (docs/api.md)::

    import vramcalc
    vramcalc.estimate({"mode": "inference", "model": {"preset": "meta-llama/Llama-3.1-8B"}})
"""

from __future__ import annotations

from ._version import __version__
from .api import catalog, estimate, estimate_or_raise, fit_changes, sweep
from .errors import Problem, RequestError

__all__ = [
    "Problem", "RequestError", "__version__", "catalog", "estimate", "estimate_or_raise",
    "fit_changes", "sweep",
]
